"""Sealing the reasons the trail recorded in clear before they were sealed: a re-chain, recorded.

The hash of an event is an HMAC over its canonical form, the clear reason included: no hash can
stay the same once the reason becomes a sealed token (that is the point of the HMAC), so the
chain is recomputed from the first event changed on, each event with its own audit key, the
checkpoints are signed again over the new hashes, and an event ``audit.reasons_sealed`` records
how many, the old head and each checkpoint's old and new hash. A copy of an old checkpoint kept
off the server no longer verifies (integrity.verify_checkpoint_file says "rechained", never ok:
the database's own record cannot vouch for itself); a fresh one is written after the re-chain.

All of it in one transaction: the append-only triggers are lifted only inside it (which also
locks out appends), the whole chain is verified first (refused on any failure, nothing changed;
the caller rolls back), and verified again before the end.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, func, inspect, select, text, update
from sqlalchemy.orm import Session

from caseapp.db import Base, utcnow
from caseapp.models import AuditCheckpoint, AuditEvent, AuditTextKey, Case
from caseapp.security.audit_chain import GENESIS, chain_hash, checkpoint_message
from caseapp.security.crypto import seal
from caseapp.security.keyring import Keyring, KeyringError
from caseapp.services.audit import sealed_text
from caseapp.services.audit.integrity import verify
from caseapp.services.audit.trail import ADVISORY_LOCK_KEY, record

ACTION = "audit.reasons_sealed"
BATCH = 1000
_COLUMNS = [c.key for c in inspect(AuditEvent).column_attrs]
# Events whose reason explains a destruction: kept under the service key (accountable).
_SERVICE_ACTIONS = frozenset({"case.destroy_content"})


class SealRefused(RuntimeError):
    """The trail does not verify: nothing is re-chained over evidence of tampering."""


@dataclass
class SealReport:
    count: int = 0
    first_seq: int = 0
    old_head: tuple[int, str] = (0, GENESIS)
    new_head: tuple[int, str] = (0, GENESIS)
    checkpoints: list[dict] = field(default_factory=list)


def _clear(column):
    return (column != "") & (column.is_not(None)) & ~column.startswith(sealed_text.PREFIX)


def clear_reasons_left(session: Session) -> int:
    return session.scalar(select(func.count()).where(_clear(AuditEvent.reason))) or 0


# Which case an old event was about --------------------------------------------------------


def _case_tables() -> dict[str, Table]:
    """Tables with a case_id column and a single integer primary key."""
    found = {}
    for table in Base.metadata.tables.values():
        pk = list(table.primary_key.columns)
        if "case_id" in table.c and len(pk) == 1 and pk[0].name == "id":
            found[table.name] = table
    return found


def _cases_of(session: Session, events: list[dict]) -> dict[int, int | None]:
    """{seq: case id or None} for old events: the case row they name, the case of the row
    they name, else the case whose reference they carry."""
    tables = _case_tables()
    refs = {ev["object_ref"] for ev in events if ev["object_ref"]}
    by_ref = (
        dict(session.execute(select(Case.reference, Case.id).where(Case.reference.in_(refs))).all())
        if refs
        else {}
    )
    case_ids = set(session.scalars(select(Case.id)))
    out: dict[int, int | None] = {}
    for ev in events:
        case_id = None
        oid = ev["object_id"] or ""
        if ev["action"] in _SERVICE_ACTIONS:
            out[ev["seq"]] = None
            continue
        if ev["object_type"] == "cases" and oid.isdigit():
            case_id = int(oid)
        elif ev["object_type"] in tables and oid.isdigit():
            table = tables[ev["object_type"]]
            case_id = session.scalar(select(table.c.case_id).where(table.c.id == int(oid)))
        if case_id is None:
            case_id = by_ref.get(ev["object_ref"])
        out[ev["seq"]] = case_id if case_id in case_ids else None
    return out


# The re-chain ------------------------------------------------------------------------------


_SQLITE_TRIGGERS = {
    "audit_events_no_update": "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON "
    "audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END",
    "audit_events_no_delete": "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON "
    "audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END",
    "audit_checkpoints_no_update": "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON "
    "audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END",
    "audit_checkpoints_no_delete": "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON "
    "audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END",
}
_PG_TRIGGERS = (
    ("audit_events", "audit_events_no_update_delete"),
    ("audit_checkpoints", "audit_checkpoints_no_update_delete"),
)


def _lift_triggers(session: Session) -> None:
    """Only the row triggers, only inside this transaction (rolled back with it)."""
    if session.get_bind().dialect.name == "postgresql":
        for table, trigger in _PG_TRIGGERS:
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}"))
    else:
        for name in _SQLITE_TRIGGERS:
            session.execute(text(f"DROP TRIGGER IF EXISTS {name}"))


def _restore_triggers(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        for table, trigger in _PG_TRIGGERS:
            session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}"))
    else:
        for statement in _SQLITE_TRIGGERS.values():
            session.execute(text(statement))


def _events_from(session: Session, first: int):
    table = AuditEvent.__table__
    last = first - 1
    while True:
        rows = (
            session.execute(
                select(*[table.c[n] for n in _COLUMNS])
                .where(table.c.seq > last)
                .order_by(table.c.seq)
                .limit(BATCH)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        yield [dict(r) for r in rows]
        last = rows[-1]["seq"]


def _audit_secret(keyring: Keyring, key_id: str) -> bytes:
    return keyring.get(key_id).secret  # verify() passed: every key is in the keyring


def _resign(session: Session, keyring: Keyring, first: int, hashes: dict[int, str]) -> list:
    """Sign again, over the new hashes, the checkpoints from ``first`` on (each with its own
    signing key while the keyring holds it, else the active one; its time kept)."""
    changed = []
    for cp in session.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.seq >= first).order_by(AuditCheckpoint.id)
    ):
        new_hash = hashes[cp.seq]
        try:
            key = keyring.get(cp.key_id)
        except KeyringError:
            key = keyring.active("signing")
        private = Ed25519PrivateKey.from_private_bytes(key.secret)
        signature = base64.b64encode(private.sign(checkpoint_message(cp.seq, new_hash, cp.at)))
        changed.append({"seq": cp.seq, "old_hash": cp.hash, "new_hash": new_hash, "key_id": key.id})
        session.execute(
            update(AuditCheckpoint)
            .where(AuditCheckpoint.id == cp.id)
            .values(hash=new_hash, key_id=key.id, signature=signature.decode("ascii"))
        )
    return changed


def seal_reasons(session: Session, keyring: Keyring) -> SealReport | None:
    """Seal every reason still in clear; None when there is none (nothing is changed or
    appended: running it again is harmless). The caller commits."""
    if not clear_reasons_left(session):
        return None
    session.flush()
    # The audit append lock first, as record() takes it, so a concurrent append waits for it
    # rather than holding it while waiting for the table (a deadlock). Then the triggers: on
    # PostgreSQL the ALTER TABLE locks the table, on SQLite the DROP takes the write lock, so
    # nothing is appended between the verification and the re-chain.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
    _lift_triggers(session)
    before = verify(session, keyring)
    if not before.ok:
        _restore_triggers(session)
        raise SealRefused(
            f"the audit trail does not verify (seq {before.bad_seq}: {before.problem}); "
            "nothing was sealed"
        )
    table = AuditEvent.__table__
    clear = [
        dict(r)
        for r in session.execute(
            select(*[table.c[n] for n in _COLUMNS])
            .where(_clear(table.c.reason))
            .order_by(table.c.seq)
        ).mappings()
    ]
    cases = _cases_of(session, clear)
    destroyed = set(session.scalars(select(Case.id).where(Case.key_destroyed_at.is_not(None))))
    report = SealReport(count=len(clear), first_seq=clear[0]["seq"])
    report.old_head = (before.head_seq, before.head_hash)
    tokens = {
        ev["seq"]: _token(session, cases[ev["seq"]], destroyed, ev["seq"], ev["reason"])
        for ev in clear
    }
    prev = (
        session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == report.first_seq - 1))
        or GENESIS
    )
    hashes: dict[int, str] = {}
    for batch in _events_from(session, report.first_seq):
        for ev in batch:
            ev["reason"] = tokens.get(ev["seq"], ev["reason"])
            ev["prev_hash"] = prev
            ev["hash"] = chain_hash(_audit_secret(keyring, ev["key_id"]), prev, ev)
            session.execute(
                update(AuditEvent)
                .where(AuditEvent.seq == ev["seq"])
                .values(reason=ev["reason"], prev_hash=prev, hash=ev["hash"])
            )
            hashes[ev["seq"]] = prev = ev["hash"]
            report.new_head = (ev["seq"], prev)
    report.checkpoints = _resign(session, keyring, report.first_seq, hashes)
    _restore_triggers(session)
    session.expire_all()
    session.info["audit_head"] = report.new_head  # the next event links to the new head
    record(
        session,
        None,
        ACTION,
        object_type="audit_events",
        changes={
            "count": report.count,
            "first_seq": report.first_seq,
            "old_head": {"seq": report.old_head[0], "hash": report.old_head[1]},
            "new_head": {"seq": report.new_head[0], "hash": report.new_head[1]},
            "checkpoints": report.checkpoints,
        },
    )
    session.flush()
    after = verify(session, keyring)
    if not after.ok:  # never expected: refuse to leave a trail that does not verify
        raise SealRefused(f"the re-chained trail does not verify (seq {after.bad_seq})")
    return report


def _token(session: Session, case_id, destroyed: set[int], seq: int, reason: str) -> str:
    if case_id is not None and case_id in destroyed:
        return _sealed_for_nobody(session, case_id, seq, reason)
    return sealed_text.seal_text(session, case_id, seq, reason)


def _sealed_for_nobody(session: Session, case_id: int, seq: int, reason: str) -> str:
    """A reason of a case whose content is already destroyed: sealed under the case's key,
    which is then forgotten (a key made for it, already destroyed, when it had none)."""
    scope = sealed_text.scope_of(case_id)
    row = session.scalar(select(AuditTextKey).where(AuditTextKey.scope == scope))
    if row is None:
        row = AuditTextKey(scope=scope, case_id=case_id, destroyed_at=utcnow())
        session.add(row)
        session.flush()
    blob = seal(os.urandom(32), reason.encode("utf-8"), sealed_text.text_ad(seq, row.id))
    return f"{sealed_text.PREFIX}{row.id}:{base64.urlsafe_b64encode(blob).decode('ascii')}"


# Other texts sealed under the same keys (not in the chain: sealed in place) ------------------

TEXTS_ACTION = "audit.texts_sealed"


def seal_clear_texts(session: Session) -> dict[str, int]:
    """Seal the approval requests' reasons and decision notes and the auditors' review notes
    still in clear (written before they were sealed); {"table.field": count}, empty when none
    (nothing changed nor recorded: running it again is harmless). The caller commits."""
    from caseapp.models import ApprovalRequest, AttentionReview
    from caseapp.services.accounts.approvals import TABLE as APPROVALS
    from caseapp.services.audit.attention import REVIEWS

    counts: dict[str, int] = {}
    model: Any
    for model, table, name, has_case in (
        (ApprovalRequest, APPROVALS, "reason", True),
        (ApprovalRequest, APPROVALS, "decision_note", True),
        (AttentionReview, REVIEWS, "note", False),
    ):
        column = getattr(model, name)
        rows = session.execute(
            select(model.id, column, model.case_id if has_case else model.id).where(_clear(column))
        ).all()
        for row_id, value, case_id in rows:
            token = sealed_text.seal_row_text(
                session, case_id if has_case else None, table, name, value
            )
            # A Core UPDATE: the row's version stays (a page showing it still submits).
            session.execute(
                update(model).where(model.id == row_id, column == value).values({name: token})
            )
        if rows:
            counts[f"{table}.{name}"] = len(rows)
    if counts:
        record(session, None, TEXTS_ACTION, object_type="audit_text_keys", changes=counts)
    return counts


def matching_rechain(session: Session, seq: int, old_hash: str) -> dict | None:
    """The record of a re-chain that claims to have replaced ``old_hash`` at ``seq`` (a
    checkpoint or the old head): {"seq", "new_hash", "at_seq" (the record's own seq)}; None
    when none does. Only an explanation to show: data in the database never excuses a mismatch
    with a checkpoint kept off the server (whoever holds the keyring can write such a record)."""
    for at_seq, changes in session.execute(
        select(AuditEvent.seq, AuditEvent.changes)
        .where(AuditEvent.action == ACTION)
        .order_by(AuditEvent.seq)
    ):
        data = json.loads(changes or "{}")
        for cp in data.get("checkpoints", []):
            if cp.get("seq") == seq and cp.get("old_hash") == old_hash:
                return {"seq": seq, "new_hash": cp.get("new_hash"), "at_seq": at_seq}
        head = data.get("old_head") or {}
        if head.get("seq") == seq and head.get("hash") == old_hash:
            new_head = data.get("new_head") or {}
            if new_head.get("seq") == seq:
                return {"seq": seq, "new_hash": new_head.get("hash"), "at_seq": at_seq}
    return None


__all__ = [
    "ACTION",
    "TEXTS_ACTION",
    "SealRefused",
    "clear_reasons_left",
    "matching_rechain",
    "seal_clear_texts",
    "seal_reasons",
]
