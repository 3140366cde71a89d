"""Benchmark the case list at two sizes in one run, next to a bare Flask + SQLAlchemy app
(intake: bench/intake.py).

    .venv/bin/python bench/cases.py --cases 10000 --large 100000 [--database-url URL]
        [--requests 30] [--copy] [--no-explain]

Fills a fresh database (SQLite file in a temp dir unless --database-url names an EMPTY one)
with a district of 20 schools and --large cases written by bench/casegen.py (metadata with
realistic distributions over two years, steps and transitions; the sealed content and data keys
are shared dummy bytes, since only metadata matters for the list), and a second database beside
it (created and dropped here) with --cases cases the same way, then measures both sizes side by
side: each GET at one size is followed by the same GET at the other, so that whatever else the
machine does falls on both alike (measured one after the other, minutes apart, the same page
came out 0.83x in one run and 1.59x in the next). Measured through the Flask test client: the
latency (median, p95) of GET /cases/ as a signed-in officer of the district: first page,
filtered by violence type and status, filtered by reference prefix (q), a deep page (the one
after the 5,000th case, as "Next" links lead there; after the middle case of the small size
when it holds fewer than 10,000), and my work's "see all" lists over the district (overdue
only, due today, a follow-up in the next two weeks); each next to a bare endpoint defined here
(plain Flask, SQLAlchemy Core, no sign-in, no ORM, no template) running the same page query
(same joins, scope and exclusion filter, ORDER BY, keyset condition, LIMIT, the count capped at
500, then the violence types of the page). It prints, per scenario, the ratio of the large size
to the small one and of the app to the bare endpoint against the targets of issue 16, and ends
with the query plans of the app's list queries at the large size (EXPLAIN QUERY PLAN on SQLite,
EXPLAIN ANALYZE on PostgreSQL), compiled from caseapp.services.cases.listing itself.

With the lists, the same way: the app's shell (GET /bench/floor as the same officer: the
sign-in session, the guard, the menu's counts, the layout; no screen query) and the bare app's
(GET /bare/empty; bench/common.add_floor, add_empty). A list costs at least its shell plus what
the bare endpoint does beyond its own, so that sum bounds the ratio to the bare endpoint any
page can reach here; it is printed as the ceiling.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import exists, func, select, text, tuple_  # noqa: E402

from bench import casegen, fresh_db  # noqa: E402
from bench.common import (  # noqa: E402
    EMPTY,
    FLOOR,
    StatementLog,
    add_empty,
    add_floor,
    alternated,
    budget_line,
    ceiling_line,
    empty_app,
    get_ok,
    in_statements,
    logged_get,
    seed_district,
    signed_in_client,
    small_beside,
    steadiness_line,
)
from caseapp.clock import local_today
from caseapp.db import get_session, make_engine  # noqa: E402
from caseapp.models import (  # noqa: E402
    Case,
    CaseExclusion,
    CaseStep,
    CaseViolenceType,
    Unit,
    User,
)
from caseapp.services.cases import listing as case_list  # noqa: E402
from caseapp.services.cases.deadlines import (  # noqa: E402
    first_follow_up_of_case,
    first_step_due_today,
    follow_up_due_soon,
    overdue_condition,
    steps_due_today,
)
from caseapp.services.cases.listing import OPEN  # noqa: E402
from caseapp.services.cases.tally import CEILING  # noqa: E402

SCHOOLS = 20
PAGE_SIZE = 50  # settings().page_size in the testing preset
FILTER_VIOLENCE, FILTER_STATUS = "sexual_harassment", "verifying"
DEEP = 5_000  # the deep page starts after this case (page 100 of 50)
COUNT_SETTINGS = text(
    "SELECT set_config('enable_bitmapscan', 'off', true),"
    " set_config('enable_seqscan', 'off', true),"
    " set_config('max_parallel_workers_per_gather', '0', true)"
)
TARGET = 1.5  # issue 16: at the large size at most 1.5x the small one, and 1.5x the bare SQL

# -- the bare endpoints ------------------------------------------------------------------


def bare_app(url: str, world: dict) -> Flask:
    """Plain Flask + SQLAlchemy Core on the same database (same engine settings), doing the
    same database work as the app's screens, and nothing else."""
    engine = make_engine(url)
    bare = Flask("bare")
    c, u, vt, ex, st = (
        Case.__table__,
        Unit.__table__,
        CaseViolenceType.__table__,
        CaseExclusion.__table__,
        CaseStep.__table__,
    )
    scope, user_id = world["district_path"], world["officer"]

    @bare.get("/bare/cases/")
    def bare_list():
        stmt = (
            select(c, u)
            .select_from(c.join(u, c.c.unit_id == u.c.id))
            .where(
                u.c.path.startswith(scope),
                ~exists(select(ex.c.id).where(ex.c.case_id == c.c.id, ex.c.user_id == user_id)),
            )
        )
        args = request.args
        if args.get("q"):
            stmt = stmt.where(c.c.reference.startswith(args["q"].strip().upper(), autoescape=True))
        if args.get("status"):
            stmt = stmt.where(c.c.status == args["status"])
        if args.get("overdue"):
            stmt = stmt.where(overdue_condition())
        if args.get("violence"):
            stmt = stmt.where(
                exists(
                    select(vt.c.case_id).where(
                        vt.c.case_id == c.c.id, vt.c.type == args["violence"]
                    )
                )
            )
        counted = stmt  # the count's form of the same cases (as the app's for_count)
        keys = order = (c.c.received_on, c.c.id)
        if args.get("due") == "today":
            # One step due today per case, ordered by its copy of the day received; counted
            # from the steps alone (their copies of the case's school, status and moment).
            stmt = stmt.join(st, st.c.case_id == c.c.id).where(*first_step_due_today())
            order = (st.c.received_on, st.c.case_id)
            counted = (
                select(st.c.case_id)
                .select_from(st.join(u, st.c.unit_id == u.c.id))
                .where(
                    u.c.path.startswith(scope),
                    ~exists(
                        select(ex.c.id).where(ex.c.case_id == st.c.case_id, ex.c.user_id == user_id)
                    ),
                    *steps_due_today(),
                )
                .distinct()
                .order_by(st.c.case_id)
            )
        if args.get("due") == "fortnight":
            counted = stmt.join(st, st.c.case_id == c.c.id).where(OPEN, *first_follow_up_of_case())
            stmt = stmt.where(OPEN, follow_up_due_soon())
        with engine.connect() as conn:
            if args.get("after"):
                boundary = conn.execute(
                    stmt.with_only_columns(*keys).where(c.c.public_id == args["after"])
                ).first()
                if boundary is not None:
                    stmt = stmt.where(tuple_(*order) < tuple_(*boundary))
            rows = conn.execute(
                stmt.order_by(*(key.desc() for key in order)).limit(PAGE_SIZE + 1)
            ).all()
            more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
            kinds = defaultdict(list)
            if rows:
                for case_id, kind in conn.execute(
                    select(vt.c.case_id, vt.c.type)
                    .where(vt.c.case_id.in_([r.id for r in rows]))
                    .order_by(vt.c.case_id, vt.c.type)
                ):
                    kinds[case_id].append(kind)
            # The count last, with the planner settings of the app's counts (tally.counting):
            # the same statement planned the same way; this transaction only (the connection
            # is rolled back as it goes back to the pool).
            if conn.dialect.name == "postgresql":
                conn.execute(COUNT_SETTINGS)
            if args.get("due") != "today":
                counted = counted.with_only_columns(c.c.unit_id)
            capped = counted.limit(CEILING + 1).subquery()
            total = conn.scalar(select(func.count()).select_from(capped)) or 0
        return jsonify(
            total=min(total, CEILING),
            more=total > CEILING,
            next=rows[-1].public_id if more else None,
            rows=[
                [
                    r.reference,
                    r.name,
                    r.received_on.isoformat(),
                    kinds[r.id],
                    r.risk_level,
                    r.status,
                ]
                for r in rows
            ],
        )

    add_empty(bare)
    bare.extensions["bench.engine"] = engine
    return bare


# -- measuring ---------------------------------------------------------------------------


def explain(
    app, world: dict, ref_prefix: str, deep: str, depth: int
) -> list[tuple[str, list[str]]]:
    """The plans of the app's own list queries: the pages' from case_list.page_rows(), the
    counts' from case_list.case_list()."""
    engine = app.extensions["caseapp.engine"]
    pg = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if pg else "EXPLAIN QUERY PLAN "
    out = []
    with app.app_context():
        s = get_session()
        officer = s.get(User, world["officer"])
        stmts = {
            "first page": case_list.page_rows(officer, case_list.CaseFilter()).limit(PAGE_SIZE),
            f"violence={FILTER_VIOLENCE}, status={FILTER_STATUS}": case_list.page_rows(
                officer, case_list.CaseFilter(violence=FILTER_VIOLENCE, status=FILTER_STATUS)
            ).limit(PAGE_SIZE),
            f"q={ref_prefix} (reference prefix)": case_list.page_rows(
                officer, case_list.CaseFilter(reference=ref_prefix)
            ).limit(PAGE_SIZE),
        }
        keys = case_list.SORT_KEYS["received_desc"]
        boundary = s.execute(
            select(*(key for key, _down in keys)).where(Case.public_id == deep)
        ).one()
        stmts[f"deep page (after the {depth:,}th case)"] = (
            case_list.page_rows(officer, case_list.CaseFilter())
            .where(case_list._beyond(keys, boundary, False))
            .limit(PAGE_SIZE + 1)
        )
        for due in ("today", "fortnight"):
            flt = case_list.CaseFilter(due=due)
            stmts[f"due={due}"] = case_list.page_rows(officer, flt).limit(PAGE_SIZE)
            stmts[f"due={due}, count capped"] = select(func.count()).select_from(
                case_list.case_list(officer, flt, for_count=True)
                .with_only_columns(Case.unit_id)
                .order_by(None)
                .limit(CEILING + 1)
                .subquery()
            )
        base = case_list.case_list(officer, case_list.CaseFilter())
        stmts["count, capped (every page)"] = select(func.count()).select_from(
            base.with_only_columns(Case.unit_id).order_by(None).limit(CEILING + 1).subquery()
        )
        with engine.connect() as conn:
            for label, stmt in stmts.items():
                compiled = stmt.compile(
                    dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
                )
                params = compiled.params
                if compiled.positional:
                    params = tuple(params[name] for name in compiled.positiontup)
                if pg and "count" in label:
                    conn.execute(COUNT_SETTINGS)  # planned as the app plans its counts
                result = conn.exec_driver_sql(prefix + str(compiled), params).all()
                conn.rollback()
                if pg:
                    lines = [r[0] for r in result]
                else:
                    depth = {0: -1}
                    lines = []
                    for node, parent, _unused, detail in result:
                        depth[node] = depth.get(parent, -1) + 1
                        lines.append("  " * depth[node] + detail)
                out.append((label, lines))
        sql = str(stmts["first page"].compile(dialect=engine.dialect))
    return [("SQL of the first page (from case_list.page_rows)", sql.splitlines()), *out]


def deep_case(engine, world: dict, depth: int) -> str:
    """The public id of the visible case at ``depth`` in the list's order (the "after" of the
    page a reader reaches by following "Next" that far)."""
    c, u = Case.__table__, Unit.__table__
    with engine.connect() as conn:
        return conn.scalar(
            select(c.c.public_id)
            .select_from(c.join(u, c.c.unit_id == u.c.id))
            .where(u.c.path.startswith(world["district_path"]))
            .order_by(c.c.received_on.desc(), c.c.id.desc())
            .offset(depth - 1)
            .limit(1)
        )


def scenarios_of(ref_prefix: str, deep: str, depth: int) -> list[tuple[str, str]]:
    return [
        ("list, first page", ""),
        (
            f"list, violence={FILTER_VIOLENCE} & status={FILTER_STATUS}",
            f"?violence={FILTER_VIOLENCE}&status={FILTER_STATUS}",
        ),
        (f"list, q={ref_prefix} (reference prefix)", f"?q={ref_prefix}"),
        (f"list, deep page (after the {depth:,}th case)", f"?after={deep}"),
        # My work's "see all" links: its lists over the officer's whole district.
        ("list, overdue only", "?overdue=y"),
        ("list, due today", "?due=today"),
        ("list, a follow-up in the next two weeks", "?due=fortnight"),
    ]


def measure(sides: list[Side], n: int) -> list[tuple[dict, tuple[float, float, float]]]:
    """Per size: per list, (app median, p95), (bare median, p95), and the milliseconds a GET
    of each spends in its statements; and the two shells' medians (the app's, the bare app's)
    with the milliseconds of the app's shell in its statements, measured between the lists.
    The sizes side by side: each list's GETs at every size alternated, then the shells'
    likewise."""
    out = [({}, [], [], [0, 0.0, 0]) for _ in sides]
    for k in range(len(sides[0].scenarios)):
        calls, spent = [], []
        for side in sides:
            query = side.scenarios[k][1]
            page, bare = [0, 0.0, 0], [0, 0.0, 0]
            calls += [
                logged_get(side.officer, f"/cases/{query}", side.log, page),
                logged_get(side.bare_client, f"/bare/cases/{query}", side.bare_log, bare),
            ]
            spent.append((page, bare))
        times = alternated(calls, n)
        shells = alternated(
            [
                c
                for i, side in enumerate(sides)
                for c in (
                    logged_get(side.officer, FLOOR, side.log, out[i][3]),
                    get_ok(side.bare_client, EMPTY),
                )
            ],
            n,
        )
        for i, side in enumerate(sides):
            results, floors, empties, _shell = out[i]
            page, bare = spent[i]
            results[side.scenarios[k][0]] = (
                times[2 * i],
                times[2 * i + 1],
                (in_statements(page)[1], in_statements(bare)[1]),
            )
            floors.append(shells[2 * i][0])
            empties.append(shells[2 * i + 1][0])
    return [
        (results, (statistics.median(floors), statistics.median(empties), in_statements(shell)[1]))
        for results, floors, empties, shell in out
    ]


@dataclass
class Side:
    """One size of the run: its own database, the app and the bare app on it, signed in, and
    the statements each runs (``log``, ``bare_log``)."""

    app: Flask
    world: dict
    bare: Flask
    officer: object
    bare_client: object
    log: StatementLog
    bare_log: StatementLog
    cases: int = 0
    scenarios: list = field(default_factory=list)
    deep: str = ""


def open_side(url: str, instance: Path) -> Side:
    app = empty_app(url, instance)
    add_floor(app)
    assert app.extensions["caseapp.settings"].page_size == PAGE_SIZE
    world = seed_district(app, "BN", SCHOOLS)
    bare = bare_app(url, world)
    return Side(
        app,
        world,
        bare,
        signed_in_client(app, world["officer"]),
        bare.test_client(),
        StatementLog(app.extensions["caseapp.engine"]),
        StatementLog(bare.extensions["bench.engine"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="the small size")
    parser.add_argument(
        "--large", type=int, default=100_000, help="the large size (0: the small one only)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="an EMPTY database, for the large size; the small one gets a database of its own "
        "beside it, created and dropped here (default: SQLite files in a temp dir)",
    )
    parser.add_argument("--requests", type=int, default=30, help="GETs per list scenario")
    parser.add_argument(
        "--copy", action="store_true", help="PostgreSQL: load with COPY (faster for 1,000,000)"
    )
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cases-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    sizes = [args.cases] + ([args.large] if args.large > args.cases else [])
    urls = [url]
    created = ""
    if len(sizes) == 2:
        # The small size in a database of its own, so that both are measured side by side.
        small_url, created = small_beside(url, tmp)
        urls.insert(0, small_url)
    n = args.requests
    ref_prefix = "BN-S07-" + str(local_today().year)
    # The same depth at both sizes: the 5,000th case, or the middle of a smaller small size.
    depth = min(DEEP, max(1, args.cases // 2))
    sides = []
    try:
        for size, side_url in zip(sizes, urls, strict=True):
            instance = tmp / f"instance-{size}"
            instance.mkdir()
            side = open_side(side_url, instance)
            engine = side.app.extensions["caseapp.engine"]
            t0 = time.perf_counter()
            totals, _spent = casegen.fill(
                engine,
                size,
                side.world["schools"],
                side.world["focal"],
                local_today(),
                use_copy=args.copy,
            )
            side.cases = totals.cases
            print(
                f"database {engine.dialect.name}: {totals.cases:,} cases "
                f"(fill {time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
            side.deep = deep_case(engine, side.world, depth)
            side.scenarios = scenarios_of(ref_prefix, side.deep, depth)
            sides.append(side)
        sizes_measured = list(zip([side.cases for side in sides], measure(sides, n), strict=True))
        report(sizes_measured, n)
        if not args.no_explain:
            large = sides[-1]
            for label, lines in explain(large.app, large.world, ref_prefix, large.deep, depth):
                print(f"\n-- {label}")
                for line in lines:
                    print("   " + line)
    finally:
        for side in sides:
            side.bare.extensions["bench.engine"].dispose()
            side.app.extensions["caseapp.engine"].dispose()
        if created:
            fresh_db.drop(created)


def report(sizes: list, n: int) -> None:
    print(f"\nmedian / p95 over {n} GETs")
    for size, (results, (floor_ms, empty_ms, _shell_sql)) in sizes:
        print(f"\n{size:,} cases")
        print(f"{'':50} {'app':>17} {'bare Flask+Core':>17} {'app / bare':>11}")
        for label, ((a_med, a_p95), (b_med, b_p95), _sql) in results.items():
            print(
                f"{label:50} {a_med:6.1f} / {a_p95:6.1f} ms {b_med:6.1f} / {b_p95:6.1f} ms "
                f"{a_med / b_med:10.1f}x"
            )
        print(
            f"{'shells: app GET ' + FLOOR + ', bare GET ' + EMPTY:50} {floor_ms:6.1f} ms"
            f"{'':10} {empty_ms:6.1f} ms"
        )
    (small, (first, small_shells)), (large, (last, shells)) = sizes[0], sizes[-1]
    print()
    if large != small:
        print(steadiness_line(small_shells[0], shells[0]))
    for screen, ((a_med, _p), (b_med, _bp), (a_sql, b_sql)) in last.items():
        grow = a_med / first[screen][0][0]
        print(
            f"{screen} at {large:,} / at {small:,} <= {TARGET}: {grow:.2f}x: "
            + ("PASS" if grow <= TARGET else "FAIL")
        )
        print(
            f"{screen} / bare SQL <= {TARGET} (at {large:,}): {a_med / b_med:.2f}x: "
            + ("PASS" if a_med / b_med <= TARGET else "FAIL")
        )
        # For information: the queries alone, each side's statements timed the same way
        # (cursor to cursor): the page's less its shell's (the session, the menu), against
        # the bare endpoint's, the same queries written with Core.
        own = a_sql - shells[2]
        print(
            f"{screen}, for information: its statements {own:.1f} ms a request (the page's "
            f"{a_sql:.1f} less the shell's {shells[2]:.1f}) against the bare endpoint's "
            f"{b_sql:.1f} ms ({own / b_sql:.2f}x); the rest of the page {a_med - a_sql:.1f} ms"
        )
        print(ceiling_line(screen, shells[0], b_med, shells[1], TARGET, own))
        print(budget_line(screen, a_med, b_med, shells[0], own, TARGET))


if __name__ == "__main__":
    main()
