"""Clocks and overdue, computed in SQL from due dates (never stored as a flag), with "today"
taken in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select

from caseapp.clock import local_today
from caseapp.db import utcnow
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


def overdue_condition(now: datetime | None = None) -> ColumnElement[bool]:
    return or_(*overdue_parts(now).values())


def overdue_reasons(session, case: Case, now: datetime | None = None) -> list[str]:
    """The names of the clocks this case has run past (one small query per clock)."""
    parts = overdue_parts(now)
    return [
        name
        for name, cond in parts.items()
        if session.scalar(select(Case.id).where(Case.id == case.id, cond)) is not None
    ]


def due_today_condition(now: datetime | None = None):
    today = local_today(now or utcnow())
    return and_(
        Case.status.in_(ACTIVE), _step(CaseStep.done_on.is_(None), CaseStep.due_on == today)
    )
