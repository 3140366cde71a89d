"""A unit's statistics by sex for a report period: checked (every figure there, totals add
up, no negative), confirmed when a figure moved more than 30 % from the period before, frozen
once the unit's report for the period is submitted, and compiled for an office from the
schools that rolled up to it during the period."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import ReportSnapshot, Unit
from caseapp.models.equality import UnitStatistics
from caseapp.security.authz import covers
from caseapp.services.audit.trail import record
from caseapp.services.equality import figures as catalog
from caseapp.services.org.history import paths_during
from caseapp.services.org.units import lock_unit
from caseapp.services.reports import periods

if TYPE_CHECKING:
    from caseapp.models import User
    from caseapp.services.equality.work import WorkReport
    from caseapp.services.reports.periods import Period

SOURCES = ("form", "import")
# A figure changed by more than this share of the period before's asks for confirmation; a
# figure that was 0 asks when it becomes at least ZERO_JUMP (a handful more is no surprise).
SHARE = 0.30
ZERO_JUMP = 10

Figures = Mapping[str, int | str | None]


@dataclass(frozen=True)
class Problem:
    """What is wrong with one figure (``key``), said so the person can fix it."""

    key: str
    message: str


class NeedsConfirmation(ValidationFailed):
    """The figures are sound but some moved more than 30 % from the period before: saved only
    once the person confirms each of them (details: ``keys``, ``previous``)."""


# Reading and checking ----------------------------------------------------------------------


def statistics_of(session: Session, unit: Unit, period_key: str) -> UnitStatistics | None:
    return session.scalar(
        select(UnitStatistics).where(
            UnitStatistics.unit_id == unit.id, UnitStatistics.period_key == period_key
        )
    )


def figures(row: UnitStatistics | None) -> dict[str, int]:
    if row is None:
        return {}
    data = json.loads(row.figures or "{}")
    return {k: int(v) for k, v in data.items() if isinstance(v, int)}


def previous_period(period: Period) -> Period | None:
    """The configured period that ended last before ``period`` ends."""
    year = period.date_to.year
    earlier = [
        p
        for y in (year, year - 1, year - 2)
        for p in periods.periods_of(y)
        if p.date_to < period.date_to
    ]
    return max(earlier, key=lambda p: p.date_to, default=None)


def label(key: str) -> str:
    """The row and sex of a figure key, as a person reads them: "Teachers (female)"."""
    names = catalog.row_names()
    if key == "women_leaders":
        return names[key]
    row, _sep, sex = key.rpartition("_")
    return _(
        "%(row)s (%(sex)s)",
        row=names.get(row, row),
        sex=catalog.sex_names().get(sex, sex).lower(),
    )


def _number(value: int | str | None) -> int | str | None:
    """A figure as given: an int, None when empty, the text when it is not a whole number."""
    if value is None or isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return None
    digits = text[1:] if text.startswith("-") else text
    if digits.isascii() and digits.isdigit() and len(digits) <= 9:
        return int(text)
    return text


def check(level: str | None, given: Figures) -> list[Problem]:
    """Every problem of the figures of a unit of ``level``: each figure present, a whole
    number from 0 to FIGURE_MAX; the totals add up; no part larger than its whole. Dropouts
    left during the period and are not in the pupils in all: they have no bound but
    FIGURE_MAX."""
    problems: list[Problem] = []
    values: dict[str, int] = {}
    for key in catalog.keys_for(level):
        value = _number(given.get(key))
        if value is None:
            problems.append(
                Problem(key, _("%(what)s: enter a number (0 if none).", what=label(key)))
            )
        elif isinstance(value, str):
            problems.append(Problem(key, _("%(what)s must be a whole number.", what=label(key))))
        elif value < 0:
            problems.append(Problem(key, _("%(what)s cannot be negative.", what=label(key))))
        elif value > catalog.FIGURE_MAX:
            problems.append(
                Problem(
                    key, _("%(what)s is more than %(n)d.", what=label(key), n=catalog.FIGURE_MAX)
                )
            )
        else:
            values[key] = value
    grades = catalog.grades_for(level)
    for sex in catalog.SEXES:
        problems += _sum_problems(values, sex, grades)
    leaders, staff = values.get("women_leaders"), values.get("staff_total_female")
    if leaders is not None and staff is not None and leaders > staff:
        problems.append(
            Problem(
                "women_leaders",
                _(
                    "Women in leadership positions is %(n)d, more than the female staff in all "
                    "(%(total)d).",
                    n=leaders,
                    total=staff,
                ),
            )
        )
    return problems


def _sum_problems(values: dict[str, int], sex: str, grades: tuple[str, ...]) -> list[Problem]:
    found: list[Problem] = []
    staff_parts = [values.get(f"{row}_{sex}") for row in catalog.STAFF_ROWS]
    staff = values.get(f"staff_total_{sex}")
    if staff is not None and None not in staff_parts:
        parts = sum(p for p in staff_parts if p is not None)
        if parts != staff:
            key = f"staff_total_{sex}"
            found.append(
                Problem(
                    key,
                    _(
                        "%(what)s is %(n)d but teachers, managers and employees add up to %(sum)d.",
                        what=label(key),
                        n=staff,
                        sum=parts,
                    ),
                )
            )
    grade_parts = [values.get(f"{g}_{sex}") for g in grades]
    pupils = values.get(f"pupils_total_{sex}")
    if pupils is not None and None not in grade_parts:
        parts = sum(p for p in grade_parts if p is not None)
        if parts != pupils:
            key = f"pupils_total_{sex}"
            found.append(
                Problem(
                    key,
                    _(
                        "%(what)s is %(n)d but the grades add up to %(sum)d.",
                        what=label(key),
                        n=pupils,
                        sum=parts,
                    ),
                )
            )
    for row, whole, message in (
        ("party_members", staff, _("%(what)s is %(n)d, more than the staff in all (%(total)d).")),
        ("reached", pupils, _("%(what)s is %(n)d, more than the pupils in all (%(total)d).")),
    ):
        key = f"{row}_{sex}"
        part = values.get(key)
        if part is not None and whole is not None and part > whole:
            found.append(Problem(key, message % {"what": label(key), "n": part, "total": whole}))
    return found


def changes_over(
    previous: Mapping[str, int], given: Mapping[str, int], share: float = SHARE
) -> list[str]:
    """The figures that moved more than ``share`` from the period before's: only where the
    period before has the figure; from 0, when the new figure is ZERO_JUMP or more."""
    moved = []
    for key, new in given.items():
        old = previous.get(key)
        if old is None or new is None:
            continue
        if (old > 0 and abs(new - old) > share * old) or (old == 0 and new >= ZERO_JUMP):
            moved.append(key)
    return moved


def previous_figures(session: Session, unit: Unit, period: Period) -> dict[str, int]:
    """The unit's own figures of the period before ``period`` ({} when none)."""
    before = previous_period(period)
    return figures(statistics_of(session, unit, before.key)) if before is not None else {}


# Saving ------------------------------------------------------------------------------------


def save(
    session: Session,
    actor: User,
    unit: Unit,
    period: Period,
    given: Figures,
    confirmed: Collection[str],
    version: int,
    source: str = "form",
) -> UnitStatistics:
    """Store the unit's figures for the period (version 0: there are none yet)."""
    if not covers(actor, "work.write", unit):
        raise NotFound()
    if source not in SOURCES:
        raise ValidationFailed(_("The form is incomplete. Reload the page."))
    # A save and a submission of the unit are decided one at a time: a save that waited for a
    # submission finds its snapshot below and is refused (the frozen figures stay the live ones).
    lock_unit(session, unit)
    if periods.submitted_snapshot(session, unit, period) is not None:
        raise Conflict(
            _("The report of this period was submitted: its statistics can no longer be changed.")
        )
    row = statistics_of(session, unit, period.key)
    if (row.version if row is not None else 0) != version:
        raise Conflict(
            _(
                "These statistics were changed by someone else meanwhile. Reload the page and "
                "enter your changes again."
            )
        )
    problems = check(unit.level, given)
    if problems:
        raise ValidationFailed(
            _("The statistics were not saved: correct the figures marked below."),
            problems=problems,
        )
    values = {key: int(_number(given[key]) or 0) for key in catalog.keys_for(unit.level)}
    previous = previous_figures(session, unit, period)
    moved = changes_over(previous, values)
    if any(key not in confirmed for key in moved):
        raise NeedsConfirmation(
            _(
                "Some figures changed by more than %(share)d %% from the period before: "
                "confirm them and save again.",
                share=round(SHARE * 100),
            ),
            keys=moved,
            previous=previous,
        )
    before = figures(row)
    if row is None:
        row = UnitStatistics(unit_id=unit.id, period_key=period.key)
        session.add(row)
    row.figures = json.dumps(values, sort_keys=True)
    row.confirmed = json.dumps(sorted(moved))
    row.source = source
    row.updated_by_id = actor.id
    row.updated_at = utcnow()
    session.flush()
    record(
        session,
        actor,
        "statistics.save",
        row,
        unit=unit,
        object_ref=unit.code,
        changes={
            "period": period.key,
            "source": source,
            "changed": {k: [before.get(k), v] for k, v in values.items() if before.get(k) != v},
            "confirmed": sorted(moved),
        },
    )
    return row


# Offices: compiled from their schools ------------------------------------------------------


@dataclass
class Compiled:
    """An office's figures summed over its schools of the period, and which schools counted."""

    figures: dict[str, int] | None
    # [{"unit": Unit, "submitted": bool, "counted": bool}]
    schools: list[dict] = field(default_factory=list)


def _add(total: dict[str, int], part: Mapping[str, object]) -> None:
    for key, value in part.items():
        if isinstance(value, int) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value


def compiled(session: Session, unit: Unit, period: Period) -> Compiled:
    paths = paths_during(session, unit, period.date_from, period.date_to, kind="school")
    schools = sorted(session.scalars(select(Unit).where(Unit.id.in_(paths))), key=lambda u: u.code)
    ids = [s.id for s in schools]
    # Two queries for all the schools: their submissions' data and their live figures.
    frozen: dict[int, str] = {
        unit_id: data
        for unit_id, data in session.execute(
            select(ReportSnapshot.unit_id, ReportSnapshot.data).where(
                ReportSnapshot.period_key == period.key, ReportSnapshot.unit_id.in_(ids)
            )
        )
    }
    live = {
        row.unit_id: row
        for row in session.scalars(
            select(UnitStatistics).where(
                UnitStatistics.period_key == period.key,
                UnitStatistics.unit_id.in_([i for i in ids if i not in frozen]),
            )
        )
    }
    total: dict[str, int] = {}
    found = False
    listed = []
    for school in schools:
        data = frozen.get(school.id)
        if data is not None:
            part = (json.loads(data).get("work") or {}).get("statistics")
        else:
            part = figures(live.get(school.id)) or None
        if part:
            found = True
            _add(total, part)
        listed.append({"unit": school, "submitted": data is not None, "counted": bool(part)})
    return Compiled(total if found else None, listed)


def compiled_figures(session: Session, unit: Unit, period: Period) -> dict[str, int] | None:
    """The sum, key by key, of the figures of the schools that rolled up to ``unit`` during
    the period (a submitted school's from its snapshot, another's live); None when none has."""
    return compiled(session, unit, period).figures


def report_figures(session: Session, unit: Unit, period: Period) -> dict[str, int] | None:
    """The figures a unit's period report shows: a school's own; an office's compiled from
    its schools plus its own row when it has one."""
    own = figures(statistics_of(session, unit, period.key)) or None
    if unit.kind == "school":
        return own
    total = compiled_figures(session, unit, period)
    if own is None:
        return total
    result = dict(total or {})
    _add(result, own)
    return result


def fill(session: Session, unit: Unit, period: Period, report: WorkReport) -> None:
    """Set the report's statistics and those of the period before."""
    report.statistics = report_figures(session, unit, period)
    before = previous_period(period)
    report.previous = report_figures(session, unit, before) if before is not None else None
