"""The audit hash chain: canonical form of an event and its keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import json
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
