"""The auditor's forms: the event filter and the attention window (GET, so no CSRF token), and
the review of an attention item."""

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from caseapp.errors import ValidationFailed
from caseapp.forms import FlaskForm, no_control_characters
from caseapp.limits import REASON_MAX
from caseapp.models.units import UNIT_CODE_MAX

REASON_FILTER_MAX = 100


class EventFilterForm(FlaskForm):
    class Meta:
        csrf = False

    date_from = DateField(_l("From"), validators=[Optional()], format="%Y-%m-%d")
    date_to = DateField(_l("To"), validators=[Optional()], format="%Y-%m-%d")
    # No control characters (PostgreSQL refuses a NUL in a query parameter).
    actor = StringField(
        _l("Actor (user name)"), validators=[Optional(), Length(max=120), no_control_characters]
    )
    action = SelectField(
        _l("Action"), validators=[Optional(), no_control_characters], validate_choice=False
    )
    unit = StringField(_l("Unit (code)"), validators=[Optional(), Length(max=UNIT_CODE_MAX)])
    reference = StringField(
        _l("Case or object reference"),
        validators=[Optional(), Length(max=64), no_control_characters],
    )
    # Matched anywhere in the reason, ignoring case and accents.
    reason = StringField(
        _l("Reason contains"),
        validators=[Optional(), Length(max=REASON_FILTER_MAX), no_control_characters],
    )


SINCE_MAX = 10  # dd/mm/yyyy or yyyy-mm-dd
ITEM_KEY_MAX = 160  # AttentionReview.item_key


def _a_date(_form, field) -> None:
    from caseapp.services.audit.attention import parse_since

    if field.data:
        try:
            parse_since(field.data)
        except ValidationFailed as exc:
            raise ValidationError(exc.message) from None


class AttentionWindowForm(FlaskForm):
    class Meta:
        csrf = False

    since = StringField(
        _l("Since (dd/mm/yyyy)"),
        validators=[Optional(), Length(max=SINCE_MAX), no_control_characters, _a_date],
    )


class AttentionReviewForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(), Length(max=ITEM_KEY_MAX), no_control_characters])
    since = HiddenField(validators=[Optional(), Length(max=SINCE_MAX), _a_date])
    note = TextAreaField(
        _l("Review note"),
        validators=[
            DataRequired(_l("Please write a note.")),
            Length(max=REASON_MAX, message=_l("At most %(max)d characters.", max=REASON_MAX)),
            no_control_characters,
        ],
    )
