"""Every morning's screens: "my work" for a focal point, monitoring for an officer. All counts
are SQL aggregates over the user's scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import case as when
from sqlalchemy import extract, func, literal_column, or_, select, true
from sqlalchemy.orm import Session, contains_eager

from caseapp.clock import local_today
from caseapp.errors import NotFound
from caseapp.models import Case, CaseCounter, CaseExclusion, CaseStep, CaseTransition, Unit
from caseapp.security.authz import scope_filter, scope_paths
from caseapp.services.cases.access import in_scope_units, visible_cases
from caseapp.services.cases.deadlines import ACTIVE, overdue_condition
from caseapp.services.cases.listing import OPEN
from caseapp.services.org.units import unit_in_scope

if TYPE_CHECKING:
    from caseapp.models import User

LIMIT = 50


def _cases(stmt, session: Session) -> list[Case]:
    return list(session.scalars(stmt.options(contains_eager(Case.unit)).limit(LIMIT)).unique())


def my_work(session: Session, user: User) -> dict[str, Sequence[object]]:
    """Cases of the user's schools needing action: overdue first (the longest overdue on
    top), due today, new, and the follow-ups coming in the next two weeks. Each list is read
    from an index in its own order and stops at LIMIT: the overdue moment by unit, the steps
    still open by due day, the new cases by unit and day received."""
    mine = visible_cases(user, "case.write").where(in_scope_units(session, user, "case.write"))
    today = local_today()
    soon = today + timedelta(days=14)
    upcoming = session.execute(
        mine.where(OPEN)
        .with_only_columns(Case, CaseStep.due_on)
        .join(CaseStep, CaseStep.case_id == Case.id)
        .where(
            CaseStep.done_on.is_(None),
            CaseStep.due_on >= today,
            CaseStep.due_on <= soon,
            CaseStep.kind == "follow_up",
        )
        .options(contains_eager(Case.unit))
        .order_by(CaseStep.due_on, Case.id)
        .limit(LIMIT)
    ).all()
    due_today = select(CaseStep.case_id).where(CaseStep.done_on.is_(None), CaseStep.due_on == today)
    return {
        # Overdue implies open (no clock runs on a closed case or one awaiting closure).
        "overdue": _cases(
            mine.where(overdue_condition()).order_by(Case.overdue_after, Case.id), session
        ),
        "today": _cases(
            mine.where(
                Case.id.in_(due_today), Case.status.in_(ACTIVE), ~overdue_condition()
            ).order_by(Case.received_on, Case.id),
            session,
        ),
        "new": _cases(
            mine.where(Case.status == literal_column("'new'"), ~overdue_condition()).order_by(
                Case.received_on.desc(), Case.id.desc()
            ),
            session,
        ),
        "upcoming": upcoming,
    }


def monitored_unit(session: Session, user: User, code: str | None) -> Unit:
    """The unit whose monitoring ``user`` asks for by ``code`` (a form error outside their
    units); without a code, the outermost unit they oversee."""
    if code and code.strip():
        return unit_in_scope(session, user, code, "case.oversee")
    return default_unit(session, user)


def default_unit(session: Session, user: User) -> Unit:
    """The outermost unit ``user`` oversees."""
    unit = session.scalar(select(Unit).where(Unit.path == scope_paths(user, "case.oversee")[0]))
    if unit is None:
        raise NotFound()
    return unit


def offices_below(session: Session, unit: Unit) -> list[Unit]:
    """The open units right below ``unit`` that are not schools (to go down the tree; an office
    the reform closed has no school any more)."""
    return list(
        session.scalars(
            select(Unit)
            .where(Unit.parent_id == unit.id, Unit.kind != "school", Unit.valid_to.is_(None))
            .order_by(Unit.name)
        )
    )


def _of_level(level: str | None):
    """The condition on the joined Unit: a school of ``level`` (None: every unit)."""
    return Unit.level == level if level is not None else true()


def school_rows(session: Session, user: User, unit: Unit, level: str | None = None) -> list[dict]:
    """One row per school below ``unit`` (of ``level`` when given): open, overdue, high-risk
    and unassigned cases."""
    schools = list(
        session.scalars(
            select(Unit)
            .where(Unit.path.startswith(unit.path), Unit.kind == "school", _of_level(level))
            .order_by(Unit.path)
        )
    )
    # Counted over the open cases alone (the partial index ix_cases_unit_open holds every
    # column counted here), the archive of closed ones never read; all the cases of a school
    # from its reference counters (one row a year), less those the user is excluded from.
    counts = session.execute(
        visible_cases(user)
        .where(
            in_scope_units(session, user), Unit.path.startswith(unit.path), _of_level(level), OPEN
        )
        .with_only_columns(
            Case.unit_id,
            func.count(Case.id).label("open"),
            func.sum(when((overdue_condition(), 1), else_=0)).label("overdue"),
            func.sum(
                when(
                    (
                        or_(Case.risk_level.in_(("high", "immediate")), Case.serious_risk_to_child),
                        1,
                    ),
                    else_=0,
                )
            ).label("high_risk"),
            func.sum(when((Case.assigned_to_id.is_(None), 1), else_=0)).label("unassigned"),
        )
        .group_by(Case.unit_id)
    ).all()
    totals = _recorded(session, user, unit, level)
    by_unit = {row.unit_id: row for row in counts}
    rows = []
    for school in schools:
        row = by_unit.get(school.id)
        rows.append(
            {
                "unit": school,
                "open": int(row.open or 0) if row else 0,
                "overdue": int(row.overdue or 0) if row else 0,
                "high_risk": int(row.high_risk or 0) if row else 0,
                "unassigned": int(row.unassigned or 0) if row else 0,
                "total": totals.get(school.id, 0),
            }
        )
    return rows


def _recorded(session: Session, user: User, unit: Unit, level: str | None) -> dict[int, int]:
    """All the cases of each school below ``unit`` that ``user`` may see: the numbers its
    reference counters gave out (every case is numbered in the transaction that records it,
    and none is ever deleted), less the cases naming the user as excluded."""
    schools = (
        select(Unit.id)
        .where(
            Unit.path.startswith(unit.path),
            scope_filter(user, "case.read", Unit.path),
            _of_level(level),
        )
        .scalar_subquery()
    )
    given = session.execute(
        select(CaseCounter.unit_id, func.sum(CaseCounter.last_number))
        .where(CaseCounter.unit_id.in_(schools))
        .group_by(CaseCounter.unit_id)
    ).all()
    excluded = session.execute(
        select(Case.unit_id, func.count(Case.id))
        .join(CaseExclusion, CaseExclusion.case_id == Case.id)
        .where(CaseExclusion.user_id == user.id, Case.unit_id.in_(schools))
        .group_by(Case.unit_id)
    ).all()
    out = {unit_id: int(n or 0) for unit_id, n in given}
    for unit_id, n in excluded:
        out[unit_id] = out.get(unit_id, 0) - int(n)
    return out


def monthly_trend(
    session: Session, user: User, unit: Unit, months: int = 12, level: str | None = None
) -> list[dict]:
    """Cases received and cases closed per month, the last ``months`` months (of the schools of
    ``level`` when given)."""
    today = local_today()
    index = today.year * 12 + today.month - 1 - (months - 1)
    start = today.replace(year=index // 12, month=index % 12 + 1, day=1)
    scope = visible_cases(user).where(
        in_scope_units(session, user), Unit.path.startswith(unit.path), _of_level(level)
    )
    received = session.execute(
        scope.where(Case.received_on >= start)
        .with_only_columns(
            extract("year", Case.received_on).label("y"),
            extract("month", Case.received_on).label("m"),
            func.count(Case.id),
        )
        .group_by("y", "m")
    ).all()
    closed = session.execute(
        scope.where(CaseTransition.to_status == "closed", CaseTransition.at >= start)
        .join(CaseTransition, CaseTransition.case_id == Case.id)
        .with_only_columns(
            extract("year", CaseTransition.at).label("y"),
            extract("month", CaseTransition.at).label("m"),
            func.count(CaseTransition.id),
        )
        .group_by("y", "m")
    ).all()
    got = {(int(y), int(m)): n for y, m, n in received}
    done = {(int(y), int(m)): n for y, m, n in closed}
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
