"""Retention: when a closed case's content and its attachments fall due for shredding, from the
schedule the admin keeps (LegalPeriod lines with their legal basis), and the run that shreds
them (`flask --app wsgi retention run [--dry-run]`).

The dates:
- a minor's case (the case is a child's, or any person harmed is under 18: an age under 18,
  or without an age an age band starting under 18, "15-17" included): the day the youngest
  minor harmed turns 18 plus ``retention_case_child``, never before closure plus
  ``retention_case_adult``. The birthday is not recorded: a minor aged A on the day the case
  was received turns 18 at the latest 18 - A years later, and that latest day is used (the most
  protective estimate); without an age, the lowest age of the age band.
- an adult's case: closure plus ``retention_case_adult``.
- attachments of a closed case: closure plus ``retention_attachments``.
Closure is the last transition of the case to "closed", as a date in the users' time zone.
A case under an active legal hold is listed as held and never shredded (nor its attachments).
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import case, exists, false, func, or_, select
from sqlalchemy.orm import Session

from caseapp.clock import local_today, start_of_local_day, zone
from caseapp.models import (
    Case,
    CaseAttachment,
    CaseExclusion,
    CasePerson,
    LegalHold,
    Unit,
    User,
)
from caseapp.services.audit.trail import record
from caseapp.services.cases import intake, records
from caseapp.services.cases.closures import latest_closure
from caseapp.services.cases.people import BAND_RANGES
from caseapp.services.privacy import periods

CHILD = "retention_case_child"
ADULT = "retention_case_adult"
ATTACHMENTS = "retention_attachments"
RULES = (CHILD, ADULT, ATTACHMENTS)
RECEIPTS = "retention_receipts"
ADULT_AGE = 18
SOON_DAYS = 90  # what the retention page looks ahead


@dataclass(frozen=True)
class Due:
    """A case's content (``attachment_id`` None) or one attachment that falls due."""

    case_id: int
    reference: str
    unit_code: str
    rule: str
    due_on: date
    held: bool
    attachment_id: int | None = None

    @property
    def kind(self) -> str:
        return "case" if self.attachment_id is None else "attachment"


@dataclass(frozen=True)
class Outcome:
    shredded: int
    files_removed: int
    attachments: int
    held: int


# Date rules ----------------------------------------------------------------------------------


def add_period(day: date, amount: int, unit: str) -> date:
    """``day`` plus a retention period. Years and months landing on a day the target month
    lacks (29 February in a common year) move to the first of the next month: later, never
    earlier."""
    if unit in ("years", "months"):
        months = day.month - 1 + amount * (12 if unit == "years" else 1)
        year, month = day.year + months // 12, months % 12 + 1
        try:
            return day.replace(year=year, month=month)
        except ValueError:
            return date(year + (month == 12), month % 12 + 1, 1)
    if unit == "calendar_days":
        return day + timedelta(days=amount)
    raise ValueError(f"a retention period is counted in years, months or days, not {unit}")


def closure_day(closed_at: datetime) -> date:
    """The closure's date in the users' time zone; a naive instant (SQLite returns them) is UTC,
    as every instant is stored."""
    if closed_at.tzinfo is None:
        closed_at = closed_at.replace(tzinfo=UTC)
    return closed_at.astimezone(zone()).date()


def turns_adult(received_on: date, age: int) -> date:
    """The latest day a person aged ``age`` on ``received_on`` turns 18."""
    return add_period(received_on, max(ADULT_AGE - age, 0), "years")


def case_due_on(
    schedule: dict[str, tuple[int, str]],
    closed_on: date,
    received_on: date,
    child_age: int | None,
) -> tuple[str, date]:
    """(rule, due date) of a case's content: ``child_age`` is the youngest minor harmed's age
    when the case was received (None: an adult's case)."""
    adult = add_period(closed_on, *schedule[ADULT])
    if child_age is None:
        return ADULT, adult
    child = add_period(turns_adult(received_on, child_age), *schedule[CHILD])
    return CHILD, max(child, adult)


# The schedule and what falls due -------------------------------------------------------------


def schedule_lines(session: Session) -> list:
    """The retention lines (LegalPeriod, with their basis), in the schedule's order: the
    case rules, then the receipt codes of self-reports (services/privacy/receipts.py)."""
    return [periods.get(session, key) for key in (*RULES, RECEIPTS)]


def _schedule(session: Session) -> dict[str, tuple[int, str]]:
    return {p.key: (p.amount, p.unit) for p in schedule_lines(session)}


def _held():
    return exists(
        select(LegalHold.id).where(LegalHold.case_id == Case.id, LegalHold.released_at.is_(None))
    )


def _band_low():
    return case(
        *[(CasePerson.age_band == band, low) for band, (low, _high) in BAND_RANGES.items()],
        else_=0,
    )


def _ages():
    """The youngest age of a minor harmed of the case (marked a child, or under 18 by age or,
    with no age, by the lowest age of the band), and of anyone harmed (current people): two
    scalar subqueries correlated with the case, read for the cases listed only."""
    age = func.coalesce(CasePerson.age_years, _band_low())
    minor = or_(CasePerson.child.is_(True), age < ADULT_AGE)
    harmed = (
        CasePerson.case_id == Case.id,
        CasePerson.position == "harmed",
        CasePerson.withdrawn_at.is_(None),
    )
    return (
        select(func.min(case((minor, age)))).where(*harmed).scalar_subquery(),
        select(func.min(age)).where(*harmed).scalar_subquery(),
    )


def sub_period(day: date, amount: int, unit: str) -> date:
    """``day`` less a retention period: the last closure date that can be due on ``day`` (a day
    the target month lacks becomes its last day)."""
    if unit in ("years", "months"):
        months = day.year * 12 + day.month - 1 - amount * (12 if unit == "years" else 1)
        year, month = months // 12, months % 12 + 1
        return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    return day - timedelta(days=amount)


def _cutoff(limit: date, amount: int, unit: str):
    """An instant after which nothing closed can be due by ``limit`` (a loose bound, with two
    days to spare: the exact date is checked afterwards)."""
    return start_of_local_day(sub_period(limit, amount, unit) + timedelta(days=2))


def _excluded(viewer: User):
    return exists(
        select(CaseExclusion.id).where(
            CaseExclusion.case_id == Case.id, CaseExclusion.user_id == viewer.id
        )
    )


def _in_units(units: Sequence[str] | None):
    if units is None:
        return None
    if not units:
        return false()
    return or_(*[Unit.path.startswith(p) for p in units])


def due(
    session: Session,
    as_of: date,
    horizon_days: int = 0,
    units: Sequence[str] | None = None,
    viewer: User | None = None,
) -> list[Due]:
    """Everything that falls due on or before ``as_of`` + ``horizon_days``: the content of closed
    cases not yet shredded and the attachments of closed cases not yet discarded, held ones
    included (marked). ``units``: unit paths to keep to (None: every unit); ``viewer``: the
    person the list is for, who never sees a case they are excluded from (None: the system's
    run, which sees everything). One query per kind."""
    limit = as_of + timedelta(days=horizon_days)
    schedule = _schedule(session)
    scope = _in_units(units)
    held = _held().label("held")

    # The closed cases not yet shredded, by the instant they closed (ix_cases_closed_kept):
    # what the cutoff leaves, not the archive.
    child_age, any_age = _ages()
    stmt = (
        select(
            Case.id,
            Case.reference,
            Unit.code,
            Case.child,
            Case.received_on,
            Case.closed_at,
            child_age,
            any_age,
            held,
        )
        .join(Unit, Case.unit_id == Unit.id)
        .where(
            Case.status == "closed",
            Case.key_destroyed_at.is_(None),
            Case.closed_at < _cutoff(limit, *schedule[ADULT]),
        )
    )
    if scope is not None:
        stmt = stmt.where(scope)
    if viewer is not None:
        stmt = stmt.where(~_excluded(viewer))
    found: list[Due] = []
    for (
        case_id,
        reference,
        code,
        child,
        received_on,
        closed_at,
        child_age,
        any_age,
        h,
    ) in session.execute(stmt):
        age = child_age if child_age is not None else (any_age or 0) if child else None
        rule, due_on = case_due_on(schedule, closure_day(closed_at), received_on, age)
        if due_on <= limit:
            found.append(Due(case_id, reference, code, rule, due_on, bool(h)))

    # A shredded case's attachments are discarded with its content (intake.destroy_content):
    # those not yet discarded belong to cases not shredded, read from the same index.
    att = (
        select(CaseAttachment.id, Case.id, Case.reference, Unit.code, Case.closed_at, held)
        .join(Case, CaseAttachment.case_id == Case.id)
        .join(Unit, Case.unit_id == Unit.id)
        .where(
            CaseAttachment.discarded_at.is_(None),
            Case.status == "closed",
            Case.key_destroyed_at.is_(None),
            Case.closed_at < _cutoff(limit, *schedule[ATTACHMENTS]),
        )
    )
    if scope is not None:
        att = att.where(scope)
    if viewer is not None:
        att = att.where(~_excluded(viewer))
    for attachment_id, case_id, reference, code, closed_at, h in session.execute(att):
        due_on = add_period(closure_day(closed_at), *schedule[ATTACHMENTS])
        if due_on <= limit:
            found.append(Due(case_id, reference, code, ATTACHMENTS, due_on, bool(h), attachment_id))
    found.sort(key=lambda d: (d.due_on, d.reference, d.attachment_id or 0))
    return found


def due_soon(session: Session, user: User, days: int = SOON_DAYS) -> list[Due]:
    """What falls due in the next ``days`` days in the units where ``user`` reads the privacy
    pages (the retention page), overdue included."""
    from caseapp.security.authz import scope_paths

    return due(session, local_today(), days, list(scope_paths(user, "privacy.read")), viewer=user)


# The run -------------------------------------------------------------------------------------


def reason_of(session: Session, rule: str) -> str:
    return f"retention: {rule} ({periods.get(session, rule).basis})"


_log = logging.getLogger(__name__)


def _lock_closed(session: Session, case_id: int) -> Case | None:
    """The case row, locked (PostgreSQL: SELECT ... FOR UPDATE) and read afresh, if it is closed
    and, checked after the lock in a statement of its own, under no active hold. A legal hold
    set at the same moment locks the same row first (holds.set_hold): either it was committed
    before this lock and is seen here, or it waits and then finds the case shredded."""
    target = session.scalar(
        select(Case)
        .where(Case.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if target is None or target.status != "closed":
        return None
    # What is shredded is listed by the case's kept instant of closure (services/cases/
    # closures.py); a closure written past the session (a bulk load, a repair in SQL) would
    # leave it behind, and shredding cannot be undone: the transitions have the last word.
    latest = session.scalar(select(latest_closure(Case.id)).where(Case.id == case_id))
    if latest is None or target.closed_at != latest:
        _log.warning(
            "case %s: its kept instant of closure differs from its transitions; not shredded "
            "(run: flask cases refresh-clocks)",
            target.reference,
        )
        return None
    held = session.scalar(
        select(LegalHold.id).where(LegalHold.case_id == case_id, LegalHold.released_at.is_(None))
    )
    return None if held is not None else target


def _still_due(session: Session, case_id: int) -> Case | None:
    """The case, locked for the shredding, if it is still closed, unshredded and not held."""
    target = _lock_closed(session, case_id)
    return target if target is not None and target.key_destroyed_at is None else None


def _attachment_still_due(session: Session, item: Due) -> CaseAttachment | None:
    """The attachment, if its case (locked as for a shredding) is still closed and not held and
    the attachment is not yet discarded."""
    if _lock_closed(session, item.case_id) is None:
        return None
    return session.scalar(
        select(CaseAttachment)
        .where(
            CaseAttachment.id == (item.attachment_id or 0),
            CaseAttachment.case_id == item.case_id,
            CaseAttachment.discarded_at.is_(None),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def run(session: Session, as_of: date, found: list[Due] | None = None) -> Outcome:
    """Shred what is due on ``as_of`` (never a held case): each case's content is destroyed and
    committed on its own (an interruption loses nothing; the next run carries on), its sealed
    files removed; then each due attachment is discarded (file removed, row marked, audited).
    One ``retention.run`` event sums it up. Running it again does nothing new."""
    found = due(session, as_of) if found is None else found
    held = {d.case_id for d in found if d.held}
    cases = [d for d in found if d.kind == "case" and not d.held]
    shredded = removed = discarded = 0
    for item in cases:
        target = _still_due(session, item.case_id)  # one case loaded at a time
        if target is None:
            continue
        intake.destroy_content(session, None, target, reason_of(session, item.rule))
        session.commit()
        removed += records.discard_case_files(session, target)
        shredded += 1
    for item in found:
        if item.kind != "attachment" or item.held:
            continue
        attachment = _attachment_still_due(session, item)
        if attachment is None:
            continue
        discard_attachment(session, attachment, reason_of(session, ATTACHMENTS))
        session.commit()
        records.discard_stored_file(attachment)
        discarded += 1
    if shredded or discarded:
        record(
            session,
            None,
            "retention.run",
            object_type="retention",
            object_ref=as_of.isoformat(),
            changes={
                "shredded": shredded,
                "files_removed": removed,
                "attachments_discarded": discarded,
                "held": len(held),
            },
        )
        session.commit()
    return Outcome(shredded, removed, discarded, len(held))


def discard_attachment(session: Session, attachment: CaseAttachment, reason: str) -> None:
    """Mark an attachment discarded (its sealed file is removed once this is committed)."""
    from caseapp.db import utcnow

    attachment.discarded_at = utcnow()
    target = session.get(Case, attachment.case_id)
    record(
        session,
        None,
        "attachment.discard",
        attachment,
        unit=target.unit if target is not None else None,
        object_ref=target.reference if target is not None else "",
        reason=reason,
    )
