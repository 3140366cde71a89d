"""Where a self-report waits, who may see it, and who is told it arrived.

A report waits at its school, or at the office above the school when the reporter asked for it
or said a teacher or staff member did it (the school's own staff must not be the first to read
a report about one of them). It is visible to the holders of ``selfreport.handle`` at that
unit or above it (scope_filter), as cases are; a school's focal points never see a report
routed to the office above. Escalation (24 hours unopened, 12 when someone is in danger) hands
it to the unit above the one it waits at, which already sees it: escalation tells them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased

from caseapp.clock import local_today, start_of_local_day
from caseapp.db import utcnow
from caseapp.models import Grant, Unit, User
from caseapp.models.selfreports import SelfReport
from caseapp.security.authz import ROLE_PERMISSIONS, scope_filter
from caseapp.services.cases.access import administrators
from caseapp.services.cases.notifications import add_notice

HANDLE = "selfreport.handle"
DANGER_HOURS = 12
UNSEEN_HOURS = 24
NOTICE_KIND = "self_report"
DANGER_NOTICE_KIND = "self_report_danger"


def route_for(school: Unit, who_did: str, asked_office: bool) -> tuple[Unit, str]:
    """The unit a new report waits at and why (models.selfreports.ROUTES)."""
    above = school.parent
    if above is not None and who_did == "teacher_staff":
        return above, "staff_named"
    if above is not None and asked_office:
        return above, "asked_office"
    return school, "school"


def due_at_receipt(danger: bool):
    """The clock of a new report: 12 hours when someone is in danger, else 24."""
    return utcnow() + timedelta(hours=DANGER_HOURS if danger else UNSEEN_HOURS)


def visible_reports(user: User) -> Select:
    """A select() of the reports ``user`` may see: waiting (or escalated) at or below a unit
    where they hold selfreport.handle. Deny by default."""
    routed = aliased(Unit)
    escalated = aliased(Unit)
    return (
        select(SelfReport)
        .join(routed, SelfReport.routed_unit_id == routed.id)
        .outerjoin(escalated, SelfReport.escalated_unit_id == escalated.id)
        .where(
            or_(
                scope_filter(user, HANDLE, routed.path),
                scope_filter(user, HANDLE, escalated.path),
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
    session: Session,
    report: SelfReport,
    unit: Unit | None = None,
    *,
    kind: str | None = None,
    day_only: bool = True,
    on: date | None = None,
) -> int:
    """Tell the handlers at ``unit`` (default: where the report waits) that a report waits:
    one notice per person, unit, kind and day, however many reports arrive (a flood pages
    nobody twice). The notice names no report and nobody. ``kind`` defaults to NOTICE_KIND
    (DANGER_NOTICE_KIND when someone is in danger). With ``day_only`` (the default: use it
    for everything the reporter does, a new report or a new message) the notice's time is the
    start of the local day; a staff or system action (escalation) may pass day_only=False.
    ``on``: the day the deduplication names (default: the report's day of receipt; a notice of
    a reporter's message passes the message's day, so each day's messages page once)."""
    unit = unit or report.routed_unit
    kind = kind or (DANGER_NOTICE_KIND if report.danger else NOTICE_KIND)
    key = f"{kind}:{unit.id}:{(on or report.received_on).isoformat()}"
    created_at = notice_day() if day_only else None
    return sum(
        add_notice(session, u, None, kind, key, created_at=created_at)
        for u in session.scalars(handlers_at(unit))
    )
