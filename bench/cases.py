"""Benchmark the case list, next to a bare Flask + SQLAlchemy app (intake: bench/intake.py).

    .venv/bin/python bench/cases.py --cases 100000 [--database-url URL] [--requests 50]
        [--no-explain] [--try-index]

Fills a fresh database (SQLite file in a temp dir unless --database-url names an EMPTY one) with
a district of 20 schools and N cases bulk-inserted with SQLAlchemy Core (metadata with realistic
distributions over two years; the sealed content and data keys are shared dummy bytes, since
only metadata matters for the list). Then, through the Flask test client:

- the latency (median, p95) of GET /cases/ as a signed-in officer of the district: first page,
  filtered by violence type and status, filtered by reference prefix (q), and page 100;

each next to a bare endpoint defined here (plain Flask, SQLAlchemy Core, no sign-in, no ORM, no
template) running the same page query (same joins, scope and exclusion filter, ORDER BY,
LIMIT/OFFSET, count, then the violence types of the page). It ends with the
query plans of the app's list query (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on
PostgreSQL), compiled from caseapp.services.cases.listing itself.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import exists, func, insert, select, text  # noqa: E402

from bench import casegen  # noqa: E402
from bench.common import empty_app, seed_district, signed_in_client  # noqa: E402
from caseapp.clock import local_today
from caseapp.db import get_session, make_engine  # noqa: E402
from caseapp.models import (  # noqa: E402
    Case,
    CaseCounter,
    CaseExclusion,
    CasePerson,
    CaseViolenceType,
    Unit,
    User,
)
from caseapp.models import cases as domain  # noqa: E402
from caseapp.services.cases import listing as case_list  # noqa: E402

SCHOOLS = 20
PAGE_SIZE = 50  # settings().page_size in the testing preset
# The index the list's default order lacks (see the plans); --try-index adds it to the bench
# database only.
TRY_INDEX = "CREATE INDEX ix_bench_cases_received_id ON cases (received_on, id)"
FILTER_VIOLENCE, FILTER_STATUS = "sexual_harassment", "verifying"

# Realistic-looking weights (not statistics of any real place).
VIOLENCE_WEIGHTS = {
    "psychological": 30,
    "physical": 28,
    "cyber": 15,
    "sexual_harassment": 10,
    "neglect": 6,
    "sexual_assault": 4,
    "economic": 3,
    "rape": 2,
    "forced_marriage": 2,
}
RISK_WEIGHTS = {"low": 40, "medium": 35, "high": 20, "immediate": 5}
RECENT_STATUS = {
    "new": 15,
    "verifying": 30,
    "supporting": 25,
    "monitoring": 18,
    "closure_requested": 7,
    "closed": 5,
}
OLD_STATUS = {
    "closed": 76,
    "monitoring": 9,
    "closure_requested": 4,
    "supporting": 5,
    "verifying": 3,
    "reopened": 3,
}
AGE_WEIGHTS = {"0-5": 1, "6-10": 22, "11-14": 45, "15-17": 27, "18-24": 2, "25-59": 3}
RELATIONSHIP_WEIGHTS = {
    "pupil_peer": 60,
    "teacher": 8,
    "school_staff": 4,
    "family_member": 15,
    "intimate_partner": 4,
    "stranger": 6,
    "other": 3,
}
# Shared dummy "sealed" values of realistic sizes (version | nonce | ciphertext+tag).
_rng = random.Random(7)
DUMMY_KEY = bytes(_rng.randrange(256) for _ in range(77))
DUMMY_NARRATIVE = bytes(_rng.randrange(256) for _ in range(1029))


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def fill_cases(app, world: dict, n: int, seed: int = 1) -> float:
    """Bulk-insert ``n`` cases and their violence types with Core; returns seconds taken."""
    rng = random.Random(seed)
    today = local_today()
    school_weights = [1 / (i + 1) ** 0.6 for i in range(SCHOOLS)]
    drafts = []
    for _ in range(n):
        school = rng.choices(world["schools"], weights=school_weights)[0]
        age = int(rng.triangular(0, 730, 0))  # more recent cases than old ones
        received = today - timedelta(days=age)
        drafts.append((school, received, age))
    drafts.sort(key=lambda d: (d[0][0], d[1]))
    numbers: dict[tuple[int, int], int] = defaultdict(int)
    created = datetime.now(UTC)
    rows: list[dict] = []
    types: list[dict] = []
    people: list[dict] = []
    for case_id, ((unit_id, code), received, age) in enumerate(drafts, start=1):
        numbers[(unit_id, received.year)] += 1
        number = numbers[(unit_id, received.year)]
        risk = _pick(rng, RISK_WEIGHTS)
        harmed, perpetrators = casegen.draw_people(
            rng, lambda r: _pick(r, AGE_WEIGHTS), lambda r: _pick(r, RELATIONSHIP_WEIGHTS)
        )
        band = harmed[0]["age_band"]
        serious = band in ("0-5", "6-10", "11-14", "15-17") and rng.random() < 0.03
        kinds = {_pick(rng, VIOLENCE_WEIGHTS)}
        if rng.random() < 0.3:
            kinds.add(_pick(rng, VIOLENCE_WEIGHTS))
        at = datetime.combine(received, datetime.min.time(), UTC) + timedelta(hours=9)
        rows.append(
            {
                "id": case_id,
                "public_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "reference": f"{code}-{received.year}-{number:04d}",
                "unit_id": unit_id,
                "year": received.year,
                "number": number,
                "status": _pick(rng, RECENT_STATUS if age < 120 else OLD_STATUS),
                "received_on": received,
                "incident_on": received - timedelta(days=rng.randint(0, 14))
                if rng.random() < 0.7
                else None,
                "incident_date_approximate": rng.random() < 0.2,
                "received_via": rng.choice(domain.RECEIVED_VIA),
                "reporter_kind": rng.choice(domain.REPORTER_KINDS),
                "setting": rng.choices(domain.SETTINGS, weights=(55, 15, 10, 15, 5))[0],
                "child": any(p["child"] for p in harmed),
                "harmed_sex_group": casegen.sex_group([p["sex"] for p in harmed]),
                "risk_level": risk,
                "serious_risk_to_child": serious,
                "intervention_due_at": at + timedelta(hours=12)
                if risk == "immediate" or serious
                else None,
                "verification_due_on": received + timedelta(days=10),
                "assigned_to_id": world["focal"],
                "created_by_id": world["focal"],
                "created_at": at,
                "updated_at": created,
                "wrapped_key": DUMMY_KEY,
                "key_destroyed_at": None,
                "narrative": DUMMY_NARRATIVE,
                "version": 1,
            }
        )
        for position, facts in (("harmed", harmed), ("perpetrator", perpetrators)):
            for ordinal, fact in enumerate(facts, start=1):
                people.append(
                    casegen.person_row(
                        len(people) + 1,
                        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        case_id,
                        position,
                        ordinal,
                        at,
                        fact,
                    )
                )
        types.extend({"case_id": case_id, "type": t} for t in sorted(kinds))
    engine = app.extensions["caseapp.engine"]
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(insert(Case.__table__), rows[i : i + 5000])
        for i in range(0, len(people), 5000):
            conn.execute(insert(CasePerson.__table__), people[i : i + 5000])
        for i in range(0, len(types), 10000):
            conn.execute(insert(CaseViolenceType.__table__), types[i : i + 10000])
        conn.execute(
            insert(CaseCounter.__table__),
            [{"unit_id": u, "year": y, "last_number": last} for (u, y), last in numbers.items()],
        )
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('cases', 'id'), "
                    "(SELECT max(id) FROM cases))"
                )
            )
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('case_persons', 'id'), "
                    "(SELECT max(id) FROM case_persons))"
                )
            )
    if engine.dialect.name == "postgresql":
        # What autovacuum would do shortly after a load like this one.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - t0


# -- the bare endpoints ------------------------------------------------------------------


def bare_app(url: str, world: dict) -> Flask:
    """Plain Flask + SQLAlchemy Core on the same database (same engine settings), doing the
    same database work as the app's screens, and nothing else."""
    engine = make_engine(url)
    bare = Flask("bare")
    c, u, vt, ex = (
        Case.__table__,
        Unit.__table__,
        CaseViolenceType.__table__,
        CaseExclusion.__table__,
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
            stmt = stmt.where(c.c.reference.startswith(args["q"].strip().upper()))
        if args.get("status"):
            stmt = stmt.where(c.c.status == args["status"])
        if args.get("violence"):
            stmt = stmt.where(
                exists(
                    select(vt.c.case_id).where(
                        vt.c.case_id == c.c.id, vt.c.type == args["violence"]
                    )
                )
            )
        page = max(1, args.get("page", 1, type=int) or 1)
        with engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
            page = min(page, pages)
            rows = conn.execute(
                stmt.order_by(c.c.received_on.desc(), c.c.id.desc())
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            ).all()
            kinds = defaultdict(list)
            if rows:
                for case_id, kind in conn.execute(
                    select(vt.c.case_id, vt.c.type)
                    .where(vt.c.case_id.in_([r.id for r in rows]))
                    .order_by(vt.c.case_id, vt.c.type)
                ):
                    kinds[case_id].append(kind)
        return jsonify(
            total=total,
            page=page,
            pages=pages,
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

    bare.extensions["bench.engine"] = engine
    return bare


# -- measuring ---------------------------------------------------------------------------


def latencies(client, url: str, n: int) -> tuple[float, float]:
    """Median and p95 in milliseconds of ``n`` GETs (after two warm-up requests)."""
    for _ in range(2):
        assert client.get(url).status_code == 200, url
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * n) - 1)]


def rate(n: int, one) -> float:
    """Requests per second over ``n`` calls of ``one()`` (after two warm-up calls)."""
    one()
    one()
    t0 = time.perf_counter()
    for _ in range(n):
        one()
    return n / (time.perf_counter() - t0)


def explain(app, world: dict, ref_prefix: str) -> list[tuple[str, list[str]]]:
    """The plans of the app's own list queries, compiled from case_list.case_list()."""
    engine = app.extensions["caseapp.engine"]
    pg = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if pg else "EXPLAIN QUERY PLAN "
    out = []
    with app.app_context():
        s = get_session()
        officer = s.get(User, world["officer"])
        stmts = {
            "first page": case_list.case_list(officer, case_list.CaseFilter()).limit(PAGE_SIZE),
            f"violence={FILTER_VIOLENCE}, status={FILTER_STATUS}": case_list.case_list(
                officer, case_list.CaseFilter(violence=FILTER_VIOLENCE, status=FILTER_STATUS)
            ).limit(PAGE_SIZE),
            "page 100": case_list.case_list(officer, case_list.CaseFilter())
            .limit(PAGE_SIZE)
            .offset(99 * PAGE_SIZE),
            f"q={ref_prefix} (reference prefix)": case_list.case_list(
                officer, case_list.CaseFilter(reference=ref_prefix)
            ).limit(PAGE_SIZE),
        }
        base = case_list.case_list(officer, case_list.CaseFilter())
        stmts["count (every page)"] = select(func.count()).select_from(
            base.order_by(None).subquery()
        )
        with engine.connect() as conn:
            for label, stmt in stmts.items():
                compiled = stmt.compile(dialect=engine.dialect)
                params = compiled.params
                if compiled.positional:
                    params = tuple(params[name] for name in compiled.positiontup)
                result = conn.exec_driver_sql(prefix + str(compiled), params).all()
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
    return [("SQL of the first page (from case_list.case_list)", sql.splitlines()), *out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000)
    parser.add_argument(
        "--database-url",
        default=None,
        help="an EMPTY database (default: a SQLite file in a temp dir)",
    )
    parser.add_argument("--requests", type=int, default=50, help="GETs per list scenario")
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument(
        "--try-index",
        action="store_true",
        help=f"create {TRY_INDEX} after the fill (an experiment, not a migration)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cases-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = empty_app(url, tmp)
    assert app.extensions["caseapp.settings"].page_size == PAGE_SIZE
    engine = app.extensions["caseapp.engine"]
    world = seed_district(app, "BN", SCHOOLS)
    fill_s = fill_cases(app, world, args.cases)
    if args.try_index:
        with engine.begin() as conn:
            conn.execute(text(TRY_INDEX))
            if engine.dialect.name == "postgresql":
                conn.execute(text("ANALYZE cases"))
    bare = bare_app(url, world)

    officer = signed_in_client(app, world["officer"])
    bare_client = bare.test_client()

    n = args.requests
    ref_prefix = "BN-S07-" + str(local_today().year)
    scenarios = [
        ("list, first page", ""),
        (
            f"list, violence={FILTER_VIOLENCE} & status={FILTER_STATUS}",
            f"?violence={FILTER_VIOLENCE}&status={FILTER_STATUS}",
        ),
        (f"list, q={ref_prefix} (reference prefix)", f"?q={ref_prefix}"),
        ("list, page 100", "?page=100"),
    ]
    results = []
    for label, query in scenarios:
        app_ms = latencies(officer, f"/cases/{query}", n)
        bare_ms = latencies(bare_client, f"/bare/cases/{query}", n)
        results.append((label, app_ms, bare_ms))
    shown = bare_client.get("/bare/cases/?page=100").get_json()
    visible = shown["total"]

    extra = "   with " + TRY_INDEX.split(" ", 2)[2] if args.try_index else ""
    print(f"database  {engine.dialect.name}{extra}")
    print(
        f"cases {args.cases:,} (bulk fill {fill_s:.1f} s)   "
        f"visible to the officer {visible:,}   page {shown['page']} of {shown['pages']} "
        f"when asking for page 100"
    )
    print(f"list: median / p95 over {n} GETs\n")
    print(f"{'':50} {'app':>17} {'bare Flask+Core':>17} {'app / bare':>11}")
    for label, (a_med, a_p95), (b_med, b_p95) in results:
        print(
            f"{label:50} {a_med:6.1f} / {a_p95:6.1f} ms {b_med:6.1f} / {b_p95:6.1f} ms "
            f"{a_med / b_med:10.1f}x"
        )
    if not args.no_explain:
        for label, lines in explain(app, world, ref_prefix):
            print(f"\n-- {label}")
            for line in lines:
                print("   " + line)
    bare.extensions["bench.engine"].dispose()
    engine.dispose()


if __name__ == "__main__":
    main()
