"""The usual services of the referral directory in one step: the hotline 111 (with its note:
run under the Ministry of Health since 2025), and a commune's police, health station and
People's Committee, a province's social protection centre. Adding them twice adds nothing; one
audit event covers the rows; the button needs its CSRF token and the unit within the person's
own units."""

from __future__ import annotations

import json

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from caseapp.errors import NotFound
from caseapp.models import ReferralContact, Unit, User
from caseapp.services.org import referral_defaults, referrals
from tests.factories import Visitor
from tests.functional.admin_support import (
    audit_head,
    changed_tables,
    events_after,
    page_text,
    snapshot,
)


def _contacts(db, code: str) -> list[tuple[str, str, str]]:
    db.expire_all()
    return sorted(
        (c.kind, c.name, c.phone)
        for c in db.scalars(
            select(ReferralContact).join(ReferralContact.unit).where(Unit.code == code)
        )
    )


@pytest.fixture()
def admin(client, db, world):
    return Visitor(client, db, world["admin_p"], lang="en")


def test_a_commune_gets_its_usual_services_in_one_audited_step(admin, db, world):
    seq = audit_head(db)
    r = admin.post("/admin/referrals/defaults", {"unit_code": "D1"})
    assert r.status_code == 302
    made = _contacts(db, "D1")
    assert [kind for kind, _name, _phone in made] == [
        "commune_committee",
        "health_station",
        "hotline",
        "police",
    ]
    hotline = next(c for c in made if c[0] == "hotline")
    assert hotline[2] == "111" and "Ministry of Health since 2025" in hotline[1]
    assert ("police", "Police of Phòng Giáo dục D1", "") in made
    events = events_after(db, seq)
    assert [e.action for e in events] == ["referral_contact.defaults"]
    assert len(json.loads(events[0].changes)["added"]) == 4
    assert events[0].unit_id == world.units["D1"]
    page = page_text(admin.get("/admin/referrals"))
    assert "run under the Ministry of Health" in page and "Police of Phòng Giáo dục D1" in page


def test_adding_them_again_adds_nothing(admin, db, world):
    assert admin.post("/admin/referrals/defaults", {"unit_code": "D1"}).status_code == 302
    before = snapshot(db)
    seq = audit_head(db)
    r = admin.post("/admin/referrals/defaults", {"unit_code": "D1"}, follow_redirects=True)
    assert r.status_code == 200
    assert "already lists the usual services" in page_text(r)
    assert changed_tables(before, snapshot(db)) == []
    assert events_after(db, seq) == []


def test_a_province_gets_the_hotline_and_its_social_protection_centre(admin, db, world):
    assert admin.post("/admin/referrals/defaults", {"unit_code": "PRV"}).status_code == 302
    assert [k for k, _n, _p in _contacts(db, "PRV")] == ["hotline", "social_protection"]
    # A commune below a province that lists 111 does not list it again.
    assert admin.post("/admin/referrals/defaults", {"unit_code": "D2"}).status_code == 302
    assert "hotline" not in [k for k, _n, _p in _contacts(db, "D2")]


def test_a_service_the_unit_lists_already_is_not_added_again(app, db, world):
    d1 = db.get(Unit, world.units["D1"])
    referrals.create_contact(db, None, d1, "Công an phường", "police", "0236 3822 113", "")
    db.commit()
    with app.test_request_context(), force_locale("vi"):
        added = referral_defaults.add_defaults(db, None, d1)
    db.commit()
    assert sorted(c.kind for c in added) == ["commune_committee", "health_station", "hotline"]
    assert [c for c in _contacts(db, "D1") if c[0] == "police"] == [
        ("police", "Công an phường", "0236 3822 113")
    ]


def test_a_school_gets_the_hotline_only(app, db, world):
    school = db.get(Unit, world.units["SCH-A"])
    with app.test_request_context():
        added = referral_defaults.add_defaults(db, None, school)
    db.commit()
    assert [c.kind for c in added] == ["hotline"]


def test_a_unit_outside_the_persons_units_is_refused(client, db, world):
    """admin.d2 names D1: the same answer whether the code exists or not, nothing written."""
    visitor = Visitor(client, db, world["admin_d2"], lang="en")
    before = snapshot(db)
    r = visitor.post("/admin/referrals/defaults", {"unit_code": "D1"})
    assert r.status_code == 400
    assert "No unit with the code D1 within your units." in page_text(r)
    assert changed_tables(before, snapshot(db)) == []
    with pytest.raises(NotFound):
        referral_defaults.add_defaults(
            db, db.get(User, world["admin_d2"].id), db.get(Unit, world.units["D1"])
        )


def test_the_button_needs_its_csrf_token_and_the_role(client, db, world, admin):
    before = snapshot(db)
    r = admin.post("/admin/referrals/defaults", {"unit_code": "D1"}, csrf=False)
    assert r.status_code == 400
    focal = Visitor(client, db, world["focal_a"])
    assert focal.post("/admin/referrals/defaults", {"unit_code": "SCH-A"}).status_code in (
        403,
        404,
    )
    assert changed_tables(before, snapshot(db)) == []


def test_officers_see_the_button_focal_points_do_not(client, db, world):
    officer = page_text(Visitor(client, db, world["officer_d1"], lang="en").get("/admin/referrals"))
    assert "Add the usual services" in officer
    focal = page_text(Visitor(client, db, world["focal_a"], lang="en").get("/admin/referrals"))
    assert "Add the usual services" not in focal
    assert "Ministry of Health" in focal
