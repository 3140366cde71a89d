"""The forms of requests from data subjects. Dates and times are typed as dd/mm/yyyy HH:MM and
read by the service, which says what is wrong."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from caseapp.forms import FlaskForm, VersionedForm
from caseapp.labels import (
    legal_ground_names,
    request_channel_names,
    request_kind_names,
    request_outcome_names,
    request_relation_names,
)
from caseapp.models.privacy import REQUEST_TEXT_MAX


def _long_text(label):
    return TextAreaField(label, validators=[Optional(), Length(max=REQUEST_TEXT_MAX)])


class RequestForm(FlaskForm):
    unit_code = StringField(
        _l("Unit that received it (code)"),
        validators=[Length(max=20)],
        render_kw={"list": "unit-codes"},
    )
    kind = SelectField(_l("What the person asks"), validate_choice=False)
    relation = SelectField(_l("Who the requester is"), validate_choice=False)
    channel = SelectField(_l("How it came"), validate_choice=False)
    received_at = StringField(_l("Received at"), validators=[Optional(), Length(max=40)])
    requester_name = StringField(_l("Requester's name"), validators=[Optional(), Length(max=200)])
    requester_contact = StringField(
        _l("Requester's contact"), validators=[Optional(), Length(max=300)]
    )
    subject_name = StringField(
        _l("Name of the person the data is about"), validators=[Optional(), Length(max=200)]
    )
    case_reference = StringField(
        _l("Case reference, if they gave one"), validators=[Optional(), Length(max=40)]
    )
    details = _long_text(_l("Details of the request"))

    def fill_choices(self) -> None:
        self.kind.choices = list(request_kind_names().items())
        self.relation.choices = list(request_relation_names().items())
        self.channel.choices = list(request_channel_names().items())


class StepForm(VersionedForm):
    """Acknowledge, search the index, prepare the export: a version and nothing else."""


class ExtendForm(VersionedForm):
    reason = _long_text(_l("Reason for the extension"))


def _grounds():
    return [("", _l("— no ground (granted) —")), *legal_ground_names().items()]


class DecideForm(VersionedForm):
    outcome = SelectField(_l("Decision"), validate_choice=False)
    legal_ground = SelectField(_l("Legal ground (refused or limited)"), validate_choice=False)
    reason = _long_text(_l("Reason (required when refused or limited)"))

    def fill_choices(self, outcomes: tuple[str, ...] = ("granted", "limited", "refused")) -> None:
        names = request_outcome_names()
        self.outcome.choices = [(k, names[k]) for k in outcomes]
        self.legal_ground.choices = _grounds()


class ReleaseForm(DecideForm):
    verified = BooleanField(
        _l(
            "I checked the requester's identity and, for a guardian, that they are the child's "
            "guardian"
        )
    )


class MatchForm(FlaskForm):
    match_id = HiddenField()
    confirmed = HiddenField()


class RejectForm(VersionedForm):
    note = _long_text(_l("What must change"))
