"""The calendar the users live in: "today" is the date in Asia/Ho_Chi_Minh, not on the server."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from caseapp.db import utcnow

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"


def zone() -> ZoneInfo:
    try:
        from flask import current_app

        return ZoneInfo(current_app.extensions["caseapp.settings"].timezone)
    except (RuntimeError, KeyError):
        return ZoneInfo(DEFAULT_ZONE)


def local_today(now: datetime | None = None) -> date:
    """Today's date where the users are (Vietnam is UTC+7: at 17:00 UTC the day changes)."""
    return (now or utcnow()).astimezone(zone()).date()


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
