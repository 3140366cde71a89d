"""Four-eyes: requests that take effect only when a second person approves them, the one-time
enrolment codes that replace any secret an administrator could see, and the auditor's reviews
of attention items."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.db import Base, utcnow
from caseapp.models.units import Unit
from caseapp.models.users import User

# What a request asks for. Each kind's effect is applied by services.accounts.approvals.
APPROVAL_KINDS = ("grant", "credential_reset", "new_account", "exclusion_lift", "batch")
APPROVAL_STATUSES = ("pending", "approved", "rejected", "cancelled", "expired")


class ApprovalRequest(Base):
    """A change that waits for a second person: who asked, why, for whom, until when."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        Index("ix_approval_requests_status_unit", "status", "unit_id"),
        # A person's own requests, newest first (approvals.own_requests; migration 0033).
        Index("ix_approval_requests_requested_by", "requested_by_id", "requested_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    # The unit whose administrators (or above) may approve: the request's scope.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    # What exactly is asked (role and unit code, exclusion id, batch lines...), as JSON.
    payload: Mapped[str] = mapped_column(Text, default="{}")
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_note: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    subject: Mapped[User | None] = relationship(foreign_keys=[subject_user_id])
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __mapper_args__ = {"version_id_col": version}


class EnrolmentCode(Base):
    """A one-time code with which a person sets their own password and authenticator.

    It has two halves issued by two different people (the one who asked and the one who
    approved), so nobody who handled it holds the whole code. Only keyed hashes are stored;
    the code is valid 72 hours from its second half, bound to one account, used once."""

    __tablename__ = "enrolment_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # "new_account" or "reset"
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("approval_requests.id"))
    # Keyed HMACs of each half (keyring "blind_index" key named by key_id).
    key_id: Mapped[str] = mapped_column(String(64))
    first_hash: Mapped[str] = mapped_column(String(64))
    second_hash: Mapped[str | None] = mapped_column(String(64))
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class AttentionReview(Base):
    """An auditor's review of one item of the attention list, with a note."""

    __tablename__ = "attention_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_key: Mapped[str] = mapped_column(String(160), unique=True)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
