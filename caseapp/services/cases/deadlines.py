"""Clocks and overdue, with "today" taken in Asia/Ho_Chi_Minh.

Each clock is defined twice, in two forms that must agree (tests/unit/test_overdue_after.py
compares them on random histories and random moments): as SQL conditions on a case and its
steps (``overdue_parts``: the reasons shown on a case, the check), and as the one moment
after which the case is overdue (``overdue_after``: stored on the case by
services/cases/clocks.py in the same transaction as every change to its clocks, so that the
daily screens read an indexed column instead of every clock of every case)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import aliased

from caseapp.clock import local_today, zone
from caseapp.db import present, utcnow
from caseapp.models import Case, CaseStep

ACTIVE = ("new", "verifying", "supporting", "monitoring", "reopened")


def _step(*conditions):
    return exists(select(CaseStep.id).where(CaseStep.case_id == Case.id, *conditions))


def overdue_parts(now: datetime | None = None) -> dict[str, ColumnElement[bool]]:
    """Each clock as a SQL condition on Case, by name."""
    now = now or utcnow()
    today: date = local_today(now)
    return {
        # Immediate danger or a child at serious risk: someone must act within the hours set.
        # Only a support, a referral or a finding of not substantiated stops it (starting
        # verification is no intervention). The IS NOT NULL tests keep each clock TRUE or
        # FALSE, never NULL: ~overdue_condition() must hold for a case without that clock.
        "intervention": and_(
            Case.intervention_due_at.is_not(None),
            Case.intervention_due_at < now,
            Case.status.in_(ACTIVE),
            ~_step(CaseStep.kind.in_(("support", "referral"))),
            ~_step(CaseStep.kind == "verification", CaseStep.finding == "not_substantiated"),
        ),
        # Verification finished within the days set.
        "verification": and_(
            Case.status.in_(("new", "verifying", "reopened")),
            Case.verification_due_on.is_not(None),
            Case.verification_due_on < today,
            ~_step(CaseStep.kind == "verification", CaseStep.done_on.is_not(None)),
        ),
        # A support plan within the working days set.
        "support": and_(
            Case.status.in_(ACTIVE),
            Case.support_due_on.is_not(None),
            Case.support_due_on < today,
            ~_step(CaseStep.kind == "support"),
            ~_step(CaseStep.kind == "verification", CaseStep.finding == "not_substantiated"),
        ),
        # Any step still open past its due date (follow-ups above all).
        "step": and_(
            Case.status.in_(ACTIVE),
            _step(
                CaseStep.done_on.is_(None),
                CaseStep.due_on < today,
                CaseStep.kind.in_(("follow_up", "support", "verification")),
            ),
        ),
        # Monitoring needs a follow-up scheduled.
        "follow_up": and_(
            Case.status == "monitoring",
            ~_step(CaseStep.kind == "follow_up", CaseStep.done_on.is_(None)),
        ),
    }


def overdue_condition(
    now: datetime | None = None, moment=Case.overdue_after
) -> ColumnElement[bool]:
    """The case has run past one of its clocks at ``now`` (default: the present as the
    statement runs, db.present; read from the stored moment, or from ``moment``: its copy on
    a step, CaseStep.case_overdue_after)."""
    return and_(moment.is_not(None), moment < (present() if now is None else now))


def overdue_by_clocks(now: datetime | None = None) -> ColumnElement[bool]:
    """The same as ``overdue_condition``, from every clock of the case (the slow check)."""
    return or_(*overdue_parts(now).values())


# "Monitoring without a follow-up scheduled" is overdue at any moment: after this one.
ALWAYS = datetime(2000, 1, 1, tzinfo=UTC)
STEP_CLOCKS = ("follow_up", "support", "verification")


@dataclass(frozen=True)
class StepFacts:
    kind: str
    done_on: date | None
    due_on: date | None
    finding: str | None


def _end_of(day: date) -> datetime:
    """The last moment (to the microsecond) of ``day`` where the users are, in UTC: a date
    clock runs past when the local date is after its due date."""
    start = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone())
    return start.astimezone(UTC) - timedelta(microseconds=1)


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def overdue_after(
    status: str,
    intervention_due_at: datetime | None,
    verification_due_on: date | None,
    support_due_on: date | None,
    steps: Iterable[StepFacts],
) -> datetime | None:
    """The last moment the case is not overdue (None: no clock runs), clock by clock as in
    ``overdue_parts``: the case is overdue at ``now`` exactly when this is before ``now``."""
    if status not in ACTIVE:
        return None
    steps = list(steps)
    not_substantiated = any(
        s.kind == "verification" and s.finding == "not_substantiated" for s in steps
    )
    moments = []
    if (
        intervention_due_at is not None
        and not any(s.kind in ("support", "referral") for s in steps)
        and not not_substantiated
    ):
        moments.append(_utc(intervention_due_at))
    if (
        status in ("new", "verifying", "reopened")
        and verification_due_on is not None
        and not any(s.kind == "verification" and s.done_on is not None for s in steps)
    ):
        moments.append(_end_of(verification_due_on))
    if (
        support_due_on is not None
        and not any(s.kind == "support" for s in steps)
        and not not_substantiated
    ):
        moments.append(_end_of(support_due_on))
    open_due = [
        s.due_on
        for s in steps
        if s.done_on is None and s.due_on is not None and s.kind in STEP_CLOCKS
    ]
    if open_due:
        moments.append(_end_of(min(open_due)))
    if status == "monitoring" and not any(
        s.kind == "follow_up" and s.done_on is None for s in steps
    ):
        moments.append(ALWAYS)
    return min(moments) if moments else None


def overdue_reasons(session, case: Case, now: datetime | None = None) -> list[str]:
    """The names of the clocks this case has run past (one small query per clock)."""
    parts = overdue_parts(now)
    return [
        name
        for name, cond in parts.items()
        if session.scalar(select(Case.id).where(Case.id == case.id, cond)) is not None
    ]


# "Follow-ups in the next two weeks": the window of "my work" and of the case list's filter.
FOLLOW_UP_WINDOW = timedelta(days=14)


def follow_up_window(now: datetime | None = None, today: date | None = None) -> tuple[date, date]:
    """The first and last day of the follow-ups coming (today in Vietnam, two weeks on)."""
    today = today or local_today(now or utcnow())
    return today, today + FOLLOW_UP_WINDOW


def follow_ups_of_window(
    now: datetime | None = None, step=CaseStep, today: date | None = None
) -> tuple:
    """The conditions on ``step`` (CaseStep or an alias of it) of a follow-up not done due in
    ``follow_up_window``."""
    first, last = follow_up_window(now, today)
    return (
        step.due_on >= first,
        step.due_on <= last,
        step.done_on.is_(None),
        step.kind == "follow_up",
    )


def follow_up_due_soon(
    now: datetime | None = None, today: date | None = None
) -> ColumnElement[bool]:
    """The case has a follow-up not done due in the window (``follow_up_window``), tested case
    by case (its steps by case; OFFSET 0 keeps PostgreSQL from turning it into a join), for a
    page read in the list's order: it stops at the page's last case, where a join sorted every
    follow-up of the window first (31,000 in a district of 1,000,000 cases: 260 ms against
    13). A count reads the steps instead (``first_follow_up_of_case``)."""
    conditions = follow_ups_of_window(now, today=today)
    return exists(select(CaseStep.id).where(CaseStep.case_id == Case.id, *conditions).offset(0))


# The earlier steps of a case, for _first_of_its_case: made once (an alias made at each call
# cost 1-2 ms of Python a list, adapting CaseStep's columns anew), one per kind of list so that
# a statement holding both lists' conditions would still name two.
_EARLIER_DUE = aliased(CaseStep, name="earlier_due")
_EARLIER_FOLLOW_UP = aliased(CaseStep, name="earlier_follow_up")


def _first_of_its_case(matching, earlier) -> tuple:
    """``matching(step)`` (the conditions on CaseStep or an alias of it), and no step of the
    same case with a lower id matches them (``earlier``: an alias of CaseStep): the conditions
    that keep one step of each case (its first matching step) when CaseStep is joined to its
    case."""
    return (
        *matching(CaseStep),
        ~exists(
            select(earlier.id).where(
                earlier.case_id == CaseStep.case_id,
                earlier.id < CaseStep.id,
                *matching(earlier),
            )
        ),
    )


def first_follow_up_of_case(now: datetime | None = None, today: date | None = None) -> tuple:
    """The conditions on CaseStep, joined to its case, that keep the first follow-up of the
    window of each case (the lowest id of them): one row per case with a follow-up due soon,
    read from the steps by due day (ix_case_steps_due_open_kind), for a count. A count capped
    at a ceiling then stops there, as many steps read as it counts, where collecting the cases
    of every follow-up of the window first to drop repeats hashed all of them (31,000 in a
    district of 1,000,000 cases: 22 ms against 6 for a count of "more than 500")."""
    return _first_of_its_case(
        lambda step: follow_ups_of_window(now, step, today), _EARLIER_FOLLOW_UP
    )


def due_today(now: datetime | None = None) -> ColumnElement[bool]:
    """Active cases not overdue with a step not done due today: the plain definition, which
    tests/unit/test_overdue_after.py holds the form the screens read against, on random
    histories (``first_step_due_today``: my work's list and the case list's filter)."""
    now = now or utcnow()
    return and_(
        Case.id.in_(
            select(CaseStep.case_id).where(
                CaseStep.due_on == local_today(now), CaseStep.done_on.is_(None)
            )
        ),
        Case.status.in_(ACTIVE),
        ~overdue_condition(now),
    )


def steps_due_today(now: datetime | None = None, today: date | None = None) -> tuple:
    """``due_today`` as conditions on CaseStep alone: its steps not done due today whose copies
    of the case's status and moment (step_copies, cases.clocks) say active and not overdue.
    Several rows per case where several of its steps are due today: a count takes each case
    once (DISTINCT case_id, in the order of ix_case_steps_due_open_case, from the index alone),
    where ``first_step_due_today`` looked up the case of every step and its earlier steps
    (7.3 against 1.2 ms for the 501 counted in a district of 1,000,000 cases)."""
    today = today or local_today(now or utcnow())
    return (
        CaseStep.due_on == today,
        CaseStep.done_on.is_(None),
        CaseStep.case_status.in_(ACTIVE),
        ~overdue_condition(now, CaseStep.case_overdue_after),
    )


def first_step_due_today(now: datetime | None = None, today: date | None = None) -> tuple:
    """``due_today`` as conditions on CaseStep joined to its case, keeping one step of each
    case (the lowest id of its steps not done due today): one row per case, read from the
    steps due today in the order of the days their cases were received
    (ix_case_steps_due_open_received, on the steps' copy of that day), so that a page of the
    case list newest first reads its fifty steps and stops, where finding the case of every
    step due today to sort them read 2,814 cases of a district of 1,000,000 (24 ms)."""
    today = today or local_today(now or utcnow())
    return (
        *_first_of_its_case(
            lambda step: (step.due_on == today, step.done_on.is_(None)), _EARLIER_DUE
        ),
        Case.status.in_(ACTIVE),
        ~overdue_condition(now),
    )
