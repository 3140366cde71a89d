"""Where a self-report waits, who may see it, and who is told it arrived.

A report waits at its school, or at the office above the school when the reporter asked for it
or said a teacher or staff member did it (the school's own staff must not be the first to read
a report about one of them). It is visible to the holders of ``selfreport.handle`` at that
unit or above it (scope_filter), as cases are; a school's focal points never see a report
routed to the office above. Escalation (24 hours unopened, 12 when someone is in danger) hands
it to the unit above the one it waits at, which already sees it: escalation tells them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased

from caseapp.clock import local_today, start_of_local_day
from caseapp.db import utcnow
from caseapp.models import Grant, Unit, User
from caseapp.models.selfreports import SelfReport
from caseapp.security.authz import ROLE_PERMISSIONS, scope_filter
from caseapp.services.cases.access import administrators, people_covering
from caseapp.services.cases.notifications import add_notice

HANDLE = "selfreport.handle"
DANGER_HOURS = 12
UNSEEN_HOURS = 24
NOTICE_KIND = "self_report"
DANGER_NOTICE_KIND = "self_report_danger"
# Its own kind and key: an escalation is never swallowed by an arrival notice of the same day.
ESCALATED_NOTICE_KIND = "selfreport_escalated"  # notifications.kind is String(20)
MESSAGE_NOTICE_KIND = "self_report_message"
NOTICE_KINDS = (NOTICE_KIND, DANGER_NOTICE_KIND, ESCALATED_NOTICE_KIND, MESSAGE_NOTICE_KIND)


def route_for(school: Unit, who_did: str, asked_office: bool) -> tuple[Unit, str]:
    """The unit a new report waits at and why (models.selfreports.ROUTES)."""
    above = school.parent
    if above is not None and who_did == "teacher_staff":
        return above, "staff_named"
    if above is not None and asked_office:
        return above, "asked_office"
    return school, "school"


def due_at_receipt(danger: bool, now: datetime | None = None) -> datetime:
    """The clock of a new report: 12 hours when someone is in danger, else 24, from the
    receipt rounded up to the next whole hour.

    The trade-off: the clock needs the hour (escalation, the 12-hour danger clock a case
    inherits), but the minute and second of receipt would tell when the reporter wrote (the
    issue keeps no timing finer than the day). Rounding up keeps only the hour and gives the
    school up to one hour more, never less."""
    now = now or utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    if hour != now:
        hour += timedelta(hours=1)
    return hour + timedelta(hours=DANGER_HOURS if danger else UNSEEN_HOURS)


# Made once: a fresh aliased(Unit) per call re-derived its columns (SQLAlchemy's proxy_set
# unions) on every page, as the menu's count runs this on each one. An alias is a name in
# the statement, not state: every statement built here uses each of them once, and the
# compiled SQL (and its cache key) is the same as with fresh ones.
_ROUTED = aliased(Unit)
_ESCALATED = aliased(Unit)
_ROUTED_JOIN = SelfReport.routed_unit_id == _ROUTED.id
_ESCALATED_JOIN = SelfReport.escalated_unit_id == _ESCALATED.id


def visible_reports(user: User) -> Select:
    """A select() of the reports ``user`` may see: waiting (or escalated) at or below a unit
    where they hold selfreport.handle. Deny by default."""
    return (
        select(SelfReport)
        .join(_ROUTED, _ROUTED_JOIN)
        .outerjoin(_ESCALATED, _ESCALATED_JOIN)
        .where(
            or_(
                scope_filter(user, HANDLE, _ROUTED.path),
                scope_filter(user, HANDLE, _ESCALATED.path),
            )
        )
    )


def handlers_at(unit: Unit) -> Select:
    """A select() of the active users holding selfreport.handle at exactly ``unit`` (not
    administrators): the people told that a report arrived there."""
    roles = [role for role, held in ROLE_PERMISSIONS.items() if HANDLE in held]
    held = select(Grant.user_id).where(
        Grant.role.in_(roles), Grant.revoked_at.is_(None), Grant.unit_id == unit.id
    )
    return select(User).where(
        User.id.in_(held), User.active.is_(True), User.id.not_in(administrators())
    )


def notice_day() -> datetime:
    """The time a notice of something the reporter did shows: the start of the local day (a
    notice's minute would tell when the pupil pressed Send). For add_notice(created_at=...)."""
    return start_of_local_day(local_today())


def announce(
    session: Session, report: SelfReport, unit: Unit | None = None, escalated: bool = False
) -> int:
    """Tell the handlers at ``unit`` (default: where the report waits) that a report waits:
    one notice per person, unit, kind and day, however many reports arrive (a flood pages
    nobody twice). An escalation (a system action, its notice at its own time) has its own
    kind, keyed by the day of escalation; an arrival's notice shows the start of the day (its
    minute would tell when the pupil pressed Send). The notice names no report and nobody."""
    unit = unit or report.routed_unit
    if escalated:
        kind = ESCALATED_NOTICE_KIND
        key = f"{kind}:{unit.id}:{local_today().isoformat()}"
        created_at = None
    else:
        kind = DANGER_NOTICE_KIND if report.danger else NOTICE_KIND
        key = f"{kind}:{unit.id}:{report.received_on.isoformat()}"
        created_at = notice_day()
    return sum(
        add_notice(session, u, None, kind, key, created_at=created_at)
        for u in session.scalars(handlers_at(unit))
    )


def announce_message(session: Session, report: SelfReport) -> int:
    """Tell who handles ``report`` that its reporter wrote again: for a report that became (or
    joined) a case, the case's focal points and its handler, never anyone excluded from it;
    for a report still open, the handlers where it waits (and where it was escalated to).
    One notice per person, report and day, shown at the start of the day; it names no report,
    case or person."""
    kind = MESSAGE_NOTICE_KIND
    key = f"{kind}:{report.id}:{local_today().isoformat()}"
    when = notice_day()
    case = report.case
    if case is not None:
        people = {u.id: u for u in session.scalars(people_covering(case, ("focal_point",)))}
        handler = case.assigned_to_id
        if handler is not None and handler not in people:
            found = session.scalar(
                people_covering(case, ("focal_point", "officer")).where(User.id == handler)
            )
            if found is not None:
                people[found.id] = found
        return sum(
            add_notice(session, u, case, kind, key, created_at=when) for u in people.values()
        )
    units = [report.routed_unit, *([report.escalated_unit] if report.escalated_unit else [])]
    people = {u.id: u for unit in units for u in session.scalars(handlers_at(unit))}
    return sum(add_notice(session, u, None, kind, key, created_at=when) for u in people.values())
