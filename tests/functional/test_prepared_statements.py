"""A transaction that only read ends without forgetting the connection's prepared statements
(caseapp/prepared_statements.py); one that wrote anything is rolled back as before. A
statement sent with its plain values written in has no parameter left, and is planned once;
any other value stays a parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import IntEnum

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from caseapp.prepared_statements import only_reads, plain_literal, written_in


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
    # tally.capped_select: a count that puts the settings back as it runs.
    assert only_reads(
        "WITH plans_back AS MATERIALIZED (SELECT set_config('enable_bitmapscan',"
        " %(plans_bitmap)s::VARCHAR, true) AS bitmap) SELECT (SELECT count(*) AS count_1"
        " FROM (SELECT cases.unit_id FROM cases LIMIT 501) AS anon_1) AS n FROM plans_back"
    )
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


# -- plain values written into the SQL (written_in) ----------------------------------------


def _rows_and_sql(engine, stmt, params, written: bool) -> tuple[list, str, dict]:
    seen: list[tuple[str, dict]] = []

    def sent(_conn, _cursor, statement, parameters, *_args) -> None:
        seen.append((statement, dict(parameters or {})))

    event.listen(engine, "after_cursor_execute", sent)
    try:
        with Session(bind=engine) as session:
            options = written_in if written else {}
            rows = list(session.execute(stmt, params, execution_options=options))
    finally:
        event.remove(engine, "after_cursor_execute", sent)
    return rows, *seen[-1]


ODD_TEXT = [
    "x' OR '1'='1",
    "a\\'b",
    "trường",
    "two words",
    "50%",
    "semi;colon",
    "new\nline",
    "$1",
    "E'\\x27'",
]


def test_plain_values_are_written_in_and_the_rest_stays_a_parameter(pg):
    with pg.begin() as conn:
        conn.execute(text("INSERT INTO marks VALUES (1), (5), (9)"))
    stmt = text(
        "SELECT n, CAST(:day AS date) AS day, CAST(:moment AS timestamptz) AS moment,"
        " CAST(:flag AS boolean) AS flag, CAST(:word AS text) AS word"
        " FROM marks WHERE n > :low ORDER BY n"
    )
    day, moment = date(2026, 12, 6), datetime(2026, 12, 6, 9, 30, 1, 250, tzinfo=UTC)
    for word in ["SCH-A", "/1/2/", "0b6f9f52-5a1f-4f0e-9c1e-2d1d6a1a7c3e", "", *ODD_TEXT]:
        params = {"day": day, "moment": moment, "flag": True, "word": word, "low": 2}
        plain_rows, plain_sql, _ = _rows_and_sql(pg, stmt, params, written=False)
        rows, sql, left = _rows_and_sql(pg, stmt, params, written=True)
        assert rows == plain_rows and [r.n for r in rows] == [5, 9], word
        assert rows[0].word == word and rows[0].moment == moment and rows[0].day == day
        assert "n > 2" in sql and "'2026-12-06'" in sql and "true" in sql
        if plain_literal(word) is None:
            # Never written in: the odd text reaches PostgreSQL as a parameter, whole.
            assert left == {"word": word} and "%(word)s" in sql, word
        else:
            assert left == {} and f"'{word}'" in sql, word
        assert "%(" in plain_sql  # without the option, as before


def test_a_percent_in_the_text_is_not_a_placeholder(pg):
    stmt = text("SELECT '%(low)s' AS raw, '50%' AS rate, n FROM marks WHERE n > :low")
    with pg.begin() as conn:
        conn.execute(text("INSERT INTO marks VALUES (3)"))
    rows, sql, left = _rows_and_sql(pg, stmt, {"low": 1}, written=True)
    assert [(r.raw, r.rate, r.n) for r in rows] == [("%(low)s", "50%", 3)]
    assert left == {} and "n > 1" in sql


def test_a_word_written_in_is_not_a_write(pg):
    """Whether a transaction only read is judged on the statement as compiled: a value such
    as "update" written into it leaves the prepared statements kept."""
    stmt = text("SELECT count(*) FROM marks WHERE CAST(n AS text) <> :word")
    with pg.connect() as conn:
        for _ in range(6):
            with Session(bind=conn) as session:
                session.execute(stmt, {"word": "UPDATE"}, execution_options=written_in)
        assert [s for s in _prepared(conn) if "<> 'UPDATE'" in s]


def test_a_statement_without_parameters_is_planned_once(pg):
    """Prepared by psycopg the fifth time, then run with the plan PostgreSQL keeps: custom
    plans are forced for statements with parameters (plan_cache_mode), never made for one
    without."""
    stmt = text("SELECT count(*) FROM marks WHERE n > :low AND n < :high")
    with pg.connect() as conn, Session(bind=conn) as session:
        for _ in range(8):
            session.execute(stmt, {"low": 0, "high": 100}, execution_options=written_in)
            session.execute(stmt, {"low": 0, "high": 100})
        found = {
            statement: (custom, generic)
            for statement, custom, generic in conn.execute(
                text(
                    "SELECT statement, custom_plans, generic_plans FROM pg_prepared_statements"
                    " WHERE statement LIKE '%FROM marks WHERE n >%'"
                )
            )
        }
    written = found["SELECT count(*) FROM marks WHERE n > 0 AND n < 100"]
    bound = found["SELECT count(*) FROM marks WHERE n > $1 AND n < $2"]
    assert written[0] == 0 and written[1] >= 3
    assert bound[1] == 0 and bound[0] >= 3


def test_what_is_written_in():
    assert plain_literal(12) == "12" and plain_literal(-3) == "(-3)"
    assert plain_literal(True) == "true" and plain_literal(False) == "false"
    assert plain_literal(date(2026, 1, 2)) == "'2026-01-02'"
    assert plain_literal(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "'2026-01-02T03:04:00+00:00'"
    assert plain_literal("/1/22/") == "'/1/22/'" and plain_literal("BN-S07-2026") == "'BN-S07-2026'"

    class Sly(int):
        def __str__(self) -> str:
            return "1; DROP TABLE marks"

    class Marked(str):
        pass

    kinds = [Sly(1), Marked("SCH-A"), IntEnum("Level", "LOW HIGH").LOW]
    for kept in [None, 1.5, Decimal("2"), b"x", datetime(2026, 1, 2), ["a"], *kinds, *ODD_TEXT]:
        assert plain_literal(kept) is None, kept


def test_a_connection_keeps_as_many_as_the_setting_says(pg):
    """The least recently used are forgotten past the setting (psycopg's own 100 by default):
    a server with memory to spare keeps more people's screens prepared."""
    with pg.connect() as conn:
        assert conn.connection.dbapi_connection.prepared_max == 100
    from caseapp.db import make_engine

    url = pg.url.render_as_string(hide_password=False)
    more = make_engine(url, prepared_statements=500)
    try:
        with more.connect() as conn:
            for k in range(150):
                for _ in range(6):  # prepared the fifth time, found so the sixth
                    conn.scalar(text(f"SELECT count(*) + {k} + :z FROM marks"), {"z": 0})
            assert len([s for s in _prepared(conn) if "FROM marks" in s]) == 150
    finally:
        more.dispose()
    few = make_engine(url, prepared_statements=20)
    try:
        with few.connect() as conn:
            for k in range(30):
                for _ in range(6):
                    conn.scalar(text(f"SELECT count(*) + {k} + :z FROM marks"), {"z": 0})
            kept = [s for s in _prepared(conn) if "FROM marks" in s]
            # psycopg deallocates the one it forgets with the next statement it sends.
            assert 20 <= len(kept) <= 21
            assert "count(*) + 29 + $1 FROM" in " ".join(kept)  # the latest kept
            assert "count(*) + 0 + $1 FROM" not in " ".join(kept)  # the first forgotten
    finally:
        few.dispose()


def test_the_app_engine_takes_the_setting(app, settings):
    engine = app.extensions["caseapp.engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    with engine.connect() as conn:
        assert conn.connection.dbapi_connection.prepared_max == settings.prepared_statements


def test_the_sign_in_session_is_read_with_its_hash_written_in(app, db, world):
    """Every request's first statement carries the session token's hash in its SQL, so that
    PostgreSQL plans it once per session and connection; each person's is their own, and
    a session ended after its statement was prepared lets nobody in any more."""
    from caseapp.models import User, UserSession
    from caseapp.services.accounts import sessions
    from tests.factories import Visitor, statements_sent

    engine = app.extensions["caseapp.engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("values are written in on PostgreSQL only")
    focal_a, focal_b = Visitor(app, db, world["focal_a"]), Visitor(app, db, world["focal_b"])
    with statements_sent(engine) as all_sent:
        for _ in range(6):
            assert focal_a.get("/").status_code == 200
        assert focal_b.get("/").status_code == 200
    sent = [s for s in all_sent if "FROM user_sessions" in s]
    hashes = {
        person: db.scalars(
            select(UserSession.token_hash).where(
                UserSession.user_id == world[person].id, UserSession.revoked_at.is_(None)
            )
        ).one()
        for person in ("focal_a", "focal_b")
    }
    assert len(sent) == 7 and all("%(" not in s for s in sent), sent
    assert len(set(sent[:6])) == 1 and f"token_hash = '{hashes['focal_a']}'" in sent[0]
    assert f"token_hash = '{hashes['focal_b']}'" in sent[6]
    # Ended while its statement is kept: the next request is signed out.
    user = db.get(User, world["focal_a"].id)
    assert sessions.revoke_all(db, None, user, "test") == 1
    db.commit()
    assert focal_a.get("/").status_code == 302
    assert focal_b.get("/").status_code == 200
