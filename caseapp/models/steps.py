"""Workflow records of a case: steps (verification, support, referral, follow-up, discipline),
status transitions, and notifications."""

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp import limits
from caseapp.db import Base, utcnow
from caseapp.models.units import ReferralContact
from caseapp.models.users import User

STEP_KINDS = ("verification", "support", "referral", "follow_up", "discipline")
VERIFICATION_METHODS = ("interview", "witness_statement", "document_review", "site_visit")
FINDINGS = ("substantiated", "not_substantiated", "inconclusive")
SUPPORT_SERVICES = (
    "counselling",
    "medical_care",
    "safety_plan",
    "legal_aid",
    "academic_support",
    "shelter",
    "other",
)
SUPPORT_STATUSES = ("planned", "provided", "declined")
REFERRAL_STATUSES = ("sent", "accepted", "declined", "completed")
SITUATIONS = ("safe", "at_risk", "unknown")
# Discipline of pupils (Circular 19/2025/TT-BGDĐT), by school level: a primary pupil is only
# reminded or asked to apologise; a lower- or upper-secondary pupil reminded, criticised or asked
# for a written self-criticism. A multi-level or boarding school (or a unit without a level)
# teaches both, so either list applies; the circular does not apply to preschool children.
PRIMARY_PUPIL_MEASURES = ("reminder", "apology")
SECONDARY_PUPIL_MEASURES = ("reminder", "criticism", "self_criticism")
ALL_PUPIL_MEASURES = ("reminder", "apology", "criticism", "self_criticism")
PUPIL_MEASURES: dict[str, tuple[str, ...]] = {
    "preschool": (),
    "primary": PRIMARY_PUPIL_MEASURES,
    "lower_secondary": SECONDARY_PUPIL_MEASURES,
    "upper_secondary": SECONDARY_PUPIL_MEASURES,
    "continuing_education": SECONDARY_PUPIL_MEASURES,
    "multi_level": ALL_PUPIL_MEASURES,
    "boarding_ethnic": ALL_PUPIL_MEASURES,
}
# Teachers and staff (civil servants and public employees): reprimand, warning, salary step
# reduction, demotion, removal from post, dismissal; "other" for measures under other rules.
STAFF_MEASURES = (
    "reprimand",
    "warning",
    "salary_reduction",
    "demotion",
    "removal",
    "dismissal",
    "other",
)
# Who a discipline step is about: a pupil, a teacher or member of staff, or someone else (to
# whom only "other" applies).
DISCIPLINE_SUBJECTS = ("pupil", "staff", "other")
# Every measure a step may hold: new steps are checked against the lists above; the older
# steps keep theirs.
DISCIPLINE_MEASURES = (
    "reminder",
    "apology",
    "criticism",
    "self_criticism",
    "reprimand",
    "warning",
    "salary_reduction",
    "demotion",
    "removal",
    "dismissal",
    "other",
)
CLOSURE_REASONS = ("resolved", "not_substantiated", "transferred", "withdrew")
NOTIFICATION_KINDS = (
    "urgent_case",
    "overdue",
    "closure_requested",
    "closure_approved",
    "closure_returned",
)
DETAILS_MAX = limits.STEP_DETAILS_MAX


class CaseStep(Base):
    __tablename__ = "case_steps"
    __table_args__ = (
        Index("ix_case_steps_case_kind", "case_id", "kind"),
        Index("ix_case_steps_open_due", "done_on", "due_on"),
        # The overdue clocks test each case's open steps: without this SQLite answers that
        # EXISTS from ix_case_steps_open_due, scanning all open past-due steps for every case.
        Index("ix_case_steps_case_open_due", "case_id", "done_on", "due_on"),
        # My work's follow-ups of the next two weeks: the school's follow-ups not done, by due
        # day, from the school's own entries (not every school's follow-ups of the window).
        Index(
            "ix_case_steps_unit_follow_ups_due",
            "unit_id",
            "due_on",
            "case_id",
            postgresql_where=text("done_on IS NULL AND kind = 'follow_up'"),
            sqlite_where=text("done_on IS NULL AND kind = 'follow_up'"),
        ),
        # The steps not done due on a day of a kind, whatever the size of the archive (three
        # equal columns: the planners prefer it to ix_case_steps_open_due, which reads every
        # kind): the follow-ups' count by due day (deadlines.first_follow_up_of_case).
        Index("ix_case_steps_due_open_kind", "due_on", "done_on", "kind", "case_id"),
        # The case list's "due today", newest case first: the steps not done due today in the
        # order of the days their cases were received (copied by step_copies), so that a page
        # reads its fifty steps, not every step due today of the unit's archive.
        Index(
            "ix_case_steps_due_open_received",
            "due_on",
            "received_on",
            "case_id",
            postgresql_where=text("done_on IS NULL"),
            sqlite_where=text("done_on IS NULL"),
        ),
        # My work's "due today": the school's steps not done due today in the order of the
        # days their cases were received, so that its first rows are read and nothing more.
        Index(
            "ix_case_steps_unit_due_open_received",
            "unit_id",
            "due_on",
            "received_on",
            "case_id",
            postgresql_where=text("done_on IS NULL"),
            sqlite_where=text("done_on IS NULL"),
        ),
        # The case list's count of "due today": the steps not done due today, one entry per
        # case in a row (DISTINCT case_id in the index's order), with the copies that decide
        # (the case's school, status and overdue moment), read from the index alone instead of
        # looking up the case of every step.
        Index(
            "ix_case_steps_due_open_case",
            "due_on",
            "case_id",
            "unit_id",
            "case_status",
            "case_overdue_after",
            postgresql_where=text("done_on IS NULL"),
            sqlite_where=text("done_on IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    # The case's school, the day it was received, its status and the moment it is overdue
    # after: copies kept with it by services/cases/step_copies.py (every step written gets
    # them, a case moved to another school, whose day received is corrected or whose status
    # changes takes its steps along) and services/cases/clocks.py (the moment, as it moves):
    # the index of a school's follow-ups, "due today" in the case list's order, and its count
    # from the steps alone. No key of their own: the case's columns are the facts.
    unit_id: Mapped[int | None] = mapped_column(Integer)
    received_on: Mapped[date] = mapped_column(Date)
    case_status: Mapped[str] = mapped_column(String(20))
    case_overdue_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(15))
    # The person harmed (support, referral, follow-up) or alleged perpetrator (discipline) the
    # step is about; None for verification.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("case_persons.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    due_on: Mapped[date | None] = mapped_column(Date)
    done_on: Mapped[date | None] = mapped_column(Date)
    method: Mapped[str | None] = mapped_column(String(20))
    finding: Mapped[str | None] = mapped_column(String(20))
    service: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(12))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("referral_contacts.id"))
    consent_override: Mapped[bool] = mapped_column(Boolean, default=False)
    situation: Mapped[str | None] = mapped_column(String(10))
    next_on: Mapped[date | None] = mapped_column(Date)
    measure: Mapped[str | None] = mapped_column(String(20))
    details: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed under the case key
    version: Mapped[int] = mapped_column(Integer, default=1)

    contact: Mapped[ReferralContact | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_done(self) -> bool:
        return self.done_on is not None


class CaseTransition(Base):
    """One row per change of status, for the timeline and the timeliness statistics."""

    __tablename__ = "case_transitions"
    # Closures of the last months (the monitoring trend) without reading every transition.
    __table_args__ = (Index("ix_case_transitions_to_status_at", "to_status", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closure_reason: Mapped[str | None] = mapped_column(String(20))

    by: Mapped[User | None] = relationship()


class Notification(Base):
    """An in-app notice (and e-mail when configured). Never carries identifying text."""

    __tablename__ = "notifications"
    __table_args__ = (
        # A person's notices newest first (the notices page reads its hundred and stops).
        Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        # A person's unread ones: the menu's number, which stops at "99+" (an officer above
        # many schools gets an overdue notice for each of their overdue cases: some 150,000
        # at 1,000,000 cases, counted one by one on every page they opened, 2.1 s).
        Index(
            "ix_notifications_user_unread",
            "user_id",
            "created_at",
            "id",
            postgresql_where=text("read_at IS NULL"),
            sqlite_where=text("read_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(20))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
