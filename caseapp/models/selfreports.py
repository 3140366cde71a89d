"""Self-reports (tự báo cáo): what a pupil, parent or witness sends from the public page of a
school without an account, the conversation with the school that follows, and its photos.

Nothing here identifies the reporter's device: no address, user agent or time of day is kept
with a report or a reporter's message (dates only). The content is sealed at once under the
report's own data key (wrapped by the keyring, associated data self_reports|uid|data_key); the
receipt code is kept only as a keyed hash."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.db import Base
from caseapp.models.cases import Case
from caseapp.models.units import Unit
from caseapp.models.users import User

# new: nobody has opened it; seen: opened by the school side, not decided; then one of the
# outcomes. "spam" is a closure too (counted apart).
REPORT_STATUSES = ("new", "seen", "accepted", "merged", "closed", "spam")
OPEN_REPORT_STATUSES = ("new", "seen")
WHO_HURT = ("me", "someone_else")
# Who did it, in a child's words; "teacher_staff" routes the report to the office above.
WHO_DID = ("pupil", "teacher_staff", "family", "someone_else", "not_said")
# What happened: simple choices, each mapped to the case taxonomy (models.cases.VIOLENCE_TYPES).
WHAT_HAPPENED = {
    "hit": "physical",
    "words": "psychological",
    "left_out": "psychological",
    "touched": "sexual_harassment",
    "forced": "sexual_assault",
    "online": "cyber",
    "neglect": "neglect",
    "money": "economic",
}
WHEN_CHOICES = ("today", "this_week", "this_month", "earlier", "not_sure")
# Where: the case settings (models.cases.SETTINGS) plus "not_sure".
WHERE_CHOICES = ("in_school", "to_from_school", "home", "online", "community", "not_sure")
# Why the report waits where it waits.
ROUTES = ("school", "asked_office", "staff_named")
MESSAGE_DIRECTIONS = ("reporter", "staff")
DETAILS_MAX = 5000
CONTACT_MAX = 300
NAME_MAX = 120
MESSAGE_MAX = 3000
PHOTOS_MAX = 3
PHOTO_BYTES_MAX = 8 * 1024 * 1024
RECEIPT_DIGITS = 16


class SelfReport(Base):
    __tablename__ = "self_reports"
    # The inbox's "decided" tab: the reports decided in its last 90 days, latest first, from
    # here instead of every report ever received (issue 16).
    __table_args__ = (Index("ix_self_reports_decided_at", "decided_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    # The school the report is about (the page it was sent from).
    school_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    # Where it waits: the school, or the office above it (asked for, or staff named).
    routed_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    route: Mapped[str] = mapped_column(String(15))
    # The unit above the routed one once nobody looked at it in time (24 hours).
    escalated_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="new", index=True)
    received_on: Mapped[date] = mapped_column(Date)  # the day only, never the time
    danger: Mapped[bool] = mapped_column(Boolean, default=False)
    who_hurt: Mapped[str] = mapped_column(String(15))
    who_did: Mapped[str] = mapped_column(String(15))
    what: Mapped[str] = mapped_column(String(120))  # WHAT_HAPPENED keys, comma separated
    happened_when: Mapped[str] = mapped_column(String(12))
    happened_where: Mapped[str] = mapped_column(String(16))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    details: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed
    reporter_name: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed, optional
    reporter_contact: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed, optional
    # Keyed hash (a blind_index key of the keyring) of the 16-digit receipt code; emptied when
    # the code expires (12 months after closure).
    receipt_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The clock from receipt (services/selfreports/routing.py): 12 hours when someone is in
    # danger, else 24; unopened past it, the report is escalated to the unit above. Emptied
    # when the report is decided, so the time of receipt is not kept beyond that (a danger
    # report accepted as a case carries it to the case's intervention clock).
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seen_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    first_reply_on: Mapped[date | None] = mapped_column(Date)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    closed_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)

    school: Mapped[Unit] = relationship(foreign_keys=[school_id])
    routed_unit: Mapped[Unit] = relationship(foreign_keys=[routed_unit_id])
    escalated_unit: Mapped[Unit | None] = relationship(foreign_keys=[escalated_unit_id])
    seen_by: Mapped[User | None] = relationship(foreign_keys=[seen_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    case: Mapped[Case | None] = relationship()
    messages: Mapped[list[SelfReportMessage]] = relationship(
        back_populates="report", order_by="SelfReportMessage.id"
    )
    photos: Mapped[list[SelfReportPhoto]] = relationship(
        back_populates="report", order_by="SelfReportPhoto.id"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def what_kinds(self) -> list[str]:
        return [w for w in self.what.split(",") if w]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REPORT_STATUSES


class SelfReportMessage(Base):
    """One message of the conversation, sealed under the report's key (associated data
    self_reports|<report uid>|message|<uid>). A reporter's message carries the day only."""

    __tablename__ = "self_report_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("self_reports.id"), index=True)
    direction: Mapped[str] = mapped_column(String(10))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sent_on: Mapped[date] = mapped_column(Date)
    # Staff messages only (a reporter's time of day is never kept).
    staff_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    body: Mapped[bytes] = mapped_column(LargeBinary)

    report: Mapped[SelfReport] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()


class SelfReportPhoto(Base):
    """A photo the reporter sent, stripped of its metadata and re-encoded on the server, then
    sealed on disk under the report's key (envelope.seal_file)."""

    __tablename__ = "self_report_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("self_reports.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("self_report_messages.id"))
    sent_on: Mapped[date] = mapped_column(Date)
    content_type: Mapped[str] = mapped_column(String(30))
    size: Mapped[int] = mapped_column(Integer)
    storage_name: Mapped[str] = mapped_column(String(64), unique=True)

    report: Mapped[SelfReport] = relationship(back_populates="photos")
