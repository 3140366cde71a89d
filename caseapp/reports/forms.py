"""Report and activity forms."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from caseapp.forms import FlaskForm, VersionedForm, no_control_characters
from caseapp.labels import activity_kind_names, audience_names, school_level_names
from caseapp.models.equality import RESULTS_MAX, PlanTarget
from caseapp.models.reports import PARTICIPANTS_MAX, TITLE_MAX
from caseapp.services.equality.campaigns import around


class ReportForm(FlaskForm):
    class Meta:
        csrf = False

    unit = StringField(_l("Unit (code)"), validators=[Optional(), Length(max=20)])
    period = SelectField(_l("Period"), validators=[Optional()], validate_choice=False)
    date_from = DateField(_l("From"), format="%Y-%m-%d", validators=[Optional()])
    date_to = DateField(_l("To"), format="%Y-%m-%d", validators=[Optional()])
    level = SelectField(_l("School level"), validators=[Optional()], validate_choice=False)

    def fill_levels(self) -> None:
        self.level.choices = [("", _l("All levels")), *school_level_names().items()]


class _Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _count(label):
    return IntegerField(
        label,
        default=0,
        validators=[
            InputRequired(_l("Enter a number (0 if none).")),
            NumberRange(
                0,
                PARTICIPANTS_MAX,
                message=_l("Enter a number between 0 and %(max)d.", max=PARTICIPANTS_MAX),
            ),
        ],
    )


class ActivityForm(VersionedForm):
    unit_code = StringField(
        _l("Unit (code)"),
        validators=[DataRequired(_l("Enter a unit code.")), Length(max=20)],
        render_kw={"list": "unit-codes", "autocapitalize": "characters"},
    )
    held_on = DateField(
        _l("Held on"), format="%Y-%m-%d", validators=[DataRequired(_l("Enter a date."))]
    )
    kind = SelectField(_l("Kind of activity"), validators=[InputRequired()])
    audience = SelectField(_l("Audience"), validators=[InputRequired()])
    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Enter a title.")),
            Length(max=TITLE_MAX, message=_l("At most %(max)d characters.", max=TITLE_MAX)),
            no_control_characters,
        ],
    )
    participants_female = _count(_l("Female participants"))
    participants_male = _count(_l("Male participants"))
    participants_other = _count(_l("Other participants"))
    # The action months around the date; the service checks the one chosen holds the date.
    campaign_key = SelectField(_l("Action month"), validators=[Optional()], validate_choice=False)
    # The targets of the unit's plan for the activity's year; the service checks each.
    target_ids = _Checkboxes(
        _l("Targets of the plan this activity counts towards"),
        coerce=int,
        validators=[Optional()],
        validate_choice=False,
    )
    results = TextAreaField(
        _l("Results"),
        validators=[
            Optional(),
            Length(max=RESULTS_MAX, message=_l("At most %(max)d characters.", max=RESULTS_MAX)),
            no_control_characters,
        ],
    )

    def fill_choices(self, day: date | None = None, targets: Sequence[PlanTarget] = ()) -> None:
        self.kind.choices = list(activity_kind_names().items())
        self.audience.choices = list(audience_names().items())
        months = around(day) if day is not None else []
        self.campaign_key.choices = [("", _l("— none —"))] + [(c.key, c.name) for c in months]
        self.target_ids.choices = [(t.id, t.title) for t in targets]


class MaterialForm(FlaskForm):
    title = StringField(
        _l("Title of the material"),
        validators=[
            DataRequired(_l("Enter a title for the material.")),
            Length(max=200, message=_l("At most %(max)d characters.", max=200)),
            no_control_characters,
        ],
    )
    file = FileField(_l("File (optional: PDF, DOCX, PPTX, XLSX, JPEG or PNG)"))
