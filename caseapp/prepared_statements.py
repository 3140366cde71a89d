"""PostgreSQL parses each statement of a page once per worker, not once per request.

psycopg prepares a statement the fifth time a connection runs it, so that PostgreSQL keeps it
parsed, but it forgets every prepared statement of the connection at each ROLLBACK (an object
dropped in a rolled-back transaction could otherwise be looked up again). Every request that
only read ended in one, since the session of a request is closed by rolling back what it did
not commit: nothing was ever prepared, and each page had its statements parsed again (the
menu's counts, one statement of four subqueries, took 1.3 ms to plan for 0.2 ms of execution).

A transaction that only read ends in a COMMIT instead: for the data the same thing, and the
prepared statements stay. A transaction that sent anything but a SELECT (an INSERT, an UPDATE,
a WITH that writes, a savepoint...) is rolled back as before. Only a SELECT counts as a read:
the app's SELECTs read, take locks that both ends release, or set a setting local to the
transaction (tally.py), and nothing writes through the driver's cursor behind SQLAlchemy.

Each execution is still planned with its own values (plan_cache_mode=force_custom_plan, set
with the connection in db.make_engine): a generic plan, made once for any values, would serve
a school's case list and a province's with the same plan, and they need different ones.
"""

from __future__ import annotations

from contextlib import suppress

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

WROTE = "caseapp.transaction_wrote"


def keep_prepared_statements(engine: Engine) -> None:
    event.listen(engine, "begin", _begun)
    event.listen(engine, "before_cursor_execute", _sent)
    event.listen(engine, "rollback", _rolling_back)


def _begun(conn: Connection) -> None:
    conn.info[WROTE] = False


def _sent(conn: Connection, _cursor, statement: str, _params, _context, _many) -> None:
    if not conn.info.get(WROTE, True) and statement.lstrip()[:6].upper() != "SELECT":
        conn.info[WROTE] = True


def _rolling_back(conn: Connection) -> None:
    """Before SQLAlchemy rolls back: a transaction that only read is committed here, and the
    ROLLBACK that follows finds no transaction (psycopg sends nothing, forgets nothing)."""
    if conn.info.pop(WROTE, True):
        return
    from psycopg import Error
    from psycopg.pq import TransactionStatus

    dbapi = conn.connection.dbapi_connection
    if dbapi is None or dbapi.info.transaction_status != TransactionStatus.INTRANS:
        return  # failed, busy or already ended: the rollback deals with it
    # The connection broke meanwhile: the rollback that follows reports it.
    with suppress(Error):
        dbapi.commit()
