"""The audit hash chain: canonical form of an event and its keyed hash."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import orjson

_dumps = orjson.dumps

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


# The chained fields in the order the canonical form lists them (sorted), and the row the
# verification reads: these values (``at`` already as canonical_time text), then prev_hash
# and hash. One definition of the canonical form: canonical_row(); canonical() and the write
# path reach it through event_row().
CANONICAL_ORDER = tuple(sorted(CHAINED_FIELDS))
ROW_COLUMNS = (*CANONICAL_ORDER, "prev_hash", "hash")
ROW_SEQ = ROW_COLUMNS.index("seq")
ROW_KEY_ID = ROW_COLUMNS.index("key_id")
ROW_PREV = ROW_COLUMNS.index("prev_hash")
ROW_HASH = ROW_COLUMNS.index("hash")
_AT = CANONICAL_ORDER.index("at")


def canonical_row(row: Sequence) -> bytes:
    """The canonical form from a row in ROW_COLUMNS order (anything after the chained fields is
    ignored): compact JSON with sorted keys, UTF-8, nothing escaped beyond what JSON requires,
    byte for byte what json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    gives (tests/unit/test_audit_canonical.py). orjson keeps the dict's order, and the keys come
    in sorted order already (issue 16: the canonical form was most of `audit verify`'s time)."""
    return _dumps(dict(zip(CANONICAL_ORDER, row, strict=False)))  # row has more


def event_row(event: Mapping[Any, Any]) -> tuple:
    """An event (a dict of its columns, ``at`` a datetime) as a row in ROW_COLUMNS order."""
    row: list[Any] = [event.get(name) for name in ROW_COLUMNS]
    row[_AT] = canonical_time(row[_AT])
    return tuple(row)


def canonical(event: dict) -> bytes:
    """The canonical form of an event given as a dict (see canonical_row)."""
    missing = [name for name in CHAINED_FIELDS if name not in event]
    if missing:
        raise KeyError(missing[0])
    return canonical_row(event_row(event))


def chain_hash(key: bytes, prev_hash: str, event: dict) -> str:
    return hmac.new(
        key, prev_hash.encode("ascii") + b"|" + canonical(event), hashlib.sha256
    ).hexdigest()


class ChainKey:
    """HMAC-SHA256 under one key with the key's inner and outer blocks hashed once (RFC 2104,
    what the hmac module computes, without its per-call setup: verify hashes millions of events
    under the same key). ``hexdigest(msg) == hmac.new(key, msg, sha256).hexdigest()``
    (tests/unit/test_audit_canonical.py)."""

    __slots__ = ("inner", "outer")

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, message: bytes) -> str:
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


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
    """Walk ``events`` (dicts of their columns, in seq order, streamed) and stop at the first
    broken link (see verify_rows)."""
    return verify_rows(map(event_row, events), key_for).report()


@dataclass
class RangeResult:
    """What verify_rows found over a stretch of the trail: its first event (seq and stored
    prev_hash, for the seam with the stretch before), its count and head, the first failure."""

    first_seq: int | None = None
    first_prev: str = ""
    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    bad_seq: int | None = None
    problem: str = ""
    missing_key: str = ""

    def fail(self, seq: int, problem: str, missing_key: str = "") -> RangeResult:
        self.bad_seq, self.problem, self.missing_key = seq, problem, missing_key
        return self

    def report(self) -> ChainReport:
        report = ChainReport(self.count, self.head_seq, self.head_hash)
        if self.bad_seq is not None:
            report.fail(self.bad_seq, self.problem, self.missing_key)
        return report


_UNRESOLVED = object()  # no key_id is this


def verify_rows(
    rows: Iterable[Sequence[Any]],
    key_for: Callable[[str], bytes | None],
    expected_seq: int | None = 1,
    prev: str | None = GENESIS,
    recheck: Callable[[Sequence], bool] | None = None,
) -> RangeResult:
    """Walk ``rows`` (ROW_COLUMNS order, in seq order, streamed) and stop at the first broken
    link: a missing seq, a broken previous-hash link, a key the keyring lacks (None from
    ``key_for``: not evidence of tampering) or that no genuine event names (b""), a hash that
    does not match the content.

    ``expected_seq`` and ``prev`` None start at the first row as stored (a later stretch of the
    trail verified on its own; the caller checks the seam). ``recheck(row)``, when given, is
    asked before a mismatching hash is reported (the reader built ``at`` in the database and
    re-reads the row the ordinary way: a representation it did not foresee is not tampering).
    """
    result = RangeResult()
    # ChainKey.hexdigest inlined (millions of calls): the key's pads, copied per event.
    inner_copy: Callable[[], Any] = hashlib.sha256().copy  # replaced at the first row
    outer_copy: Callable[[], Any] = inner_copy
    compare, dumps, order = hmac.compare_digest, _dumps, CANONICAL_ORDER
    key_id: Any = _UNRESOLVED
    last_row: Sequence[Any] | None = None
    bad: tuple[int, str, str] | None = None
    # The first row outside the loop: the loop is the cost of verify (issue 16).
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return result
    result.first_seq, result.first_prev = first[ROW_SEQ], first[ROW_PREV]
    expected: Any = first[ROW_SEQ] if expected_seq is None else expected_seq
    if prev is None:
        prev = first[ROW_PREV]
    for row in chain((first,), rows):
        seq = row[ROW_SEQ]
        if seq != expected:
            bad = (expected, f"missing event (found {seq} next)", "")
            break
        if row[ROW_PREV] != prev:
            bad = (seq, "previous-hash link broken", "")
            break
        if row[ROW_KEY_ID] != key_id:
            key_id = row[ROW_KEY_ID]
            key = key_for(key_id)
            if key is None:
                bad = (seq, f"unknown audit key {key_id}", key_id)
                break
            if not key:
                bad = (seq, f"event names key {key_id}, not an audit key of this database", "")
                break
            chain_key = ChainKey(key)
            inner_copy, outer_copy = chain_key.inner.copy, chain_key.outer.copy
        stored = row[ROW_HASH]
        inner = inner_copy()
        inner.update(f"{prev}|".encode())
        # canonical_row(row); zip stops at the chained fields (the row has more).
        inner.update(dumps(dict(zip(order, row))))  # noqa: B905
        outer = outer_copy()
        outer.update(inner.digest())
        try:
            same = compare(outer.hexdigest(), stored)
        except TypeError:  # a stored hash that is not ASCII text
            same = False
        if not same and not (recheck is not None and recheck(row)):
            bad = (seq, "hash does not match the content", "")
            break
        prev = stored
        expected = seq + 1
        last_row = row
    if last_row is not None:
        result.head_seq, result.head_hash = last_row[ROW_SEQ], last_row[ROW_HASH]
        result.count = last_row[ROW_SEQ] - result.first_seq + 1
    if bad is not None:
        result.fail(*bad)
    return result


def checkpoint_message(seq: int, head_hash: str, at: datetime) -> bytes:
    return f"caseapp-audit-checkpoint|{seq}|{head_hash}|{canonical_time(at)}".encode("ascii")


def parse_canonical_time(text: str) -> datetime:
    """The inverse of canonical_time (ValueError for anything else)."""
    value = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    if canonical_time(value) != text:
        raise ValueError(f"not a canonical time: {text!r}")
    return value
