"""The data-protection settings the admin keeps: the holiday calendar (Tết and the national
holidays preloaded; the compensatory days off the government announces each year added here)
and the periods the law sets, each with its article. Both are the whole service's: only an
administrator granted at a top-level unit (a unit with no parent: the ministry, or a province
where the deployment has no ministry) changes them (any other is refused as outside their
scope); whoever holds privacy.read reads them. Every change is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import extract, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.db import utcnow
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import Holiday, LegalPeriod, Unit
from caseapp.security.authz import covers
from caseapp.security.text import refused_characters
from caseapp.services.audit.trail import record
from caseapp.services.privacy import periods

if TYPE_CHECKING:
    from caseapp.models import User

SETTINGS = "privacy.settings"
DAY_FORMAT = "%d/%m/%Y"
HOLIDAY_NAME_MAX = 120
BASIS_MAX = 1000
YEARS_AROUND = 1  # the year selector offers this many years either side of the ones kept
# The sane bounds of an amount, by unit (a typo of 720 for 72 hours is caught; a lawyer can
# still lengthen or shorten any period well beyond what the law sets today).
AMOUNT_BOUNDS = {
    "working_days": (1, 120),
    "calendar_days": (1, 365),
    "calendar_hours": (1, 720),
    "months": (1, 240),
    "years": (1, 100),
}


def may_change(session: Session, user: User) -> bool:
    """Whether ``user`` changes the settings: privacy.settings over a top-level unit (the
    periods are the law's and the holidays the nation's: the same for every unit)."""
    roots = session.scalars(select(Unit).where(Unit.parent_id.is_(None)))
    return any(covers(user, SETTINGS, u) for u in roots)


def _require(session: Session, user: User) -> None:
    if not may_change(session, user):
        raise NotFound()


# Holidays -----------------------------------------------------------------------------------


def holidays_of(session: Session, year: int) -> list[Holiday]:
    return list(
        session.scalars(
            select(Holiday).where(extract("year", Holiday.day) == year).order_by(Holiday.day)
        )
    )


def years_offered(session: Session) -> list[int]:
    """The years the selector offers: those with holidays kept, this year, and one either side."""
    first, last = session.execute(select(func.min(Holiday.day), func.max(Holiday.day))).one()
    this_year = local_today().year
    low = min(first.year if first else this_year, this_year) - YEARS_AROUND
    high = max(last.year if last else this_year, this_year) + YEARS_AROUND
    return list(range(low, high + 1))


def chosen_year(raw: str | None) -> int:
    """The year asked for in the query string; this year when absent or not a year."""
    value = (raw or "").strip()
    if value.isascii() and value.isdigit() and 1945 <= int(value) <= 2200:
        return int(value)
    return local_today().year


def parse_day(raw: str) -> date:
    value = (raw or "").strip()
    try:
        day = datetime.strptime(value, DAY_FORMAT).date()
    except ValueError:
        raise ValidationFailed(_("Enter the day as dd/mm/yyyy, for example 02/09/2027.")) from None
    if not 1945 <= day.year <= 2200:
        raise ValidationFailed(_("Enter the day as dd/mm/yyyy, for example 02/09/2027."))
    return day


def year_of(raw: str) -> int:
    """The year of the day typed, to show its list beside a refusal; this year when the day
    cannot be read."""
    try:
        return parse_day(raw).year
    except ValidationFailed:
        return chosen_year(None)


def _name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise ValidationFailed(_("Give the holiday a name."))
    if len(name) > HOLIDAY_NAME_MAX:
        raise ValidationFailed(
            _("The name of a holiday takes at most %(n)d characters.", n=HOLIDAY_NAME_MAX)
        )
    if refused_characters(name):
        raise ValidationFailed(_("The name holds characters that are not allowed."))
    return name


def add_holiday(session: Session, actor: User, raw_day: str, raw_name: str) -> Holiday:
    """Add a day off (refused when the day is already one)."""
    _require(session, actor)
    day = parse_day(raw_day)
    name = _name(raw_name)
    existing = session.scalar(select(Holiday).where(Holiday.day == day))
    if existing is not None:
        raise _already(day, existing.name)
    holiday = Holiday(day=day, name=name, created_by_id=actor.id)
    try:
        with session.begin_nested():  # another admin adding the same day at the same moment
            session.add(holiday)
            record(
                session,
                actor,
                "holiday.add",
                holiday,
                changes={"day": day.isoformat(), "name": name},
                object_ref=day.isoformat(),
            )
    except IntegrityError:
        raise _already(day, "") from None
    return holiday


def _already(day: date, name: str) -> ValidationFailed:
    return ValidationFailed(
        _(
            "%(day)s is already a holiday (%(name)s). Nothing was added.",
            day=day.strftime(DAY_FORMAT),
            name=name or "—",
        )
    )


def remove_holiday(session: Session, actor: User, raw_day: str) -> date:
    """Remove the day off ``raw_day`` (ISO yyyy-mm-dd, as the page's button sends it)."""
    _require(session, actor)
    try:
        day = date.fromisoformat((raw_day or "").strip())
    except ValueError:
        raise NotFound() from None
    holiday = session.scalar(select(Holiday).where(Holiday.day == day))
    if holiday is None:
        raise NotFound()
    record(
        session,
        actor,
        "holiday.remove",
        holiday,
        changes={"day": [day.isoformat(), None], "name": [holiday.name, None]},
        object_ref=day.isoformat(),
    )
    session.delete(holiday)
    session.flush()
    return day


# Legal periods ------------------------------------------------------------------------------


@dataclass
class PeriodChange:
    key: str
    amount: str
    basis: str
    version: str


def bounds(unit: str) -> tuple[int, int]:
    return AMOUNT_BOUNDS.get(unit, (1, 1000))


def _amount(raw: str, unit: str) -> int:
    low, high = bounds(unit)
    value = (raw or "").strip()
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise ValidationFailed(
            _("The amount is a whole number from %(low)d to %(high)d.", low=low, high=high)
        )
    return int(value)


def _basis(raw: str) -> str:
    basis = (raw or "").replace("\r\n", "\n").strip()
    if not basis:
        raise ValidationFailed(_("Write the legal basis (the law and article) beside the period."))
    if len(basis) > BASIS_MAX:
        raise ValidationFailed(_("The legal basis takes at most %(n)d characters.", n=BASIS_MAX))
    if refused_characters(basis):
        raise ValidationFailed(_("The legal basis holds characters that are not allowed."))
    return basis


def _period_row(session: Session, key: str) -> LegalPeriod:
    if key not in periods.BY_KEY:
        raise NotFound()
    row = session.get(LegalPeriod, key)
    if row is None:  # a database older than the key: the line starts from its default
        row = periods.get(session, key)
        session.add(row)
    return row


def update_period(session: Session, actor: User, change: PeriodChange) -> LegalPeriod:
    """Set a period's amount and legal basis; refused on a stale version (409)."""
    _require(session, actor)
    row = _period_row(session, change.key)
    if not change.version.isascii() or not change.version.isdigit():
        raise ValidationFailed(_("The form is incomplete. Reload the page."))
    if (row.version or 1) != int(change.version):
        raise Conflict(
            _(
                "Someone changed this period while you were editing. The values now in force "
                "are shown; enter your change again if it is still needed."
            ),
            key=change.key,
        )
    amount = _amount(change.amount, row.unit)
    basis = _basis(change.basis)
    changes: dict = {"key": row.key}
    if amount != row.amount:
        changes["amount"] = [row.amount, amount]
    if basis != row.basis:
        changes["basis"] = "changed"
    if len(changes) == 1:
        return row
    row.amount = amount
    row.basis = basis
    row.updated_by_id = actor.id
    row.updated_at = utcnow()
    record(session, actor, "period.update", row, changes=changes, object_ref=row.key)
    return row
