"""Counts that stop being exact above a ceiling, so that a screen costs its page, not the
archive: counting stops at the first row past the ceiling and the screen says "more than"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    CompoundSelect,
    Select,
    String,
    bindparam,
    func,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session

from caseapp.models import Case
from caseapp.prepared_statements import written_in

# Ten pages of the list: past that a person narrows the search, and the exact figure belongs to
# the reports and to monitoring (per-school tallies). A count reads up to ceiling / selectivity
# index entries (a status and a kind of violence: some 4,000 at 1,000,000 cases), so the
# ceiling is what keeps a count the same at 10,000 cases and at 1,000,000 (issue 16 measured
# 10,000 as too many: a count of "more than 10,000" read up to 200 times the entries of the page
# it headed).
CEILING = 500


@dataclass(frozen=True)
class Tally:
    """``n`` rows, or more than ``n`` when ``more`` (then ``n`` is the ceiling)."""

    n: int
    more: bool = False

    def __bool__(self) -> bool:
        return self.n > 0

    def __int__(self) -> int:
        return self.n


def capped_select(
    stmts: dict[str, Select], ceiling: int | None = None, *, postgresql: bool = False
) -> Select:
    """A screen's several counts in one statement (one round trip; each is a scalar subquery
    planned on its own): a column by name, each the count of its statement (a select() of
    Case, as visible_cases gives) stopped at ``ceiling`` + 1 rows, SELECT count(*) FROM
    (SELECT cases.unit_id ... LIMIT ceiling + 1). The one column selected leads every index on
    cases, so that PostgreSQL may count from the index alone. A statement of another table
    (the count of "due today" from the steps) is counted as it is, its one column, DISTINCT
    and order kept. Built once, it may be kept
    (kept_statements: its key then holds the ceiling and the dialect) and run by ``counted``.
    ``postgresql``: for PostgreSQL, where it also puts back the planner settings of its count
    as it runs (``counting``): one round trip fewer than a statement of its own."""
    ceiling = CEILING if ceiling is None else ceiling
    counts = select(
        *(
            select(func.count())
            .select_from(_rows_of(stmt).limit(ceiling + 1).subquery())
            .scalar_subquery()
            .label(name)
            for name, stmt in stmts.items()
        )
    )
    if not postgresql:
        return counts
    return counts.select_from(_plans_back()).execution_options(**{_RESTORES: True})


def _rows_of(stmt: Select) -> Select:
    """The rows a count of ``stmt`` reads: one column of a select() of Case, in no order."""
    if getattr(stmt.selected_columns[0], "table", None) is Case.__table__:
        return stmt.with_only_columns(Case.unit_id).order_by(None)
    return stmt


def counted(
    session: Session,
    stmt: Select,
    values: dict | None = None,
    ceiling: int | None = None,
    *,
    written: bool = True,
) -> dict[str, Tally]:
    """The tallies of a ``capped_select`` built with the same ``ceiling``, by name, run with
    the parameters ``values``. ``written``: sent with its plain values written in
    (prepared_statements.written_in); False for a statement holding what a person typed."""
    ceiling = CEILING if ceiling is None else ceiling
    (row,) = read_by_indexes(session, stmt, values, written=written)
    return {
        name: Tally(min(n or 0, ceiling), (n or 0) > ceiling) for name, n in row._mapping.items()
    }


def planned_for_indexes(stmt: Select | CompoundSelect, postgresql: bool) -> Select | CompoundSelect:
    """``stmt`` (a select() or a union) to run by ``read_by_indexes``: on PostgreSQL it puts
    the planner settings back itself as it runs (as capped_select's counts do)."""
    if not postgresql:
        return stmt
    rows = stmt.subquery()
    return (
        select(rows)
        .select_from(rows.join(_plans_back(), true()))
        .execution_options(**{_RESTORES: True})
    )


def read_by_indexes(
    session: Session,
    stmt: Select | CompoundSelect,
    values: dict | None = None,
    *,
    written: bool = True,
) -> list:
    """The rows of ``stmt`` planned as counts are (``counting``: no bitmap or sequential scan,
    no parallel worker), for statements that read a few rows in an index's order and stop:
    a bitmap reads every entry of its index before the first row. ``written``: sent with its
    plain values written in (prepared_statements.written_in). A statement built by
    capped_select or planned_for_indexes puts the settings back itself as it runs."""
    options = written_in if written else {}
    restores = bool(stmt.get_execution_options().get(_RESTORES))
    if restores and not session.info.get(_COUNTING):
        # The settings off, then the statement, which puts them back as it runs (it is
        # planned before any of it runs).
        before = _plans_off(session)
        params = (values or {}) | {f"plans_{k}": v for k, v in before.items()}
        return list(session.execute(stmt, params, execution_options=options))
    # Inside counting() already (the settings are off until it ends), or a statement that
    # does not put them back itself.
    params = (values or {}) | (_STILL_OFF if restores else {})
    with counting(session):
        return list(session.execute(stmt, params, execution_options=options))


_COUNTING = "caseapp.tally.counting"
_PLANS_OFF = text(
    "WITH before AS MATERIALIZED (SELECT current_setting('enable_bitmapscan') AS bitmap,"
    " current_setting('enable_seqscan') AS seq,"
    " current_setting('max_parallel_workers_per_gather') AS parallel)"
    " SELECT bitmap, seq, parallel, set_config('enable_bitmapscan', 'off', true),"
    " set_config('enable_seqscan', 'off', true),"
    " set_config('max_parallel_workers_per_gather', '0', true) FROM before"
)
_PLANS_BACK = text(
    "SELECT set_config('enable_bitmapscan', :bitmap, true),"
    " set_config('enable_seqscan', :seq, true),"
    " set_config('max_parallel_workers_per_gather', :parallel, true)"
)
# The execution option of a count that puts the settings back itself (capped_select).
_RESTORES = "caseapp_restores_plans"
_SETTINGS = {
    "bitmap": "enable_bitmapscan",
    "seq": "enable_seqscan",
    "parallel": "max_parallel_workers_per_gather",
}


# What a count that puts the settings back leaves them as inside counting(): off.
_STILL_OFF = {"plans_bitmap": "off", "plans_seq": "off", "plans_parallel": "0"}


def _plans_back():
    """The settings put back to the values ``plans_bitmap``, ``plans_seq`` and
    ``plans_parallel`` (parameters), as the statement it heads runs: PostgreSQL plans a
    statement before it runs any of it, so its own plan is made with the settings off. A
    materialised WITH read by that statement (one row), so that it runs once, whatever the
    statement reads; the values plain, so that they are written in with the statement's."""
    return (
        select(
            *(
                func.set_config(
                    literal_column(f"'{name}'"), bindparam(f"plans_{key}", type_=String), true()
                ).label(key)
                for key, name in _SETTINGS.items()
            )
        )
        .cte("plans_back")
        .prefix_with("MATERIALIZED")
    )


def _plans_off(session: Session) -> dict[str, str]:
    """The settings off for the rest of the transaction; what they were, by key."""
    bitmap, seq, parallel = session.execute(_PLANS_OFF).one()[:3]
    return {"bitmap": bitmap, "seq": seq, "parallel": parallel}


@contextmanager
def counting(session: Session) -> Iterator[None]:
    """Counts that stop early read indexes only (PostgreSQL, for the statements inside; nested
    uses share one): a bitmap reads every entry of its index before the first row (ANDing the
    open cases of a school with every "verifying" case of the archive, school after school: 54
    ms at 100,000 cases, against 8 ms for an index scan that stops at the ceiling), and a
    sequential scan finds the rows a LIMIT needs only if they are spread evenly over the table
    (recent open cases behind years of closed ones are not). The planner cannot know how soon
    the LIMIT ends the scan; every count here has an index by unit to read. Nor does a count
    start parallel workers: it reads at most the ceiling's rows, and a worker's start cost
    more than it shared ("follow-ups in the next two weeks" at 1,000,000 cases: 7.5-10 ms with
    one worker, 3.4 ms without), while it took a core from another request."""
    if session.get_bind().dialect.name != "postgresql" or session.info.get(_COUNTING):
        yield
        return
    # The settings as they were, read before they change (the CTE is read first), then off
    # for this transaction; put back after the counts.
    before = _plans_off(session)
    session.info[_COUNTING] = True
    try:
        yield
    except BaseException:
        # Nothing more is sent: a failed statement has aborted the transaction (its rollback
        # takes the settings with it); any other error ends the request.
        session.info.pop(_COUNTING, None)
        raise
    session.info.pop(_COUNTING, None)
    session.execute(_PLANS_BACK, before)
