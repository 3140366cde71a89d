"""Reading the audit chain fast for `audit verify`: plain tuples from the driver's cursor, a batch
at a time, ``at`` already in its canonical text (the database formats it), in the order
audit_chain.canonical_row() takes; and the worker that verifies one stretch of seq in a process
of its own (issue 16: audit verify at least half a bare HMAC loop, 10 million events in flat
memory).

Kept light (no models, no Flask): a worker process imports this module only."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from caseapp.security.audit_chain import (
    ROW_COLUMNS,
    ROW_HASH,
    ROW_KEY_ID,
    ROW_PREV,
    ROW_SEQ,
    RangeResult,
    chain_hash,
    verify_rows,
)

# ``at`` as canonical_time() writes it, formatted by the database. Only a shortcut: a row whose
# hash does not match is read again the ordinary way before it is reported (recheck_row).
_AT_SQL = {
    "postgresql": """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
    # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, as the service writes it).
    "sqlite": "replace(at, ' ', 'T') || 'Z'",
}
_PARAM = {"qmark": "?", "format": "%s", "pyformat": "%s"}


@dataclass(frozen=True)
class AuditKeys:
    """key_for() of verify_rows, picklable for a worker process: the audit key's secret; b"" for
    an id the keyring holds for another purpose or that the database never bound (no genuine
    event names it: tampering); None for an id the keyring lacks that the database uses (or
    cannot say): the trail cannot be checked from there on, not evidence of tampering."""

    audit: dict[str, bytes]
    held: frozenset[str]
    bound: frozenset[str] | None

    def __call__(self, key_id: str) -> bytes | None:
        secret = self.audit.get(key_id)
        if secret is not None:
            return secret
        if key_id in self.held:
            return b""
        return None if self.bound is None or key_id in self.bound else b""


def supported(dialect) -> bool:
    return dialect.name in _AT_SQL and dialect.paramstyle in _PARAM


def _select_sql(dialect) -> str:
    p = _PARAM[dialect.paramstyle]
    columns = ", ".join(_AT_SQL[dialect.name] if c == "at" else c for c in ROW_COLUMNS)
    return (
        f"SELECT {columns} FROM audit_events WHERE seq > {p} AND seq <= {p} "  # noqa: S608 - constants
        f"ORDER BY seq LIMIT {p}"
    )


def stream_rows(connection, after: int, upto: int, batch: int) -> Iterator[tuple]:
    """Rows of seq in (after, upto] in seq order through the DBAPI cursor of ``connection`` (a
    SQLAlchemy Connection: the caller's transaction, so what it wrote is seen), keyset
    pagination, ``batch`` rows held at a time."""
    sql = _select_sql(connection.dialect)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        last = after
        while last < upto:
            cursor.execute(sql, (last, upto, batch))
            rows = cursor.fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][ROW_SEQ]
            del rows
    finally:
        cursor.close()


def recheck_row(connection, key_for: Callable[[str], bytes | None]) -> Callable[[Sequence], bool]:
    """recheck() of verify_rows: the row read again through SQLAlchemy's types and hashed from
    its dict by audit_chain.chain_hash, as the service wrote it (True: the event is intact, the
    shortcut's ``at`` text was not the canonical one)."""

    def recheck(row: Sequence) -> bool:
        from sqlalchemy import select

        from caseapp.models import AuditEvent

        table = AuditEvent.__table__
        try:
            typed = (
                connection.execute(select(table).where(table.c.seq == row[ROW_SEQ]))
                .mappings()
                .first()
            )
            key = key_for(row[ROW_KEY_ID])
            if typed is None or not key or typed["prev_hash"] != row[ROW_PREV]:
                return False
            return chain_hash(key, typed["prev_hash"], dict(typed)) == row[ROW_HASH]
        except Exception:  # noqa: BLE001 - unreadable content is a mismatch, reported as such
            return False

    return recheck


def verify_stretch(
    connection,
    key_for: Callable[[str], bytes | None],
    after: int,
    upto: int,
    batch: int,
    expected_seq: int | None,
    prev: str | None,
) -> RangeResult:
    return verify_rows(
        stream_rows(connection, after, upto, batch),
        key_for,
        expected_seq=expected_seq,
        prev=prev,
        recheck=recheck_row(connection, key_for),
    )


def verify_stretch_in_worker(
    url: str, keys: AuditKeys, after: int, upto: int, batch: int
) -> RangeResult:
    """A worker process's part: seq in (after, upto] on a connection of its own, starting at its
    first event as stored (the parent checks the seam with the stretch before)."""
    from caseapp.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return verify_stretch(connection, keys, after, upto, batch, None, None)
    finally:
        engine.dispose()
