"""The school side's list of self-reports: which reports a person may see, the open ones waiting
(someone in danger first, then the oldest), the ones decided lately, and the counts the menu,
the home page and "My work" show.

A report is seen where it waits (routing.visible_reports); once it is accepted or merged into
a case, only by those of them who may also see that case (an excluded person never)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from caseapp.db import utcnow
from caseapp.errors import NotFound
from caseapp.models import Unit, User
from caseapp.models.selfreports import OPEN_REPORT_STATUSES, SelfReport
from caseapp.runtime import settings
from caseapp.services.cases.access import visible_case
from caseapp.services.selfreports import routing

DECIDED_DAYS = 90


def visible(user: User) -> Select:
    """A select() of the reports ``user`` may see: where an unlinked report waits (or was
    escalated to), or the case a linked report became part of. Deny by default."""
    return routing.visible_reports(user).where(
        or_(SelfReport.case_id.is_(None), visible_case(user, SelfReport.case_id))
    )


def get_report(session: Session, user: User, uid: str) -> SelfReport:
    """The report, if ``user`` may see it; otherwise NotFound (existence does not leak)."""
    if not isinstance(uid, str) or len(uid) != 36:
        raise NotFound()
    report = session.scalar(visible(user).where(SelfReport.uid == uid))
    if report is None:
        raise NotFound()
    return report


@dataclass
class InboxPage:
    """One page of a list of reports, with where it is in the whole."""

    rows: list[SelfReport]
    page: int
    pages: int
    total: int


def _page(session: Session, stmt: Select, page: int, size: int | None = None) -> InboxPage:
    size = size or settings().page_size
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, (total + size - 1) // size)
    page = min(max(1, page), pages)
    rows = list(
        session.scalars(
            stmt.options(selectinload(SelfReport.school), selectinload(SelfReport.routed_unit))
            .limit(size)
            .offset((page - 1) * size)
        ).unique()
    )
    return InboxPage(rows, page, pages, total)


def open_reports(user: User) -> Select:
    """The open reports (new or seen) ``user`` may see: someone in danger first, then the
    oldest (the one waiting longest)."""
    return (
        visible(user)
        .where(SelfReport.status.in_(OPEN_REPORT_STATUSES))
        .order_by(SelfReport.danger.desc(), SelfReport.received_on, SelfReport.id)
    )


def inbox(session: Session, user: User, page: int = 1) -> InboxPage:
    """One page of the open reports ``user`` may see (danger first, then oldest)."""
    return _page(session, open_reports(user), page)


def decided(session: Session, user: User, page: int = 1) -> InboxPage:
    """One page of the reports decided in the last 90 days that ``user`` may still see, the
    latest first."""
    since = utcnow() - timedelta(days=DECIDED_DAYS)
    stmt = (
        visible(user)
        .where(SelfReport.status.not_in(OPEN_REPORT_STATUSES), SelfReport.decided_at >= since)
        .order_by(SelfReport.decided_at.desc(), SelfReport.id.desc())
    )
    return _page(session, stmt, page)


@dataclass
class Waiting:
    """How many open reports wait for a person: all of them, unopened, someone in danger."""

    total: int = 0
    new: int = 0
    danger: int = 0


def waiting_query(user: User) -> Select:
    """One row, (total, new, danger): the counts of the open reports ``user`` may see."""
    return (
        open_reports(user)
        .order_by(None)
        .with_only_columns(
            func.count(SelfReport.id).label("total"),
            func.count(SelfReport.id).filter(SelfReport.status == "new").label("new"),
            func.count(SelfReport.id).filter(SelfReport.danger.is_(True)).label("danger"),
        )
    )


def waiting_from(row) -> Waiting:
    """Waiting from the (total, new, danger) row of waiting_query."""
    return Waiting(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))


def waiting(session: Session, user: User) -> Waiting:
    """The counts of the open reports ``user`` may see, in one aggregate query."""
    return waiting_from(session.execute(waiting_query(user)).one())


def spam_counts(session: Session, since: date, units: list[Unit]) -> dict[int, int]:
    """Reports marked as spam since ``since``, per unit of ``units`` (each counting the reports
    of the schools at or below it): what the statistics read."""
    counts: dict[int, int] = {}
    for unit in units:
        counts[unit.id] = (
            session.scalar(
                select(func.count(SelfReport.id))
                .join(Unit, Unit.id == SelfReport.school_id)
                .where(
                    SelfReport.status == "spam",
                    SelfReport.closed_on >= since,
                    Unit.path.startswith(unit.path),
                )
            )
            or 0
        )
    return counts
