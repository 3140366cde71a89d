"""Benchmark every screen a person can reach, for each role, at two sizes in one run: which
screens cost more as the archive grows (issue 16: every screen costs its page, not the archive).

    .venv/bin/python bench/every_screen.py --cases 10000 --large 100000 [--database-url URL]
        [--requests 10] [--threshold 1.5] [--copy]

Fills a fresh database (SQLite file in a temp dir unless --database-url names an EMPTY one)
with a ward of 20 schools and --large cases (bench/casegen.py), and a second one beside it
(created and dropped here) with --cases cases the same way. Each gets, in proportion to its
cases, what a province's archive holds besides them: five audit events a case (a mix of the
frequent actions), one exclusion from a case in fifty with the account it names
(audit_event_names), and an unread overdue notice for the ward's officer for one case in five;
one self-report from a pupil for fifty cases (sealed as the public page seals them; all but
the newest twenty decided), a request for a role waiting for its second administrator; then
the two newest cases through the intake form (casegen seals no real content).

People of every role sign in (a school's focal point and head, the ward's officer, the
province's auditor and administrator), and each one's screens are found as a person finds
them: from the home page, following every link of every page (GET, this service's own, never
signing out), up to --pages pages a role. Then (PostgreSQL) VACUUM ANALYZE, as autovacuum
would after the crawl's own writes (the report rollups are brought up to date when read, and
their rewritten rows left dead made the combined report's sum 57 ms instead of 16). Each
screen (route and role) is then measured at
both sizes side by side, each GET at one size followed by the same screen's GET at the other
(the first address found at each size: the newest case, the first school), over --requests
rounds: the median of each, the statements a GET sends at each, and their ratio. A screen
whose time grows by more than --threshold, or that sends twice the statements at the large
size (what a statement per row looks like), is named at the end. Downloads (anything not
HTML) are listed, not timed: an export costs what it is asked for. The routes no link reached
are listed too. The shells (GET /bench/floor) are measured the same way, to show how even the
machine was between the sizes.

Add a screen and it is measured here without a line more; the daily screens have their own,
closer benchmarks (bench/cases.py, bench/monitoring.py, bench/audit_trail.py, bench/reports.py).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, text  # noqa: E402

from bench import casegen, fresh_db  # noqa: E402
from bench.common import (  # noqa: E402
    FLOOR,
    PASSWORD,
    StatementLog,
    add_floor,
    alternated,
    empty_app,
    load_audit_events,
    seed_district,
    signed_in_client,
    small_beside,
    steadiness_line,
)
from caseapp.clock import local_today  # noqa: E402
from caseapp.db import get_session  # noqa: E402
from caseapp.models import (  # noqa: E402
    AuditEvent,
    AuditEventName,
    Case,
    Notification,
    Unit,
    User,
)
from caseapp.security.audit_chain import ROW_COLUMNS  # noqa: E402
from caseapp.services.accounts import users  # noqa: E402

SCHOOLS = 20
EVENTS_PER_CASE = 5
EXCLUDED_ONE_IN = 50
NOTICE_ONE_IN = 5
SELF_REPORT_ONE_IN = 50
WAITING = 20  # self-reports not yet decided (the newest)
ACTIONS = {
    "case.view_confidential": 30,
    "case.update": 20,
    "step.record": 15,
    "case.create": 10,
    "note.add": 10,
    "auth.login": 10,
    "case.transition": 5,
}
# Links a crawler must not follow: signing out, switching the language (the session's), and
# the addresses that only redirect elsewhere.
PER_SCREEN = 3  # addresses of one screen crawled for their links
NOT_FOLLOWED = re.compile(r"/(auth/)?(logout|sign-?out)|[?&]lang=|/static/|^/bench/")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


# -- the archive besides the cases --------------------------------------------------------------


def add_archive(app, world: dict) -> dict[str, int]:
    """Audit events, exclusions naming accounts and unread notices, in proportion to the cases
    (see the module's docstring). Their chain is not what this measures (dummy hashes)."""
    engine = app.extensions["caseapp.engine"]
    rng = random.Random(34)
    with engine.begin() as conn:
        cases = conn.execute(
            select(Case.id, Case.reference, Unit.id, Unit.path).join(Unit, Unit.id == Case.unit_id)
        ).all()
        first = (conn.scalar(select(func.max(AuditEvent.seq))) or 0) + 1
        end = datetime.now(UTC) - timedelta(minutes=1)
        n = len(cases) * EVENTS_PER_CASE
        step = timedelta(days=730) / max(1, n)
        actions, weights = list(ACTIONS), list(ACTIONS.values())
        names: list[dict] = []

        def rows():
            for i in range(n):
                case_id, ref, unit_id, path = cases[i // EVENTS_PER_CASE]
                actor = f"bench.{unit_id}.{rng.randrange(10)}"
                action = rng.choices(actions, weights)[0]
                changes = "{}"
                if i % (EVENTS_PER_CASE * EXCLUDED_ONE_IN) == 0:
                    action = "case.exclude"
                    # One in ten names the first school's focal point (their history).
                    person = rng.randrange(2000)
                    named = "focal.bench" if person < 200 else f"bench.person.{person}"
                    changes = json.dumps({"user": named})
                    names.append({"username": named, "seq": first + i})
                values = {
                    "seq": first + i,
                    "at": end - timedelta(days=730) + step * i,
                    "actor_id": None,
                    "actor_name": actor,
                    "actor_roles": "[]",
                    "unit_id": unit_id,
                    "unit_path": path,
                    "action": action,
                    "object_type": "cases",
                    "object_id": str(case_id),
                    "object_ref": ref,
                    "changes": changes,
                    "reason": "",
                    "request_id": "",
                    "ip": "10.0.0.1",
                    "key_id": "bench",
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                }
                yield [values[c] for c in ROW_COLUMNS]

        # The seeding's own events (the units, the people) came first, at the present: dated
        # before the archive, so that the trail is in time order as a real one is (the
        # attention page finds the window's first event by its time, then counts from it).
        _dated_before(conn, first, end - timedelta(days=731))
        load_audit_events(conn, rows())
        if names:
            conn.execute(insert(AuditEventName), names)
        notices = [
            {
                "user_id": world["officer"],
                "case_id": case_id,
                "kind": "overdue",
                "dedupe_key": f"overdue:{case_id}:bench:{world['officer']}",
                "created_at": end - timedelta(minutes=i),
            }
            for i, (case_id, *_rest) in enumerate(cases[::NOTICE_ONE_IN])
        ]
        if notices:
            conn.execute(insert(Notification), notices)
    settle(app)
    return {"audit events": n, "exclusions": len(names), "notices": len(notices)}


def settle(app) -> None:
    """PostgreSQL: what autovacuum would do after a load (dead rows gone, statistics), and
    the load's pages written out now, not by the checkpointer while screens are measured."""
    engine = app.extensions["caseapp.engine"]
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
            c.execute(text("CHECKPOINT"))


def _dated_before(conn, first: int, at: datetime) -> None:
    """The events before ``first`` dated ``at``: past the append-only triggers, in this
    transaction only (as the reseal does; the benchmark's chain is not what it measures)."""
    from sqlalchemy.orm import Session

    from caseapp.services.audit import reseal

    session = Session(bind=conn)
    reseal._lift_triggers(session)
    session.execute(AuditEvent.__table__.update().where(AuditEvent.seq < first).values(at=at))
    reseal._restore_triggers(session)


def add_people(app, world: dict) -> dict[str, int]:
    """A head of the first school, an auditor and an administrator of the province, besides the
    ward's officer and the first school's focal point (bench.common.seed_district)."""
    with app.app_context():
        s = get_session()
        school = s.get(Unit, world["school_id"])
        province = school.parent.parent
        made = {"officer": world["officer"], "focal point": world["focal"]}
        for role, unit, name in (
            ("head", school, "head.bench"),
            ("auditor", province, "auditor.bench"),
            ("admin", province, "admin.bench"),
        ):
            person, _ = users.create_user(s, None, name, name.title(), "", unit, PASSWORD)
            users.grant_role(s, None, person, role, unit)
            made[role] = person.id
        s.commit()
        return made


def add_self_reports(app, world: dict, cases: int, people: dict[str, int]) -> int:
    """Self-reports from pupils of the schools, one for every SELF_REPORT_ONE_IN cases, sealed
    as the public page seals them (a photo with the newest), most of them decided long ago;
    and a request for a role that waits for a second administrator."""
    from caseapp.services.accounts import approvals
    from tests.functional.selfreport_support import add_photo, submit_report

    n = max(1, cases // SELF_REPORT_ONE_IN)
    with app.app_context():
        s = get_session()
        schools = [s.get(Unit, unit_id) for unit_id, _code in world["schools"]]
        today = local_today()
        for i in range(n):
            report = submit_report(
                s,
                schools[i % len(schools)],
                announce=False,
                received_on=today - timedelta(days=(n - i) * 730 // n),
            )
            if i < n - WAITING:
                report.status, report.decided_at = (
                    "closed",
                    datetime.now(UTC) - timedelta(days=(n - i) * 730 // n),
                )
        add_photo(s, report)
        admin, head = s.get(User, people["admin"]), s.get(User, people["head"])
        approvals.request_grant(s, admin, head, "focal_point", schools[0], "Bench")
        s.commit()
    return n


def add_records(app, world: dict, people: dict[str, int], cases: list[str]) -> None:
    """One of each record the other screens show, through the services: an activity with its
    materials, a personal-data breach with an action, a data subject's request searched in the
    name index, a referral contact, an attachment on the newest real case (its page)."""
    import io

    from caseapp.models import Case
    from caseapp.models.units import REFERRAL_KINDS
    from caseapp.services.cases import records
    from caseapp.services.org.referrals import create_contact
    from tests import samples

    with app.app_context():
        s = get_session()
        school = s.get(Unit, world["school_id"])
        focal, officer = s.get(User, people["focal point"]), s.get(User, people["officer"])
        samples.activity(s, focal, school)
        samples.breach(s, officer)
        samples.subject_request(s, officer, school, "Phụ huynh", "Học sinh")
        create_contact(s, None, school, "Trạm Y tế xã", REFERRAL_KINDS[0], "0123456789", "")
        newest = s.scalar(select(Case).where(Case.public_id == cases[-1].rsplit("/", 1)[-1]))
        records.add_attachment(s, focal, newest, "anh.png", "image/png", io.BytesIO(samples.PNG))
        s.commit()


def add_real_cases(app, world: dict, n: int = 2) -> list[str]:
    """The newest cases recorded through the intake form, sealed under real keys (casegen's
    content is dummy bytes): the screens that open a case's content open these. Their
    addresses."""
    from tests.factories import Visitor

    with app.app_context():
        s = get_session()
        focal = Visitor(app, s, world["focal"])
        s.commit()  # its sign-in, before the intakes write (SQLite: one writer at a time)
        return [f"/cases/{focal.intake(s, world['school_id']).public_id}" for _ in range(n)]


# -- finding the screens ------------------------------------------------------------------------


def crawl(app, client, starts: list[str], limit: int) -> tuple[dict[str, str], set[str]]:
    """The first address of each screen (route) a person reaches by links from ``starts``
    (home first), and the routes that answered something else than a page (downloads)."""
    adapter = app.url_map.bind("localhost")
    screens: dict[str, str] = {}
    downloads: set[str] = set()
    fetched: Counter[str] = Counter()
    seen, queue = set(starts), deque(starts)
    while queue and fetched.total() < limit:
        url = queue.popleft()
        try:
            endpoint, _args = adapter.match(urlsplit(url).path, method="GET")
        except Exception:  # noqa: BLE001 - not a route of the service (a 404 or a redirect)
            continue
        # A few addresses a screen (each case's page leads elsewhere), not every one.
        if endpoint in downloads or fetched[endpoint] >= PER_SCREEN:
            continue
        fetched[endpoint] += 1
        response = client.get(url)
        if response.status_code != 200:
            continue
        if response.mimetype != "text/html":
            downloads.add(endpoint)
            continue
        screens.setdefault(endpoint, url)
        parser = _Links()
        parser.feed(response.get_data(as_text=True))
        for href in parser.hrefs:
            target = urljoin(url, href.split("#", 1)[0])
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not target.startswith("/"):
                continue
            if NOT_FOLLOWED.search(target) or target in seen:
                continue
            seen.add(target)
            queue.append(target)
    return screens, downloads


# -- measuring ----------------------------------------------------------------------------------


class Side:
    def __init__(self, url: str, instance: Path, size: int, use_copy: bool) -> None:
        self.app = empty_app(url, instance)
        add_floor(self.app)
        self.world = seed_district(self.app, "BN", SCHOOLS)
        self.people = add_people(self.app, self.world)
        engine = self.app.extensions["caseapp.engine"]
        t0 = time.perf_counter()
        totals, _spent = casegen.fill(
            engine,
            size,
            self.world["schools"],
            self.world["focal"],
            local_today(),
            use_copy=use_copy,
        )
        self.cases = totals.cases
        self.archive = add_archive(self.app, self.world)
        self.archive["self-reports"] = add_self_reports(self.app, self.world, size, self.people)
        # Where the crawls start: home, the real cases, the accounts of the school's people
        # (an officer above them reads their history; the exclusions name the focal point).
        real = add_real_cases(self.app, self.world)
        add_records(self.app, self.world, self.people, real)
        self.starts = [
            "/",
            *real,
            *(f"/account/people/{self.people[r]}" for r in ("focal point", "head")),
        ]
        print(
            f"database {engine.dialect.name}: {self.cases:,} cases, "
            + ", ".join(f"{n:,} {what}" for what, n in self.archive.items())
            + f" (fill {time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        # casegen's dummy content cannot be opened: the crawler's visits to its cases' content
        # answer 500 and are passed over, without their tracebacks.
        self.app.logger.disabled = True
        self.log = StatementLog(engine)
        self.clients = {
            role: signed_in_client(self.app, user_id) for role, user_id in self.people.items()
        }


def timed_get(client, url: str, log: StatementLog, counts: list[tuple[int, int]]):
    """One GET that must answer 200; adds (its statements, its page's bytes) to ``counts``."""

    def call() -> None:
        before = log.count
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts.append((log.count - before, len(response.get_data())))

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="the small size")
    parser.add_argument("--large", type=int, default=100_000, help="the large size")
    parser.add_argument("--database-url", default=None, help="an EMPTY database (large size)")
    parser.add_argument("--requests", type=int, default=10, help="GETs per screen and size")
    parser.add_argument("--pages", type=int, default=400, help="pages crawled per role")
    parser.add_argument("--threshold", type=float, default=1.5)
    parser.add_argument("--copy", action="store_true", help="PostgreSQL: load with COPY")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-screens-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    small_url, created = small_beside(url, tmp)
    sides: list[Side] = []
    try:
        for size, side_url in ((args.cases, small_url), (args.large, url)):
            instance = tmp / f"instance-{size}"
            instance.mkdir()
            sides.append(Side(side_url, instance, size, args.copy))
        small, large = sides
        rows, downloads_seen = [], set()
        shells: list[tuple[float, float]] = []
        crawled = {
            role: [crawl(side.app, side.clients[role], side.starts, args.pages) for side in sides]
            for role in small.people
        }
        # The crawl brought the report rollups up to date (they are refreshed when read):
        # vacuumed now, as autovacuum would after such a write, not measured half-dead.
        for side in sides:
            settle(side.app)
        for role, ((screens_s, down_s), (screens_l, down_l)) in crawled.items():
            downloads_seen |= {(role, e) for e in down_s | down_l}
            both = [e for e in screens_s if e in screens_l]
            print(f"{role}: {len(both)} screens", flush=True)
            for endpoint in both:
                counts: tuple[list, list] = ([], [])
                calls = [
                    timed_get(side.clients[role], screens[endpoint], side.log, spent)
                    for side, screens, spent in zip(
                        sides, (screens_s, screens_l), counts, strict=True
                    )
                ]
                (s_ms, _sp), (l_ms, _lp) = alternated(calls, args.requests)
                rows.append(
                    (
                        role,
                        endpoint,
                        screens_l[endpoint],
                        s_ms,
                        l_ms,
                        statistics.median(n for n, _b in counts[0]),
                        statistics.median(n for n, _b in counts[1]),
                        statistics.median(b for _n, b in counts[0]) / 1024,
                        statistics.median(b for _n, b in counts[1]) / 1024,
                    )
                )
            floors = alternated(
                [timed_get(side.clients[role], FLOOR, side.log, []) for side in sides],
                args.requests,
            )
            shells.append((floors[0][0], floors[1][0]))
        report(rows, downloads_seen, shells, small, large, args)
        reached = {endpoint for _role, endpoint, *_rest in rows} | {e for _r, e in downloads_seen}
        print(
            "\nnot reached by links at these sizes (for information): "
            + ", ".join(unreached(small.app, reached))
        )
    finally:
        for side in sides:
            side.app.extensions["caseapp.engine"].dispose()
        if created:
            fresh_db.drop(created)


def unreached(app, reached: set[str]) -> list[str]:
    """The service's GET routes (not the public ones, not static files) no crawl reached."""
    from caseapp.public_paths import is_public_path

    return sorted(
        {
            rule.endpoint
            for rule in app.url_map.iter_rules()
            if "GET" in (rule.methods or ())
            and rule.endpoint not in reached
            and rule.endpoint != "static"
            and not rule.endpoint.startswith("bench_")
            and not is_public_path(rule.rule)
        }
    )


def report(rows, downloads, shells, small: Side, large: Side, args) -> None:
    print(
        f"\nmedian over {args.requests} GETs at {small.cases:,} and at {large.cases:,} cases "
        "(each GET at one size followed by the same at the other); statements a GET and the "
        "page's size, at each (a page that shows more at the large size costs more for that)"
    )
    print(
        f"{'role':12} {'screen':40} {'small':>8} {'large':>8} {'ratio':>6} "
        f"{'stmts':>9} {'KB':>11}  address at the large size"
    )
    grown = []
    for role, endpoint, url, s_ms, l_ms, s_n, l_n, s_kb, l_kb in sorted(
        rows, key=lambda r: r[4] / r[3], reverse=True
    ):
        ratio = l_ms / s_ms
        flag = ""
        # The statements for information: a screen of one record (a case) is a different
        # record at each size; twice as many is what a query per row looks like.
        if ratio > args.threshold or l_n > 2 * s_n:
            flag = "  <- grows"
            grown.append((role, endpoint, ratio, s_n, l_n))
        print(
            f"{role:12} {endpoint:40} {s_ms:6.1f}ms {l_ms:6.1f}ms {ratio:5.2f}x "
            f"{s_n:>4.0f}/{l_n:<4.0f} {s_kb:5.1f}/{l_kb:<5.1f} {url}{flag}"
        )
    if downloads:
        print("\nnot timed (downloads): " + ", ".join(sorted(f"{e} ({r})" for r, e in downloads)))
    small_floor = statistics.median(s for s, _l in shells)
    large_floor = statistics.median(large_ms for _s, large_ms in shells)
    print()
    print(steadiness_line(small_floor, large_floor))
    print(
        f"{len(rows)} screens (route and role) measured; "
        f"{len(grown)} grow by more than {args.threshold}x or send twice the statements"
        + ("" if grown else ": PASS")
    )
    for role, endpoint, ratio, s_n, l_n in grown:
        print(f"  {endpoint} ({role}): {ratio:.2f}x, statements {s_n:.0f} -> {l_n:.0f}: FAIL")


if __name__ == "__main__":
    main()
