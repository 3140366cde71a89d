"""Running Alembic migrations from the app (CLI) and from tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, table
from sqlalchemy.engine import Connection, Engine

from config import ROOT

AUDIT_TABLE = "audit_events"
# Audited tables a downgrade may drop because their rows go back into another audited table
# (the audit events of a person of a case stay true of the case the person is folded into):
# 0012's case_persons into cases. Only when the table is gone, never rows of a table kept.
FOLDED = {"case_persons": "cases"}
# Audited tables of settings a migration seeded (0015): a downgrade that drops the table takes
# the service back to the defaults in its code; the audit events of the changes stay true of
# what was in force then. Only when the table is gone, never rows of a table kept.
SETTINGS_TABLES = frozenset({"holidays", "legal_periods"})


class MigrationRefused(RuntimeError):
    """A migration was rolled back whole; the message is one line for the operator."""


class DowngradeRefused(MigrationRefused):
    """A downgrade would drop audited rows while the audit events that record them stay."""


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate down to ``revision`` in one transaction, refused (and rolled back) when it would
    drop rows of an audited table while the audit trail stays: the trail would then record
    changes to rows that no longer exist, and nobody could tell a lost case from a deleted one.
    A downgrade to base drops the trail with them and is not refused here (production refuses
    it in the command, without a fresh backup)."""
    with _migrating(engine) as connection:
        before = audited_row_counts(connection)
        command.downgrade(alembic_config(connection), revision)
        if AUDIT_TABLE not in inspect(connection).get_table_names():
            return
        after = audited_row_counts(connection)
        lost = {
            name: count - after.get(name, 0)
            for name, count in before.items()
            if count > after.get(name, 0)
            and not (name in FOLDED and name not in after and FOLDED[name] in after)
            and not (name in SETTINGS_TABLES and name not in after)
        }
        if lost:
            reached = ", ".join(sorted(_heads(connection))) or "base"
            dropped = ", ".join(f"{n} {name}" for name, n in lost.items())
            raise DowngradeRefused(
                f"downgrade to {reached} would drop {dropped} while their "
                "audit events stay; nothing was changed"
            )


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction for a whole migration: PostgreSQL's DDL is transactional, and so is
    SQLite's (caseapp.db issues the BEGIN), so a refusal rolls every step back.

    On SQLite, Alembic's batch mode rebuilds a table (copy, drop, rename) to drop a column,
    and with foreign keys enforced dropping a table that other rows refer to fails; SQLite
    ignores PRAGMA foreign_keys inside a transaction, so it is switched off before BEGIN,
    every reference is checked before COMMIT, and it is switched on again afterwards."""
    with engine.connect() as connection:
        raw = connection.connection.driver_connection if engine.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if raw is not None:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        tables = ", ".join(sorted({row[0] for row in broken}))
                        raise MigrationRefused(
                            f"the migration would leave rows of {tables} "
                            "referring to rows that no longer exist; "
                            "nothing was changed"
                        )
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
            from caseapp.db import forget_tables

            forget_tables(engine)  # the tables may have changed (or not, if rolled back)


def audited_row_counts(connection: Connection) -> dict[str, int]:
    """Rows in each existing table of an audited model, by table name (metadata order)."""
    from caseapp.models import AUDITED_MODELS

    present = set(inspect(connection).get_table_names())
    # The keys of the sealed reasons too: dropped, the trail's reasons could never be read.
    names = {model.__tablename__ for model in AUDITED_MODELS} | {"audit_text_keys"}
    return {
        name: connection.scalar(select(func.count()).select_from(table(name))) or 0
        for name in _metadata_order(names)
        if name in present
    }


def _metadata_order(names: set[str]) -> list[str]:
    from caseapp.db import Base

    return [t.name for t in Base.metadata.sorted_tables if t.name in names]


def current_heads(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return _heads(connection)


def _heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())
