"""The calendar the users live in: "today" is the date in Asia/Ho_Chi_Minh, not on the server."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from caseapp.db import utcnow
from caseapp.errors import ValidationFailed

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"
# No date the service deals in (a unit's opening, a report's period) is older than this.
EARLIEST_DATE = date(1945, 1, 1)


def zone() -> ZoneInfo:
    try:
        from flask import current_app

        return ZoneInfo(current_app.extensions["caseapp.settings"].timezone)
    except (RuntimeError, KeyError):
        return ZoneInfo(DEFAULT_ZONE)


def local_today(now: datetime | None = None) -> date:
    """Today's date where the users are (Vietnam is UTC+7: at 17:00 UTC the day changes)."""
    return (now or utcnow()).astimezone(zone()).date()


def date_bounds() -> tuple[date, date]:
    """The first and last dates a person may give for a unit or a report: from 1945 to a year
    from today (what lies outside is a typing mistake, and 9999-12-31 overflows date sums)."""
    today = local_today()
    try:
        last = today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        last = today.replace(year=today.year + 1, day=28)
    return EARLIEST_DATE, last


def check_within_bounds(*days: date) -> None:
    """Refuse a date outside date_bounds(), saying which dates are accepted."""
    first, last = date_bounds()
    if any(not first <= day <= last for day in days):
        raise ValidationFailed(
            _(
                "The date must fall between %(first)s and %(last)s.",
                first=first.strftime("%d/%m/%Y"),
                last=last.strftime("%d/%m/%Y"),
            )
        )


def start_of_local_day(day: date) -> datetime:
    """The UTC instant at which ``day`` begins in the users' time zone."""
    return datetime.combine(day, time.min, tzinfo=zone()).astimezone(UTC)


def add_working_days(day: date, count: int) -> date:
    """``count`` working days (Monday to Friday) after ``day``."""
    current = day
    while count > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            count -= 1
    return current
