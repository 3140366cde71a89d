"""Case forms; choices come from the domain enums, limits from the model constants."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from caseapp.forms import FlaskForm, KeptSelect, no_control_characters
from caseapp.labels import case_choice_names, violence_names
from caseapp.limits import NOTE_MAX, REASON_MAX, REASON_MIN, STEP_DETAILS_MAX
from caseapp.models import cases as domain


def _max(n: int) -> Length:
    return Length(max=n, message=_l("At most %(max)d characters.", max=n))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _choice(label, name, required=True):
    validators = [InputRequired(_l("Choose an answer."))] if required else [Optional()]
    return SelectField(label, validators=validators)


class CaseForm(FlaskForm):
    version = HiddenField()
    unit_id = SelectField(_l("School"), coerce=int, validators=[InputRequired()])
    received_on = DateField(
        _l("Date received"),
        format="%Y-%m-%d",
        validators=[DataRequired(_l("Enter the date received."))],
    )
    incident_on = DateField(_l("Date of the incident"), format="%Y-%m-%d", validators=[Optional()])
    incident_date_approximate = BooleanField(_l("The date of the incident is approximate"))
    received_via = _choice(_l("Received by"), "received_via")
    reporter_kind = _choice(_l("Reported by"), "reporter_kind")
    setting = _choice(_l("Where it happened"), "setting")
    violence_types = MultiCheckboxField(
        _l("Kinds of violence"),
        validators=[DataRequired(_l("Choose at least one kind of violence."))],
    )
    risk_level = _choice(_l("Risk level"), "risk_level")
    serious_risk_to_child = BooleanField(_l("A child is at serious risk"))
    narrative = TextAreaField(
        _l("What happened"),
        validators=[Optional(), _max(domain.CONFIDENTIAL_MAX["narrative"]), no_control_characters],
    )
    informant_name = StringField(
        _l("Name of the informant"), validators=[Optional(), _max(120), no_control_characters]
    )
    informant_contact = StringField(
        _l("Contact of the informant"), validators=[Optional(), _max(300), no_control_characters]
    )

    def fill_choices(self, units, received_via: str | None = None) -> None:
        """The lists of the form. "Self-report" is offered only when editing a case that came
        from one (``received_via``): only accepting a self-report records it."""
        names = case_choice_names()
        for name in (
            "received_via",
            "reporter_kind",
            "setting",
            "risk_level",
            *PERSON_CHOICES,
        ):
            if name not in self:
                continue  # the edit form has no person fields
            # A prompt first, so nothing is recorded by leaving a list as it came.
            getattr(self, name).choices = [("", _l("— Choose —")), *names[name].items()]
        if received_via != "self_report":
            self.received_via.choices = [
                c for c in self.received_via.choices if c[0] != "self_report"
            ]
        self.violence_types.choices = list(violence_names().items())
        self.unit_id.choices = [(u.id, u.name) for u in units]


PERSON_CHOICES = (
    "harmed_sex",
    "harmed_age_band",
    "harmed_role",
    "harmed_disability",
    "harmed_ethnic_minority",
    "perpetrator_sex",
    "perpetrator_age_band",
    "perpetrator_relationship",
)


class IntakeForm(CaseForm):
    """The intake form: the case, its first person harmed and its alleged perpetrators (more
    people are added on the case's page afterwards)."""

    child = BooleanField(_l("The person harmed is a child (under 16)"))
    harmed_sex = _choice(_l("Sex of the person harmed"), "harmed_sex")
    harmed_age_band = _choice(_l("Age band of the person harmed"), "harmed_age_band")
    harmed_age_years = IntegerField(
        _l("Age in years (if known)"),
        validators=[Optional(), NumberRange(0, 120, message=_l("Enter an age between 0 and 120."))],
    )
    harmed_role = _choice(_l("The person harmed is a"), "harmed_role")
    harmed_disability = _choice(_l("Disability"), "harmed_disability")
    harmed_ethnic_minority = _choice(_l("Ethnic minority"), "harmed_ethnic_minority")
    perpetrator_count = IntegerField(
        _l("Number of alleged perpetrators"),
        default=1,
        validators=[
            InputRequired(_l("Enter a number.")),
            NumberRange(1, 50, message=_l("Enter a number between 1 and 50.")),
        ],
    )
    perpetrator_sex = _choice(_l("Sex of the alleged perpetrator"), "perpetrator_sex")
    perpetrator_age_band = _choice(
        _l("Age band of the alleged perpetrator"), "perpetrator_age_band"
    )
    perpetrator_relationship = _choice(
        _l("Relationship to the person harmed"), "perpetrator_relationship"
    )
    # Confidential content: sealed before it reaches the database.
    harmed_name = StringField(
        _l("Name of the person harmed"),
        validators=[
            Optional(),
            _max(120),
            no_control_characters,
        ],
    )
    harmed_contact = TextAreaField(
        _l("Contact of the person harmed"),
        validators=[
            Optional(),
            _max(domain.PERSON_MAX["contact"]),
            no_control_characters,
        ],
    )
    guardian_name = StringField(
        _l("Name of the parent or guardian"),
        validators=[
            Optional(),
            _max(domain.PERSON_MAX["guardian_name"]),
            no_control_characters,
        ],
    )
    guardian_contact = TextAreaField(
        _l("Contact of the parent or guardian"),
        validators=[
            Optional(),
            _max(domain.PERSON_MAX["guardian_contact"]),
            no_control_characters,
        ],
    )
    perpetrator_names = TextAreaField(
        _l("Names of the alleged perpetrators (one per line)"),
        validators=[
            Optional(),
            _max(domain.PERSON_MAX["name"]),
            no_control_characters,
        ],
    )


def _grade(value):
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1  # refused by the service


class PersonForm(FlaskForm):
    """A person harmed or an alleged perpetrator added to (or changed on) a case."""

    version = HiddenField()
    position = HiddenField()
    sex = SelectField(_l("Sex"), validators=[InputRequired(_l("Choose an answer."))])
    age_band = SelectField(_l("Age band"), validators=[InputRequired(_l("Choose an answer."))])
    age_years = IntegerField(
        _l("Age in years (if known)"),
        validators=[Optional(), NumberRange(0, 120, message=_l("Enter an age between 0 and 120."))],
    )
    child = BooleanField(_l("A child (under 16)"))
    role = SelectField(_l("Role"), validators=[Optional()])
    grade = SelectField(_l("Grade"), coerce=_grade, validators=[Optional()], validate_choice=False)
    disability = SelectField(_l("Disability"), validators=[InputRequired()])
    ethnic_minority = SelectField(_l("Ethnic minority"), validators=[InputRequired()])
    relationship = SelectField(_l("Relationship to the persons harmed"), validators=[Optional()])
    name = StringField(
        _l("Name"),
        validators=[Optional(), _max(domain.PERSON_MAX["name"]), no_control_characters],
    )
    contact = TextAreaField(
        _l("Contact"),
        validators=[Optional(), _max(domain.PERSON_MAX["contact"]), no_control_characters],
    )
    guardian_name = StringField(
        _l("Name of the parent or guardian"),
        validators=[Optional(), _max(domain.PERSON_MAX["guardian_name"]), no_control_characters],
    )
    guardian_contact = TextAreaField(
        _l("Contact of the parent or guardian"),
        validators=[
            Optional(),
            _max(domain.PERSON_MAX["guardian_contact"]),
            no_control_characters,
        ],
    )

    def fill_choices(self) -> None:
        names = case_choice_names()
        prompt = [("", _l("— Choose —"))]
        self.sex.choices = prompt + list(names["harmed_sex"].items())
        self.age_band.choices = prompt + list(names["harmed_age_band"].items())
        self.role.choices = prompt + list(names["harmed_role"].items())
        self.disability.choices = list(names["harmed_disability"].items())
        self.ethnic_minority.choices = list(names["harmed_ethnic_minority"].items())
        self.relationship.choices = prompt + list(names["perpetrator_relationship"].items())
        self.grade.choices = [("", "—")] + [(str(g), names["grade"][str(g)]) for g in domain.GRADES]


class WithdrawPersonForm(FlaskForm):
    version = HiddenField()
    reason = TextAreaField(
        _l("Why is this person withdrawn from the case?"),
        validators=[
            DataRequired(_l("Please give a reason.")),
            _max(REASON_MAX),
            no_control_characters,
        ],
    )


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Why do you need to open it?"),
        validators=[
            DataRequired(_l("Please give a reason.")),
            Length(
                min=REASON_MIN,
                max=REASON_MAX,
                message=_l(
                    "Between %(min)d and %(max)d characters.", min=REASON_MIN, max=REASON_MAX
                ),
            ),
            no_control_characters,
        ],
    )


class NoteForm(FlaskForm):
    body = TextAreaField(
        _l("New note"),
        validators=[
            DataRequired(_l("Write the note.")),
            _max(NOTE_MAX),
            no_control_characters,
        ],
    )
    corrects_id = HiddenField()


class AttachmentForm(FlaskForm):
    file = FileField(_l("File"), validators=[FileRequired(_l("Choose a file."))])


class ConsentForm(FlaskForm):
    # The uid of the person harmed (the page lists them); checked by the service.
    about = StringField(_l("Person harmed"), validators=[Optional(), _max(36)])
    party = SelectField(_l("Who consented"), validators=[InputRequired()])
    purpose = SelectField(_l("To what"), validators=[InputRequired()])
    given_on = DateField(
        _l("On"), format="%Y-%m-%d", validators=[DataRequired(_l("Enter a date."))]
    )
    # The notice of services.privacy.notices (its current version is stored with the consent).
    notice_given = BooleanField(
        _l("I have given or read the notice to the person"),
        validators=[
            DataRequired(
                _l(
                    "Tick the box to confirm the person was given or read the notice. "
                    "The consent was not saved."
                )
            )
        ],
    )

    def fill_choices(self) -> None:
        names = case_choice_names()
        self.party.choices = list(names["party"].items())
        self.purpose.choices = list(names["purpose"].items())


class WithdrawConsentForm(FlaskForm):
    """Asks first: the date is typed by the person (never pre-filled) and the withdrawal is
    confirmed by ticking a box, so one stray click cannot withdraw a consent."""

    withdrawn_on = DateField(
        _l("Withdrawn on"), format="%Y-%m-%d", validators=[DataRequired(_l("Enter a date."))]
    )
    confirm = BooleanField(
        _l("I confirm the withdrawal"),
        validators=[DataRequired(_l("Tick the box to confirm the withdrawal."))],
    )


class AssignForm(FlaskForm):
    handler = SelectField(_l("Handler"), coerce=int, validators=[InputRequired()])


def _person_id(value):
    """The chosen person's id, or None for the prompt or anything not a number (the service
    then refuses it)."""
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class ExclusionForm(FlaskForm):
    # The choices are the people the service accepts; the service checks the id again, so the
    # list is not validated here (a forged id gets the service's one answer).
    person = SelectField(
        _l("Person to exclude"),
        coerce=_person_id,
        validate_choice=False,
        validators=[InputRequired(_l("Choose a person."))],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Please give a reason.")),
            _max(REASON_MAX),
            no_control_characters,
        ],
    )

    def fill_choices(self, people) -> None:
        self.person.choices = [
            ("", _l("— Choose —")),
            *((u.id, f"{u.full_name} ({u.unit.name})") for u in people),
        ]


class LiftExclusionForm(FlaskForm):
    reason = TextAreaField(
        _l("Why may this person see the case again?"),
        validators=[
            DataRequired(_l("Please give a reason.")),
            _max(REASON_MAX),
            no_control_characters,
        ],
    )


class CaseFilterForm(FlaskForm):
    """The case list's filters: drawn on every page of the list, so its selects are kept
    (KeptSelect)."""

    class Meta:
        csrf = False

    q = StringField(_l("Reference"), validators=[Optional(), _max(40), no_control_characters])
    status = SelectField(
        _l("Status"), validators=[Optional()], validate_choice=False, widget=KeptSelect()
    )
    unit = StringField(_l("School (code)"), validators=[Optional(), _max(20)])
    violence = SelectField(
        _l("Kind of violence"), validators=[Optional()], validate_choice=False, widget=KeptSelect()
    )
    risk = SelectField(
        _l("Risk level"), validators=[Optional()], validate_choice=False, widget=KeptSelect()
    )
    due = SelectField(
        _l("Due"), validators=[Optional()], validate_choice=False, widget=KeptSelect()
    )
    overdue = BooleanField(_l("Overdue only"))
    urgent = BooleanField(_l("Urgent only"))
    received_from = DateField(_l("Received from"), format="%Y-%m-%d", validators=[Optional()])
    received_to = DateField(_l("Received to"), format="%Y-%m-%d", validators=[Optional()])
    sort = SelectField(
        _l("Sort by"), validators=[Optional()], validate_choice=False, widget=KeptSelect()
    )


class StepForm(FlaskForm):
    """One form for every kind of step; the kind decides which fields count."""

    kind = HiddenField()
    # The uid of the person the step is about (the page lists them); checked by the service.
    about = StringField(_l("Person"), validators=[Optional(), _max(36)])
    due_on = DateField(_l("Due on"), format="%Y-%m-%d", validators=[Optional()])
    done_on = DateField(_l("Done on"), format="%Y-%m-%d", validators=[Optional()])
    method = SelectField(_l("Method"), validators=[Optional()], validate_choice=False)
    finding = SelectField(_l("Finding"), validators=[Optional()], validate_choice=False)
    service = SelectField(_l("Service"), validators=[Optional()], validate_choice=False)
    status = SelectField(_l("Status"), validators=[Optional()], validate_choice=False)
    contact_id = SelectField(
        _l("Service from the referral directory"), validators=[Optional()], validate_choice=False
    )
    situation = SelectField(
        _l("Situation of the person harmed"), validators=[Optional()], validate_choice=False
    )
    next_on = DateField(_l("Next follow-up on"), format="%Y-%m-%d", validators=[Optional()])
    measure = SelectField(_l("Measure"), validators=[Optional()], validate_choice=False)
    subject = SelectField(_l("Disciplined person"), validators=[Optional()], validate_choice=False)
    details = TextAreaField(
        _l("Details (confidential)"),
        validators=[Optional(), _max(STEP_DETAILS_MAX), no_control_characters],
    )
    consent_override = BooleanField(_l("Refer without consent: the child is in serious danger"))
    override_reason = TextAreaField(
        _l("Why the child is in serious danger"),
        validators=[Optional(), _max(REASON_MAX), no_control_characters],
    )
    version = HiddenField()

    def fill_choices(self, contacts=()) -> None:
        from caseapp.labels import step_choice_names

        names = step_choice_names()
        blank = [("", "—")]
        self.method.choices = blank + list(names["method"].items())
        self.finding.choices = blank + list(names["finding"].items())
        self.service.choices = blank + list(names["service"].items())
        self.status.choices = blank + list(names["status"].items())
        self.situation.choices = blank + list(names["situation"].items())
        self.measure.choices = blank + list(names["measure"].items())
        self.subject.choices = blank + list(names["subject"].items())
        self.contact_id.choices = blank + [(str(c.id), c.name) for c in contacts]


class TransitionForm(FlaskForm):
    target = HiddenField()
    version = HiddenField()
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Please give a reason.")),
            Length(
                min=REASON_MIN,
                max=REASON_MAX,
                message=_l(
                    "Between %(min)d and %(max)d characters.", min=REASON_MIN, max=REASON_MAX
                ),
            ),
            no_control_characters,
        ],
    )
    closure_reason = SelectField(
        _l("Why the case can close"), validators=[Optional()], validate_choice=False
    )
