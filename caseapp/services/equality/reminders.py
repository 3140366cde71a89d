"""Reminders of the period reports: 14, 7 and 1 days before a period's due date (15/05 and
15/11), every open unit that reports and has not submitted is reminded, in the app and by
e-mail when mail is configured. The notice goes to the people who write the unit's report:
those whose focal-point or officer grant is at the unit itself (not the officers above a
school: they would get one per school). A missed day sends the latest reminder reached once,
never the earlier ones late; running again sends nothing (dedupe keys)."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from flask_babel import gettext as _
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from caseapp.clock import local_today
from caseapp.errors import ValidationFailed
from caseapp.models import Grant, Notification, ReportSnapshot, Unit, User
from caseapp.services.cases.notifications import add_notice
from caseapp.services.reports.periods import Period, period_by_key, periods_of

KIND = "report.due"
DAYS_BEFORE = (14, 7, 1)
WRITERS = ("focal_point", "officer")  # the roles that write a unit's report (work.write)


def reminder_days(period: Period, today: date) -> int | None:
    """The reminder (days before the due date) reached on ``today``: the latest reached while
    the due date is still ahead; None outside the last 14 days."""
    left = (period.due_on - today).days
    if left < 1:
        return None
    reached = [days for days in DAYS_BEFORE if left <= days]
    return min(reached) if reached else None


def _due_pairs(session: Session, period: Period) -> list[tuple[int, User]]:
    """(unit id, person) for every open unit that reports and has not submitted for
    ``period`` (schools, and offices with an open unit below them) and every person whose
    writing grant is at that unit. One query for the whole organisation."""
    child = aliased(Unit)
    has_children = exists(
        select(child.id).where(child.parent_id == Unit.id, child.valid_to.is_(None))
    )
    # An account that also administers does not act on its content grants (separation of
    # duties: authz.effective_grants): it is not the one to remind.
    admin_grant = aliased(Grant)
    administers = exists(
        select(admin_grant.id).where(
            admin_grant.user_id == User.id,
            admin_grant.role == "admin",
            admin_grant.revoked_at.is_(None),
        )
    )
    submitted = exists(
        select(ReportSnapshot.id).where(
            ReportSnapshot.unit_id == Unit.id, ReportSnapshot.period_key == period.key
        )
    )
    rows = session.execute(
        select(Unit.id, User)
        .join(Grant, Grant.unit_id == Unit.id)
        .join(User, User.id == Grant.user_id)
        .where(
            Unit.valid_to.is_(None),
            (Unit.kind == "school") | has_children,
            ~submitted,
            Grant.role.in_(WRITERS),
            Grant.revoked_at.is_(None),
            User.active.is_(True),
            ~administers,
        )
        .distinct()
        .order_by(Unit.id, User.id)
    )
    return [(unit_id, user) for unit_id, user in rows]


def notify_due_reports(session: Session, today: date | None = None) -> int:
    """Add the reminders due ``today``; returns how many notices were added."""
    today = today or local_today()
    created = 0
    for period in periods_of(today.year) + periods_of(today.year + 1):
        days = reminder_days(period, today)
        if days is None:
            continue
        prefix = f"{KIND}:{period.key}:{days}:"
        sent = set(
            session.scalars(
                select(Notification.dedupe_key).where(
                    Notification.kind == KIND,
                    Notification.dedupe_key.startswith(prefix, autoescape=True),
                )
            )
        )
        for unit_id, user in _due_pairs(session, period):
            if f"{prefix}{unit_id}:{user.id}" not in sent:  # add_notice checks again
                created += add_notice(session, user, None, KIND, f"{prefix}{unit_id}")
    return created


def _parsed(notice: Notification) -> tuple[Period, int] | None:
    """The period and unit id a reminder is about (from its key)."""
    parts = notice.dedupe_key.split(":")
    if notice.kind != KIND or len(parts) < 6:
        return None
    try:
        return period_by_key(f"{parts[1]}:{parts[2]}"), int(parts[4])
    except (ValueError, ValidationFailed):  # a period no longer configured: no title
        return None


def reminder_period(notice: Notification) -> Period | None:
    parsed = _parsed(notice)
    return parsed[0] if parsed else None


def reminder_text(period: Period) -> str:
    values = {
        "start": period.date_from.strftime("%d/%m/%Y"),
        "end": period.date_to.strftime("%d/%m/%Y"),
        "due": period.due_on.strftime("%d/%m/%Y"),
    }
    if period.kind == "six_month":
        return _(
            "The six-month report for the period %(start)s - %(end)s is due on %(due)s", **values
        )
    return _("The annual report for the period %(start)s - %(end)s is due on %(due)s", **values)


def reminder_of(session: Session, notice: Notification) -> tuple[str, str] | None:
    """What a reminder says in the list and the address of the report it is about."""
    parsed = _parsed(notice)
    if parsed is None:
        return None
    period, unit_id = parsed
    code = session.scalar(select(Unit.code).where(Unit.id == unit_id)) or ""
    return reminder_text(period), "/equality/?" + urlencode({"unit": code, "period": period.key})


def titles(session: Session, notices: list[Notification]) -> dict[int, str]:
    """What each reminder among ``notices`` says in the list, by notice id (from the key
    alone: no query)."""
    out = {}
    for notice in notices:
        period = reminder_period(notice) if notice.kind == KIND else None
        if period is not None:
            out[notice.id] = reminder_text(period)
    return out
