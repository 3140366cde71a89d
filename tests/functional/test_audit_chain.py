"""The audit chain detects every kind of tampering, and the database refuses to rewrite it."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from caseapp.models import AuditEvent
from caseapp.runtime import keyring
from caseapp.security.audit_chain import canonical
from caseapp.services.audit import integrity as audit_integrity
from caseapp.services.audit.trail import record


def _dialect(db) -> str:
    return db.get_bind().dialect.name


def _disable_triggers(db) -> None:
    """What an operator with database rights could do; rolled back with the test."""
    if _dialect(db) == "postgresql":
        db.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        db.execute(text("DROP TRIGGER audit_events_no_update"))
        db.execute(text("DROP TRIGGER audit_events_no_delete"))


def _append(db, n: int) -> list[int]:
    seqs = [record(db, None, "test.event", reason=f"event {i}").seq for i in range(n)]
    db.flush()
    return seqs


def _verify(db):
    db.expire_all()
    return audit_integrity.verify(db, keyring(), batch=7)


def test_intact_chain_verifies(db):
    _append(db, 5)
    report = _verify(db)
    assert report.ok, report.problem
    assert report.count == report.head_seq


def _alter(db, seqs):
    db.execute(text("UPDATE audit_events SET reason = 'rewritten' WHERE seq = :s"), {"s": seqs[2]})
    return seqs[2]


def _delete(db, seqs):
    db.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": seqs[2]})
    return seqs[2]


def _swap(db, seqs):
    a, b = seqs[1], seqs[2]
    db.execute(text("UPDATE audit_events SET seq = -1 WHERE seq = :a"), {"a": a})
    db.execute(text("UPDATE audit_events SET seq = :a WHERE seq = :b"), {"a": a, "b": b})
    db.execute(text("UPDATE audit_events SET seq = :b WHERE seq = -1"), {"b": b})
    return a


def _forge_prev(db, seqs):
    db.execute(
        text("UPDATE audit_events SET prev_hash = :h WHERE seq = :s"), {"h": "f" * 64, "s": seqs[3]}
    )
    return seqs[3]


def _plain_sha256_insert(db, seqs):
    head = db.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    forged = {c.key: getattr(head, c.key) for c in AuditEvent.__table__.columns}
    forged.update(
        seq=head.seq + 1, prev_hash=head.hash, action="user.grant", reason="inserted by hand"
    )
    forged["hash"] = hashlib.sha256(head.hash.encode() + b"|" + canonical(forged)).hexdigest()
    db.execute(AuditEvent.__table__.insert().values(**forged))
    return head.seq + 1


@pytest.mark.parametrize("tamper", [_alter, _delete, _swap, _forge_prev, _plain_sha256_insert])
def test_tampering_is_found_and_named(db, app, tamper):
    seqs = _append(db, 6)
    _disable_triggers(db)
    bad = tamper(db, seqs)
    report = _verify(db)
    assert not report.ok
    assert report.bad_seq == bad, report.problem
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--no-record"])
    assert result.exit_code == 1
    assert f"seq {bad}" in result.output


def test_truncated_tail_after_checkpoint_is_found(db, app):
    _append(db, 3)
    cp = audit_integrity.checkpoint(db, None, keyring())
    db.flush()
    _disable_triggers(db)
    db.execute(text("DELETE FROM audit_events WHERE seq >= :s"), {"s": cp.seq - 1})
    report = _verify(db)
    assert not report.ok
    assert report.bad_seq == cp.seq - 1
    assert "missing" in report.problem
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--no-record"])
    assert result.exit_code == 1 and f"seq {cp.seq - 1}" in result.output


def test_forged_checkpoint_signature_is_found(db):
    _append(db, 2)
    cp = audit_integrity.checkpoint(db, None, keyring())
    db.flush()
    if _dialect(db) == "postgresql":
        db.execute(text("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"))
    else:
        db.execute(text("DROP TRIGGER audit_checkpoints_no_update"))
    db.execute(
        text("UPDATE audit_checkpoints SET hash = :h WHERE id = :i"), {"h": "0" * 64, "i": cp.id}
    )
    report = _verify(db)
    assert report.bad_seq == cp.seq


def test_cli_verify_and_checkpoint(app, db, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "checkpoint.json"
    assert runner.invoke(args=["audit", "checkpoint", "--out", str(out)]).exit_code == 0
    assert '"signature"' in out.read_text()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET reason = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE audit_checkpoints SET hash = 'x'",
        "DELETE FROM audit_checkpoints",
    ],
)
def test_database_refuses_to_rewrite_the_trail(db, statement):
    if statement.startswith("TRUNCATE") and _dialect(db) != "postgresql":
        pytest.skip("SQLite has no TRUNCATE statement (DELETE is refused instead)")
    _append(db, 1)
    audit_integrity.checkpoint(db, None, keyring())
    db.flush()
    before = db.scalar(text("SELECT count(*) FROM audit_events"))
    nested = db.begin_nested()
    with pytest.raises(DatabaseError, match="append-only"):
        db.execute(text(statement))
    nested.rollback()
    assert db.scalar(text("SELECT count(*) FROM audit_events")) == before


@pytest.mark.postgres
def test_concurrent_appends_leave_a_gap_free_chain(app, database):
    """Several threads append at once through their own connections; the chain stays valid."""
    if database.dialect != "postgresql":
        pytest.skip("concurrency of appends is serialised by PostgreSQL advisory locks")
    from caseapp.db import get_session

    errors: list[Exception] = []

    def worker(n: int) -> None:
        try:
            with app.app_context():
                session = get_session()
                for i in range(10):
                    record(session, None, "test.concurrent", reason=f"{n}-{i}")
                    session.commit()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with app.app_context():
        session = get_session()
        report = audit_integrity.verify(session, keyring())
        assert report.ok, report.problem
        seqs = session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
        assert seqs == list(range(1, len(seqs) + 1))
        assert (
            session.scalar(
                select(text("count(*)"))
                .select_from(AuditEvent)
                .where(AuditEvent.action == "test.concurrent")
            )
            == 60
        )
