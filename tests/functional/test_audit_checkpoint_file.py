"""`audit verify --checkpoint FILE` holds the trail against a checkpoint kept off the server
(its own public key, not the database's copy), and a key the keyring lacks is told apart from
tampering: exit 3 and no event appended, where a forged key id is still exit 1."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select

from caseapp.db import utcnow
from caseapp.models import AuditEvent, KeyringKey
from caseapp.runtime import keyring
from caseapp.security.audit_chain import (
    MISSING_KEY,
    TAMPERED,
    canonical_time,
    checkpoint_message,
    verify_events,
)
from caseapp.security.keyring import new_key
from caseapp.services.audit.trail import record
from caseapp.services.keys import binding as key_binding

NOT_TAMPERING = (
    "which this keyring lacks (use the keyring that goes with this database); "
    "this is not evidence of tampering"
)


def _append(db, n: int) -> AuditEvent:
    """Committed (a savepoint of the test's transaction): the command's session is the test's,
    and its rollback must not take them away."""
    for i in range(n):
        event = record(db, None, "test.event", reason=f"event {i}")
    db.commit()
    return event


def _head(db) -> tuple[int, str]:
    row = db.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return row[0], row[1]


def _signing_private(key_id: str | None = None) -> tuple[str, Ed25519PrivateKey]:
    key = keyring().active("signing") if key_id is None else keyring().get(key_id)
    return key.id, Ed25519PrivateKey.from_private_bytes(key.secret)


def _write(path, seq: int, head_hash: str, key_id: str, private: Ed25519PrivateKey):
    at = utcnow()
    message = checkpoint_message(seq, head_hash, at)
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    path.write_text(
        json.dumps(
            {
                "seq": seq,
                "hash": head_hash,
                "at": canonical_time(at),
                "key_id": key_id,
                "signature": base64.b64encode(private.sign(message)).decode(),
                "public_key": base64.b64encode(public).decode(),
                "message": message.decode(),
            }
        )
    )
    return path


def _verify(app, path, *extra: str):
    return app.test_cli_runner().invoke(args=["audit", "verify", *extra, "--checkpoint", str(path)])


def _count(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(AuditEvent))


def test_the_file_written_by_audit_checkpoint_holds_and_is_recorded(app, db, tmp_path):
    _append(db, 3)
    path = tmp_path / "checkpoint.json"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "checkpoint", "--out", str(path)]).exit_code == 0
    _append(db, 2)  # the trail goes on after the checkpoint
    result = _verify(app, path)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and f"checkpoint file {path} holds" in result.output
    db.expire_all()
    last = db.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert last.action == "audit.verify"
    changes = json.loads(last.changes)
    assert changes["ok"] is True and changes["checkpoint_file"]["ok"] is True
    assert changes["checkpoint_file"]["seq"] == json.loads(path.read_text())["seq"]


def test_an_altered_file_does_not_verify(app, db, tmp_path):
    _append(db, 2)
    path = tmp_path / "checkpoint.json"
    assert (
        app.test_cli_runner().invoke(args=["audit", "checkpoint", "--out", str(path)]).exit_code
        == 0
    )
    data = json.loads(path.read_text())
    data["hash"] = "f" * 64
    path.write_text(json.dumps(data))
    result = _verify(app, path, "--no-record")
    assert result.exit_code == 1
    assert "signature does not verify with its own public key" in result.output


def test_a_file_signed_by_another_key_under_the_keyrings_id_is_found(app, db, tmp_path):
    _append(db, 2)
    seq, head_hash = _head(db)
    key_id, _genuine = _signing_private()
    forged = _write(tmp_path / "forged.json", seq, head_hash, key_id, Ed25519PrivateKey.generate())
    result = _verify(app, forged, "--no-record")
    assert result.exit_code == 1
    assert f"this keyring's signing key {key_id} has a different public key" in result.output


def test_events_missing_after_the_signed_seq_are_reported(app, db, tmp_path):
    _append(db, 2)
    seq, head_hash = _head(db)
    key_id, private = _signing_private()
    ahead = _write(tmp_path / "ahead.json", seq + 5, "a" * 64, key_id, private)
    result = _verify(app, ahead, "--no-record")
    assert result.exit_code == 1
    assert (
        f"the trail ends at seq {seq} but the checkpoint signed seq {seq + 5}: events are "
        "missing (restored from an older backup, or truncated)"
    ) in result.output
    other = _write(tmp_path / "fork.json", seq, "b" * 64, key_id, private)
    result = _verify(app, other, "--no-record")
    assert result.exit_code == 1
    assert f"the event at seq {seq} differs from the one the checkpoint signed" in result.output


def test_a_signing_key_the_keyring_lacks_is_not_tampering_unless_never_used(app, db, tmp_path):
    _append(db, 1)
    key_binding.bind(db, keyring())
    db.add(KeyringKey(key_id="signing-kept-elsewhere", purpose="signing"))
    db.commit()
    seq, head_hash = _head(db)
    stranger = Ed25519PrivateKey.generate()
    before = _count(db)
    lacking = _verify(
        app, _write(tmp_path / "a.json", seq, head_hash, "signing-kept-elsewhere", stranger)
    )
    assert lacking.exit_code == 3, lacking.output
    assert (
        "cannot confirm the checkpoint's signer: it is signed by key "
        f"signing-kept-elsewhere {NOT_TAMPERING}"
    ) in lacking.output
    assert _count(db) == before  # nothing appended
    forged = _verify(
        app,
        _write(tmp_path / "b.json", seq, head_hash, "signing-never-bound", stranger),
        "--no-record",
    )
    assert forged.exit_code == 1, forged.output
    assert "neither this keyring holds nor this database ever used" in forged.output


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not json",
        "[]",
        '{"seq": 1}',
        '{"seq": "1", "hash": "", "at": "", "key_id": "", "signature": "", "public_key": ""}',
    ],
)
def test_an_unreadable_file_is_one_line_and_exit_2(app, db, tmp_path, content):
    path = tmp_path / "checkpoint.json"
    path.write_text(content)
    before = _count(db)
    result = _verify(app, path)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "is not a" in result.output
    assert _count(db) == before


def _chain_under_a_foreign_audit_key(app, db) -> str:
    """An event chained (correctly) under an audit key this keyring does not hold."""
    original = app.extensions["caseapp.keyring"]
    other = copy.deepcopy(original)
    foreign = new_key("audit")
    other.add(foreign)
    app.extensions["caseapp.keyring"] = other
    try:
        _append(db, 1)
    finally:
        app.extensions["caseapp.keyring"] = original
    return foreign.id


def test_a_missing_audit_key_exits_3_without_appending(app, db):
    key_binding.bind(db, keyring())
    foreign = _chain_under_a_foreign_audit_key(app, db)
    db.add(KeyringKey(key_id=foreign, purpose="audit"))  # the database uses it
    db.commit()
    seq, _hash = _head(db)
    before = _count(db)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 3, result.output
    assert (
        f"cannot verify from seq {seq}: the trail uses key {foreign} {NOT_TAMPERING}"
        in result.output
    )
    assert "BROKEN" not in result.output and "not added to the trail" in result.output
    assert _count(db) == before


def test_an_audit_key_the_database_never_used_is_tampering(app, db):
    key_binding.bind(db, keyring())
    db.commit()
    foreign = _chain_under_a_foreign_audit_key(app, db)
    seq, _hash = _head(db)
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--no-record"])
    assert result.exit_code == 1, result.output
    assert f"audit chain BROKEN at seq {seq}: event names key {foreign}" in result.output


def test_verify_events_tells_a_missing_key_from_a_forged_one():
    from tests.unit.test_audit_chain_property import KEY, build

    events = build(
        [
            {
                "actor_id": None,
                "actor_name": "x",
                "action": "auth.login",
                "reason": "",
                "object_ref": "",
                "changes": "{}",
            }
        ]
        * 3
    )
    intact = verify_events(iter(events), {"audit-1": KEY}.get)
    assert intact.ok and intact.kind == ""
    missing = verify_events(iter(events), {}.get)
    assert (missing.bad_seq, missing.kind, missing.missing_key) == (1, MISSING_KEY, "audit-1")
    forged = verify_events(iter(events), {"audit-1": b""}.get)
    assert (forged.bad_seq, forged.kind, forged.missing_key) == (1, TAMPERED, "")
    events[1]["reason"] = "rewritten"
    broken = verify_events(iter(events), {"audit-1": KEY}.get)
    assert (broken.bad_seq, broken.kind) == (2, TAMPERED)
