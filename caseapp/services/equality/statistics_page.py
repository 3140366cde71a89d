"""What the statistics screen of a unit and period shows: the figures, those of the period
before, whether the person may change them, and for an office the compiled figures with the
schools counted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from caseapp.models import Unit
from caseapp.models.equality import UnitStatistics
from caseapp.security.authz import covers
from caseapp.services.equality import figures as catalog
from caseapp.services.equality import statistics
from caseapp.services.reports import periods

if TYPE_CHECKING:
    from caseapp.models import User
    from caseapp.services.reports.periods import Period


@dataclass
class Screen:
    unit: Unit
    period: Period
    choices: list[Period]  # the periods to switch to
    row: UnitStatistics | None
    current: dict[str, int]
    before: Period | None
    previous: dict[str, int]
    editable: bool
    submitted: bool
    compiled: statistics.Compiled | None  # an office's

    @property
    def rows(self) -> list[str]:
        return catalog.rows_for(self.unit.level)

    @property
    def keys(self) -> list[str]:
        return catalog.keys_for(self.unit.level)

    @property
    def version(self) -> int:
        return self.row.version if self.row is not None else 0


def screen(session: Session, user: User, code: str | None, period_key: str | None) -> Screen:
    """The screen of unit ``code`` (default: the user's own) for the period ``period_key``
    (default: the one being reported now); 404 for a unit outside the user's report scope."""
    unit = periods.report_unit(session, user, code)
    period = periods.period_by_key(period_key) if period_key else periods.default_period()
    choices = periods.recent_periods()
    if period not in choices:
        choices = [period, *choices]
    row = statistics.statistics_of(session, unit, period.key)
    before = statistics.previous_period(period)
    submitted = periods.submitted_snapshot(session, unit, period) is not None
    return Screen(
        unit=unit,
        period=period,
        choices=choices,
        row=row,
        current=statistics.figures(row),
        before=before,
        previous=statistics.previous_figures(session, unit, period),
        editable=covers(user, "work.write", unit) and not submitted,
        submitted=submitted,
        compiled=statistics.compiled(session, unit, period) if unit.kind != "school" else None,
    )
