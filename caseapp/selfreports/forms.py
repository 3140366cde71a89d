"""Forms of the school side of self-reports: reply, accept as a case, merge, close, spam. Each
decision carries the version of the report it was made on (a stale one is a conflict)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from caseapp.forms import VersionedForm, no_control_characters
from caseapp.labels import case_choice_names, violence_names
from caseapp.models.selfreports import MESSAGE_MAX


def _message(label):
    return TextAreaField(
        label,
        validators=[
            DataRequired(_l("Write the message.")),
            Length(max=MESSAGE_MAX, message=_l("At most %(max)d characters.", max=MESSAGE_MAX)),
            no_control_characters,
        ],
    )


class ReplyForm(VersionedForm):
    body = _message(_l("Message to the reporter"))
    back = HiddenField()


class CloseForm(VersionedForm):
    message = _message(_l("Message to the reporter (why it is closed, where to get help)"))


class SpamForm(VersionedForm):
    """Mark as spam: a button with the report's version."""


class MergeForm(VersionedForm):
    reference = StringField(
        _l("Reference of the case"),
        validators=[DataRequired(_l("Enter the reference of the case.")), Length(max=40)],
    )


class _Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _choice(label):
    return SelectField(label, validators=[InputRequired(_l("Choose an answer."))])


ACCEPT_CHOICES = (
    "setting",
    "reporter_kind",
    "risk_level",
    "harmed_sex",
    "harmed_age_band",
    "harmed_role",
    "perpetrator_sex",
    "perpetrator_age_band",
    "perpetrator_relationship",
)


class AcceptForm(VersionedForm):
    violence_types = _Checkboxes(
        _l("Kinds of violence"),
        validators=[DataRequired(_l("Choose at least one kind of violence."))],
    )
    setting = _choice(_l("Where it happened"))
    reporter_kind = _choice(_l("Reported by"))
    risk_level = _choice(_l("Risk level"))
    serious_risk_to_child = BooleanField(_l("A child is at serious risk"))
    child = BooleanField(_l("The person harmed is a child (under 16)"))
    harmed_sex = _choice(_l("Sex of the person harmed"))
    harmed_age_band = _choice(_l("Age band of the person harmed"))
    harmed_role = _choice(_l("The person harmed is a"))
    perpetrator_sex = _choice(_l("Sex of the alleged perpetrator"))
    perpetrator_age_band = _choice(_l("Age band of the alleged perpetrator"))
    perpetrator_relationship = _choice(_l("Relationship of the alleged perpetrator"))

    def fill_choices(self) -> None:
        names = case_choice_names()
        for name in ACCEPT_CHOICES:
            getattr(self, name).choices = [("", _l("— Choose —")), *names[name].items()]
        self.violence_types.choices = list(violence_names().items())
