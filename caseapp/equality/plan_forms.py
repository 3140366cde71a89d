"""The forms of a unit's gender-equality plan."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, NumberRange, Optional

from caseapp.forms import FlaskForm, VersionedForm, no_control_characters
from caseapp.labels import measure_names
from caseapp.models.equality import PLAN_TEXT_MAX, TARGET_TITLE_MAX, TARGET_VALUE_MAX, TARGETS_MAX

EMPTY_LINES = 3


class TargetLineForm(FlaskForm):
    """One line of targets; a line without a title is left out."""

    class Meta:
        csrf = False

    title = StringField(
        _l("Target"),
        validators=[
            Optional(),
            Length(
                max=TARGET_TITLE_MAX,
                message=_l("At most %(max)d characters.", max=TARGET_TITLE_MAX),
            ),
            no_control_characters,
        ],
    )
    measure = SelectField(_l("Measured by"), validators=[Optional()], validate_choice=False)
    target_value = IntegerField(
        _l("Target value"),
        validators=[
            Optional(),
            NumberRange(
                0,
                TARGET_VALUE_MAX,
                message=_l("Enter a number between 0 and %(max)d.", max=TARGET_VALUE_MAX),
            ),
        ],
    )

    def fill_choices(self) -> None:
        self.measure.choices = list(measure_names().items())


class PlanForm(VersionedForm):
    unit = HiddenField()
    year = HiddenField()
    text = TextAreaField(
        _l("Plan (free text)"),
        validators=[
            Optional(),
            Length(max=PLAN_TEXT_MAX, message=_l("At most %(max)d characters.", max=PLAN_TEXT_MAX)),
        ],
        render_kw={"rows": 10},
    )
    targets = FieldList(FormField(TargetLineForm), min_entries=0, max_entries=TARGETS_MAX + 3)

    def fill_choices(self) -> None:
        for line in self.targets:
            line.form.fill_choices()

    def pad(self) -> None:
        """Existing lines plus empty ones to add targets on."""
        for _n in range(EMPTY_LINES):
            if len(self.targets) >= TARGETS_MAX + EMPTY_LINES:
                break
            self.targets.append_entry()
        self.fill_choices()


class ApproveForm(VersionedForm):
    unit = HiddenField()
    year = HiddenField()
