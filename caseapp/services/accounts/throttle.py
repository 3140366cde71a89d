"""Sign-in throttling per account name (known or not) and per network address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast, overload

from sqlalchemy import Table, select, update
from sqlalchemy import case as when
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import SignInThrottle
from caseapp.runtime import keyring, settings
from caseapp.security.crypto import keyed_hash


def _key(scope: str, value: str) -> str:
    # Keyed so that mistyped passwords entered as user names are not kept in clear.
    return keyed_hash(keyring().active("blind_index").secret, f"throttle|{scope}|{value}")


@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: datetime | None) -> datetime | None: ...
def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _row(session: Session, scope: str, value: str, lock: bool = False) -> SignInThrottle | None:
    stmt = (
        select(SignInThrottle)
        .where(SignInThrottle.scope == scope, SignInThrottle.key_hash == _key(scope, value))
        .execution_options(populate_existing=True)
    )
    return session.scalar(stmt.with_for_update() if lock else stmt)


def hold(session: Session, username: str, ip: str) -> None:
    """Take the account name's counter for the rest of the transaction, before the attempt is
    checked: concurrent guesses on one name are checked and counted one after the other, so a
    burst cannot slip between the check of the lock and the count of its failures.

    The address's counter is not held (a school behind one address would queue every
    sign-in): a failure adds to it with one atomic UPDATE after the check. Both rows are
    created when missing, never twice under a race. Nothing of the request is flushed before
    the lock is taken (a pending session touch would otherwise lock its row first, and a
    password change that ends sessions takes them in the other order: a deadlock).
    PostgreSQL locks the row (FOR UPDATE); SQLite takes its single write lock at the insert.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    with session.no_autoflush:
        for scope, value in (("account", username), ("address", ip)):
            session.execute(
                insert(SignInThrottle)
                .values(scope=scope, key_hash=_key(scope, value), failures=0, window_start=now)
                .on_conflict_do_nothing(index_elements=["scope", "key_hash"])
            )
        _row(session, "account", username, lock=True)


def seconds_locked(session: Session, username: str, ip: str) -> int:
    """Seconds until sign-in is allowed again for this name or address (0: allowed)."""
    now = utcnow()
    worst = 0
    for scope, value in (("account", username), ("address", ip)):
        row = _row(session, scope, value, lock=scope == "account")
        until = _aware(row.locked_until) if row else None
        if until and until > now:
            worst = max(worst, int((until - now).total_seconds()) + 1)
    return worst


def register_failure(session: Session, username: str, ip: str) -> bool:
    """Count one failure on both keys; True when this failure starts the account's lock."""
    cfg = settings()
    now = utcnow()
    window = timedelta(seconds=cfg.throttle_window_seconds)
    lock_until = now + timedelta(seconds=cfg.throttle_lock_seconds)
    started_lock = False
    row = _row(session, "account", username, lock=True)
    if row is None:
        row = SignInThrottle(
            scope="account", key_hash=_key("account", username), failures=0, window_start=now
        )
        session.add(row)
    if now - _aware(row.window_start) > window:
        row.failures = 0
        row.window_start = now
    row.failures += 1
    if row.failures >= cfg.throttle_account_failures:
        already = _aware(row.locked_until)
        started_lock = already is None or already <= now
        row.locked_until, row.failures, row.window_start = lock_until, 0, now
    _count_address_failure(session, ip, now, window, lock_until)
    return started_lock


def _count_address_failure(
    session: Session, ip: str, now: datetime, window: timedelta, lock_until: datetime
) -> None:
    """One more failure from ``ip``, in one statement (no read-then-write race)."""
    table = cast(Table, SignInThrottle.__table__)
    this = (table.c.scope == "address", table.c.key_hash == _key("address", ip))
    stale = table.c.window_start < now - window
    failures = session.execute(
        update(table)
        .where(*this)
        .values(
            failures=when((stale, 1), else_=table.c.failures + 1),
            window_start=when((stale, now), else_=table.c.window_start),
        )
        .returning(table.c.failures)
    ).scalar()
    if failures is not None and failures >= settings().throttle_address_failures:
        session.execute(
            update(table).where(*this).values(locked_until=lock_until, failures=0, window_start=now)
        )


def clear_account(session: Session, username: str) -> None:
    row = _row(session, "account", username, lock=True)
    if row is not None:
        row.failures = 0
        row.locked_until = None
