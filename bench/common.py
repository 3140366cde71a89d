"""What every benchmark needs: an app on an empty, migrated database, a ward of schools (the
office of the two-tier organisation; seed_district keeps its old name) with an officer and a
focal point, a signed-in test client, percentiles, and the fixed part of a signed-in request
(add_floor), which bounds what a page or an intake can cost next to a bare endpoint."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event

from caseapp import create_app, migrate
from caseapp.db import get_session
from caseapp.services.accounts import users
from caseapp.services.org import units
from config import load_settings
from tests.factories import sign_in_client

PASSWORD = "bench password 0123456789"
FLOOR = "/bench/floor"
EMPTY = "/bare/empty"


def make_app(url: str, instance: Path):
    os.environ["CASEAPP_INSTANCE"] = str(instance)
    settings = load_settings(
        "testing", environ=dict(os.environ, CASEAPP_TEST_DB=url, CASEAPP_INSTANCE=str(instance))
    )
    return create_app(settings)


def empty_app(url: str, instance: Path):
    """The app on ``url``, which must be an empty database; migrated to head."""
    app = make_app(url, instance)
    engine = app.extensions["caseapp.engine"]
    with engine.connect() as conn:
        tables = engine.dialect.get_table_names(conn)
    if tables:
        sys.exit(f"the database is not empty ({len(tables)} tables): give an empty one")
    migrate.upgrade(engine)
    return app


def seed_district(app, prefix: str, schools: int) -> dict:
    """A province, a ward with ``schools`` schools, an officer of the ward and a focal
    point of the first school (created through the services, so audited like real ones)."""
    with app.app_context():
        s = get_session()
        province = units.create_unit(
            s, None, None, f"{prefix}-P", "Sở Giáo dục tỉnh Bench", "province"
        )
        district = units.create_unit(
            s, None, province, f"{prefix}-D", "Ủy ban nhân dân phường Bench", "commune"
        )
        made = [
            units.create_unit(
                s, None, district, f"{prefix}-S{i:02d}", f"Trường THCS số {i}", "school"
            )
            for i in range(1, schools + 1)
        ]
        officer, _ = users.create_user(
            s, None, "officer.bench", "Officer Bench", "", district, PASSWORD
        )
        users.grant_role(s, None, officer, "officer", district)
        focal, _ = users.create_user(s, None, "focal.bench", "Focal Bench", "", made[0], PASSWORD)
        users.grant_role(s, None, focal, "focal_point", made[0])
        s.commit()
        return {
            "district_path": district.path,
            "school_path": made[0].path,
            "school_id": made[0].id,
            "schools": [(u.id, u.code) for u in made],
            "officer": officer.id,
            "focal": focal.id,
        }


def signed_in_client(app, user_id: int):
    """A test client with a server-side session after both factors
    (tests.factories.sign_in_client), without replaying the sign-in screens."""
    client = app.test_client()
    with app.app_context():
        s = get_session()
        sign_in_client(client, s, user_id)
        s.commit()
    return client


def percentiles(times: list[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    times = sorted(times)
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)]


def alternated(calls: list[Callable[[], object]], n: int, warmup: int = 2) -> list:
    """Median and p95 in milliseconds of each of ``calls``, over ``n`` rounds of one call of
    each in turn (after ``warmup`` calls of each): whatever the machine does meanwhile falls
    on all of them alike. Used to measure two sizes side by side."""
    for call in calls:
        for _ in range(warmup):
            call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(n):
        for spent, call in zip(times, calls, strict=True):
            t0 = time.perf_counter()
            call()
            spent.append((time.perf_counter() - t0) * 1000)
    return [percentiles(spent) for spent in times]


def get_ok(client, url: str) -> Callable[[], None]:
    """One GET of ``url`` that must answer 200."""

    def call() -> None:
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)

    return call


def small_beside(url: str, tmp: Path) -> tuple[str, str]:
    """The database of the small size, beside the one given (which holds the large size): a
    SQLite file in ``tmp``, or a fresh PostgreSQL database created on the same server. Returns
    its URL and, when it was created here, the same URL again, to drop at the end."""
    from bench import fresh_db

    if url.startswith("sqlite"):
        return f"sqlite:///{tmp / 'small.sqlite3'}", ""
    created = fresh_db.create(url)
    return created, created


class StatementLog:
    """Counts (and, when asked, keeps) the statements sent to the database, and the time spent
    in them (from the cursor's execute to its return: the database's answer, not the ORM's work
    around it)."""

    def __init__(self, engine):
        self.count = 0
        self.seconds = 0.0
        self._started = 0.0
        self.kept: list[tuple[str, object]] | None = None
        event.listen(engine, "before_cursor_execute", self._seen)
        event.listen(engine, "after_cursor_execute", self._done)

    def _seen(self, _conn, _cursor, statement, parameters, _context, _many):
        self.count += 1
        if self.kept is not None:
            self.kept.append((statement, parameters))
        self._started = time.perf_counter()

    def _done(self, *_args):
        self.seconds += time.perf_counter() - self._started


def logged_get(client, url: str, log: StatementLog, spent: list) -> Callable[[], None]:
    """One GET of ``url`` that must answer 200; adds the statements it ran on ``log``'s engine
    and the seconds they took to ``spent`` ([count, seconds, GETs]: ``in_statements``)."""

    def call() -> None:
        count, seconds = log.count, log.seconds
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)
        spent[0] += log.count - count
        spent[1] += log.seconds - seconds
        spent[2] += 1

    return call


def in_statements(spent: list) -> tuple[float, float]:
    """Statements and milliseconds in them per GET, from the ``spent`` of ``logged_get``."""
    return spent[0] / spent[2], spent[1] / spent[2] * 1000


def add_floor(app) -> None:
    """Two routes of the app itself (added before it serves a request), to measure what every
    signed-in request costs before it does anything of its own:

    - GET /bench/floor: base.html with an empty content block. The sign-in session, the guard,
      the menu's counts (one statement), the layout, the response headers; no screen query.
    - POST /bench/floor: a form with its CSRF token, answered by a redirect. The session, the
      guard, Flask-WTF's CSRF check, the form parsed; nothing read or written besides.

    A screen renders at least that page and runs at least its own queries, an intake posts at
    least that and writes at least the rows a bare insert writes: floor_bound() gives the
    least either can cost, so the benchmarks can say when a ratio to a bare endpoint is out of
    reach whatever the screen or the intake does."""
    from flask import redirect, render_template

    from caseapp.access import permission
    from caseapp.security.authz import SIGNED_IN

    # Compiled once, as a page's template is (render_template_string compiles at each call).
    page = app.jinja_env.from_string('{% extends "base.html" %}{% block content %}{% endblock %}')

    def floor_page():
        return render_template(page)

    def floor_post():
        return redirect("/cases/new")

    app.add_url_rule(FLOOR, "bench_floor_page", permission(SIGNED_IN)(floor_page), methods=["GET"])
    app.add_url_rule(
        FLOOR, "bench_floor_post", permission("case.write")(floor_post), methods=["POST"]
    )


def add_empty(bare) -> None:
    """The bare app's own shell: GET and POST /bare/empty (the form parsed), no database."""
    from flask import jsonify, redirect, request

    def empty_get():
        return jsonify([])

    def empty_post():
        request.form.get("unit_id")
        return redirect("/bare/empty")

    bare.add_url_rule(EMPTY, "empty_get", empty_get, methods=["GET"])
    bare.add_url_rule(EMPTY, "empty_post", empty_post, methods=["POST"])


def floor_bound(floor_ms: float, bare_ms: float, empty_ms: float) -> float:
    """The least a page (or an intake) can cost: the app's fixed part plus what the bare
    endpoint does beyond its own shell (its queries or its inserts)."""
    return floor_ms + max(0.0, bare_ms - empty_ms)


def ceiling_line(
    screen: str,
    floor_ms: float,
    bare_ms: float,
    empty_ms: float,
    target: float,
    own_sql_ms: float | None = None,
):
    """The printed ceiling of ``screen``'s ratio to its bare endpoint: the least the page can
    cost here over the bare endpoint's time. The least it can cost: the app's shell plus its
    own statements as measured (``own_sql_ms``), or what the bare endpoint does beyond its
    shell if that is less (floor_bound). The app's statements often cost less than the bare
    endpoint's (they are planned once, the bare endpoint's at each run), so the bare endpoint's
    alone would bound nothing: home once came in at 1.41x under a "ceiling" of 1.80x."""
    beyond = max(0.0, bare_ms - empty_ms)
    least = beyond if own_sql_ms is None else min(beyond, own_sql_ms)
    bound = floor_ms + least
    what = (
        f"the bare endpoint beyond its shell {beyond:.1f} ms"
        if least == beyond
        else f"its own statements {least:.1f} ms (the bare endpoint beyond its shell: "
        f"{beyond:.1f} ms)"
    )
    return (
        f"{screen}, ceiling, for information: the app's shell {floor_ms:.1f} ms (GET {FLOOR}) "
        f"+ {what} = {bound:.1f} ms: page / bare >= {bound / bare_ms:.2f}x here, whatever the "
        "rest of the page does"
        + (f" (the {target} target is out of reach)" if bound / bare_ms > target else "")
    )


def budget_line(
    screen: str,
    page_ms: float,
    bare_ms: float,
    floor_ms: float,
    own_sql_ms: float,
    target: float,
) -> str:
    """For information, after the ceiling: what the page would have to cost to meet
    ``target`` against its bare endpoint. Its time is split into the app's shell (GET
    /bench/floor: ``floor_ms``), its own statements (``own_sql_ms``, cursor to cursor) and the
    rest, its own Python and template (the view, the ORM's rows, the form, the table); the line
    says how much of the rest has to go. A proposal to restate the target rests on these
    figures, so the benchmark prints them each run."""
    allowed = target * bare_ms
    rest = page_ms - floor_ms - own_sql_ms
    left = allowed - floor_ms - own_sql_ms
    head = (
        f"{screen}, budget, for information: at {target}x the bare endpoint the page may take "
        f"{allowed:.1f} ms; it takes {page_ms:.1f}: the shell {floor_ms:.1f} "
        f"({floor_ms / bare_ms:.2f}x the whole bare endpoint), its statements {own_sql_ms:.1f}, "
        f"its own Python and template {rest:.1f}"
    )
    if page_ms <= allowed:
        return f"{head}: within, {allowed - page_ms:.1f} ms to spare"
    if left <= 0:
        return f"{head}: the shell and the statements alone take more"
    return f"{head}: those would have to fit in {left:.1f} ms ({1 - left / rest:.0%} less)"


def steadiness_line(small_ms: float, large_ms: float, threshold: float = 1.2) -> str:
    """For information, after the growth lines: the app's shell (GET /bench/floor, which reads
    nothing of the archive) at the small and the large size. Its ratio should be about 1; far
    from it, the machine was busier at one size than at the other (a checkpoint, another
    process), and the growth lines of the run say more about that than about the screens."""
    ratio = large_ms / small_ms
    verdict = (
        "the machine was as busy at both sizes"
        if 1 / threshold <= ratio <= threshold
        else "the machine was not as busy at both sizes: these growth lines are not reliable, "
        "measure again on a quiet machine"
    )
    return (
        f"steadiness, for information: the app's shell (GET {FLOOR}) {small_ms:.1f} ms at the "
        f"small size, {large_ms:.1f} ms at the large one ({ratio:.2f}x): {verdict}"
    )


def load_audit_events(conn, rows, batch: int = 10_000) -> None:
    """Rows of audit_events in caseapp.security.audit_chain.ROW_COLUMNS order, ``at`` a
    datetime, written through the driver on SQLAlchemy connection ``conn``: COPY on
    PostgreSQL, ``batch`` rows at a time on SQLite (``at`` as SQLAlchemy stores it there).
    Memory does not grow with the rows."""
    from caseapp.security.audit_chain import ROW_COLUMNS

    columns = ", ".join(ROW_COLUMNS)
    cursor = conn.connection.dbapi_connection.cursor()
    if conn.dialect.name == "postgresql":
        with cursor.copy(f"COPY audit_events ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    at = ROW_COLUMNS.index("at")
    sql = f"INSERT INTO audit_events ({columns}) VALUES ({', '.join('?' * len(ROW_COLUMNS))})"
    pending = []
    for row in rows:
        row[at] = row[at].strftime("%Y-%m-%d %H:%M:%S.%f")
        pending.append(row)
        if len(pending) == batch:
            cursor.executemany(sql, pending)
            pending.clear()
    if pending:
        cursor.executemany(sql, pending)
