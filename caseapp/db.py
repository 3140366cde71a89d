"""SQLAlchemy base, engine and one session per application context."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from weakref import WeakKeyDictionary

from flask import Flask, current_app, g
from sqlalchemy import DateTime, MetaData, bindparam, create_engine, event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class present(FunctionElement[datetime]):
    """The present moment as a statement reads it: on PostgreSQL ``now()`` (the start of the
    request's transaction), so that the statement carries no value that changes at each run
    and its plan is kept (caseapp/prepared_statements.py); elsewhere ``utcnow()``, given when
    the statement runs (not when it was compiled and cached)."""

    type = DateTime(timezone=True)
    inherit_cache = True
    name = "present"


@compiles(present, "postgresql")
def _present_on_postgresql(_element, _compiler, **_kw) -> str:
    return "now()"


@compiles(present)
def _present_elsewhere(_element, compiler, **kw) -> str:
    return compiler.process(
        bindparam("present", callable_=_clock, type_=DateTime(timezone=True)), **kw
    )


def _clock() -> datetime:
    return utcnow()  # looked up at each run (a test may move the clock)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the driver, control transactions, so savepoints work in tests.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
    # PostgreSQL's translate(text, from, to), which SQLite lacks (the school search folds
    # Vietnamese diacritics with it, caseapp.services.selfreports.intake.find_schools).
    dbapi_connection.create_function("translate", 3, _translate, deterministic=True)


def _translate(text: str | None, source: str, target: str) -> str | None:
    if text is None:
        return None
    table = {ord(a): (target[i] if i < len(target) else None) for i, a in enumerate(source)}
    return text.translate(table)


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN")


def _sqlite_query_only(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def make_engine(url: str, read_only: bool = False, prepared_statements: int = 100) -> Engine:
    """An engine for ``url``; ``read_only``: every transaction on it refuses to write (the
    read replica's: a write sent there by mistake fails loudly instead of being lost).
    ``prepared_statements``: PostgreSQL, the statements kept prepared per connection
    (Settings.prepared_statements)."""
    # Statement parameters never reach an exception's text (they can be names or sealed bytes).
    kwargs: dict = {"future": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            from sqlalchemy.pool import StaticPool

            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            kwargs.update(connect_args={"check_same_thread": False, "timeout": 10})
    else:
        # JIT compilation costs more than these short aggregate queries gain (measured by
        # bench/monitoring.py: 2.2x faster monitoring at 100k cases without it).
        # Each execution planned with its own values, even a prepared statement's
        # (caseapp/prepared_statements.py says why).
        options = "-c jit=off -c plan_cache_mode=force_custom_plan" + (
            " -c default_transaction_read_only=on" if read_only else ""
        )
        kwargs.update(pool_pre_ping=True, connect_args={"options": options})
        if read_only:
            # One snapshot per transaction: a report's sums, the cases it takes out and the
            # rollups' pending marks read at one moment (services/reports/rollups.sums).
            kwargs.update(isolation_level="REPEATABLE READ")
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        from caseapp.prepared_statements import keep_prepared_statements

        keep_prepared_statements(engine, prepared_statements)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if read_only:
            event.listen(engine, "connect", _sqlite_query_only)
        event.listen(engine, "begin", _sqlite_begin)
        if engine.url.database and engine.url.database != ":memory:":
            event.listen(engine, "connect", _owner_only(engine.url.database))
    return engine


def _owner_only(path: str):
    """The SQLite file (and its journal) readable by the service's user only: it holds the
    metadata of every case, even if the content is sealed."""
    import os

    def restrict(_dbapi_connection, _record) -> None:
        for name in (path, f"{path}-journal", f"{path}-wal", f"{path}-shm"):
            try:
                if os.stat(name).st_mode & 0o077:
                    os.chmod(name, 0o600)
            except OSError:
                pass  # not there (yet), or not ours to change

    return restrict


# The tables found on each engine (table_exists): a table once there stays there, but for a
# migration (caseapp.migrate forgets the engine's after each one).
_TABLES_FOUND: WeakKeyDictionary[Engine, set[str]] = WeakKeyDictionary()


def table_exists(conn: Connection, name: str) -> bool:
    """Whether the database of ``conn`` has the table ``name`` (the session events that keep
    derived tables write nothing on a schema from before the table: the migration tests write
    through the services at old revisions). A table found is remembered for the engine, so an
    intake asks nothing; one not found is asked again every time (a migration in another
    process adds it)."""
    found = _TABLES_FOUND.setdefault(conn.engine, set())
    if name in found:
        return True
    if conn.dialect.has_table(conn, name):
        found.add(name)
        return True
    return False


def id_batches(conn: Connection, table, size: int) -> Iterator[list[int]]:
    """The ids of ``table`` in order, ``size`` at a time, each batch read when the one before
    has been used (a pass over every row that changes rows as it goes)."""
    last = 0
    while True:
        ids = list(
            conn.scalars(
                select(table.c.id).where(table.c.id > last).order_by(table.c.id).limit(size)
            )
        )
        if not ids:
            return
        last = ids[-1]
        yield ids


def forget_tables(engine: Engine) -> None:
    """After a migration of ``engine``'s database: ask table_exists again."""
    _TABLES_FOUND.pop(engine, None)


def init_app(app: Flask, url: str, replica_url: str = "", prepared_statements: int = 100) -> None:
    engine = make_engine(url, prepared_statements=prepared_statements)
    app.extensions["caseapp.engine"] = engine
    app.extensions["caseapp.sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
    if replica_url:
        replica = make_engine(replica_url, read_only=True, prepared_statements=prepared_statements)
        app.extensions["caseapp.replica_engine"] = replica
        # Nothing is ever flushed there: a read session never holds a change to send.
        app.extensions["caseapp.read_sessionmaker"] = sessionmaker(
            bind=replica, autoflush=False, expire_on_commit=False
        )
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """The session of the current application context, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["caseapp.sessionmaker"]()
    return g.db_session


def has_replica() -> bool:
    """Whether DATABASE_REPLICA_URL names a read replica."""
    return "caseapp.read_sessionmaker" in current_app.extensions


def reads_replica(session: Session) -> bool:
    """Whether ``session`` reads the read replica (get_read_session with a replica configured):
    read-only, and behind the primary by its lag."""
    try:
        return has_replica() and session is not get_session()
    except RuntimeError:  # outside an application context
        return False


def get_read_session() -> Session:
    """The session reports and monitoring read their figures from: on the read replica when
    one is configured (read-only: a write fails), else the primary's session itself. Whatever
    such a page writes (its audit event, the sign-in session's touch) goes to get_session()."""
    factory = current_app.extensions.get("caseapp.read_sessionmaker")
    if factory is None:
        return get_session()
    if "db_read_session" not in g:
        g.db_read_session = factory()
    return g.db_read_session


def open_session() -> Session:
    """A session apart from the application context's, for work that outlives the view (a
    streamed response): the caller closes it, best with ``with open_session() as s``."""
    return current_app.extensions["caseapp.sessionmaker"]()


def get_engine() -> Engine:
    return current_app.extensions["caseapp.engine"]


def _close_session(_exc) -> None:
    for name in ("db_session", "db_read_session"):
        session = g.pop(name, None)
        if session is not None:
            session.close()
