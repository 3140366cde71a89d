"""Migration 0032 on a trail already in use: the accounts that exclusion and approval events
name inside their changes are kept beside those events (audit_event_names), and nothing else;
the migration goes down to 0031 again."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import inspect

from caseapp import migrate
from caseapp.security.audit_chain import ROW_COLUMNS
from caseapp.services.audit import trail

MIGRATION = Path(migrate.__file__).resolve().parent.parent / "migrations" / "versions"

EVENTS = sa.table("audit_events", *(sa.column(name) for name in ROW_COLUMNS))


def _event(seq: int, action: str, changes) -> dict:
    return {
        "seq": seq,
        "at": "2026-01-01 00:00:00+00:00",
        "actor_name": "admin",
        "actor_roles": "[]",
        "unit_path": "",
        "action": action,
        "object_type": "",
        "object_id": "",
        "object_ref": "",
        "changes": changes if isinstance(changes, str) else json.dumps(changes, sort_keys=True),
        "reason": "",
        "request_id": "",
        "ip": "",
        "prev_hash": "0",
        "key_id": "k",
        "hash": "h",
    }


def test_0032_keeps_the_names_of_exclusion_and_approval_events_and_goes_down_again(
    fresh_engine,
):
    migrate.upgrade(fresh_engine, "0031")
    rows = [
        _event(1, "case.exclude", {"user": "an.nguyen"}),
        _event(2, "case.exclusion_lift", {"user": "an.nguyen", "requested_by": "chi"}),
        # A request to lift an exclusion names the person twice: kept once.
        _event(
            3, "approval.request", {"kind": "exclusion_lift", "subject": "binh", "user": "binh"}
        ),
        _event(4, "approval.approve", {"kind": "grant", "subject": "dung", "requested_by": "chi"}),
        _event(5, "approval.reject", {"kind": "new_account"}),  # names no account
        # Other events are found by their object, not by what their changes say.
        _event(6, "user.grant", {"user": "an.nguyen", "role": "officer"}),
        _event(7, "step.record", {"subject": "student"}),
        # What is not a JSON object names nobody (and does not stop the migration).
        _event(8, "case.exclude", "not json"),
        _event(9, "approval.cancel", '["subject", "x"]'),
        _event(10, "approval.cancel", {"subject": ""}),
    ]
    with fresh_engine.begin() as connection:
        connection.execute(EVENTS.insert(), rows)
    migrate.upgrade(fresh_engine, "0032")
    with fresh_engine.connect() as connection:
        names = set(connection.execute(sa.text("SELECT username, seq FROM audit_event_names")))
    assert names == {("an.nguyen", 1), ("an.nguyen", 2), ("binh", 3), ("dung", 4)}
    # What record() would have kept for the same events, and nothing else.
    assert names == {
        (name, row["seq"])
        for row in rows
        if row["action"] in trail.NAMED_INSIDE and row["changes"].startswith("{")
        for name in trail.names_inside(json.loads(row["changes"]))
    }
    migrate.downgrade(fresh_engine, "0031")
    assert "audit_event_names" not in inspect(fresh_engine).get_table_names()
    assert migrate.current_heads(fresh_engine) == {"0031"}


def test_the_migration_kept_the_names_record_keeps():
    """The backfill froze trail.NAMED_INSIDE and NAME_KEYS as they were: an action or a key
    added there later needs a migration of its own that keeps the names of the events
    recorded before it (the account history would not find them otherwise)."""
    spec = importlib.util.spec_from_file_location("m0032", MIGRATION / "0032_audit_event_names.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.NAMED_INSIDE) == set(trail.NAMED_INSIDE)
    assert module.NAME_KEYS == trail.NAME_KEYS
