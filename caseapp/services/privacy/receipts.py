"""Retention of self-report receipt codes: a code stops working ``retention_receipts`` (12
months) after its report is closed, by emptying the report's keyed hash of it (nothing else can
find the report by its code). Part of the retention run (`flask --app wsgi retention run`).

Closure: a report accepted as a case or merged into one closes with that case (the last
transition of the case to "closed", as a date in the users' time zone; the reporter follows the
case with the code until then); a report closed with a message, or marked as spam, on its own
``closed_on``. A report still waiting, or whose case is open again, keeps its code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import Session

from caseapp.clock import start_of_local_day
from caseapp.models import Case, CaseExclusion, Unit, User
from caseapp.models.selfreports import SelfReport
from caseapp.services.audit.trail import record
from caseapp.services.privacy import periods
from caseapp.services.privacy.retention import RECEIPTS as RULE
from caseapp.services.privacy.retention import (
    add_period,
    case_closures,
    closure_day,
    reason_of,
    sub_period,
)

# Statuses a report closes in by itself; "accepted" and "merged" close with their case.
CLOSED_ALONE = ("closed", "spam")


@dataclass(frozen=True)
class ReceiptDue:
    """The receipt code of one report, and the day it stops working."""

    report_id: int
    unit_code: str  # the school the report was sent to
    due_on: date


def due(
    session: Session,
    as_of: date,
    horizon_days: int = 0,
    units: Sequence[str] | None = None,
    viewer: User | None = None,
) -> list[ReceiptDue]:
    """The receipt codes still kept that stop working on or before ``as_of`` +
    ``horizon_days``. ``units``: unit paths to keep to (the school's; None: every unit);
    ``viewer``: leave out reports whose case they are excluded from. One query."""
    limit = as_of + timedelta(days=horizon_days)
    line = periods.get(session, RULE)
    amount, unit = line.amount, line.unit
    last_day = sub_period(limit, amount, unit) + timedelta(days=2)  # loose: checked below
    closures = case_closures()
    school = Unit
    stmt = (
        select(
            SelfReport.id,
            school.code,
            SelfReport.case_id,
            SelfReport.closed_on,
            closures.c.closed_at,
        )
        .join(school, school.id == SelfReport.school_id)
        .outerjoin(Case, Case.id == SelfReport.case_id)
        .outerjoin(closures, closures.c.case_id == SelfReport.case_id)
        .where(
            SelfReport.receipt_hash.is_not(None),
            or_(
                and_(
                    SelfReport.case_id.is_(None),
                    SelfReport.status.in_(CLOSED_ALONE),
                    SelfReport.closed_on < last_day,
                ),
                and_(
                    Case.status == "closed",
                    closures.c.closed_at < start_of_local_day(last_day),
                ),
            ),
        )
    )
    if units is not None:
        stmt = stmt.where(or_(*[school.path.startswith(p) for p in units]) if units else false())
    if viewer is not None:
        stmt = stmt.where(
            ~exists(
                select(CaseExclusion.id).where(
                    CaseExclusion.case_id == SelfReport.case_id,
                    CaseExclusion.user_id == viewer.id,
                )
            )
        )
    found = []
    for report_id, code, case_id, closed_on, case_closed_at in session.execute(stmt):
        closed = closure_day(case_closed_at) if case_id is not None else closed_on
        due_on = add_period(closed, amount, unit)
        if due_on <= limit:
            found.append(ReceiptDue(report_id, code, due_on))
    found.sort(key=lambda d: (d.due_on, d.report_id))
    return found


def due_soon(session: Session, user: User, days: int) -> list[ReceiptDue]:
    """The receipt codes that stop working in the next ``days`` days at the schools where
    ``user`` reads the privacy pages (the retention page)."""
    from caseapp.clock import local_today
    from caseapp.security.authz import scope_paths

    return due(session, local_today(), days, list(scope_paths(user, "privacy.read")), viewer=user)


def expire(session: Session, found: list[ReceiptDue]) -> int:
    """Empty the receipt hash of each report found (its row locked and read afresh; one
    already emptied is skipped, so a second run does nothing); one ``selfreport.receipt_expire``
    event per report, without the hash. Committed here, report by report. Returns how many."""
    expired = 0
    reason = reason_of(session, RULE)
    for item in found:
        report = session.scalar(
            select(SelfReport)
            .where(SelfReport.id == item.report_id, SelfReport.receipt_hash.is_not(None))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if report is None:
            continue
        report.receipt_hash = None
        record(
            session,
            None,
            "selfreport.receipt_expire",
            report,
            unit=report.school,
            object_ref=item.unit_code,
            # Never the hash itself: the trail would keep what the expiry removes.
            changes={"receipt_code": ["kept", "expired"]},
            reason=reason,
        )
        session.commit()
        expired += 1
    return expired
