"""Benchmark the daily screens (monitoring, my work, home) next to the bare SQL behind them.

    .venv/bin/python bench/monitoring.py --cases 100000 [--database-url URL] [--requests 30]

Fills a fresh database (SQLite file in a temp dir unless --database-url names an EMPTY one)
with a province > district > 50 schools and N cases below the district, bulk-inserted with
SQLAlchemy Core by bench/casegen.py (statuses, risk levels, received dates over two years,
verification and support due dates, 0-3 steps per case with some open follow-ups past due,
transitions, 1-2 violence types per case). Then, through the Flask test client:

- GET /monitoring as an officer of the district (per-school GROUP BY with the overdue clocks,
  the monthly trend);
- GET /work as the focal point of the busiest school (overdue, due today, new, upcoming);
- GET / as the officer (attention counts: open, urgent, overdue);

median and p95 latency over --requests GETs each, and the number of SQL statements a request
runs, next to the same figures for the bare SQL of each page (written here with SQLAlchemy
Core on a plain connection: no Flask, no ORM, no template). Then the time of the monitoring
aggregate with each overdue clock alone, and the query plans (EXPLAIN ANALYZE on PostgreSQL,
EXPLAIN QUERY PLAN on SQLite) of the app's own statements, captured as the app sent them,
with the indexes each plan uses and the tables it scans whole.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import and_, case, event, exists, extract, func, or_, select  # noqa: E402

from bench import casegen  # noqa: E402
from bench.common import empty_app, percentiles, seed_district, signed_in_client  # noqa: E402
from caseapp.clock import local_today  # noqa: E402
from caseapp.db import utcnow  # noqa: E402
from caseapp.models import Case, CaseExclusion, CaseStep, CaseTransition, Unit  # noqa: E402
from caseapp.services.cases.deadlines import (  # noqa: E402
    due_today_condition,
    overdue_condition,
    overdue_parts,
)

SCHOOLS = 50
LIMIT = 50  # caseapp.services.cases.monitoring.LIMIT


class StatementLog:
    """Counts (and, when asked, keeps) the statements sent to the database."""

    def __init__(self, engine):
        self.count = 0
        self.kept: list[tuple[str, object]] | None = None
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, parameters, _context, _many):
        self.count += 1
        if self.kept is not None:
            self.kept.append((statement, parameters))


def page_latency(
    client, url: str, n: int, warmup: int, log: StatementLog
) -> tuple[float, float, int, list]:
    """Median and p95 (ms) of ``n`` GETs after ``warmup`` ones, the statements per GET, and
    the statements (with parameters) that the first GET sent."""
    for _ in range(warmup):
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)
    times, sent = [], []
    before = log.count
    for i in range(n):
        log.kept = [] if i == 0 else None
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
        if i == 0:
            sent, log.kept = log.kept, None
    per_request = round((log.count - before) / n)
    return (*percentiles(times), per_request, sent)


def bare_latency(engine, stmts: list, n: int, warmup: int) -> tuple[float, float, list]:
    """Median and p95 (ms) of running ``stmts`` one after the other on a plain connection."""
    times, result = [], []
    for i in range(n + warmup):
        t0 = time.perf_counter()
        with engine.connect() as conn:
            result = [conn.execute(s).all() for s in stmts]
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    return (*percentiles(times), result)


# -- the bare queries, written here with Core ---------------------------------------------


def _scoped(path: str, user_id: int, *columns):
    """Cases below ``path`` that do not exclude ``user_id`` (the app's visible_cases scope)."""
    c, u, ex = Case.__table__, Unit.__table__, CaseExclusion.__table__
    return (
        select(*columns)
        .select_from(c.join(u, c.c.unit_id == u.c.id))
        .where(
            u.c.path.startswith(path),
            ~exists(select(ex.c.id).where(ex.c.case_id == c.c.id, ex.c.user_id == user_id)),
        )
    )


def _aggregate(path: str, user_id: int, overdue):
    c = Case.__table__
    open_ = c.c.status != "closed"
    return _scoped(
        path,
        user_id,
        c.c.unit_id,
        func.sum(case((open_, 1), else_=0)).label("open"),
        func.sum(case((and_(open_, overdue), 1), else_=0)).label("overdue"),
        func.sum(
            case(
                (
                    and_(
                        open_,
                        or_(c.c.risk_level.in_(("high", "immediate")), c.c.serious_risk_to_child),
                    ),
                    1,
                ),
                else_=0,
            )
        ).label("high_risk"),
        func.sum(case((and_(open_, c.c.assigned_to_id.is_(None)), 1), else_=0)).label("unassigned"),
        func.count(c.c.id).label("total"),
    ).group_by(c.c.unit_id)


def monitoring_queries(world: dict) -> list:
    c, u, tr = Case.__table__, Unit.__table__, CaseTransition.__table__
    path, user_id = world["district_path"], world["officer"]
    today = local_today()
    start = (today.replace(day=1) - timedelta(days=31 * 11)).replace(day=1)
    y, m = extract("year", c.c.received_on), extract("month", c.c.received_on)
    ty, tm = extract("year", tr.c.at), extract("month", tr.c.at)
    return [
        select(u.c.id, u.c.code, u.c.name)
        .where(u.c.path.startswith(path), u.c.kind == "school")
        .order_by(u.c.path),
        _aggregate(path, user_id, overdue_condition()),
        _scoped(path, user_id, y, m, func.count(c.c.id))
        .where(c.c.received_on >= start)
        .group_by(y, m),
        _scoped(path, user_id, ty, tm, func.count(tr.c.id))
        .join(tr, tr.c.case_id == c.c.id)
        .where(tr.c.to_status == "closed", tr.c.at >= start)
        .group_by(ty, tm),
    ]


def work_queries(world: dict) -> list:
    c, u, st = Case.__table__, Unit.__table__, CaseStep.__table__
    path, user_id = world["school_path"], world["focal"]
    today = local_today()
    cols = (
        c.c.public_id,
        c.c.reference,
        u.c.name,
        c.c.received_on,
        c.c.risk_level,
        c.c.serious_risk_to_child,
        c.c.status,
    )
    mine = _scoped(path, user_id, *cols).where(c.c.status != "closed")
    overdue = overdue_condition()
    return [
        mine.where(overdue).order_by(c.c.received_on).limit(LIMIT),
        mine.where(due_today_condition(), ~overdue).order_by(c.c.received_on).limit(LIMIT),
        mine.where(c.c.status == "new", ~overdue).order_by(c.c.received_on.desc()).limit(LIMIT),
        mine.add_columns(st.c.due_on)
        .join(st, st.c.case_id == c.c.id)
        .where(
            st.c.kind == "follow_up",
            st.c.done_on.is_(None),
            st.c.due_on >= today,
            st.c.due_on <= today + timedelta(days=14),
        )
        .order_by(st.c.due_on)
        .limit(LIMIT),
    ]


def home_queries(world: dict) -> list:
    c = Case.__table__
    return [
        _scoped(
            world["district_path"],
            world["officer"],
            func.count(c.c.id),
            func.count(case((or_(c.c.risk_level == "immediate", c.c.serious_risk_to_child), 1))),
            func.count(case((overdue_condition(), 1))),
        ).where(c.c.status != "closed")
    ]


# -- plans --------------------------------------------------------------------------------


def plan(engine, statement: str, params) -> list[str]:
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        if pg:
            conn.exec_driver_sql("SET jit = on")  # the server's default, whatever ran before
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
            return [r[0] for r in rows]
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
    depth, lines = {0: -1}, []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


def index_summary(lines: list[str]) -> str:
    text_ = "\n".join(lines)
    used = set(
        re.findall(
            r"(?:Index (?:Only )?Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) "
            r"(\w+)",
            text_,
        )
    )
    used |= set(re.findall(r"USING (?:COVERING )?INDEX (\w+)", text_))
    if "USING INTEGER PRIMARY KEY" in text_ or "PRIMARY KEY" in text_:
        used.add("(rowid primary key)")
    scans = set(re.findall(r"Seq Scan on (\w+)", text_))
    scans |= set(re.findall(r"SCAN (\w+)$", text_, re.M))
    covering = set(re.findall(r"SCAN (\w+) USING (?:COVERING )?INDEX", text_))
    scans -= covering
    return (
        f"indexes used: {', '.join(sorted(used)) or 'none'}; "
        f"whole-table scans: {', '.join(sorted(scans)) or 'none'}"
        + (f"; full index scans: {', '.join(sorted(covering))}" if covering else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000)
    parser.add_argument(
        "--database-url",
        default=None,
        help="an EMPTY database (default: a SQLite file in a temp dir)",
    )
    parser.add_argument("--requests", type=int, default=30, help="GETs per page")
    parser.add_argument("--warmup", type=int, default=2, help="GETs per page before timing")
    parser.add_argument(
        "--no-variants",
        action="store_true",
        help="skip timing the aggregate with each overdue clock alone",
    )
    parser.add_argument(
        "--sqlite-analyze",
        action="store_true",
        help="run ANALYZE after the fill on SQLite (the app never does)",
    )
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument(
        "--no-jit-off",
        action="store_true",
        help="PostgreSQL: skip timing the pages again with jit = off",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = empty_app(url, tmp)
    engine = app.extensions["caseapp.engine"]
    world = seed_district(app, "MB", SCHOOLS)
    t0 = time.perf_counter()
    totals, spent = casegen.fill(
        engine, args.cases, world["schools"], world["focal"], local_today()
    )
    fill_s = time.perf_counter() - t0
    if args.sqlite_analyze and engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()

    log = StatementLog(engine)
    officer = signed_in_client(app, world["officer"])
    focal = signed_in_client(app, world["focal"])
    n = args.requests
    pages = [
        ("GET /monitoring (officer, district)", officer, "/monitoring", monitoring_queries),
        ("GET /work (focal point, busiest school)", focal, "/work", work_queries),
        ("GET / (officer, attention counts)", officer, "/", home_queries),
    ]
    results, sent = [], {}
    for label, client, path, queries in pages:
        *app_ms, sent[path] = page_latency(client, path, n, args.warmup, log)
        stmts = queries(world)
        bare = bare_latency(engine, stmts, n, args.warmup)
        results.append((label, app_ms, bare, len(stmts)))

    # The monitoring aggregate: without the overdue column, and with each clock alone.
    path, officer_id = world["district_path"], world["officer"]
    c = Case.__table__
    variants = [
        ("GROUP BY per school, no overdue column", _aggregate(path, officer_id, c.c.id.is_(None)))
    ]
    variants += [
        (f"GROUP BY per school, overdue = clock {name!r} only", _aggregate(path, officer_id, cond))
        for name, cond in overdue_parts(utcnow()).items()
    ]
    variants.append(
        (
            "GROUP BY per school, overdue = all clocks (the app's)",
            _aggregate(path, officer_id, overdue_condition()),
        )
    )
    parts = (
        []
        if args.no_variants
        else [(label, bare_latency(engine, [stmt], max(5, n // 3), 1)) for label, stmt in variants]
    )
    pg = engine.dialect.name == "postgresql"
    if pg and not args.no_jit_off:
        # The same pages with PostgreSQL's JIT compilation off for every connection.
        casegen.jit_off(engine)
        for label, client, path, queries in pages:
            *app_ms, _sent = page_latency(client, path, n, args.warmup, log)
            stmts = queries(world)
            bare = bare_latency(engine, stmts, n, args.warmup)
            results.append((label.replace("GET", "jit=off"), app_ms, bare, len(stmts)))
    rows = results[0][2][2][1]
    school_totals = {
        k: sum(getattr(r, k) for r in rows)
        for k in ("open", "overdue", "high_risk", "unassigned", "total")
    }
    focal_cases = sum(r.total for r in rows if r.unit_id == world["schools"][0][0])

    print(
        f"database  {engine.dialect.name}   cases {totals.cases:,}   violence types "
        f"{totals.types:,}   steps {totals.steps:,}   transitions {totals.transitions:,}"
    )
    print(
        f"fill {fill_s:.1f} s (rows made in Python {spent['generate']:.1f} s, Core inserts "
        f"{spent['write']:.1f} s, VACUUM ANALYZE {spent['analyze']:.1f} s)"
        + (
            "   SQLite ANALYZE run"
            if args.sqlite_analyze and engine.dialect.name == "sqlite"
            else ""
        )
    )
    print(
        "district: "
        + ", ".join(f"{k} {v:,}" for k, v in school_totals.items())
        + f";  the focal point's school: {focal_cases:,} cases"
    )
    print(
        f"\nmedian / p95 over {n} requests after {args.warmup} warm-up ones; statements per "
        "request (app) or per page (bare)\n"
    )
    print(f"{'':42} {'app (Flask test client)':>30} {'bare SQL (Core)':>26} {'app/bare':>9}")
    for label, (a_med, a_p95, a_stmts), (b_med, b_p95, _r), b_stmts in results:
        print(
            f"{label:42} {a_med:8.1f} / {a_p95:8.1f} ms {a_stmts:3d} st  "
            f"{b_med:8.1f} / {b_p95:8.1f} ms {b_stmts:2d} st {a_med / b_med:8.1f}x"
        )
    if parts:
        print("\nmonitoring aggregate alone (bare), median / p95:")
    for label, (med, p95, _r) in parts:
        print(f"  {label:58} {med:8.1f} / {p95:8.1f} ms")

    if args.no_explain:
        return
    checks = [
        ("monitoring aggregate (monitoring.school_rows)", "/monitoring", "GROUP BY cases.unit_id"),
        ("monthly trend, closed (monitoring.monthly_trend)", "/monitoring", "case_transitions"),
        ("attention counts (case_list.attention_counts, home)", "/", "count(CASE WHEN"),
        ("my work, overdue list (monitoring.my_work)", "/work", "ORDER BY cases.received_on"),
    ]
    for label, page, marker in checks:
        found = [(st, p) for st, p in sent[page] if marker in st]
        assert found, f"no statement with {marker!r} while serving {page}"
        lines = plan(engine, *found[0])
        print(f"\n-- plan: {label}, as sent by GET {page}")
        print(f"   {index_summary(lines)}")
        for line in lines:
            print("   " + line)
    engine.dispose()


if __name__ == "__main__":
    main()
