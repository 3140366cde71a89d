"""Per-school counts kept in the transaction that changes them (issue 16): the monitoring page
reads a school's open, high-risk, unassigned and recorded cases, and its cases received and
closed per month, from a row each instead of counting the cases.

The overdue cases of a school are counted by the day their clock runs out (``overdue_day`` of
``Case.overdue_after``: the day, where the users are, of that moment) and by that day's month:
the days before today hold cases overdue now, so monitoring sums the months before this one and
this month's days before today, and counts today's cases alone (monitoring.overdue_now). Most
clocks are days, which run out at the day's last microsecond: today's cases whose moment has
passed are then the few whose clock is a moment of the day (the intervention's).
A new case is counted here with the moment of its INSERT; cases.clocks hands over every moment it
moves afterwards and every case moved to another school with its moment (``moments_moved``).

After every flush that wrote a case (its status, risk, serious risk to the child, assignment,
school or day of receipt) or a transition to "closed", the difference each makes is added to the
counts (a session event, as cases.clocks does: no service can forget it). The old state of a case
comes from the attribute history (those columns load their old value before a change,
``active_history``), the new one from what was flushed. Counts are written as ``INSERT ... ON
CONFLICT (keys) DO UPDATE SET n = n + excluded.n``, one statement a row: two transactions recording
cases of one school both add (the second waits for the first's row lock), so concurrent intakes
lose nothing. On PostgreSQL the audit chain's lock is taken before the rows (trail.hold_chain):
every transaction that writes the counts records an event, and some record one before they write (a
closure finishing its follow-ups), so the rows are always locked after the chain, never before it
(no deadlock between an intake and such a change); an intake takes it once its own rows are in,
just before its event (``deferred``), so that the chain stays held as briefly as before. Cases are
never deleted (retention destroys their content, not the row). ``rebuild`` recomputes everything
with GROUP BY (after a migration or a bulk load); ``computed`` is that GROUP BY (the tests compare
it with what was kept).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    case,
    delete,
    event,
    extract,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from caseapp.clock import zone
from caseapp.db import table_exists
from caseapp.models import Case, CaseTransition
from caseapp.models.reports import (
    UnitCaseTally,
    UnitMonthTally,
    UnitOverdueDayTally,
    UnitOverdueMonthTally,
)
from caseapp.services.audit import trail

_cases = cast(Table, Case.__table__)
_transitions = cast(Table, CaseTransition.__table__)
_tallies = cast(Table, UnitCaseTally.__table__)
_months = cast(Table, UnitMonthTally.__table__)
_overdue_months = cast(Table, UnitOverdueMonthTally.__table__)
_overdue_days = cast(Table, UnitOverdueDayTally.__table__)
COUNTS = ("open", "high_risk", "unassigned", "total")
MONTH_COUNTS = ("received", "closed")
OVERDUE_COUNTS = ("cases",)
FIELDS = (
    "unit_id",
    "status",
    "risk_level",
    "serious_risk_to_child",
    "assigned_to_id",
    "received_on",
)
HIGH = ("high", "immediate")


def month_of(day: date) -> int:
    return day.year * 12 + day.month - 1


def local_month(at: datetime) -> int:
    """The month, where the users are, of a stored instant (SQLite hands back naive UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return month_of(at.astimezone(zone()).date())


def overdue_day(moment: datetime) -> date:
    """The day, where the users are, of an overdue moment (SQLite hands back naive UTC). Its
    cases are overdue from their moment on: all of them once the day is over."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone()).date()


def day_start(day: date) -> datetime:
    """The moment ``day`` begins where the users are, in UTC (as stored: SQLite compares the
    text): the moments of its ``overdue_day`` lie from it up to the next day's start."""
    return datetime.combine(day, time(0), tzinfo=zone()).astimezone(UTC)


def counts_of(status: str | None, risk: str | None, serious: bool | None, assigned) -> tuple:
    """(open, high_risk, unassigned, total) that one case adds."""
    is_open = status != "closed"
    return (
        int(is_open),
        int(is_open and (risk in HIGH or bool(serious))),
        int(is_open and assigned is None),
        1,
    )


class Deltas:
    def __init__(self) -> None:
        self.units: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.months: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
        self.overdue: dict[tuple[int, date], int] = defaultdict(int)

    def case(self, state: dict[str, Any], sign: int) -> None:
        if state["unit_id"] is None:
            return
        row = self.units[state["unit_id"]]
        for i, n in enumerate(
            counts_of(
                state["status"],
                state["risk_level"],
                state["serious_risk_to_child"],
                state["assigned_to_id"],
            )
        ):
            row[i] += sign * n
        if state["received_on"] is not None:
            self.months[(state["unit_id"], month_of(state["received_on"]))][0] += sign

    def moment(self, unit_id: int | None, moment: datetime | None, sign: int) -> None:
        """A case of ``unit_id`` overdue after ``moment`` (None: no clock runs) counted, or
        taken out (``sign`` -1)."""
        if unit_id is not None and moment is not None:
            self.overdue[(unit_id, overdue_day(moment))] += sign

    def rows(self, conn) -> Rows:
        """The rows to add to each table (the school's, its months', its overdue months' and
        days'), in key order, none that adds nothing; no overdue row on a schema from before
        their tables (the migration tests write through the services at old revisions)."""
        overdue = self.overdue if not self.overdue or table_exists(conn, _overdue_days.name) else {}
        overdue_months: dict[tuple[int, int], int] = defaultdict(int)
        for (u, day), n in overdue.items():
            overdue_months[(u, month_of(day))] += n
        return Rows(
            [
                {"unit_id": u, **dict(zip(COUNTS, d, strict=True))}
                for u, d in sorted(self.units.items())
                if any(d)
            ],
            [
                {"unit_id": u, "month": m, **dict(zip(MONTH_COUNTS, d, strict=True))}
                for (u, m), d in sorted(self.months.items())
                if any(d)
            ],
            [
                {"unit_id": u, "month": m, "cases": n}
                for (u, m), n in sorted(overdue_months.items())
                if n
            ],
            [{"unit_id": u, "day": d, "cases": n} for (u, d), n in sorted(overdue.items()) if n],
        )

    def closed(self, unit_id: int, month: int, sign: int) -> None:
        self.months[(unit_id, month)][1] += sign

    def add(self, other: Deltas) -> None:
        for unit_id, d in other.units.items():
            row = self.units[unit_id]
            for i, n in enumerate(d):
                row[i] += n
        for key, d in other.months.items():
            mrow = self.months[key]
            for i, n in enumerate(d):
                mrow[i] += n
        for day_key, n in other.overdue.items():
            self.overdue[day_key] += n

    def write(self, conn) -> None:
        rows = self.rows(conn)
        if rows.one_each() and conn.dialect.name == "postgresql":
            # A case recorded or closed: its rows in one statement (one round trip).
            conn.execute(_both(bool(rows.overdue_days)), rows.params())
        else:
            rows.write(conn)


@dataclass(frozen=True)
class Rows:
    """What ``Deltas`` add to each table, row by row."""

    units: list[dict]
    months: list[dict]
    overdue_months: list[dict]
    overdue_days: list[dict]

    def one_each(self) -> bool:
        """One school's row, one of its months and at most one day its clock runs out (an
        intake, a closure): one statement can write them (``_both``, ``params``)."""
        return len(self.units) == len(self.months) == 1 and len(self.overdue_days) <= 1

    def params(self) -> dict:
        """The parameters of ``_both`` (when ``one_each``)."""
        params = {f"u_{k}": v for k, v in self.units[0].items()}
        params.update({f"m_{k}": v for k, v in self.months[0].items()})
        for prefix, rows in (("om_", self.overdue_months), ("od_", self.overdue_days)):
            for row in rows:  # none or one
                params.update({f"{prefix}{k}": v for k, v in row.items()})
        return params

    def write(self, conn) -> None:
        """Each table's rows in a statement of its own."""
        for table, counts, rows in (
            (_tallies, COUNTS, self.units),
            (_months, MONTH_COUNTS, self.months),
            (_overdue_months, OVERDUE_COUNTS, self.overdue_months),
            (_overdue_days, OVERDUE_COUNTS, self.overdue_days),
        ):
            if rows:
                _add(conn, table, counts, rows)


def _add(conn, table: Table, counts: tuple[str, ...], rows: list[dict]) -> None:
    """Add the counts of ``rows`` to the rows of ``table`` with their keys, a row not there
    yet inserted with them: ``INSERT ... ON CONFLICT (keys) DO UPDATE SET n = n +
    excluded.n`` (PostgreSQL, SQLite since 3.24). Rows in key order: two transactions lock
    the rows they share in the same order."""
    conn.execute(_upsert(conn.dialect.name, table, counts), rows)


_UPSERTS: dict[tuple, Any] = {}
_INSERTS: dict[str, Any] = {"postgresql": pg_insert, "sqlite": sqlite_insert}


def _upsert(dialect: str, table: Table, counts: tuple[str, ...]):
    """The statement of ``_add``, built once (its compiled form is cached by the engine)."""
    key = (dialect, table.name)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        if dialect not in _INSERTS:  # pragma: no cover - config refuses other databases
            raise RuntimeError(f"per-school tallies need PostgreSQL or SQLite, not {dialect}")
        new = _INSERTS[dialect](table)
        stmt = _UPSERTS[key] = new.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_={name: table.c[name] + new.excluded[name] for name in counts},
        )
    return stmt


def _both(overdue: bool = False):
    """One school's row and one of its months (and, with ``overdue``, the day its clock runs
    out and that day's month) in one statement (PostgreSQL: the others as data-modifying
    WITHs); built once. Which PostgreSQL writes first does not matter: every writer of these
    rows holds the chain's lock (trail.hold_chain)."""
    stmt = _UPSERTS.get(("postgresql", "both", overdue))
    if stmt is None:

        def upsert(table: Table, prefix: str, counts: tuple[str, ...]):
            keys = [c.name for c in table.primary_key.columns]
            new = pg_insert(table).values(
                {name: bindparam(prefix + name) for name in (*keys, *counts)}
            )
            return new.on_conflict_do_update(
                index_elements=keys,
                set_={name: table.c[name] + new.excluded[name] for name in counts},
            )

        units = upsert(_tallies, "u_", COUNTS).cte("unit_counts")
        ctes: tuple = (units,)
        if overdue:
            ctes += (
                upsert(_overdue_months, "om_", OVERDUE_COUNTS).cte("overdue_month_counts"),
                upsert(_overdue_days, "od_", OVERDUE_COUNTS).cte("overdue_day_counts"),
            )
        months = upsert(_months, "m_", MONTH_COUNTS)
        stmt = _UPSERTS[("postgresql", "both", overdue)] = months.add_cte(*ctes)
        # The same as WITHs of another statement (the audit head's read: trail.hold_chain).
        _UPSERTS[("postgresql", "both_ctes", overdue)] = (*ctes, months.cte("month_counts"))
    return stmt


def _both_ctes(overdue: bool) -> tuple:
    _both(overdue)
    return _UPSERTS[("postgresql", "both_ctes", overdue)]


def _states(obj: Case) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(old state, new state, changed) of a flushed case."""
    state = inspect(obj)
    old, new, changed = {}, {}, False
    for name in FIELDS:
        hist = state.attrs[name].history
        if hist.has_changes():
            changed = True
            old[name] = hist.deleted[0] if hist.deleted else None
            new[name] = hist.added[0] if hist.added else None
        else:
            value = hist.unchanged[0] if hist.unchanged else getattr(obj, name)
            old[name] = new[name] = value
    return old, new, changed


def _after_flush(session: Session, _flush_context) -> None:
    deltas = Deltas()
    closing: list[CaseTransition] = []
    moved: list[tuple[int, int, int]] = []  # (case id, old unit, new unit)
    wrote = False
    for obj in session.new:
        if isinstance(obj, Case):
            _old, new, _ = _states(obj)
            deltas.case(new, 1)
            # Its moment as its INSERT wrote it (cases.clocks); clocks hands over later moves.
            deltas.moment(new["unit_id"], obj.overdue_after, 1)
            wrote = True
        elif isinstance(obj, CaseTransition) and obj.to_status == "closed":
            closing.append(obj)
            wrote = True
    for obj in session.dirty:
        if isinstance(obj, Case) and obj not in session.deleted:
            old, new, changed = _states(obj)
            if changed:
                deltas.case(old, -1)
                deltas.case(new, 1)
                wrote = True
                if old["unit_id"] != new["unit_id"] and old["unit_id"] is not None:
                    moved.append((obj.id, old["unit_id"], new["unit_id"]))
    if not wrote:
        return
    conn = session.connection()
    if not table_exists(conn, _tallies.name):
        return
    if closing:
        ids = sorted({t.case_id for t in closing})
        units = dict(
            conn.execute(select(_cases.c.id, _cases.c.unit_id).where(_cases.c.id.in_(ids))).all()
        )
        for t in closing:
            at = t.at
            if at is None:  # pragma: no cover - the default is set in Python before the INSERT
                at = conn.scalar(select(_transitions.c.at).where(_transitions.c.id == t.id))
            deltas.closed(units[t.case_id], local_month(at), 1)
    if moved:
        # The closures of a case count where the case is: they follow it to its new school
        # (those written in this flush were counted there already).
        fresh = {t.id for t in closing}
        for case_id, before, after in moved:
            for tid, at in conn.execute(
                select(_transitions.c.id, _transitions.c.at).where(
                    _transitions.c.case_id == case_id, _transitions.c.to_status == "closed"
                )
            ):
                if tid not in fresh:
                    deltas.closed(before, local_month(at), -1)
                    deltas.closed(after, local_month(at), 1)
    pending = session.info.get(DEFERRED)
    if pending is not None:
        pending.add(deltas)  # written by deferred() once it holds the chain
        return
    # The chain's lock first: a transaction that recorded an event before this flush (a
    # closure finishing its follow-ups, cases moved one by one) holds it already, and an
    # intake that took a school's row first would then wait for the chain while holding the
    # row that transaction waits for.
    trail.hold_chain(session)
    deltas.write(conn)


def moments_moved(session: Session, moves: dict[tuple[int, date], int]) -> None:
    """The overdue moments cases.clocks moved in a flush (a clock set, a step added or done, a
    case closed or reopened, a case moved to another school): {(unit, overdue_day): +1 or
    -1}, added to the counts like the flush's own (deferred, or under the chain's lock)."""
    deltas = Deltas()
    for key, n in moves.items():
        if n:
            deltas.overdue[key] += n
    if not deltas.overdue:
        return
    conn = session.connection()
    if not table_exists(conn, _overdue_days.name):
        return
    pending = session.info.get(DEFERRED)
    if pending is not None:
        pending.add(deltas)
        return
    trail.hold_chain(session)
    deltas.write(conn)


DEFERRED = "caseapp.tallies.deferred"


@contextmanager
def deferred(session: Session) -> Iterator[None]:
    """The counts of the flushes inside written at the end of the block, after taking the
    chain's lock there, instead of in each flush. For a service that records its event right
    after (an intake): the chain's lock, which every intake waits for, is then held from
    there (the counts, the event, the commit), not from its first flush (the informant, the
    name index...). Nothing may start or end a savepoint inside; on an error the counts are
    dropped with the transaction the caller rolls back (the guard refuses to commit a case
    without its event, and the event comes after the block)."""
    if DEFERRED in session.info or session.get_bind().dialect.name != "postgresql":
        yield  # nested, or SQLite (one writer at a time: no lock order to keep)
        return
    pending = session.info[DEFERRED] = Deltas()
    try:
        yield
        if pending.units or pending.months or pending.overdue:
            conn = session.connection()
            rows = pending.rows(conn)
            if not rows.one_each():
                trail.hold_chain(session)
                rows.write(conn)
            else:
                overdue = bool(rows.overdue_days)
                if not trail.hold_chain(session, _both_ctes(overdue), rows.params()):
                    conn.execute(_both(overdue), rows.params())
    finally:
        session.info.pop(DEFERRED, None)


def install() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


# -- from scratch -----------------------------------------------------------------------------


Counted = tuple[
    dict[int, tuple],
    dict[tuple[int, int], tuple],
    dict[tuple[int, int], int],
    dict[tuple[int, date], int],
]


def computed(conn) -> Counted:
    """The counts from the cases and transitions (GROUP BY): {unit: (open, high_risk,
    unassigned, total)}, {(unit, month): (received, closed)}, and the cases by the month and
    by the day their clock runs out ({(unit, month): cases}, {(unit, day): cases}), zero rows
    left out."""
    c = _cases.c
    is_open = c.status != "closed"
    high = is_open & (c.risk_level.in_(HIGH) | (c.serious_risk_to_child == True))  # noqa: E712
    units = {
        row.unit_id: (int(row.open), int(row.high_risk), int(row.unassigned), int(row.total))
        for row in conn.execute(
            select(
                c.unit_id,
                func.sum(case((is_open, 1), else_=0)).label("open"),
                func.sum(case((high, 1), else_=0)).label("high_risk"),
                func.sum(case((is_open & c.assigned_to_id.is_(None), 1), else_=0)).label(
                    "unassigned"
                ),
                func.count().label("total"),
            ).group_by(c.unit_id)
        )
    }
    month = extract("year", c.received_on) * 12 + extract("month", c.received_on) - 1
    months: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for unit_id, m, n in conn.execute(
        select(c.unit_id, month.label("m"), func.count()).group_by(c.unit_id, "m")
    ):
        months[(unit_id, int(m))][0] += int(n)
    # Closures by month where the users are: read in Python (the zone's rules), once.
    closed = (
        select(c.unit_id, _transitions.c.at)
        .join(_transitions, _transitions.c.case_id == c.id)
        .where(_transitions.c.to_status == "closed")
    )
    for part in conn.execute(
        closed, execution_options={"stream_results": True, "yield_per": 10_000}
    ).partitions():
        for unit_id, at in part:
            months[(unit_id, local_month(at))][1] += 1
    overdue_months, overdue_days = computed_overdue(conn)
    return units, {k: tuple(v) for k, v in months.items() if any(v)}, overdue_months, overdue_days


def computed_overdue(conn) -> tuple[dict[tuple[int, int], int], dict[tuple[int, date], int]]:
    """The cases by the month and by the day their clock runs out ({(unit, month): cases},
    {(unit, day): cases}), from their moments read in Python (overdue_day, as the flushes
    count them), once."""
    days: dict[tuple[int, date], int] = defaultdict(int)
    moments = select(_cases.c.unit_id, _cases.c.overdue_after).where(
        _cases.c.overdue_after.is_not(None)
    )
    for part in conn.execute(
        moments, execution_options={"stream_results": True, "yield_per": 10_000}
    ).partitions():
        for unit_id, moment in part:
            days[(unit_id, overdue_day(moment))] += 1
    months: dict[tuple[int, int], int] = defaultdict(int)
    for (unit_id, day), n in days.items():
        months[(unit_id, month_of(day))] += n
    return dict(months), dict(days)


def stored(conn) -> Counted:
    """What the tables hold, zero rows left out (to compare with ``computed``)."""
    units = {
        r.unit_id: (r.open, r.high_risk, r.unassigned, r.total)
        for r in conn.execute(select(_tallies))
        if any((r.open, r.high_risk, r.unassigned, r.total))
    }
    months = {
        (r.unit_id, r.month): (r.received, r.closed)
        for r in conn.execute(select(_months))
        if r.received or r.closed
    }
    overdue_months = {
        (r.unit_id, r.month): r.cases for r in conn.execute(select(_overdue_months)) if r.cases
    }
    overdue_days = {
        (r.unit_id, r.day): r.cases for r in conn.execute(select(_overdue_days)) if r.cases
    }
    return units, months, overdue_months, overdue_days


def rebuild(conn) -> None:
    """Recompute the tables from the cases and transitions (after a migration or a bulk
    load; the overdue months where the schema has them yet). The caller commits."""
    units, months, overdue_months, overdue_days = computed(conn)
    conn.execute(delete(_tallies))
    conn.execute(delete(_months))
    rows = [dict(zip(("unit_id", *COUNTS), (u, *v), strict=True)) for u, v in units.items()]
    for i in range(0, len(rows), 5000):
        conn.execute(insert(_tallies), rows[i : i + 5000])
    mrows = [
        dict(zip(("unit_id", "month", *MONTH_COUNTS), (*k, *v), strict=True))
        for k, v in months.items()
    ]
    for i in range(0, len(mrows), 5000):
        conn.execute(insert(_months), mrows[i : i + 5000])
    if table_exists(conn, _overdue_days.name):
        rebuild_overdue(conn, (overdue_months, overdue_days))


def rebuild_overdue(conn, counted: tuple[dict, dict] | None = None) -> None:
    """Recompute the overdue months and days from the cases' moments (``computed_overdue``
    unless given): after a migration, a bulk load or a change of the time zone setting. The
    caller commits."""
    overdue_months, overdue_days = counted if counted is not None else computed_overdue(conn)
    for table, key, counts in (
        (_overdue_months, "month", overdue_months),
        (_overdue_days, "day", overdue_days),
    ):
        conn.execute(delete(table))
        rows = [{"unit_id": u, key: k, "cases": n} for (u, k), n in counts.items()]
        for i in range(0, len(rows), 5000):
            conn.execute(insert(table), rows[i : i + 5000])
