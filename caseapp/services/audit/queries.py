"""Reading the audit trail, scoped to the auditor's units."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.orm import Session

from caseapp.errors import NotFound
from caseapp.models import AuditEvent
from caseapp.runtime import settings
from caseapp.security.authz import scope_filter, scope_paths
from caseapp.services.audit import sealed_text

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

    from caseapp.models import User


@dataclass
class EventFilter:
    date_from: date | None = None
    date_to: date | None = None
    actor: str = ""
    action: str = ""
    unit_path: str = ""
    reference: str = ""
    reason: str = ""

    def as_dict(self) -> dict:
        return {
            k: (v.isoformat() if isinstance(v, date) else v) for k, v in self.__dict__.items() if v
        }

    def as_recorded(self) -> dict:
        """For the audit event of an export: the reason searched for is free text that may
        name people, so only that one was given, never its words."""
        data = self.as_dict()
        if "reason" in data:
            data["reason"] = "given"
        return data


# A filter from the first day of the calendar or to its last means from the beginning or to
# the end: kept within these, the shift to UTC (and the day after the last) stays in range.
_FIRST_DAY, _LAST_DAY = date(1900, 1, 1), date(9000, 12, 31)


def _local_midnight_utc(day: date) -> datetime:
    tz = ZoneInfo(settings().timezone)
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(ZoneInfo("UTC"))


def _within(day: date) -> date:
    return min(max(day, _FIRST_DAY), _LAST_DAY)


def scoped_events(auditor: User) -> Select:
    """Events of units within the auditor's grants, except the auditor's own (nobody reviews
    themselves). Events tied to no unit (failed sign-ins under unknown names, system jobs) are
    shown only to auditors of a top unit."""
    return select(AuditEvent).where(*in_auditors_view(auditor))


def in_auditors_view(auditor: User, events=AuditEvent) -> list[ColumnElement[bool]]:
    """The conditions of scoped_events on ``events`` (AuditEvent or an alias of it)."""
    in_scope = scope_filter(auditor, "audit.read", events.unit_path)
    if any(p.count("/") == 2 for p in scope_paths(auditor, "audit.read")):
        in_scope = or_(in_scope, events.unit_path == "")
    return [in_scope, or_(events.actor_id.is_(None), events.actor_id != auditor.id)]


def filtered(auditor: User, flt: EventFilter) -> Select:
    stmt = scoped_events(auditor)
    if flt.date_from:
        stmt = stmt.where(AuditEvent.at >= _local_midnight_utc(_within(flt.date_from)))
    if flt.date_to:
        stmt = stmt.where(
            AuditEvent.at < _local_midnight_utc(_within(flt.date_to) + timedelta(days=1))
        )
    if flt.actor:
        stmt = stmt.where(AuditEvent.actor_name == flt.actor)
    if flt.action:
        stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.unit_path:
        stmt = stmt.where(AuditEvent.unit_path.startswith(flt.unit_path))
    if flt.reference:
        stmt = stmt.where(AuditEvent.object_ref == flt.reference)
    return stmt  # the reason is sealed: matched after opening it (page, export_batches)


def filtered_until_now(session: Session, auditor: User, flt: EventFilter) -> Select:
    """filtered(), up to the newest event there is now: an export's count and its rows are of
    the same events, whatever is recorded while it streams."""
    head = session.scalar(select(func.max(AuditEvent.seq))) or 0
    return filtered(auditor, flt).where(AuditEvent.seq <= head)


# Accent- and case-insensitive "contains", the same on SQLite and PostgreSQL without an
# extension: each letter of the text sought becomes the class of every letter that folds to
# it ("dong y" finds "Đồng ý"), followed by any combining marks (text typed decomposed).
_VIETNAMESE = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵdđ"
_COMBINING = "[\u0300-\u036f]*"


def _fold(ch: str) -> str:
    base = unicodedata.normalize("NFD", ch.lower())[0]
    return "d" if base == "đ" else base


def _classes() -> dict[str, str]:
    families: dict[str, set[str]] = {}
    for ch in _VIETNAMESE + "bcfghjklmnpqrstvwxz":
        families.setdefault(_fold(ch), set()).update((ch, ch.upper()))
    return {base: "[" + "".join(sorted(chars)) + "]" for base, chars in families.items()}


_CLASSES = _classes()


def reason_pattern(text: str) -> str:
    """A regular expression (the same dialect on both databases) for ``text`` anywhere in a
    reason, ignoring case and Vietnamese accents; bound as a parameter, never spliced."""
    parts: list[str] = []
    for word in unicodedata.normalize("NFC", text).split():
        if parts:
            parts.append("\\s+")
        for ch in word:
            folded = _fold(ch)
            parts.append(_CLASSES[folded] + _COMBINING if folded in _CLASSES else re.escape(ch))
    return "".join(parts)


# Reasons are sealed, so a search on them opens them a batch at a time; a page looks through at
# most SCAN_LIMIT events and offers to continue from where it stopped.
SCAN_BATCH = 500
SCAN_LIMIT = 20000


def reason_matcher(text: str):
    """A predicate on a clear reason: ``text`` anywhere, ignoring case and accents."""
    pattern = re.compile(reason_pattern(text))

    def matches(reason: str) -> bool:
        if not reason or sealed_text.is_placeholder(reason):
            return False  # a placeholder is not what was typed
        return pattern.search(unicodedata.normalize("NFC", reason)) is not None

    return matches


def page(
    session: Session, auditor: User, flt: EventFilter, before: int | None, size: int
) -> tuple[list[AuditEvent], int | None]:
    """Newest first, keyset-paginated on seq: (events, seq to continue before, or None)."""
    stmt = filtered(auditor, flt).order_by(AuditEvent.seq.desc())
    if before:
        stmt = stmt.where(AuditEvent.seq < before)
    if flt.reason:
        return _page_by_reason(session, auditor, stmt, flt.reason, size)
    rows = list(session.scalars(stmt.limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].seq if more and rows else None)


def _page_by_reason(
    session: Session, auditor: User, stmt: Select, text: str, size: int
) -> tuple[list[AuditEvent], int | None]:
    matches = reason_matcher(text)
    found: list[AuditEvent] = []
    scanned, last = 0, None
    while scanned < SCAN_LIMIT:
        batch_stmt = stmt if last is None else stmt.where(AuditEvent.seq < last)
        batch = list(session.scalars(batch_stmt.limit(SCAN_BATCH)))
        if not batch:
            return found, None
        clear = sealed_text.reasons(session, batch, auditor)
        for ev in batch:
            scanned += 1
            if matches(clear[ev.seq]):
                if len(found) == size:
                    return found, found[-1].seq
                found.append(ev)
        last = batch[-1].seq
    return found, last  # looked through enough: the next page continues from here


def get_event(session: Session, auditor: User, seq: int) -> AuditEvent:
    event = session.scalar(scoped_events(auditor).where(AuditEvent.seq == seq))
    if event is None:
        raise NotFound()
    return event


def known_actions_statement() -> Select:
    """The actions recorded, in order, read from the index on the action one value after the
    other (a loose index scan: a lookup per action, whatever the number of events; a DISTINCT
    read every event's entry, 10,000,000 of them for a province after some years, at every
    visit of the trail's screen)."""
    actions = select(func.min(AuditEvent.action).label("action")).cte("actions", recursive=True)
    after = (
        select(func.min(AuditEvent.action))
        .where(AuditEvent.action > actions.c.action)
        .scalar_subquery()
    )
    actions = actions.union_all(select(after.label("action")).where(actions.c.action.is_not(None)))
    return select(actions.c.action).where(actions.c.action.is_not(None)).order_by(actions.c.action)


def known_actions(session: Session) -> list[str]:
    """The actions of the trail's filter: every action recorded."""
    return list(session.scalars(known_actions_statement()))


# The audit CSV's columns, in this order: the trail's own, the sealed reason opened.
EXPORT_COLUMNS = (
    "seq",
    "at",
    "actor_name",
    "actor_roles",
    "action",
    "unit_path",
    "object_type",
    "object_id",
    "object_ref",
    "changes",
    "reason",
    "request_id",
    "ip",
    "prev_hash",
    "key_id",
    "hash",
)


def export_batches(
    session: Session, selection: Select, reason: str = "", batch: int = 2000
) -> Iterator[list[tuple[Row, str]]]:
    """The events of ``selection`` (see filtered()) oldest first, ``batch`` at a time, as rows
    of EXPORT_COLUMNS (plain rows: an export carries up to the ceiling of events, where loading
    each as an ORM object cost a third of its time), each with its clear reason; only those
    whose reason holds ``reason`` when given. The selection is the auditor's scope, within
    which an auditor reads every reason (sealed_text)."""
    matches = reason_matcher(reason) if reason else None
    stmt = selection.with_only_columns(*(getattr(AuditEvent, c) for c in EXPORT_COLUMNS))
    last = 0
    while True:
        rows = session.execute(
            stmt.where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        clear = sealed_text.reasons(session, rows, None)
        yield [(row, clear[row.seq]) for row in rows if matches is None or matches(clear[row.seq])]
        last = rows[-1].seq


def more_than(session: Session, selection: Select, ceiling: int) -> bool:
    """Whether ``selection`` holds more than ``ceiling`` events (counting no further)."""
    capped = selection.with_only_columns(AuditEvent.seq).limit(ceiling + 1).subquery()
    return (session.scalar(select(func.count()).select_from(capped)) or 0) > ceiling


def audit_head_age(session: Session) -> dict | None:
    """The newest event's sequence number and age in seconds (None for an empty trail)."""
    from caseapp.db import utcnow

    head = session.execute(
        select(AuditEvent.seq, AuditEvent.at).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    if head is None:
        return None
    at = head.at if head.at.tzinfo else head.at.replace(tzinfo=ZoneInfo("UTC"))
    return {"seq": head.seq, "age_seconds": max(0, int((utcnow() - at).total_seconds()))}
