"""Throttles of the public self-report pages: receipt-code guesses per address and from all
addresses together, and new reports per address.

The counters live in the sign-in throttle table under scopes of their own, keyed by a keyed
hash of the address (never the address in clear). An IPv6 address counts by its /64 network,
which one device can change at will. Each count is one atomic UPDATE: a burst of requests
cannot slip between reading a counter and writing it."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, update
from sqlalchemy import case as when
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import SignInThrottle
from caseapp.runtime import keyring, settings
from caseapp.security.crypto import keyed_hash

GUESS_ADDRESS = "rcpt_addr"
GUESS_ALL = "rcpt_all"
REPORT_ADDRESS = "rep_addr"
EVERYONE = "all"


def address_key(ip: str) -> str:
    """The address as counted: an IPv6 address by its /64 network."""
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _key(scope: str, value: str) -> str:
    return keyed_hash(keyring().active("blind_index").secret, f"throttle|{scope}|{value}")


def _table() -> Table:
    return cast(Table, SignInThrottle.__table__)


def _count(session: Session, scope: str, value: str, window_seconds: int, add: int) -> int:
    """Add ``add`` to the counter (a new window when the last one is over) and return it."""
    now = utcnow()
    key = _key(scope, value)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = _table()
    with session.no_autoflush:
        session.execute(
            insert(SignInThrottle)
            .values(scope=scope, key_hash=key, failures=0, window_start=now)
            .on_conflict_do_nothing(index_elements=["scope", "key_hash"])
        )
        stale = table.c.window_start < now - timedelta(seconds=window_seconds)
        return int(
            session.execute(
                update(table)
                .where(table.c.scope == scope, table.c.key_hash == key)
                .values(
                    failures=when((stale, add), else_=table.c.failures + add),
                    window_start=when((stale, now), else_=table.c.window_start),
                )
                .returning(table.c.failures)
            ).scalar_one()
        )


def guessing_blocked(session: Session, ip: str) -> bool:
    """True when this address, or everyone together, used up the wrong codes of the window.
    Reads the counters (adding nothing) so that a right code is refused as well while blocked:
    a blocked guess and a wrong one must look the same."""
    cfg = settings()
    window = cfg.selfreport_guess_window_seconds
    mine = _count(session, GUESS_ADDRESS, address_key(ip), window, 0)
    everyone = _count(session, GUESS_ALL, EVERYONE, window, 0)
    return mine >= cfg.selfreport_guesses_per_address or everyone >= cfg.selfreport_guesses_total


def count_wrong_code(session: Session, ip: str) -> None:
    """One more wrong code from this address, and from everyone."""
    window = settings().selfreport_guess_window_seconds
    _count(session, GUESS_ADDRESS, address_key(ip), window, 1)
    _count(session, GUESS_ALL, EVERYONE, window, 1)


def take_report_slot(session: Session, ip: str) -> bool:
    """Count one new report from this address; False when it is past the limit of the window
    (the report is then not stored)."""
    cfg = settings()
    used = _count(session, REPORT_ADDRESS, address_key(ip), cfg.selfreport_report_window_seconds, 1)
    return used <= cfg.selfreport_reports_per_address
