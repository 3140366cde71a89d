"""Training and communication activities, and the frozen snapshots of submitted reports."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.db import Base, utcnow
from caseapp.models.equality import ActivityMaterial, ActivityTarget
from caseapp.models.units import Unit
from caseapp.models.users import User

ACTIVITY_KINDS = ("training", "communication", "action_month_june", "action_month_gender", "other")
AUDIENCES = ("pupils", "teachers", "parents", "staff", "community", "mixed")
TITLE_MAX = 200
PARTICIPANTS_MAX = 100_000


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_unit_held", "unit_id", "held_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    held_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(25))
    audience: Mapped[str] = mapped_column(String(15))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    participants_female: Mapped[int] = mapped_column(Integer, default=0)
    participants_male: Mapped[int] = mapped_column(Integer, default=0)
    participants_other: Mapped[int] = mapped_column(Integer, default=0)
    # The action month it belongs to ("june:2026", services.equality.campaigns), if any.
    campaign_key: Mapped[str | None] = mapped_column(String(20))
    results: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    created_by: Mapped[User | None] = relationship()
    targets: Mapped[list[ActivityTarget]] = relationship(cascade="all, delete-orphan")
    materials: Mapped[list[ActivityMaterial]] = relationship(
        order_by="ActivityMaterial.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def participants(self) -> int:
        return self.participants_female + self.participants_male + self.participants_other


class ReportSnapshot(Base):
    """A school's submitted period report: its tables frozen as JSON with their SHA-256.
    Append-only in the database (triggers), like the audit trail."""

    __tablename__ = "report_snapshots"
    __table_args__ = (UniqueConstraint("unit_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    period_key: Mapped[str] = mapped_column(String(40))
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    data: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    unit: Mapped[Unit] = relationship()
    submitted_by: Mapped[User | None] = relationship()


class CaseRollup(Base):
    """The report's figures summed per school and month of receipt (issue 16): derived from
    the cases, persons, violence types, steps and transitions by
    caseapp.services.reports.rollups, never edited by hand. ``n`` is a signed count that holds
    from the month ``since`` on: a report ending in month E sums the rows with since <= E, so
    the figures "at the end of the period" (status, findings, support, time to verification
    or closure) are exact for every month-end. ``path`` is the school's parent-history path in
    force on the day its cases were received (the roll-up of reports.tables)."""

    __tablename__ = "case_rollups"
    __table_args__ = (
        Index("ix_case_rollups_month_unit", "month", "unit_id"),
        Index("ix_case_rollups_unit_month", "unit_id", "month"),
        # The cases per path (per_unit): a few rows of each school-month.
        Index("ix_case_rollups_figure_month", "figure", "month", "path", "col", "since", "n"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    month: Mapped[int] = mapped_column(Integer)  # year * 12 + month - 1 of the day received
    path: Mapped[str] = mapped_column(String(500))
    figure: Mapped[str] = mapped_column(String(40))
    row: Mapped[str] = mapped_column(String(40))
    col: Mapped[str] = mapped_column(String(20))
    since: Mapped[int] = mapped_column(Integer)  # the month from which n counts
    n: Mapped[int] = mapped_column(Integer)


class CaseOfficeRollup(Base):
    """The rows of CaseRollup summed per office above the school (issue 16): for each unit
    named in a rollup row's path other than the row's own school, the sum of those rows per
    month, figure, row, column and ``since``. A province's report reads a few hundred rows a
    month here instead of every school's; kept by caseapp.services.reports.rollups with the
    school rows it sums (the difference of each recomputed school-month added in the same
    transaction), never edited by hand."""

    __tablename__ = "case_office_rollups"

    office_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    figure: Mapped[str] = mapped_column(String(40), primary_key=True)
    row: Mapped[str] = mapped_column(String(40), primary_key=True)
    col: Mapped[str] = mapped_column(String(20), primary_key=True)
    since: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class CaseRollupMark(Base):
    """A school and month whose rollups are out of date: written in the same transaction as
    every change the rollups count; the next report (or ``reports refresh-rollups``)
    recomputes them and removes the mark. ``month`` None: every month of the unit (its parent
    history changed, or a bulk load)."""

    __tablename__ = "case_rollup_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer)
    month: Mapped[int | None] = mapped_column(Integer)


class UnitCaseTally(Base):
    """The cases of a school counted as they are now (issue 16): open, high-risk (open, risk
    high or immediate or serious risk to the child), unassigned (open, nobody assigned) and
    all of them. Derived from the cases by caseapp.services.cases.tallies in the transaction
    that changes them (``n = n + delta``: concurrent intakes lose nothing), never edited by
    hand; the monitoring page reads it instead of counting every open case."""

    __tablename__ = "unit_case_tallies"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    open: Mapped[int] = mapped_column(Integer, default=0)
    high_risk: Mapped[int] = mapped_column(Integer, default=0)
    unassigned: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)


class UnitMonthTally(Base):
    """Cases of a school received in a month (of their day of receipt) and closures of its
    cases in a month (where the users are): the monitoring trend. Kept like UnitCaseTally."""

    __tablename__ = "unit_month_tallies"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)  # year * 12 + month - 1
    received: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)


class UnitOverdueMonthTally(Base):
    """The cases of a school whose clock runs out on a day (the day, where the users are, of
    ``Case.overdue_after``) of a month, and of each day in UnitOverdueDayTally: monitoring's
    overdue cases now are the months before this one summed, this month's days before today
    summed, and today's cases counted from the index of moments (issue 16), where it counted
    every overdue case of each school. Kept like UnitCaseTally, with each moment that
    cases.clocks moves."""

    __tablename__ = "unit_overdue_month_tallies"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)  # year * 12 + month - 1
    cases: Mapped[int] = mapped_column(Integer, default=0)


class UnitOverdueDayTally(Base):
    """The cases of a school whose clock runs out on a day (see UnitOverdueMonthTally)."""

    __tablename__ = "unit_overdue_day_tallies"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    cases: Mapped[int] = mapped_column(Integer, default=0)
