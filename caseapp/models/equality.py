"""The gender-equality work of a unit (the letter's report on gender equality and the
advancement of women): its yearly plan with measurable targets approved by the unit's head, its
statistics by sex for a report period, and the text of its period report until it is submitted
(then frozen, with every figure, in the unit's ReportSnapshot)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
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

PLAN_TEXT_MAX = 20_000
TARGET_TITLE_MAX = 300
TARGETS_MAX = 30
TARGET_VALUE_MAX = 10_000_000
# What a target measures: the first four are read off the period's statistics and activities;
# "custom" is reported by hand in the period report.
MEASURES = ("women_managers_share", "pupils_reached", "staff_trained", "activities_held", "custom")
PLAN_STATUSES = ("draft", "approved")
SECTION_MAX = 20_000
NUMBER_MAX = 40
SIGNER_MAX = 120
RECIPIENTS_MAX = 2_000
RESULTS_MAX = 5_000
MATERIALS_MAX = 10
MATERIAL_BYTES_MAX = 5 * 1024 * 1024


class GenderPlan(Base):
    """A unit's gender-equality plan for a report year (the year its annual period ends)."""

    __tablename__ = "gender_plans"
    __table_args__ = (UniqueConstraint("unit_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    year: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # JSON list of the ids of everyone who saved it since it was last approved: none of them
    # approves it (four eyes, even when a colleague saved the author's text back).
    authors: Mapped[str] = mapped_column(Text, default="[]")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    targets: Mapped[list[PlanTarget]] = relationship(
        back_populates="plan", order_by="PlanTarget.ordinal", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class PlanTarget(Base):
    """One measurable target of a plan (e.g. 40 % women among managers)."""

    __tablename__ = "plan_targets"
    __table_args__ = (UniqueConstraint("plan_id", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("gender_plans.id"))
    ordinal: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(TARGET_TITLE_MAX))
    measure: Mapped[str] = mapped_column(String(30))
    target_value: Mapped[int] = mapped_column(Integer)

    plan: Mapped[GenderPlan] = relationship(back_populates="targets")


class UnitStatistics(Base):
    """A unit's statistics by sex for a report period (staff, pupils by grade, dropouts,
    pupils reached), as JSON of figure key -> count (services.equality.figures names them)."""

    __tablename__ = "unit_statistics"
    __table_args__ = (UniqueConstraint("unit_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    period_key: Mapped[str] = mapped_column(String(40))
    figures: Mapped[str] = mapped_column(Text, default="{}")
    # The figure keys whose change of more than 30 % from the last period was confirmed.
    confirmed: Mapped[str] = mapped_column(Text, default="[]")
    source: Mapped[str] = mapped_column(String(10), default="form")  # form / import
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    updated_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


class WorkReportDraft(Base):
    """The text of a unit's period report while it is written: the narrative sections, the
    document's number, recipients and signer, and the results of custom targets."""

    __tablename__ = "work_report_drafts"
    __table_args__ = (UniqueConstraint("unit_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    period_key: Mapped[str] = mapped_column(String(40))
    sections: Mapped[str] = mapped_column(Text, default="{}")  # JSON: section key -> text
    # JSON: section key -> SHA-256 of the text compiled from the units below; a section still
    # equal to it has not been edited and is not sent.
    compiled: Mapped[str] = mapped_column(Text, default="{}")
    number: Mapped[str] = mapped_column(String(NUMBER_MAX), default="")
    signer_title: Mapped[str] = mapped_column(String(SIGNER_MAX), default="")
    signer_name: Mapped[str] = mapped_column(String(SIGNER_MAX), default="")
    recipients: Mapped[str] = mapped_column(Text, default="")  # one per line
    target_results: Mapped[str] = mapped_column(Text, default="{}")  # JSON: target id -> value
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    updated_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


class ActivityTarget(Base):
    """An activity counted towards a target of its unit's plan."""

    __tablename__ = "activity_targets"
    __table_args__ = (Index("ix_activity_targets_target", "target_id"),)

    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("plan_targets.id"), primary_key=True)

    target: Mapped[PlanTarget] = relationship()


class ActivityMaterial(Base):
    """A material of an activity (leaflet, slides, poster): a title, optionally its file."""

    __tablename__ = "activity_materials"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(100))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
