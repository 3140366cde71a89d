"""The account screens: the first role asked for on the new account's page, the role list
starting on a prompt, and what a grant says to an account that never signed in."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from caseapp.models import ApprovalRequest, Grant, Unit, User, UserSession
from tests.factories import Visitor, get_user, sign_in_client
from tests.functional.admin_support import (
    audit_head,
    changed_tables,
    events_after,
    page_text,
    snapshot,
)

NEW = {"username": "tran.thi.c", "full_name": "Trần Thị C", "email": "", "unit_code": "SCH-A"}


@pytest.fixture()
def admin(client, db, world):
    agent = Visitor(client, db, world["admin_p"])
    agent.use_language("en")
    return agent


def _options(page: str, name: str) -> list[tuple[str, str]]:
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select_html, f"no list {name}"
    return re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select_html[1])


def test_the_new_account_page_offers_the_first_role_starting_on_a_prompt(admin):
    page = page_text(admin.get("/admin/users/new"))
    options = _options(page, "role")
    assert options[0] == ("", "— Choose —")
    assert {value for value, _label in options[1:]} == {
        "focal_point",
        "officer",
        "head",
        "auditor",
        "admin",
    }
    assert 'name="role_unit_code"' in page
    assert "Roles are granted on the next page" not in page


def _pending(db, username):
    from caseapp.services.accounts import approvals

    user = get_user(db, username)
    req = db.scalar(select(ApprovalRequest).where(ApprovalRequest.subject_user_id == user.id))
    return user, req, approvals.payload(req)


def test_an_account_and_its_first_role_are_asked_for_on_one_page(admin, db, world):
    seq = audit_head(db)
    r = admin.post("/admin/users/new", {**NEW, "role": "focal_point"})
    assert r.status_code == 200, page_text(r)
    assert "part 1 of 2" in page_text(r)  # the letter with the first half of the code
    user, req, wanted = _pending(db, "tran.thi.c")
    # The role waits for a second administrator; it is at the account's own unit.
    assert user.active_grants == []
    assert (req.kind, req.status, wanted["role"], wanted["unit"]) == (
        "new_account",
        "pending",
        "focal_point",
        "SCH-A",
    )
    assert [e.action for e in events_after(db, seq)] == [
        "user.create",
        "approval.request",
        "auth.enrolment_issued",
    ]


def test_the_first_role_may_be_at_another_unit(admin, db):
    r = admin.post("/admin/users/new", {**NEW, "role": "officer", "role_unit_code": "D1"})
    assert r.status_code == 200, page_text(r)
    _user, _req, wanted = _pending(db, "tran.thi.c")
    assert (wanted["role"], wanted["unit"]) == ("officer", "D1")


def test_leaving_the_prompt_makes_the_account_without_a_role(admin, db):
    r = admin.post("/admin/users/new", {**NEW, "role": ""})
    assert r.status_code == 200, page_text(r)
    user, req, wanted = _pending(db, "tran.thi.c")
    assert user.grants == [] and req.kind == "new_account" and "role" not in wanted


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"role": "officer", "role_unit_code": "NOPE"},
            "No unit with the code NOPE within your units.",
        ),
        ({"role": "galaxy"}, "Not a valid choice."),
        (
            {"role": "", "role_unit_code": "D1"},
            "Choose the role to grant at that unit, or leave the unit empty.",
        ),
    ],
)
def test_a_refused_first_role_saves_no_account(admin, db, fields, message):
    before = snapshot(db)
    r = admin.post("/admin/users/new", {**NEW, **fields})
    assert r.status_code == 400
    assert message in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


def test_a_first_role_beyond_the_administrators_units_saves_no_account(client, db, world):
    agent = Visitor(client, db, world["admin_d1"])
    agent.use_language("en")
    before = snapshot(db)
    r = agent.post("/admin/users/new", {**NEW, "role": "officer", "role_unit_code": "D2"})
    assert r.status_code == 400
    assert changed_tables(before, snapshot(db)) == []


def test_the_grant_form_starts_on_a_prompt_at_the_accounts_unit(admin, world):
    page = page_text(admin.get(f"/admin/users/{world['nobody'].id}"))
    assert _options(page, "role")[0] == ("", "— Choose —")
    unit_input = re.search(r'<input[^>]*name="unit_code"[^>]*>', page)[0]
    assert 'value="SCH-A"' in unit_input


def test_a_grant_without_a_chosen_role_is_refused(admin, db, world):
    before = snapshot(db)
    r = admin.post(f"/admin/users/{world['nobody'].id}/grants", {"role": "", "unit_code": "SCH-A"})
    assert r.status_code == 400
    assert "Choose a role." in page_text(r)
    assert changed_tables(before, snapshot(db)) == []


def test_a_content_role_is_asked_for_not_granted(admin, db, world):
    r = admin.post(
        f"/admin/users/{world['nobody'].id}/grants",
        {"role": "focal_point", "unit_code": "SCH-A"},
        follow_redirects=True,
    )
    assert "It takes effect when a second administrator approves it." in page_text(r)
    assert db.scalar(select(Grant.id).where(Grant.user_id == world["nobody"].id)) is None


def _approve_latest_about(app, db, user_id: int, approver):
    req = db.scalar(
        select(ApprovalRequest)
        .where(ApprovalRequest.subject_user_id == user_id, ApprovalRequest.status == "pending")
        .order_by(ApprovalRequest.id.desc())
        .limit(1)
    )
    assert req is not None
    return Visitor(app, db, approver).post(
        f"/admin/approvals/{req.id}/approve", {"version": str(req.version)}
    )


def test_an_admin_grant_is_asked_for_not_granted(app, admin, db, world):
    """The administrative role waits for a second person too (an administrator would otherwise
    make a second account of theirs an administrator and approve their own requests with it)."""
    r = admin.post(
        f"/admin/users/{world['nobody'].id}/grants",
        {"role": "admin", "unit_code": "SCH-A"},
        follow_redirects=True,
    )
    page = page_text(r)
    assert "It takes effect when a second administrator approves it." in page
    assert "sessions were ended" not in page
    assert db.scalar(select(Grant.id).where(Grant.user_id == world["nobody"].id)) is None


def test_an_approved_grant_to_an_account_in_use_ends_its_sessions(app, admin, db, world):
    sign_in_client(app.test_client(), db, world["nobody"])
    db.commit()
    r = admin.post(
        f"/admin/users/{world['nobody'].id}/grants",
        {"role": "admin", "unit_code": "SCH-A"},
        follow_redirects=True,
    )
    assert "It takes effect when a second administrator approves it." in page_text(r)
    # admin.p asked; admin.d1 (covering SCH-A) approves.
    assert _approve_latest_about(app, db, world["nobody"].id, world["admin_d1"]).status_code == 302
    user = db.get(User, world["nobody"].id)
    db.expire_all()
    assert db.scalar(
        select(Grant).where(
            Grant.user_id == user.id,
            Grant.unit_id == db.scalar(select(Unit.id).where(Unit.code == "SCH-A")),
        )
    )
    assert (
        db.scalar(
            select(UserSession.id).where(
                UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
            )
        )
        is None
    )
