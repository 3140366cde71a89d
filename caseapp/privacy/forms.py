"""The forms of the breach register. Dates and times are typed as dd/mm/yyyy HH:MM and read
by the service (caseapp.services.privacy.breaches.parse_moment), which says what is wrong."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from caseapp.forms import FlaskForm, VersionedForm
from caseapp.labels import breach_category_names, notify_people_names
from caseapp.models.privacy import BREACH_TEXT_MAX

MOMENT = "dd/mm/yyyy HH:MM"


class _Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _moment(label):
    return StringField(label, validators=[Optional(), Length(max=40)])


def _long_text(label):
    return TextAreaField(label, validators=[Optional(), Length(max=BREACH_TEXT_MAX)])


def _count(label):
    return StringField(label, validators=[Optional(), Length(max=20)])


class BreachForm(FlaskForm):
    unit_code = StringField(
        _l("Recording unit (code)"), validators=[Length(max=20)], render_kw={"list": "unit-codes"}
    )
    discovered_at = _moment(_l("Discovered at"))
    discovered_by = StringField(_l("Discovered by"), validators=[Optional(), Length(max=200)])
    description = _long_text(_l("What happened"))
    data_categories = _Checkboxes(_l("Categories of personal data"), validate_choice=False)
    units_affected = StringField(
        _l("Units affected (codes, separated by commas)"), validators=[Optional(), Length(max=1200)]
    )
    people_affected = StringField(
        _l("Number of people affected (empty when unknown)"),
        validators=[Optional(), Length(max=20)],
    )
    occurred_at = _moment(_l("Occurred at (when known)"))
    records_affected = _count(_l("Number of records affected (empty when unknown)"))
    consequences = _long_text(_l("Likely consequences for the people affected"))
    source = HiddenField()
    source_ref = HiddenField(validators=[Optional(), Length(max=120)])

    def fill_choices(self) -> None:
        self.data_categories.choices = list(breach_category_names().items())


class BreachUpdateForm(VersionedForm):
    contained_at = _moment(_l("Contained at"))
    authority_notified_at = _moment(_l("Authority notified at"))
    notify_people = SelectField(_l("Tell the people affected?"), validate_choice=False)
    notify_people_reason = _long_text(_l("Reason (required when they will not be told)"))
    people_notified_at = _moment(_l("People notified at"))
    delay_reason = _long_text(_l("Reason the authority was notified late (after the deadline)"))
    occurred_at = _moment(_l("Occurred at (when known)"))
    records_affected = _count(_l("Number of records affected (empty when unknown)"))
    consequences = _long_text(_l("Likely consequences for the people affected"))

    def fill_choices(self) -> None:
        self.notify_people.choices = list(notify_people_names().items())


class ActionForm(FlaskForm):
    taken_at = _moment(_l("Taken at (empty: now)"))
    text = _long_text(_l("What was done"))


class CloseForm(VersionedForm):
    reason = _long_text(_l("Reason for closing without notifying the authority"))
