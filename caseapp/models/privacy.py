"""Data-protection duties (Personal Data Protection Law 91/2025/QH15, Decree 356/2025): the
register of personal-data breaches with their 72-hour clock and actions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.db import Base, utcnow
from caseapp.models.units import Unit
from caseapp.models.users import User

# Where a breach record came from: typed by a person, or offered by the service when the audit
# chain failed to verify, a high item of the auditor's attention view, or a key retired after
# a compromise.
BREACH_SOURCES = ("manual", "audit_verify", "attention", "key_retirement")
NOTIFY_PEOPLE = ("undecided", "yes", "no")
BREACH_STATUSES = ("open", "closed")
BREACH_TEXT_MAX = 10_000


class Breach(Base):
    """A personal-data breach (or suspected one) of a unit's scope."""

    __tablename__ = "breaches"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    discovered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    discovered_by: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    data_categories: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of keys
    units_affected: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of unit codes
    people_affected: Mapped[int | None] = mapped_column(Integer)
    contained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    authority_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notify_people: Mapped[str] = mapped_column(String(10), default="undecided")
    notify_people_reason: Mapped[str] = mapped_column(Text, default="")
    people_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(20), default="manual")
    source_ref: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    created_by: Mapped[User | None] = relationship()
    actions: Mapped[list[BreachAction]] = relationship(
        back_populates="breach", order_by="BreachAction.taken_at"
    )

    __mapper_args__ = {"version_id_col": version}


class BreachAction(Base):
    """Something done about a breach (append-only)."""

    __tablename__ = "breach_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    breach_id: Mapped[int] = mapped_column(ForeignKey("breaches.id"), index=True)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    text: Mapped[str] = mapped_column(Text)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    breach: Mapped[Breach] = relationship(back_populates="actions")
    by: Mapped[User | None] = relationship()
