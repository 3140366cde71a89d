"""The audit hash chain: canonical form of an event and its keyed hash."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

GENESIS = "0" * 64

# The fields covered by the hash, in the order they are listed in DESIGN.md section 7.
CHAINED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "actor_roles",
    "unit_id",
    "unit_path",
    "action",
    "object_type",
    "object_id",
    "object_ref",
    "changes",
    "reason",
    "request_id",
    "ip",
    "key_id",
)


def canonical_time(value: datetime) -> str:
    """YYYY-MM-DDTHH:MM:SS.ffffffZ in UTC (what strftime("%Y-%m-%dT%H:%M:%S.%fZ") gives for
    the years the service lives in, at half its cost)."""
    if value.tzinfo is not None:  # SQLite hands back naive UTC
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def canonical(event: dict) -> bytes:
    """The chained fields as compact JSON with sorted keys, UTF-8, nothing escaped beyond what
    JSON requires: byte for byte what json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False) gives (tests/unit/test_audit_canonical.py), from orjson at a tenth of
    its cost (issue 16: the canonical form was most of `audit verify`'s time)."""
    body = {name: event[name] for name in CHAINED_FIELDS}
    body["at"] = canonical_time(body["at"])
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain_hash(key: bytes, prev_hash: str, event: dict) -> str:
    return hmac.new(
        key, prev_hash.encode("ascii") + b"|" + canonical(event), hashlib.sha256
    ).hexdigest()


# What stopped a verification: evidence against the trail, or a key this keyring lacks (the
# trail may be sound, it cannot be checked from there on without the keyring that goes with it).
TAMPERED = "tampered"
MISSING_KEY = "missing_key"


@dataclass
class ChainReport:
    """What a verification found: the count, the head, and the first bad sequence number."""

    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    bad_seq: int | None = None
    problem: str = ""
    checkpoints: int = 0
    kind: str = ""  # "" while ok, else TAMPERED or MISSING_KEY
    missing_key: str = ""  # the key id the keyring lacks (kind MISSING_KEY)

    @property
    def ok(self) -> bool:
        return self.bad_seq is None

    def fail(self, seq: int, problem: str, missing_key: str = "") -> ChainReport:
        self.bad_seq, self.problem = seq, problem
        self.kind = MISSING_KEY if missing_key else TAMPERED
        self.missing_key = missing_key
        return self


def verify_events(events: Iterable[dict], key_for: Callable[[str], bytes | None]) -> ChainReport:
    """Walk ``events`` (in seq order, streamed) and stop at the first broken link.

    ``key_for(key_id)`` returns the audit key with that id, or None when the keyring lacks it
    (the trail cannot be checked from there on: a missing key, not evidence of tampering), or
    b"" for an id no genuine event names (a key of another purpose, or one the database never
    used): tampering.
    """
    report = ChainReport()
    expected_seq = 1
    prev = GENESIS
    for event in events:
        seq = event["seq"]
        if seq != expected_seq:
            return report.fail(expected_seq, f"missing event (found {seq} next)")
        if event["prev_hash"] != prev:
            return report.fail(seq, "previous-hash link broken")
        key = key_for(event["key_id"])
        if key is None:
            return report.fail(
                seq, f"unknown audit key {event['key_id']}", missing_key=event["key_id"]
            )
        if not key:
            return report.fail(
                seq, f"event names key {event['key_id']}, not an audit key of this database"
            )
        if not hmac.compare_digest(chain_hash(key, prev, event), event["hash"]):
            return report.fail(seq, "hash does not match the content")
        prev = event["hash"]
        report.count += 1
        report.head_seq, report.head_hash = seq, prev
        expected_seq += 1
    return report


def checkpoint_message(seq: int, head_hash: str, at: datetime) -> bytes:
    return f"caseapp-audit-checkpoint|{seq}|{head_hash}|{canonical_time(at)}".encode("ascii")


def parse_canonical_time(text: str) -> datetime:
    """The inverse of canonical_time (ValueError for anything else)."""
    value = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    if canonical_time(value) != text:
        raise ValueError(f"not a canonical time: {text!r}")
    return value
