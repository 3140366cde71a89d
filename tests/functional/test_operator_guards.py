"""Guards against an operator's ordinary mistakes: `db downgrade` in production only knowingly
and with a fresh backup; on every environment, no downgrade that drops audited rows while their
audit events stay (rolled back whole, on both engines); `seed-demo` never in production.

Each test runs on a database of its own (the suite's shared one is never migrated down)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from caseapp import create_app, migrate
from caseapp.db import Base, get_session
from caseapp.models import AuditEvent, Unit, User
from caseapp.runtime import keyring
from caseapp.services.cases import intake as cases
from tests.factories import make_unit, make_user
from tests.functional.case_attack_support import case_details

DESTROYS = "--i-understand-this-destroys-data"
PRODUCTION_REFUSAL = "refused when CASEAPP_ENV=production"


def _build(settings, fresh_engine, tmp_path, env: str):
    instance = tmp_path / "instance"
    url = fresh_engine.url.render_as_string(hide_password=False)
    return create_app(
        replace(
            settings,
            env=env,
            database_url=url,
            instance_dir=instance,
            keyring_path=instance / "keyring.json",
            attachments_path=instance / "attachments",
        )
    )


@pytest.fixture()
def testing_app(settings, fresh_engine, tmp_path):
    """The app on a separate database, migrated to head."""
    application = _build(settings, fresh_engine, tmp_path, "testing")
    migrate.upgrade(application.extensions["caseapp.engine"])
    yield application
    application.extensions["caseapp.engine"].dispose()


@pytest.fixture()
def production_app(testing_app, settings, fresh_engine, tmp_path):
    """The same database and keyring (made by the testing app) under production settings."""
    application = _build(settings, fresh_engine, tmp_path, "production")
    yield application
    application.extensions["caseapp.engine"].dispose()


def _invoke(app, *args: str):
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _one_line_refusal(result, *words: str) -> None:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], lines[0]


def _state(app) -> tuple[set[str], dict[str, int]]:
    """The revision and every table's row count: what "nothing was changed" compares."""
    engine = app.extensions["caseapp.engine"]
    with app.app_context():
        session = get_session()
        names = set(inspect(session.connection()).get_table_names())
        counts = {
            t.name: session.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
            if t.name in names
        }
        session.close()
    return migrate.current_heads(engine), counts


def _seed_a_case(app) -> None:
    """A school, its focal point and one case, each audited, through the services."""
    with app.test_request_context():
        session = get_session()
        province = make_unit(session, None, "PRV", "province")
        school = make_unit(session, province, "SCH", "school")
        person = make_user(session, keyring(), "focal.guard", school, [("focal_point", school)])
        focal = session.get(User, person.id)
        cases.create_case(
            session,
            focal,
            school,
            case_details(),
            # No name: a name sealed with 0012's own associated data holds the downgrade below
            # 0012 (tests/unit/test_people_migration.py); the narrative stays on the case.
            cases.CaseContent(narrative="..."),
        )
        session.commit()


def _append_event(app, code: str) -> None:
    with app.test_request_context():
        session = get_session()
        make_unit(session, None, code, "province")
        session.commit()


def _backup(app, out: Path) -> Path:
    """A backup of the database as it is now: `flask backup` when it exists; until then the
    manifest alone, written by hand with the fields `db downgrade` checks."""
    if "backup" in app.cli.commands:
        result = _invoke(app, "backup", "--out", str(out))
        assert result.exit_code == 0, result.output
        return out
    with app.app_context():
        session = get_session()
        head = session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
        session.close()
    (revision,) = migrate.current_heads(app.extensions["caseapp.engine"])
    out.mkdir(parents=True)
    manifest = {
        "format": 1,
        "schema_revision": revision,
        "audit_head": {"seq": head.seq if head else 0, "hash": head.hash if head else ""},
    }
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


# Production: only knowingly, and with a fresh backup ---------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["base"],
        [],
        ["base", DESTROYS],
        ["base", "--backup", "BACKUP"],
    ],
    ids=["bare", "one-step", "flag-without-backup", "backup-without-flag"],
)
def test_production_downgrade_is_refused_without_flag_and_backup(production_app, tmp_path, args):
    backup = str(_backup(production_app, tmp_path / "backup"))
    before = _state(production_app)
    result = _invoke(
        production_app, "db", "downgrade", *[backup if a == "BACKUP" else a for a in args]
    )
    _one_line_refusal(result, PRODUCTION_REFUSAL, DESTROYS, "--backup")
    assert _state(production_app) == before


def test_production_downgrade_needs_a_fresh_backup(testing_app, production_app, tmp_path):
    _seed_a_case(testing_app)
    stale = _backup(production_app, tmp_path / "stale")
    _append_event(testing_app, "PRV2")  # the trail moves on after the backup
    before = _state(production_app)

    result = _invoke(production_app, "db", "downgrade", "base", DESTROYS, "--backup", str(stale))
    _one_line_refusal(result, "not fresh", str(stale))
    assert _state(production_app) == before

    missing = tmp_path / "no-such-backup"
    result = _invoke(production_app, "db", "downgrade", "base", DESTROYS, "--backup", str(missing))
    _one_line_refusal(result, str(missing))
    assert _state(production_app) == before

    fresh = _backup(production_app, tmp_path / "fresh")
    result = _invoke(production_app, "db", "downgrade", "base", DESTROYS, "--backup", str(fresh))
    assert result.exit_code == 0, result.output
    heads, counts = _state(production_app)
    assert heads == set() and counts == {}


def test_production_downgrade_with_a_backup_still_keeps_audited_rows(
    testing_app, production_app, tmp_path
):
    _seed_a_case(testing_app)
    fresh = _backup(production_app, tmp_path / "fresh")
    before = _state(production_app)
    result = _invoke(production_app, "db", "downgrade", "0002", DESTROYS, "--backup", str(fresh))
    _one_line_refusal(result, "1 cases", "audit events stay", "nothing was changed")
    assert _state(production_app) == before


# Every environment: no audited rows dropped while their events stay -------------------------


def test_downgrade_that_drops_cases_is_refused_and_changes_nothing(testing_app):
    _seed_a_case(testing_app)
    before = _state(testing_app)
    tables = set(before[1])
    assert before[1]["cases"] == 1 and before[1]["audit_events"] > 0

    result = _invoke(testing_app, "db", "downgrade", "0002")
    _one_line_refusal(
        result,
        "downgrade to 0002 would drop",
        "1 cases",
        "1 case_informants",
        "audit events stay",
        "nothing was changed",
    )
    assert "units" not in result.output  # 0002 keeps them
    assert _state(testing_app) == before
    assert set(_state(testing_app)[1]) == tables

    # Straight from the migration runner too (scripts and tests call it).
    with pytest.raises(migrate.DowngradeRefused, match="would drop 1 cases"):
        migrate.downgrade(testing_app.extensions["caseapp.engine"], "0001")
    assert _state(testing_app) == before


def test_downgrade_that_keeps_audited_rows_goes_through_with_data(testing_app):
    """0003 still has every audited table that holds a row; on SQLite the steps down rebuild
    `cases` (copy, drop, rename) while other rows refer to it."""
    _seed_a_case(testing_app)
    _, before = _state(testing_app)
    result = _invoke(testing_app, "db", "downgrade", "0003")
    assert result.exit_code == 0, result.output
    heads, after = _state(testing_app)
    assert heads == {"0003"}
    assert {t: n for t, n in after.items() if n} == {
        t: n for t, n in before.items() if n and t in after
    }
    assert after["cases"] == 1
    assert _invoke(testing_app, "db", "upgrade").exit_code == 0
    _, again = _state(testing_app)
    # Dropped on the way down, computed again from the data on the way up (the report rollups
    # of the seeded case were only marked before; the upgrade builds them).
    rebound = {"keyring_keys", "case_rollups", "case_office_rollups", "case_rollup_marks"}
    assert {t: n for t, n in again.items() if n and t not in rebound} == {
        t: n for t, n in before.items() if n and t not in rebound
    }
    verified = _invoke(testing_app, "audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_downgrade_to_base_drops_the_trail_too_and_is_allowed_outside_production(testing_app):
    _seed_a_case(testing_app)
    result = _invoke(testing_app, "db", "downgrade", "base")
    assert result.exit_code == 0, result.output
    assert _state(testing_app) == (set(), {})


def test_downgrade_of_an_empty_database_to_a_middle_revision(testing_app):
    result = _invoke(testing_app, "db", "downgrade", "0003")
    assert result.exit_code == 0, result.output
    heads, counts = _state(testing_app)
    assert heads == {"0003"} and "cases" in counts and "case_steps" not in counts
    assert _invoke(testing_app, "db", "upgrade").exit_code == 0


# seed-demo ----------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["--if-empty"]], ids=["plain", "if-empty"])
def test_seed_demo_is_refused_in_production(production_app, args):
    before = _state(production_app)
    result = _invoke(production_app, "seed-demo", "--cases", "0", *args)
    _one_line_refusal(
        result, "seed-demo writes demo accounts with known passwords", "CASEAPP_ENV=production"
    )
    assert _state(production_app) == before
    with production_app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Unit)) == 0
    instance = production_app.extensions["caseapp.settings"].instance_dir
    assert not (instance / "demo-credentials.json").exists()
