"""PostgreSQL parses each statement of a page once per worker, not once per request.

psycopg prepares a statement the fifth time a connection runs it, so that PostgreSQL keeps it
parsed, but it forgets every prepared statement of the connection at each ROLLBACK (an object
dropped in a rolled-back transaction could otherwise be looked up again). Every request that
only read ended in one, since the session of a request is closed by rolling back what it did
not commit: nothing was ever prepared, and each page had its statements parsed again (the
menu's counts, one statement of four subqueries, took 1.3 ms to plan for 0.2 ms of execution).

A transaction that only read ends in a COMMIT instead: for the data the same thing, and the
prepared statements stay. A transaction that sent anything else is rolled back as before: an
INSERT, an UPDATE, a savepoint, a SET, and any SELECT or WITH that could change something
(several statements in one, INTO, a data-modifying WITH, FOR UPDATE, a set_config that
outlives the transaction). The app's other SELECTs read, take locks that a COMMIT releases
like a ROLLBACK, or change a setting for the transaction only (tally.counting); nothing in
the app writes through the driver's cursor behind SQLAlchemy (which would go unseen here),
and no function it calls from a SELECT writes. Keep it so.

Each execution is still planned with its own values (plan_cache_mode=force_custom_plan, set
with the connection in db.make_engine): a generic plan, made once for any values, would serve
a school's case list and a province's with the same plan, and they need different ones.
A prepared statement whose result changes type (a column's type changed by a migration while
workers run) fails once per connection; upgrades stop the service first (README, Upgrade).

How many a connection keeps: ``Settings.prepared_statements`` ($CASEAPP_PREPARED_STATEMENTS),
psycopg's own 100 unless set. psycopg counts the runs of the last 100 texts (a text forgotten
before its fifth run is never prepared) and keeps up to about that many prepared (it forgets
one for each new text, so up to twice as many for a while). The daily screens' statements hold
a scope: the same texts for everyone of the same grants and exclusions (services/cases/access.py
writes a person's excluded cases in, read with their sign-in session), some five per school or
office; each person adds two or three texts of their own (their sign-in session, the menu's
notices, their requests about personal data). A worker serving 200 people of 20 schools in turn
keeps every shared text of the screens prepared with the default; each person's own are planned
again at each page (bench/many_people.py; README, Capacity). The price is PostgreSQL's memory:
146-237 KB a prepared statement. The default stays small, so that no connection can take more
than some 30 MB; a server with memory to spare sets about three times the people a worker serves
and five times their schools and offices.

Planning each run costs 0.2 to 0.8 ms for each statement of the daily screens (the case
list's count and rows, my work's lists, monitoring's tallies, home's counts, the menu's
numbers), often more than running it. So those statements
are sent with their plain values written into the SQL (the execution option ``WRITTEN_IN``,
``written_in``): a statement left without any parameter is planned once, with those very
values, when psycopg prepares it, and its plan is kept with the connection (PostgreSQL makes
no custom plan for a statement without parameters; it plans it again when the tables'
statistics or definitions change). Plain values only: integers, booleans, dates, moments,
and text made of letters, digits and ``_ . / : -`` (codes, unit paths, public ids), written
as PostgreSQL reads them; nothing else can close a quoted literal, so nothing a person typed
can change a statement. Anything else (a reference search's text, say) stays a parameter,
and the statement is then planned at each run as before. The screens read the present with
PostgreSQL's ``now()`` (db.present) so that it is not a value at all.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.util import immutabledict

WROTE = "caseapp.transaction_wrote"
# In a SELECT (or a WITH): what could make it change something. (FOR UPDATE counts too: a
# transaction that locks rows is about to write them.)
_MAY_WRITE = re.compile(r";|\b(?:INTO|INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
# set_config(name, value, is_local): only a setting local to the transaction (true) ends the
# same way at a COMMIT as at a ROLLBACK.
# Its arguments: literals and the driver's placeholders (a call inside them is not read).
_SET_CONFIG = re.compile(r"set_config\s*\(((?:[^()%]|%\(\w+\)s)*)\)", re.IGNORECASE)


# The execution option of a statement to send with its plain values written in.
WRITTEN_IN = "caseapp_written_in"
written_in = immutabledict({WRITTEN_IN: True})  # session.execute(..., execution_options=written_in)


def keep_prepared_statements(engine: Engine, prepared_max: int = 100) -> None:
    """``prepared_max``: the statements each connection counts and keeps prepared, the least
    recently used forgotten first (psycopg's prepared_max)."""

    def _connected(dbapi_connection, _record) -> None:
        dbapi_connection.prepared_max = prepared_max

    event.listen(engine, "connect", _connected)
    event.listen(engine, "begin", _begun)
    # _sent first: it reads the statement as compiled, before any value is written in (a
    # word in a value, "update" say, is not a write).
    event.listen(engine, "before_cursor_execute", _sent)
    event.listen(engine, "before_cursor_execute", _write_values_in, retval=True)
    event.listen(engine, "rollback", _rolling_back)


# Remembered by their text: the statements of the pages are the same few hundred strings (from
# SQLAlchemy's cache of compiled statements), each read anew cost 0.05 ms a statement.
@lru_cache(maxsize=2048)
def only_reads(statement: str) -> bool:
    """Whether ``statement`` leaves the data and the connection's settings as they were at a
    COMMIT as much as at a ROLLBACK (when in doubt: no)."""
    text = statement.lstrip()
    if text[:6].upper() != "SELECT" and text[:4].upper() != "WITH":
        return False
    if _MAY_WRITE.search(text):
        return False
    calls = _SET_CONFIG.findall(text)
    return text.lower().count("set_config") == len(calls) and all(
        args.rsplit(",", 1)[-1].strip().lower() == "true" for args in calls
    )


def _begun(conn: Connection) -> None:
    conn.info[WROTE] = False


def _sent(conn: Connection, _cursor, statement: str, _params, _context, _many) -> None:
    if not conn.info.get(WROTE, True) and not only_reads(statement):
        conn.info[WROTE] = True


def _rolling_back(conn: Connection) -> None:
    """Before SQLAlchemy rolls back: a transaction that only read is committed here, and the
    ROLLBACK that follows finds no transaction (psycopg sends nothing, forgets nothing).
    Never in the way of the rollback: a lost connection (invalidated) or any error here
    leaves it to SQLAlchemy, as before."""
    if conn.invalidated:
        return
    from psycopg import Error
    from psycopg.pq import TransactionStatus

    try:
        if conn.info.pop(WROTE, True):
            return
        dbapi = conn.connection.dbapi_connection
        if dbapi is None or dbapi.info.transaction_status != TransactionStatus.INTRANS:
            return  # failed, busy or already ended: the rollback deals with it
        dbapi.commit()
    except (Error, SQLAlchemyError):
        return  # the connection broke meanwhile: the rollback that follows reports it


# A placeholder of psycopg's (SQLAlchemy writes every parameter so), or a literal % (written
# %%, and read as a whole: "%%(x)s" is text, not a placeholder).
_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")
# Text written into the SQL: nothing that could end a quoted literal, escape from it, start a
# comment, or be read by psycopg as a placeholder (never a %).
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_./:-]*\Z")


def plain_literal(value: Any) -> str | None:
    """``value`` as a PostgreSQL literal when it is plain, else None (it stays a parameter).
    Only these very types, not their subclasses (whose text could be anything).
    Placeholders carry their type's cast (``%(x)s::DATE``), which the literal keeps."""
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        # In brackets when negative: "n -%(k)s" must not become "n --1", a comment.
        return str(value) if value >= 0 else f"({value})"
    if kind is datetime:
        return f"'{value.isoformat()}'" if value.utcoffset() is not None else None
    if kind is date:
        return f"'{value.isoformat()}'"
    if kind is str and _PLAIN_TEXT.match(value):
        return f"'{value}'"
    return None


def _write_values_in(_conn, _cursor, statement: str, parameters, context, executemany):
    """For a statement run with ``WRITTEN_IN``: its plain values written in its SQL, the
    others left as parameters."""
    if (
        executemany
        or context is None
        or not context.execution_options.get(WRITTEN_IN)
        or not isinstance(parameters, dict)
    ):
        return statement, parameters
    kept: dict[str, Any] = {}

    def written(found: re.Match) -> str:
        name = found.group(1)
        if name is None:  # %%
            return found.group(0)
        literal = plain_literal(parameters[name])
        if literal is None:
            kept[name] = parameters[name]
            return found.group(0)
        return literal

    return _PLACEHOLDER.sub(written, statement), kept
