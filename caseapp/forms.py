"""Form pieces shared by every blueprint."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

REASON_MAX = 500


class EmptyForm(FlaskForm):
    """A POST button with its CSRF token and nothing else."""


class VersionedForm(FlaskForm):
    version = HiddenField()

    def validate_version(self, field) -> None:
        if not (field.data or "").isdigit():
            raise ValidationError(_l("The form is incomplete. Reload the page."))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(_l("Please give a reason.")),
        Length(max=REASON_MAX, message=_l("At most %(max)d characters.", max=REASON_MAX)),
    ])


def clean_text(field: StringField) -> str:
    return (field.data or "").strip()


def no_control_characters(_form, field) -> None:
    value = field.data or ""
    if any(ord(ch) < 32 and ch not in "\r\n\t" for ch in value) or "\ufffd" in value:
        raise ValidationError(_l("This field holds characters that are not allowed."))
