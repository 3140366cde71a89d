"""Form pieces shared by every blueprint."""

from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm as _FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from caseapp.limits import REASON_MAX
from caseapp.security.text import refused_characters


class _Translations:
    """WTForms' own messages ("Not a valid choice.") from our catalogue: WTForms ships no
    Vietnamese. The msgids are listed in caseapp/wtforms_messages.py for extraction."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


_TRANSLATIONS = _Translations()


class FlaskForm(_FlaskForm):
    """The base of every form here: CSRF from Flask-WTF, messages in the user's language."""

    class Meta:
        def get_translations(self, form):
            return _TRANSLATIONS


class EmptyForm(FlaskForm):
    """A POST button with its CSRF token and nothing else."""


class VersionedForm(FlaskForm):
    version = HiddenField()

    def validate_version(self, field) -> None:
        if small_int(field.data) is None:
            raise ValidationError(_l("The form is incomplete. Reload the page."))


def small_int(raw, digits: int = 9) -> int | None:
    """``raw`` (a form or query value) as a whole number >= 0 that fits an integer column, or
    None: plain ASCII digits only ("²" is a digit to str.isdigit(), not to int()), at most
    ``digits`` of them (9 fit a 32-bit column, 18 a 64-bit one)."""
    text = ("" if raw is None else str(raw)).strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= digits else None


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Please give a reason.")),
            Length(max=REASON_MAX, message=_l("At most %(max)d characters.", max=REASON_MAX)),
        ],
    )


def clean_text(field: StringField) -> str:
    return (field.data or "").strip()


def no_control_characters(_form, field) -> None:
    value = field.data or ""
    if refused_characters(value):
        raise ValidationError(_l("This field holds characters that are not allowed."))
