"""Where a unit sat on a given day: the parent history read by reports.

The rule: a case rolls up to a unit U iff the parent-history row of its school in force on the
day the case was received has ``/U.id/`` in its path. The first row of a unit (``opened``) also
answers for the days before it (a unit recorded later than it existed). Access follows the tree
of today; only the figures follow the history."""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from caseapp.models import Case, Unit, UnitParentHistory


def in_force(row, on) -> ColumnElement[bool]:
    """The history ``row`` (an aliased UnitParentHistory) holds on the day ``on`` (a date or a
    date column)."""
    return and_(
        or_(row.opened, row.valid_from <= on),
        or_(row.valid_to.is_(None), on < row.valid_to),
    )


def rolls_up(unit: Unit, on=Case.received_on, unit_id=Case.unit_id) -> ColumnElement[bool]:
    """The condition that the record of ``unit_id`` dated ``on`` (default: a case, by the day it
    was received) rolls up to ``unit``. Ids are delimited in paths: "/4/" never matches "/14/"."""
    row = aliased(UnitParentHistory)
    return exists(
        select(row.id).where(
            row.unit_id == unit_id,
            row.path.contains(f"/{unit.id}/"),
            in_force(row, on),
        )
    )


def ever_below(unit: Unit, unit_id=Case.unit_id) -> ColumnElement[bool]:
    """The condition that the unit ``unit_id`` has ever sat below (or been) ``unit``."""
    row = aliased(UnitParentHistory)
    return exists(select(row.id).where(row.unit_id == unit_id, row.path.contains(f"/{unit.id}/")))


def children_during(session: Session, unit: Unit, date_from: date, date_to: date) -> list[Unit]:
    """The units that sat directly under ``unit`` on some day of the period, by code (a unit's
    first row also answers for the days before it, as in the roll-up; a unit closed before the
    period is not among them)."""
    row = UnitParentHistory
    overlapping = select(row.unit_id).where(
        row.parent_id == unit.id,
        or_(row.opened, row.valid_from <= date_to),
        or_(row.valid_to.is_(None), row.valid_to > date_from),
    )
    return list(
        session.scalars(
            select(Unit)
            .where(
                Unit.id.in_(overlapping),
                or_(Unit.valid_to.is_(None), Unit.valid_to > date_from),
            )
            .order_by(Unit.code)
        )
    )


def parent_at(session: Session, unit_id: int, on: date) -> Unit | None:
    """The parent ``unit_id`` had on the day ``on`` (None: at the top, or unknown)."""
    row = aliased(UnitParentHistory)
    parent_id = session.scalar(
        select(row.parent_id)
        .where(row.unit_id == unit_id, in_force(row, on))
        .order_by(row.valid_from.desc())
        .limit(1)
    )
    return session.get(Unit, parent_id) if parent_id is not None else None


def paths_during(
    session: Session, unit: Unit, date_from: date, date_to: date, kind: str | None = None
) -> dict[int, str]:
    """The units (of ``kind`` when given) that sat below or at ``unit`` on some day of the
    period, each with its latest path of the period (the id of every unit above it, then its
    own): for a report's list of schools and the office each one counts under."""
    row = UnitParentHistory
    stmt = (
        select(row.unit_id, row.path)
        .join(Unit, Unit.id == row.unit_id)
        .where(
            row.path.contains(f"/{unit.id}/"),
            or_(row.opened, row.valid_from <= date_to),
            or_(row.valid_to.is_(None), row.valid_to > date_from),
            or_(Unit.valid_to.is_(None), Unit.valid_to > date_from),
        )
        .order_by(row.valid_from)
    )
    if kind is not None:
        stmt = stmt.where(Unit.kind == kind)
    return {unit_id: path for unit_id, path in session.execute(stmt)}


def elsewhere_during(
    session: Session, unit: Unit, unit_ids: list[int], date_from: date, date_to: date
) -> set[int]:
    """Those of ``unit_ids`` that did not sit below ``unit`` on every day of the period they
    were recorded for (a row of their history in force during the period places them
    elsewhere): one statement for them all."""
    row = UnitParentHistory
    return set(
        session.scalars(
            select(row.unit_id)
            .where(
                row.unit_id.in_(unit_ids),
                or_(row.opened, row.valid_from <= date_to),
                or_(row.valid_to.is_(None), row.valid_to > date_from),
                ~row.path.contains(f"/{unit.id}/"),
            )
            .distinct()
        )
    )
