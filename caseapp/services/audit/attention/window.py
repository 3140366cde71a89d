"""The stretch of the trail the rules read, the auditor's scope over it, and local time in SQL
(the same on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Date, Integer, and_, cast, func, literal_column, select
from sqlalchemy.orm import Session

from caseapp.clock import start_of_local_day, zone
from caseapp.db import utcnow
from caseapp.models import AuditEvent, User
from caseapp.runtime import settings
from caseapp.services.audit.queries import in_auditors_view

if TYPE_CHECKING:
    from sqlalchemy.sql.elements import ColumnElement

READS = ("case.view_confidential", "attachment.download")
SEQS_KEPT = 50  # event numbers kept per item (the count says how many there are)


def default_since(now: datetime | None = None) -> date:
    now = now or utcnow()
    return (now.astimezone(zone()) - timedelta(days=settings().attention_window_days)).date()


@dataclass
class Window:
    session: Session
    auditor: User | None
    since: date
    start: datetime  # UTC instant at which ``since`` begins
    now: datetime
    dialect: str
    offset_minutes: int

    def scope(self, ev) -> list[ColumnElement[bool]]:
        """Conditions keeping the events of ``ev`` (AuditEvent or an alias) that the auditor may
        see: within their units, not their own (nobody reviews themselves). All for the CLI."""
        return [] if self.auditor is None else in_auditors_view(self.auditor, ev)

    # Local time in SQL, the same on SQLite and PostgreSQL (literals, so that an expression
    # repeated in GROUP BY is the same expression).
    def local(self, column):
        if self.dialect == "postgresql":
            return func.timezone(literal_column(f"'{zone().key}'"), column)
        return func.datetime(column, literal_column(f"'{self.offset_minutes:+d} minutes'"))

    def day(self, column, shift_hours: int = 0):
        if self.dialect == "postgresql":
            local = self.local(column)
            if shift_hours:
                local = local + literal_column(f"interval '{shift_hours} hours'")
            return cast(local, Date)
        modifiers: list = [literal_column(f"'{self.offset_minutes:+d} minutes'")]
        if shift_hours:
            modifiers.append(literal_column(f"'{shift_hours:+d} hours'"))
        return func.date(column, *modifiers)

    def hour(self, column):
        if self.dialect == "postgresql":
            return func.extract("hour", self.local(column))
        return cast(func.strftime(literal_column("'%H'"), self.local(column)), Integer)


def as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def window(session: Session, auditor: User | None, since: date | None, now: datetime | None):
    now = now or utcnow()
    since = since or default_since(now)
    offset = zone().utcoffset(now.replace(tzinfo=None))
    return Window(
        session=session,
        auditor=auditor,
        since=since,
        start=start_of_local_day(since),
        now=now,
        dialect=session.get_bind().dialect.name,
        offset_minutes=int(offset.total_seconds() // 60) if offset else 0,
    )


def day_filter(day: date) -> dict[str, str]:
    return {"date_from": day.isoformat(), "date_to": day.isoformat()}


def reads(ev) -> ColumnElement[bool]:
    return and_(ev.action.in_(READS), ev.actor_id.is_not(None))


def seqs_of(w: Window, *conditions) -> list[int]:
    return list(
        w.session.scalars(
            select(AuditEvent.seq)
            .where(*conditions, *w.scope(AuditEvent))
            .order_by(AuditEvent.seq)
            .limit(SEQS_KEPT)
        )
    )


def evidence_of(seqs: list[int]) -> tuple[int, int, int]:
    """(number, last, sum) of all the event numbers of an item (its ``seqs`` keep the first)."""
    return len(seqs), max(seqs, default=0), sum(seqs)
