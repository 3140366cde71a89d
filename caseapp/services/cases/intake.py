"""Cases: intake with a sequential reference, sealed content, editing with optimistic locking,
crypto-shredding. Reading the content is services/cases/content.py (the one door)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, cast

from flask_babel import gettext as _
from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caseapp.clock import add_working_days, local_today
from caseapp.db import utcnow
from caseapp.errors import Conflict, Forbidden, ValidationFailed
from caseapp.models import (
    Case,
    CaseCounter,
    CaseInformant,
    CaseNameIndex,
    CaseViolenceType,
    Unit,
)
from caseapp.models import cases as domain
from caseapp.runtime import keyring, settings
from caseapp.security import envelope
from caseapp.security.authz import covers
from caseapp.services.audit import sealed_text
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.cases import people, tallies
from caseapp.services.cases.access import can_handle, can_handle_at, can_oversee
from caseapp.services.cases.content import CaseFields, Sealer, sealer
from caseapp.services.cases.people import PersonInput, is_child_by_age

__all__ = ["PersonInput", "is_child_by_age"]

if TYPE_CHECKING:
    from caseapp.models import User

# The confidential fields as the intake and edit forms send them.
CaseContent = CaseFields


@dataclass
class CaseFacts:
    """The clear metadata of a case itself (what the edit form changes); the people of the
    case are changed one by one (services/cases/people.py)."""

    received_on: date
    received_via: str
    reporter_kind: str
    setting: str
    violence_types: list[str]
    risk_level: str
    incident_on: date | None = None
    incident_date_approximate: bool = False
    serious_risk_to_child: bool = False


@dataclass(kw_only=True)
class CaseDetails(CaseFacts):
    """A case at intake: its facts, the first person harmed and the alleged perpetrators as
    the intake form sends them (``perpetrator_count`` alike), and any more people."""

    child: bool
    harmed_sex: str
    harmed_age_band: str
    harmed_role: str
    perpetrator_sex: str
    perpetrator_age_band: str
    perpetrator_relationship: str
    harmed_age_years: int | None = None
    harmed_disability: str = "unknown"
    harmed_ethnic_minority: str = "unknown"
    harmed_grade: int | None = None
    perpetrator_count: int = 1
    more_people: list[PersonInput] = field(default_factory=list)


DETAIL_FIELDS = tuple(f.name for f in fields(CaseFacts) if f.name != "violence_types")
INFORMANT_MAX = {"informant_name": 120, "informant_contact": 300}
CONTENT_MAX = {
    "harmed_name": 120,  # the intake form's limit (a person's name field holds up to 500)
    "harmed_contact": domain.PERSON_MAX["contact"],
    "guardian_name": domain.PERSON_MAX["guardian_name"],
    "guardian_contact": domain.PERSON_MAX["guardian_contact"],
    "perpetrator_names": domain.PERSON_MAX["name"],
    "narrative": domain.NARRATIVE_MAX,
}

_CHOICES = {
    "received_via": domain.RECEIVED_VIA,
    "reporter_kind": domain.REPORTER_KINDS,
    "setting": domain.SETTINGS,
    "risk_level": domain.RISK_LEVELS,
}


def validate(details: CaseFacts, content: CaseContent, today: date) -> None:
    for name, allowed in _CHOICES.items():
        if getattr(details, name) not in allowed:
            raise ValidationFailed(_("A choice in the form is not valid. Nothing was saved."))
    if not details.violence_types or any(
        v not in domain.VIOLENCE_TYPES for v in details.violence_types
    ):
        raise ValidationFailed(_("Choose at least one kind of violence."))
    if details.received_on > today:
        raise ValidationFailed(_("The date received cannot be in the future."))
    if details.incident_on and details.incident_on > details.received_on:
        raise ValidationFailed(_("The incident cannot be after the date the case was received."))
    limits = CONTENT_MAX | INFORMANT_MAX
    for name, limit in limits.items():
        if len(getattr(content, name) or "") > limit:
            raise ValidationFailed(_("A text field is longer than allowed. Nothing was saved."))


def intake_people(details: CaseDetails, content: CaseContent) -> list[PersonInput]:
    """The people of a new case: the first person harmed and ``perpetrator_count`` alleged
    perpetrators from the intake form (the perpetrators' names one per line, one a row; the
    first row keeps what is left over), then ``more_people``. Each checked (ValidationFailed)."""
    if not 1 <= details.perpetrator_count <= people.MAX_PEOPLE:
        raise ValidationFailed(_("The number of alleged perpetrators must be between 1 and 50."))
    first = PersonInput(
        position="harmed",
        sex=details.harmed_sex,
        age_band=details.harmed_age_band,
        role=details.harmed_role,
        age_years=details.harmed_age_years,
        grade=details.harmed_grade,
        disability=details.harmed_disability,
        ethnic_minority=details.harmed_ethnic_minority,
        child=details.child,
        name=content.harmed_name,
        contact=content.harmed_contact,
        guardian_name=content.guardian_name,
        guardian_contact=content.guardian_contact,
    )
    names = people.name_parts("perpetrator", content.perpetrator_names)
    if len(names) > details.perpetrator_count:  # more names than people: the first row keeps them
        keep = len(names) - details.perpetrator_count + 1
        names = ["\n".join(names[:keep]), *names[keep:]]
    perpetrators = [
        PersonInput(
            position="perpetrator",
            sex=details.perpetrator_sex,
            age_band=details.perpetrator_age_band,
            relationship=details.perpetrator_relationship,
            name=names[i] if i < len(names) else "",
        )
        for i in range(details.perpetrator_count)
    ]
    result = [people.normalise(p) for p in (first, *perpetrators, *details.more_people)]
    for position in domain.POSITIONS:
        if sum(1 for p in result if p.position == position) > people.MAX_PEOPLE:
            raise ValidationFailed(_("A case holds at most 50 persons of each kind."))
    return result


def _next_number(session: Session, unit_id: int, year: int) -> int:
    """Increment the counter of the school and year atomically (row lock / write lock)."""
    # On the table, not the mapped class: no CaseCounter is ever loaded as an object, so the
    # ORM's bookkeeping of an UPDATE (synchronising the session) has nothing to do.
    counters = cast(Table, CaseCounter.__table__)
    bump = (
        update(counters)
        .where(counters.c.unit_id == unit_id, counters.c.year == year)
        .values(last_number=counters.c.last_number + 1)
        .returning(counters.c.last_number)
    )
    number = session.execute(bump).scalar()
    if number is None:
        try:
            with session.begin_nested():
                session.execute(
                    insert(CaseCounter).values(unit_id=unit_id, year=year, last_number=0)
                )
        except IntegrityError:
            pass  # another intake created it first
        number = session.execute(bump).scalar()
    if number is None:
        raise RuntimeError(f"no case counter for unit {unit_id} in {year}")
    return number


def _seal_content(case: Case, seal: Sealer, content: CaseContent) -> list[str]:
    """Seal the changed confidential fields; returns the names of those that changed."""
    return [
        name
        for name in domain.CONFIDENTIAL_FIELDS
        if seal.reseal(
            case, name, "cases", case.public_id, name, (getattr(content, name) or "").strip()
        )
    ]


def _seal_informant(informant: CaseInformant, seal: Sealer, content: CaseContent) -> list[str]:
    return [
        f"informant_{name}"
        for name in ("name", "contact")
        if seal.reseal(
            informant,
            name,
            "case_informants",
            informant.uid,
            name,
            (getattr(content, f"informant_{name}") or "").strip(),
        )
    ]


def _due_dates(case: Case, now: datetime, intervention_due_at: datetime | None = None) -> None:
    cfg = settings()
    case.verification_due_on = case.received_on + timedelta(days=cfg.verification_days)
    case.support_due_on = add_working_days(case.received_on, cfg.support_plan_working_days)
    case.intervention_due_at = (
        now + timedelta(hours=cfg.intervention_hours) if case.urgent else None
    )
    if intervention_due_at is not None:  # a clock that started before the case (a self-report)
        case.intervention_due_at = intervention_due_at


def may_record_at(actor: User, unit: Unit, received_via: str) -> bool:
    """A school's focal points record its cases; a case from a self-report is also recorded by
    the officer above the school it waited for (a report naming staff goes to the office)."""
    if unit.kind != "school" or not unit.is_open:
        return False
    if can_handle_at(actor, unit):
        return True
    return received_via == "self_report" and covers(actor, "case.oversee", unit)


def create_case(
    session: Session,
    actor: User,
    unit: Unit,
    details: CaseDetails,
    content: CaseContent,
    *,
    intervention_due_at: datetime | None = None,
) -> Case:
    """Record a new case at a school; its reference is the next number of the school's year.
    ``intervention_due_at``: the intervention clock when it started before the case (a
    self-report saying someone is in danger: 12 hours from its receipt)."""
    if not may_record_at(actor, unit, details.received_via):
        raise Forbidden(_("You cannot record cases for this unit."))
    now = utcnow()
    validate(details, content, local_today())
    inputs = intake_people(details, content)
    year = details.received_on.year
    number = _next_number(session, unit.id, year)
    public_id = str(uuid.uuid4())
    dek = envelope.new_data_key()
    case = Case(
        public_id=public_id,
        reference=f"{unit.code}-{year}-{number:04d}",
        unit=unit,
        year=year,
        number=number,
        status="new",
        created_by_id=actor.id,
        assigned_to_id=actor.id,
        wrapped_key=envelope.wrap_data_key(keyring(), dek, public_id),
        **{name: getattr(details, name) for name in DETAIL_FIELDS},
    )
    case.violence = [CaseViolenceType(type=v) for v in sorted(set(details.violence_types))]
    seal = sealer(case, dek)
    _seal_content(case, seal, content)
    informant = CaseInformant(uid=str(uuid.uuid4()))
    _seal_informant(informant, seal, content)
    ordinals = {"harmed": 0, "perpetrator": 0}
    persons = []
    for data in inputs:
        ordinals[data.position] += 1
        person = people.new_person(case, data, ordinals[data.position])
        people.seal_fields(seal, person, data)
        persons.append(person)
    people.recompute(case)
    _due_dates(case, now, intervention_due_at)
    session.add(case)
    changes = {k: v for k, v in changes_of(case).items() if k != "wrapped_key"}
    changes["violence_types"] = [None, sorted(set(details.violence_types))]
    changes["people"] = [None, {p: ordinals[p] for p in domain.POSITIONS}]
    # The case with its persons and kinds of violence first (the persons' ids), then the
    # informant and the name index rows (plain inserts: nothing reads them back here), then
    # the audit chain's lock, which every intake waits for: from there only the school's
    # counts (tallies.deferred), the event's insert and the commit remain.
    with tallies.deferred(session):
        _insert_rows(session, case, informant, persons, inputs)
    record(
        session,
        actor,
        "case.create",
        case,
        unit=unit,
        object_ref=case.reference,
        changes=changes,
        covers=(*case.violence, *persons),
    )
    if case.urgent:
        from caseapp.services.cases import notifications

        notifications.notify_officers(session, case, "urgent_case", f"urgent_case:{case.id}")
    return case


def _insert_rows(session: Session, case: Case, informant: CaseInformant, persons, inputs) -> None:
    session.flush()
    session.execute(
        insert(cast(Table, CaseInformant.__table__)).inline(),  # inline: no RETURNING of its id
        {
            "uid": informant.uid,
            "case_id": case.id,
            "name": informant.name,
            "contact": informant.contact,
        },
    )
    index = [
        {
            "case_id": row.case_id,
            "role": row.role,
            "person_id": row.person_id,
            "digest": row.digest,
            "key_id": row.key_id,
        }
        for person, data in zip(persons, inputs, strict=True)
        for row in people.index_rows(case, person, data.name)
    ]
    if index:
        session.execute(insert(cast(Table, CaseNameIndex.__table__)), index)


def update_case(
    session: Session,
    actor: User,
    case: Case,
    details: CaseFacts,
    content: CaseContent | None,
    version: int,
) -> Case:
    """Save an edit of the case's facts, narrative and informant made on the form of
    ``version``; a stale form raises Conflict. The people are changed on their own forms
    (services/cases/people.py): the person fields of a CaseDetails are not read here."""
    if not can_handle(actor, case):
        raise Forbidden(_("Only the school's focal points edit a case."))
    if case.version != version:
        raise Conflict(_("Someone else saved this case after you opened it."), current=case)
    if case.key_destroyed_at is not None:
        raise ValidationFailed(_("This case's content was destroyed; it can no longer be edited."))
    validate(details, content or CaseContent(), local_today())
    informant = session.scalar(select(CaseInformant).where(CaseInformant.case_id == case.id))
    old_types = sorted(case.violence_types)
    for name in DETAIL_FIELDS:
        setattr(case, name, getattr(details, name))
    new_types = sorted(set(details.violence_types))
    removed = [v for v in case.violence if v.type not in new_types]
    added = [CaseViolenceType(case_id=case.id, type=t) for t in new_types if t not in old_types]
    for row in removed:
        case.violence.remove(row)
    case.violence.extend(added)
    changes = changes_of(case)
    if old_types != new_types:
        changes["violence_types"] = [old_types, new_types]
    covers: list = removed + added
    if content is not None:
        seal = sealer(case)
        for name in _seal_content(case, seal, content):
            changes[name] = "changed"
        if informant is not None:
            for name in _seal_informant(informant, seal, content):
                changes[name] = "changed"
            covers.append(informant)
    if not changes:
        return case
    record(
        session,
        actor,
        "case.update",
        case,
        unit=case.unit,
        object_ref=case.reference,
        changes=changes,
        covers=tuple(covers),
    )
    return case


def destroy_content(session: Session, actor: User | None, case: Case, reason: str) -> Case:
    """Crypto-shredding: forget the data key, so the content is unreadable everywhere (backups
    included); the clear metadata stays for statistics. Its attachments not yet discarded are
    marked discarded in the same event (their sealed files are removed once this is committed:
    records.discard_case_files), so retention never lists them again. The self-reports
    accepted or merged into the case lose their own key in the same event (the reporter's
    words, name, contact, messages and photos were sealed under it): the event lists which,
    nothing of their content; their photo files go with the case's files."""
    if actor is not None and not can_oversee(actor, case):
        raise Forbidden(_("Only an officer above the school can destroy a case's content."))
    if not reason.strip():
        raise ValidationFailed(_("Please give a reason."))
    attachments = list(
        session.scalars(
            select(domain.CaseAttachment).where(
                domain.CaseAttachment.case_id == case.id,
                domain.CaseAttachment.discarded_at.is_(None),
            )
        )
    )
    from caseapp.models.selfreports import SelfReport

    reports = list(
        session.scalars(
            select(SelfReport)
            .where(SelfReport.case_id == case.id, SelfReport.wrapped_key.is_not(None))
            .order_by(SelfReport.id)
        )
    )
    for report in reports:
        report.wrapped_key = None
    case.wrapped_key = None
    case.key_destroyed_at = utcnow()
    # The reasons of its audit events go with it; the reason of this destruction is sealed
    # under the service key (sealed_text.sealing_key), so that it stays accountable.
    sealed_text.destroy_case_key(session, case)
    for attachment in attachments:
        attachment.discarded_at = case.key_destroyed_at
    changes = changes_of(case)
    if attachments:
        changes["attachments_discarded"] = len(attachments)
    if reports:
        changes["self_reports_destroyed"] = [r.id for r in reports]
    record(
        session,
        actor,
        "case.destroy_content",
        case,
        unit=case.unit,
        object_ref=case.reference,
        changes=changes,
        reason=reason,
        covers=(*attachments, *reports),
    )
    return case
