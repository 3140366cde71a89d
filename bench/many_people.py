"""Benchmark the daily screens when one worker serves many people in turn, not one.

    .venv/bin/python bench/many_people.py [--database-url URL] [--cases 10000]
        [--people 1,50,200,400] [--rounds 6] [--requests 400]

The other benchmarks measure each screen as one person opening it again and again. A worker
of a province serves hundreds of people; what is kept per person or per scope (the statements
of each screen, caseapp/kept_statements.py, 200 entries a store; the statements PostgreSQL keeps
parsed and planned for a connection, which psycopg prepares the fifth time a connection runs
the same text and keeps 100 of) may then be built, parsed and planned again on every request.
The focal points of one school share the screens' statements, as the officers of the ward do,
while they are excluded from no case (services/cases/access.py).

Fills a fresh database (SQLite file in a temp dir unless --database-url names an EMPTY one)
with a ward of 20 schools and --cases cases (bench/casegen.py), as many focal points (each of
one school, in turn) and as many officers of the ward as the largest number of --people, each
signed in. Then, through the Flask test client, for each number P of --people one after the
other, each on new connections (nothing prepared) with empty stores of kept statements, as a
worker serving P people would be: --rounds warm-up rounds over the P people, then the latency
(median, p95) of --requests GETs, the next of the P people serving each, of home (GET /), my
work (GET /work) and the case list (GET /cases/) of the focal points, and of monitoring
(GET /monitoring) of the officers. (Measured side by side on one worker, the one person's
requests were slowed by the others' statements too.) Printed: the figures, each screen's
median with P people against one person's, the shell (GET /bench/floor, one person) at each P
to show whether the machine was as busy, how many statements the stores built per request,
how full they were, and (PostgreSQL) the statements the connection kept prepared and the
memory of its backend.

No target of issue 16 is measured here: it says what a worker's capacity figure (README,
Capacity) assumes about the number of people it serves.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import casegen  # noqa: E402
from bench.common import (  # noqa: E402
    FLOOR,
    PASSWORD,
    add_floor,
    empty_app,
    percentiles,
    seed_district,
    signed_in_client,
)
from caseapp.clock import local_today  # noqa: E402
from caseapp.db import get_session  # noqa: E402
from caseapp.kept_statements import KeptStatements  # noqa: E402
from caseapp.models import Unit  # noqa: E402
from caseapp.services import menu_counts  # noqa: E402
from caseapp.services.accounts import users  # noqa: E402
from caseapp.services.cases import access, listing, monitoring  # noqa: E402
from caseapp.services.privacy import requests  # noqa: E402

SCHOOLS = 20
SCREENS = [
    ("home", "focal", "/"),
    ("my work", "focal", "/work"),
    ("case list", "focal", "/cases/"),
    ("monitoring", "officer", "/monitoring"),
]


def add_people(app, world: dict, count: int) -> dict[str, list[int]]:
    """``count`` focal points (one school each, in turn) and ``count`` officers of the ward,
    the world's own first (created through the services, audited like real ones)."""
    people = {"focal": [world["focal"]], "officer": [world["officer"]]}
    with app.app_context():
        s = get_session()
        schools = [s.get(Unit, unit_id) for unit_id, _code in world["schools"]]
        ward = schools[0].parent
        for i in range(1, count):
            school = schools[i % len(schools)]
            focal, _ = users.create_user(s, None, f"focal.{i}", f"Focal {i}", "", school, PASSWORD)
            users.grant_role(s, None, focal, "focal_point", school)
            officer, _ = users.create_user(
                s, None, f"officer.{i}", f"Officer {i}", "", ward, PASSWORD
            )
            users.grant_role(s, None, officer, "officer", ward)
            people["focal"].append(focal.id)
            people["officer"].append(officer.id)
        s.commit()
    return people


# The stores of kept statements (caseapp/kept_statements.py), by name.
STORES: dict[str, KeptStatements[Any]] = {
    "access._units": access._units,
    "monitoring._work": monitoring._work,
    "monitoring._monitoring": monitoring._monitoring,
    "listing._attention": listing._attention,
    "listing._lists": listing._lists,
    "listing._cursors": listing._cursors,
    "menu_counts._statements": menu_counts._statements,
    "requests._overdue": requests._overdue,
}
BUILT = {"n": 0}


def count_builds() -> None:
    """Count the statements the stores build (a key not kept, or forgotten)."""
    for store in STORES.values():
        get = store.get

        def counted(key, build, _get=get):
            def counted_build():
                BUILT["n"] += 1
                return build()

            return _get(key, counted_build)

        store.get = counted  # type: ignore[method-assign]


def kept_fill() -> str:
    """How full each store of kept statements is, largest first."""
    stores = [(name, len(store)) for name, store in STORES.items() if len(store)]
    stores.sort(key=lambda item: -item[1])
    return ", ".join(f"{name} {size}" for name, size in stores)


def prepared_memory(engine) -> str:
    """The statements PostgreSQL keeps prepared for the app's connections, and the memory of
    their backends (pg_backend_memory_contexts: the plans kept, CachedPlan*, and in all)."""
    lines = []
    pool = engine.pool
    connections = [pool.connect() for _ in range(pool.checkedin())]
    try:
        for conn in connections:
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM pg_prepared_statements")
            prepared = cur.fetchone()[0]
            cur.execute(
                "SELECT coalesce(sum(total_bytes) FILTER (WHERE name LIKE 'CachedPlan%'), 0),"
                " sum(total_bytes) FROM pg_backend_memory_contexts"
            )
            plans, total = cur.fetchone()
            conn.rollback()
            lines.append(
                f"a connection: {prepared} statements prepared, their plans "
                f"{plans / 2**20:.1f} MB ({plans / max(prepared, 1) / 1024:.0f} KB each), the "
                f"backend's memory {total / 2**20:.1f} MB"
            )
    finally:
        for conn in connections:
            conn.close()
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="an EMPTY database")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument(
        "--people", default="1,50,200,400", help="numbers of people, one after the other"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="warm-up rounds over the P people (psycopg prepares a statement at its fifth run)",
    )
    parser.add_argument("--requests", type=int, default=400, help="measured GETs per screen and P")
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.people.split(",")})
    tmp = Path(tempfile.mkdtemp(prefix="bench-people-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = empty_app(url, tmp)
    add_floor(app)
    world = seed_district(app, "BN", SCHOOLS)
    engine = app.extensions["caseapp.engine"]
    casegen.fill(
        engine,
        args.cases,
        world["schools"],
        world["focal"],
        local_today(),
        use_copy=engine.dialect.name == "postgresql",
    )
    t0 = time.perf_counter()
    people = add_people(app, world, max(counts))
    clients = {
        kind: [signed_in_client(app, user_id) for user_id in ids] for kind, ids in people.items()
    }
    print(
        f"database {engine.dialect.name}: {args.cases:,} cases; {max(counts)} focal points "
        f"and {max(counts)} officers signed in ({time.perf_counter() - t0:.1f} s)\n"
    )
    count_builds()
    floor = clients["focal"][0]
    results: dict[str, list[tuple[float, float]]] = {screen: [] for screen, *_r in SCREENS}
    builds: dict[str, list[float]] = {screen: [] for screen, *_r in SCREENS}
    shells: list[float] = []
    after: list[str] = []
    for n in counts:
        # Each number of people on a worker of its own: new connections (nothing prepared),
        # empty stores of kept statements.
        engine.dispose()
        for store in STORES.values():
            store.clear()
        for screen, kind, path in SCREENS:
            served = clients[kind][:n]
            for _ in range(args.rounds):
                for client in served:
                    assert client.get(path).status_code == 200, (screen, path)
            spent: list[float] = []
            built = 0
            for k in range(args.requests):
                before = BUILT["n"]
                started = time.perf_counter()
                response = served[k % n].get(path)
                spent.append((time.perf_counter() - started) * 1000)
                built += BUILT["n"] - before
                assert response.status_code == 200, (screen, path, response.status_code)
            results[screen].append(percentiles(spent))
            builds[screen].append(built / args.requests)
        shell: list[float] = []
        for _ in range(args.requests):
            started = time.perf_counter()
            assert floor.get(FLOOR).status_code == 200
            shell.append((time.perf_counter() - started) * 1000)
        shells.append(percentiles(shell)[0])
        memory = prepared_memory(engine) if engine.dialect.name == "postgresql" else ""
        after.append(
            f"{n} people: kept statements {kept_fill()}" + (f"; {memory}" if memory else "")
        )
    header = "".join(f"{f'{n} people':>20}" for n in counts)
    print(f"median / p95, ms{header}")
    for screen, kind, path in SCREENS:
        cells = "".join(f"{f'{m:.1f} / {p:.1f}':>20}" for m, p in results[screen])
        print(f"{screen + ' (' + kind + ', GET ' + path + ')':<40}{cells}")
    cells = "".join(f"{f'{m:.1f}':>20}" for m in shells)
    print(f"{'the shell (GET ' + FLOOR + ', one person)':<40}{cells}")
    print(
        "\n(one number of people after the other, each on new connections: the shell's line "
        "says whether the machine was as busy for each)\n"
    )
    for screen, *_rest in SCREENS:
        one = results[screen][0][0]
        ratios = ", ".join(
            f"{n} people {m / one:.2f}x"
            for n, (m, _p) in zip(counts[1:], results[screen][1:], strict=True)
        )
        print(f"{screen}, median against one person's: {ratios}")
    print()
    for screen, *_rest in SCREENS:
        per = ", ".join(f"{n} people {b:.2f}" for n, b in zip(counts, builds[screen], strict=True))
        print(f"{screen}, statements built per request: {per}")
    print()
    for line in after:
        print(line)
    engine.dispose()


if __name__ == "__main__":
    main()
