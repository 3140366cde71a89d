"""The re-organisation of 1 July 2025, applied with history: old periods roll up through the
dissolved district office, new ones through the communes; province totals do not change. The
command's dry run lists every change and every problem by line and changes nothing; a file with
one problem changes nothing; a commune's administrator cannot move another commune's school."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from caseapp.errors import ValidationFailed
from caseapp.models import AuditEvent, Unit, UnitParentHistory, User
from caseapp.services.org import history, reform
from caseapp.services.reports import periods
from caseapp.services.reports.tables import build
from tests.functional.reform_support import REFORM_DAY, ROWS, cases_after, legacy_world

BEFORE = (date(2024, 11, 1), date(2025, 6, 30))
AFTER = (date(2025, 7, 1), date(2026, 10, 31))


def _total(db, unit, span) -> int:
    return build(db, unit, *span).table("per_unit").total()


def _apply(db, actor, text: str, close_emptied=True):
    checked = reform.plan_file(db, actor, text.encode(), "reform.csv")
    assert not checked.problems, checked.problems
    return reform.apply(db, actor, checked, close_emptied=close_emptied)


def test_old_periods_roll_up_through_the_dissolved_office(db, world):
    legacy = legacy_world(db, world)
    province = db.get(Unit, world.units["PRV"])
    before_province = _total(db, province, BEFORE)
    done = _apply(db, None, ROWS)
    cases_after(db, legacy)
    db.flush()
    assert done.moved == 3 and [u.code for u in done.closed] == ["LD"]
    district = db.get(Unit, legacy.district.id)
    assert district.valid_to == REFORM_DAY

    # The district's report of the months before the reform keeps its three cases, per school.
    old = build(db, district, *BEFORE)
    assert old.table("per_unit").rows == ["LD-S1", "LD-S2", "LD-S3"]
    assert old.table("per_unit").total() == 3
    assert _total(db, district, AFTER) == 0
    # The annual report 2024-2025 (November to October) of the district: the old cases only.
    annual = periods.period_by_key("annual:2025")
    assert _total(db, district, (annual.date_from, annual.date_to)) == 3

    one, two = (db.get(Unit, c.id) for c in legacy.communes)
    assert _total(db, one, BEFORE) == 0 and _total(db, two, BEFORE) == 0
    assert _total(db, one, AFTER) == 1 and _total(db, two, AFTER) == 1
    assert build(db, one, *AFTER).table("per_unit").rows == ["LD-S1", "LD-S2"]

    # The province: the same totals as before the reform; its rows follow the period.
    assert _total(db, province, BEFORE) == before_province
    rows_before = build(db, province, *BEFORE).table("per_unit")
    assert rows_before.row_total("LD") == 3 and rows_before.row_total("CM-1") == 0
    rows_after = build(db, province, *AFTER).table("per_unit")
    assert "LD" not in rows_after.rows
    assert rows_after.row_total("CM-1") == 1 and rows_after.row_total("CM-2") == 1

    # A school's history answers where it sat.
    s1 = legacy.schools["LD-S1"]
    assert history.parent_at(db, s1.id, date(2025, 6, 30)).code == "LD"
    assert history.parent_at(db, s1.id, REFORM_DAY).code == "CM-1"
    assert history.parent_at(db, s1.id, date(2019, 1, 1)).code == "LD"  # the opened row
    assert [u.code for u in history.children_during(db, district, *AFTER)] == []

    # Submissions of the old office list its schools of the period.
    rows = periods.submissions(db, district, annual)
    assert [r["unit"].code for r in rows] == ["LD-S1", "LD-S2", "LD-S3"]

    # One summary event besides the moves and the closing.
    summary = db.scalars(select(AuditEvent).where(AuditEvent.action == "org.reform")).all()
    assert len(summary) == 1 and summary[0].unit_id == province.id


def test_access_follows_the_tree_of_today(db, world, client):
    """The province's officer opens the closed office's old report; the office's schools are
    no longer reachable through it."""
    from caseapp.security.authz import covers

    legacy = legacy_world(db, world)
    _apply(db, None, ROWS)
    officer = db.get(User, world["officer_p"].id)
    district = db.get(Unit, legacy.district.id)
    assert covers(officer, "report.read", district)
    assert district.path.startswith(db.get(Unit, world.units["PRV"]).path)


def test_dry_run_lists_every_change_and_problem_and_changes_nothing(app, db, world, tmp_path):
    legacy_world(db, world)
    db.commit()
    rows = (
        ROWS
        + "NOPE,CM-1,01/07/2025\n"  # line 5: no such school
        + "LD-S1,CM-2,01/07/2025\n"  # line 6: the same school twice
        + "LD-S2,NOPE,31/02/2025\n"  # line 7: no such parent, no such day
        + "LD,CM-1,01/07/2025\n"  # line 8: not a school
    )
    path = tmp_path / "reform.csv"
    path.write_text(rows, encoding="utf-8")
    before = db.scalar(select(func.count()).select_from(UnitParentHistory))
    result = app.test_cli_runner().invoke(args=["org", "apply", str(path), "--dry-run"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "dòng 2: LD-S1 LD -> CM-1 từ 01/07/2025" in lines
    assert "dòng 3: LD-S2 LD -> CM-1 từ 01/07/2025" in lines
    assert "dòng 4: LD-S3 LD -> CM-2 từ 01/07/2025" in lines
    for where in (
        "dòng 5, cột Mã trường:",
        "dòng 6, cột Mã trường:",
        "dòng 7, cột Mã đơn vị cấp trên mới:",
        "dòng 7, cột Từ ngày:",
        "dòng 8, cột Mã trường:",
    ):
        assert any(line.startswith(where) for line in lines), (where, result.output)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(UnitParentHistory)) == before
    assert db.scalar(select(Unit.parent_id).where(Unit.code == "LD-S1")) == db.scalar(
        select(Unit.id).where(Unit.code == "LD")
    )

    # A clean file, dry run: the changes, exit 0, nothing written; then applied for real.
    path.write_text(ROWS, encoding="utf-8")
    dry = app.test_cli_runner().invoke(args=["org", "apply", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(UnitParentHistory)) == before
    done = app.test_cli_runner().invoke(args=["org", "apply", str(path), "--close-emptied"])
    assert done.exit_code == 0, done.output
    db.expire_all()
    assert db.scalar(select(Unit.valid_to).where(Unit.code == "LD")) == REFORM_DAY
    assert db.scalar(select(func.count()).select_from(UnitParentHistory)) == before + 3

    # Unreadable: exit 2.
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert app.test_cli_runner().invoke(args=["org", "apply", str(path)]).exit_code == 2


def test_apply_is_all_or_nothing(db, world):
    legacy_world(db, world)
    checked = reform.plan_file(db, None, (ROWS + "LD-S2,CM-2,01/07/2025\n").encode(), "reform.csv")
    assert len(checked.moves) == 3 and len(checked.problems) == 1
    assert checked.problems[0].line == 5 and checked.problems[0].column == "Mã trường"
    before = db.scalar(select(func.count()).select_from(UnitParentHistory))
    with pytest.raises(ValidationFailed):
        reform.apply(db, None, checked)
    assert db.scalar(select(func.count()).select_from(UnitParentHistory)) == before
    assert db.scalar(select(Unit.parent_id).where(Unit.code == "LD-S1")) == db.scalar(
        select(Unit.id).where(Unit.code == "LD")
    )


def test_a_date_before_the_present_parent_and_a_dissolved_office_are_refused(db, world):
    legacy = legacy_world(db, world, with_cases=False)
    _apply(db, None, "Mã trường,Mã đơn vị cấp trên mới,Từ ngày\nLD-S1,CM-1,01/07/2025\n", False)
    checked = reform.plan_file(
        db,
        None,
        "Mã trường,Mã đơn vị cấp trên mới,Từ ngày\nLD-S1,CM-2,01/06/2025\nLD-S2,LD,01/07/2025\n"
        "LD-S3,LD,01/07/2025\n".encode(),
        "reform.csv",
    )
    by_line = {(p.line, p.column) for p in checked.problems}
    assert (2, "Từ ngày") in by_line  # before the row of 1 July
    assert (3, "Mã đơn vị cấp trên mới") in by_line  # already there
    assert (4, "Mã đơn vị cấp trên mới") in by_line  # already there
    assert legacy.district.is_open


def test_a_commune_admin_cannot_move_another_communes_school(db, world):
    """admin.d1 names a school of D2 (and D2 as a parent): refused by line, nothing changed."""
    admin = db.get(User, world["admin_d1"].id)
    rows = (
        "Mã trường,Mã đơn vị cấp trên mới,Từ ngày\n"
        "SCH-C,D1,01/12/2026\n"  # a school of D2
        "SCH-A,D2,01/12/2026\n"  # into D2
    )
    checked = reform.plan_file(db, admin, rows.encode(), "reform.csv")
    assert not checked.moves
    assert {(p.line, p.column) for p in checked.problems} == {
        (2, "Mã trường"),
        (3, "Mã đơn vị cấp trên mới"),
    }
    before = db.scalar(select(func.count()).select_from(UnitParentHistory))
    with pytest.raises(ValidationFailed):
        reform.apply(db, admin, checked)
    assert db.scalar(select(func.count()).select_from(UnitParentHistory)) == before
    assert db.scalar(select(Unit.parent_id).where(Unit.code == "SCH-C")) == world.units["D2"]
