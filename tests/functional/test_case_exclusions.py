"""Exclusions: who can be named, the case never leaves the district's sight, and an officer
above the school can lift a mistaken exclusion (with a reason, audited).

World: PRV > D1 (SCH-A, SCH-B), D2 (SCH-C); officers over SCH-A: officer_d1 and officer_p.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from caseapp.models import AuditEvent, CaseExclusion
from tests.functional.admin_support import translated
from tests.functional.case_attack_support import (
    Actor,
    actions_after,
    audit_head,
    page_text,
    row_counts,
)

NOBODY_HERE = "No account with that user name belongs to this school or the units above it."
LAST_OFFICER = (
    "At least one officer above the school must still be able to see this case. "
    "Ask the district office to name another officer first."
)


def _excluded(db, case) -> set[int]:
    return set(db.scalars(select(CaseExclusion.user_id).where(CaseExclusion.case_id == case.id)))


@pytest.fixture()
def case_at_a(app, db, world):
    return Actor(app, db, world["focal_a"]).intake(db, world.units["SCH-A"])


def _exclude(actor, case, username):
    return actor.post(
        f"/cases/{case.public_id}/exclusions",
        {"username": username, "reason": "Người thân của người bị tố cáo"},
        follow_redirects=True,
    )


@pytest.mark.parametrize("username", ["no.such.person", "focal.c", "officer.d2", "admin.d2"])
def test_only_people_of_the_school_or_above_can_be_named(app, db, world, case_at_a, username):
    """Unknown names and accounts of other schools and districts get one answer: the form does
    not tell a focal point which user names exist elsewhere."""
    focal = Actor(app, db, world["focal_a"])
    start, counts = audit_head(db), row_counts(db)
    response = _exclude(focal, case_at_a, username)
    assert translated(app, NOBODY_HERE) in page_text(response)
    assert actions_after(db, start) == [] and row_counts(db) == counts
    assert _excluded(db, case_at_a) == set()


def test_the_last_overseeing_officer_cannot_be_excluded(app, db, world, case_at_a):
    focal = Actor(app, db, world["focal_a"])
    assert _exclude(focal, case_at_a, world["officer_d1"].username).status_code == 200
    assert _excluded(db, case_at_a) == {world["officer_d1"].id}
    start = audit_head(db)
    response = _exclude(focal, case_at_a, world["officer_p"].username)
    assert translated(app, LAST_OFFICER) in page_text(response)
    assert actions_after(db, start) == []
    assert _excluded(db, case_at_a) == {world["officer_d1"].id}
    assert (
        Actor(app, db, world["officer_p"]).get(f"/cases/{case_at_a.public_id}").status_code == 200
    )


def test_an_officer_lifts_an_exclusion_with_a_reason(app, db, world, case_at_a):
    focal = Actor(app, db, world["focal_a"])
    _exclude(focal, case_at_a, world["officer_d1"].username)
    excluded = Actor(app, db, world["officer_d1"])
    assert excluded.get(f"/cases/{case_at_a.public_id}").status_code == 404
    [exclusion_id] = db.scalars(
        select(CaseExclusion.id).where(CaseExclusion.case_id == case_at_a.id)
    )
    url = f"/cases/{case_at_a.public_id}/exclusions/{exclusion_id}/lift"
    officer = Actor(app, db, world["officer_p"])
    page = page_text(officer.get(f"/cases/{case_at_a.public_id}"))
    assert url in page and world["officer_d1"].username in page

    start = audit_head(db)
    assert officer.post(url, {"reason": ""}).status_code == 302
    assert actions_after(db, start) == [] and _excluded(db, case_at_a) == {world["officer_d1"].id}

    assert officer.post(url, {"reason": "Nhầm người, không liên quan"}).status_code == 302
    assert actions_after(db, start) == ["case.exclusion_lift"]
    event = db.scalar(select(AuditEvent).where(AuditEvent.seq > start))
    assert event.reason == "Nhầm người, không liên quan"
    assert json.loads(event.changes) == {"user": world["officer_d1"].username}
    assert event.object_ref == case_at_a.reference
    assert _excluded(db, case_at_a) == set()
    assert excluded.get(f"/cases/{case_at_a.public_id}").status_code == 200


@pytest.mark.parametrize("who", ["focal_a", "officer_d2", "auditor_p", "admin_p"])
def test_only_an_overseeing_officer_can_lift(app, db, world, case_at_a, who):
    focal = Actor(app, db, world["focal_a"])
    _exclude(focal, case_at_a, world["officer_d1"].username)
    [exclusion_id] = db.scalars(
        select(CaseExclusion.id).where(CaseExclusion.case_id == case_at_a.id)
    )
    start, counts = audit_head(db), row_counts(db)
    response = Actor(app, db, world[who]).post(
        f"/cases/{case_at_a.public_id}/exclusions/{exclusion_id}/lift", {"reason": "Xin mở lại"}
    )
    assert response.status_code == 404
    assert actions_after(db, start) == [] and row_counts(db) == counts
    assert _excluded(db, case_at_a) == {world["officer_d1"].id}


def test_an_exclusion_of_another_case_cannot_be_lifted_through_this_one(app, db, world, case_at_a):
    focal = Actor(app, db, world["focal_a"])
    other = focal.intake(db, world.units["SCH-A"])
    _exclude(focal, other, world["officer_d1"].username)
    [exclusion_id] = db.scalars(select(CaseExclusion.id).where(CaseExclusion.case_id == other.id))
    start = audit_head(db)
    response = Actor(app, db, world["officer_p"]).post(
        f"/cases/{case_at_a.public_id}/exclusions/{exclusion_id}/lift", {"reason": "Xin mở lại"}
    )
    assert response.status_code == 404
    assert actions_after(db, start) == [] and _excluded(db, other) == {world["officer_d1"].id}


def test_a_suspended_colleague_can_be_excluded_and_stays_excluded(app, db, world):
    """The alleged perpetrator is a teacher suspended during the inquiry: naming them works,
    and when their account is enabled again the case stays closed to them."""
    from caseapp.models import Unit, User
    from caseapp.runtime import keyring
    from caseapp.services.accounts import users
    from tests.factories import make_user

    school = db.get(Unit, world.units["SCH-A"])
    teacher = make_user(db, keyring(), "teacher.suspended", school, [("focal_point", school)])
    account = db.get(User, teacher.id)
    users.set_active(db, None, account, False, "Tạm đình chỉ trong thời gian xác minh")
    db.commit()
    focal = Actor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    assert _exclude(focal, case, "teacher.suspended").status_code == 200
    assert _excluded(db, case) == {teacher.id}
    users.set_active(db, None, db.get(User, teacher.id), True, "Đã xác minh xong")
    db.commit()
    assert Actor(app, db, teacher).get(f"/cases/{case.public_id}").status_code == 404
