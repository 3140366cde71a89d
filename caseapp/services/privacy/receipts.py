"""Retention of self-report receipt codes: a code stops working ``retention_receipts`` (12
months) after its report is closed, by emptying the report's keyed hash of it (nothing else can
find the report by its code). Part of the retention run (`flask --app wsgi retention run`).

Closure: a report accepted as a case or merged into one closes with that case (the last
transition of the case to "closed", as a date in the users' time zone; the reporter follows the
case with the code until then); a report closed with a message, or marked as spam, on its own
``closed_on``. A report still waiting, or whose case is open again, keeps its code.

A report closed on its own also loses its content then: its key is destroyed (its details,
the reporter's name and contact, its messages become unreadable) and its photo files are
removed, in the same event (``selfreport.destroy_content``, without content). A report that
became part of a case follows the case: its key goes when the case's content is destroyed
(cases.intake.destroy_content)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import Session

from caseapp.clock import start_of_local_day
from caseapp.models import Case, CaseExclusion, Unit, User
from caseapp.models.selfreports import SelfReport, SelfReportPhoto
from caseapp.runtime import settings
from caseapp.services.audit.trail import record
from caseapp.services.privacy import periods
from caseapp.services.privacy.retention import RECEIPTS as RULE
from caseapp.services.privacy.retention import (
    add_period,
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
    code: bool = True  # its receipt code is still kept
    content: bool = False  # closed on its own, its key still kept: its content goes too


@dataclass(frozen=True)
class Expired:
    """What a run did: receipt codes expired, reports whose content was destroyed, photo
    files removed."""

    codes: int = 0
    contents: int = 0
    files: int = 0


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
    school = Unit
    closed_alone = and_(
        SelfReport.case_id.is_(None),
        SelfReport.status.in_(CLOSED_ALONE),
        SelfReport.closed_on < last_day,
    )
    closed_with_case = and_(
        Case.status == "closed",
        Case.closed_at < start_of_local_day(last_day),
    )
    stmt = (
        select(
            SelfReport.id,
            school.code,
            SelfReport.case_id,
            SelfReport.closed_on,
            Case.closed_at,
            SelfReport.receipt_hash.is_not(None),
            and_(closed_alone, SelfReport.wrapped_key.is_not(None)),
        )
        .join(school, school.id == SelfReport.school_id)
        .outerjoin(Case, Case.id == SelfReport.case_id)
        .where(
            or_(
                and_(SelfReport.receipt_hash.is_not(None), or_(closed_alone, closed_with_case)),
                and_(closed_alone, SelfReport.wrapped_key.is_not(None)),
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
    for report_id, code, case_id, closed_on, case_closed_at, kept, content in session.execute(stmt):
        # Both are set where the statement matched: a report of a case by its case's closure,
        # one closed on its own by its own day.
        if case_id is not None and case_closed_at is not None:
            closed = closure_day(case_closed_at)
        elif case_id is None and closed_on is not None:
            closed = closed_on
        else:
            continue
        due_on = add_period(closed, amount, unit)
        if due_on <= limit:
            found.append(ReceiptDue(report_id, code, due_on, bool(kept), bool(content)))
    found.sort(key=lambda d: (d.due_on, d.report_id))
    return found


def due_soon(session: Session, user: User, days: int) -> list[ReceiptDue]:
    """The receipt codes that stop working in the next ``days`` days at the schools where
    ``user`` reads the privacy pages (the retention page)."""
    from caseapp.clock import local_today
    from caseapp.security.authz import scope_paths

    found = due(session, local_today(), days, list(scope_paths(user, "privacy.read")), viewer=user)
    return [d for d in found if d.code]


def expire(session: Session, found: list[ReceiptDue]) -> Expired:
    """Empty the receipt hash of each report found and, for a report closed on its own,
    destroy its key (its row locked and read afresh; what is already gone is skipped, so a
    second run does nothing): one event per report, without the hash or any content
    (``selfreport.destroy_content`` when the content went, else ``selfreport.receipt_expire``).
    Committed here, report by report; the photo files are removed once committed."""
    codes = contents = files = 0
    reason = reason_of(session, RULE)
    for item in found:
        report = session.scalar(
            select(SelfReport)
            .where(SelfReport.id == item.report_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if report is None:
            continue
        changes: dict = {}
        if report.receipt_hash is not None:
            # Never the hash itself: the trail would keep what the expiry removes.
            report.receipt_hash = None
            changes["receipt_code"] = ["kept", "expired"]
        destroy = (
            report.case_id is None
            and report.status in CLOSED_ALONE
            and report.wrapped_key is not None
        )
        photos: list[str] = []
        if destroy:
            report.wrapped_key = None
            photos = list(
                session.scalars(
                    select(SelfReportPhoto.storage_name).where(
                        SelfReportPhoto.report_id == report.id
                    )
                )
            )
            changes["content"] = ["kept", "destroyed"]
            changes["photos"] = len(photos)
        if not changes:
            continue
        record(
            session,
            None,
            "selfreport.destroy_content" if destroy else "selfreport.receipt_expire",
            report,
            unit=report.school,
            object_ref=item.unit_code,
            changes=changes,
            reason=reason,
        )
        session.commit()
        codes += "receipt_code" in changes
        contents += destroy
        files += _remove(photos)
    return Expired(codes, contents, files)


def _remove(names: list[str]) -> int:
    """Remove the sealed photo files named (unreadable without the key); how many were there."""
    removed = 0
    for name in names:
        path = settings().attachment_dir / name
        if path.exists():
            path.unlink()
            removed += 1
    return removed
