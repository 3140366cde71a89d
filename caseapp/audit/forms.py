"""The auditor's filter form (GET, so no CSRF token)."""

from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional

from caseapp.forms import FlaskForm, no_control_characters
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
