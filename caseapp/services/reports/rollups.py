"""The period report from rollups kept per school and month (issue 16): the same tables as the
full scan of reports.tables, summed from a few thousand rows instead of every case.

What is kept (models.CaseRollup): for each school, month of receipt and parent-history path in
force on the day of receipt, signed counts per (figure, row, column) that hold from a month
``since`` on. Figures that do not depend on the end of the period (violence types, persons,
channels, cases) hold from the month of receipt; those that do (status at the end of the
period, findings, support and referrals given, days to verification and to closure) are
written as a +1 in the month a case enters a row and a -1 in the month it leaves it, so that a
report ending with month E sums the rows with ``since <= E`` and reads each case as the scan
would at that month's end. Rollups answer periods of whole months (every configured report
period); other ranges go to the scan.

How they stay exact: every flush that writes a case, person, violence type, step or transition
(or a unit's parent history) inserts a mark (school, month) in the same transaction (a session
event, as cases.clocks does: no service can forget it); a report first recomputes the marked
school-months from the cases (bounded work: the changes since the last report), then sums.
Bulk loads write a mark per school (every month) or call ``refresh``. Exclusions are applied
as the scan applies them: the excluded cases of the period are read one by one and taken out
of the sums. Unit moves (the 2026 reform) change a school's history rows: that marks all its
months, recomputed with the new paths.

Sums per office (models.CaseOfficeRollup, migration 0022): the school rows are also kept summed
for every office their path names (the school itself aside), per month, figure, row, column and
``since``: a report of an office reads its own sums (a few hundred rows a month, whatever the
number of schools below) and the school rows of its own cases (recorded at the office itself);
``level`` and ``within`` read the school rows. A recompute subtracts the old rows of the
school-months from their paths' offices and adds the new ones (a unit move or a case changing
school moves the sums from one office to the other), written in the same transaction under the
same lock: the offices' sums are always the school rows' sums (``offices_computed``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from caseapp.clock import zone
from caseapp.db import reads_replica, table_exists
from caseapp.models import (
    Case,
    CasePerson,
    CaseStep,
    CaseTransition,
    CaseViolenceType,
    Unit,
    UnitParentHistory,
)
from caseapp.models.reports import CaseOfficeRollup, CaseRollup, CaseRollupMark
from caseapp.services.org.history import in_force
from caseapp.services.reports.exclusions import ShownTo

_rollups = cast(Table, CaseRollup.__table__)
_marks = cast(Table, CaseRollupMark.__table__)
_offices = cast(Table, CaseOfficeRollup.__table__)
_cases = cast(Table, Case.__table__)
# A constant key for pg_advisory_xact_lock: one refresh at a time (two would recompute the
# same school-month and both insert its rows).
LOCK_KEY = 160_019
CHUNK = 500
SUPPORT_OK = {"support": ("provided",), "referral": ("accepted", "completed")}


def month_of(day: date) -> int:
    return day.year * 12 + day.month - 1


def month_bounds(month: int) -> tuple[date, date]:
    first = date(month // 12, month % 12 + 1, 1)
    nxt = date((month + 1) // 12, (month + 1) % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def whole_months(date_from: date, date_to: date) -> bool:
    """Whether the period is made of whole months (what the rollups answer)."""
    return date_from.day == 1 and (date_to + timedelta(days=1)).day == 1


def local_month(at: datetime) -> int:
    """The month, where the users are, of a stored instant (SQLite hands back naive UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return month_of(at.astimezone(zone()).date())


# -- marks ------------------------------------------------------------------------------------

_CHILDREN = (CasePerson, CaseStep, CaseTransition, CaseViolenceType)


def _old_and_new(obj, name: str) -> list:
    from sqlalchemy import inspect

    hist = inspect(obj).attrs[name].history
    return [*hist.deleted, *hist.unchanged, *hist.added]


def _after_flush(session: Session, _flush_context) -> None:
    marks: set[tuple[int, int | None]] = set()
    case_ids: set[int] = set()
    inserted: set[int] = set()  # cases this flush inserted: where they are is what it wrote
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Case):
            if obj.id is not None:
                if obj in session.new:
                    inserted.add(obj.id)
                else:  # where it is now, read back below
                    case_ids.add(obj.id)
            for unit_id in _old_and_new(obj, "unit_id"):
                for day in _old_and_new(obj, "received_on"):
                    if unit_id is not None and day is not None:
                        marks.add((unit_id, month_of(day)))
        elif isinstance(obj, _CHILDREN):
            for case_id in _old_and_new(obj, "case_id"):
                if case_id is not None:
                    case_ids.add(case_id)
        elif isinstance(obj, UnitParentHistory):
            for unit_id in _old_and_new(obj, "unit_id"):
                if unit_id is not None:
                    marks.add((unit_id, None))
    case_ids -= inserted
    if not marks and not case_ids:
        return
    conn = session.connection()
    if not table_exists(conn, _marks.name):
        return
    ids = sorted(case_ids)
    for i in range(0, len(ids), CHUNK):
        for unit_id, day in conn.execute(
            select(_cases.c.unit_id, _cases.c.received_on).where(
                _cases.c.id.in_(ids[i : i + CHUNK])
            )
        ):
            marks.add((unit_id, month_of(day)))
    if marks:
        # One statement, compiled once (inline: no RETURNING, nothing reads the marks' ids).
        conn.execute(
            insert(_marks).inline(),
            [{"unit_id": u, "month": m} for u, m in sorted(marks, key=str)],
        )


def install() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)


def mark_units(conn, unit_ids: Iterable[int]) -> None:
    """Every month of these units is to be recomputed (after a bulk load)."""
    rows = [{"unit_id": u, "month": None} for u in sorted(set(unit_ids))]
    if rows:
        conn.execute(insert(_marks), rows)


# -- what one case counts ---------------------------------------------------------------------


@dataclass
class Facts:
    """What the rollups read of one case."""

    id: int
    unit_id: int
    received_on: date
    group: str  # harmed_sex_group
    received_via: str | None
    verification_due_on: date | None
    path: str | None


def _series(m0: int, events: Iterable[int], state, emit) -> None:
    """Emit +1/-1 so that the row ``state(E)`` holds for every month E from m0 on."""
    prev = state(m0)
    if prev is not None:
        emit(prev, m0, 1)
    for m in sorted({e for e in events if e > m0}):
        cur = state(m)
        if cur != prev:
            if prev is not None:
                emit(prev, m, -1)
            if cur is not None:
                emit(cur, m, 1)
            prev = cur


def contributions(case: Facts, persons, types, steps, transitions):
    """(figure, row, col, since, n) of one case, n signed. ``persons``: (position, sex,
    age_band, role, relationship, withdrawn_at); ``steps``: (id, kind, status, service,
    done_on, finding); ``transitions``: (id, at, to_status)."""
    out: list[tuple[str, str, str, int, int]] = []
    g = case.group
    m0 = month_of(case.received_on)

    def add(figure, row, col, since, n=1):
        if row is not None and col is not None:
            out.append((figure, str(row), str(col), since, n))

    add("cases", "", g, m0)
    add(
        "cases_by_channel",
        "self_report" if case.received_via == "self_report" else "staff_intake",
        g,
        m0,
    )
    for t in types:
        add("violence_by_sex", t, g, m0)
    for position, sex, age_band, role, relationship, withdrawn_at in persons:
        if withdrawn_at is not None:
            continue
        if position == "harmed":
            add("age_by_sex", age_band, sex, m0)
            add("role_by_sex", role, sex, m0)
        elif position == "perpetrator":
            add("perpetrators_by_relationship_sex", relationship, sex, m0)

    verifications = sorted(
        (month_of(done_on), sid, finding)
        for sid, kind, _status, _service, done_on, finding in steps
        if kind == "verification" and done_on is not None
    )
    first_verified = min(
        (
            done_on
            for _i, kind, _s, _v, done_on, _f in steps
            if kind == "verification" and done_on is not None
        ),
        default=None,
    )
    verified_from = month_of(first_verified) if first_verified is not None else None
    moves = sorted((local_month(at), tid, to_status) for tid, at, to_status in transitions)
    overdue_from = None
    if case.verification_due_on is not None:
        due = case.verification_due_on
        overdue_from = month_of(due) + (0 if due < month_bounds(month_of(due))[1] else 1)

    def status(e: int) -> str:
        last = max(((tid, to) for m, tid, to in moves if m <= e), default=None)
        if last is not None and last[1] == "closed":
            return "resolved"
        if (
            overdue_from is not None
            and overdue_from <= e
            and (verified_from is None or verified_from > e)
        ):
            return "overdue"
        return "in_progress"

    events = [m for m, _t, _s in moves] + [
        m for m in (overdue_from, verified_from) if m is not None
    ]
    _series(m0, events, status, lambda row, since, n: add("status_at_end", row, g, since, n))

    def finding(e: int) -> str:
        last = max(((sid, f) for m, sid, f in verifications if m <= e), default=None)
        return (last[1] if last is not None else None) or "not_verified"

    _series(
        m0,
        [m for m, _i, _f in verifications],
        finding,
        lambda row, since, n: add("findings", row, g, since, n),
    )

    given: dict[str | None, int] = {}
    for _sid, kind, status_, service, done_on, _f in steps:
        if done_on is None or status_ not in SUPPORT_OK.get(kind, ()):
            continue
        row = "referral" if kind == "referral" else service
        m = month_of(done_on)
        given[row] = min(given.get(row, m), m)
    for row, m in given.items():
        add("support_by_service", row, g, m)
    if given:
        add("support_total", "", g, min(given.values()))

    if first_verified is not None:
        add("verify_days", (first_verified - case.received_on).days, "", verified_from)
    closed = [at for _tid, at, to in transitions if to == "closed"]
    if closed:
        first = min(closed)
        at = first if first.tzinfo is not None else first.replace(tzinfo=UTC)
        days = (at.astimezone(zone()).date() - case.received_on).days
        add("close_days", days, "", local_month(first))
    return out


def _placed_cases(session: Session, condition) -> list[Facts]:
    """The cases meeting ``condition`` with the path of their school's history row in force on
    the day each was received (the latest such row; None when there is none)."""
    placed = aliased(UnitParentHistory)
    found: dict[int, Facts] = {}
    for row in session.execute(
        select(
            Case.id,
            Case.unit_id,
            Case.received_on,
            Case.harmed_sex_group,
            Case.received_via,
            Case.verification_due_on,
            placed.path,
        )
        .select_from(Case)
        .outerjoin(placed, and_(placed.unit_id == Case.unit_id, in_force(placed, Case.received_on)))
        .where(condition)
        .order_by(Case.id, placed.valid_from)
    ):
        found[row[0]] = Facts(*row)
    return list(found.values())


def _case_figures(session: Session, condition) -> Iterable[tuple[Facts, list]]:
    """Each case meeting ``condition`` with its contributions (children read per chunk)."""
    cases = _placed_cases(session, condition)
    for i in range(0, len(cases), CHUNK * 4):
        chunk = cases[i : i + CHUNK * 4]
        ids = [c.id for c in chunk]
        persons: dict[int, list[Any]] = defaultdict(list)
        types: dict[int, list[Any]] = defaultdict(list)
        steps: dict[int, list[Any]] = defaultdict(list)
        moves: dict[int, list[Any]] = defaultdict(list)
        for pe in session.execute(
            select(
                CasePerson.case_id,
                CasePerson.position,
                CasePerson.sex,
                CasePerson.age_band,
                CasePerson.role,
                CasePerson.relationship,
                CasePerson.withdrawn_at,
            ).where(CasePerson.case_id.in_(ids))
        ):
            persons[pe[0]].append(tuple(pe[1:]))
        for case_id, kind in session.execute(
            select(CaseViolenceType.case_id, CaseViolenceType.type).where(
                CaseViolenceType.case_id.in_(ids)
            )
        ):
            types[case_id].append(kind)
        for st in session.execute(
            select(
                CaseStep.case_id,
                CaseStep.id,
                CaseStep.kind,
                CaseStep.status,
                CaseStep.service,
                CaseStep.done_on,
                CaseStep.finding,
            ).where(CaseStep.case_id.in_(ids))
        ):
            steps[st[0]].append(tuple(st[1:]))
        for tr in session.execute(
            select(
                CaseTransition.case_id,
                CaseTransition.id,
                CaseTransition.at,
                CaseTransition.to_status,
            ).where(CaseTransition.case_id.in_(ids))
        ):
            moves[tr[0]].append(tuple(tr[1:]))
        for c in chunk:
            yield c, contributions(c, persons[c.id], types[c.id], steps[c.id], moves[c.id])


# -- refresh ----------------------------------------------------------------------------------


def offices_of(unit_id: int, path: str) -> list[int]:
    """The offices a rollup row of ``unit_id`` placed by ``path`` is summed into: every unit
    the path names but the school itself."""
    return [int(part) for part in path.strip("/").split("/") if part and int(part) != unit_id]


OfficeDeltas = dict[tuple[int, int, str, str, str, int], int]


def _add_to_offices(deltas: OfficeDeltas, unit_id: int, rows, sign: int) -> None:
    """Add ``rows`` (path, month, figure, row, col, since, n) of ``unit_id``, times ``sign``,
    to the offices of their paths."""
    for path, month, figure, row, col, since, n in rows:
        for office in offices_of(unit_id, path):
            deltas[(office, month, figure, row, col, since)] += sign * n


def _recompute(
    session: Session, unit_id: int, months: set[int] | None, deltas: OfficeDeltas | None = None
) -> int:
    """Write again the rollups of one school, for ``months`` (None: all of them); when
    ``deltas`` is given, add to it what that changes in the offices' sums."""
    conn = session.connection()
    r = _rollups.c
    here = (
        r.unit_id == unit_id if months is None else and_(r.unit_id == unit_id, r.month.in_(months))
    )
    if deltas is not None:
        old = conn.execute(
            select(r.path, r.month, r.figure, r.row, r.col, r.since, r.n).where(here)
        )
        _add_to_offices(deltas, unit_id, old, -1)
    conn.execute(delete(_rollups).where(here))
    if months is None:
        condition = Case.unit_id == unit_id
    else:
        condition = and_(
            Case.unit_id == unit_id,
            or_(*(Case.received_on.between(*month_bounds(m)) for m in sorted(months))),
        )
    sums: dict[tuple, int] = defaultdict(int)
    for case, figures in _case_figures(session, condition):
        if case.path is None:  # no history row places the school that day: counted nowhere
            continue
        m = month_of(case.received_on)
        for figure, row, col, since, n in figures:
            sums[(m, case.path, figure, row, col, since)] += n
    rows = [
        {
            "unit_id": unit_id,
            "month": m,
            "path": path,
            "figure": figure,
            "row": row,
            "col": col,
            "since": since,
            "n": n,
        }
        for (m, path, figure, row, col, since), n in sums.items()
        if n
    ]
    for i in range(0, len(rows), 5000):
        conn.execute(insert(_rollups), rows[i : i + 5000])
    if deltas is not None:
        _add_to_offices(
            deltas,
            unit_id,
            (
                (w["path"], w["month"], w["figure"], w["row"], w["col"], w["since"], w["n"])
                for w in rows
            ),
            1,
        )
    return len(rows)


_OFFICE_KEY = ("office_id", "month", "figure", "row", "col", "since")


def _apply_to_offices(conn, deltas: OfficeDeltas) -> None:
    """Add the differences to the offices' sums (n = n + delta, the row made when missing)
    and remove the sums that come to nothing. Runs under the fold lock: one at a time."""
    rows = [dict(zip(_OFFICE_KEY, key, strict=True), n=n) for key, n in sorted(deltas.items()) if n]
    if not rows:
        return
    o = _offices.c
    upsert: Any = None
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as upsert
    if upsert is not None:
        stmt = upsert(_offices)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(_OFFICE_KEY), set_={"n": o.n + stmt.excluded.n}
        )
        for i in range(0, len(rows), 5000):
            conn.execute(stmt, rows[i : i + 5000])
    else:  # no upsert: read, then update or insert
        for row in rows:
            key = and_(*(o[k] == row[k] for k in _OFFICE_KEY))
            if conn.execute(select(o.n).where(key)).first() is None:
                conn.execute(insert(_offices), [row])
            else:
                conn.execute(_offices.update().where(key).values(n=o.n + row["n"]))
    offices = sorted({key[0] for key in deltas})
    months = sorted({key[1] for key in deltas})
    for i in range(0, len(offices), CHUNK):
        conn.execute(
            delete(_offices).where(
                o.office_id.in_(offices[i : i + CHUNK]), o.month.in_(months), o.n == 0
            )
        )


def offices_computed(conn) -> OfficeDeltas:
    """The offices' sums as the school rows give them (what case_office_rollups must hold)."""
    r = _rollups.c
    sums: OfficeDeltas = defaultdict(int)
    for unit_id, *rest in conn.execute(
        select(r.unit_id, r.path, r.month, r.figure, r.row, r.col, r.since, func.sum(r.n)).group_by(
            r.unit_id, r.path, r.month, r.figure, r.row, r.col, r.since
        )
    ):
        _add_to_offices(sums, unit_id, [rest], 1)
    return {key: n for key, n in sums.items() if n}


def offices_stored(conn) -> OfficeDeltas:
    """The offices' sums as case_office_rollups holds them."""
    o = _offices.c
    return {
        (office, month, figure, row, col, since): n
        for office, month, figure, row, col, since, n in conn.execute(
            select(o.office_id, o.month, o.figure, o.row, o.col, o.since, o.n)
        )
    }


def rebuild_offices(conn) -> int:
    """Sum the offices' rows again from the school rows (migration 0022): the number of rows
    written."""
    conn.execute(delete(_offices))
    rows = [
        dict(zip(_OFFICE_KEY, key, strict=True), n=n)
        for key, n in sorted(offices_computed(conn).items())
    ]
    for i in range(0, len(rows), 5000):
        conn.execute(insert(_offices), rows[i : i + 5000])
    return len(rows)


def refresh(session: Session) -> int:
    """Recompute the marked school-months in the session's transaction (it sees the session's
    own changes, as the scan does) and remove their marks; the number of marks handled. The
    caller commits or not (a report page's fold ends with its request, see ``sums``)."""
    conn = session.connection()
    if not conn.execute(select(_marks.c.id).limit(1)).first():
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    marks = conn.execute(select(_marks.c.id, _marks.c.unit_id, _marks.c.month)).all()
    wanted: dict[int, set[int] | None] = {}
    for _id, unit_id, month in marks:
        if month is None:
            wanted[unit_id] = None
        elif unit_id not in wanted or wanted[unit_id] is not None:
            current = wanted.setdefault(unit_id, set())
            assert current is not None
            current.add(month)
    deltas: OfficeDeltas | None = defaultdict(int) if table_exists(conn, _offices.name) else None
    for unit_id, months in sorted(wanted.items()):
        _recompute(session, unit_id, months, deltas)
    if deltas is not None:
        _apply_to_offices(conn, deltas)
    ids = [m[0] for m in marks]
    for i in range(0, len(ids), CHUNK):
        conn.execute(delete(_marks).where(_marks.c.id.in_(ids[i : i + CHUNK])))
    return len(marks)


def rebuild_all(session: Session) -> int:
    """Mark every school that has cases, then refresh: after a migration or a bulk load."""
    conn = session.connection()
    mark_units(conn, conn.scalars(select(_cases.c.unit_id).distinct()))
    return refresh(session)


# -- the report from rollups ------------------------------------------------------------------


def sums(
    session: Session,
    unit: Unit,
    date_from: date,
    date_to: date,
    shown: ShownTo | None,
    level: str | None,
    within: Unit | None,
    scope,
) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], int]] | None:
    """The summed figures of the report: {(figure, row, col): n} and the cases per path and
    column {(path, col): n}, the viewer's excluded cases taken out; None when changes of the
    period's months are not folded into the rollups (the caller answers from the scan).

    The rollups, the cases read to take the excluded ones out and the marks must be of one
    moment, or an excluded case changed meanwhile would show (+1 where it was, -1 where it
    is). On the primary, pending marks are folded in the caller's transaction (never committed
    here: the caller may hold locks of its own, such as a report being submitted; a report
    page's fold ends with its request, ``notify send-due`` folds them for good) under the
    fold lock, held to the end of the transaction so no other fold runs meanwhile; a change
    committed by someone else after the fold leaves a mark, seen at the end: the scan. A read
    replica cannot fold: it reads one snapshot (REPEATABLE READ, caseapp.db) and uses the
    rollups only when no mark of the period's months is pending there."""
    _fold(session)
    m_from, m_to = month_of(date_from), month_of(date_to)
    r = _rollups.c
    conditions = [
        r.month >= m_from,
        r.month <= m_to,
        r.since <= m_to,
        r.path.contains(f"/{unit.id}/"),
        *([r.path.contains(f"/{within.id}/")] if within is not None else []),
    ]
    if level is not None:
        conditions.append(r.unit_id.in_(select(Unit.id).where(Unit.level == level)))
    figures: dict[tuple[str, str, str], int] = defaultdict(int)
    if level is None and within is None:
        # The offices' sums of the unit and the rows of its own cases (a school's, or those
        # recorded at the office itself): a few hundred rows a month, whatever lies below.
        o = _offices.c
        summed = union_all(
            select(o.figure, o.row, o.col, o.n).where(
                o.office_id == unit.id, o.month >= m_from, o.month <= m_to, o.since <= m_to
            ),
            select(r.figure, r.row, r.col, r.n).where(r.unit_id == unit.id, *conditions),
        ).subquery()
        stmt = select(summed.c.figure, summed.c.row, summed.c.col, func.sum(summed.c.n))
        stmt = stmt.group_by(summed.c.figure, summed.c.row, summed.c.col)
    else:  # of some schools only: their own rows
        stmt = select(r.figure, r.row, r.col, func.sum(r.n)).where(*conditions)
        stmt = stmt.group_by(r.figure, r.row, r.col)
    for figure, row, col, n in session.execute(stmt):
        figures[(figure, row, col)] += int(n or 0)
    paths: dict[tuple[str, str], int] = defaultdict(int)
    for path, col, n in session.execute(
        select(r.path, r.col, func.sum(r.n))
        .where(*conditions, r.figure == "cases")
        .group_by(r.path, r.col)
    ):
        paths[(path, col)] += int(n or 0)
    if shown is not None:  # the cases of the period the viewer is excluded from
        excluded = and_(scope, shown.excluded(Case.id))
        for case, contributed in _case_figures(session, excluded):
            for figure, row, col, since, n in contributed:
                if since <= m_to:
                    figures[(figure, row, col)] -= n
                    if figure == "cases" and case.path is not None:
                        paths[(case.path, col)] -= n
    if _pending(session, m_from, m_to):
        return None
    return dict(figures), dict(paths)


def sums_by_school(
    session: Session, unit: Unit, date_from: date, date_to: date, schools: dict[int, bool]
) -> tuple[dict[int, dict[tuple[str, str, str], int]], dict[int, dict[str, int]]] | None:
    """The figures of each of ``schools`` (id -> whether it sat below ``unit`` all the period)
    as ``sums`` gives them for ``build(school, within=None if whole else unit)`` (the official
    figures: no viewer, no level), in one statement whatever their number: {school: {(figure,
    row, col): n}} and each school's cases per column {school: {col: n}} (its row of
    "per_unit"). None when changes of the period's months are not folded in (as ``sums``).

    Nothing sits under a school (models.units.PARENT_KINDS) and no office sum is kept for a
    school itself, so a school's figures are its own rows: those whose path names it are those
    of its id. A school that sat elsewhere for part of the period counts only the cases it
    received while below ``unit`` (the rows whose path names ``unit``), as ``within`` does."""
    _fold(session)
    m_from, m_to = month_of(date_from), month_of(date_to)
    r = _rollups.c
    moved = [school for school, whole in schools.items() if not whole]
    stmt = (
        select(r.unit_id, r.figure, r.row, r.col, func.sum(r.n))
        .where(
            r.unit_id.in_(list(schools)),
            r.month >= m_from,
            r.month <= m_to,
            r.since <= m_to,
            or_(~r.unit_id.in_(moved), r.path.contains(f"/{unit.id}/")) if moved else true(),
        )
        .group_by(r.unit_id, r.figure, r.row, r.col)
    )
    figures: dict[int, dict[tuple[str, str, str], int]] = defaultdict(lambda: defaultdict(int))
    per_unit: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for school, figure, row, col, n in session.execute(stmt):
        figures[school][(figure, row, col)] += int(n or 0)
        if figure == "cases":
            per_unit[school][col] += int(n or 0)
    if _pending(session, m_from, m_to):
        return None
    return (
        {school: dict(figures[school]) for school in schools},
        {school: dict(per_unit[school]) for school in schools},
    )


def _fold(session: Session) -> None:
    """On the primary, the pending marks folded in the caller's transaction under the fold
    lock (see ``sums``); a read replica cannot fold."""
    if reads_replica(session):
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    refresh(session)


def _pending(session: Session, m_from: int, m_to: int) -> bool:
    """Whether a change of the months ``m_from``..``m_to`` waits to be folded (a mark without
    a month stands for every month of its school)."""
    m = _marks.c
    found = session.execute(
        select(m.id)
        .where(or_(m.month.is_(None), and_(m.month >= m_from, m.month <= m_to)))
        .limit(1)
    ).first()
    return found is not None
