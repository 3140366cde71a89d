"""Migration 0011 on a database already in use: the units recorded before it get a school level
and ownership or a commune local type guessed from their names, each unit's first history row
answers for the days before it, a history row left stale by an old move takes its unit's path,
and the migration goes down to 0010 again keeping every unit."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import inspect

from caseapp import migrate

UNITS = sa.table(
    "units",
    sa.column("id", sa.Integer),
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("kind", sa.String),
    sa.column("parent_id", sa.Integer),
    sa.column("path", sa.String),
    sa.column("valid_from", sa.Date),
    sa.column("valid_to", sa.Date),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("version", sa.Integer),
)
HISTORY = sa.table(
    "unit_parent_history",
    sa.column("id", sa.Integer),
    sa.column("unit_id", sa.Integer),
    sa.column("parent_id", sa.Integer),
    sa.column("path", sa.String),
    sa.column("valid_from", sa.Date),
    sa.column("valid_to", sa.Date),
)
SINCE = date(2020, 1, 1)
MOVED = date(2024, 9, 1)

# (id, code, name, kind, parent id) and what 0011 makes of it: (level, ownership, local_type).
SEEDED = [
    (1, "P", "Sở Giáo dục và Đào tạo tỉnh Thử", "province", None, (None, None, None)),
    (2, "W", "Phường Ba Đình", "commune", 1, (None, None, "ward")),
    (3, "Z", "Đặc khu Côn Đảo", "commune", 1, (None, None, "special_zone")),
    (4, "C", "Xã Tân Lập", "commune", 1, (None, None, "commune")),
    (5, "D", "Phòng Giáo dục và Đào tạo huyện Cũ", "district", 1, (None, None, None)),
    (6, "S-MN", "Trường Mầm non Hoa Mai", "school", 2, ("preschool", "public", None)),
    (7, "S-TH", "Trường Tiểu học Kim Đồng", "school", 2, ("primary", "public", None)),
    (8, "S-CS", "Trường THCS Lê Lợi", "school", 4, ("lower_secondary", "public", None)),
    (9, "S-PT", "Trường THPT Chu Văn An", "school", 1, ("upper_secondary", "public", None)),
    (10, "S-LC", "Trường TH&THCS Xuân Hoà", "school", 4, ("multi_level", "public", None)),
    (11, "S-TX", "Trung tâm GDNN-GDTX tỉnh", "school", 1, ("continuing_education", "public", None)),
    (12, "S-NT", "Trường PTDTNT tỉnh Thử", "school", 1, ("boarding_ethnic", "public", None)),
    (13, "S-TT", "Trường Tiểu học Tư thục Ngôi Sao", "school", 3, ("primary", "private", None)),
    (14, "S-QT", "Trường Quốc tế Hà Nội", "school", 5, ("multi_level", "private", None)),
    (15, "S-X", "Trường A", "school", 5, ("multi_level", "public", None)),
]


def _path(unit_id: int) -> str:
    parents = {row[0]: row[4] for row in SEEDED}
    chain = [unit_id]
    while parents[chain[0]] is not None:
        chain.insert(0, parents[chain[0]])
    return "/" + "".join(f"{i}/" for i in chain)


def _seed(engine) -> None:
    """The units of a province as 0010 holds them; school 15 was moved from the ward W to the
    district D in 2024 (its first row closed, the second open); the open row of school 14 went
    stale (recorded before a move of its parents updated paths only on units)."""
    with engine.begin() as connection:
        for unit_id, code, name, kind, parent_id, _expected in SEEDED:
            connection.execute(
                UNITS.insert().values(
                    id=unit_id,
                    code=code,
                    name=name,
                    kind=kind,
                    parent_id=parent_id,
                    path=_path(unit_id),
                    valid_from=SINCE,
                    valid_to=None,
                    created_at=datetime(2020, 1, 1, tzinfo=UTC),
                    version=1,
                )
            )
        history = [
            {
                "unit_id": unit_id,
                "parent_id": parent_id,
                "path": _path(unit_id),
                "valid_from": SINCE,
                "valid_to": None,
            }
            for unit_id, _code, _name, _kind, parent_id, _expected in SEEDED
            if unit_id != 15
        ]
        history[-1]["path"] = "/1/9/14/"  # school 14: a stale path
        history += [
            {
                "unit_id": 15,
                "parent_id": 2,
                "path": "/1/2/15/",
                "valid_from": SINCE,
                "valid_to": MOVED,
            },
            {
                "unit_id": 15,
                "parent_id": 5,
                "path": "/1/5/15/",
                "valid_from": MOVED,
                "valid_to": None,
            },
        ]
        connection.execute(HISTORY.insert(), history)


def _columns(engine, name: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(name)}


def test_0011_guesses_the_traits_of_units_in_use_and_goes_down_again(fresh_engine):
    migrate.upgrade(fresh_engine, "0010")
    _seed(fresh_engine)
    migrate.upgrade(fresh_engine, "0011")
    assert migrate.current_heads(fresh_engine) == {"0011"}
    with fresh_engine.connect() as connection:
        traits = {
            row.id: (row.level, row.ownership, row.local_type)
            for row in connection.execute(
                sa.text("SELECT id, level, ownership, local_type FROM units")
            )
        }
        history = connection.execute(
            sa.text(
                "SELECT unit_id, path, valid_from, valid_to, opened FROM unit_parent_history "
                "ORDER BY unit_id, id"
            )
        ).all()
    assert traits == {row[0]: row[5] for row in SEEDED}
    # The first row of each unit answers for the days before it; no other row does.
    first = {}
    for unit_id, *_rest, opened in history:
        assert bool(opened) == (unit_id not in first), unit_id
        first.setdefault(unit_id, opened)
    assert len(first) == len(SEEDED)
    # Open rows carry their unit's path of today; closed rows keep theirs.
    paths = {(unit_id, str(to)): path for unit_id, path, _from, to, _opened in history}
    assert paths[(14, "None")] == _path(14)
    assert paths[(15, "None")] == "/1/5/15/"
    assert paths[(15, str(MOVED))] == "/1/2/15/"

    migrate.downgrade(fresh_engine, "0010")
    assert migrate.current_heads(fresh_engine) == {"0010"}
    assert not {"level", "ownership", "local_type"} & _columns(fresh_engine, "units")
    assert "opened" not in _columns(fresh_engine, "unit_parent_history")
    with fresh_engine.connect() as connection:
        kept = connection.execute(sa.text("SELECT id, name, kind FROM units ORDER BY id")).all()
        rows = connection.execute(sa.text("SELECT count(*) FROM unit_parent_history")).scalar()
    assert [tuple(r) for r in kept] == [(r[0], r[2], r[3]) for r in SEEDED]
    assert rows == len(SEEDED) + 1
    migrate.upgrade(fresh_engine, "0011")  # and up again
    assert migrate.current_heads(fresh_engine) == {"0011"}
