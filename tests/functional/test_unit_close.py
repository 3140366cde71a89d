"""Closing a unit ends the roles held at it: every active grant there is revoked (audited, with
the reason, the holders' sessions ended), so the officers of a dissolved office keep nothing
they should not. A unit holding roles is closed only from above (an office's own administrator
does not remove the people who oversee it); a grant asked for at it is refused on approval; the
page of the closed unit lists the accounts still based there."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from caseapp.clock import local_today
from caseapp.errors import Forbidden, ValidationFailed
from caseapp.models import Grant, Unit, User, UserSession
from caseapp.runtime import keyring
from caseapp.services.accounts import approvals
from caseapp.services.cases import intake as cases
from caseapp.services.org import units
from tests.factories import Visitor, make_unit, make_user, open_session_for, reason_of
from tests.functional.admin_support import (
    audit_head,
    changed_tables,
    events_after,
    page_text,
    snapshot,
    translated,
)
from tests.functional.case_attack_support import case_details

FROM_ABOVE = (
    "People hold roles at this unit, and their roles end when it closes: only an "
    "administrator of a unit above it may close it."
)
REASON = "The unit was closed."


def _u(db, person) -> User:
    return db.get(User, person.id)


def _live_grants(db, user_id: int) -> set[tuple[str, str]]:
    db.expire_all()
    return {
        (g.role, g.unit.code)
        for g in db.scalars(
            select(Grant).where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
        )
    }


def _live_sessions(db, user_id: int) -> int:
    db.expire_all()
    return len(
        db.scalars(
            select(UserSession).where(
                UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
            )
        ).all()
    )


@pytest.fixture()
def office(db, world):
    """A ward under the province with a school, an officer, an administrator and an auditor
    of the ward, and a focal point of the school; everyone signed in somewhere."""
    province = db.get(Unit, world.units["PRV"])
    ward = make_unit(db, province, "X-WARD", "commune", "Phường Hoà Bình")
    school = make_unit(db, ward, "X-WARD-S", "school", "Trường Tiểu học Hoà Bình")
    people = {
        "officer": make_user(db, keyring(), "officer.ward", ward, [("officer", ward)]),
        "admin": make_user(db, keyring(), "admin.ward", ward, [("admin", ward)]),
        "auditor": make_user(db, keyring(), "auditor.ward", ward, [("auditor", ward)]),
        "focal": make_user(db, keyring(), "focal.ward", school, [("focal_point", school)]),
    }
    for person in people.values():
        open_session_for(db, person.id)
    db.commit()
    return {"ward": ward, "school": school, **people}


def _close(visitor: Visitor, unit: Unit):
    return visitor.post(
        f"/admin/units/{unit.id}/close",
        {"valid_to": local_today().isoformat(), "version": unit.version},
    )


def test_closing_a_unit_ends_the_roles_held_at_it(app, client, db, world, office):
    school = office["school"]
    seq = audit_head(db)
    r = _close(Visitor(client, db, world["admin_p"]), school)
    assert r.status_code == 302, page_text(r)[:2000]
    focal = office["focal"]
    assert _live_grants(db, focal.id) == set()
    assert _live_sessions(db, focal.id) == 0
    # The others, at the ward, keep theirs.
    assert _live_grants(db, office["officer"].id) == {("officer", "X-WARD")}
    events = events_after(db, seq)
    assert [e.action for e in events] == ["unit.close", "user.revoke", "auth.sessions_revoked"]
    revoke = events[1]
    assert reason_of(db, revoke) == translated(app, REASON)
    assert json.loads(revoke.changes)["user"] == "focal.ward"
    assert revoke.actor_name == "admin.p"


def test_a_unit_holding_roles_is_closed_only_from_above(app, client, db, world, office):
    """The ward's own administrator would otherwise remove the auditor who audits them."""
    ward = office["ward"]
    units.close_unit(db, None, office["school"], local_today(), office["school"].version)
    db.commit()
    own_admin = Visitor(client, db, office["admin"])
    before = snapshot(db)
    r = _close(own_admin, db.get(Unit, ward.id))
    assert r.status_code == 403
    assert translated(app, FROM_ABOVE) in page_text(r)
    assert changed_tables(before, snapshot(db)) == []
    assert _live_grants(db, office["auditor"].id) == {("auditor", "X-WARD")}


def test_the_system_closes_a_unit_and_ends_its_roles(db, world, office):
    """The command line and a reform close units with no actor."""
    school = office["school"]
    units.close_unit(db, None, school, local_today(), school.version)
    db.commit()
    assert _live_grants(db, office["focal"].id) == set()
    revoked = db.scalar(select(Grant).where(Grant.user_id == office["focal"].id))
    assert revoked.revoked_by_id is None


def test_a_grant_asked_for_at_a_unit_is_refused_once_it_closed(app, db, world, office):
    school = office["school"]
    req = approvals.request_grant(
        db, _u(db, world["admin_p"]), _u(db, world["nobody"]), "focal_point", school, "x"
    )
    db.commit()
    units.close_unit(db, _u(db, world["admin_p"]), school, local_today(), school.version)
    db.commit()
    with pytest.raises(ValidationFailed) as refused:
        approvals.approve(db, _u(db, world["officer_p"]), req, "", req.version)
    assert refused.value.message == translated(app, "A closed unit cannot receive new grants.")
    db.rollback()
    assert _live_grants(db, world["nobody"].id) == set()


def test_an_officer_of_a_closed_office_opens_nothing_of_its_schools(app, client, db, world, office):
    """The attack: the school closes (its cases stay where they are), then the ward; by its
    path the ward's officer would still cover the school's cases. Their role ended with the
    ward, and so did their sessions."""
    school, ward = office["school"], office["ward"]
    case = cases.create_case(
        db,
        _u(db, office["focal"]),
        school,
        case_details(),
        cases.CaseContent(harmed_name="Lê Thị Thu"),
    )
    db.commit()
    officer = Visitor(app, db, office["officer"])
    assert officer.get(f"/cases/{case.public_id}").status_code == 200
    admin = Visitor(client, db, world["admin_p"])
    assert _close(admin, db.get(Unit, school.id)).status_code == 302
    db.expire_all()
    assert _close(admin, db.get(Unit, ward.id)).status_code == 302
    assert _live_grants(db, office["officer"].id) == set()
    assert _live_sessions(db, office["officer"].id) == 0
    # The old session is over: the next request asks to sign in again.
    assert officer.get(f"/cases/{case.public_id}").status_code in (302, 401)
    officer.sign_in_again()
    assert officer.get(f"/cases/{case.public_id}").status_code == 404


def test_the_page_of_a_closed_unit_lists_the_accounts_based_there(client, db, world, office):
    school = office["school"]
    units.close_unit(db, None, school, local_today(), school.version)
    db.commit()
    admin = Visitor(client, db, world["admin_p"], lang="en")
    page = page_text(admin.get(f"/admin/units/{school.id}"))
    assert "Accounts based at this closed unit" in page
    assert "focal.ward" in page
    open_page = page_text(admin.get(f"/admin/units/{office['ward'].id}"))
    assert "Accounts based at this closed unit" not in open_page


def test_closing_a_unit_without_roles_needs_no_one_above(client, db, world):
    """An empty school is still closed by the administrator of its own commune."""
    school = make_unit(db, db.get(Unit, world.units["D1"]), "X-EMPTY", "school")
    db.commit()
    r = _close(Visitor(client, db, world["admin_d1"]), school)
    assert r.status_code == 302
    db.expire_all()
    assert db.get(Unit, school.id).valid_to == local_today()


def test_forbidden_is_what_the_service_raises(db, world, office):
    ward_admin = _u(db, office["admin"])
    school = office["school"]
    units.close_unit(db, None, school, local_today(), school.version)
    db.commit()
    ward = db.get(Unit, office["ward"].id)
    with pytest.raises(Forbidden):
        units.close_unit(db, ward_admin, ward, local_today(), ward.version)
    db.rollback()
