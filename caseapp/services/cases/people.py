"""The people of a case: persons harmed and alleged perpetrators, each with clear facts for
the statistics and their own sealed name and contacts. Added, changed and withdrawn (never
deleted) by the school's focal points; each change is one audited event and keeps the case's
group facts (the sex of the persons harmed, whether any is a child) and name index in step.

Nothing here reads a sealed value: the Sealer of content.py seals and compares."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.errors import Conflict, Forbidden, NotFound, ValidationFailed
from caseapp.models import Case, CaseNameIndex, CasePerson
from caseapp.models import cases as domain
from caseapp.runtime import keyring
from caseapp.security import envelope
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.cases.access import can_handle
from caseapp.services.cases.content import Sealer, sealer

if TYPE_CHECKING:
    from caseapp.models import User


@dataclass
class PersonInput:
    """One person as a form sends them; the four last fields are sealed, never stored clear."""

    position: str
    sex: str
    age_band: str
    role: str | None = None
    age_years: int | None = None
    grade: int | None = None
    disability: str = "unknown"
    ethnic_minority: str = "unknown"
    relationship: str | None = None
    child: bool = False
    name: str = ""
    contact: str = ""
    guardian_name: str = ""
    guardian_contact: str = ""


CLEAR_FIELDS = tuple(
    f.name for f in fields(PersonInput) if f.name not in (*domain.PERSON_FIELDS, "position")
)
BAND_RANGES = {
    "0-5": (0, 5),
    "6-10": (6, 10),
    "11-14": (11, 14),
    "15-17": (15, 17),
    "18-24": (18, 24),
    "25-59": (25, 59),
    "60+": (60, 120),
}
CHILD_BANDS = ("0-5", "6-10", "11-14")  # wholly under 16; 15-17 is not
MAX_PEOPLE = 50  # per position


def is_child_by_age(age_band: str, age_years: int | None) -> bool:
    """Whether the age alone makes a person harmed a child (under 16)."""
    return age_band in CHILD_BANDS or (age_years is not None and age_years < 16)


def sex_group(sexes: list[str]) -> str:
    """The sex the persons harmed share, or "mixed" when they differ."""
    distinct = set(sexes)
    if not distinct:
        return "not_recorded"
    return distinct.pop() if len(distinct) == 1 else domain.SEX_GROUP_MIXED


def _invalid() -> ValidationFailed:
    return ValidationFailed(_("A choice in the form is not valid. Nothing was saved."))


def normalise(data: PersonInput) -> PersonInput:
    """Check a person's facts; a person harmed under 16 by age is a child whatever was ticked.
    Raises ValidationFailed (nothing saved)."""
    if data.position not in domain.POSITIONS:
        raise _invalid()
    if data.sex not in domain.SEXES or data.age_band not in domain.AGE_BANDS:
        raise _invalid()
    if data.disability not in domain.YES_NO_UNKNOWN:
        raise _invalid()
    if data.ethnic_minority not in domain.YES_NO_UNKNOWN:
        raise _invalid()
    if data.role is not None and data.role not in domain.HARMED_ROLES:
        raise _invalid()
    if data.grade is not None and data.grade not in domain.GRADES:
        raise ValidationFailed(_("The grade must be between 0 and 12."))
    if data.age_years is not None:
        low, high = BAND_RANGES[data.age_band]
        if not low <= data.age_years <= high:
            raise ValidationFailed(_("The age does not match the age band."))
    if data.position == "harmed":
        if data.role is None:
            raise ValidationFailed(_("Choose an answer in every list. Nothing was saved."))
        data.relationship = None
        _check_child(data)
    else:
        if data.relationship not in domain.RELATIONSHIPS:
            raise ValidationFailed(_("Choose an answer in every list. Nothing was saved."))
        data.child = False
    for name, limit in domain.PERSON_MAX.items():
        if len(getattr(data, name) or "") > limit:
            raise ValidationFailed(_("A text field is longer than allowed. Nothing was saved."))
    return data


def _check_child(data: PersonInput) -> None:
    if data.child and data.age_band not in ("0-5", "6-10", "11-14", "15-17"):
        raise ValidationFailed(_("A child is under 16: the age band does not match."))
    if data.child and (data.age_years or 0) >= 16:
        raise ValidationFailed(_("A child is under 16: the age does not match."))
    if not data.child and is_child_by_age(data.age_band, data.age_years):
        raise ValidationFailed(_("The person harmed is under 16: mark them as a child."))


def new_person(case: Case, data: PersonInput, ordinal: int) -> CasePerson:
    person = CasePerson(uid=str(uuid.uuid4()), case=case, position=data.position, ordinal=ordinal)
    for name in CLEAR_FIELDS:
        setattr(person, name, getattr(data, name))
    return person


def seal_fields(seal: Sealer, person: CasePerson, data: PersonInput) -> list[str]:
    """Seal the person's changed confidential fields (a migrated row is first resealed with its
    own associated data); the names of those that changed."""
    seal.adopt_person(person)
    return [
        name
        for name in domain.PERSON_FIELDS
        if seal.reseal(
            person, name, "case_persons", person.uid, name, (getattr(data, name) or "").strip()
        )
    ]


def recompute(case: Case) -> None:
    """The case's group facts from its persons harmed (withdrawn ones left out)."""
    harmed = case.harmed_people
    case.harmed_sex_group = sex_group([p.sex for p in harmed])
    case.child = any(p.child for p in harmed)


def name_parts(position: str, text: str) -> list[str]:
    """The names a person's name field holds (one per line for a migrated perpetrators row)."""
    if position == "harmed":
        return [text] if text.strip() else []
    parts = (text or "").replace(";", "\n").replace(",", "\n").split("\n")
    return [p for p in parts if p.strip()]


def index_rows(case: Case, person: CasePerson, name: str) -> list[CaseNameIndex]:
    """Blind-index rows of one person's name (the digest of each name, once)."""
    key = keyring().active("blind_index")
    rows, seen = [], set()
    for part in name_parts(person.position, name):
        digest = envelope.name_digest(key.secret, person.position, part)
        if digest and digest not in seen:
            seen.add(digest)
            rows.append(
                CaseNameIndex(
                    case_id=case.id,
                    person_id=person.id,
                    role=person.position,
                    digest=digest,
                    key_id=key.id,
                )
            )
    return rows


# Changing the people of a case -------------------------------------------------------------


def _check(session: Session, actor: User, case: Case, version: int) -> None:
    if not can_handle(actor, case):
        raise Forbidden(_("Only the school's focal points change the people of a case."))
    # One change of a case's people at a time (PostgreSQL row lock; SQLite has one writer):
    # the case is read again under the lock, so a change committed meanwhile makes this form
    # stale and the next ordinal is read after it.
    session.refresh(case, with_for_update=True)
    if case.version != version:
        raise Conflict(_("Someone else saved this case after you opened it."), current=case)
    if case.key_destroyed_at is not None:
        raise ValidationFailed(_("This case's content was destroyed; it can no longer be edited."))
    if case.status == "closed":
        raise ValidationFailed(_("The case is closed; reopen it first."))


def get_person(session: Session, case: Case, uid: str) -> CasePerson:
    """A person of this case by uid (another case's person, or none: NotFound)."""
    person = session.scalar(
        select(CasePerson).where(CasePerson.case_id == case.id, CasePerson.uid == uid)
    )
    if person is None:
        raise NotFound()
    return person


def add_person(
    session: Session, actor: User, case: Case, data: PersonInput, version: int
) -> CasePerson:
    """Add a person harmed or an alleged perpetrator to ``case`` (form of ``version``)."""
    _check(session, actor, case, version)
    data = normalise(data)
    count = sum(1 for p in case.people if p.position == data.position and not p.withdrawn)
    if count >= MAX_PEOPLE:
        raise ValidationFailed(_("A case holds at most 50 persons of each kind."))
    last = session.scalar(
        select(func.max(CasePerson.ordinal)).where(
            CasePerson.case_id == case.id, CasePerson.position == data.position
        )
    )
    person = new_person(case, data, (last or 0) + 1)
    session.add(person)
    seal_fields(sealer(case), person, data)
    changes = changes_of(person) | _regroup(case)
    record(
        session,
        actor,
        "person.add",
        person,
        unit=case.unit,
        object_ref=case.reference,
        changes=changes,
        covers=(case,),
    )
    rows = index_rows(case, person, data.name)
    session.add_all(rows)
    _cover(session, rows)
    return person


def update_person(
    session: Session, actor: User, case: Case, uid: str, data: PersonInput, version: int
) -> CasePerson:
    """Change a person's facts and sealed fields; their name digests follow their name."""
    _check(session, actor, case, version)
    person = get_person(session, case, uid)
    if person.withdrawn:
        raise ValidationFailed(_("This person was withdrawn from the case."))
    data.position = person.position
    data = normalise(data)
    for name in CLEAR_FIELDS:
        setattr(person, name, getattr(data, name))
    migrated = bool(person.legacy_field)
    changed = seal_fields(sealer(case), person, data)
    changes = changes_of(person)
    for name in domain.PERSON_FIELDS:  # a migrated row's fields are resealed, not changed
        changes.pop(name, None)
    for name in changed:
        changes[name] = "changed"
    changes.pop("legacy_field", None)
    if migrated:
        changes["resealed"] = True  # now sealed with the person's own associated data
    if not changes:
        return person
    changes |= _regroup(case)
    covers: list = [case]
    if "name" in changed:
        old = list(
            session.scalars(select(CaseNameIndex).where(CaseNameIndex.person_id == person.id))
        )
        for row in old:
            session.delete(row)
        covers += old
    record(
        session,
        actor,
        "person.update",
        person,
        unit=case.unit,
        object_ref=case.reference,
        changes=changes,
        covers=tuple(covers),
    )
    if "name" in changed:
        rows = index_rows(case, person, data.name)
        session.add_all(rows)
        _cover(session, rows)
    return person


def withdraw_person(
    session: Session, actor: User, case: Case, uid: str, version: int, reason: str
) -> CasePerson:
    """Withdraw a person recorded in error: the row stays (never deleted), out of the counts,
    the consents and the requirements of the workflow; their name digests go (no repeat
    alert on a person who is not part of the case)."""
    _check(session, actor, case, version)
    person = get_person(session, case, uid)
    if person.withdrawn:
        raise ValidationFailed(_("This person was withdrawn from the case."))
    if not (reason or "").strip():
        raise ValidationFailed(_("Please give a reason."))
    same = [p for p in case.current_people if p.position == person.position]
    if person.position == "harmed" and len(same) <= 1:
        raise ValidationFailed(_("A case keeps at least one person harmed."))
    person.withdrawn_at = utcnow()
    changes = changes_of(person) | _regroup(case)
    old = list(session.scalars(select(CaseNameIndex).where(CaseNameIndex.person_id == person.id)))
    for row in old:
        session.delete(row)
    record(
        session,
        actor,
        "person.withdraw",
        person,
        unit=case.unit,
        object_ref=case.reference,
        reason=reason.strip(),
        changes=changes,
        covers=(case, *old),
    )
    return person


def _regroup(case: Case) -> dict:
    """Recompute the case's group facts and bump its version (a form of the case opened
    before this change is stale); their changes, named case_*, for the person's event."""
    recompute(case)
    case.updated_at = utcnow()  # an UPDATE of the case row, so its version moves on
    return {f"case_{k}": v for k, v in changes_of(case).items() if k != "updated_at"}


def _cover(session: Session, objects) -> None:
    from caseapp.services.audit.trail import _covered

    covered = _covered(session)
    for obj in objects:
        covered.append(obj)


def choose(case: Case, position: str, uid: str | None) -> CasePerson:
    """The person a step or consent is about: the one named by ``uid`` (of this case, not
    withdrawn; else NotFound), or the only one of the position when none is named."""
    candidates = [p for p in case.current_people if p.position == position]
    if uid:
        person = next((p for p in candidates if p.uid == uid), None)
        if person is None:
            raise NotFound()
        return person
    if len(candidates) == 1:
        return candidates[0]
    if position == "harmed":
        raise ValidationFailed(_("Choose the person harmed this is about."))
    raise ValidationFailed(_("Choose the alleged perpetrator this is about."))


def label(person: CasePerson) -> str:
    """How a person is named where names are not shown: "Person harmed 2"."""
    if person.harmed:
        return _("Person harmed %(n)d", n=person.ordinal)
    return _("Alleged perpetrator %(n)d", n=person.ordinal)
