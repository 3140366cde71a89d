"""Counts that stop being exact above a ceiling, so that a screen costs its page, not the
archive: counting stops at the first row past the ceiling and the screen says "more than"."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from caseapp.models import Case

# What a person reads at a glance; past it, the exact figure belongs to the reports and to
# monitoring (per-school tallies). A thousand index entries cost about a millisecond, so a count
# costs the same at 10,000 cases and at 1,000,000 (issue 16 measured 10,000 as too many: a
# count of "more than 10,000" read ten times the entries of the page it headed).
CEILING = 1_000


@dataclass(frozen=True)
class Tally:
    """``n`` rows, or more than ``n`` when ``more`` (then ``n`` is the ceiling)."""

    n: int
    more: bool = False

    def __bool__(self) -> bool:
        return self.n > 0

    def __int__(self) -> int:
        return self.n


def capped_count(session: Session, stmt: Select, ceiling: int | None = None) -> Tally:
    """The cases of ``stmt`` (a select() of Case, as visible_cases gives) up to ``ceiling``:
    SELECT count(*) FROM (SELECT cases.unit_id ... LIMIT ceiling + 1). The one column selected
    leads every index on cases, so that PostgreSQL may count from the index alone."""
    ceiling = CEILING if ceiling is None else ceiling
    rows = stmt.with_only_columns(Case.unit_id).order_by(None).limit(ceiling + 1).subquery()
    n = session.scalar(select(func.count()).select_from(rows)) or 0
    return Tally(min(n, ceiling), n > ceiling)
