"""Every successful admin change writes exactly one audit event, with no secret in it; a change
without its event is refused; a failing audit write takes the change down with it."""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import event

from caseapp.clock import local_today
from caseapp.models import AuditEvent, ReferralContact, Unit, User
from caseapp.security import totp
from caseapp.services.accounts import approvals
from caseapp.services.accounts import users as user_service
from caseapp.services.audit import trail as audit
from caseapp.services.audit.trail import AuditMissing
from caseapp.services.org import referrals as referral_service
from tests.factories import Visitor, open_session_for, reason_of
from tests.functional.admin_support import (
    audit_head,
    changed_tables,
    events_after,
    page_text,
    snapshot,
)


def _today() -> str:
    """Today where the users are, read when a test runs (not when the module is imported: a
    run that passes midnight in Vietnam, 17:00 UTC, would send yesterday)."""
    return local_today().isoformat()


REASON = "Yêu cầu của Phòng Giáo dục"
# The half of an enrolment code on a letter: shown to the person who handles it, never audited.
LETTER_CODE_RE = re.compile(r'class="letter-code"><code>([^<]+)</code>')
# Accompanies any action that ends the target's live sessions; not the action itself.
SESSIONS_REVOKED = "auth.sessions_revoked"


UNITS_CSV = (
    "Mã đơn vị,Tên đơn vị,Loại đơn vị,Cấp học,Mã đơn vị cấp trên\n"
    "SCH-IMP,Trường Nhập,Trường,Tiểu học,D1\n"
)
ACCOUNTS_CSV = "Tên đăng nhập,Họ và tên,Mã đơn vị,Vai trò\nnhap.mot,Nhập Một,SCH-A,focal_point\n"


def _file(text: str) -> dict:
    return {"file": (io.BytesIO(text.encode()), "tep.csv")}


def _cases(db, world, ids) -> dict[str, tuple[str | tuple[str, ...], str, dict]]:
    """{endpoint: (expected action(s), URL, accepted form)} for every mutating admin
    endpoint."""
    sch_a = db.get(Unit, world.units["SCH-A"])
    target = db.get(User, world["focal_b"].id)
    contact = db.get(ReferralContact, ids["contact"])
    unit_url, user_url = f"/admin/units/{sch_a.id}", f"/admin/users/{target.id}"
    reason = {"reason": REASON}
    return {
        "admin.new_unit": (
            "unit.create",
            "/admin/units/new",
            {"parent_code": "D1", "code": "SCH-NEW", "name": "Trường Mới", "kind": "school"},
        ),
        "admin.unit": (
            "unit.update",
            unit_url,
            {"name": "Trường A mới", "kind": "school", "version": sch_a.version},
        ),
        "admin.close_unit": (
            # The two roles held at SCH-A (focal.a's and not.enrolled's) end with it.
            ("unit.close", "user.revoke", "user.revoke"),
            f"{unit_url}/close",
            {"valid_to": _today(), "version": sch_a.version},
        ),
        "admin.move_unit": (
            "unit.move",
            f"{unit_url}/move",
            {"new_parent_code": "D2", "on": _today(), "version": sch_a.version},
        ),
        "admin.reform_apply": (
            ("unit.move", "org.reform"),
            "/admin/reform",
            {
                "file": (
                    io.BytesIO(
                        f"Mã trường,Mã đơn vị cấp trên mới,Từ ngày\nSCH-A,D2,{_today()}\n".encode()
                    ),
                    "reform.csv",
                )
            },
        ),
        "admin.new_user": (
            ("user.create", "approval.request", "auth.enrolment_issued"),
            "/admin/users/new",
            {
                "username": "tran.thi.c",
                "full_name": "Trần Thị C",
                "email": "",
                "unit_code": "SCH-A",
            },
        ),
        "admin.user": (
            "user.update",
            user_url,
            {"full_name": "Lê Văn D", "email": "", "version": target.version},
        ),
        "admin.grant": (
            "approval.request",
            f"{user_url}/grants",
            {"role": "officer", "unit_code": "D1"},
        ),
        "admin.revoke": (
            "user.revoke",
            f"/admin/grants/{target.active_grants[0].id}/revoke",
            reason,
        ),
        "admin.disable_user": ("user.disable", f"{user_url}/disable", reason),
        "admin.enable_user": ("user.enable", f"/admin/users/{ids['disabled']}/enable", reason),
        "admin.reset_sign_in": (
            ("approval.request", "auth.enrolment_issued"),
            f"{user_url}/reset-sign-in",
            reason,
        ),
        "admin.approve": (
            ("user.grant", "approval.approve"),
            f"/admin/approvals/{ids['asked']}/approve",
            {"note": "", "version": "1"},
        ),
        "admin.reject": (
            "approval.reject",
            f"/admin/approvals/{ids['asked']}/reject",
            {"note": "Không cần", "version": "1"},
        ),
        "admin.withdraw": (
            "approval.cancel",
            f"/admin/approvals/{ids['mine']}/withdraw",
            {"note": "", "version": "1"},
        ),
        "admin.new_referral": (
            "referral_contact.create",
            "/admin/referrals/new",
            {
                "unit_code": "SCH-A",
                "name": "Công an xã",
                "kind": "police",
                "phone": "113",
                "version": "0",
            },
        ),
        "admin.check_units": ((), "/admin/import/units/check", _file(UNITS_CSV)),
        "admin.import_units": (
            ("unit.create", "import.units"),
            "/admin/import/units",
            _file(UNITS_CSV),
        ),
        "admin.check_accounts": ((), "/admin/import/accounts/check", _file(ACCOUNTS_CSV)),
        "admin.import_accounts": (
            ("user.create", "auth.enrolment_issued", "approval.request", "import.accounts"),
            "/admin/import/accounts",
            _file(ACCOUNTS_CSV),
        ),
        "admin.referral": (
            "referral_contact.update",
            f"/admin/referrals/{contact.id}",
            {
                "name": "Trạm y tế xã",
                "kind": "health_station",
                "phone": "0123",
                "address": "Thôn 2",
                "active": "y",
                "version": contact.version,
            },
        ),
        "admin.referral_defaults_add": (
            "referral_contact.defaults",
            "/admin/referrals/defaults",
            {"unit_code": "D2"},
        ),
    }


ENDPOINTS = sorted(
    [
        "admin.new_unit",
        "admin.unit",
        "admin.close_unit",
        "admin.move_unit",
        "admin.reform_apply",
        "admin.new_user",
        "admin.user",
        "admin.grant",
        "admin.revoke",
        "admin.disable_user",
        "admin.enable_user",
        "admin.reset_sign_in",
        "admin.approve",
        "admin.reject",
        "admin.withdraw",
        "admin.new_referral",
        "admin.check_units",
        "admin.import_units",
        "admin.check_accounts",
        "admin.import_accounts",
        "admin.referral",
        "admin.referral_defaults_add",
    ]
)


@pytest.fixture()
def setup(client, db, world):
    """admin_p's agent; focal_b signed in somewhere (so actions have sessions to end); a
    disabled account to enable; a contact to edit."""
    sch_a = db.get(Unit, world.units["SCH-A"])
    disabled = db.get(User, world["nobody"].id)
    user_service.set_active(db, None, disabled, False, "set-up")
    contact = referral_service.create_contact(
        db, None, sch_a, "Trạm y tế", "health_station", "0123", ""
    )
    open_session_for(db, world["focal_b"].id)
    # A grant asked by another administrator (for admin_p to decide) and one asked by admin_p
    # (to withdraw).
    d2, d1 = db.get(Unit, world.units["D2"]), db.get(Unit, world.units["D1"])
    asked = approvals.request_grant(
        db, db.get(User, world["admin_d2"].id), db.get(User, world["focal_c"].id), "officer", d2
    )
    mine = approvals.request_grant(
        db, db.get(User, world["admin_p"].id), db.get(User, world["focal_a"].id), "officer", d1
    )
    db.commit()
    ids = {"contact": contact.id, "disabled": disabled.id, "asked": asked.id, "mine": mine.id}
    return Visitor(client, db, world["admin_p"]), lambda: _cases(db, world, ids)


def test_the_sweep_covers_every_mutating_admin_endpoint(app):
    posting = sorted(
        {
            rule.endpoint
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("admin.") and "POST" in rule.methods
        }
        # Reads the file and changes nothing (UNAUDITED_POSTS of test_audit_sweep).
        - {"admin.reform_check"}
    )
    assert posting == ENDPOINTS, "add the new admin endpoint to this sweep"


def _secrets_of(world, page: str) -> list[str]:
    secret = world["focal_b"].totp_secret
    shown = LETTER_CODE_RE.findall(page)
    return [*shown, totp.to_base32(secret), secret.hex(), "$argon2"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_each_admin_change_writes_one_event_without_secrets(db, world, setup, endpoint):
    agent, cases = setup
    action, url, form = cases()[endpoint]
    head = audit_head(db)
    r = agent.post(url, form)
    assert r.status_code in (200, 302), page_text(r)
    events = events_after(db, head)
    expected = [action] if isinstance(action, str) else list(action)
    assert [e.action for e in events if e.action != SESSIONS_REVOKED] == expected
    # A dry run (an import's check) writes nothing at all.
    assert {e.actor_id for e in events} == ({world["admin_p"].id} if expected else set())
    forbidden = _secrets_of(world, page_text(r))
    if endpoint in ("admin.new_user", "admin.reset_sign_in", "admin.import_accounts"):
        assert LETTER_CODE_RE.search(page_text(r)), "the enrolment letter page changed"
    for ev in events:
        changes = json.loads(ev.changes)
        for field in audit.SECRET_FIELDS & set(changes):
            assert changes[field] == "changed", (ev.action, field)
        row = json.dumps(
            {c.key: str(getattr(ev, c.key)) for c in AuditEvent.__table__.c}, ensure_ascii=False
        )
        assert not [s for s in forbidden if s in row], ev.action


def test_a_sign_in_reset_request_changes_no_credential_yet(db, world, setup):
    agent, cases = setup
    _action, url, form = cases()["admin.reset_sign_in"]
    head = audit_head(db)
    agent.post(url, form)
    [main] = [e for e in events_after(db, head) if e.action == "approval.request"]
    assert json.loads(main.changes) == {"kind": "credential_reset", "subject": "focal.b"}
    assert reason_of(db, main) == REASON


# --- the guard ------------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["add", "rename", "move"])
def test_a_unit_changed_without_its_event_is_refused(db, world, change):
    d1 = db.get(Unit, world.units["D1"])
    sch_a = db.get(Unit, world.units["SCH-A"])
    head = audit_head(db)
    if change == "add":
        db.add(
            Unit(
                code="GHOST",
                name="Ghost",
                kind="school",
                parent=d1,
                path=d1.path,
                valid_from=local_today(),
            )
        )
    elif change == "rename":
        sch_a.name = "Renamed quietly"
    else:
        sch_a.parent_id = world.units["D2"]
    with pytest.raises(AuditMissing):
        db.flush()  # the guard may refuse here, and must by the commit at the latest
        db.commit()
    db.rollback()
    db.expire_all()
    assert db.get(Unit, world.units["SCH-A"]).name == "Trường A"
    assert db.get(Unit, world.units["SCH-A"]).parent_id == world.units["D1"]
    assert audit_head(db) == head


@pytest.mark.parametrize(
    "service",
    [
        "caseapp.services.org.units",
        "caseapp.services.accounts.users",
        "caseapp.services.org.referrals",
    ],
)
def test_a_forgotten_audit_call_fails_the_request(monkeypatch, db, setup, service):
    """A service that forgot record() must not save anything: the request fails instead."""
    agent, cases = setup
    monkeypatch.setattr(f"{service}.record", lambda *a, **k: None)
    endpoint = {
        "caseapp.services.org.units": "admin.unit",
        "caseapp.services.accounts.users": "admin.user",
        "caseapp.services.org.referrals": "admin.referral",
    }[service]
    _action, url, form = cases()[endpoint]
    before = snapshot(db)
    assert agent.post(url, form).status_code == 500
    assert changed_tables(before, snapshot(db)) == []


@pytest.fixture(params=["record raises", "insert fails"])
def broken_audit(request, monkeypatch):
    """The audit write fails: inside record(), or when its row reaches the database."""

    def fail(*_args, **_kw):
        raise RuntimeError("audit store unavailable")

    if request.param == "record raises":
        monkeypatch.setattr(audit, "chain_hash", fail)
        yield
        return
    event.listen(AuditEvent, "before_insert", fail)
    try:
        yield
    finally:
        event.remove(AuditEvent, "before_insert", fail)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_failed_audit_write_rolls_the_change_back(db, setup, broken_audit, endpoint):
    agent, cases = setup
    action, url, form = cases()[endpoint]
    before = snapshot(db)
    r = agent.post(url, form)
    assert r.status_code == (500 if action else 200)  # a dry run writes nothing to fail
    assert changed_tables(before, snapshot(db)) == []
