"""Benchmark intake (POST /cases/new: encrypt, insert, audit) next to a bare Flask + SQLAlchemy
insert.

    .venv/bin/python bench/intake.py [--database-url URL] [--intakes 200] [--rounds 3]
        [--cases 1000] [--profile] [--statements]

Fills a fresh database (SQLite file in a temp dir unless --database-url names an EMPTY one)
with a ward of 20 schools, an officer and a focal point of the first school, and ``--cases``
earlier cases (through the app's own intake, so the chain and the counters are real). Then,
through the Flask test client, the requests per second of:

- the app: POST /cases/new as the focal point, with one CSRF token fetched from the form once
  and reused for every POST (the token is bound to the session, not to the request); the
  redirect to the new case is not followed;
- the bare endpoint defined here: plain Flask, SQLAlchemy Core, no sign-in, no CSRF, no
  encryption, no audit, no ORM, no template, doing the same insert (the reference counter,
  one case row, its people and its violence type rows) and answering the same redirect;

alternated ``--rounds`` times (so that other work on the machine falls on both alike), the
best round of each counted. With them, the same way, the two shells (bench/common.add_floor,
add_empty): the app's POST /bench/floor (the same form and token: the session, the guard, the
CSRF check, a redirect; nothing written) and the bare app's POST /bare/empty (the form parsed,
a redirect). An intake costs at least the app's shell plus what the bare insert does beyond
its own, so their sum bounds the ratio the app can reach here, whatever the intake does; it is
printed as the ceiling. Also printed, for information: the full browser cycle (GET the
form, then POST), the SQL statements per request of both, and this process's CPU time per
request (the least of the rounds; on a busy machine the wall-clock figures suffer from the
waits for the CPU and the disk, the CPU time much less). After the load: the chain verifies
and the cases created equal the successful POSTs.

--profile prints the top of a cProfile of the app's POSTs (cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, redirect, request  # noqa: E402
from sqlalchemy import event, func, insert, select, update  # noqa: E402

from bench import casegen  # noqa: E402
from bench.common import (  # noqa: E402
    EMPTY,
    FLOOR,
    add_empty,
    add_floor,
    empty_app,
    floor_bound,
    seed_district,
    signed_in_client,
)
from caseapp.clock import local_today  # noqa: E402
from caseapp.db import get_session, make_engine, utcnow  # noqa: E402
from caseapp.models import Case, CaseCounter, CasePerson, CaseViolenceType  # noqa: E402
from caseapp.runtime import keyring  # noqa: E402
from caseapp.services.audit import integrity as audit_integrity  # noqa: E402

SCHOOLS = 20
TARGET = 0.5
COOKIE = "caseapp_session"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# Dummy "sealed" values of realistic sizes for the bare insert (version | nonce | ct+tag).
DUMMY_KEY = bytes(range(77))
DUMMY_NARRATIVE = bytes(i % 256 for i in range(1029))


def intake_form(unit_id: int, token: str | None = None) -> dict:
    """The intake form as a browser posts it (bench/production_drill.py posts it too)."""
    form = {
        "unit_id": str(unit_id),
        "received_on": local_today().isoformat(),
        "received_via": "phone",
        "reporter_kind": "parent_guardian",
        "setting": "in_school",
        "violence_types": ["physical", "psychological"],
        "risk_level": "medium",
        "child": "y",
        "harmed_sex": "female",
        "harmed_age_band": "11-14",
        "harmed_age_years": "12",
        "harmed_role": "pupil",
        "harmed_disability": "no",
        "harmed_ethnic_minority": "unknown",
        "perpetrator_count": "1",
        "perpetrator_sex": "male",
        "perpetrator_age_band": "11-14",
        "perpetrator_relationship": "pupil_peer",
        "harmed_name": "Nguyễn Thị Lan",
        "harmed_contact": "0912 345 678",
        "guardian_name": "Nguyễn Văn Hùng",
        "guardian_contact": "0987 654 321",
        "perpetrator_names": "Trần Văn Minh",
        "narrative": "Em bị bạn cùng lớp đánh trong giờ ra chơi. " * 20,
        "informant_name": "Cô Phạm Thu Hà",
        "informant_contact": "0901 234 567",
    }
    if token:
        form["csrf_token"] = token
    return form


def csrf_token(client, url: str) -> str:
    match = CSRF_RE.search(client.get(url).get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def bare_app(url: str, codes: dict[int, str]) -> Flask:
    """Plain Flask + SQLAlchemy Core on the same database (same engine settings), doing the
    same database work as the app's intake, and nothing else."""
    engine = make_engine(url)
    bare = Flask("bare")
    c, vt = Case.__table__, CaseViolenceType.__table__
    cc, cp = CaseCounter.__table__, CasePerson.__table__

    @bare.post("/bare/cases/new")
    def bare_new():
        form = request.form
        unit_id = int(form["unit_id"])
        received = date.fromisoformat(form["received_on"])
        public_id = str(uuid.uuid4())
        with engine.begin() as conn:
            number = conn.scalar(
                update(cc)
                .where(cc.c.unit_id == unit_id, cc.c.year == received.year)
                .values(last_number=cc.c.last_number + 1)
                .returning(cc.c.last_number)
            )
            if number is None:
                conn.execute(insert(cc).values(unit_id=unit_id, year=received.year, last_number=1))
                number = 1
            now = utcnow()
            case_id = conn.execute(
                insert(c)
                .values(
                    public_id=public_id,
                    reference=f"{codes[unit_id]}-{received.year}-{number:04d}",
                    unit_id=unit_id,
                    year=received.year,
                    number=number,
                    status="new",
                    received_on=received,
                    incident_on=None,
                    incident_date_approximate=False,
                    received_via=form["received_via"],
                    reporter_kind=form["reporter_kind"],
                    setting=form["setting"],
                    child=bool(form.get("child")),
                    harmed_sex_group=form["harmed_sex"],
                    risk_level=form["risk_level"],
                    serious_risk_to_child=False,
                    verification_due_on=received + timedelta(days=10),
                    created_at=now,
                    updated_at=now,
                    wrapped_key=DUMMY_KEY,
                    narrative=DUMMY_NARRATIVE,
                    version=1,
                )
                .returning(c.c.id)
            ).scalar_one()
            # The person harmed and the alleged perpetrators, as the intake writes them.
            harmed = {
                "sex": form["harmed_sex"],
                "age_band": form["harmed_age_band"],
                "age_years": int(form["harmed_age_years"]),
                "role": form["harmed_role"],
                "disability": form["harmed_disability"],
                "ethnic_minority": form["harmed_ethnic_minority"],
                "child": bool(form.get("child")),
            }
            perpetrator = {
                "sex": form["perpetrator_sex"],
                "age_band": form["perpetrator_age_band"],
                "relationship": form["perpetrator_relationship"],
            }
            conn.execute(
                insert(cp),
                [casegen.person_row(None, str(uuid.uuid4()), case_id, "harmed", 1, now, harmed)]
                + [
                    casegen.person_row(
                        None, str(uuid.uuid4()), case_id, "perpetrator", k, now, perpetrator
                    )
                    for k in range(1, int(form["perpetrator_count"]) + 1)
                ],
            )
            conn.execute(
                insert(vt),
                [
                    {"case_id": case_id, "type": t}
                    for t in sorted(set(form.getlist("violence_types")))
                ],
            )
        return redirect(f"/bare/cases/{public_id}")

    add_empty(bare)
    bare.extensions["bench.engine"] = engine
    return bare


class StatementCounter:
    """Counts the SQL statements an engine executes while ``on`` (and keeps their text)."""

    def __init__(self, engine) -> None:
        self.count = 0
        self.on = False
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, _params, _context, many) -> None:
        if self.on:
            self.count += 1
            text = " ".join(statement.split())
            self.seen.append(("[executemany] " if many else "") + text)

    def per_call(self, n: int, one) -> float:
        self.count, self.on, self.seen = 0, True, []
        try:
            for _ in range(n):
                one()
        finally:
            self.on = False
        return self.count / n


def rate(n: int, one, cpu: list[float] | None = None) -> float:
    """Requests per second over ``n`` calls of ``one()``; appends the CPU milliseconds of this
    process per call to ``cpu`` (the app's or the bare endpoint's work and the test client's,
    not the database server's, nor the time waiting for the disk or for the CPU)."""
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        one()
    wall = time.perf_counter() - t0
    if cpu is not None:
        cpu.append((time.process_time() - c0) / n * 1000)
    return n / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="an EMPTY database (default: a SQLite file in a temp dir)",
    )
    parser.add_argument("--intakes", type=int, default=200, help="POSTs per round and side")
    parser.add_argument("--rounds", type=int, default=3, help="app and bare alternated")
    parser.add_argument("--cases", type=int, default=200, help="earlier cases (app intake)")
    parser.add_argument("--profile", action="store_true", help="cProfile the app's POSTs")
    parser.add_argument(
        "--statements", action="store_true", help="print the SQL of one app POST, in order"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = empty_app(url, tmp)
    add_floor(app)
    engine = app.extensions["caseapp.engine"]
    world = seed_district(app, "BN", SCHOOLS)
    codes = dict(world["schools"])
    bare = bare_app(url, codes)
    focal = signed_in_client(app, world["focal"])
    bare_client = bare.test_client()
    school_id = world["schools"][0][0]
    token = csrf_token(focal, "/cases/new")
    cookie = focal.get_cookie(COOKIE)
    assert cookie is not None, "no session cookie"
    posted = {"app": 0}

    def consumed() -> None:
        """The cookie as it was before the POST: the case page the browser goes to next
        shows (and so removes) the flashed "case recorded", which would otherwise pile up
        in the cookie of a client that never follows the redirect."""
        focal.set_cookie(COOKIE, cookie.value, domain=cookie.domain, path=cookie.path)

    def app_post():
        r = focal.post("/cases/new", data=intake_form(school_id, token))
        assert r.status_code == 302, r.get_data(as_text=True)[:2000]
        posted["app"] += 1
        consumed()

    def app_cycle():
        fresh = csrf_token(focal, "/cases/new")
        r = focal.post("/cases/new", data=intake_form(school_id, fresh))
        assert r.status_code == 302, r.get_data(as_text=True)[:2000]
        posted["app"] += 1
        consumed()

    def bare_post():
        r = bare_client.post("/bare/cases/new", data=intake_form(school_id))
        assert r.status_code == 302, r.get_data(as_text=True)[:2000]

    def floor_post():
        r = focal.post(FLOOR, data=intake_form(school_id, token))
        assert r.status_code == 302, r.get_data(as_text=True)[:2000]

    def empty_post():
        r = bare_client.post(EMPTY, data=intake_form(school_id))
        assert r.status_code == 302, r.get_data(as_text=True)[:2000]

    # The app's shell checks the CSRF token like every form of the app.
    assert focal.post(FLOOR, data=intake_form(school_id)).status_code == 400

    def cases_now() -> int:
        with engine.connect() as conn:
            return conn.scalar(
                select(func.count()).select_from(Case).where(Case.created_by_id.is_not(None))
            )

    for _ in range(args.cases):  # earlier cases, and the warm-up of both sides
        app_post()
    for _ in range(max(10, args.cases // 10)):
        bare_post()
        floor_post()
        empty_post()

    app_counter = StatementCounter(engine)
    bare_counter = StatementCounter(bare.extensions["bench.engine"])
    app_statements = app_counter.per_call(20, app_post)
    one_post = app_counter.seen[: len(app_counter.seen) // 20]
    bare_statements = bare_counter.per_call(20, bare_post)

    k = args.intakes
    app_rates, bare_rates = [], []
    floor_rates, empty_rates = [], []
    app_cpu: list[float] = []
    bare_cpu: list[float] = []
    floor_cpu: list[float] = []
    empty_cpu: list[float] = []
    for _ in range(args.rounds):
        app_rates.append(rate(k, app_post, app_cpu))
        bare_rates.append(rate(k, bare_post, bare_cpu))
        floor_rates.append(rate(k, floor_post, floor_cpu))
        empty_rates.append(rate(k, empty_post, empty_cpu))
    cycle = rate(max(20, k // 4), app_cycle)
    app_rate, bare_rate = max(app_rates), max(bare_rates)
    ratio = app_rate / bare_rate
    bound = floor_bound(1000 / max(floor_rates), 1000 / bare_rate, 1000 / max(empty_rates))
    ceiling = 1000 / bare_rate / bound

    profile_text = ""
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(k):
            app_post()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        profile_text = out.getvalue()

    with app.app_context():
        report = audit_integrity.verify(get_session(), keyring())
    created = cases_now()

    print(f"database  {engine.dialect.name}")
    print(
        f"{args.cases} earlier cases; {args.rounds} rounds of {k} POSTs per side "
        "(best round counted; the test client, one process)\n"
    )
    print(f"{'':48} {'req/s':>8} {'ms/req':>8} {'CPU ms':>8} {'SQL/req':>8}   rounds (req/s)")
    for label, r, cpu, stmts, rounds in (
        (
            "app POST /cases/new (one CSRF token reused)",
            app_rate,
            min(app_cpu),
            app_statements,
            app_rates,
        ),
        ("bare Flask + Core insert", bare_rate, min(bare_cpu), bare_statements, bare_rates),
        (
            f"app's shell: POST {FLOOR} (nothing written)",
            max(floor_rates),
            min(floor_cpu),
            None,
            floor_rates,
        ),
        (f"bare shell: POST {EMPTY}", max(empty_rates), min(empty_cpu), None, empty_rates),
    ):
        each = " ".join(f"{x:.1f}" for x in rounds)
        shown = "" if stmts is None else f"{stmts:.1f}"
        print(f"{label:48} {r:8.1f} {1000 / r:8.2f} {cpu:8.2f} {shown:>8}   {each}")
    print(f"{'app GET form + POST (for information)':48} {cycle:8.1f} {1000 / cycle:8.2f}")
    print()
    print(f"audit verify after the load: {report.count} events, ok={report.ok}")
    print(f"cases created by the app: {created}, successful POSTs: {posted['app']}")
    print(
        f"intake / bare insert: {ratio:.2f} (by this process's CPU time per request: "
        f"{min(bare_cpu) / min(app_cpu):.2f})"
    )
    print(
        f"ceiling, for information: an intake costs at least the app's shell "
        f"({1000 / max(floor_rates):.2f} ms) plus what the bare insert does beyond its own "
        f"({1000 / bare_rate - 1000 / max(empty_rates):.2f} ms), {bound:.2f} ms: intake / bare "
        f"insert <= {ceiling:.2f} here, whatever the intake does"
        + (f" (the {TARGET} target is out of reach)" if ceiling < TARGET else "")
    )
    # Where the intake's time goes beyond that bound, in this process's CPU time (the least of
    # the rounds): what the intake itself does past the shell, against what the bare insert
    # does past its own, and what the target leaves for it (the rest of a request's time is
    # waiting: for the database, the disk).
    own_cpu = min(app_cpu) - min(floor_cpu)
    bare_own_cpu = min(bare_cpu) - min(empty_cpu)
    waits = max(0.0, 1000 / app_rate - min(app_cpu))
    bare_waits = max(0.0, 1000 / bare_rate - min(bare_cpu))
    at_target = 1000 / bare_rate / TARGET
    print(
        f"for information: the intake's own CPU past the shell {own_cpu:.2f} ms against the "
        f"bare insert's past its own {bare_own_cpu:.2f} ms; waits {waits:.2f} ms against "
        f"{bare_waits:.2f}. At {TARGET} the intake takes at most {at_target:.2f} ms: past the "
        f"shell's CPU ({min(floor_cpu):.2f} ms) that leaves "
        f"{at_target - min(floor_cpu) - waits:.2f} ms of CPU with the intake's waits, "
        f"{at_target - min(floor_cpu) - bare_waits:.2f} ms with the bare insert's"
    )
    checks = [
        (f"intake / bare insert >= {TARGET}", ratio >= TARGET),
        ("audit verify intact after the load", report.ok),
        ("cases created == successful POSTs", created == posted["app"]),
    ]
    for label, ok in checks:
        print(f"{label}: {'PASS' if ok else 'FAIL'}")
    if args.statements:
        print(f"\n-- the {len(one_post)} statements of one app POST (as counted in SQL/req)")
        for i, text in enumerate(one_post, 1):
            print(f"{i:3} {text[:160]}")
    if profile_text:
        print("\n-- cProfile of the app's POSTs (cumulative)\n" + profile_text)
    bare.extensions["bench.engine"].dispose()
    engine.dispose()
    return 0 if all(ok for _label, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
