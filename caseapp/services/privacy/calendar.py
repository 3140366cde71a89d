"""Working days: Monday to Friday, less the public holidays the admin keeps (Holiday rows,
preloaded with Tết and the national holidays)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.models import Holiday

# A deadline never lies further than this many calendar days per working day counted (the
# longest run of holidays, Tết, is well inside it).
_SPAN = 3


def holiday_days(session: Session, first: date, last: date) -> set[date]:
    return set(session.scalars(select(Holiday.day).where(Holiday.day.between(first, last))))


def is_working_day(day: date, holidays: set[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(session: Session, start: date, count: int) -> date:
    """The ``count``-th working day after ``start`` (the day of receipt does not count)."""
    holidays = holiday_days(session, start, start + timedelta(days=count * _SPAN + 30))
    day, left = start, count
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day, holidays):
            left -= 1
    return day


def working_days_between(session: Session, first: date, last: date) -> int:
    """Working days after ``first`` up to and including ``last`` (0 when last <= first)."""
    if last <= first:
        return 0
    holidays = holiday_days(session, first, last)
    return sum(
        1
        for n in range(1, (last - first).days + 1)
        if is_working_day(first + timedelta(days=n), holidays)
    )
