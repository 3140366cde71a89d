"""Test setup: one database per run (SQLite, or PostgreSQL when TEST_DATABASE_URL is set),
migrated with Alembic, seeded once; every test runs in a transaction that is rolled back."""

from __future__ import annotations

import copy
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from caseapp import create_app, migrate
from caseapp.db import make_engine
from config import load_settings
from tests.factories import Person, Visitor, make_unit, make_user, stored_files

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


def pytest_sessionstart(session):
    """In CI (CASEAPP_REQUIRE_POSTGRES=1) the suite must not quietly fall back to SQLite."""
    if os.environ.get("CASEAPP_REQUIRE_POSTGRES") == "1" and not TEST_DATABASE_URL:
        raise pytest.UsageError(
            "CASEAPP_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set: set it to a "
            "PostgreSQL URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )


def _normalise_pg(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """Creates and drops a database for one test run."""

    def __init__(self, tmp: Path, label: str) -> None:
        self.tmp = tmp
        self.label = label
        self.admin_url = None
        self.name = None
        if TEST_DATABASE_URL:
            base = make_url(_normalise_pg(TEST_DATABASE_URL))
            self.name = f"caseapp_{label}_{uuid.uuid4().hex[:10]}"
            self.admin_url = base
            self.url = base.set(database=self.name).render_as_string(hide_password=False)
        else:
            self.url = f"sqlite:///{tmp / (label + '.sqlite3')}"

    @property
    def dialect(self) -> str:
        return "postgresql" if self.admin_url is not None else "sqlite"

    def create(self) -> None:
        if self.admin_url is None:
            return
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine.dispose()

    def drop(self) -> None:
        if self.admin_url is None:
            return
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("instance")
    os.environ["CASEAPP_INSTANCE"] = str(path)
    return path


@pytest.fixture(scope="session")
def database(tmp_path_factory):
    db = Database(tmp_path_factory.mktemp("db"), "run")
    db.create()
    yield db
    db.drop()


@pytest.fixture(scope="session")
def settings(instance_dir, database):
    env = dict(os.environ, CASEAPP_INSTANCE=str(instance_dir), CASEAPP_TEST_DB=database.url)
    return load_settings("testing", environ=env)


@dataclass
class World:
    """The seeded organisation: a province, two districts, three schools, one of each role."""

    people: dict[str, Person]
    units: dict[str, int]

    def __getitem__(self, name: str) -> Person:
        return self.people[name]


def _seed_world(app) -> World:
    from caseapp.db import get_session
    from caseapp.runtime import keyring
    from caseapp.services.keys import binding as key_binding

    with app.app_context():
        s = get_session()
        p = make_unit(s, None, "PRV", "province", "Sở Giáo dục tỉnh P")
        d1 = make_unit(s, p, "D1", "commune", "Phòng Giáo dục D1")
        d2 = make_unit(s, p, "D2", "commune", "Phòng Giáo dục D2")
        a = make_unit(s, d1, "SCH-A", "school", "Trường A")
        b = make_unit(s, d1, "SCH-B", "school", "Trường B")
        c = make_unit(s, d2, "SCH-C", "school", "Trường C")
        k = keyring()
        people = {
            "focal_a": make_user(s, k, "focal.a", a, [("focal_point", a)]),
            "focal_b": make_user(s, k, "focal.b", b, [("focal_point", b)]),
            "focal_c": make_user(s, k, "focal.c", c, [("focal_point", c)]),
            "officer_d1": make_user(s, k, "officer.d1", d1, [("officer", d1)]),
            "officer_d2": make_user(s, k, "officer.d2", d2, [("officer", d2)]),
            "officer_p": make_user(s, k, "officer.p", p, [("officer", p)]),
            "auditor_p": make_user(s, k, "auditor.p", p, [("auditor", p)]),
            "admin_p": make_user(s, k, "admin.p", p, [("admin", p)]),
            "admin_d1": make_user(s, k, "admin.d1", d1, [("admin", d1)]),
            "admin_d2": make_user(s, k, "admin.d2", d2, [("admin", d2)]),
            "nobody": make_user(s, k, "no.grants", a, []),
            "new_user": make_user(s, k, "not.enrolled", a, [("focal_point", a)], enrolled=False),
        }
        key_binding.bind(s, k)  # as the service does at its first start
        s.commit()
        units = {u.code: u.id for u in (p, d1, d2, a, b, c)}
    return World(people, units)


class IsolatedClient(FlaskClient):
    """Runs each request in its own application context (so with its own database session, as
    in production) even while the test holds one open for calling services directly."""

    def open(self, *args, **kwargs):
        ctx = self.application.extensions.get("caseapp.test_ctx")
        if ctx is None or getattr(self, "_inside", False):  # redirects re-enter open()
            return super().open(*args, **kwargs)
        kwargs["buffered"] = True  # a streamed body must finish inside the request's context
        # Keep the test's session out of the teardown that popping the context runs.
        kept = ctx.g.pop("db_session", None)
        ctx.pop()
        self._inside = True
        try:
            return super().open(*args, **kwargs)
        finally:
            self._inside = False
            ctx.push()
            if kept is not None:
                ctx.g.db_session = kept


@pytest.fixture(scope="session")
def app(settings, database):
    application = create_app(settings)
    application.test_client_class = IsolatedClient
    application.config["PROPAGATE_EXCEPTIONS"] = False
    migrate.upgrade(application.extensions["caseapp.engine"])
    application.extensions["caseapp.world"] = _seed_world(application)
    yield application
    application.extensions["caseapp.engine"].dispose()


@pytest.fixture(scope="session")
def world(app) -> World:
    return app.extensions["caseapp.world"]


@pytest.fixture()
def db(app):
    """A session on a connection whose transaction is rolled back after the test; the app's
    own commits become savepoints inside it."""
    engine = app.extensions["caseapp.engine"]
    connection = engine.connect()
    outer = connection.begin()
    original = app.extensions["caseapp.sessionmaker"]
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    app.extensions["caseapp.sessionmaker"] = factory
    ctx = app.app_context()
    ctx.push()
    app.extensions["caseapp.test_ctx"] = ctx
    from caseapp.db import get_session

    session = get_session()
    try:
        yield session
    finally:
        app.extensions.pop("caseapp.test_ctx", None)
        ctx.pop()
        app.extensions["caseapp.sessionmaker"] = original
        outer.rollback()
        connection.close()


@pytest.fixture()
def client(app, db):
    return app.test_client()


@pytest.fixture()
def browser(client) -> Visitor:
    return Visitor(client, token_from="/login")


@pytest.fixture()
def fresh_engine(database, tmp_path):
    """A separate, empty database for migration tests (dropped afterwards)."""
    extra = Database(tmp_path, "mig")
    extra.create()
    engine = make_engine(extra.url)
    yield engine
    engine.dispose()
    extra.drop()


@pytest.fixture()
def clean_store(settings):
    """Sealed files written by a test are removed afterwards (their rows are rolled back)."""
    before = stored_files(settings)
    yield
    for name in sorted(stored_files(settings) - before, reverse=True):
        path = settings.attachment_dir / name
        if path.is_file():
            path.unlink()


@pytest.fixture()
def ring(app, tmp_path):
    """A copy of the app's keyring saved to a temp file, restored after the test."""
    original = app.extensions["caseapp.keyring"]
    copied = copy.deepcopy(original)
    copied.path = tmp_path / "keyring.json"
    copied.save()
    app.extensions["caseapp.keyring"] = copied
    yield copied
    app.extensions["caseapp.keyring"] = original


@pytest.fixture()
def debug_logs(caplog):
    """Everything logged at DEBUG, from before the test's connection opens (so SQLAlchemy logs
    each statement with its parameters)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy mutes itself to WARN
    return caplog


@pytest.fixture()
def spill(db, database):
    """SQLite keeps a transaction's pages in memory until it commits; a one-page cache makes it
    write them to the database file, so reading the file shows what the disk would hold."""
    if database.dialect != "sqlite":
        yield
        return
    before = db.execute(text("PRAGMA cache_size")).scalar()
    db.execute(text("PRAGMA cache_size = 1"))
    yield
    db.execute(text(f"PRAGMA cache_size = {int(before)}"))
