"""The audit hash chain: canonical form of an event and its keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64

# The fields covered by the hash, in the order they are listed in DESIGN.md section 7.
CHAINED_FIELDS = (
    "seq", "at", "actor_id", "actor_name", "actor_roles", "unit_id", "unit_path", "action",
    "object_type", "object_id", "object_ref", "changes", "reason", "request_id", "ip", "key_id",
)


def canonical_time(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event: dict) -> bytes:
    body = {name: event[name] for name in CHAINED_FIELDS}
    body["at"] = canonical_time(body["at"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def chain_hash(key: bytes, prev_hash: str, event: dict) -> str:
    return hmac.new(key, prev_hash.encode("ascii") + b"|" + canonical(event),
                    hashlib.sha256).hexdigest()


@dataclass
class ChainReport:
    """What a verification found: the count, the head, and the first bad sequence number."""

    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    bad_seq: int | None = None
    problem: str = ""
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return self.bad_seq is None


def verify_events(events: Iterable[dict], key_for: Callable[[str], bytes | None]) -> ChainReport:
    """Walk ``events`` (in seq order, streamed) and stop at the first broken link.

    ``key_for(key_id)`` returns the audit key with that id, or None when unknown.
    """
    report = ChainReport()
    expected_seq = 1
    prev = GENESIS
    for event in events:
        seq = event["seq"]
        if seq != expected_seq:
            report.bad_seq, report.problem = expected_seq, f"missing event (found {seq} next)"
            return report
        if event["prev_hash"] != prev:
            report.bad_seq, report.problem = seq, "previous-hash link broken"
            return report
        key = key_for(event["key_id"])
        if key is None:
            report.bad_seq, report.problem = seq, f"unknown audit key {event['key_id']}"
            return report
        if not hmac.compare_digest(chain_hash(key, prev, event), event["hash"]):
            report.bad_seq, report.problem = seq, "hash does not match the content"
            return report
        prev = event["hash"]
        report.count += 1
        report.head_seq, report.head_hash = seq, prev
        expected_seq += 1
    return report


def checkpoint_message(seq: int, head_hash: str, at: datetime) -> bytes:
    return f"caseapp-audit-checkpoint|{seq}|{head_hash}|{canonical_time(at)}".encode("ascii")
