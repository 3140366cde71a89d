"""Role x unit matrix over the admin screens (units, accounts, grants, referral directory).

World: PRV > D1 (SCH-A, SCH-B), D2 (SCH-C). admin_d1 manages D1 and its schools; anything
outside is a 404 (never a 403, so existence does not leak) and leaves the database unchanged.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from caseapp.clock import local_today
from caseapp.models import Grant, ReferralContact, Unit, User
from caseapp.runtime import keyring
from caseapp.services.org import referrals as referral_service
from tests.factories import Visitor, make_user
from tests.functional.admin_support import (
    changed_tables,
    count,
    page_text,
    snapshot,
    translated,
)


def _today() -> str:
    """Today where the users are, read when a test runs (not when the module is imported: a
    run that passes midnight in Vietnam, 17:00 UTC, would send yesterday)."""
    return local_today().isoformat()


IN_D1 = ("D1", "SCH-A", "SCH-B")
OUTSIDE_D1 = ("PRV", "D2", "SCH-C")
# One account at each kind of place outside D1: a school of D2, the D2 office, the province.
OUTSIDE_D1_PEOPLE = ("focal_c", "officer_d2", "admin_p")
NO_UNIT = "No unit with the code %(code)s within your units."


@pytest.fixture()
def as_admin_d1(client, db, world):
    return Visitor(client, db, world["admin_d1"])


def _unit(db, world, code) -> Unit:
    db.expire_all()
    return db.get(Unit, world.units[code])


def _user(db, world, name) -> User:
    db.expire_all()
    return db.get(User, world[name].id)


def _unit_post(action, unit):
    """(path suffix, a form that would succeed if the unit were in scope)."""
    return {
        "edit": ("", {"name": "Renamed by D1", "kind": unit.kind, "version": unit.version}),
        "close": ("/close", {"valid_to": _today(), "version": unit.version}),
        "move": ("/move", {"new_parent_code": "D1", "on": _today(), "version": unit.version}),
    }[action]


def _user_post(action, user):
    return {
        "edit": ("", {"full_name": "Renamed by D1", "email": "", "version": user.version}),
        "grant": ("/grants", {"role": "focal_point", "unit_code": "SCH-A"}),
        "disable": ("/disable", {"reason": "matrix"}),
        "enable": ("/enable", {"reason": "matrix"}),
        "reset-sign-in": ("/reset-sign-in", {"reason": "matrix"}),
    }[action]


# --- units ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", IN_D1)
def test_admin_d1_sees_and_edits_units_of_d1(as_admin_d1, db, world, code):
    unit = _unit(db, world, code)
    assert as_admin_d1.get(f"/admin/units/{unit.id}").status_code == 200
    suffix, form = _unit_post("edit", unit)
    r = as_admin_d1.post(f"/admin/units/{unit.id}{suffix}", form)
    assert r.status_code == 302
    assert _unit(db, world, code).name == "Renamed by D1"


def test_unit_list_shows_only_d1(as_admin_d1):
    page = page_text(as_admin_d1.get("/admin/units"))
    for code in IN_D1:
        assert f">{code}</a>" in page
    for code in OUTSIDE_D1:
        assert f">{code}</a>" not in page


@pytest.mark.parametrize("action", ["view", "edit", "close", "move"])
@pytest.mark.parametrize("code", OUTSIDE_D1)
def test_units_outside_d1_are_404_and_untouched(as_admin_d1, db, world, code, action):
    unit = _unit(db, world, code)
    before = snapshot(db)
    if action == "view":
        r = as_admin_d1.get(f"/admin/units/{unit.id}")
    else:
        suffix, form = _unit_post(action, unit)
        r = as_admin_d1.post(f"/admin/units/{unit.id}{suffix}", form)
    assert r.status_code == 404
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize("code", OUTSIDE_D1)
def test_admin_d1_cannot_create_a_unit_outside_d1(app, as_admin_d1, db, world, code):
    before = snapshot(db)
    r = as_admin_d1.post(
        "/admin/units/new",
        {"parent_code": code, "code": "SCH-NEW", "name": "Trường mới", "kind": "school"},
    )
    assert r.status_code == 400
    assert translated(app, NO_UNIT, code=code) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize("code", OUTSIDE_D1)
def test_admin_d1_cannot_move_a_school_out_of_d1(app, as_admin_d1, db, world, code):
    unit = _unit(db, world, "SCH-A")
    before = snapshot(db)
    r = as_admin_d1.post(
        f"/admin/units/{unit.id}/move",
        {"new_parent_code": code, "on": _today(), "version": unit.version},
    )
    assert r.status_code == 400
    assert translated(app, NO_UNIT, code=code) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []
    assert _unit(db, world, "SCH-A").parent_id == world.units["D1"]


# --- accounts and grants -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["focal_a", "focal_b", "officer_d1"])
def test_admin_d1_sees_and_edits_accounts_of_d1(as_admin_d1, db, world, name):
    user = _user(db, world, name)
    assert as_admin_d1.get(f"/admin/users/{user.id}").status_code == 200
    suffix, form = _user_post("edit", user)
    assert as_admin_d1.post(f"/admin/users/{user.id}{suffix}", form).status_code == 302
    assert _user(db, world, name).full_name == "Renamed by D1"


def test_account_list_shows_only_d1(as_admin_d1, world):
    page = page_text(as_admin_d1.get("/admin/users"))
    for name in ("focal_a", "focal_b", "officer_d1", "admin_d1", "nobody"):
        assert f">{world[name].username}</a>" in page
    for name in (*OUTSIDE_D1_PEOPLE, "officer_p", "auditor_p", "admin_d2"):
        assert f">{world[name].username}</a>" not in page


@pytest.mark.parametrize(
    "action",
    [
        "view",
        "edit",
        "grant",
        "disable",
        "enable",
        "reset-sign-in",
        "revoke",
    ],
)
@pytest.mark.parametrize("name", OUTSIDE_D1_PEOPLE)
def test_accounts_outside_d1_are_404_and_untouched(as_admin_d1, db, world, name, action):
    user = _user(db, world, name)
    before = snapshot(db)
    if action == "view":
        r = as_admin_d1.get(f"/admin/users/{user.id}")
    elif action == "revoke":
        r = as_admin_d1.post(
            f"/admin/grants/{user.active_grants[0].id}/revoke", {"reason": "matrix"}
        )
    else:
        suffix, form = _user_post(action, user)
        r = as_admin_d1.post(f"/admin/users/{user.id}{suffix}", form)
    assert r.status_code == 404
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize("code", OUTSIDE_D1)
def test_admin_d1_never_grants_outside_d1(app, as_admin_d1, db, world, code):
    target = world["focal_a"].id
    grants = count(db, Grant)
    r = as_admin_d1.post(f"/admin/users/{target}/grants", {"role": "admin", "unit_code": code})
    assert r.status_code == 400
    assert translated(app, NO_UNIT, code=code) in page_text(r)
    assert count(db, Grant) == grants


@pytest.mark.parametrize("action", ["grant", "revoke", "disable", "reset-sign-in"])
def test_an_admin_cannot_change_their_own_access(app, as_admin_d1, db, world, action):
    me = _user(db, world, "admin_d1")
    before = snapshot(db)
    if action == "revoke":
        r = as_admin_d1.post(f"/admin/grants/{me.active_grants[0].id}/revoke", {"reason": "matrix"})
    else:
        suffix, form = _user_post(action, me)
        r = as_admin_d1.post(f"/admin/users/{me.id}{suffix}", form)
    assert r.status_code == 403
    assert translated(
        app, "You cannot change your own access; ask another administrator."
    ) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


@pytest.fixture()
def province_admin_at_school(db, world):
    """A province administrator whose home unit is a school of D1 (so visible to admin_d1)."""
    sch_a, prv = _unit(db, world, "SCH-A"), _unit(db, world, "PRV")
    person = make_user(db, keyring(), "admin.prv.at.a", sch_a, [("admin", prv)])
    db.commit()
    return person


@pytest.mark.parametrize("action", ["edit", "disable", "reset-sign-in", "revoke"])
def test_an_account_with_wider_roles_cannot_be_taken_over(
    app, as_admin_d1, db, world, province_admin_at_school, action
):
    user = db.get(User, province_admin_at_school.id)
    assert as_admin_d1.get(f"/admin/users/{user.id}").status_code == 200
    before = snapshot(db)
    if action == "revoke":
        r = as_admin_d1.post(
            f"/admin/grants/{user.active_grants[0].id}/revoke", {"reason": "matrix"}
        )
        assert r.status_code == 404
    else:
        suffix, form = _user_post(action, user)
        r = as_admin_d1.post(f"/admin/users/{user.id}{suffix}", form)
        assert r.status_code == 403
        assert translated(app, "You do not have permission to do this.") in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


# (screen, refusal): 403, but 404 on an object's page, so that its existence does not leak.
ADMIN_SCREENS = (
    ("/admin/units", 403),
    ("/admin/units/new", 403),
    ("/admin/users", 403),
    ("/admin/users/new", 403),
    ("/admin/units/{unit}", 404),
    ("/admin/users/{user}", 404),
)


@pytest.mark.parametrize("name", ["focal_a", "officer_d1", "officer_p", "auditor_p"])
def test_other_roles_are_refused_the_admin_screens(client, db, world, name):
    agent = Visitor(client, db, world[name])
    before = snapshot(db)
    for url, refusal in ADMIN_SCREENS:
        url = url.format(unit=world.units["SCH-A"], user=world["focal_a"].id)
        assert agent.get(url).status_code == refusal, url
        if not url.endswith("s"):  # the lists take no POST
            assert agent.post(url, {"name": "x"}).status_code == refusal, url
    assert changed_tables(before, snapshot(db)) == []


# --- referral directory --------------------------------------------------------------------


@pytest.fixture()
def contacts(db, world) -> dict[str, int]:
    """One contact at every unit, named after it: {unit code: contact id}."""
    ids = {}
    for code, unit_id in world.units.items():
        unit = db.get(Unit, unit_id)
        ids[code] = referral_service.create_contact(
            db, None, unit, f"Contact of {code}", "police", "0123", ""
        ).id
    db.commit()
    return ids


@pytest.mark.parametrize(
    "name, visible",
    [
        ("focal_a", {"PRV", "D1", "SCH-A"}),
        ("focal_c", {"PRV", "D2", "SCH-C"}),
        ("officer_d1", {"PRV", "D1", "SCH-A", "SCH-B"}),
        ("admin_d2", {"PRV", "D2", "SCH-C"}),
        ("officer_p", {"PRV", "D1", "D2", "SCH-A", "SCH-B", "SCH-C"}),
    ],
)
def test_directory_shows_own_units_and_those_above(client, db, world, contacts, name, visible):
    r = Visitor(client, db, world[name]).get("/admin/referrals")
    assert r.status_code == 200
    shown = {code for code in contacts if f"Contact of {code}<" in page_text(r)}
    assert shown == visible


@pytest.mark.parametrize("name", ["auditor_p", "nobody"])
def test_directory_is_closed_to_roles_without_cases(client, db, world, contacts, name):
    assert Visitor(client, db, world[name]).get("/admin/referrals").status_code == 403


def _contact_form(db, contact_id, name="Renamed contact"):
    contact = db.get(ReferralContact, contact_id)
    return {
        "name": name,
        "kind": contact.kind,
        "phone": "111",
        "address": "",
        "active": "y",
        "version": contact.version,
        "unit_code": contact.unit.code,
    }


@pytest.mark.parametrize("name", ["officer_d1", "admin_d1"])
@pytest.mark.parametrize("code", ["D1", "SCH-B"])
def test_officers_and_admins_manage_contacts_below_them(client, db, world, contacts, name, code):
    agent = Visitor(client, db, world[name])
    url = f"/admin/referrals/{contacts[code]}"
    assert agent.get(url).status_code == 200
    assert agent.post(url, _contact_form(db, contacts[code])).status_code == 302
    db.expire_all()
    assert db.get(ReferralContact, contacts[code]).name == "Renamed contact"
    r = agent.post(
        "/admin/referrals/new",
        {
            "unit_code": code,
            "name": "New hotline",
            "kind": "hotline",
            "phone": "111",
            "version": "0",
        },
    )
    assert r.status_code == 302
    assert count(db, ReferralContact, ReferralContact.name == "New hotline") == 1


@pytest.mark.parametrize("name", ["officer_d1", "admin_d1"])
@pytest.mark.parametrize("code", OUTSIDE_D1)
def test_contacts_outside_the_subtree_are_404_and_untouched(
    app, client, db, world, contacts, name, code
):
    agent = Visitor(client, db, world[name])
    url = f"/admin/referrals/{contacts[code]}"
    before = snapshot(db)
    assert agent.get(url).status_code == 404
    assert agent.post(url, _contact_form(db, contacts[code])).status_code == 404
    r = agent.post(
        "/admin/referrals/new",
        {"unit_code": code, "name": "Intruder", "kind": "hotline", "phone": "111", "version": "0"},
    )
    assert r.status_code == 400
    assert translated(app, NO_UNIT, code=code) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


def test_focal_points_read_but_never_manage_the_directory(client, db, world, contacts):
    agent = Visitor(client, db, world["focal_a"])
    assert "/admin/referrals/new" not in page_text(agent.get("/admin/referrals"))
    before = snapshot(db)
    url = f"/admin/referrals/{contacts['SCH-A']}"
    assert agent.get(url).status_code == 404  # an object's page: no existence leak
    assert agent.post(url, _contact_form(db, contacts["SCH-A"])).status_code == 404
    new = {"unit_code": "SCH-A", "name": "x", "kind": "hotline", "version": "0"}
    assert agent.post("/admin/referrals/new", new).status_code == 403
    assert changed_tables(before, snapshot(db)) == []
    assert (
        db.scalar(select(ReferralContact.name).where(ReferralContact.id == contacts["SCH-A"]))
        == "Contact of SCH-A"
    )


# --- the first role on the new-account page, the monitoring screen ---------------------------


@pytest.mark.parametrize("code", OUTSIDE_D1)
def test_admin_d1_cannot_give_a_new_account_a_first_role_outside_d1(app, as_admin_d1, db, code):
    before = snapshot(db)
    r = as_admin_d1.post(
        "/admin/users/new",
        {
            "username": "le.van.d",
            "full_name": "Lê Văn D",
            "unit_code": "SCH-A",
            "role": "officer",
            "role_unit_code": code,
        },
    )
    assert r.status_code == 400
    assert translated(app, NO_UNIT, code=code) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize(
    ("code", "shown"),
    [("SCH-C", False), ("D2", False), ("PRV", False), ("NOPE", False), ("SCH-A", True)],
)
def test_the_monitoring_screen_stays_within_the_officers_units(app, client, db, world, code, shown):
    r = Visitor(client, db, world["officer_d1"]).get(f"/monitoring?unit={code}")
    assert r.status_code == 200
    refused = translated(app, NO_UNIT, code=code)
    assert (refused in page_text(r)) is not shown
    if not shown:  # the officer's own district instead
        assert "Phòng Giáo dục D1" in page_text(r)
