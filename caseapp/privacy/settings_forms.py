"""The forms of the data-protection settings: a holiday added or removed, a legal period
corrected. The service (caseapp.services.privacy.settings) reads the values and says what is
wrong; these forms carry the CSRF token and bound the lengths."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from caseapp.forms import FlaskForm, VersionedForm
from caseapp.services.privacy.settings import BASIS_MAX, HOLIDAY_NAME_MAX


class HolidayForm(FlaskForm):
    day = StringField(_l("Day (dd/mm/yyyy)"), validators=[Optional(), Length(max=20)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=HOLIDAY_NAME_MAX + 80)])


class HolidayRemoveForm(FlaskForm):
    day = HiddenField(validators=[Optional(), Length(max=20)])


class PeriodForm(VersionedForm):
    key = HiddenField(validators=[Optional(), Length(max=40)])
    amount = StringField(_l("Amount"), validators=[Optional(), Length(max=20)])
    basis = TextAreaField(_l("Legal basis"), validators=[Optional(), Length(max=BASIS_MAX + 200)])
