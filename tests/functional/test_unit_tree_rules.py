"""The organisation tree holds only sensible shapes: which kind of unit sits under which
(ministry > province > commune/ward > school; an upper-secondary school or a continuing-education
centre under its province; preschool, primary and lower-secondary schools under a commune;
nothing under a school; only a ministry or a province at the top), a district education office
only as history (nothing new in or under one from the two-tier reform of 1 July 2025), and dates
between 1945 and a year from today. The rules live in the service, so the admin screens, the
create-user command and every other caller obey them alike."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from caseapp.clock import date_bounds, local_today
from caseapp.errors import ValidationFailed
from caseapp.labels import school_level_names, unit_kind_names
from caseapp.models import Unit
from caseapp.models.units import PARENT_KINDS
from caseapp.runtime import settings
from caseapp.services.org import units
from tests.factories import Visitor, make_unit
from tests.functional.admin_support import changed_tables, page_text, snapshot, translated

UNDER = "A unit of the kind “%(kind)s” cannot sit under one of the kind “%(parent)s”."
AT_TOP = "A unit of the kind “%(kind)s” cannot be at the top of the tree."
BELOW = "The units below this one cannot sit under a unit of the kind “%(kind)s”."
DATES = "The date must fall between %(first)s and %(last)s."
LEVEL_UNDER = "A school of the level “%(level)s” cannot sit under one of the kind “%(parent)s”."
DISSOLVED = (
    "District offices were dissolved on %(day)s: nothing new may be placed in or "
    "under one from that day. Choose a commune, a ward or the province."
)
REFORM_DAY = date(2025, 7, 1)
NOT_ALLOWED = "This field holds characters that are not allowed."


def _kind(app, kind: str, lang: str = "vi") -> str:
    with app.test_request_context(), force_locale(lang):
        return unit_kind_names()[kind]


def _under(app, kind: str, parent: str) -> str:
    return translated(app, UNDER, kind=_kind(app, kind), parent=_kind(app, parent))


def _last(app) -> date:
    """A year from today (28 February from a 29th)."""
    with app.app_context():
        first, last = date_bounds()
    assert first == date(1945, 1, 1) and 365 <= (last - local_today()).days <= 366
    return last


def _dates(app) -> str:
    return translated(app, DATES, first="01/01/1945", last=_last(app).strftime("%d/%m/%Y"))


@pytest.fixture()
def admin(client, db, world):
    return Visitor(client, db, world["admin_p"])


def _unit(db, world, code) -> Unit:
    db.expire_all()
    return db.get(Unit, world.units[code])


def _new(admin, parent: str, kind: str, **extra):
    return admin.post(
        "/admin/units/new",
        {"parent_code": parent, "code": "X-NEW", "name": "Đơn vị mới", "kind": kind, **extra},
    )


@pytest.mark.parametrize(
    ("parent", "kind", "parent_kind"),
    [
        ("SCH-A", "school", "school"),  # nothing under a school
        ("SCH-A", "commune", "school"),
        ("SCH-A", "district", "school"),
        ("D1", "province", "commune"),
        ("D1", "commune", "commune"),  # communes and wards sit under the province
        ("D1", "district", "commune"),
        ("PRV", "province", "province"),
        ("PRV", "ministry", "province"),
    ],
)
def test_a_kind_out_of_place_is_refused(app, admin, db, world, parent, kind, parent_kind):
    before = snapshot(db)
    r = _new(admin, parent, kind)
    assert r.status_code == 400
    assert _under(app, kind, parent_kind) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize(
    ("parent", "kind"),
    [
        ("PRV", "school"),  # a multi-level school may answer to the province itself
        ("PRV", "commune"),
        ("D1", "school"),
    ],
)
def test_a_kind_in_its_place_is_created(admin, db, world, parent, kind):
    r = _new(admin, parent, kind)
    assert r.status_code == 302, page_text(r)[:2000]
    db.expire_all()
    made = db.scalar(select(Unit).where(Unit.code == "X-NEW"))
    assert (made.kind, made.parent.code) == (kind, parent)


def test_a_school_sits_under_a_commune(db, world):
    province = _unit(db, world, "PRV")
    commune = units.create_unit(db, None, province, "X-XA", "Xã Mới", "commune")
    school = units.create_unit(db, None, commune, "X-XA-S", "Trường Tiểu học Xã Mới", "school")
    assert school.parent is commune


def _level(app, level: str) -> str:
    with app.test_request_context(), force_locale("vi"):
        return school_level_names()[level]


@pytest.mark.parametrize(
    ("level", "parent", "allowed"),
    [
        ("upper_secondary", "PRV", True),
        ("upper_secondary", "D1", False),
        ("continuing_education", "PRV", True),
        ("continuing_education", "D1", False),
        ("preschool", "D1", True),
        ("preschool", "PRV", False),
        ("primary", "D1", True),
        ("primary", "PRV", False),
        ("lower_secondary", "D1", True),
        ("lower_secondary", "PRV", False),
        ("multi_level", "D1", True),
        ("multi_level", "PRV", True),
        ("boarding_ethnic", "D1", True),
        ("boarding_ethnic", "PRV", True),
    ],
)
def test_a_school_sits_where_its_level_answers(app, admin, db, world, level, parent, allowed):
    """Upper-secondary schools and continuing-education centres answer to the province's
    Department; preschool, primary and lower-secondary schools to the commune or ward; a
    multi-level or boarding school to either."""
    before = snapshot(db)
    r = _new(admin, parent, "school", level=level, ownership="public")
    if allowed:
        assert r.status_code == 302, page_text(r)[:2000]
        db.expire_all()
        made = db.scalar(select(Unit).where(Unit.code == "X-NEW"))
        assert (made.parent.code, made.level, made.ownership) == (parent, level, "public")
        return
    assert r.status_code == 400
    message = translated(
        app,
        LEVEL_UNDER,
        level=_level(app, level),
        parent=_kind(app, db.get(Unit, world.units[parent]).kind),
    )
    assert message in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


@pytest.fixture()
def legacy_district(db, world):
    """A district education office of before the reform, as history keeps it."""
    province = _unit(db, world, "PRV")
    district = make_unit(
        db, province, "X-HUYEN", "district", "Phòng GD&ĐT huyện Cũ", date(2020, 1, 1)
    )
    db.commit()
    return district


@pytest.mark.parametrize(
    ("parent", "kind", "name"),
    [("PRV", "district", "Phòng GD&ĐT huyện Mới"), ("X-HUYEN", "school", "Trường Tiểu học Cũ")],
)
def test_a_district_office_or_a_school_under_one_is_history_only(
    app, admin, db, legacy_district, parent, kind, name
):
    """Dated before 1 July 2025 (history being recorded) it is made; from that day it is
    refused with the reason, and nothing changes."""
    before = snapshot(db)
    day_before = (REFORM_DAY - timedelta(days=1)).isoformat()
    for day in (REFORM_DAY.isoformat(), (REFORM_DAY + timedelta(days=200)).isoformat()):
        r = admin.post(
            "/admin/units/new",
            {"parent_code": parent, "code": "X-NEW", "name": name, "kind": kind, "valid_from": day},
        )
        assert r.status_code == 400
        assert translated(app, DISSOLVED, day="01/07/2025") in page_text(r)
        assert changed_tables(before, snapshot(db)) == []
    r = admin.post(
        "/admin/units/new",
        {
            "parent_code": parent,
            "code": "X-NEW",
            "name": name,
            "kind": kind,
            "valid_from": day_before,
        },
    )
    assert r.status_code == 302, page_text(r)[:2000]
    db.expire_all()
    made = db.scalar(select(Unit).where(Unit.code == "X-NEW"))
    assert (made.kind, made.parent.code, made.valid_from) == (
        kind,
        parent,
        REFORM_DAY - timedelta(days=1),
    )


def test_a_district_office_made_today_is_refused(app, admin, db, world):
    before = snapshot(db)
    r = _new(admin, "PRV", "district")
    assert r.status_code == 400
    assert translated(app, DISSOLVED, day="01/07/2025") in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


def test_nothing_moves_into_a_district_office_after_the_reform(
    app, admin, db, world, legacy_district
):
    unit = _unit(db, world, "SCH-A")
    before = snapshot(db)
    r = admin.post(
        f"/admin/units/{unit.id}/move",
        {"new_parent_code": "X-HUYEN", "on": REFORM_DAY.isoformat(), "version": unit.version},
    )
    assert r.status_code == 400
    assert translated(app, DISSOLVED, day="01/07/2025") in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


def test_a_commune_does_not_become_a_district_office(app, admin, db, world):
    unit = _unit(db, world, "D2")
    before = snapshot(db)
    r = admin.post(
        f"/admin/units/{unit.id}", {"name": unit.name, "kind": "district", "version": unit.version}
    )
    assert r.status_code == 400
    assert translated(app, DISSOLVED, day="01/07/2025") in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize("valid_from", ["9999-12-31", "1944-12-31", "1900-01-01", "late"])
def test_an_opening_date_out_of_range_is_refused(app, admin, db, world, valid_from):
    if valid_from == "late":
        valid_from = (_last(app) + timedelta(days=1)).isoformat()
    before = snapshot(db)
    r = _new(admin, "D1", "school", valid_from=valid_from)
    assert r.status_code == 400
    assert _dates(app) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize("valid_from", [date(1945, 1, 1), "last"])
def test_the_first_and_last_opening_dates_are_accepted(app, admin, db, valid_from):
    if valid_from == "last":
        valid_from = _last(app)
    r = _new(admin, "D1", "school", valid_from=valid_from.isoformat())
    assert r.status_code == 302, page_text(r)[:2000]
    db.expire_all()
    assert db.scalar(select(Unit.valid_from).where(Unit.code == "X-NEW")) == valid_from


@pytest.mark.parametrize(
    ("code", "new_parent", "message"),
    [
        ("SCH-A", "SCH-B", ("school", "school")),
        ("D1", "D2", ("commune", "commune")),
        ("D1", "SCH-C", ("commune", "school")),
    ],
)
def test_a_move_out_of_place_is_refused(app, admin, db, world, code, new_parent, message):
    unit = _unit(db, world, code)
    before = snapshot(db)
    r = admin.post(
        f"/admin/units/{unit.id}/move",
        {"new_parent_code": new_parent, "on": local_today().isoformat(), "version": unit.version},
    )
    assert r.status_code == 400
    assert _under(app, *message) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


def test_a_school_moves_to_its_province(admin, db, world):
    unit = _unit(db, world, "SCH-A")
    r = admin.post(
        f"/admin/units/{unit.id}/move",
        {"new_parent_code": "PRV", "on": local_today().isoformat(), "version": unit.version},
    )
    assert r.status_code == 302
    assert _unit(db, world, "SCH-A").parent.code == "PRV"


@pytest.mark.parametrize(
    ("action", "day"),
    [
        ("move", "9999-12-31"),
        ("move", "1944-12-31"),
        ("close", "9999-12-31"),
        ("close", "1900-01-01"),
    ],
)
def test_a_move_or_closing_date_out_of_range_is_refused(app, admin, db, world, action, day):
    unit = _unit(db, world, "SCH-A")
    fields = {"new_parent_code": "D2", "on": day} if action == "move" else {"valid_to": day}
    before = snapshot(db)
    r = admin.post(f"/admin/units/{unit.id}/{action}", {**fields, "version": unit.version})
    assert r.status_code == 400
    assert _dates(app) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize(
    ("code", "kind", "message"),
    [
        ("SCH-A", "commune", (UNDER, "commune", "commune")),  # a commune under D1
        ("SCH-A", "district", (UNDER, "district", "commune")),
        ("D1", "school", (BELOW, "school", None)),  # D1 holds schools
        ("PRV", "district", (AT_TOP, "district", None)),
    ],
)
def test_a_change_of_kind_out_of_place_is_refused(app, admin, db, world, code, kind, message):
    unit = _unit(db, world, code)
    before = snapshot(db)
    r = admin.post(
        f"/admin/units/{unit.id}", {"name": unit.name, "kind": kind, "version": unit.version}
    )
    assert r.status_code == 400
    text, first, second = message
    params = {"kind": _kind(app, first)}
    if second:
        params["parent"] = _kind(app, second)
    assert translated(app, text, **params) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize("kind", ["district", "commune", "school"])
def test_only_a_ministry_or_a_province_is_a_top_unit(db, kind):
    with pytest.raises(ValidationFailed):
        units.create_unit(db, None, None, "X-TOP", "Đơn vị cấp trên", kind)
    assert db.scalar(select(Unit).where(Unit.code == "X-TOP")) is None


def test_create_user_obeys_the_same_rules(app, db):
    """The command that creates the first administrator with a top unit."""
    runner = app.test_cli_runner()
    base = [
        "create-user",
        "--username",
        "new.admin",
        "--full-name",
        "Người Quản Trị",
        "--unit",
        "X-TOP",
        "--new-unit-name",
        "Trường Đầu Tiên",
        "--password",
        "một mật khẩu đủ dài 2024",
    ]
    before = snapshot(db)
    result = runner.invoke(args=[*base, "--new-unit-kind", "school"])
    assert result.exit_code != 0
    assert translated(app, AT_TOP, kind=_kind(app, "school")) in result.output
    assert changed_tables(before, snapshot(db)) == []
    result = runner.invoke(args=[*base, "--new-unit-kind", "province"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["Trường\x0bA", "Trường\x00A", "Trường\ufffeA", "Trường\nA"])
def test_a_unit_name_holds_no_control_characters(app, db, world, name):
    """Such a name would break every export (XML refuses them in XLSX and DOCX)."""
    with pytest.raises(ValidationFailed) as refused:
        units.create_unit(db, None, _unit(db, world, "D1"), "X-CTRL", name, "school")
    assert refused.value.message == translated(app, NOT_ALLOWED)
    school = _unit(db, world, "SCH-A")
    with pytest.raises(ValidationFailed):
        units.update_unit(db, None, school, name, "school", school.version)


def test_every_kind_has_its_place(app):
    with app.app_context():
        assert set(PARENT_KINDS) == set(settings().unit_kinds)
    assert all(
        parent is None or parent in PARENT_KINDS
        for parents in PARENT_KINDS.values()
        for parent in parents
    )
