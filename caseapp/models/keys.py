"""The keyring's key ids this database depends on (never a key itself)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from caseapp.db import Base, utcnow


class KeyringKey(Base):
    """A key id that sealed, chained, signed or indexed something in this database, or that the
    keyring held when the service last started: a keyring lacking one of these does not go
    with this database, and the service refuses to start with it."""

    __tablename__ = "keyring_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20))
    bound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
