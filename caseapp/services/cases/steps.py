"""Steps of a case: verification, support, referral (with the consent check), follow-up and
discipline. Details are sealed under the case key; support never waits for verification."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.errors import Conflict, Forbidden, NotFound, ValidationFailed
from caseapp.limits import OVERRIDE_REASON_MIN
from caseapp.models import Case, CasePerson, CaseStep, ReferralContact
from caseapp.models import steps as domain
from caseapp.runtime import settings
from caseapp.security.authz import covers
from caseapp.services.audit.trail import record
from caseapp.services.cases import discipline, people
from caseapp.services.cases.access import can_handle, can_oversee
from caseapp.services.cases.content import sealer
from caseapp.services.cases.records import has_consent

if TYPE_CHECKING:
    from caseapp.models import User


@dataclass
class StepInput:
    kind: str
    person: str | None = None  # uid of the person harmed (or perpetrator) it is about
    due_on: date | None = None
    done_on: date | None = None
    method: str | None = None
    finding: str | None = None
    service: str | None = None
    status: str | None = None
    contact_id: int | None = None
    situation: str | None = None
    next_on: date | None = None
    measure: str | None = None
    subject: str | None = None  # discipline: "pupil", "staff" or "other" (DISCIPLINE_SUBJECTS)
    details: str = ""
    consent_override: bool = False
    override_reason: str = ""


def _check_common(case: Case, actor: User, data: StepInput, today: date) -> None:
    if case.status == "closed":
        raise ValidationFailed(_("The case is closed; reopen it first."))
    if case.key_destroyed_at is not None:
        raise ValidationFailed(_("This case's content was destroyed."))
    if not (can_handle(actor, case) or can_oversee(actor, case)):
        raise Forbidden(_("You cannot add steps to this case."))
    if data.kind not in domain.STEP_KINDS:
        raise ValidationFailed(_("A choice in the form is not valid. Nothing was saved."))
    if len(data.details or "") > domain.DETAILS_MAX:
        raise ValidationFailed(_("A text field is longer than allowed. Nothing was saved."))
    if data.done_on and data.done_on > today:
        raise ValidationFailed(_("A step cannot be done in the future."))
    if data.done_on and data.done_on < case.received_on:
        raise ValidationFailed(_("A step cannot be done before the case was received."))


def _choice(value, allowed, required=True) -> None:
    if value is None and required:
        raise ValidationFailed(_("Choose an answer in every list. Nothing was saved."))
    if value is not None and value not in allowed:
        raise ValidationFailed(_("A choice in the form is not valid. Nothing was saved."))


def _contact(session: Session, actor: User, case: Case, contact_id: int | None) -> ReferralContact:
    contact = session.get(ReferralContact, contact_id) if contact_id else None
    # A school may use its own directory and those of the units above it.
    if contact is None or not contact.active or not case.unit.path.startswith(contact.unit.path):
        raise ValidationFailed(_("Choose a service from the referral directory."))
    return contact


def _fill_verification(case: Case, step: CaseStep, data: StepInput) -> None:
    _choice(data.method, domain.VERIFICATION_METHODS)
    _choice(data.finding, domain.FINDINGS, required=False)
    if data.finding and not data.done_on:
        raise ValidationFailed(_("Give the date the verification was finished."))
    step.method, step.finding = data.method, data.finding
    step.due_on = data.due_on or case.verification_due_on


def _fill_support(
    session: Session, actor: User, case: Case, step: CaseStep, data: StepInput
) -> None:
    _choice(data.service, domain.SUPPORT_SERVICES)
    _choice(data.status, domain.SUPPORT_STATUSES)
    if data.status == "provided" and not data.done_on:
        raise ValidationFailed(_("Give the date the support was provided."))
    step.service, step.status = data.service, data.status
    if data.contact_id:
        step.contact_id = _contact(session, actor, case, data.contact_id).id
    step.due_on = data.due_on or case.support_due_on


def _check_referral_override(actor: User, case: Case, person: CasePerson, data: StepInput) -> None:
    """A referral without consent: only an officer, only for a child in serious danger."""
    if not data.consent_override:
        raise ValidationFailed(
            _(
                "No referral without the recorded consent of the person "
                "harmed (and guardian for a child)."
            )
        )
    if not can_oversee(actor, case):
        raise Forbidden(
            _("Only an officer may refer without consent, for a child in serious danger.")
        )
    if not (person.child and case.urgent):
        raise ValidationFailed(
            _(
                "Referral without consent is only for a child in "
                "serious danger. If the child is, record it on the "
                "case first."
            )
        )
    if len((data.override_reason or "").strip()) < OVERRIDE_REASON_MIN:
        raise ValidationFailed(_("Explain why the child is in serious danger."))


def _fill_referral(
    session: Session,
    actor: User,
    case: Case,
    step: CaseStep,
    data: StepInput,
    today: date,
    changes: dict,
) -> None:
    contact = _contact(session, actor, case, data.contact_id)
    person = people.choose(case, "harmed", data.person)
    if not has_consent(session, case, "referral", today, person=person):
        _check_referral_override(actor, case, person, data)
        step.consent_override = True
    step.contact_id, step.status = contact.id, "sent"
    step.done_on = None
    changes["contact"] = contact.name


def _fill_follow_up(case: Case, step: CaseStep, data: StepInput) -> None:
    if not data.due_on:
        raise ValidationFailed(_("Give the date of the follow-up."))
    if data.due_on < case.received_on:
        raise ValidationFailed(_("A follow-up cannot be before the case was received."))
    step.due_on, step.done_on = data.due_on, None


def _fill_discipline(
    case: Case, step: CaseStep, data: StepInput, changes: dict, person: CasePerson
) -> None:
    """The measure must be one the rules allow for the person at the case's school. A
    perpetrator recorded as a pupil, or as a teacher or member of staff, is disciplined as one
    (the form's choice, when given, must agree); the form's choice decides for anyone else."""
    known = discipline.subject_of(person.relationship or person.role)
    if not data.subject and known != "other":
        data.subject = known
    _choice(data.subject, domain.DISCIPLINE_SUBJECTS)
    if known != "other" and data.subject != known:
        raise ValidationFailed(
            _(
                "The person chosen is recorded as someone else than the rules you chose "
                "(a pupil or a member of staff). Choose the rules that apply to them. "
                "Nothing was saved."
            )
        )
    _choice(data.measure, domain.DISCIPLINE_MEASURES)
    if data.measure not in discipline.allowed_measures(data.subject, case.unit.level):
        raise ValidationFailed(
            _(
                "This measure is not one the rules allow for this person at this school "
                "(Circular 19/2025 for pupils, the civil-service rules for teachers and "
                "staff). Nothing was saved."
            )
        )
    if not data.done_on:
        raise ValidationFailed(_("Give the date of the decision."))
    step.measure = data.measure
    changes["subject"] = data.subject


# Whom each kind of step is about (a verification is about the case).
PERSON_OF = {
    "support": "harmed",
    "referral": "harmed",
    "follow_up": "harmed",
    "discipline": "perpetrator",
}

_RECORDED_FIELDS = (
    "method",
    "finding",
    "service",
    "status",
    "due_on",
    "done_on",
    "measure",
    "consent_override",
)


def _step_changes(step: CaseStep, changes: dict) -> dict:
    """The audit changes of a new step: every field it was given, details only as 'changed'."""
    for name in _RECORDED_FIELDS:
        value = getattr(step, name)
        if value not in (None, False):
            changes[name] = [None, value.isoformat() if isinstance(value, date) else value]
    if step.details:
        changes["details"] = "changed"
    return changes


def add_step(session: Session, actor: User, case: Case, data: StepInput) -> CaseStep:
    today = local_today()
    _check_common(case, actor, data, today)
    step = CaseStep(
        uid=str(uuid.uuid4()),
        case_id=case.id,
        kind=data.kind,
        created_by_id=actor.id,
        due_on=data.due_on,
        done_on=data.done_on,
    )
    changes: dict = {"kind": data.kind}
    position = PERSON_OF.get(data.kind)
    person = None
    if position is not None:
        person = people.choose(case, position, data.person)
        step.person_id, changes["person"] = person.id, person.uid
    if data.kind == "verification":
        _fill_verification(case, step, data)
    elif data.kind == "support":
        _fill_support(session, actor, case, step, data)
    elif data.kind == "referral":
        _fill_referral(session, actor, case, step, data, today, changes)
    elif data.kind == "follow_up":
        _fill_follow_up(case, step, data)
    elif data.kind == "discipline" and person is not None:
        _fill_discipline(case, step, data, changes, person)
    step.details = sealer(case).seal("case_steps", step.uid, "details", data.details.strip())
    session.add(step)
    record(
        session,
        actor,
        "step.add",
        step,
        unit=case.unit,
        object_ref=case.reference,
        changes=_step_changes(step, changes),
        reason=(data.override_reason or "").strip() if step.consent_override else "",
    )
    return step


def get_step(session: Session, case: Case, uid: str) -> CaseStep:
    step = session.scalar(select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.uid == uid))
    if step is None:
        raise NotFound()
    return step


def complete_step(
    session: Session, actor: User, case: Case, step: CaseStep, data: StepInput, version: int
) -> CaseStep:
    """Finish an open step: a verification's finding, a support given or declined, a
    referral's response, a follow-up done (and the next one scheduled)."""
    today = local_today()
    data.kind = step.kind
    _check_common(case, actor, data, today)
    if step.version != version:
        raise Conflict(_("Someone else changed this step. Reload the case and try again."))
    if step.is_done:
        raise ValidationFailed(_("This step is already finished."))
    if not data.done_on:
        raise ValidationFailed(_("Give the date it was done."))
    next_step = None
    if step.kind == "verification":
        _choice(data.finding, domain.FINDINGS)
        step.finding = data.finding
    elif step.kind == "support":
        _choice(data.status, ("provided", "declined"))
        step.status = data.status
    elif step.kind == "referral":
        _choice(data.status, ("accepted", "declined", "completed"))
        step.status = data.status
    elif step.kind == "follow_up":
        _choice(data.situation, domain.SITUATIONS)
        step.situation = data.situation
        if case.status == "monitoring" and not data.next_on:
            data.next_on = data.done_on + timedelta(days=settings().follow_up_days)
        if data.next_on:
            if data.next_on <= data.done_on:
                raise ValidationFailed(_("The next follow-up must come after this one."))
            step.next_on = data.next_on
            next_step = CaseStep(
                uid=str(uuid.uuid4()),
                case_id=case.id,
                kind="follow_up",
                person_id=step.person_id,
                created_by_id=actor.id,
                due_on=data.next_on,
            )
    else:
        raise ValidationFailed(_("This step is already finished."))
    step.done_on = data.done_on
    if data.details.strip():
        step.details = sealer(case).append(
            step.details, "case_steps", step.uid, "details", data.details.strip()
        )
    covers_: tuple[CaseStep, ...] = ()
    if next_step is not None:
        next_step.details = None
        session.add(next_step)
        covers_ = (next_step,)
    record(
        session,
        actor,
        "step.complete",
        step,
        unit=case.unit,
        object_ref=case.reference,
        covers=covers_,
    )
    return step


def steps_of(session: Session, case: Case) -> list[CaseStep]:
    return list(
        session.scalars(
            select(CaseStep)
            .where(CaseStep.case_id == case.id)
            .order_by(CaseStep.created_at, CaseStep.id)
        )
    )


def referral_contacts(session: Session, case: Case) -> list[ReferralContact]:
    ids = [int(p) for p in case.unit.path.strip("/").split("/")]
    return list(
        session.scalars(
            select(ReferralContact)
            .where(ReferralContact.unit_id.in_(ids), ReferralContact.active.is_(True))
            .order_by(ReferralContact.kind, ReferralContact.name)
        )
    )


def covers_case(actor: User, case: Case) -> bool:
    return covers(actor, "case.read", case.unit)
