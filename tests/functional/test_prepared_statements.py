"""A transaction that only read ends without forgetting the connection's prepared statements
(caseapp/prepared_statements.py); one that wrote anything is rolled back as before."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from caseapp.prepared_statements import only_reads


@pytest.fixture()
def pg(fresh_engine):
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared statements (SQLite has no ROLLBACK that forgets them)")
    with fresh_engine.begin() as conn:
        conn.execute(text("CREATE TABLE marks (n integer)"))
    return fresh_engine


def _prepared(conn) -> list[str]:
    return list(conn.scalars(text("SELECT statement FROM pg_prepared_statements")))


def _marks(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM marks"))


def test_a_statement_read_in_transactions_rolled_back_stays_prepared(pg):
    with pg.connect() as conn:
        for _ in range(6):  # psycopg prepares a statement the fifth time
            assert conn.scalar(text("SELECT count(*) + :k FROM marks"), {"k": 1}) == 1
            conn.rollback()
        assert [s for s in _prepared(conn) if "count(*) + $1 FROM marks" in s]
        assert conn.scalar(text("SELECT current_setting('plan_cache_mode')")) == (
            "force_custom_plan"
        )


def test_a_session_that_only_read_keeps_them_too(pg):
    with pg.connect() as conn:
        for _ in range(6):
            with Session(bind=conn) as session:  # closed: its transaction "rolled back"
                session.scalar(text("SELECT count(*) FROM marks WHERE n > :n"), {"n": 0})
        assert [s for s in _prepared(conn) if "FROM marks WHERE n > $1" in s]


@pytest.mark.parametrize(
    "write",
    [
        "INSERT INTO marks VALUES (1)",
        "WITH added AS (INSERT INTO marks VALUES (1) RETURNING n) SELECT n FROM added",
        "UPDATE marks SET n = 2",
        "SELECT 1; INSERT INTO marks VALUES (1)",
        "SELECT 1 AS n INTO TEMPORARY made; INSERT INTO marks SELECT n FROM made",
    ],
)
def test_a_transaction_that_wrote_is_rolled_back_whatever_it_read_after(pg, write):
    with pg.begin() as conn:
        conn.execute(text("INSERT INTO marks VALUES (0)"))
    with pg.connect() as conn:
        conn.execute(text(write))
        assert conn.scalar(text("SELECT count(*) FROM marks WHERE n <> 0")) == 1
        conn.rollback()
        assert conn.scalar(text("SELECT count(*) FROM marks WHERE n <> 0")) == 0
    with Session(bind=pg) as session:
        session.execute(text(write))
        session.scalar(text("SELECT count(*) FROM marks"))
    # Closed without a commit: nothing of it stays.
    assert _marks(pg) == 1


def test_a_failed_transaction_is_rolled_back_and_the_connection_serves_again(pg):
    with pg.connect() as conn:
        conn.scalar(text("SELECT count(*) FROM marks"))
        with pytest.raises(ProgrammingError):
            conn.execute(text("SELECT missing FROM marks"))
        conn.rollback()
        assert conn.scalar(text("SELECT count(*) FROM marks")) == 0


def test_what_counts_as_a_read():
    assert only_reads("SELECT cases.id FROM cases WHERE cases.unit_id = %(u)s")
    assert only_reads("\n  select pg_advisory_xact_lock(%(k)s)")
    # tally.counting: settings for the transaction only, however it ends.
    assert only_reads(
        "WITH before AS MATERIALIZED (SELECT current_setting('enable_bitmapscan') AS bitmap)"
        " SELECT bitmap, set_config('enable_bitmapscan', 'off', true) FROM before"
    )
    assert only_reads("SELECT set_config('enable_bitmapscan', %(bitmap)s, TRUE)")
    assert only_reads("SELECT cases.updated_at FROM cases")
    for statement in (
        "WITH unit_counts AS (INSERT INTO t VALUES (1)) SELECT 1",
        "SAVEPOINT sa_savepoint_1",
        "SET LOCAL statement_timeout = 1000",
        "SELECT 1; DELETE FROM t",
        "SELECT * INTO copied FROM t",
        "SELECT set_config('caseapp.who', 'x', false)",
        "SELECT set_config('a', 'x', true), set_config('b', 'y', %(local)s)",
        "SELECT set_config('a', lower('X'), true)",
        "SELECT cases.id FROM cases WHERE cases.id = %(id)s FOR UPDATE",
        "WITH gone AS (DELETE FROM t RETURNING id) SELECT count(*) FROM gone",
        "/* a comment */ SELECT 1",
    ):
        assert not only_reads(statement), statement


def test_a_lost_connection_is_rolled_back_as_before(pg):
    """The rollback after a dropped connection goes on undisturbed (and the engine serves
    again), instead of a PendingRollbackError from the listener hiding the first error."""
    with pg.connect() as conn:
        conn.scalar(text("SELECT count(*) FROM marks"))
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
        with pg.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with pytest.raises(OperationalError):
            conn.execute(text("SELECT count(*) FROM marks"))
        conn.rollback()
    with Session(bind=pg) as session:
        assert session.scalar(text("SELECT count(*) FROM marks")) == 0
