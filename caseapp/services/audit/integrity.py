"""Verifying the audit chain (streamed) and signing checkpoints of its head."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import AuditCheckpoint, AuditEvent
from caseapp.security.audit_chain import (
    MISSING_KEY,
    TAMPERED,
    ChainReport,
    RangeResult,
    checkpoint_message,
    event_row,
    parse_canonical_time,
    verify_rows,
)
from caseapp.security.keyring import Keyring, KeyringError
from caseapp.services.audit import chain_reader
from caseapp.services.audit.chain_reader import AuditKeys
from caseapp.services.audit.trail import record

if TYPE_CHECKING:
    from caseapp.models import User

# Events read per query. 1,000 rather than 10,000: the client's cost of reading an event drops
# from ~1.2 to ~0.7 us (a batch's rows stay in the CPU's cache while they are hashed), the
# database's stays ~1 us (bench/audit_verify.py, issue 16).
BATCH = 1_000
# Below this many events one process verifies: starting workers costs more than they save.
PARALLEL_FROM = 200_000
# A checkpoint file whose event the database says seal-reasons re-chained: not ok, not proof of
# tampering either; only the operator's own records can tell (see _rechained).
RECHAINED = "rechained"
_COLUMNS = [c.key for c in inspect(AuditEvent).column_attrs]


def _stream(session: Session, batch: int = BATCH):
    """Events as rows in ROW_COLUMNS order, seq order, a batch at a time (keyset pagination,
    constant memory), through SQLAlchemy's types: for a database chain_reader cannot read."""
    table = AuditEvent.__table__
    last = 0
    while True:
        rows = (
            session.execute(
                select(*[table.c[name] for name in _COLUMNS])
                .where(table.c.seq > last)
                .order_by(table.c.seq)
                .limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        for row in rows:
            yield event_row(row)
        last = rows[-1]["seq"]


def _bound_ids(session: Session) -> set[str] | None:
    """The key ids the database is bound to; None when it cannot say (no binding yet)."""
    from caseapp.services.keys import binding as key_binding

    if not key_binding.has_binding_table(session):
        return None
    return set(key_binding.bound_key_ids(session)) or None


def _lacked(key_id: str, bound: set[str] | None) -> bool:
    """A key the keyring lacks is "missing" when the database says it uses it (or cannot say);
    an id the database never bound is not a key anyone lost: the event naming it is forged."""
    return bound is None or key_id in bound


def _audit_key(keyring: Keyring, bound: set[str] | None = None) -> AuditKeys:
    """key_for() of verify_rows: None for an id the keyring lacks (and the database uses),
    b"" for an id no genuine event names (another purpose, or never bound)."""
    return AuditKeys(
        audit={k.id: k.secret for k in keyring.keys("audit")},
        held=frozenset(k.id for k in keyring.keys(purpose=None)),
        bound=frozenset(bound) if bound is not None else None,
    )


def _verify_chain(
    session: Session, keys: AuditKeys, batch: int, workers: int, parallel_from: int
) -> ChainReport:
    """The events' part of verify: one process, or ``workers`` processes each verifying a
    stretch of seq on a connection of its own (each event's hash depends on its own row and
    its stored prev_hash only), the seams between stretches checked here."""
    connection = session.connection()
    if not chain_reader.supported(connection.dialect):
        return verify_rows(_stream(session, batch), keys).report()
    head = session.scalar(select(func.max(AuditEvent.seq))) or 0
    url = connection.engine.url
    if workers > 1 and head >= parallel_from and url.database not in (None, "", ":memory:"):
        done = _verify_in_workers(
            url.render_as_string(hide_password=False), keys, head, batch, workers
        )
    else:
        done = RangeResult()
    if done.bad_seq is not None:
        return done.report()
    # The rest (all of it in one process; after workers, what was appended meanwhile), in this
    # session's transaction.
    rest = chain_reader.verify_stretch(
        connection,
        keys,
        done.head_seq,
        2**63 - 1,
        batch,
        done.head_seq + 1,
        done.head_hash,
    )
    return _joined([done, rest]).report()


def stretches(head: int, workers: int) -> list[tuple[int, int]]:
    """The seq ranges (after, upto] that ``workers`` processes verify, one each, of a chain
    ending at ``head``."""
    step = -(-head // workers)
    return [(i * step, min((i + 1) * step, head)) for i in range(workers)]


def _verify_in_workers(
    url: str, keys: AuditKeys, head: int, batch: int, workers: int
) -> RangeResult:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    bounds = stretches(head, workers)
    # fork where there is one: a spawned worker imports the application first (seconds). The
    # worker opens its own connection and never touches the ones it inherits. An executor,
    # not multiprocessing.Pool: Pool.terminate() can hang for good when it stops a worker
    # that holds its task queue's lock (seen under load), and a worker that dies makes the
    # executor raise instead of waiting for its result forever. Every stretch is walked to
    # its end (bounded work), so nothing needs stopping.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = [
            pool.submit(chain_reader.verify_stretch_in_worker, url, keys, lo, hi, batch)
            for lo, hi in bounds
        ]
        results = [job.result() for job in pending]
    return _joined(results)


def _joined(stretches: list[RangeResult]) -> RangeResult:
    """Consecutive stretches as one: each must start where the one before ended (the next seq,
    linked to its head hash), as verify_rows would have found walking them in one go."""
    total = RangeResult()
    for part in stretches:
        if part.first_seq is None:  # nothing stored in this stretch
            continue
        if total.first_seq is None:
            total.first_seq, total.first_prev = part.first_seq, part.first_prev
        if part.first_seq != total.head_seq + 1:
            return total.fail(total.head_seq + 1, f"missing event (found {part.first_seq} next)")
        if part.first_prev != total.head_hash:
            return total.fail(part.first_seq, "previous-hash link broken")
        total.count += part.count
        if part.count:
            total.head_seq, total.head_hash = part.head_seq, part.head_hash
        if part.bad_seq is not None:
            return total.fail(part.bad_seq, part.problem, part.missing_key)
    return total


def _signing_public(keyring: Keyring, key_id: str) -> Ed25519PublicKey | None:
    """The public half of signing key ``key_id``; None when the keyring lacks the id; KeyringError
    when the id names a key of another purpose."""
    try:
        key = keyring.get(key_id)
    except KeyringError:
        return None
    if key.purpose != "signing":
        raise KeyringError(f"key {key_id} is not a signing key")
    return Ed25519PrivateKey.from_private_bytes(key.secret).public_key()


def verify(
    session: Session,
    keyring: Keyring,
    batch: int = BATCH,
    workers: int = 1,
    parallel_from: int = PARALLEL_FROM,
) -> ChainReport:
    """Recompute the whole chain, then check every signed checkpoint against it. ``workers``
    processes share a chain of at least ``parallel_from`` events (`audit verify --workers`)."""
    bound = _bound_ids(session)
    report = _verify_chain(session, _audit_key(keyring, bound), batch, workers, parallel_from)
    if not report.ok:
        return report
    checkpoints = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all()
    for cp in checkpoints:
        try:
            public = _signing_public(keyring, cp.key_id)
            if public is None and _lacked(cp.key_id, bound):
                return report.fail(
                    cp.seq, f"checkpoint signed by unknown key {cp.key_id}", missing_key=cp.key_id
                )
            if public is None:
                raise KeyringError(f"key {cp.key_id} was never bound to this database")
            public.verify(
                base64.b64decode(cp.signature), checkpoint_message(cp.seq, cp.hash, cp.at)
            )
        except (InvalidSignature, ValueError, KeyringError):
            return report.fail(cp.seq, "checkpoint signature does not verify")
        if cp.seq == 0:
            report.checkpoints += 1
            continue
        if cp.seq > report.head_seq:
            return report.fail(
                report.head_seq + 1,
                f"events after {report.head_seq} are missing (checkpoint at {cp.seq})",
            )
        stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == cp.seq))
        if stored != cp.hash:
            return report.fail(cp.seq, "event differs from its signed checkpoint")
        report.checkpoints += 1
    return report


def record_verification(
    session: Session,
    actor: User | None,
    report: ChainReport,
    checkpoint_file: CheckpointFileReport | None = None,
) -> None:
    """Append the result to the trail. Not when the keyring lacks a key the trail uses: the
    caller checks ``cannot_chain`` first (the event could not be verified by this keyring's
    holder either, and would sit after a stretch nobody here can check)."""
    ok, bad_seq = report.ok, report.bad_seq
    changes = {
        "count": report.count,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "checkpoints": report.checkpoints,
    }
    if checkpoint_file is not None:
        changes["checkpoint_file"] = {
            "seq": checkpoint_file.seq,
            "hash": checkpoint_file.hash,
            "key_id": checkpoint_file.key_id,
            "ok": checkpoint_file.ok,
        }
        if ok and not checkpoint_file.ok:
            ok, bad_seq = False, checkpoint_file.bad_seq
    record(
        session,
        actor,
        "audit.verify",
        object_type="audit_events",
        changes={"ok": ok, "bad_seq": bad_seq, "kind": report.kind, **changes},
    )


def cannot_chain(report: ChainReport, checkpoint_file: CheckpointFileReport | None = None) -> bool:
    """Whether the verification met a key this keyring lacks (nothing should be appended)."""
    return report.kind == MISSING_KEY or (
        checkpoint_file is not None and checkpoint_file.kind == MISSING_KEY
    )


def checkpoint(session: Session, actor: User | None, keyring: Keyring) -> AuditCheckpoint:
    """Sign the current head with the Ed25519 signing key and store the signature."""
    head = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, head_hash = (head[0], head[1]) if head else (0, "0" * 64)
    key = keyring.active("signing")
    at = utcnow()
    private = Ed25519PrivateKey.from_private_bytes(key.secret)
    signature = base64.b64encode(private.sign(checkpoint_message(seq, head_hash, at)))
    cp = AuditCheckpoint(
        at=at, seq=seq, hash=head_hash, key_id=key.id, signature=signature.decode("ascii")
    )
    session.add(cp)
    record(
        session,
        actor,
        "audit.checkpoint",
        object_type="audit_checkpoints",
        changes={"seq": seq, "hash": head_hash, "key_id": key.id},
    )
    return cp


def export_checkpoint(cp: AuditCheckpoint, keyring: Keyring, path: Path) -> None:
    """Write a checkpoint with its public key, for keeping away from the server."""
    from caseapp.security.audit_chain import canonical_time

    public = Ed25519PrivateKey.from_private_bytes(keyring.get(cp.key_id).secret).public_key()
    data = {
        "seq": cp.seq,
        "hash": cp.hash,
        "at": canonical_time(cp.at),
        "key_id": cp.key_id,
        "signature": cp.signature,
        "public_key": base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode(
            "ascii"
        ),
        "message": checkpoint_message(cp.seq, cp.hash, cp.at).decode("ascii"),
    }
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def last_event(session: Session, action: str) -> AuditEvent | None:
    return session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )


# A checkpoint file kept off the server ------------------------------------------------------


class CheckpointFileError(ValueError):
    """The file is not a checkpoint written by `audit checkpoint --out` (unreadable, not JSON,
    a field missing or malformed)."""


@dataclass
class CheckpointFileReport:
    """The trail held against a checkpoint file: every problem found, the worst kind first."""

    seq: int
    hash: str
    key_id: str
    at: str
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, line)
    bad_seq: int | None = None
    notes: list[str] = field(default_factory=list)  # facts that are not problems

    @property
    def kind(self) -> str:
        kinds = {kind for kind, _line in self.problems}
        for worst in (TAMPERED, RECHAINED, MISSING_KEY):
            if worst in kinds:
                return worst
        return ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, line: str, bad_seq: int | None = None) -> None:
        self.problems.append((kind, line))
        if kind in (TAMPERED, RECHAINED) and self.bad_seq is None:
            self.bad_seq = bad_seq


def read_checkpoint_file(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointFileError(
            f"{path} is not a readable checkpoint file ({type(exc).__name__})"
        ) from None
    types = {"seq": int, "hash": str, "at": str, "key_id": str, "signature": str, "public_key": str}
    if not isinstance(data, dict):
        raise CheckpointFileError(f"{path} is not a checkpoint file (not a JSON object)")
    for name, kind in types.items():
        if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
            raise CheckpointFileError(
                f"{path} is not a checkpoint file ({name} missing or malformed)"
            )
    try:
        data["at_time"] = parse_canonical_time(data["at"])
        data["public_bytes"] = base64.b64decode(data["public_key"], validate=True)
        data["signature_bytes"] = base64.b64decode(data["signature"], validate=True)
    except (ValueError, binascii.Error):
        raise CheckpointFileError(
            f"{path} is not a checkpoint file (at, public_key or signature malformed)"
        ) from None
    if data["seq"] < 0 or len(data["public_bytes"]) != 32:
        raise CheckpointFileError(f"{path} is not a checkpoint file (seq or public_key malformed)")
    return data


def verify_checkpoint_file(session: Session, keyring: Keyring, data: dict) -> CheckpointFileReport:
    """Hold the trail against a checkpoint kept off the server (``data`` from
    read_checkpoint_file). The signature is checked with the public key in the file (the
    database's copy of a checkpoint is not trusted here); the keyring's key of the same id,
    when it has one, must be the same key."""
    seq, head_hash, key_id = data["seq"], data["hash"], data["key_id"]
    report = CheckpointFileReport(seq, head_hash, key_id, data["at"])
    message = checkpoint_message(seq, head_hash, data["at_time"])
    try:
        Ed25519PublicKey.from_public_bytes(data["public_bytes"]).verify(
            data["signature_bytes"], message
        )
    except (InvalidSignature, ValueError):
        report.add(
            TAMPERED,
            f"the checkpoint file's signature does not verify with its own "
            f"public key: the file was altered (seq {seq})",
            seq,
        )
    if data.get("message", message.decode("ascii")) != message.decode("ascii"):
        report.add(
            TAMPERED,
            "the checkpoint file's message does not match its fields: the file was altered",
            seq,
        )
    _hold_trail_against(session, report)
    try:
        public = _signing_public(keyring, key_id)
    except KeyringError:
        report.add(
            TAMPERED,
            f"the checkpoint names key {key_id}, which this keyring holds as "
            "a key of another purpose",
            seq,
        )
        return report
    if public is None and not _lacked(key_id, _bound_ids(session)):
        report.add(
            TAMPERED,
            f"the checkpoint names key {key_id}, which neither this keyring "
            "holds nor this database ever used",
            seq,
        )
    elif public is None:
        report.add(
            MISSING_KEY,
            f"cannot confirm the checkpoint's signer: it is signed by key "
            f"{key_id} which this keyring lacks (use the keyring that goes with this "
            "database); this is not evidence of tampering",
        )
    elif public.public_bytes(Encoding.Raw, PublicFormat.Raw) != data["public_bytes"]:
        report.add(
            TAMPERED,
            f"this keyring's signing key {key_id} has a different public key "
            "from the checkpoint file's: the file or the keyring is not genuine",
            seq,
        )
    return report


def _hold_trail_against(session: Session, report: CheckpointFileReport) -> None:
    """The database must hold the signed event: the same hash at the same seq."""
    if report.seq == 0:
        return  # signed an empty trail: any trail extends it
    head = session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0
    if head < report.seq:
        report.add(
            TAMPERED,
            f"the trail ends at seq {head} but the checkpoint signed seq "
            f"{report.seq}: events are missing (restored from an older backup, or "
            "truncated)",
            head + 1,
        )
        return
    stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == report.seq))
    if stored is None:
        report.add(
            TAMPERED,
            f"the trail has no event at seq {report.seq}, which the "
            "checkpoint signed: events are missing",
            report.seq,
        )
    elif stored != report.hash and _rechained(session, report, stored):
        return
    elif stored != report.hash:
        report.add(
            TAMPERED,
            f"the event at seq {report.seq} differs from the one the "
            "checkpoint signed: the trail was rewritten or forked (restored from an "
            "older backup and written to since?)",
            report.seq,
        )


def _rechained(session: Session, report: CheckpointFileReport, stored: str) -> bool:
    """The database says the event the checkpoint signed was re-chained when the reasons were
    sealed (reseal.py). Never a pass: whoever holds the keyring can rewrite the trail and write
    such a record too, so only the operator, with their own records, can tell; a distinct
    outcome (RECHAINED) asking for a checkpoint written after the re-chain."""
    from caseapp.services.audit.reseal import matching_rechain

    match = matching_rechain(session, report.seq, report.hash)
    if match is None or match["new_hash"] != stored:
        return False
    report.add(
        RECHAINED,
        f"the event at seq {report.seq} differs from the one the checkpoint signed; the trail "
        f"says it was re-chained by seal-reasons after this checkpoint, at seq "
        f"{match['at_seq']} (audit.reasons_sealed). The database cannot vouch for itself: "
        "compare that with your own records of the upgrade, then replace this file with a "
        "checkpoint written after the re-chain (audit seal-reasons --out FILE or "
        "audit checkpoint --out FILE)",
        report.seq,
    )
    return True
