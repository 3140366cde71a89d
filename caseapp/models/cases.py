"""Cases (vụ việc): clear metadata for statistics, sealed confidential content, notes,
attachments, consents, exclusions and the blind index for repeat alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    orm,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp import limits
from caseapp.db import Base, utcnow
from caseapp.models.units import Unit
from caseapp.models.users import User

STATUSES = (
    "new",
    "verifying",
    "supporting",
    "monitoring",
    "closure_requested",
    "closed",
    "reopened",
)
OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")
VIOLENCE_TYPES = (
    "physical",
    "psychological",
    "sexual_harassment",
    "sexual_assault",
    "rape",
    "economic",
    "forced_marriage",
    "neglect",
    "cyber",
)
GBVIMS = {
    "physical": "Physical Assault",
    "psychological": "Psychological/Emotional Abuse",
    "sexual_harassment": "Psychological/Emotional Abuse",
    "sexual_assault": "Sexual Assault",
    "rape": "Rape",
    "economic": "Denial of Resources, Opportunities or Services",
    "forced_marriage": "Forced Marriage",
    "neglect": "Denial of Resources, Opportunities or Services",
    "cyber": "Psychological/Emotional Abuse",
}
RECEIVED_VIA = (
    "in_person",
    "phone",
    "letter",
    "hotline",
    "suggestion_box",
    "online",
    "referral",
    "self_report",
)
REPORTER_KINDS = ("person_harmed", "parent_guardian", "teacher", "peer", "anonymous", "other")
SETTINGS = ("in_school", "to_from_school", "home", "online", "community")
SEXES = ("female", "male", "other", "not_recorded")
AGE_BANDS = ("0-5", "6-10", "11-14", "15-17", "18-24", "25-59", "60+")
HARMED_ROLES = ("pupil", "teacher", "staff", "other")
YES_NO_UNKNOWN = ("yes", "no", "unknown")
RELATIONSHIPS = (
    "pupil_peer",
    "teacher",
    "school_staff",
    "family_member",
    "intimate_partner",
    "stranger",
    "other",
)
RISK_LEVELS = ("low", "medium", "high", "immediate")
CONSENT_PARTIES = ("person_harmed", "guardian")
CONSENT_PURPOSES = ("referral", "sharing", "statistics")
# Confidential fields of a case, each sealed under the case's data key.
CONFIDENTIAL_FIELDS = ("narrative",)
POSITIONS = ("harmed", "perpetrator")
GRADES = tuple(range(0, 13))  # 0 = preschool, 1-12
SEX_GROUP_MIXED = "mixed"
SEX_GROUPS = (*SEXES, SEX_GROUP_MIXED)
# Confidential fields of a person, each sealed under the case's data key with the associated
# data public_id|case_persons|uid|field (see CasePerson.legacy_field for migrated rows).
PERSON_FIELDS = ("name", "contact", "guardian_name", "guardian_contact")
PERSON_MAX = {"name": 500, "contact": 300, "guardian_name": 120, "guardian_contact": 300}
# Migrated rows (0012) keep the blobs sealed when they were columns of the case: where each
# field of such a row was sealed (table "cases", record id the case's public_id).
LEGACY_FIELDS = {
    "harmed": {
        "name": "harmed_name",
        "contact": "harmed_contact",
        "guardian_name": "guardian_name",
        "guardian_contact": "guardian_contact",
    },
    "perpetrator": {"name": "perpetrator_names"},
}
NARRATIVE_MAX = 20000
CONFIDENTIAL_MAX = {"narrative": NARRATIVE_MAX}
NOTE_MAX = limits.NOTE_MAX


class _Glanced(Protocol):
    risk_level: str
    serious_risk_to_child: bool
    status: str


class AtAGlance:
    """What a row of a list says of a case at a glance, for the ORM case and for the lists'
    plain rows (services.cases.listing.ListedCase) alike."""

    __slots__ = ()

    @property
    def urgent(self: _Glanced) -> bool:
        return self.risk_level == "immediate" or self.serious_risk_to_child

    @property
    def is_open(self: _Glanced) -> bool:
        return self.status != "closed"


class Case(Base, AtAGlance):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("unit_id", "year", "number"),
        # With the id: a capped count of a status (and a kind, tested per case by id) reads
        # this index alone, school by school, and stops at the ceiling.
        Index("ix_cases_unit_status", "unit_id", "status", "id"),
        Index("ix_cases_unit_received", "unit_id", "received_on"),
        # The case list's default order (newest first) read from the index, not sorted.
        Index("ix_cases_received_id", "received_on", "id"),
        # Overdue cases of a unit straight from the index: only cases with a running clock
        # have a moment to run past (services/cases/clocks.py keeps it).
        Index(
            "ix_cases_unit_overdue_after",
            "unit_id",
            "overdue_after",
            # The id too: "my work" lists the longest overdue first (overdue_after, id), and
            # many cases share one moment (monitoring without a follow-up: ALWAYS); without
            # it every case of that moment was read and sorted to show fifty.
            "id",
            postgresql_where=text("overdue_after IS NOT NULL"),
            sqlite_where=text("overdue_after IS NOT NULL"),
        ),
        # The daily screens count and list open cases by unit from these alone (issue 16),
        # not from the archive of closed ones: what monitoring counts per school (open,
        # overdue, high risk, without a handler) and the id that the exclusion test needs,
        # so that PostgreSQL answers from the index (services/cases/listing.py, monitoring.py
        # write their conditions exactly as here: SQLite matches them word for word).
        Index(
            "ix_cases_unit_open",
            "unit_id",
            "risk_level",
            "serious_risk_to_child",
            "assigned_to_id",
            "overdue_after",
            "id",
            postgresql_where=text("status <> 'closed'"),
            sqlite_where=text("status <> 'closed'"),
        ),
        Index(
            "ix_cases_unit_urgent",
            "unit_id",
            "id",
            postgresql_where=text(
                "status <> 'closed' AND (risk_level = 'immediate' OR serious_risk_to_child)"
            ),
            sqlite_where=text(
                "status <> 'closed' AND (risk_level = 'immediate' OR serious_risk_to_child = 1)"
            ),
        ),
        # What falls due for retention: the closed cases not yet shredded by the instant they
        # closed, not the latest closure of every case of the archive (services/privacy).
        Index(
            "ix_cases_closed_kept",
            "closed_at",
            "id",
            postgresql_where=text("status = 'closed' AND key_destroyed_at IS NULL"),
            sqlite_where=text("status = 'closed' AND key_destroyed_at IS NULL"),
        ),
        # "New cases to start", newest first, without reading the school's other cases.
        Index(
            "ix_cases_unit_new",
            "unit_id",
            "received_on",
            postgresql_where=text("status = 'new'"),
            sqlite_where=text("status = 'new'"),
        ),
        # A reference search ("BN-S07-2026") reads its prefix from here: PostgreSQL reads a
        # LIKE prefix from a btree only in byte order (the unique index on references follows
        # the database's collation), so without it the capped count scanned every case.
        Index(
            "ix_cases_reference_prefix",
            "reference",
            postgresql_ops={"reference": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), active_history=True)
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True, active_history=True)
    received_on: Mapped[date] = mapped_column(Date, active_history=True)
    incident_on: Mapped[date | None] = mapped_column(Date)
    incident_date_approximate: Mapped[bool] = mapped_column(Boolean, default=False)
    received_via: Mapped[str] = mapped_column(String(20))
    reporter_kind: Mapped[str] = mapped_column(String(20))
    setting: Mapped[str] = mapped_column(String(20))
    # Any person harmed is a child (under 16); kept on the case for the clocks and filters.
    child: Mapped[bool] = mapped_column(Boolean)
    # The sex of the persons harmed (not withdrawn) when they share it, else "mixed": what
    # the tables that count cases count by.
    harmed_sex_group: Mapped[str] = mapped_column(String(15))
    # The columns the monitoring tallies count (services/cases/tallies.py) load their old value
    # before a change (active_history), so that a flush knows what the case counted before.
    risk_level: Mapped[str] = mapped_column(String(10), index=True, active_history=True)
    serious_risk_to_child: Mapped[bool] = mapped_column(Boolean, default=False, active_history=True)
    intervention_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verification_due_on: Mapped[date | None] = mapped_column(Date)
    support_due_on: Mapped[date | None] = mapped_column(Date)
    # The last moment the case is not overdue: the earliest of its running clocks (the
    # intervention deadline, the end of a due day in Asia/Ho_Chi_Minh), None when no clock
    # runs. Derived from the clocks and steps above in the same transaction as every change
    # to them (services/cases/clocks.py), never edited by a person, so not audited itself.
    overdue_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closure_requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closure_reason: Mapped[str | None] = mapped_column(String(20))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), active_history=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    # The case's data key, sealed under the active key-encryption key (with its id inside).
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The instant of its last transition to "closed" (services/cases/closures.py keeps it):
    # when its retention runs from.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Confidential content, sealed under the data key (version | nonce | ciphertext+tag).
    narrative: Mapped[bytes | None] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    closure_requested_by: Mapped[User | None] = relationship(foreign_keys=[closure_requested_by_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    violence: Mapped[list[CaseViolenceType]] = relationship(
        cascade="all, delete-orphan", order_by="CaseViolenceType.type"
    )
    # Every person of the case, withdrawn ones included (never deleted).
    people: Mapped[list[CasePerson]] = relationship(
        back_populates="case",
        order_by=lambda: (CasePerson.position, CasePerson.ordinal),
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def violence_types(self) -> list[str]:
        return [v.type for v in self.violence]

    @property
    def current_people(self) -> list[CasePerson]:
        """The persons of the case not withdrawn, harmed first, in their order."""
        return [p for p in self.people if p.withdrawn_at is None]

    @property
    def harmed_people(self) -> list[CasePerson]:
        return [p for p in self.current_people if p.position == "harmed"]

    @property
    def perpetrators(self) -> list[CasePerson]:
        return [p for p in self.current_people if p.position == "perpetrator"]


class CasePerson(Base):
    """A person harmed or an alleged perpetrator of a case: clear facts for the statistics and
    their own sealed name and contacts. Withdrawn (recorded in error, say), never deleted."""

    __tablename__ = "case_persons"
    __table_args__ = (UniqueConstraint("case_id", "position", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    position: Mapped[str] = mapped_column(String(12))  # "harmed" or "perpetrator"
    ordinal: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the position
    sex: Mapped[str] = mapped_column(String(15))
    age_band: Mapped[str] = mapped_column(String(8))
    age_years: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(10))  # pupil, teacher, staff, other
    grade: Mapped[int | None] = mapped_column(Integer)
    disability: Mapped[str] = mapped_column(String(8), default="unknown")
    ethnic_minority: Mapped[str] = mapped_column(String(8), default="unknown")
    relationship: Mapped[str | None] = mapped_column(String(20))  # perpetrators
    child: Mapped[bool] = mapped_column(Boolean, default=False)  # persons harmed under 16
    name: Mapped[bytes | None] = mapped_column(LargeBinary)
    contact: Mapped[bytes | None] = mapped_column(LargeBinary)
    guardian_name: Mapped[bytes | None] = mapped_column(LargeBinary)
    guardian_contact: Mapped[bytes | None] = mapped_column(LargeBinary)
    # "harmed" or "perpetrator" on rows migrated from the case's columns (0012) whose blobs
    # are still sealed with the case's old associated data; None once resealed.
    legacy_field: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)

    case: Mapped[Case] = orm.relationship(back_populates="people")  # the column above shadows

    __mapper_args__ = {"version_id_col": version}

    @property
    def harmed(self) -> bool:
        return self.position == "harmed"

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class CaseViolenceType(Base):
    """One row per violence type of a case, so a case counts in each of its types."""

    __tablename__ = "case_violence_types"
    __table_args__ = (Index("ix_case_violence_types_type_case", "type", "case_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    type: Mapped[str] = mapped_column(String(20), primary_key=True)


class CaseInformant(Base):
    """Who reported the case, kept apart from the rest (Decree 80/2017 art. 5)."""

    __tablename__ = "case_informants"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    name: Mapped[bytes | None] = mapped_column(LargeBinary)
    contact: Mapped[bytes | None] = mapped_column(LargeBinary)


class CaseNote(Base):
    """Append-only: a correction is a new note pointing at the one it corrects."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("case_notes.id"))
    body: Mapped[bytes] = mapped_column(LargeBinary)

    author: Mapped[User | None] = relationship()


class CaseAttachment(Base):
    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    filename: Mapped[bytes] = mapped_column(LargeBinary)  # sealed
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_name: Mapped[str] = mapped_column(String(64), unique=True)
    # When the retention run removed the sealed file (attachments are kept shorter than the
    # rest of a closed case's content); the row stays, its file is gone.
    discarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    uploaded_by: Mapped[User | None] = relationship()


class CaseConsent(Base):
    __tablename__ = "case_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # The person harmed the consent is about (None only on rows older than 0012 never
    # migrated; every new consent names one).
    person_id: Mapped[int | None] = mapped_column(ForeignKey("case_persons.id"), index=True)
    party: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))
    given_on: Mapped[date] = mapped_column(Date)
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    # The version of the notice shown when it was recorded (services.privacy.notices); None on
    # consents recorded before notices were versioned.
    notice_version: Mapped[str | None] = mapped_column(String(20))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CaseExclusion(Base):
    """A person who must never see the case, whatever their grants."""

    __tablename__ = "case_exclusions"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class CaseNameIndex(Base):
    """Keyed HMAC of a normalised name (person harmed or alleged perpetrator): repeat alerts
    without decrypting anything."""

    __tablename__ = "case_name_index"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    role: Mapped[str] = mapped_column(String(12))  # "harmed" or "perpetrator"
    person_id: Mapped[int | None] = mapped_column(ForeignKey("case_persons.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str] = mapped_column(String(64))


class CaseCounter(Base):
    """The last reference number used per school and year; locked while a case is numbered."""

    __tablename__ = "case_counters"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)
