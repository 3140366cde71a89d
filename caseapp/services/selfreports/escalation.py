"""Escalation of self-reports nobody opened in time: past its clock (24 hours from receipt, 12
when someone is in danger) a new report is handed to the unit above the one it waits at, whose
handlers are told (one notice per person, unit, kind and day). Run by the periodic job
(``notify send-due``) and by ``flask selfreports escalate``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import Unit
from caseapp.models.selfreports import SelfReport
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.selfreports import routing


def overdue_unseen(now: datetime):
    """A select() of the new reports past their clock, not escalated yet, that have a unit
    above the one they wait at."""
    return (
        select(SelfReport)
        .join(Unit, Unit.id == SelfReport.routed_unit_id)
        .where(
            SelfReport.status == "new",
            SelfReport.due_at.is_not(None),
            SelfReport.due_at < now,
            SelfReport.escalated_unit_id.is_(None),
            Unit.parent_id.is_not(None),
        )
        .order_by(SelfReport.id)
    )


def escalate_unseen(session: Session, now: datetime | None = None) -> tuple[int, int]:
    """Escalate every report nobody opened in time (audited, by the system) and tell the
    handlers above; returns (reports escalated, notices added). Running it again changes
    nothing."""
    now = now or utcnow()
    escalated = notices = 0
    for report in session.scalars(overdue_unseen(now)).all():
        above = report.routed_unit.parent
        if above is None:
            continue
        report.escalated_unit_id = above.id
        record(
            session,
            None,
            "selfreport.escalated",
            report,
            unit=report.routed_unit,
            changes=changes_of(report),
        )
        escalated += 1
        notices += routing.announce(session, report, unit=above, escalated=True)
    return escalated, notices
