"""Before anything is written: the keyring must go with the database (start-up, the request
gate, /healthz, /readyz), and each operator mistake is one line naming the setting and the
fix (in-process, and as a gunicorn worker would meet it: exit 4, one line on stderr)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from caseapp import create_app, migrate
from caseapp.db import get_session
from caseapp.models import AuditEvent, KeyringKey
from caseapp.security.keyring import Keyring, KeyringError, load_keyring
from caseapp.services.keys import binding as key_binding
from caseapp.startup import StartupRefused, ensure_ready, readiness
from config import ROOT, ConfigError, load_settings
from tests.factories import make_unit, make_user


def _app_on(settings, url: str, keyring: Path):
    return create_app(replace(settings, database_url=url, keyring_path=keyring))


@pytest.fixture()
def bound(settings, fresh_engine, tmp_path):
    """A fresh database, migrated, with a school and an account written under keyring A (the
    way a service binds it: on its first start)."""
    url = fresh_engine.url.render_as_string(hide_password=False)
    ring_a = tmp_path / "a.json"
    app = _app_on(settings, url, ring_a)
    migrate.upgrade(app.extensions["caseapp.engine"])
    ensure_ready(app)
    with app.app_context():
        s = get_session()
        province = make_unit(s, None, "ST-P", "province", "Sở Giáo dục tỉnh Khởi Động")
        school = make_unit(s, province, "ST-SCH", "school", "Trường Khởi Động")
        make_user(
            s, app.extensions["caseapp.keyring"], "start.focal", school, [("focal_point", school)]
        )
        s.commit()
    yield app, url, tmp_path
    app.extensions["caseapp.engine"].dispose()


def _events(app) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(AuditEvent))


def test_start_binds_every_key_of_the_keyring(bound):
    app, _url, _tmp = bound
    ring = app.extensions["caseapp.keyring"]
    with app.app_context():
        ids = key_binding.bound_key_ids(get_session())
    assert ids == sorted(k.id for k in ring.keys(purpose=None))


def test_a_fresh_keyring_is_refused_before_anything_is_written(bound, settings):
    app, url, tmp = bound
    before = _events(app)
    other = _app_on(settings, url, tmp / "fresh.json")  # development/testing make a new one
    try:
        with pytest.raises(StartupRefused) as refused:
            ensure_ready(other)
        line = str(refused.value)
        assert "CASEAPP_KEYRING" in line and "\n" not in line
        assert "lacks 4 key(s)" in line
        # The request gate answers 503 to every page, sign-in included; nothing is appended.
        client = other.test_client()
        assert client.get("/login").status_code == 503
        r = client.post("/login", data={"username": "start.focal", "password": "x"})
        assert r.status_code == 503
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json["keyring"] == "mismatch"
        assert client.get("/readyz").json["keyring"] == "mismatch"
    finally:
        other.extensions["caseapp.engine"].dispose()
    assert _events(app) == before


def test_the_matching_keyring_serves_and_reports_ready(bound):
    app, _url, _tmp = bound
    client = app.test_client()
    assert client.get("/login").status_code == 200
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json == {
        "status": "ok",
        "database": "ok",
        "migrations": "current",
        "keyring": "ok",
    }
    ready = client.get("/readyz").json
    assert ready["migration"]["ok"] and ready["migration"]["current"] == ready["migration"]["head"]
    assert ready["audit_head"]["seq"] >= 1 and ready["audit_head"]["age_seconds"] >= 0
    assert "key" not in str(ready["audit_head"])  # no key id, no secret


def test_a_keyring_with_more_keys_is_bound_to_them(bound, settings):
    app, url, tmp = bound
    ring = app.extensions["caseapp.keyring"]
    from caseapp.security.keyring import new_key

    bigger = Keyring(ring.keys(purpose=None), tmp / "bigger.json")
    bigger.add(new_key("audit"))
    bigger.save()
    other = _app_on(settings, url, tmp / "bigger.json")
    try:
        assert ensure_ready(other).keyring == "ok"
        with other.app_context():
            assert len(key_binding.bound_key_ids(get_session())) == 5
    finally:
        other.extensions["caseapp.engine"].dispose()


def test_unmigrated_database_answers_503_until_upgraded(settings, fresh_engine, tmp_path):
    url = fresh_engine.url.render_as_string(hide_password=False)
    app = _app_on(settings, url, tmp_path / "k.json")
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json["migrations"] == "behind" and health.json["database"] == "ok"
    assert client.get("/login").status_code == 503
    with pytest.raises(StartupRefused, match="db upgrade"):
        ensure_ready(app)
    assert ensure_ready(app, allow_unmigrated=True).problem  # gunicorn may start, and says so
    migrate.upgrade(app.extensions["caseapp.engine"])
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200
    app.extensions["caseapp.engine"].dispose()


def test_unreachable_database_is_one_line_without_password(settings, tmp_path):
    app = _app_on(
        settings,
        "postgresql+psycopg://caseapp:hunter2-secret@127.0.0.1:1/nowhere",
        tmp_path / "k.json",
    )
    state = readiness(app)
    assert not state.database
    assert state.problem.startswith("DATABASE_URL: cannot reach the database")
    assert "hunter2-secret" not in state.problem and "\n" not in state.problem
    assert app.test_client().get("/healthz").status_code == 503


def test_migration_backfills_the_key_ids_the_data_already_uses(bound):
    """A database from before the binding table gets it filled from its own rows."""
    app, _url, _tmp = bound
    engine = app.extensions["caseapp.engine"]
    with app.app_context():
        wanted = set(key_binding.bound_key_ids(get_session()))
    migrate.downgrade(engine, "0007")
    migrate.upgrade(engine)
    with app.app_context():
        rows = {k.key_id: k.purpose for k in get_session().scalars(select(KeyringKey))}
    ring = app.extensions["caseapp.keyring"]
    # The seeded account's TOTP secret (wrap) and the audit events (audit) name their keys.
    assert rows[ring.active("wrap").id] == "wrap"
    assert rows[ring.active("audit").id] == "audit"
    assert set(rows) <= wanted


# Operator mistakes: one line each --------------------------------------------------------


def _production_env(tmp_path: Path, **changes) -> dict:
    ring = tmp_path / "prod-keyring.json"
    if not ring.exists():
        Keyring.generate(ring).save()
    env = {
        "CASEAPP_ENV": "production",
        "SECRET_KEY": "s" * 48,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "CASEAPP_KEYRING": str(ring),
        "CASEAPP_ATTACHMENTS": str(tmp_path / "files"),
        "CASEAPP_INSTANCE": str(tmp_path / "instance"),
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be a random value of 32 characters"),
        ({"SECRET_KEY": None}, "SECRET_KEY must be a random value"),
        ({"DATABASE_URL": None}, "DATABASE_URL must be set in production"),
        ({"DATABASE_URL": "postgres://u@db/x"}, "write postgresql+psycopg://u@db/x"),
        ({"DATABASE_URL": "mysql://u@db/x"}, "DATABASE_URL scheme 'mysql' is not supported"),
        ({"CASEAPP_KEYRING": None}, "CASEAPP_KEYRING must name the keyring file"),
        ({"CASEAPP_ATTACHMENTS": None}, "CASEAPP_ATTACHMENTS must name the folder"),
        ({"CASEAPP_TRUSTED_PROXIES": "one"}, "CASEAPP_TRUSTED_PROXIES must be a whole number"),
        ({"CASEAPP_METRICS_TOKEN": "abc"}, "CASEAPP_METRICS_TOKEN must be 32 characters"),
        ({"CASEAPP_ENV": "prod"}, "CASEAPP_ENV is 'prod': use development, testing or production"),
    ],
)
def test_bad_settings_are_one_line_naming_the_setting(tmp_path, changes, expected):
    with pytest.raises(ConfigError) as refused:
        load_settings(environ=_production_env(tmp_path, **changes))
    assert expected in str(refused.value)
    assert "\n" not in str(refused.value)


def test_postgresql_without_driver_uses_psycopg(tmp_path):
    s = load_settings(environ=_production_env(tmp_path, DATABASE_URL="postgresql://u@db/x"))
    assert s.database_url == "postgresql+psycopg://u@db/x"


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        (lambda p: p.unlink(), "does not exist"),
        (lambda p: p.chmod(0o644), "is readable by others (mode 644); run chmod 600"),
        (lambda p: p.write_text("{not json"), "is damaged (JSONDecodeError)"),
        (lambda p: p.write_text('{"format": 1, "keys": []}'), "is incomplete"),
        (lambda p: p.write_text('{"format": 1}'), "is damaged (KeyError)"),
    ],
)
def test_bad_keyring_files_are_one_line(tmp_path, prepare, expected):
    path = tmp_path / "k.json"
    Keyring.generate(path).save()
    prepare(path)
    with pytest.raises(KeyringError) as refused:
        load_keyring(path, create=False, strict_mode=True)
    line = str(refused.value)
    assert line.startswith("CASEAPP_KEYRING: ") and expected in line and "\n" not in line


def _start(env: dict, *argv: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("CASEAPP_", "FLASK_"))}
    full.update(env)
    return subprocess.run(
        [*argv], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60, check=False
    )


def test_wsgi_import_stops_with_exit_4_and_one_line(tmp_path):
    env = _production_env(tmp_path)
    Path(env["CASEAPP_KEYRING"]).chmod(0o640)
    done = _start(env, sys.executable, "-c", "import wsgi")
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        f"caseapp: CASEAPP_KEYRING: the keyring file {env['CASEAPP_KEYRING']} is readable by "
        f"others (mode 640); run chmod 600 {env['CASEAPP_KEYRING']}"
    ]


def test_gunicorn_fails_fast_with_the_same_line(tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed in this environment")
    env = _production_env(
        tmp_path,
        DATABASE_URL="postgresql+psycopg://u:pw@127.0.0.1:1/x",
        CASEAPP_WORKERS="2",
        CASEAPP_BIND="127.0.0.1:0",
    )
    done = _start(env, str(gunicorn), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app")
    assert done.returncode == 4
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("caseapp: ")]
    assert lines and lines[0].startswith("caseapp: DATABASE_URL: cannot reach the database")
    assert "Traceback" not in done.stderr and "pw@" not in done.stderr
