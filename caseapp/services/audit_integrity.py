"""Verifying the audit chain (streamed) and signing checkpoints of its head."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import AuditCheckpoint, AuditEvent
from caseapp.security.audit_chain import ChainReport, checkpoint_message, verify_events
from caseapp.security.keyring import Keyring, KeyringError
from caseapp.services.audit import record

BATCH = 2000
_COLUMNS = [c.key for c in inspect(AuditEvent).column_attrs]


def _stream(session: Session, batch: int = BATCH):
    """Events as dicts in seq order, a batch at a time (keyset pagination, constant memory)."""
    table = AuditEvent.__table__
    last = 0
    while True:
        rows = session.execute(
            select(*[table.c[name] for name in _COLUMNS])
            .where(table.c.seq > last).order_by(table.c.seq).limit(batch)
        ).mappings().all()
        if not rows:
            return
        for row in rows:
            yield dict(row)
        last = rows[-1]["seq"]


def _audit_key(keyring: Keyring):
    def key_for(key_id: str) -> bytes | None:
        try:
            key = keyring.get(key_id)
        except KeyringError:
            return None
        return key.secret if key.purpose == "audit" else None

    return key_for


def _signing_public(keyring: Keyring, key_id: str):
    try:
        key = keyring.get(key_id)
    except KeyringError:
        return None
    if key.purpose != "signing":
        return None
    return Ed25519PrivateKey.from_private_bytes(key.secret).public_key()


def verify(session: Session, keyring: Keyring, batch: int = BATCH) -> ChainReport:
    """Recompute the whole chain, then check every signed checkpoint against it."""
    report = verify_events(_stream(session, batch), _audit_key(keyring))
    if not report.ok:
        return report
    checkpoints = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all()
    for cp in checkpoints:
        public = _signing_public(keyring, cp.key_id)
        try:
            if public is None:
                raise InvalidSignature
            public.verify(base64.b64decode(cp.signature), checkpoint_message(cp.seq, cp.hash,
                                                                             cp.at))
        except (InvalidSignature, ValueError):
            report.bad_seq, report.problem = cp.seq, "checkpoint signature does not verify"
            return report
        if cp.seq == 0:
            report.checkpoints += 1
            continue
        if cp.seq > report.head_seq:
            report.bad_seq = report.head_seq + 1
            report.problem = f"events after {report.head_seq} are missing (checkpoint at {cp.seq})"
            return report
        stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == cp.seq))
        if stored != cp.hash:
            report.bad_seq, report.problem = cp.seq, "event differs from its signed checkpoint"
            return report
        report.checkpoints += 1
    return report


def record_verification(session: Session, actor, report: ChainReport) -> None:
    record(session, actor, "audit.verify", object_type="audit_events",
           changes={"ok": report.ok, "count": report.count, "head_seq": report.head_seq,
                    "head_hash": report.head_hash, "bad_seq": report.bad_seq,
                    "checkpoints": report.checkpoints})


def checkpoint(session: Session, actor, keyring: Keyring) -> AuditCheckpoint:
    """Sign the current head with the Ed25519 signing key and store the signature."""
    head = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, head_hash = (head[0], head[1]) if head else (0, "0" * 64)
    key = keyring.active("signing")
    at = utcnow()
    private = Ed25519PrivateKey.from_private_bytes(key.secret)
    signature = base64.b64encode(private.sign(checkpoint_message(seq, head_hash, at)))
    cp = AuditCheckpoint(at=at, seq=seq, hash=head_hash, key_id=key.id,
                         signature=signature.decode("ascii"))
    session.add(cp)
    record(session, actor, "audit.checkpoint", object_type="audit_checkpoints",
           changes={"seq": seq, "hash": head_hash, "key_id": key.id})
    return cp


def export_checkpoint(cp: AuditCheckpoint, keyring: Keyring, path: Path) -> None:
    """Write a checkpoint with its public key, for keeping away from the server."""
    from caseapp.security.audit_chain import canonical_time

    public = Ed25519PrivateKey.from_private_bytes(keyring.get(cp.key_id).secret).public_key()
    data = {
        "seq": cp.seq, "hash": cp.hash, "at": canonical_time(cp.at), "key_id": cp.key_id,
        "signature": cp.signature,
        "public_key": base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw))
        .decode("ascii"),
        "message": checkpoint_message(cp.seq, cp.hash, cp.at).decode("ascii"),
    }
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def last_event(session: Session, action: str) -> AuditEvent | None:
    return session.scalar(select(AuditEvent).where(AuditEvent.action == action)
                          .order_by(AuditEvent.seq.desc()).limit(1))
