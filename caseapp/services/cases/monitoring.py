"""Every morning's screens: "my work" for a focal point, monitoring for an officer. All counts
are SQL aggregates over the user's scope."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CompoundSelect,
    Date,
    Select,
    cast,
    func,
    literal_column,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy import case as when
from sqlalchemy.orm import Session

from caseapp.clock import local_today, zone
from caseapp.db import present, reads_replica, utcnow
from caseapp.errors import NotFound
from caseapp.kept_statements import KEPT, KeptStatements, units_key, viewer_key
from caseapp.models import (
    Case,
    CaseExclusion,
    CaseStep,
    CaseTransition,
    Unit,
    UnitCaseTally,
    UnitMonthTally,
    UnitOverdueDayTally,
    UnitOverdueMonthTally,
)
from caseapp.prepared_statements import written_in
from caseapp.security.authz import effective_grants, scope_filter, scope_paths
from caseapp.services.cases import tally
from caseapp.services.cases.access import primary_exclusions, scope_unit_ids, visible_cases
from caseapp.services.cases.deadlines import (
    first_step_due_today,
    follow_ups_of_window,
    overdue_condition,
)
from caseapp.services.cases.listing import LIST_COLUMNS, OPEN, ListedCase
from caseapp.services.cases.tallies import (
    counts_of,
    day_start,
    local_month,
    month_of,
    overdue_day,
)
from caseapp.services.cases.tally import Tally
from caseapp.services.org.units import unit_in_scope

if TYPE_CHECKING:
    from caseapp.models import User

# Rows per list of "my work": a phone screen each. The rest is one link away, in the case list
# filtered the same way (overdue, due today, new, follow-ups coming), so the page costs the
# same with ten cases waiting or ten thousand (issue 16 measured 50 rows per list as the
# growth of the page: 200 rows rendered at 1,000,000 cases).
SHOWN = 10


@dataclass(frozen=True)
class WorkStatements:
    """My work's lists as statements (see my_work), each reading up to SHOWN + 1 rows, and
    ``together``: the four as one statement (one round trip), each row tagged with its list
    (column ``list``: WORK_LISTS' index)."""

    overdue: Select
    today: tuple[Select, ...]
    new: Select
    upcoming: Select
    together: Select | CompoundSelect


# The lists of ``WorkStatements.together`` by their tag, and the order of each (its rows
# come back in no particular order: a UNION ALL keeps none).
WORK_LISTS = ("overdue", "today", "new", "upcoming")
_WORK_ORDER: dict[str, Callable[[Any], tuple]] = {
    "overdue": lambda row: (row.overdue_after, row.id),
    "today": lambda row: (row.received_on, row.id),
    "new": lambda row: (-row.received_on.toordinal(), -row.id),
    "upcoming": lambda row: (row.follow_up_due_on, row.id),
}


@dataclass(frozen=True)
class WorkList:
    """The first SHOWN rows of a list of "my work"; ``count`` is how many there are, or "more
    than SHOWN" (then the page links to the case list that has them all)."""

    rows: Sequence
    count: Tally

    @classmethod
    def of(cls, rows: Sequence) -> WorkList:
        """From up to SHOWN + 1 rows read in the list's order."""
        return cls(rows[:SHOWN], Tally(min(len(rows), SHOWN), len(rows) > SHOWN))


# My work's statements, kept per scope (kept_statements.viewer_key), units and day: building
# them anew took about 2 ms of the page.
_work: KeptStatements[WorkStatements] = KeptStatements(KEPT)


def _work_statements(user: User, units, today: date, postgresql: bool = False) -> WorkStatements:
    """My work's four lists for ``user`` over ``units`` (ids, or the select() of a wide
    scope), built from nothing else than them, the day and the zone (the key of ``_work``):
    the present is db.present, read when each runs."""
    mine = visible_cases(user, "case.write").where(Case.unit_id.in_(units))
    no_day = cast(null(), Date)

    def columns(tag: int, due_on=no_day) -> tuple:
        # The same columns in every list (a UNION ALL): its tag, the row, and the keys of
        # the lists' orders that LIST_COLUMNS lacks.
        return (
            literal_column(str(tag)).label("list"),
            *LIST_COLUMNS,
            Case.overdue_after,
            due_on.label("follow_up_due_on"),
        )

    def first(stmt, tag: int):
        # Each list stops one row past SHOWN, in its own order (to know there are more).
        return stmt.with_only_columns(*columns(tag)).limit(SHOWN + 1)

    overdue = first(mine.where(overdue_condition()).order_by(Case.overdue_after, Case.id), 0)
    # Due today as the case list reads it (its "see all" link), one step of each case, from
    # the schools' steps not done due today in the order of the days their cases were received
    # (ix_case_steps_unit_due_open_received, on the steps' copies of both): the first rows
    # read and no more, where reading the cases whose clock ends today and every step due
    # today of the archive, to sort them, took 4.9 ms of a school of 50,000 cases.
    today_lists = (
        first(
            mine.join(CaseStep, CaseStep.case_id == Case.id)
            .where(*first_step_due_today(today=today), CaseStep.unit_id.in_(units))
            .order_by(CaseStep.received_on, CaseStep.case_id),
            1,
        ),
    )
    new = first(
        mine.where(Case.status == literal_column("'new'"), ~overdue_condition()).order_by(
            Case.received_on.desc(), Case.id.desc()
        ),
        2,
    )
    upcoming = (
        mine.where(OPEN)
        .with_only_columns(*columns(3, CaseStep.due_on))
        .join(CaseStep, CaseStep.case_id == Case.id)
        .where(
            *follow_ups_of_window(today=today),
            # The steps' copy of the school (step_copies): the same units, read from
            # ix_case_steps_unit_follow_ups_due.
            CaseStep.unit_id.in_(units),
        )
        # The school's follow-ups not done of the window from ix_case_steps_unit_follow_ups_due
        # (school, due day, case), joined to its open cases.
        .order_by(CaseStep.due_on, CaseStep.case_id)
        .limit(SHOWN + 1)
    )
    lists = (overdue, *today_lists, new, upcoming)
    # Each list a subquery of its own (its ORDER BY and LIMIT inside): PostgreSQL plans each
    # as it planned the list alone, and SQLite takes no LIMIT in a part of a UNION otherwise.
    # Planned as counts are (tally.read_by_indexes): each list reads its first rows from an
    # index in its order, where a bitmap read all 506 steps due today of the benchmark's
    # busiest school to sort them (6.8 ms against 0.1).
    together = tally.planned_for_indexes(
        union_all(*(select(stmt.subquery()) for stmt in lists)), postgresql
    )
    return WorkStatements(overdue, today_lists, new, upcoming, together)


def work_statements(session: Session, user: User) -> WorkStatements:
    """My work's statements for ``user`` now: kept per scope (grants and exclusions:
    kept_statements.viewer_key), the units of their scope as read now, the rows a list shows,
    and the day where they are."""
    # The units as ids, read once for the cases and the steps (their copy of the school).
    units = scope_unit_ids(session, user, "case.write")
    today = local_today()  # read once: for the key and for the statements built under it
    postgresql = session.get_bind().dialect.name == "postgresql"
    key = (
        viewer_key(user),
        units_key(units),
        SHOWN,
        today,
        str(zone()),
        postgresql,
    )
    return _work.get(key, lambda: _work_statements(user, units, today, postgresql))


def my_work(session: Session, user: User) -> dict[str, WorkList]:
    """Cases of the user's schools needing action: overdue first (the longest overdue on
    top), due today, new, and the follow-ups coming in the next two weeks. Each list is read
    from an index in its own order and stops one row past SHOWN (to know there are more): the
    overdue moment by unit, the new cases by unit and day received, the steps still open by
    unit and due day ("due today" in the order of the days received, the follow-ups by due
    day). The four lists go as one statement, sent with its values written in and planned
    once (prepared_statements.written_in)."""
    stmts = work_statements(session, user)
    found: dict[str, list] = {name: [] for name in WORK_LISTS}
    for row in tally.read_by_indexes(session, stmts.together):
        found[WORK_LISTS[row.list]].append(row)
    for name, rows in found.items():
        rows.sort(key=_WORK_ORDER[name])
    return {
        # Overdue implies open (no clock runs on a closed case or one awaiting closure).
        "overdue": WorkList.of([_listed(row) for row in found["overdue"]]),
        "today": WorkList.of([_listed(row) for row in found["today"]]),
        "new": WorkList.of([_listed(row) for row in found["new"]]),
        "upcoming": WorkList.of(
            [(_listed(row), row.follow_up_due_on) for row in found["upcoming"]]
        ),
    }


def _listed(row) -> ListedCase:
    """A row of ``WorkStatements.together`` as the case list reads its rows."""
    return ListedCase(**{name: getattr(row, name) for name in _LISTED})


_LISTED = [column.key for column in LIST_COLUMNS]


def monitored_unit(session: Session, user: User, code: str | None) -> Unit:
    """The unit whose monitoring ``user`` asks for by ``code`` (a form error outside their
    units); without a code, the outermost unit they oversee."""
    if code and code.strip():
        return unit_in_scope(session, user, code, "case.oversee")
    return default_unit(session, user)


def default_unit(session: Session, user: User) -> Unit:
    """The outermost unit ``user`` oversees: the unit of one of their grants, read with them
    (sessions.load_session), not read again."""
    paths = scope_paths(user, "case.oversee")
    unit = next((g.unit for g in effective_grants(user) if paths and g.unit.path == paths[0]), None)
    if unit is None:
        raise NotFound()
    return unit


def offices_below(session: Session, unit: Unit) -> list[Unit]:
    """The open units right below ``unit`` that are not schools (to go down the tree; an office
    the reform closed has no school any more). Its values written in: planned once per unit
    and connection."""
    stmt = (
        select(Unit)
        .where(Unit.parent_id == unit.id, Unit.kind != "school", Unit.valid_to.is_(None))
        .order_by(Unit.name)
    )
    return list(session.scalars(stmt, execution_options=written_in))


def _of_level(level: str | None):
    """The condition on the joined Unit: a school of ``level`` (None: every unit)."""
    return Unit.level == level if level is not None else true()


def _schools(user: User, unit: Unit, level: str | None):
    """A select() of the ids of the schools below ``unit`` (of ``level``) whose cases ``user``
    may read."""
    return select(Unit.id).where(
        Unit.path.startswith(unit.path),
        Unit.kind == "school",
        scope_filter(user, "case.read", Unit.path),
        _of_level(level),
    )


# Monitoring's statements, kept per scope (kept_statements.viewer_key), unit and level: the
# schools of a unit with their tallies, the cases the person is excluded from, the month
# tallies of the trend.
_monitoring: KeptStatements[Select] = KeptStatements(KEPT)


def _readable(user: User, unit: Unit, level: str | None) -> tuple:
    """The key part of a statement reading ``_schools(user, unit, level)``."""
    return (viewer_key(user), unit.path, level)


def _excluded(session: Session, user: User, unit: Unit, level: str | None) -> list:
    """The cases of the schools below ``unit`` (of ``level``) naming ``user`` as excluded (a
    handful: the counts take them out): school, status, risk, serious risk, assignee, day
    received, overdue. Nothing is read for a person whose sign-in session found them
    excluded from no case (access.excluded_from)."""
    known = user.excluded_case_ids
    if known is None and reads_replica(session):
        # Not listed by the sign-in session (past its limit): the primary's list, read now,
        # so that no case comes in through the replica's lag (as for reports).
        known = primary_exclusions(session, user)
    if known == ():
        return []

    def build() -> Select:
        stmt = select(
            Case.id,
            Case.unit_id,
            Case.status,
            Case.risk_level,
            Case.serious_risk_to_child,
            Case.assigned_to_id,
            Case.received_on,
            when((overdue_condition(), 1), else_=0).label("overdue"),
        ).where(Case.unit_id.in_(_schools(user, unit, level).scalar_subquery()))
        if known is not None:
            return stmt.where(Case.id.in_(known))
        return stmt.join(CaseExclusion, CaseExclusion.case_id == Case.id).where(
            CaseExclusion.user_id == user.id
        )

    stmt = _monitoring.get(("excluded", *_readable(user, unit, level), known), build)
    return list(session.execute(stmt, execution_options=written_in).all())


def overdue_now(today: date):
    """The overdue cases of the school (the statement's Unit) at the present, ``today`` being
    the present's day (tallies.overdue_day): the cases whose clock ran out on a day before
    today, summed from a row a month before this one and a row a day of this month
    (tallies.py), and today's cases whose moment lies before the present counted from the
    index of moments by school (ix_cases_unit_overdue_after: the clocks that are moments of
    the day; those that are days run out at its last microsecond); less, should the present
    precede today's start (the instant a day begins), the cases whose moment lies between the
    two."""
    start = day_start(today)

    def summed(table, *conditions):
        return (
            select(func.coalesce(func.sum(table.cases), 0))
            .where(table.unit_id == Unit.id, *conditions)
            .correlate(Unit)
            .scalar_subquery()
        )

    def moments(*conditions):
        return (
            select(func.count())
            .select_from(Case)
            .where(Case.unit_id == Unit.id, *conditions)
            .correlate(Unit)
            .scalar_subquery()
        )

    return (
        summed(UnitOverdueMonthTally, UnitOverdueMonthTally.month < month_of(today))
        + summed(
            UnitOverdueDayTally,
            UnitOverdueDayTally.day >= today.replace(day=1),
            UnitOverdueDayTally.day < today,
        )
        + moments(Case.overdue_after >= start, Case.overdue_after < present())
        - moments(Case.overdue_after >= present(), Case.overdue_after < start)
    )


def _schools_and_tallies(user: User, unit: Unit, level: str | None, today: date) -> Select:
    """Each school below ``unit`` (of ``level``) in the tree's order, as plain columns (a
    province lists hundreds), with its tallies and its overdue cases (``overdue_now``) when
    ``user`` may read its cases (else none)."""
    readable = UnitCaseTally.unit_id.is_not(None)
    tally = (
        UnitCaseTally.open,
        UnitCaseTally.high_risk,
        UnitCaseTally.unassigned,
        UnitCaseTally.total,
        when((readable, overdue_now(today)), else_=None).label("overdue"),
    )
    return (
        select(Unit.id, Unit.code, Unit.name, UnitCaseTally.unit_id.label("tallied"), *tally)
        .outerjoin(
            UnitCaseTally,
            (UnitCaseTally.unit_id == Unit.id)
            & UnitCaseTally.unit_id.in_(_schools(user, unit, level).scalar_subquery()),
        )
        .where(Unit.path.startswith(unit.path), Unit.kind == "school", _of_level(level))
        .order_by(Unit.path)
    )


def overview(
    session: Session, user: User, unit: Unit, level: str | None = None
) -> tuple[list[dict], list[dict]]:
    """The monitoring page's figures: ``school_rows`` and ``monthly_trend``, the cases
    ``user`` is excluded from read once for both."""
    hidden = _excluded(session, user, unit, level)
    return (
        school_rows(session, user, unit, level, hidden=hidden),
        monthly_trend(session, user, unit, level=level, hidden=hidden),
    )


def school_rows(
    session: Session,
    user: User,
    unit: Unit,
    level: str | None = None,
    *,
    hidden: list | None = None,
) -> list[dict]:
    """One row per school below ``unit`` (of ``level`` when given): the school (its id, code
    and name), open, overdue, high-risk, unassigned and all cases. Read from the schools'
    tallies (tallies.py: a row a school, and for the overdue cases a row a school and month or
    day their clocks ran out, with today's cases counted: ``overdue_now``) less the few cases
    the user is excluded from (``hidden``: as _excluded reads them, read here when not
    given)."""
    today = overdue_day(utcnow())
    schools = session.execute(
        _monitoring.get(
            ("schools", *_readable(user, unit, level), today, str(zone())),
            lambda: _schools_and_tallies(user, unit, level, today),
        ),
        execution_options=written_in,
    ).all()
    kept = {
        row.id: [row.open, row.high_risk, row.unassigned, row.total]
        for row in schools
        if row.tallied is not None
    }
    overdue = {row.id: int(row.overdue or 0) for row in schools if row.tallied is not None}
    if hidden is None:
        hidden = _excluded(session, user, unit, level)
    hidden_overdue: dict[int, int] = {}
    for row in hidden:
        counts = kept.setdefault(row.unit_id, [0, 0, 0, 0])
        for i, n in enumerate(
            counts_of(row.status, row.risk_level, row.serious_risk_to_child, row.assigned_to_id)
        ):
            counts[i] -= n
        hidden_overdue[row.unit_id] = hidden_overdue.get(row.unit_id, 0) + row.overdue
    rows = []
    for school in schools:
        counts = kept.get(school.id, [0, 0, 0, 0])
        rows.append(
            {
                "unit": school,
                "open": counts[0],
                "overdue": overdue.get(school.id, 0) - hidden_overdue.get(school.id, 0),
                "high_risk": counts[1],
                "unassigned": counts[2],
                "total": counts[3],
            }
        )
    return rows


def monthly_trend(
    session: Session,
    user: User,
    unit: Unit,
    months: int = 12,
    level: str | None = None,
    *,
    hidden: list | None = None,
) -> list[dict]:
    """Cases received and cases closed per month, the last ``months`` months (of the schools of
    ``level`` when given); ``hidden`` as in school_rows."""
    today = local_today()
    index = today.year * 12 + today.month - 1 - (months - 1)
    start = today.replace(year=index // 12, month=index % 12 + 1, day=1)
    got: dict[tuple[int, int], int] = {}
    done: dict[tuple[int, int], int] = {}
    tallies = _monitoring.get(
        ("trend", *_readable(user, unit, level), index),
        lambda: (
            select(
                UnitMonthTally.month,
                func.sum(UnitMonthTally.received),
                func.sum(UnitMonthTally.closed),
            )
            .where(
                UnitMonthTally.unit_id.in_(_schools(user, unit, level).scalar_subquery()),
                UnitMonthTally.month >= index,
            )
            .group_by(UnitMonthTally.month)
        ),
    )
    for month, received, closed in session.execute(tallies, execution_options=written_in):
        key = (int(month) // 12, int(month) % 12 + 1)
        got[key], done[key] = int(received or 0), int(closed or 0)
    # Less the cases the user is excluded from (a handful), received or closed in the window.
    if hidden is None:
        hidden = _excluded(session, user, unit, level)
    for row in hidden:
        if row.received_on >= start:
            key = (row.received_on.year, row.received_on.month)
            got[key] = got.get(key, 0) - 1
    if hidden:
        for (at,) in session.execute(
            select(CaseTransition.at).where(
                CaseTransition.case_id.in_([row.id for row in hidden]),
                CaseTransition.to_status == "closed",
            )
        ):
            month = local_month(at)
            if month >= index:
                key = (month // 12, month % 12 + 1)
                done[key] = done.get(key, 0) - 1
    out = []
    year, month = start.year, start.month
    for _ in range(months):
        out.append(
            {
                "year": year,
                "month": month,
                "received": got.get((year, month), 0),
                "closed": done.get((year, month), 0),
            }
        )
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return out
