"""Four-eyes and separation of duties: the insider attacks of issue 11, each refused.

World: PRV > D1 (SCH-A, SCH-B), D2 (SCH-C); admins admin.p (PRV), admin.d1, admin.d2; officers
officer.d1, officer.d2, officer.p; auditor.p at PRV."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

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
from tests.factories import PASSWORD, Visitor, reason_of
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
    admin = Visitor(app, db, world["admin_p"], lang="en")
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
    assert "Part 1 issued on" in account_page

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


def _requests_about(db, subject_id: int) -> set[int]:
    """Ids of the requests about one account (scoped: other tests commit requests of their own
    on a shared PostgreSQL database)."""
    db.expire_all()
    return set(
        db.scalars(select(ApprovalRequest.id).where(ApprovalRequest.subject_user_id == subject_id))
    )


def test_the_two_old_reset_actions_are_gone(app, db, world):
    admin = Visitor(app, db, world["admin_p"])
    before = _requests_about(db, world["focal_a"].id)
    for path in ("reset-password", "reset-second-factor"):
        r = admin.post(f"/admin/users/{world['focal_a'].id}/{path}", {"reason": "x"})
        assert r.status_code in (404, 405)
    assert _requests_about(db, world["focal_a"].id) == before


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
    # Asked while the person held nothing; made admin meanwhile (from the command line); the
    # approval is refused.
    req = _ask_grant(db, world, "admin_p", "nobody", "focal_point", "SCH-A")
    user_service.grant_role(db, None, _u(db, world, "nobody"), "admin", _unit(db, world, "SCH-A"))
    db.commit()
    with pytest.raises(ValidationFailed):
        approvals.approve(db, _u(db, world, "admin_d1"), req, "", req.version)
    db.rollback()
    assert _grants(db, world["nobody"].id) == {("admin", "SCH-A")}
    assert _request(db, id=req.id).status == "pending"


# 3. An administrator appoints their own auditor ---------------------------------------------


def test_an_admin_cannot_ask_for_an_auditor_at_their_own_unit(db, world):
    before = _requests_about(db, world["nobody"].id)
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
    assert _requests_about(db, world["nobody"].id) == before


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
    # With no second administrator at the top, nobody approves: not the officer at the top
    # (no officer approves an auditor), not an administrator below.
    for who in ("officer_p", "admin_d1", "auditor_p"):
        assert not approvals.may_decide(db, _u(db, world, who), req)
    with pytest.raises(Forbidden):
        approvals.approve(db, _u(db, world, "officer_p"), req, "", req.version)
    db.rollback()
    assert _grants(db, world["nobody"].id) == set()
    second = make_user(
        db, keyring(), "admin.p2", _unit(db, world, "PRV"), [("admin", _unit(db, world, "PRV"))]
    )
    db.commit()
    # Now a second top administrator exists: they approve (the officer still cannot).
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
    assert (req.kind, req.status, approvals.text_of(req, "reason")) == (
        "grant",
        "pending",
        "Giáo viên mới",
    )
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
    page = page_text(Visitor(app, db, world["admin_d1"], lang="en").get("/admin/approvals"))
    assert "Expired" in page


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


def test_own_requests_are_the_askers_newest_first_read_from_their_index(db, world):
    """ "Requests I asked for" lists the asker's requests only, newest first; on PostgreSQL it
    reads them from the index by asker and time in that order (no sort, no scan of every
    request ever made: the table keeps them all; migration 0033)."""
    first = _ask_grant(db, world, "admin_p", "nobody", "focal_point", "SCH-A")
    _ask_grant(db, world, "admin_d1", "nobody", "officer", "D1")  # someone else's
    db.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == first.id)
        .values(requested_at=first.requested_at - timedelta(hours=1))
    )
    second = _ask_grant(db, world, "admin_p", "nobody", "head", "SCH-A")
    asker = _u(db, world, "admin_p")
    stmt = approvals.own_requests(asker)
    assert [r.id for r in db.scalars(stmt)] == [second.id, first.id]
    if db.get_bind().dialect.name != "postgresql":
        return  # SQLite: the same index, but no planner switch to force its use on a tiny table
    db.execute(text("SET LOCAL enable_seqscan = off"))  # the table is tiny here
    compiled = stmt.compile(db.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(r[0] for r in db.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_approval_requests_requested_by" in plan and "Sort" not in plan, plan


def test_the_menus_count_is_the_number_of_requests_each_person_may_decide(app, db, world):
    """waiting_count (the menu's number, the candidates with their units only) equals
    waiting_for (the approvals page's list, the people loaded) for everyone, with requests of
    each rule waiting: grants asked at a school and a ward, an auditor grant, an exclusion
    lift."""
    _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    _ask_grant(db, world, "admin_p", "nobody", "officer", "D1")
    _ask_grant(db, world, "admin_p", "focal_b", "auditor", "D1")
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    focal.post(
        f"/cases/{case.public_id}/exclusions", {"person": str(world["nobody"].id), "reason": "x"}
    )
    exclusion = db.scalar(select(CaseExclusion).where(CaseExclusion.case_id == case.id))
    assert exclusion is not None
    Visitor(app, db, world["officer_d1"]).post(
        f"/cases/{case.public_id}/exclusions/{exclusion.id}/lift", {"reason": "Nhầm người"}
    )
    counts = {}
    for name in world.people:
        person = _u(db, world, name)
        counts[name] = approvals.waiting_count(db, person)
        assert counts[name] == len(approvals.waiting_for(db, person)), name
    assert max(counts.values()) >= 2 and min(counts.values()) == 0, counts
    assert counts["officer_p"] == 1, counts  # the lift: officers decide those too


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
    # The excluded person is not told (they would be tipped off); the officers above them are.
    assert not db.scalar(
        select(Notification.id).where(
            Notification.user_id == world["nobody"].id, Notification.kind == "account.excluded"
        )
    )
    assert db.scalar(
        select(Notification.id).where(
            Notification.user_id == world["officer_d1"].id, Notification.kind == "account.excluded"
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
    assert reason_of(db, lift) == "Nhầm người"
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


# Review of issue 11: the holes a security review found, each tried and refused -------------


def _second_admin(db, world, username: str, code: str) -> User:
    from caseapp.runtime import keyring
    from tests.factories import make_user

    unit = _unit(db, world, code)
    made = make_user(db, keyring(), username, unit, [("admin", unit)])
    db.commit()
    return db.get(User, made.id)


def test_an_admin_cannot_make_a_second_account_of_theirs_an_admin_alone(app, db, world):
    """The two-account attack: admin.d1 controls focal.b too; they revoke its focal point grant
    (immediate) and make it an administrator, to approve their own reset of focal.a with it and
    take the account over. The administrative grant waits for a second person."""
    focal_b = world["focal_b"]
    admin = Visitor(app, db, world["admin_d1"], lang="en")
    [grant] = _u(db, world, "focal_b").active_grants
    db.commit()  # the rollbacks below undo only what follows
    assert (
        admin.post(f"/admin/grants/{grant.id}/revoke", {"reason": "Chuyển công tác"}).status_code
        == 302
    )
    r = admin.post(
        f"/admin/users/{focal_b.id}/grants",
        {"role": "admin", "unit_code": "D1", "reason": "Quản trị thứ hai"},
        follow_redirects=True,
    )
    assert "It takes effect when a second administrator approves it." in page_text(r)
    assert _grants(db, focal_b.id) == set()
    asked = _request(db, subject_user_id=focal_b.id)
    assert (asked.kind, asked.status, approvals.payload(asked)["role"]) == (
        "grant",
        "pending",
        "admin",
    )
    # The service refuses the administrative role at once too (the command line may).
    with pytest.raises(Forbidden):
        user_service.grant_role(
            db, _u(db, world, "admin_d1"), _u(db, world, "focal_b"), "admin", _unit(db, world, "D1")
        )
    db.rollback()
    # So the second account approves nothing: not the reset admin.d1 asks for.
    reset = approvals.request_credential_reset(
        db, _u(db, world, "admin_d1"), _u(db, world, "focal_a"), "Quên mật khẩu"
    ).request
    db.commit()
    before = snapshot(db)
    assert not approvals.may_decide(db, _u(db, world, "focal_b"), reset)
    with pytest.raises(Forbidden):
        approvals.approve(db, _u(db, world, "focal_b"), reset, "", reset.version)
    db.rollback()
    assert changed_tables(before, snapshot(db)) == []
    # The approver sees what the account holds and what else waits about it.
    other = approvals.request_grant(
        db, _u(db, world, "admin_d1"), _u(db, world, "focal_b"), "admin", _unit(db, world, "SCH-B")
    )
    db.commit()
    page = page_text(
        Visitor(app, db, world["admin_p"], lang="en").get(f"/admin/approvals/{asked.id}")
    )
    assert "The account today" in page
    assert f"/admin/approvals/{other.id}" in page  # the other request waiting about focal.b
    # A second person decides: then it takes effect, as the approver.
    approvals.approve(db, _u(db, world, "admin_p"), asked, "", asked.version)
    db.commit()
    assert _grants(db, focal_b.id) == {("admin", "D1")}
    made = db.scalar(select(Grant).where(Grant.user_id == focal_b.id, Grant.role == "admin"))
    assert made.granted_by_id == world["admin_p"].id


def test_the_approval_page_shows_the_roles_the_account_holds(app, db, world):
    req = _ask_grant(db, world, "admin_d1", "focal_a", "officer", "D1")
    page = page_text(
        Visitor(app, db, world["admin_p"], lang="en").get(f"/admin/approvals/{req.id}")
    )
    held = re.search(r'<ul id="subject-grants">(.*?)</ul>', page, re.S)
    assert held and "(SCH-A)" in held[1]
    # A revoked grant is not one the account holds.
    [grant] = _u(db, world, "focal_a").active_grants
    user_service.revoke_grant(db, _u(db, world, "admin_d1"), grant, "Chuyển trường")
    db.commit()
    page = page_text(
        Visitor(app, db, world["admin_p"], lang="en").get(f"/admin/approvals/{req.id}")
    )
    assert 'id="subject-grants"' not in page


def test_a_new_account_carrying_auditor_follows_the_auditor_rule(db, world):
    """admin.p asks for a new account with auditor at D1: admin.d1 (of D1 itself) would approve
    the appointment of their own auditor. Nobody but another administrator above D1 may."""
    made = approvals.create_user_with_role(
        db,
        _u(db, world, "admin_p"),
        "kiem.toan",
        "Kiểm Toán",
        "",
        _unit(db, world, "SCH-A"),
        "auditor",
        _unit(db, world, "D1"),
        "Thanh tra mới",
    )
    db.commit()
    req = made.request
    for who in ("admin_d1", "officer_d1", "officer_p", "admin_d2"):
        assert not approvals.may_decide(db, _u(db, world, who), req), who
    before = snapshot(db)
    for who in ("admin_d1", "officer_p"):
        with pytest.raises(Forbidden):
            approvals.approve(db, _u(db, world, who), req, "", req.version)
        db.rollback()
    assert changed_tables(before, snapshot(db)) == []
    assert _grants(db, made.user.id) == set()
    # A second administrator of the province does.
    second = _second_admin(db, world, "admin.p2", "PRV")
    assert approvals.may_decide(db, second, req)
    approvals.approve(db, second, req, "", req.version)
    db.commit()
    assert _grants(db, made.user.id) == {("auditor", "D1")}


def test_no_officer_approves_an_auditor(db, world):
    """The single-administrator fallback does not reach auditors: the officer of D1 would
    approve the auditor of their own district."""
    req = _ask_grant(db, world, "admin_p", "nobody", "auditor", "D1")
    before = snapshot(db)
    for who in ("officer_d1", "officer_p"):
        assert not approvals.may_decide(db, _u(db, world, who), req)
        with pytest.raises(Forbidden):
            approvals.approve(db, _u(db, world, who), req, "", req.version)
        db.rollback()
    assert changed_tables(before, snapshot(db)) == []
    assert _grants(db, world["nobody"].id) == set()


def test_who_approves_a_new_account_is_decided_by_both_its_units(db, world):
    """A school's administrator approved a new account carrying officer at the province: the
    request now belongs to the unit covering both (the province)."""
    school_admin = _second_admin(db, world, "admin.a", "SCH-A")
    made = approvals.create_user_with_role(
        db,
        _u(db, world, "admin_p"),
        "can.bo.tinh",
        "Cán Bộ Tỉnh",
        "",
        _unit(db, world, "SCH-A"),
        "officer",
        _unit(db, world, "PRV"),
        "Cán bộ mới",
    )
    db.commit()
    req = made.request
    assert req.unit_id == world.units["PRV"]
    before = snapshot(db)
    for who in (school_admin, _u(db, world, "admin_d1")):
        assert not approvals.may_decide(db, who, req)
        with pytest.raises(Forbidden):
            approvals.approve(db, who, req, "", req.version)
        db.rollback()
    assert changed_tables(before, snapshot(db)) == []
    assert _grants(db, made.user.id) == set()


def test_a_grant_request_belongs_to_the_unit_covering_the_account_and_the_role(db, world):
    # focal.a lives at SCH-A (D1); an officer grant at D2: only the province decides.
    req = _ask_grant(db, world, "admin_p", "focal_a", "officer", "D2")
    assert req.unit_id == world.units["PRV"]
    for who in ("admin_d1", "admin_d2"):
        assert not approvals.may_decide(db, _u(db, world, who), req)
    # An administrator of one of the two units cannot even ask.
    with pytest.raises((Forbidden, NotFound)):
        approvals.request_grant(
            db,
            _u(db, world, "admin_d2"),
            _u(db, world, "focal_a"),
            "officer",
            _unit(db, world, "D2"),
        )
    db.rollback()


def test_the_approver_must_cover_the_role_s_unit_whatever_the_request_says(db, world):
    """An old request kept at the account's home unit: the approval checks the role's unit."""
    school_admin = _second_admin(db, world, "admin.a", "SCH-A")
    req = _ask_grant(db, world, "admin_p", "nobody", "officer", "PRV")
    db.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == req.id)
        .values(unit_id=world.units["SCH-A"])
    )
    db.commit()
    req = _request(db, id=req.id)
    assert approvals.may_decide(db, school_admin, req)  # by the request's unit alone
    before = snapshot(db)
    with pytest.raises(Forbidden):
        approvals.approve(db, school_admin, req, "", req.version)
    db.rollback()
    assert changed_tables(before, snapshot(db)) == []
    assert _grants(db, world["nobody"].id) == set()


def _auditor_at_d1(db, world) -> Grant:
    grant = user_service.grant_role(
        db, None, _u(db, world, "nobody"), "auditor", _unit(db, world, "D1")
    )
    db.commit()
    return grant


def test_an_admin_cannot_remove_their_own_auditor(app, db, world):
    """admin.d1 revoking the auditor of D1, or disabling the account: refused; only an
    administrator above D1 (who could appoint them) removes them."""
    grant = _auditor_at_d1(db, world)
    before = snapshot(db)
    admin = Visitor(app, db, world["admin_d1"])
    r = admin.post(f"/admin/grants/{grant.id}/revoke", {"reason": "Không cần nữa"})
    assert r.status_code == 403
    r = admin.post(f"/admin/users/{world['nobody'].id}/disable", {"reason": "Nghỉ việc"})
    assert r.status_code == 403
    with pytest.raises(Forbidden):
        user_service.revoke_grant(db, _u(db, world, "admin_d1"), db.get(Grant, grant.id), "x")
    db.rollback()
    with pytest.raises(Forbidden):
        user_service.set_active(db, _u(db, world, "admin_d1"), _u(db, world, "nobody"), False, "x")
    db.rollback()
    assert changed_tables(before, snapshot(db)) == []
    assert _u(db, world, "nobody").active
    assert _grants(db, world["nobody"].id) == {("auditor", "D1")}
    # The administrator above may.
    user_service.set_active(db, _u(db, world, "admin_p"), _u(db, world, "nobody"), False, "x")
    db.commit()
    assert not _u(db, world, "nobody").active


@pytest.mark.parametrize("active", [False, True])
def test_disabling_or_enabling_an_account_tells_the_person_and_the_officers_above(
    db, world, active
):
    person = _u(db, world, "focal_a")
    if active:
        user_service.set_active(db, None, person, False, "Lý do")  # the command line: untold
        db.commit()
    user_service.set_active(db, _u(db, world, "admin_d1"), person, active, "Lý do")
    db.commit()
    kind = "account.enabled" if active else "account.disabled"
    told = set(
        db.scalars(
            select(Notification.user_id).where(
                Notification.kind == kind,
                Notification.dedupe_key.like(f"{kind}:{person.id}:%"),
            )
        )
    )
    assert told == {person.id, world["officer_d1"].id, world["officer_p"].id}


def test_an_approval_is_refused_when_the_requester_was_disabled(db, world):
    req = _ask_grant(db, world, "admin_d1", "nobody", "focal_point", "SCH-A")
    user_service.set_active(db, _u(db, world, "admin_p"), _u(db, world, "admin_d1"), False, "x")
    db.commit()
    before = snapshot(db)
    with pytest.raises(Conflict, match="không còn hoạt động"):
        approvals.approve(db, _u(db, world, "admin_p"), req, "", req.version)
    db.rollback()
    assert changed_tables(before, snapshot(db)) == []
    assert _grants(db, world["nobody"].id) == set()


def test_an_approval_is_refused_when_the_requester_no_longer_administers_the_unit(app, db, world):
    made = approvals.request_credential_reset(
        db, _u(db, world, "admin_d1"), _u(db, world, "focal_a"), "Quên mật khẩu"
    )
    db.commit()
    req = made.request
    [grant] = _u(db, world, "admin_d1").active_grants
    user_service.revoke_grant(db, _u(db, world, "admin_p"), grant, "Chuyển công tác")
    db.commit()
    focal = _u(db, world, "focal_a")
    password_before = focal.password_hash
    r = Visitor(app, db, world["admin_p"], lang="en").post(
        f"/admin/approvals/{req.id}/approve", {"version": str(req.version)}
    )
    assert r.status_code == 409
    assert "no longer administers this unit" in page_text(r)
    db.expire_all()
    assert _u(db, world, "focal_a").password_hash == password_before
    assert _request(db, id=req.id).status == "pending"


def test_an_exclusion_lift_is_refused_when_the_requester_can_no_longer_oversee(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    focal.post(
        f"/cases/{case.public_id}/exclusions",
        {"person": str(world["nobody"].id), "reason": "Người thân"},
    )
    exclusion = db.scalar(select(CaseExclusion).where(CaseExclusion.case_id == case.id))
    exclusion_id = exclusion.id
    req = approvals.request_exclusion_lift(
        db, _u(db, world, "officer_d1"), case, exclusion_id, "Nhầm người"
    )
    db.commit()
    [grant] = _u(db, world, "officer_d1").active_grants
    user_service.revoke_grant(db, _u(db, world, "admin_p"), grant, "Chuyển công tác")
    db.commit()
    with pytest.raises(Conflict, match="không còn quyền giám sát"):
        approvals.approve(db, _u(db, world, "officer_p"), req, "", req.version)
    db.rollback()
    assert db.get(CaseExclusion, exclusion_id) is not None


def test_the_second_half_never_goes_to_the_first_half_s_holder(db, world):
    from caseapp.errors import DomainError

    person = _u(db, world, "focal_a")
    enrolment.issue_first_half(db, _u(db, world, "admin_d1"), person, "reset")
    db.commit()
    before = snapshot(db)
    with pytest.raises(Forbidden) as refused:
        enrolment.release_second_half(db, _u(db, world, "admin_d1"), person)
    assert isinstance(refused.value, DomainError) and refused.value.status == 403
    db.rollback()
    assert changed_tables(before, snapshot(db)) == []


def test_the_menu_count_loads_no_grant_list_when_nothing_waits(db, world, monkeypatch):
    """The approvals badge is computed on every page an admin or officer opens: with nothing
    in their units waiting, it is one query, not a load of every admin and officer grant."""
    from caseapp.runtime import keyring
    from tests.factories import make_unit, make_user

    office = make_unit(db, _unit(db, world, "PRV"), "QUIET-D", "commune")
    officer = make_user(db, keyring(), "officer.quiet", office, [("officer", office)])
    loaded = []
    monkeypatch.setattr(approvals, "deciders", lambda *a, **kw: loaded.append(a) or None)
    assert approvals.waiting_count(db, db.get(User, officer.id)) == 0
    assert loaded == []
