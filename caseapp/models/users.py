"""Accounts, role grants, second factors, server-side sessions and sign-in throttles."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseapp.db import Base, utcnow
from caseapp.models.units import Unit

USERNAME_MAX = 64
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
FULL_NAME_MAX = 120
EMAIL_MAX = 254

ROLES = ("focal_point", "officer", "head", "auditor", "admin")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    full_name: Mapped[str] = mapped_column(String(FULL_NAME_MAX))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), default="")
    # The unit an administrator manages this account from.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # TOTP secret sealed under the keyring's wrapping key; NULL until enrolled.
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_counter: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str] = mapped_column(String(5), default="vi")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    grants: Mapped[list[Grant]] = relationship(
        back_populates="user", foreign_keys="Grant.user_id", order_by="Grant.id"
    )

    __mapper_args__ = {"version_id_col": version}

    # Flask-Login: the id handed to the session is the server-side session token, not the
    # user id, so that a session can be revoked (Flask-Login's "alternative tokens").
    # The cases the person is excluded from, as their sign-in session's statement read them
    # at the start of the request (services/accounts/sessions.py); None for a person read
    # otherwise (services/cases/access.py then asks the database by their id).
    if TYPE_CHECKING:
        session_token: str | None
        session_record: UserSession | None
        excluded_case_ids: tuple[int, ...] | None
    else:
        session_token = None
        session_record = None
        excluded_case_ids = None

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def has_second_factor(self) -> bool:
        return self.totp_secret is not None

    @property
    def active_grants(self) -> list[Grant]:
        return [g for g in self.grants if g.revoked_at is None]

    def roles(self) -> set[str]:
        return {g.role for g in self.active_grants}

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Grant(Base):
    """A role held at a unit, covering the unit and everything below it."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(back_populates="grants", foreign_keys=[user_id])
    unit: Mapped[Unit] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class RecoveryCode(Base):
    """One-time recovery codes, stored as SHA-256 of a high-entropy code."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserSession(Base):
    """A server-side sign-in session; the cookie only carries its random token."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    second_factor_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str] = mapped_column(String(40), default="")
    # A TOTP secret offered during enrolment, sealed, until the user confirms a code.
    pending_totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)

    user: Mapped[User] = relationship()


class SignInThrottle(Base):
    """Failure counter for one account name or one address (keyed by an HMAC, not in clear)."""

    __tablename__ = "sign_in_throttles"
    __table_args__ = (UniqueConstraint("scope", "key_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # "account" or "address"
    key_hash: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def active_grants_stmt(user_id: int):
    return select(Grant).where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
