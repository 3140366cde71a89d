"""The audit trail: one hash-chained, append-only row per event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from caseapp.db import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index(
            "ix_audit_events_unit_path",
            "unit_path",
            postgresql_ops={"unit_path": "varchar_pattern_ops"},
        ),
        # The events about one object (an account's own page reads them by user id).
        Index("ix_audit_events_object", "object_type", "object_id"),
        # The trail's screen filtered by person, newest first (services/audit/queries.py,
        # migration 0028). By action, the index on the action serves (the planner knows each
        # action's share), and gives the actions the filter offers, one lookup each.
        Index("ix_audit_events_actor_name_seq", "actor_name", "seq"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str] = mapped_column(String(120))
    actor_roles: Mapped[str] = mapped_column(Text, default="[]")
    unit_id: Mapped[int | None] = mapped_column(Integer, index=True)
    unit_path: Mapped[str] = mapped_column(String(500), default="")
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    object_ref: Mapped[str] = mapped_column(String(64), default="", index=True)
    changes: Mapped[str] = mapped_column(Text, default="{}")
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditEventName(Base):
    """An account an event names inside its changes (``"user"`` or ``"subject"``): an
    exclusion from a case, a request about someone else's account. Written with the event
    (trail.record), never changed (append-only in the database, as the trail); derived from
    the event like an index, so that a person's account history finds these events by the
    user name instead of matching the text of every such event of the trail (issue 16)."""

    __tablename__ = "audit_event_names"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)  # USERNAME_MAX
    # The event's number. No foreign key: the trail refuses TRUNCATE and DELETE with its own
    # message, and a reference to it would answer first; like the trail, this table refuses
    # UPDATE and DELETE (migration 0032).
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )


class AuditCheckpoint(Base):
    """A signed statement of the chain head, so that a truncated tail is detected."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
