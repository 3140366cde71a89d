"""Data-protection duties (Personal Data Protection Law 91/2025/QH15, Decree 356/2025): the
register of personal-data breaches with their 72-hour clock and actions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
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
    # The form of Decree 356/2025 asks these too (issue 15 part 2, second pass): when it
    # happened (if known), how many records, the likely consequences, why the authority was
    # told late (after the 72 hours) and why it was closed.
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    records_affected: Mapped[int | None] = mapped_column(Integer)
    consequences: Mapped[str] = mapped_column(Text, default="")
    delay_reason: Mapped[str] = mapped_column(Text, default="")
    close_reason: Mapped[str] = mapped_column(Text, default="")
    # The hours the authority must be told within, as the legal period "breach_notify" stood
    # when the breach was recorded (a later correction of the period does not move it).
    notify_hours: Mapped[int] = mapped_column(Integer, default=72)
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


# Requests from data subjects (issue 15 part 1) ---------------------------------------------

REQUEST_KINDS = ("access", "correction", "deletion", "withdrawal", "objection", "restriction")
# Who the requester is to the case(s) the request is about.
REQUEST_RELATIONS = ("person_harmed", "guardian", "alleged_perpetrator", "informant", "staff")
REQUEST_CHANNELS = ("in_person", "letter", "email", "phone", "other")
# received -> acknowledged -> (awaiting_review, for an access export) -> completed | refused
REQUEST_STATUSES = ("received", "acknowledged", "awaiting_review", "completed", "refused")
REQUEST_OUTCOMES = ("granted", "limited", "refused")
# The grounds a request may be refused or limited on (each with its article in the labels).
LEGAL_GROUNDS = (
    "rights_of_others",
    "ongoing_verification",
    "legal_obligation",
    "child_best_interest",
    "identity_not_verified",
    "manifestly_unfounded",
    "other",
)
EXPORT_STATUSES = ("pending_review", "released", "rejected")
REQUEST_TEXT_MAX = 5_000


class SubjectRequest(Base):
    """A request from a person about their data (access, correction, deletion, withdrawal of
    consent, objection, restriction), received by a unit. The requester's and the data
    subject's names and contacts, the details and every typed reason are sealed under the
    request's own data key (wrapped like a case's: associated data subject_requests|uid)."""

    __tablename__ = "subject_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    reference: Mapped[str] = mapped_column(String(30), unique=True)  # YC-2026-0001
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(15))
    relation: Mapped[str] = mapped_column(String(25))
    channel: Mapped[str] = mapped_column(String(15))
    # The case the requester named, when they named one (a reference, not a name).
    case_reference: Mapped[str] = mapped_column(String(40), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    requester_name: Mapped[bytes | None] = mapped_column(LargeBinary)
    requester_contact: Mapped[bytes | None] = mapped_column(LargeBinary)
    subject_name: Mapped[bytes | None] = mapped_column(LargeBinary)  # whom the data is about
    details: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Clocks, computed at receipt from the legal periods in force then (working days).
    acknowledge_due_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extended_to: Mapped[date | None] = mapped_column(Date)  # one extension, with a reason
    extension_reason: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    outcome: Mapped[str] = mapped_column(String(12), default="")
    legal_ground: Mapped[str] = mapped_column(String(30), default="")
    outcome_reason: Mapped[bytes | None] = mapped_column(LargeBinary)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    matches: Mapped[list[SubjectRequestMatch]] = relationship(
        back_populates="request", order_by="SubjectRequestMatch.id"
    )
    exports: Mapped[list[SubjectRequestExport]] = relationship(
        back_populates="request", order_by="SubjectRequestExport.id"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def deadline(self) -> date:
        return self.extended_to or self.due_on


class SubjectRequestMatch(Base):
    """A person of a case the request is about, found through the blind index (the digest of
    the subject's name for the position the requester's relation allows), never by decrypting
    other cases; confirmed or set aside by the officer handling the request."""

    __tablename__ = "subject_request_matches"
    __table_args__ = (UniqueConstraint("request_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("subject_requests.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("case_persons.id"))
    position: Mapped[str] = mapped_column(String(12))  # "harmed" or "perpetrator"
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    request: Mapped[SubjectRequest] = relationship(back_populates="matches")


class SubjectRequestExport(Base):
    """What the service holds about the request's subject only, sealed under the request's
    key (JSON), prepared by one person and reviewed by an officer before release."""

    __tablename__ = "subject_request_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("subject_requests.id"), index=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="pending_review")
    prepared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    prepared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[bytes | None] = mapped_column(LargeBinary)
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)

    request: Mapped[SubjectRequest] = relationship(back_populates="exports")
    prepared_by: Mapped[User | None] = relationship(foreign_keys=[prepared_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    __mapper_args__ = {"version_id_col": version}


# Calendars and legal periods the admin keeps ----------------------------------------------

PERIOD_UNITS = ("working_days", "calendar_days", "calendar_hours", "months", "years")


class Holiday(Base):
    """A public holiday (no working day): Tết and the national holidays of each year are
    preloaded (services.audit.holidays); the admin adds the days the government announces."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(120))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LegalPeriod(Base):
    """One period the law sets (a request's clocks, the breach clock, a retention line), with
    the article it comes from written beside it, so a lawyer corrects a number without a
    release. Keys are fixed by the service (services.privacy.periods); values are the admin's."""

    __tablename__ = "legal_periods"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(15))
    basis: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


# Retention (issue 15 part 3) ----------------------------------------------------------------


class LegalHold(Base):
    """A case whose content the retention run must not shred, set by an officer with a reason
    (sealed under the case's key); released with a reason. Several over time, one active."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reason: Mapped[bytes | None] = mapped_column(LargeBinary)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    release_reason: Mapped[bytes | None] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=1)

    set_by: Mapped[User | None] = relationship(foreign_keys=[set_by_id])
    released_by: Mapped[User | None] = relationship(foreign_keys=[released_by_id])

    __mapper_args__ = {"version_id_col": version}


# Free text of the audit trail (issue 15 part 6) ---------------------------------------------


class AuditTextKey(Base):
    """The key that seals the free text (reasons) of the audit events about one case ("case:<id>")
    or of the events about nothing that can be shredded ("service"): wrapped by the keyring
    (associated data audit_text_keys|scope), never the case content key; destroyed with the
    case's content, after which those reasons no longer decrypt while the chain, kept over the
    sealed bytes, still verifies."""

    __tablename__ = "audit_text_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(40), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), unique=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
