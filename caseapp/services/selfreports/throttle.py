"""Throttles of the public self-report pages: receipt-code guesses per address and from all
addresses together, new reports per address, and the reporter's messages (per report and day,
per address).

The counters live in the sign-in throttle table under scopes of their own, keyed by a keyed
hash of the address (never the address in clear). They count in FIXED windows: a row holds the
boundary its window began at (a whole quarter hour, a whole hour), never the moment of a
request, and a row whose window is over is deleted by the next count of any self-report scope.
Reading a counter (is this address blocked?) writes nothing: following one's own report with
the right code leaves no row. An IPv6 address counts by its /64 network, which one device can
change at will. Each count is one atomic upsert: a burst of requests cannot slip between
reading a counter and writing it.

A reporter's messages are limited per report and day by counting the stored messages and
photos themselves (they carry the day already): nothing more is kept for that."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import cast

from flask_babel import gettext as _
from sqlalchemy import Table, and_, delete, func, or_, select
from sqlalchemy import case as when
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.db import utcnow
from caseapp.errors import DomainError, ValidationFailed
from caseapp.models import SignInThrottle
from caseapp.models.selfreports import SelfReportMessage, SelfReportPhoto
from caseapp.runtime import keyring, settings
from caseapp.security.crypto import keyed_hash

GUESS_ADDRESS = "rcpt_addr"
GUESS_ALL = "rcpt_all"
REPORT_ADDRESS = "rep_addr"
MESSAGE_ADDRESS = "msg_addr"
EVERYONE = "all"
# Expired rows deleted by one count at most (the rest go with the next counts).
PURGE_BATCH = 200


class ReportsThrottled(DomainError):
    """Too many reports from one address in the window: nothing was stored."""

    status = 429


class MessagesThrottled(ReportsThrottled, ValidationFailed):
    """Too many messages (or photos) for one report today, or from one address in the
    window: nothing was stored. A ValidationFailed too, so the follow page shows its message
    above the reporter's typed text."""


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


def window_start(window_seconds: int, now: datetime | None = None) -> datetime:
    """The boundary the current fixed window began at: ``now`` floored to a whole multiple of
    the window since the epoch (a quarter hour, an hour), in UTC."""
    moment = now or utcnow()
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % window_seconds, UTC)


def _windows() -> dict[str, int]:
    """Every self-report scope and the length of its window."""
    cfg = settings()
    return {
        GUESS_ADDRESS: cfg.selfreport_guess_window_seconds,
        GUESS_ALL: cfg.selfreport_guess_window_seconds,
        REPORT_ADDRESS: cfg.selfreport_report_window_seconds,
        MESSAGE_ADDRESS: cfg.selfreport_message_window_seconds,
    }


def purge_expired(session: Session, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` self-report counters whose window is over (and that are not
    locked); the sign-in scopes are left alone. Returns how many went."""
    table = _table()
    now = utcnow()
    over = or_(
        *(
            and_(table.c.scope == scope, table.c.window_start < window_start(seconds, now))
            for scope, seconds in _windows().items()
        )
    )
    batch = (
        select(table.c.id)
        .where(over, table.c.locked_until.is_(None))
        .order_by(table.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        batch = batch.with_for_update(skip_locked=True)
    with session.no_autoflush:
        gone = session.execute(delete(table).where(table.c.id.in_(batch.scalar_subquery())))
    return int(getattr(gone, "rowcount", 0) or 0)


def _count(session: Session, scope: str, value: str, add: int) -> int:
    """Add ``add`` to the counter of the current window (a new window when the row's is over)
    and return it; expired counters of every self-report scope are deleted first."""
    purge_expired(session)
    start = window_start(_windows()[scope])
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = _table()
    stale = table.c.window_start < start
    new_row = insert(table).values(
        scope=scope, key_hash=_key(scope, value), failures=add, window_start=start
    )
    statement = new_row.on_conflict_do_update(
        index_elements=["scope", "key_hash"],
        set_={
            "failures": when((stale, add), else_=table.c.failures + add),
            "window_start": when((stale, start), else_=table.c.window_start),
        },
    ).returning(table.c.failures)
    with session.no_autoflush:
        return int(session.execute(statement).scalar_one())


def _read(session: Session, scope: str, value: str) -> int:
    """The counter of the current window, read only (0 when there is none)."""
    table = _table()
    start = window_start(_windows()[scope])
    with session.no_autoflush:
        found = session.scalar(
            select(table.c.failures).where(
                table.c.scope == scope,
                table.c.key_hash == _key(scope, value),
                table.c.window_start >= start,
            )
        )
    return int(found or 0)


def guessing_blocked(session: Session, ip: str) -> bool:
    """True when this address, or everyone together, used up the wrong codes of the window.
    Two plain reads (nothing written), so that a right code is refused as well while blocked:
    a blocked guess and a wrong one must look the same."""
    cfg = settings()
    mine = _read(session, GUESS_ADDRESS, address_key(ip))
    everyone = _read(session, GUESS_ALL, EVERYONE)
    return mine >= cfg.selfreport_guesses_per_address or everyone >= cfg.selfreport_guesses_total


def count_wrong_code(session: Session, ip: str) -> None:
    """One more wrong code from this address, and from everyone."""
    _count(session, GUESS_ADDRESS, address_key(ip), 1)
    _count(session, GUESS_ALL, EVERYONE, 1)


def take_report_slot(session: Session, ip: str) -> bool:
    """Count one new report from this address; False when it is past the limit of the window
    (the report is then not stored)."""
    used = _count(session, REPORT_ADDRESS, address_key(ip), 1)
    return used <= settings().selfreport_reports_per_address


def take_message_slot(session: Session, report_id: int, ip: str, photos: int) -> None:
    """Count one message (with ``photos`` photos) from the reporter of this report, sent from
    this address; MessagesThrottled past a limit (the caller stores nothing then):
    messages per report and day, photos in messages per report and day, messages per address
    in the window.

    When photos come with the message, the count is committed at once: a message refused
    afterwards for a bad photo keeps its slot, so one address cannot have photos decoded
    without end."""
    cfg = settings()
    today = local_today()
    with session.no_autoflush:
        sent = session.scalar(
            select(func.count())
            .select_from(SelfReportMessage)
            .where(
                SelfReportMessage.report_id == report_id,
                SelfReportMessage.direction == "reporter",
                SelfReportMessage.sent_on == today,
            )
        )
        pictures = session.scalar(
            select(func.count())
            .select_from(SelfReportPhoto)
            .where(
                SelfReportPhoto.report_id == report_id,
                SelfReportPhoto.message_id.is_not(None),
                SelfReportPhoto.sent_on == today,
            )
        )
    if (sent or 0) >= cfg.selfreport_messages_per_report_day:
        raise MessagesThrottled(
            _(
                "You have sent %(n)d messages today. Please write again tomorrow. "
                "In danger now? Call 111.",
                n=cfg.selfreport_messages_per_report_day,
            )
        )
    if photos and (pictures or 0) + photos > cfg.selfreport_message_photos_per_report_day:
        raise MessagesThrottled(
            _(
                "You can send at most %(n)d photos a day with your messages. Send your "
                "message without photos, or send them tomorrow.",
                n=cfg.selfreport_message_photos_per_report_day,
            )
        )
    used = _count(session, MESSAGE_ADDRESS, address_key(ip), 1)
    if used > cfg.selfreport_messages_per_address:
        raise MessagesThrottled(
            _(
                "Too many messages were sent from this connection. Please wait an hour and "
                "try again. In danger now? Call 111."
            )
        )
    if photos:
        session.commit()
