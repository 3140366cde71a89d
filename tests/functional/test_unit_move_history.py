"""When a unit with units below it moves, their paths change too: each of them gets its history
row of the new path from the day of the move (the old one ends that day), so earlier periods
still roll up through the old path. The move's one audit event covers every row written."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from caseapp.models import AuditEvent, Unit, UnitParentHistory
from caseapp.services.org import units
from tests.factories import make_unit

SINCE = date(2020, 1, 1)
MOVE_ON = date(2024, 9, 1)


def _rows(db, unit: Unit) -> list[tuple]:
    db.expire_all()
    return [
        (h.parent_id, h.path, h.valid_from, h.valid_to, h.opened)
        for h in db.scalars(
            select(UnitParentHistory)
            .where(UnitParentHistory.unit_id == unit.id)
            .order_by(UnitParentHistory.valid_from, UnitParentHistory.id)
        )
    ]


def _tree(db, world):
    province = db.get(Unit, world.units["PRV"])
    other = make_unit(db, None, "X-PRQ", "province", "Sở Giáo dục tỉnh Q", SINCE)
    commune = make_unit(db, province, "X-XA", "commune", "Xã Bình An", SINCE)
    school = make_unit(db, commune, "X-XA-S", "school", "Trường Tiểu học Bình An", SINCE)
    db.commit()
    return province, other, commune, school


def test_the_units_below_a_moved_unit_get_history_rows_of_their_new_path(db, world):
    province, other, commune, school = _tree(db, world)
    old_school_path = school.path
    units.move_unit(db, None, commune, other, MOVE_ON, commune.version)
    db.commit()  # the audit guard passes: every row written is covered by the event
    db.expire_all()
    school = db.get(Unit, school.id)
    assert school.path == f"{other.path}{commune.id}/{school.id}/"
    assert _rows(db, school) == [
        (commune.id, old_school_path, SINCE, MOVE_ON, True),
        (commune.id, school.path, MOVE_ON, None, False),
    ]
    assert _rows(db, commune)[-1] == (other.id, f"{other.path}{commune.id}/", MOVE_ON, None, False)
    event = db.scalar(
        select(AuditEvent).where(AuditEvent.action == "unit.move").order_by(AuditEvent.seq.desc())
    )
    assert json.loads(event.changes)["descendants_moved"] == 1


def test_every_current_history_row_has_the_units_path_after_a_move(db, world):
    province, other, commune, school = _tree(db, world)
    make_unit(db, commune, "X-XA-S2", "school", "Trường Mầm non Bình An", SINCE)
    db.commit()
    units.move_unit(db, None, commune, other, MOVE_ON, commune.version)
    db.commit()
    db.expire_all()
    current = dict(
        db.execute(
            select(UnitParentHistory.unit_id, UnitParentHistory.path).where(
                UnitParentHistory.valid_to.is_(None)
            )
        ).all()
    )
    for unit in db.scalars(select(Unit)):
        assert current[unit.id] == unit.path, unit.code


def test_a_unit_below_that_began_after_the_move_takes_the_new_path_itself(db, world):
    """Its whole time is under the new path: no row of zero or negative length."""
    province, other, commune, school = _tree(db, world)
    late = make_unit(db, commune, "X-XA-S3", "school", "Trường THCS Bình An", date(2025, 1, 1))
    db.commit()
    units.move_unit(db, None, commune, other, MOVE_ON, commune.version)
    db.commit()
    late = db.get(Unit, late.id)
    assert _rows(db, late) == [(commune.id, late.path, date(2025, 1, 1), None, True)]


def test_moving_it_back_keeps_every_period(db, world):
    province, other, commune, school = _tree(db, world)
    first_path = school.path
    units.move_unit(db, None, commune, other, MOVE_ON, commune.version)
    db.commit()
    commune = db.get(Unit, commune.id)
    units.move_unit(db, None, commune, province, date(2025, 3, 1), commune.version)
    db.commit()
    rows = _rows(db, db.get(Unit, school.id))
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (first_path, SINCE, MOVE_ON),
        (f"{other.path}{commune.id}/{school.id}/", MOVE_ON, date(2025, 3, 1)),
        (first_path, date(2025, 3, 1), None),
    ]
