"""Alembic migrations: from empty they build exactly the models' schema, the audit trail is
append-only in the database, and they run down to nothing and up again."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

import caseapp.models  # noqa: F401 - registers every table on the metadata
from caseapp import migrate
from caseapp.db import Base

AUDIT_TRIGGERS = {
    "postgresql": {"audit_events_no_update_delete", "audit_events_no_truncate"},
    "sqlite": {"audit_events_no_update", "audit_events_no_delete"},
}


def _schema_differences(engine) -> list:
    """What autogenerate would write to bring the database in line with the models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "target_metadata": Base.metadata,
                "render_as_batch": connection.dialect.name == "sqlite",
                "compare_type": True,
            },
        )
        return compare_metadata(context, Base.metadata)


def _application_tables(engine) -> set[str]:
    names = set(inspect(engine).get_table_names())
    return names - {"alembic_version", "sqlite_sequence"}


def _assert_tables_match_models(engine) -> None:
    tables, models = _application_tables(engine), set(Base.metadata.tables)
    assert not models - tables, f"models without a migration: {sorted(models - tables)}"
    assert not tables - models, f"migrated tables without a model: {sorted(tables - models)}"


def _audit_triggers(engine) -> set[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            rows = connection.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                    "AND tgrelid = to_regclass('audit_events')"
                )
            )
        else:
            rows = connection.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name = 'audit_events'"
                )
            )
        return {row[0] for row in rows}


def _insert_audit_row(connection) -> None:
    connection.execute(
        text(
            "INSERT INTO audit_events (seq, at, actor_name, actor_roles, unit_path, action, "
            "object_type, object_id, object_ref, changes, reason, request_id, ip, prev_hash, "
            "key_id, hash) VALUES (1, :at, 'x', '[]', '', 'test', '', '', '', '{}', '', '', '', "
            "'0', 'k', 'h')"
        ),
        {"at": "2026-01-01 00:00:00+00:00"},
    )


def test_there_is_exactly_one_head():
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1, script.get_heads()


def test_upgrade_from_empty_matches_the_models(fresh_engine):
    assert _application_tables(fresh_engine) == set()
    migrate.upgrade(fresh_engine)
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert migrate.current_heads(fresh_engine) == set(script.get_heads())
    _assert_tables_match_models(fresh_engine)
    assert _schema_differences(fresh_engine) == []


def test_audit_events_append_only_triggers_exist(fresh_engine):
    migrate.upgrade(fresh_engine)
    assert _audit_triggers(fresh_engine) >= AUDIT_TRIGGERS[fresh_engine.dialect.name]

    with fresh_engine.begin() as connection:
        _insert_audit_row(connection)
    for statement in ("UPDATE audit_events SET reason = 'changed'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), fresh_engine.begin() as connection:
            connection.execute(text(statement))
    with fresh_engine.connect() as connection:
        assert connection.execute(text("SELECT reason FROM audit_events")).scalar_one() == ""


def test_downgrade_to_base_and_upgrade_again(fresh_engine):
    migrate.upgrade(fresh_engine)
    migrate.downgrade(fresh_engine, "base")
    assert _application_tables(fresh_engine) == set()
    assert _audit_triggers(fresh_engine) == set()
    assert migrate.current_heads(fresh_engine) == set()
    if fresh_engine.dialect.name == "postgresql":
        with fresh_engine.connect() as connection:
            assert (
                connection.execute(
                    text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_events_append_only'")
                ).scalar_one()
                == 0
            )

    migrate.upgrade(fresh_engine)
    _assert_tables_match_models(fresh_engine)
    assert _audit_triggers(fresh_engine) >= AUDIT_TRIGGERS[fresh_engine.dialect.name]
    assert _schema_differences(fresh_engine) == []
