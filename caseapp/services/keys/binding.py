"""Which keyring goes with this database: the key ids it depends on, checked before anything
is written (start-up, every writing command, /healthz)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from caseapp.models import KeyringKey
from caseapp.security.keyring import Keyring


@dataclass
class Binding:
    """The keyring held against the database. ``migrated`` is False when the database has no
    binding table yet (empty, or before this revision): nothing can be checked then."""

    migrated: bool
    missing: list[str] = field(default_factory=list)  # bound ids the keyring lacks
    unbound: list[str] = field(default_factory=list)  # keyring ids not bound yet

    @property
    def ok(self) -> bool:
        return self.migrated and not self.missing

    def refusal(self, keyring_path: object) -> str:
        """One line for an operator: what is wrong and what to do."""
        shown = ", ".join(self.missing[:5]) + (" ..." if len(self.missing) > 5 else "")
        return (
            f"CASEAPP_KEYRING {keyring_path} does not go with this database: it lacks "
            f"{len(self.missing)} key(s) the database uses ({shown}); start with the "
            "keyring backed up with this database (nothing was written)"
        )


def has_binding_table(session: Session) -> bool:
    return inspect(session.connection()).has_table(KeyringKey.__tablename__)


def bound_key_ids(session: Session) -> list[str]:
    """Every key id this database depends on, sorted (empty before the binding table exists)."""
    if not has_binding_table(session):
        return []
    return sorted(session.scalars(select(KeyringKey.key_id)))


def check(session: Session, keyring: Keyring) -> Binding:
    if not has_binding_table(session):
        return Binding(migrated=False)
    bound = set(session.scalars(select(KeyringKey.key_id)))
    held = {key.id for key in keyring.keys(purpose=None)}
    return Binding(True, sorted(bound - held), sorted(held - bound))


def bind(session: Session, keyring: Keyring) -> Binding:
    """Check, and when the keyring holds every bound id, bind the keyring's other ids too (a
    key becomes bound before it can seal or chain anything). Safe when several workers start
    at once. The caller commits."""
    binding = check(session, keyring)
    if not binding.ok or not binding.unbound:
        return binding
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    rows = [
        {"key_id": key.id, "purpose": key.purpose}
        for key in keyring.keys(purpose=None)
        if key.id in binding.unbound
    ]
    session.execute(insert(KeyringKey).values(rows).on_conflict_do_nothing())
    binding.unbound = []
    return binding


def unbind(session: Session, key_id: str) -> None:
    """Forget a retired key (the caller has checked that nothing uses it)."""
    key = session.get(KeyringKey, key_id)
    if key is not None:
        session.delete(key)
