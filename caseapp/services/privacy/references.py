"""Yearly references of the data-protection registers (SC-2026-0001 for a breach, YC-2026-0001
for a request from a data subject): the next free number of the year, drawn under an advisory
lock on PostgreSQL so that two records made at once never draw the same one."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session


def next_reference(
    session: Session, column: InstrumentedAttribute[str], prefix: str, year: int, lock_key: int
) -> str:
    """The next free reference ``<prefix>-<year>-NNNN`` in ``column`` (after -9999, -10000)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
    start = f"{prefix}-{year}-"
    with session.no_autoflush:
        last = session.scalar(  # the longest, then the highest: -10000 after -9999
            select(column)
            .where(column.startswith(start))
            .order_by(func.length(column).desc(), column.desc())
            .limit(1)
        )
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{start}{number:04d}"
