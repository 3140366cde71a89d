"""Benchmark the audit trail's screen (GET /audit/events) at two sizes in one run, next to a bare
Flask + SQLAlchemy app.

    .venv/bin/python bench/audit_trail.py --events 100000 --large 2000000 [--database-url URL]
        [--requests 30]

The auditors' screen reads the one table that grows fastest: every change, sign-in and read of
confidential content adds a row (some 10,000,000 for a province after a few years: 4.2 GB,
bench/audit_verify.py). Fills a fresh database (SQLite file in a temp dir unless
--database-url names an EMPTY one) with a ward of 20 schools, an auditor of its province, and
--large events written in bulk (COPY on PostgreSQL) over two years up to now: 95% at the
schools, the rest at the ward; 200 people, ten a school, and one who left after the first 2%
of the period; some forty actions, the frequent ones frequent, and one that stopped being
recorded after the first 2%; references of the cases of each school. A second database beside
it (created and dropped here) gets --events events the same way. Then, side by side (each GET
at one size followed by the same GET at the other), as the auditor, the latency (median, p95)
of the first page, filtered by a frequent action, by an action not recorded for a long time,
by a person at work, by a person who left long ago, by a case's reference, by a school, by one
day a year ago, and a deep page (before the middle event); each next to a bare endpoint
defined here (plain Flask, SQLAlchemy Core, no sign-in, no ORM, no template) running the same
statements: the page's events (the auditor's scope and the filter, newest first, one more
than a page) and the actions the filter offers. Prints the ratio of the large size to the
small one and of the app to the bare endpoint against the targets of issue 16 (a screen costs
its page, not the archive), with the shells (bench/common.add_floor, add_empty) and the
ceiling they put on the second ratio, as bench/cases.py does.

Then the CSV export (GET /audit/events.csv), read as it streams: a case's history side by side
at both sizes (the same few rows: an export costs its rows, not the archive), one school's
events, and the most one export carries (the newest days holding just under
audit_export_max_events), whose writing must end within half of gunicorn's worker timeout: a
download that outlasts the timeout is cut short.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from bench import fresh_db  # noqa: E402
from bench.common import (  # noqa: E402
    EMPTY,
    FLOOR,
    PASSWORD,
    add_empty,
    add_floor,
    alternated,
    ceiling_line,
    empty_app,
    get_ok,
    load_audit_events,
    small_beside,
    steadiness_line,
)
from caseapp.db import get_session, make_engine  # noqa: E402
from caseapp.models import AuditEvent, Unit  # noqa: E402
from caseapp.security.audit_chain import ROW_COLUMNS  # noqa: E402
from caseapp.services.accounts import users  # noqa: E402
from caseapp.services.audit import queries as audit_queries  # noqa: E402
from tests.factories import sign_in_client  # noqa: E402

SCHOOLS = 20
PAGE_SIZE = 50  # settings().page_size in the testing preset
TARGET = 1.5  # issue 16
SPAN = timedelta(days=730)
LEFT_AFTER = 0.02  # the person who left, the action no longer recorded: the first 2% only
# Actions and their weights (the frequent ones: reads of confidential content, updates).
ACTIONS = {
    "case.read": 40,
    "case.update": 12,
    "auth.login": 10,
    "case.step_add": 8,
    "case.note_add": 6,
    "case.transition": 5,
    "case.create": 4,
    "auth.logout": 4,
    "notification.read": 3,
    "report.export": 1,
    "activity.create": 1,
    "case.attachment_add": 1,
    "case.assign": 1,
    "user.update": 1,
}
RARE_ACTION = "case.exclude"
RARE_ACTOR = "bench.left"
HISTORY = "a case's reference"  # its scenario: some thirty events at either size
WORKER_TIMEOUT = 60  # deploy/gunicorn.conf.py: a longer download is cut short


def seed(app) -> dict:
    """The ward (bench.common.seed_district's shape) and an auditor of its province."""
    from bench.common import seed_district

    world = seed_district(app, "BN", SCHOOLS)
    with app.app_context():
        s = get_session()
        province = s.scalar(select(Unit).where(Unit.code == "BN-P"))
        auditor, _ = users.create_user(
            s, None, "auditor.bench", "Auditor Bench", "", province, PASSWORD
        )
        users.grant_role(s, None, auditor, "auditor", province)
        s.commit()
        world["auditor"] = auditor.id
        world["province_path"] = province.path
        world["units"] = {
            u.id: (u.code, u.path)
            for u in s.scalars(select(Unit).where(Unit.path.startswith(world["district_path"])))
        }
    return world


def _rows(n: int, first_seq: int, world: dict, end: datetime):
    """``n`` events in ROW_COLUMNS order, oldest first, ``at`` over SPAN up to ``end``."""
    rng = random.Random(16)
    units = world["units"]
    ward = next(uid for uid, (_c, path) in units.items() if path == world["district_path"])
    schools = [uid for uid in units if uid != ward]
    actions, weights = list(ACTIONS), list(ACTIONS.values())
    start = end - SPAN
    step = SPAN / n
    dummy = "0" * 64
    for i in range(n):
        early = i < n * LEFT_AFTER
        unit_id = ward if rng.random() < 0.05 else rng.choice(schools)
        code, path = units[unit_id]
        person = rng.randrange(10)
        actor = RARE_ACTOR if early and rng.random() < 0.05 else f"bench.{code.lower()}.{person}"
        action = RARE_ACTION if early and rng.random() < 0.01 else rng.choices(actions, weights)[0]
        case_no = rng.randrange(1, 1 + max(1, n // (30 * SCHOOLS)))
        values = {
            "seq": first_seq + i,
            "at": start + step * i,
            "actor_id": 1_000_000 + zlib.crc32(actor.encode()) % 1_000_000,
            "actor_name": actor,
            "actor_roles": f'["focal_point@{code}"]',
            "unit_id": unit_id,
            "unit_path": path,
            "action": action,
            "object_type": "cases",
            "object_id": str(case_no),
            "object_ref": f"{code}-2026-{case_no:04d}",
            "changes": "{}",
            "reason": "",
            "request_id": f"{i:016x}",
            "ip": "10.0.0.1",
            "key_id": "bench",
            "prev_hash": dummy,
            "hash": dummy,
        }
        yield [values[c] for c in ROW_COLUMNS]


def fill(engine, n: int, world: dict) -> None:
    """``n`` events after the chain the seeding wrote (their chain is not what this measures)."""
    end = datetime.now(UTC) - timedelta(minutes=1)
    with engine.begin() as conn:
        first = (conn.scalar(select(func.max(AuditEvent.seq))) or 0) + 1
        load_audit_events(conn, _rows(n, first, world, end))
    if engine.dialect.name == "postgresql":
        # What autovacuum would do after such a load, and the load's pages written out now,
        # not by the checkpointer while the screens are measured (bench/casegen.fill).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE audit_events"))
            c.execute(text("CHECKPOINT"))
    os.sync()


def scenarios(world: dict, middle: int) -> list[tuple[str, str]]:
    year_ago = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    return [
        ("first page", ""),
        ("a frequent action", "?action=case.read"),
        ("an action not recorded for long", f"?action={RARE_ACTION}"),
        ("a person at work", "?actor=bench.bn-s07.3"),
        ("a person who left long ago", f"?actor={RARE_ACTOR}"),
        ("a case's reference", "?reference=BN-S07-2026-0001"),
        ("one school", "?unit=BN-S07"),
        ("one day a year ago", f"?date_from={year_ago}&date_to={year_ago}"),
        ("deep page", f"?before={middle}"),
    ]


# -- the bare endpoint ---------------------------------------------------------------------


def bare_app(url: str, world: dict) -> Flask:
    """Plain Flask + Core on the same database: the page's statements, nothing else."""
    engine = make_engine(url)
    bare = Flask("bare")
    ev = AuditEvent.__table__
    scope, auditor = world["province_path"], world["auditor"]
    codes = {code: path for code, path in world["units"].values()}

    @bare.get("/bare/events")
    def bare_events():
        args = request.args
        stmt = select(ev).where(
            ev.c.unit_path.startswith(scope),
            (ev.c.actor_id.is_(None)) | (ev.c.actor_id != auditor),
        )
        if args.get("action"):
            stmt = stmt.where(ev.c.action == args["action"])
        if args.get("actor"):
            stmt = stmt.where(ev.c.actor_name == args["actor"])
        if args.get("reference"):
            stmt = stmt.where(ev.c.object_ref == args["reference"])
        if args.get("unit"):
            stmt = stmt.where(ev.c.unit_path.startswith(codes[args["unit"]]))
        if args.get("date_from"):
            day = datetime.fromisoformat(args["date_from"])
            # Local midnight (UTC+7) to the next.
            since = day.replace(tzinfo=UTC) - timedelta(hours=7)
            stmt = stmt.where(ev.c.at >= since, ev.c.at < since + timedelta(days=1))
        if args.get("before"):
            stmt = stmt.where(ev.c.seq < int(args["before"]))
        with engine.connect() as conn:
            rows = conn.execute(stmt.order_by(ev.c.seq.desc()).limit(PAGE_SIZE + 1)).all()
            actions = list(conn.scalars(audit_queries.known_actions_statement()))
        return jsonify(
            actions=actions,
            rows=[[r.seq, r.at.isoformat(), r.actor_name, r.action, r.object_ref] for r in rows],
        )

    add_empty(bare)
    bare.extensions["bench.engine"] = engine
    return bare


# -- measuring ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="the small size")
    parser.add_argument("--large", type=int, default=2_000_000, help="the large size")
    parser.add_argument("--database-url", default=None, help="an EMPTY database (large size)")
    parser.add_argument("--requests", type=int, default=30, help="GETs per scenario")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    small_url, created = small_beside(url, tmp)
    sides = []
    try:
        for size, side_url in ((args.events, small_url), (args.large, url)):
            instance = tmp / f"instance-{size}"
            instance.mkdir()
            app = empty_app(side_url, instance)
            add_floor(app)
            assert app.extensions["caseapp.settings"].page_size == PAGE_SIZE
            world = seed(app)
            engine = app.extensions["caseapp.engine"]
            t0 = time.perf_counter()
            fill(engine, size, world)
            with engine.connect() as conn:
                low, high = conn.execute(
                    select(func.min(AuditEvent.seq), func.max(AuditEvent.seq))
                ).one()
            print(
                f"database {engine.dialect.name}: {high:,} events "
                f"(fill {time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
            client = app.test_client()
            with app.app_context():
                s = get_session()
                sign_in_client(client, s, world["auditor"])
                s.commit()
            bare = bare_app(side_url, world)
            sides.append(
                (size, app, client, bare, bare.test_client(), scenarios(world, (low + high) // 2))
            )
        report(sides, args.requests)
        exports(sides, args.requests)
    finally:
        for _size, app, _c, bare, _b, _s in sides:
            app.extensions["caseapp.engine"].dispose()
            bare.extensions["bench.engine"].dispose()
        if created:
            fresh_db.drop(created)


def report(sides: list, n: int) -> None:
    (small, *_), (large, *_) = sides
    print(f"\nmedian / p95 over {n} GETs, as an auditor of the province")
    print(
        f"{'':40} {'at ' + format(small, ','):>17} {'at ' + format(large, ','):>17} "
        f"{'bare at large':>17}"
    )
    floors: list[float] = []
    empties: list[float] = []
    lines: list[str] = []
    for k, (label, _query) in enumerate(sides[0][5]):
        calls = []
        for _size, _app, client, _bare, bare_client, scen in sides:
            calls += [
                get_ok(client, f"/audit/events{scen[k][1]}"),
                get_ok(bare_client, f"/bare/events{scen[k][1]}"),
            ]
        times = alternated(calls, n)
        shells = alternated(
            [c for side in sides for c in (get_ok(side[2], FLOOR), get_ok(side[4], EMPTY))],
            max(10, n // 3),
        )
        floors += [shells[0][0], shells[2][0]]
        empties.append(shells[3][0])
        s_app, _s_bare, l_app, l_bare = times
        print(
            f"{label:40} {s_app[0]:6.1f} / {s_app[1]:6.1f} ms {l_app[0]:6.1f} / {l_app[1]:6.1f} ms "
            f"{l_bare[0]:6.1f} / {l_bare[1]:6.1f} ms"
        )
        growth, against = l_app[0] / s_app[0], l_app[0] / l_bare[0]
        lines.append(
            f"audit trail, {label} at {large:,} / at {small:,} <= {TARGET}: {growth:.2f}x: "
            + ("PASS" if growth <= TARGET else "FAIL")
        )
        lines.append(
            f"audit trail, {label} / bare SQL <= {TARGET} (at {large:,}): {against:.2f}x: "
            + ("PASS" if against <= TARGET else "FAIL")
        )
        lines.append(
            ceiling_line(f"audit trail, {label}", shells[2][0], l_bare[0], shells[3][0], TARGET)
        )
    print(
        f"{'shells: app GET ' + FLOOR + ', bare GET ' + EMPTY:40} "
        f"{statistics.median(floors):6.1f} ms {statistics.median(empties):17.1f} ms\n"
    )
    print(steadiness_line(statistics.median(floors[0::2]), statistics.median(floors[1::2])))
    for line in lines:
        print(line)


def _download(client, url: str) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of a CSV read as it streams, never held whole."""
    t0 = time.perf_counter()
    response = client.get(url, buffered=False)
    assert response.status_code == 200, (url, response.status_code)
    size = lines = 0
    for chunk in response.response:
        size += len(chunk)
        lines += chunk.count(b"\n")
    response.close()
    return lines - 1, size, time.perf_counter() - t0


def exports(sides: list, n: int) -> None:
    """The CSV export (GET /audit/events.csv): a case's history (the same few rows at both
    sizes, side by side over ``n`` rounds: an export costs its rows, not the archive), then
    one school's events (rows in proportion) and the most one export carries
    (audit_export_max_events: the newest days that hold fewer), each downloaded twice as it
    streams, the second counted, against the worker's time limit that would cut a longer
    download short."""
    (small, *_), (large, *_) = sides
    ceiling = sides[1][1].extensions["caseapp.settings"].audit_export_max_events
    print(f"\nCSV export, as the auditor (ceiling {ceiling:,} events)")
    history = [f"/audit/events.csv{dict(side[5])[HISTORY]}" for side in sides]
    (s_ms, s_p95), (l_ms, l_p95) = alternated(
        [get_ok(side[2], url) for side, url in zip(sides, history, strict=True)], n
    )
    rows = [_download(side[2], url)[0] for side, url in zip(sides, history, strict=True)]
    print(
        f"{HISTORY:24} at {small:,}: {rows[0]:6,} rows {s_ms:7.1f} / {s_p95:7.1f} ms   "
        f"at {large:,}: {rows[1]:6,} rows {l_ms:7.1f} / {l_p95:7.1f} ms (median / p95)"
    )
    measured: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for size, _app, client, _bare, _b, scen in sides:
        days = max(1, int(ceiling * 0.98 / (size / SPAN.days)))
        since = (datetime.now(UTC) - timedelta(days=days - 1)).date().isoformat()
        for label, query in (("one school", dict(scen)["one school"]), ("ceiling", since)):
            url = f"/audit/events.csv{query if label != 'ceiling' else '?date_from=' + query}"
            _download(client, url)
            measured[label].append(_download(client, url))
    for label, ((s_rows, _sb, s_t), (l_rows, l_bytes, l_t)) in measured.items():
        print(
            f"{label:24} at {small:,}: {s_rows:6,} rows {s_t * 1000:7.0f} ms   at {large:,}: "
            f"{l_rows:6,} rows {l_t * 1000:7.0f} ms ({l_rows / l_t:,.0f} rows/s, "
            f"{l_bytes / max(1, l_rows):.0f} bytes a row)"
        )
    growth = l_ms / s_ms
    (_r, _b, _t), (c_rows, c_bytes, c_t) = measured["ceiling"]
    for line in (
        f"audit export, {HISTORY} ({rows[1]} rows) at {large:,} / at {small:,} <= {TARGET}: "
        f"{growth:.2f}x: " + ("PASS" if growth <= TARGET else "FAIL"),
        f"audit export of {c_rows:,} events ({c_bytes / 1e6:.0f} MB) written within half the "
        f"worker timeout ({WORKER_TIMEOUT // 2} s): {c_t:.1f} s: "
        + ("PASS" if c_t <= WORKER_TIMEOUT / 2 else "FAIL"),
    ):
        print(line)


if __name__ == "__main__":
    main()
