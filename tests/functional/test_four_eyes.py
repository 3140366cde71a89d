"""Four-eyes and separation of duties: the insider attacks of issue 11, each refused.

World: PRV > D1 (SCH-A, SCH-B), D2 (SCH-C); admins admin.p (PRV), admin.d1, admin.d2; officers
officer.d1, officer.d2, officer.p; auditor.p at PRV."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from caseapp.db import utcnow
from caseapp.errors import Conflict, Forbidden, NotFound, ValidationFailed
from caseapp.models import (
    ApprovalRequest,
    AuditEvent,
    CaseExclusion,
    EnrolmentCode,
    Grant,
    Notification,
    Unit,
    User,
)
from caseapp.runtime import hasher
from caseapp.security import passwords
from caseapp.security.authz import has_permission
from caseapp.services.accounts import approvals, enrolment
from caseapp.services.accounts import users as user_service
from tests.factories import PASSWORD, Visitor
from tests.functional.admin_support import (
    audit_head,
    changed_tables,
    events_after,
    page_text,
    snapshot,
)


def _u(db, world, name) -> User:
    return db.get(User, world[name].id)


def _unit(db, world, code) -> Unit:
    return db.get(Unit, world.units[code])


def _code_on(page: str) -> str:
    match = re.search(r'class="letter-code"><code>([A-Z0-9-]+)</code>', page)
    assert match, "no code on the letter"
    return match[1]


def _grants(db, user_id) -> set[tuple[str, str]]:
    db.expire_all()
    return {
        (g.role, g.unit.code)
        for g in db.scalars(
            select(Grant).where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
        )
    }


def _request(db, **where) -> ApprovalRequest:
    db.expire_all()
    stmt = select(ApprovalRequest).order_by(ApprovalRequest.id.desc()).limit(1)
    for column, value in where.items():
        stmt = stmt.where(getattr(ApprovalRequest, column) == value)
    found = db.scalar(stmt)
    assert found is not None
    return found


def _ask_grant(db, world, asker, subject, role, unit_code) -> ApprovalRequest:
    made = approvals.request_grant(
        db, _u(db, world, asker), _u(db, world, subject), role, _unit(db, world, unit_code), "x"
    )
    db.commit()
    assert isinstance(made, ApprovalRequest)
    return made


# 1. An administrator takes over an account --------------------------------------------------


def test_a_reset_gives_the_admin_nothing_that_signs_in(app, db, world):
    admin = Visitor(app, db, world["admin_p"])
    seq = audit_head(db)
    focal_id = world["focal_a"].id
    r = admin.post(f"/admin/users/{focal_id}/reset-sign-in", {"reason": "Quên mật khẩu"})
    assert r.status_code == 200
    seen_by_admin = page_text(r)
    part1 = _code_on(seen_by_admin)
    req = _request(db, subject_user_id=focal_id)
    assert (req.kind, req.status) == ("credential_reset", "pending")
    focal = _u(db, world, "focal_a")
    # Nothing changed yet for the person: their own password still works, the code does not.
    assert passwords.verify_password(hasher(), focal.password_hash, PASSWORD)
    assert enrolment.usable_code(db, focal, part1, "") is None
    assert enrolment.usable_code(db, focal, part1, part1) is None

    # The account page says a code is on its way, never the code.
    account_page = page_text(admin.get(f"/admin/users/{focal_id}"))
    assert f"/admin/approvals/{req.id}" in account_page and part1 not in account_page
    assert "Part 1 issued on" in account_page or "part 2" in account_page.lower()

    # The requester cannot approve their own request.
    mine = admin.post(
        f"/admin/approvals/{req.id}/approve", {"version": str(req.version), "note": ""}
    )
    assert mine.status_code == 403
    assert _request(db, id=req.id).status == "pending"

    second = Visitor(app, db, world["admin_d1"])
    r2 = second.post(f"/admin/approvals/{req.id}/approve", {"version": str(req.version)})
    assert r2.status_code == 200
    part2 = _code_on(page_text(r2))
    assert part1 not in page_text(r2)
    db.expire_all()
    focal = _u(db, world, "focal_a")
    # Nothing the admin saw signs in: not the old password, not part 1 (alone or as a
    # password); only both parts together, held by two different people.
    for secret in (PASSWORD, part1, part1.replace("-", "")):
        assert not passwords.verify_password(hasher(), focal.password_hash, secret)
    assert enrolment.usable_code(db, focal, part1, "") is None
    assert enrolment.usable_code(db, focal, part1, part1) is None
    assert enrolment.usable_code(db, focal, part1, part2) is not None
    assert focal.totp_secret is None

    actions = [e.action for e in events_after(db, seq)]
    for needed in (
        "approval.request",
        "auth.enrolment_issued",
        "approval.approve",
        "auth.enrolment_released",
        "auth.credential_reset",
    ):
        assert needed in actions
    reset = next(e for e in events_after(db, seq) if e.action == "auth.credential_reset")
    assert reset.actor_name == world["admin_d1"].username
    assert json.loads(reset.changes)["requested_by"] == world["admin_p"].username
    told = {
        (n.user_id, n.kind)
        for n in db.scalars(select(Notification).where(Notification.kind.like("account.%")))
    }
    assert (focal_id, "account.requested") in told and (focal_id, "account.reset") in told
    assert (world["officer_d1"].id, "account.reset") in told


def test_the_two_old_reset_actions_are_gone(app, db, world):
    admin = Visitor(app, db, world["admin_p"])
    for path in ("reset-password", "reset-second-factor"):
        r = admin.post(f"/admin/users/{world['focal_a'].id}/{path}", {"reason": "x"})
        assert r.status_code in (404, 405)
    assert db.scalar(select(ApprovalRequest.id).limit(1)) is None


def test_a_new_account_starts_without_any_password_the_admin_knows(app, db, world):
    admin = Visitor(app, db, world["admin_p"])
    data = {"username": "moi.nguoi", "full_name": "Người Mới", "unit_code": "SCH-A"}
    r = admin.post("/admin/users/new", {**data, "role": "focal_point"})
    assert r.status_code == 200
    part1 = _code_on(page_text(r))
    user = db.scalar(select(User).where(User.username == "moi.nguoi"))
    assert _grants(db, user.id) == set()  # the role waits for the approval
    req = _request(db, subject_user_id=user.id)
    assert req.kind == "new_account"
    r2 = Visitor(app, db, world["admin_d1"]).post(
        f"/admin/approvals/{req.id}/approve", {"version": str(req.version)}
    )
    part2 = _code_on(page_text(r2))
    db.expire_all()
    user = db.get(User, user.id)
    assert _grants(db, user.id) == {("focal_point", "SCH-A")}
    grant = db.scalar(select(Grant).where(Grant.user_id == user.id))
    assert grant.granted_by_id == world["admin_d1"].id
    assert not passwords.verify_password(hasher(), user.password_hash, part1)
    assert enrolment.usable_code(db, user, part1, part2) is not None


# 2. An administrator holds a content role ---------------------------------------------------


@pytest.mark.parametrize("role", ["focal_point", "officer", "auditor"])
def test_an_admin_is_never_given_a_content_or_audit_role(db, world, role):
    with pytest.raises(ValidationFailed):
        approvals.request_grant(
            db, _u(db, world, "admin_p"), _u(db, world, "admin_d1"), role, _unit(db, world, "D1")
        )
    db.rollback()
    assert _grants(db, world["admin_d1"].id) == {("admin", "D1")}


@pytest.mark.parametrize("holder", ["focal_a", "officer_d1", "auditor_p"])
def test_a_content_or_audit_role_holder_is_never_made_admin(db, world, holder):
    unit = "PRV" if holder == "auditor_p" else "D1"
    admin = "admin_p"
    before = _grants(db, world[holder].id)
    with pytest.raises(ValidationFailed):
        approvals.request_grant(
            db, _u(db, world, admin), _u(db, world, holder), "admin", _unit(db, world, unit)
        )
    db.rollback()
    assert _grants(db, world[holder].id) == before


def test_separation_is_checked_again_at_approval(db, world):
    # Asked while the person held nothing; made admin meanwhile; the approval is refused.
    req = _ask_grant(db, world, "admin_p", "nobody", "focal_point", "SCH-A")
    user_service.grant_role(
        db, _u(db, world, "admin_p"), _u(db, world, "nobody"), "admin", _unit(db, world, "SCH-A")
    )
    db.commit()
    with pytest.raises(ValidationFailed):
        approvals.approve(db, _u(db, world, "admin_d1"), req, "", req.version)
    db.rollback()
    assert _grants(db, world["nobody"].id) == {("admin", "SCH-A")}
    assert _request(db, id=req.id).status == "pending"


# 3. An administrator appoints their own auditor ---------------------------------------------


def test_an_admin_cannot_ask_for_an_auditor_at_their_own_unit(db, world):
    with pytest.raises(Forbidden):
        approvals.request_grant(
            db,
            _u(db, world, "admin_d1"),
            _u(db, world, "nobody"),
            "auditor",
            _unit(db, world, "D1"),
        )
    db.rollback()
    with pytest.raises(NotFound):  # nor above it
        approvals.request_grant(
            db,
            _u(db, world, "admin_d1"),
            _u(db, world, "nobody"),
            "auditor",
            _unit(db, world, "PRV"),
        )
    db.rollback()
    assert db.scalar(select(ApprovalRequest.id).limit(1)) is None


def test_an_auditor_below_is_asked_for_by_an_admin_above(db, world):
    req = _ask_grant(db, world, "admin_p", "nobody", "auditor", "D1")
    # admin.d1 administers D1, the auditor's own unit: it cannot be the approver either.
    assert not approvals.may_decide(db, _u(db, world, "admin_d1"), req)
    with pytest.raises(Forbidden):
        approvals.approve(db, _u(db, world, "admin_d1"), req, "", req.version)
    db.rollback()
    assert _grants(db, world["nobody"].id) == set()


def test_the_top_units_auditor_needs_the_top_pair(app, db, world):
    from caseapp.runtime import keyring
    from tests.factories import make_user

    req = _ask_grant(db, world, "admin_p", "nobody", "auditor", "PRV")
    # With no second administrator at the top, the officer at the top approves.
    assert approvals.may_decide(db, _u(db, world, "officer_p"), req)
    assert not approvals.may_decide(db, _u(db, world, "admin_d1"), req)
    second = make_user(
        db, keyring(), "admin.p2", _unit(db, world, "PRV"), [("admin", _unit(db, world, "PRV"))]
    )
    db.commit()
    # Now a second top administrator exists: they approve, the officer no longer can.
    assert not approvals.may_decide(db, _u(db, world, "officer_p"), req)
    approver = db.get(User, second.id)
    assert approvals.may_decide(db, approver, req)
    approvals.approve(db, approver, req, "", req.version)
    db.commit()
    assert _grants(db, world["nobody"].id) == {("auditor", "PRV")}


# 4. A grant without a second approver -------------------------------------------------------


def test_a_grant_without_a_second_approver_has_no_effect(app, db, world):
    admin = Visitor(app, db, world["admin_d1"])
    r = admin.post(
        f"/admin/users/{world['nobody'].id}/grants",
        {"role": "focal_point", "unit_code": "SCH-A", "reason": "Giáo viên mới"},
    )
    assert r.status_code == 302
    assert db.scalar(select(Grant.id).where(Grant.user_id == world["nobody"].id)) is None
    person = _u(db, world, "nobody")
    db.refresh(person, ["grants"])
    assert not has_permission(person, "case.read")
    req = _request(db, subject_user_id=world["nobody"].id)
    assert (req.kind, req.status, req.reason) == ("grant", "pending", "Giáo viên mới")
    # And the service refuses to grant it directly.
    with pytest.raises(Forbidden):
        user_service.grant_role(db, _u(db, world, "admin_d1"), person, "focal_point", req.unit)
    db.rollback()
    assert db.scalar(select(Grant.id).where(Grant.user_id == world["nobody"].id)) is None


def test_an_approved_grant_takes_effect_as_the_approver(db, world):
    seq = audit_head(db)
    req = _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    approvals.approve(db, _u(db, world, "admin_p"), req, "ok", req.version)
    db.commit()
    assert _grants(db, world["nobody"].id) == {("focal_point", "SCH-A")}
    events = events_after(db, seq)
    assert [e.action for e in events] == ["approval.request", "user.grant", "approval.approve"]
    grant_event = events[1]
    assert grant_event.actor_name == "admin.p"
    assert json.loads(grant_event.changes)["requested_by"] == "admin.d1"
    approve_event = events[2]
    assert json.loads(approve_event.changes)["requested_by"] == "admin.d1"
    assert json.loads(approve_event.changes)["kind"] == "grant"


# Who may decide -----------------------------------------------------------------------------


def test_the_subject_cannot_approve_a_request_about_themself(db, world):
    made = approvals.request_credential_reset(
        db, _u(db, world, "admin_p"), _u(db, world, "admin_d1"), "Mất điện thoại"
    )
    db.commit()
    req = made.request
    with pytest.raises(Forbidden):
        approvals.approve(db, _u(db, world, "admin_d1"), req, "", req.version)
    db.rollback()
    # No other administrator covers D1 (admin.p asked): the officer above approves.
    assert approvals.may_decide(db, _u(db, world, "officer_d1"), req)


def test_the_officer_fallback_only_when_no_other_admin_exists(db, world):
    made = approvals.request_credential_reset(
        db, _u(db, world, "admin_p"), _u(db, world, "focal_a"), "Quên mật khẩu"
    )
    db.commit()
    req = made.request
    # admin.d1 covers SCH-A: the officer above may not decide.
    assert approvals.may_decide(db, _u(db, world, "admin_d1"), req)
    with pytest.raises(Forbidden):
        approvals.approve(db, _u(db, world, "officer_d1"), req, "", req.version)
    db.rollback()
    # auditor.p's home unit is PRV, where admin.p is the only administrator.
    made = approvals.request_credential_reset(
        db, _u(db, world, "admin_p"), _u(db, world, "auditor_p"), "Quên mật khẩu"
    )
    db.commit()
    other = made.request
    assert not approvals.may_decide(db, _u(db, world, "admin_d1"), other)
    decided = approvals.approve(db, _u(db, world, "officer_p"), other, "", other.version)
    db.commit()
    assert decided.letter is not None and decided.letter.part == 2


def test_an_expired_request_cannot_be_approved(app, db, world):
    req = _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    db.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == req.id)
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    db.commit()
    db.expire_all()
    req = _request(db, id=req.id)
    assert approvals.shown_status(req) == "expired"
    with pytest.raises(ValidationFailed):
        approvals.approve(db, _u(db, world, "admin_p"), req, "", req.version)
    db.rollback()
    assert _grants(db, world["nobody"].id) == set()
    page = page_text(Visitor(app, db, world["admin_d1"]).get("/admin/approvals"))
    assert "Expired" in page or "Hết hạn" in page or "expired" in page.lower()


@pytest.mark.parametrize("end", ["reject", "cancel"])
def test_rejected_or_withdrawn_changes_nothing(db, world, end):
    made = approvals.request_credential_reset(
        db, _u(db, world, "admin_d1"), _u(db, world, "focal_a"), "Quên mật khẩu"
    )
    grant_req = _ask_grant(db, world, "admin_d1", "nobody", "officer", "D1")
    db.commit()
    for req in (made.request, grant_req):
        if end == "reject":
            approvals.reject(db, _u(db, world, "admin_p"), req, "Không cần", req.version)
        else:
            approvals.cancel(db, _u(db, world, "admin_d1"), req, "", req.version)
        db.commit()
    assert _grants(db, world["nobody"].id) == set()
    focal = _u(db, world, "focal_a")
    assert passwords.verify_password(hasher(), focal.password_hash, PASSWORD)
    assert focal.totp_secret is not None
    # The unfinished code is withdrawn, and a decided request cannot be approved after.
    assert (
        db.scalar(
            select(EnrolmentCode.id).where(
                EnrolmentCode.user_id == focal.id, EnrolmentCode.revoked_at.is_(None)
            )
        )
        is None
    )
    with pytest.raises(Conflict):
        approvals.approve(db, _u(db, world, "admin_p"), grant_req, "", None)
    db.rollback()


def test_only_the_requester_withdraws(db, world):
    req = _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    with pytest.raises(Forbidden):
        approvals.cancel(db, _u(db, world, "admin_p"), req, "", req.version)
    db.rollback()
    assert _request(db, id=req.id).status == "pending"


def test_a_stale_or_second_approval_is_a_conflict(app, db, world):
    req = _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    stale = str(req.version)
    approver = Visitor(app, db, world["admin_p"])
    first = approver.post(f"/admin/approvals/{req.id}/approve", {"version": stale})
    assert first.status_code == 302
    seq = audit_head(db)
    again = approver.post(f"/admin/approvals/{req.id}/approve", {"version": stale})
    assert again.status_code == 409
    assert "reload" in page_text(again).lower() or "tải lại" in page_text(again).lower()
    assert events_after(db, seq) == []
    assert len([g for g in _grants(db, world["nobody"].id)]) == 1


def test_a_changed_request_refuses_the_old_page(db, world):
    req = _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    with pytest.raises(Conflict):
        approvals.approve(db, _u(db, world, "admin_p"), req, "", req.version + 1)
    db.rollback()
    assert _grants(db, world["nobody"].id) == set()


def test_without_a_csrf_token_nothing_changes(app, db, world):
    req = _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    before = snapshot(db)
    approver = Visitor(app, db, world["admin_p"])
    for action in ("approve", "reject"):
        r = approver.post(
            f"/admin/approvals/{req.id}/{action}", {"version": str(req.version)}, csrf=False
        )
        assert r.status_code == 400
    r = Visitor(app, db, world["admin_d1"]).post(
        f"/admin/users/{world['focal_a'].id}/reset-sign-in", {"reason": "x"}, csrf=False
    )
    assert r.status_code == 400
    assert changed_tables(before, snapshot(db)) == []


def test_a_request_is_not_shown_to_people_outside_its_units(app, db, world):
    req = _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    for who in ("admin_d2", "officer_d2"):
        assert Visitor(app, db, world[who]).get(f"/admin/approvals/{req.id}").status_code == 404
    for who in ("focal_a", "auditor_p"):
        assert Visitor(app, db, world[who]).get(f"/admin/approvals/{req.id}").status_code == 404
    with pytest.raises(NotFound):
        approvals.get_request(db, _u(db, world, "admin_d2"), req.id)


def test_the_approvals_page_lists_who_asked_why_and_for_whom(app, db, world):
    _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    page = page_text(Visitor(app, db, world["admin_p"]).get("/admin/approvals"))
    assert "Person admin.d1" in page and "Person no.grants" in page
    assert 'class="badge"' in page  # the menu shows the count waiting
    own = page_text(Visitor(app, db, world["admin_d1"]).get("/admin/approvals"))
    assert "Person no.grants" in own


# Exclusions ---------------------------------------------------------------------------------


def test_lifting_an_exclusion_needs_a_second_person(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    officer_d1 = world["officer_d1"]
    focal.post(
        f"/cases/{case.public_id}/exclusions",
        {"person": str(world["nobody"].id), "reason": "Người thân"},
    )
    exclusion = db.scalar(select(CaseExclusion).where(CaseExclusion.case_id == case.id))
    assert exclusion is not None
    exclusion_id = exclusion.id
    assert db.scalar(
        select(Notification.id).where(
            Notification.user_id == world["nobody"].id, Notification.kind == "account.excluded"
        )
    )
    asker = Visitor(app, db, officer_d1)
    r = asker.post(
        f"/cases/{case.public_id}/exclusions/{exclusion.id}/lift", {"reason": "Nhầm người"}
    )
    assert r.status_code == 302
    db.expire_all()
    assert db.get(CaseExclusion, exclusion.id) is not None  # not lifted by one person
    req = _request(db, kind="exclusion_lift")
    db.commit()  # the rollbacks below undo only what follows
    with pytest.raises(Forbidden):
        approvals.approve(db, _u(db, world, "officer_d1"), req, "", req.version)
    db.rollback()
    with pytest.raises(Forbidden):  # nor by the excluded person
        approvals.approve(db, _u(db, world, "focal_b"), req, "", req.version)
    db.rollback()
    # The case page shows the request to who may approve it.
    other = Visitor(app, db, world["officer_p"])
    assert f"/admin/approvals/{req.id}" in page_text(other.get(f"/cases/{case.public_id}"))
    seq = audit_head(db)
    assert (
        other.post(f"/admin/approvals/{req.id}/approve", {"version": str(req.version)}).status_code
        == 302
    )
    db.expire_all()
    assert db.get(CaseExclusion, exclusion_id) is None
    lift = next(e for e in events_after(db, seq) if e.action == "case.exclusion_lift")
    assert lift.actor_name == world["officer_p"].username
    assert json.loads(lift.changes)["requested_by"] == officer_d1.username
    assert lift.reason == "Nhầm người"
    assert db.scalar(
        select(Notification.id).where(
            Notification.user_id == world["nobody"].id, Notification.kind == "account.included"
        )
    )
    assert db.scalar(select(AuditEvent.seq).where(AuditEvent.action == "approval.approve"))


def test_an_excluded_person_never_sees_the_lift_request(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    focal.post(
        f"/cases/{case.public_id}/exclusions",
        {"person": str(world["officer_d1"].id), "reason": "Người thân"},
    )
    exclusion_id = db.scalar(select(CaseExclusion.id).where(CaseExclusion.case_id == case.id))
    asker = Visitor(app, db, world["officer_p"])
    lift = f"/cases/{case.public_id}/exclusions/{exclusion_id}/lift"
    assert asker.post(lift, {"reason": "Nhầm người"}).status_code == 302
    req = _request(db, kind="exclusion_lift")
    excluded = Visitor(app, db, world["officer_d1"])
    assert excluded.get(f"/admin/approvals/{req.id}").status_code == 404
    assert case.reference not in page_text(excluded.get("/admin/approvals"))
    r = excluded.post(f"/admin/approvals/{req.id}/approve", {"version": str(req.version)})
    assert r.status_code == 404
    # Another officer or administrator covering the school decides.
    assert Visitor(app, db, world["admin_d1"]).get(f"/admin/approvals/{req.id}").status_code == 200
