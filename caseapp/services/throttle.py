"""Sign-in throttling per account name (known or not) and per network address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import SignInThrottle
from caseapp.runtime import keyring, settings
from caseapp.security.crypto import keyed_hash


def _key(scope: str, value: str) -> str:
    # Keyed so that mistyped passwords entered as user names are not kept in clear.
    return keyed_hash(keyring().active("blind_index").secret, f"throttle|{scope}|{value}")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _row(session: Session, scope: str, value: str) -> SignInThrottle | None:
    return session.scalar(select(SignInThrottle).where(
        SignInThrottle.scope == scope, SignInThrottle.key_hash == _key(scope, value))
        .with_for_update().execution_options(populate_existing=True))


def hold(session: Session, username: str, ip: str) -> None:
    """Take the counters of this name and address for the rest of the transaction.

    Called before a sign-in attempt is checked, so concurrent attempts on one name or address
    are counted one after the other: a burst cannot slip between the check of the lock and the
    count of its failures. The rows are created when missing (never twice under a race) and
    locked in a fixed order (account, then address), so two attempts cannot deadlock.
    PostgreSQL locks the rows (FOR UPDATE); SQLite takes its single write lock at the insert.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    for scope, value in (("account", username), ("address", ip)):
        session.execute(insert(SignInThrottle).values(
            scope=scope, key_hash=_key(scope, value), failures=0, window_start=now)
            .on_conflict_do_nothing(index_elements=["scope", "key_hash"]))
        _row(session, scope, value)


def seconds_locked(session: Session, username: str, ip: str) -> int:
    """Seconds until sign-in is allowed again for this name or address (0: allowed)."""
    now = utcnow()
    worst = 0
    for scope, value in (("account", username), ("address", ip)):
        row = _row(session, scope, value)
        until = _aware(row.locked_until) if row else None
        if until and until > now:
            worst = max(worst, int((until - now).total_seconds()) + 1)
    return worst


def register_failure(session: Session, username: str, ip: str) -> bool:
    """Count one failure on both keys; True when this failure starts a lock."""
    cfg = settings()
    now = utcnow()
    window = timedelta(seconds=cfg.throttle_window_seconds)
    started_lock = False
    limits = {"account": cfg.throttle_account_failures, "address": cfg.throttle_address_failures}
    for scope, value in (("account", username), ("address", ip)):
        row = _row(session, scope, value)
        if row is None:
            row = SignInThrottle(scope=scope, key_hash=_key(scope, value), failures=0,
                                 window_start=now)
            session.add(row)
        if now - _aware(row.window_start) > window:
            row.failures = 0
            row.window_start = now
        row.failures += 1
        if row.failures >= limits[scope]:
            already = _aware(row.locked_until)
            if already is None or already <= now:
                started_lock = started_lock or scope == "account"
            row.locked_until = now + timedelta(seconds=cfg.throttle_lock_seconds)
            row.failures = 0
            row.window_start = now
    return started_lock


def clear_account(session: Session, username: str) -> None:
    row = _row(session, "account", username)
    if row is not None:
        row.failures = 0
        row.locked_until = None
