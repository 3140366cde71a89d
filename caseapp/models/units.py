"""The organisation tree (units) and the referral directory."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.db import Base, utcnow

UNIT_CODE_MAX = 20
UNIT_NAME_MAX = 200
UNIT_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{1,19}$"
# The kinds a unit of each kind may sit directly under (None: at the top of the tree). Since the
# two-tier local government of 1 July 2025 a commune, ward or special zone sits under the province
# (its Department of Education); schools sit under a commune or the province by their level
# (LEVEL_PARENTS); nothing sits under a school. "district" (the education offices the reform
# dissolved) is kept for history only: nothing new may be placed in or under one from the day of
# the reform (Settings.two_tier_from).
PARENT_KINDS: dict[str, tuple[str | None, ...]] = {
    "ministry": (None,),
    "province": (None, "ministry"),
    "district": ("province",),
    "commune": ("province",),
    "school": ("district", "commune", "province"),
}
LEGACY_KINDS = ("district",)
# A commune-level unit is a commune (xã), a ward (phường) or a special zone (đặc khu).
LOCAL_TYPES = ("commune", "ward", "special_zone")
SCHOOL_LEVELS = (
    "preschool",
    "primary",
    "lower_secondary",
    "upper_secondary",
    "multi_level",
    "continuing_education",
    "boarding_ethnic",
)
OWNERSHIPS = ("public", "private")
# The kinds a school of each level may sit under. Preschool, primary and lower-secondary schools
# answer to the commune or ward (a former district office for history); upper-secondary schools
# and continuing-education centres to the province's Department; a multi-level school that
# teaches upper-secondary classes and a provincial boarding school for ethnic minorities answer
# to the Department, others of those levels to the commune.
LEVEL_PARENTS: dict[str, tuple[str, ...]] = {
    "preschool": ("commune", "district"),
    "primary": ("commune", "district"),
    "lower_secondary": ("commune", "district"),
    "upper_secondary": ("province",),
    "continuing_education": ("province",),
    "multi_level": ("commune", "province", "district"),
    "boarding_ethnic": ("commune", "province", "district"),
}

REFERRAL_KINDS = (
    "hotline",
    "commune_committee",
    "police",
    "health_station",
    "social_protection",
    "legal_aid",
    "other",
)


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(UNIT_CODE_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(UNIT_NAME_MAX))
    kind: Mapped[str] = mapped_column(String(20))
    # Schools: their level (SCHOOL_LEVELS) and ownership (OWNERSHIPS); communes: their local type
    # (LOCAL_TYPES). None for the other kinds.
    level: Mapped[str | None] = mapped_column(String(24))
    ownership: Mapped[str | None] = mapped_column(String(10))
    local_type: Mapped[str | None] = mapped_column(String(15))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # Materialised path "/1/4/17/": everything below a unit is one indexed prefix query.
    path: Mapped[str] = mapped_column(String(500))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])

    __mapper_args__ = {"version_id_col": version}
    # Pattern ops so that PostgreSQL answers "path LIKE '/1/4/%'" from the index.
    __table_args__ = (
        Index("ix_units_path", "path", postgresql_ops={"path": "varchar_pattern_ops"}),
    )

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    @property
    def is_open(self) -> bool:
        return self.valid_to is None

    def covers(self, other: Unit) -> bool:
        return other.path.startswith(self.path)

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"


class UnitParentHistory(Base):
    """Every parent a unit has had, so old reports still roll up through old offices."""

    __tablename__ = "unit_parent_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    path: Mapped[str] = mapped_column(String(500))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    # The first row of a unit also answers for the days before valid_from (a unit recorded in the
    # service later than it existed): a case received then rolls up through this row's path.
    opened: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ReferralContact(Base):
    __tablename__ = "referral_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()

    __mapper_args__ = {"version_id_col": version}
