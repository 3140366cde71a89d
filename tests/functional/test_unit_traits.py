"""A school's level and ownership and a commune's local type, on the admin unit screens: chosen
in the new-unit and edit forms (each only for its kind), checked by the service (an unknown value
or a level out of place is refused with its reason and nothing changes), shown on the unit page
and in the list, and audited (the new values on create, old and new on update)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from caseapp.models import Unit
from tests.factories import Visitor
from tests.functional.admin_support import (
    audit_head,
    changed_tables,
    events_after,
    page_text,
    snapshot,
    translated,
)

LEVEL_UNDER = "A school of the level “%(level)s” cannot sit under one of the kind “%(parent)s”."


@pytest.fixture()
def admin(client, db, world):
    return Visitor(client, db, world["admin_p"], lang="en")


def _unit(db, code: str) -> Unit:
    db.expire_all()
    return db.scalar(select(Unit).where(Unit.code == code))


def _changes(db, seq: int, action: str) -> dict:
    [event] = [e for e in events_after(db, seq) if e.action == action]
    return json.loads(event.changes)


def test_a_school_is_created_with_its_level_and_ownership(admin, db, world):
    seq = audit_head(db)
    r = admin.post(
        "/admin/units/new",
        {
            "parent_code": "D1",
            "code": "X-TH",
            "name": "Trường Hoa Sen",
            "kind": "school",
            "level": "primary",
            "ownership": "private",
            "local_type": "ward",  # not a commune: not used
        },
    )
    assert r.status_code == 302, page_text(r)[:2000]
    made = _unit(db, "X-TH")
    assert (made.level, made.ownership, made.local_type) == ("primary", "private", None)
    changes = _changes(db, seq, "unit.create")
    assert changes["level"] == [None, "primary"] and changes["ownership"] == [None, "private"]
    assert "local_type" not in changes
    page = page_text(admin.get(f"/admin/units/{made.id}"))
    assert "Primary school" in page and "Private" in page
    assert "Primary school · Private" in page_text(admin.get("/admin/units"))


def test_a_commune_is_created_with_its_local_type(admin, db, world):
    r = admin.post(
        "/admin/units/new",
        {
            "parent_code": "PRV",
            "code": "X-DK",
            "name": "Côn Đảo",
            "kind": "commune",
            "local_type": "special_zone",
            "level": "primary",  # not a school: not used
        },
    )
    assert r.status_code == 302, page_text(r)[:2000]
    made = _unit(db, "X-DK")
    assert (made.local_type, made.level, made.ownership) == ("special_zone", None, None)
    assert "Special zone" in page_text(admin.get(f"/admin/units/{made.id}"))


def test_empty_traits_are_taken_from_the_name(admin, db, world):
    r = admin.post(
        "/admin/units/new",
        {
            "parent_code": "D1",
            "code": "X-MN",
            "name": "Trường Mầm non Tư thục Sao",
            "kind": "school",
        },
    )
    assert r.status_code == 302, page_text(r)[:2000]
    made = _unit(db, "X-MN")
    assert (made.level, made.ownership) == ("preschool", "private")


def test_an_update_records_the_old_and_new_traits(admin, db, world):
    school = _unit(db, "SCH-A")
    assert (school.level, school.ownership) == ("multi_level", "public")
    seq = audit_head(db)
    r = admin.post(
        f"/admin/units/{school.id}",
        {
            "name": school.name,
            "kind": "school",
            "level": "lower_secondary",
            "ownership": "private",
            "version": school.version,
        },
    )
    assert r.status_code == 302, page_text(r)[:2000]
    school = _unit(db, "SCH-A")
    assert (school.level, school.ownership) == ("lower_secondary", "private")
    changes = _changes(db, seq, "unit.update")
    assert changes["level"] == ["multi_level", "lower_secondary"]
    assert changes["ownership"] == ["public", "private"]
    page = page_text(admin.get(f"/admin/units/{school.id}"))
    assert "Lower-secondary school" in page


def test_the_edit_form_shows_only_the_traits_of_the_units_kind(admin, db, world):
    school = page_text(admin.get(f"/admin/units/{world.units['SCH-A']}"))
    assert 'name="level"' in school and 'name="ownership"' in school
    assert 'name="local_type"' not in school
    commune = page_text(admin.get(f"/admin/units/{world.units['D1']}"))
    assert 'name="local_type"' in commune and 'name="level"' not in commune


def test_a_commune_changes_its_local_type(admin, db, world):
    commune = _unit(db, "D2")
    seq = audit_head(db)
    r = admin.post(
        f"/admin/units/{commune.id}",
        {"name": commune.name, "kind": "commune", "local_type": "ward", "version": commune.version},
    )
    assert r.status_code == 302, page_text(r)[:2000]
    assert _unit(db, "D2").local_type == "ward"
    assert _changes(db, seq, "unit.update")["local_type"] == ["commune", "ward"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("level", "university", "Unknown school level."),
        ("ownership", "state", "Unknown kind of ownership."),
    ],
)
def test_an_unknown_school_trait_is_refused(app, admin, db, world, field, value, message):
    before = snapshot(db)
    r = admin.post(
        "/admin/units/new",
        {
            "parent_code": "D1",
            "code": "X-BAD",
            "name": "Trường Thử",
            "kind": "school",
            field: value,
        },
    )
    assert r.status_code == 400
    assert translated(app, message, lang="en") in page_text(r)
    school = _unit(db, "SCH-A")
    r = admin.post(
        f"/admin/units/{school.id}",
        {"name": school.name, "kind": "school", field: value, "version": school.version},
    )
    assert r.status_code == 400
    assert translated(app, message, lang="en") in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


def test_an_unknown_local_type_is_refused(app, admin, db, world):
    before = snapshot(db)
    r = admin.post(
        "/admin/units/new",
        {
            "parent_code": "PRV",
            "code": "X-BAD",
            "name": "Xã Thử",
            "kind": "commune",
            "local_type": "town",
        },
    )
    assert r.status_code == 400
    assert translated(app, "Unknown kind of commune.", lang="en") in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


def test_a_level_out_of_place_is_refused_on_update(app, admin, db, world):
    """SCH-A sits under the commune D1: it cannot become an upper-secondary school there."""
    school = _unit(db, "SCH-A")
    before = snapshot(db)
    r = admin.post(
        f"/admin/units/{school.id}",
        {
            "name": school.name,
            "kind": "school",
            "level": "upper_secondary",
            "version": school.version,
        },
    )
    assert r.status_code == 400
    message = translated(
        app, LEVEL_UNDER, lang="en", level="Upper-secondary school", parent="Commune / ward"
    )
    assert message in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


def test_a_post_without_its_csrf_token_is_refused(admin, db, world):
    school = _unit(db, "SCH-A")
    before = snapshot(db)
    r = admin.post(
        "/admin/units/new",
        {
            "parent_code": "D1",
            "code": "X-CSRF",
            "name": "Trường Thử",
            "kind": "school",
            "level": "primary",
        },
        csrf=False,
    )
    assert r.status_code == 400
    r = admin.post(
        f"/admin/units/{school.id}",
        {"name": school.name, "kind": "school", "level": "primary", "version": school.version},
        csrf=False,
    )
    assert r.status_code == 400
    assert changed_tables(before, snapshot(db)) == []
