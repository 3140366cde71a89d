"""keys rotate / retire: rewrapping is complete and resumable, retiring refuses keys in use."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from caseapp.models import AuditEvent, User
from caseapp.runtime import keyring
from caseapp.services.audit import integrity as audit_integrity
from caseapp.services.keys import rotation as keys
from tests.factories import next_code


def _sealed_ids(db) -> set[str]:
    return {
        keys.sealed_key_id(s)
        for s in db.scalars(select(User.totp_secret).where(User.totp_secret.is_not(None)))
    }


def test_rotate_wrap_rewraps_everything_and_sign_in_still_works(app, db, ring, browser, world):
    old = ring.active("wrap").id
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    new = keyring().active("wrap").id
    assert new != old
    assert _sealed_ids(db) == {new}
    # Retiring the old key is now allowed, and sign-in with TOTP still works.
    retired = runner.invoke(args=["keys", "retire", old])
    assert retired.exit_code == 0
    assert f"/privacy/breaches/new?source=key_retirement&ref=key+{old}" in retired.output
    person = world["focal_a"]
    browser.post("/login", {"username": person.username, "password": person.password})
    r = browser.post("/login/2fa", {"code": next_code(person.totp_secret)}, token_from="/login/2fa")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"keys.rotate", "keys.rewrap", "keys.retire"} <= actions


def test_interrupted_rotation_resumes_and_retire_refuses_meanwhile(app, db, ring):
    old = ring.active("wrap").id
    keys.rotate(db, ring, "wrap")
    # Interrupted: nothing rewrapped yet; the old key is still needed.
    with pytest.raises(keys.KeyInUse):
        keys.retire(db, ring, old)
    assert old in _sealed_ids(db)
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--resume"])
    assert result.exit_code == 0, result.output
    assert _sealed_ids(db) == {ring.active("wrap").id}


def test_audit_key_rotation_keeps_the_chain_verifiable(app, db, ring):
    from caseapp.services.audit.trail import record

    record(db, None, "test.before")
    db.commit()
    old = ring.active("audit").id
    keys.rotate(db, ring, "audit")
    record(db, None, "test.after")
    db.commit()
    report = audit_integrity.verify(db, ring)
    assert report.ok, report.problem
    used = set(db.scalars(select(AuditEvent.key_id)))
    assert {old, ring.active("audit").id} <= used
    with pytest.raises(keys.KeyInUse):
        keys.retire(db, ring, old)
