"""The production drill of issue 9, re-measured: what must stay true of gunicorn + the database.

    .venv/bin/python bench/production_drill.py [--database-url URL] [--restart-postgres]
        [--seconds 15] [--clients 8] [--rounds 3] [--keep-logs DIR] [--scale-only]

Runs the service as deploy/ ships it (gunicorn with deploy/gunicorn.conf.py, CASEAPP_ENV=
production, a fresh keyring of mode 0600, an attachments folder, JSON logs, metrics) on a
database of its own: with --database-url (PostgreSQL) it creates caseapp_drill_<random> on that
server (the URL's own database is only used to create and drop it, so an empty one does) and
drops it at the end; without, a SQLite file in a temp dir. A school and its focal point per
client are seeded through the services; each client signs in through the real forms (password,
then a TOTP code), fetches the "new case" form once and then posts it again and again (its
CSRF token is bound to the session, so one token serves every post; the redirect is not
followed).

The clients talk plain HTTP straight to gunicorn, with the headers nginx sets
(deploy/nginx/caseapp.conf: Host, X-Forwarded-For, X-Forwarded-Proto: https, X-Request-Id)
and the Origin and Referer a browser sends: the app sees what it sees behind nginx, Flask-WTF's
HTTPS Referer check included, while nginx and TLS take no CPU from the workers on a small
machine.

1. Intake throughput of 1, 2 and 4 sync workers (target: 2 workers >= 1.6x one worker; the
   earlier drill measured 1.73x on 2 cores; 4 workers printed, no target). The services run
   side by side and are loaded in turn, --rounds times each, so that other work on the
   machine falls on all alike; the CPU taken by the workers, the clients, PostgreSQL and
   anything else is printed, with a warning when something else took a noticeable share.
   Zero errors, cases created == successful POSTs (the very same cases), `flask --app wsgi
   audit verify` exits 0. Then, on PostgreSQL, the audit chain's serialisation: every
   intake appends to the one hash chain under one advisory lock (services/audit/trail.py),
   held from the read of the chain's head to the commit. pg_locks is sampled during a load of
   the 2- and the 4-worker service: the share of the time the lock is held, and (Little's
   law) the time it is held and waited for per request, so the rate the chain alone would
   allow (1 / hold) stands next to the measured one. Targets: with 2 workers (one per core
   on 2 cores) the lock held at most half the time, so the chain alone would allow at least
   twice what the workers do; with 4 workers, where the limit is: the cores when the machine
   is busy (85% of its cores or more) and the lock is free part of the time (held under 90%
   of it: a serial step that limits a load is held all the time). With more workers than
   cores a holder waits for a core too, so the lock's share there measures the cores as
   much as the chain (54-60% measured with 4 workers on 2 cores). --scale-only stops here.
2. kill -9 of one worker a third of the way into the load: every acknowledged POST (a 302 to
   its case) has its case in the database, the arbiter starts a new worker, the service
   answers again, audit verify exits 0.
3. Only with --restart-postgres (it restarts the WHOLE PostgreSQL cluster, every database of
   every user of it): the cluster restarted a third of the way into the load; the same checks
   (the workers' pools must recover by themselves: pool_pre_ping). PostgreSQL is checked to
   be running again at the end, and started if it is not.
4. Resident memory (VmRSS) of each worker after the load (target <= 150 MB; ~92 MB earlier).

A POST that fails is shown by kind: "HTTP 500" is the app's error page, "HTTP 500 (gunicorn's
bare page)" means the app's own error handling failed too, RemoteDisconnected a worker that
died mid-request. ERROR lines of the service's log are summarised per phase. Prints a figure
per line and PASS/FAIL per target; exits 1 when a target fails. Every process it started and
its database are gone when it ends (Ctrl-C included).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.intake import intake_form  # noqa: E402 - the form bench/intake.py posts
from tests.browser.production_stack import (  # noqa: E402
    HOST,
    ROOT,
    free_port,
    new_secret,
    production_environ,
    start_gunicorn,
    stop,
    tail,
)

RATIO_TARGET = 1.6
CHAIN_BUSY_TARGET = 0.5  # the chain lock's share of the time with one worker per core, at most
# With more workers than cores: below this share the lock is free part of the time, so it is
# not what limits the load (a serial step that does is held all the time).
CHAIN_SATURATED = 0.9
SAMPLE_SECONDS = 0.005  # pg_locks sampling period
RSS_TARGET_MB = 150.0
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CASE_PATH_RE = re.compile(r"^/cases/([0-9A-Za-z-]{8,})$")
COOKIE = "caseapp_session"
START_SECONDS = 60
WARM_UP_SECONDS = 3.0
OTHER_LOAD_WARNING = 0.15  # of one core, taken by processes that are not the drill's
REQUEST_TIMEOUT = 90  # longer than gunicorn's timeout (60 s): gunicorn, not the client, gives up


# -- figures ------------------------------------------------------------------------------

CHECKS: list[tuple[str, bool]] = []


def figure(label: str, value: str, target: str | None = None, ok: bool | None = None) -> None:
    line = f"{label:<58} {value}"
    if target is not None:
        line += f"   target {target}: {'PASS' if ok else 'FAIL'}"
        CHECKS.append((label, bool(ok)))
    print(line, flush=True)


def note(line: str) -> None:
    print(f"  {line}", flush=True)


# -- the database ---------------------------------------------------------------------------


def _psycopg(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@dataclass
class Database:
    """The drill's own database: on the server of ``admin_url``, or a SQLite file."""

    url: str
    admin_url: str | None = None
    name: str | None = None

    @classmethod
    def make(cls, given: str | None, tmp: Path) -> Database:
        if not given:
            return cls(f"sqlite:///{tmp / 'drill.sqlite3'}")
        admin = _psycopg(given)
        if not admin.startswith("postgresql"):
            sys.exit("--database-url must name a PostgreSQL server (or leave it out: SQLite)")
        name = f"caseapp_drill_{uuid.uuid4().hex[:10]}"
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return cls(url, admin, name)

    @property
    def postgres(self) -> bool:
        return self.admin_url is not None

    def drop(self) -> None:
        if not self.postgres:
            return
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            engine.dispose()


def wait_for_postgres(admin_url: str, seconds: float) -> float | None:
    """The monotonic time at which PostgreSQL accepted a query again, or None."""
    engine = create_engine(admin_url, poolclass=_null_pool())
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return time.monotonic()
            except Exception:  # noqa: BLE001 - starting up, refusing: try again
                time.sleep(0.1)
        return None
    finally:
        engine.dispose()


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool


def seed(url: str, keyring_path: Path, instance: Path, clients: int) -> list[tuple]:
    """A province, a commune and one school per client, each with its focal point, written
    through the services by a testing app on the same database and keyring (production does not
    seed).
    Returns (Person, school id) pairs."""
    from caseapp import create_app
    from caseapp.db import get_session
    from caseapp.runtime import keyring
    from config import load_settings
    from tests.factories import make_unit, make_user

    settings = load_settings(
        "testing",
        environ={
            "CASEAPP_INSTANCE": str(instance),
            "CASEAPP_TEST_DB": url,
            "CASEAPP_KEYRING": str(keyring_path),
        },
    )
    app = create_app(settings)
    try:
        with app.app_context():
            s = get_session()
            province = make_unit(s, None, "DR-P", "province", "Sở Giáo dục tỉnh Diễn Tập")
            # Lower-secondary schools belong to a commune (the two-tier organisation).
            commune = make_unit(s, province, "DR-C", "commune", "Ủy ban nhân dân xã Diễn Tập")
            people = []
            for i in range(1, clients + 1):
                school = make_unit(
                    s, commune, f"DR-S{i:02d}", "school", f"Trường THCS Diễn Tập số {i}"
                )
                person = make_user(
                    s, keyring(), f"focal.drill{i:02d}", school, [("focal_point", school)]
                )
                people.append((person, school.id))
            s.commit()
    finally:
        app.extensions["caseapp.engine"].dispose()
    return people


# -- the service ----------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _postgres_pids() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _machine() -> tuple[float, float]:
    """(busy, all) CPU seconds of the machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICK, sum(values) / TICK


@dataclass
class CpuUse:
    """CPU seconds over some wall time: the workers, this process (the clients), PostgreSQL
    (every process of the server, other users' too), and anything else on the machine."""

    wall: float = 0.0
    workers: float = 0.0
    clients: float = 0.0
    postgres: float = 0.0
    machine: float = 0.0
    cores: float = 0.0

    @property
    def others(self) -> float:
        """Of one core, on average."""
        used = self.workers + self.clients + self.postgres
        return max(0.0, self.machine - used) / self.wall if self.wall else 0.0

    def add(self, other: CpuUse) -> None:
        for name in ("wall", "workers", "clients", "postgres", "machine", "cores"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def line(self) -> str:
        def pct(seconds: float) -> str:
            return f"{100 * seconds / self.wall:.0f}%"

        return (
            f"workers {pct(self.workers)}, clients (this process) {pct(self.clients)}, "
            f"PostgreSQL {pct(self.postgres)}, anything else {100 * self.others:.0f}%; "
            f"whole machine {pct(self.machine)} of {pct(self.cores)}"
        )


class CpuMeter:
    """Start it, then ``read()`` what was used since."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.workers = {pid: _cpu_seconds(pid) for pid in service.workers()}
        self.postgres = {pid: _cpu_seconds(pid) for pid in _postgres_pids()}
        times = os.times()
        self.own = times.user + times.system
        self.machine = _machine()
        self.t0 = time.monotonic()

    def read(self) -> CpuUse:
        pids = set(self.workers) | set(self.service.workers())
        times = os.times()
        busy, total = _machine()
        return CpuUse(
            wall=time.monotonic() - self.t0,
            workers=sum(_cpu_seconds(p) - self.workers.get(p, 0.0) for p in pids),
            clients=times.user + times.system - self.own,
            postgres=sum(_cpu_seconds(p) - self.postgres.get(p, 0.0) for p in _postgres_pids()),
            machine=busy - self.machine[0],
            cores=total - self.machine[1],
        )


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Service:
    """gunicorn as deploy/caseapp.service starts it, with ``workers`` sync workers."""

    env: dict[str, str]
    port: int
    log: Path
    workers_wanted: int
    process: subprocess.Popen | None = None
    seen_workers: set[int] = field(default_factory=set)

    def start(self) -> None:
        env = dict(
            self.env, CASEAPP_WORKERS=str(self.workers_wanted), CASEAPP_BIND=f"{HOST}:{self.port}"
        )
        self.process = start_gunicorn(env, self.log)
        deadline = time.monotonic() + START_SECONDS
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.process.returncode} before "
                    f"serving\n{tail(self.log)}"
                )
            try:
                status, _, body = call(self.port, "GET", "/healthz")
                last = f"{status} {body[:200]!r}"
                if status == 200 and len(self.workers()) == self.workers_wanted:
                    return
            except (OSError, http.client.HTTPException) as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise RuntimeError(
            f"gunicorn did not answer /healthz 200 with {self.workers_wanted} "
            f"workers within {START_SECONDS} s (last: {last})\n{tail(self.log)}"
        )

    def workers(self) -> list[int]:
        """The live (not zombie) children of the gunicorn master."""
        if self.process is None:
            return []
        master = self.process.pid
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _stat(int(entry))
                if stat and stat[1] == master and stat[0] != "Z":
                    found.append(int(entry))
        self.seen_workers.update(found)
        return sorted(found)

    def stop(self) -> None:
        if self.process is None:
            return
        self.workers()
        stop(self.process)  # SIGTERM: graceful; the master waits for its workers
        # A worker orphaned by a master that had to be killed: only pids that were children
        # of this master, and only while they still run the same program.
        for pid in sorted(self.seen_workers):
            stat = _stat(pid)
            if stat and stat[0] != "Z" and _cmdline(pid) == self.process.args:
                os.kill(pid, signal.SIGKILL)
        self.process = None

    def log_offset(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def error_lines(self, since: int) -> list[str]:
        """Log lines of level ERROR or CRITICAL (app and gunicorn) written after ``since``."""
        if not self.log.exists():
            return []
        with self.log.open("rb") as handle:
            handle.seek(since)
            text_ = handle.read().decode("utf-8", errors="replace")
        return [
            line
            for line in text_.splitlines()
            if '"level": "ERROR"' in line or '"level": "CRITICAL"' in line
        ]


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


# -- the clients ----------------------------------------------------------------------------


def call(
    port: int,
    method: str,
    path: str,
    body: str | None = None,
    cookies: dict[str, str] | None = None,
    referer: str | None = None,
):
    """One request straight to gunicorn with the headers nginx would add; (status, headers,
    body text). gunicorn's sync workers close every connection, so one connection each."""
    origin = f"https://{HOST}:{port}"
    headers = {
        "Host": f"{HOST}:{port}",
        "X-Forwarded-For": HOST,
        "X-Forwarded-Proto": "https",
        "X-Request-Id": uuid.uuid4().hex,
        "User-Agent": "caseapp-production-drill",
        "Accept-Language": "vi",
    }
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Origin"] = origin
        headers["Referer"] = origin + (referer or path)
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(
            method, path, body=body.encode() if body is not None else None, headers=headers
        )
        response = conn.getresponse()
        data = response.read().decode("utf-8", errors="replace")
        return response.status, response.headers, data
    finally:
        conn.close()


def _path(location: str | None) -> str:
    return urlsplit(location or "").path


@dataclass
class Outcome:
    start: float
    end: float
    status: int | None  # None: no HTTP answer
    error: str  # "" on success
    public_id: str | None  # the acknowledged case

    @property
    def ok(self) -> bool:
        return self.public_id is not None

    @property
    def kind(self) -> str:
        return "302" if self.ok else self.error


class Client:
    """A focal point in a browser: signs in through the forms, then records cases."""

    def __init__(self, person, school_id: int) -> None:
        self.person = person
        self.school_id = school_id
        self.cookies: dict[str, str] = {}
        self.form: str = ""

    def _request(self, port, method, path, form=None, keep_cookies=True, referer=None):
        body = urlencode(form, doseq=True) if isinstance(form, dict) else form
        status, headers, data = call(port, method, path, body, self.cookies, referer)
        if keep_cookies:
            for header in headers.get_all("Set-Cookie") or ():
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                lowered = header.lower()
                if not value or "max-age=0" in lowered or "1970" in lowered:
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
        return status, headers, data

    def _token(self, port, path) -> str:
        status, _, data = self._request(port, "GET", path)
        match = CSRF_RE.search(data)
        if status != 200 or not match:
            raise RuntimeError(f"GET {path} as {self.person.username}: {status}, no form")
        return match.group(1)

    def sign_in(self, port: int) -> None:
        from caseapp.security import totp

        token = self._token(port, "/login")
        status, headers, _ = self._request(
            port,
            "POST",
            "/login",
            {
                "username": self.person.username,
                "password": self.person.password,
                "csrf_token": token,
            },
        )
        if status not in (302, 303) or _path(headers.get("Location")) != "/login/2fa":
            raise RuntimeError(f"password step of {self.person.username}: {status}")
        token = self._token(port, "/login/2fa")
        # Fresh accounts: any code of the current step (or the one before) is accepted.
        code = totp.code_at(self.person.totp_secret, totp.current_counter())
        status, headers, _ = self._request(
            port, "POST", "/login/2fa", {"code": code, "csrf_token": token}
        )
        if status not in (302, 303) or _path(headers.get("Location")) != "/":
            raise RuntimeError(f"code step of {self.person.username}: {status}")
        if COOKIE not in self.cookies:
            raise RuntimeError(f"no {COOKIE} cookie after signing in {self.person.username}")
        token = self._token(port, "/cases/new")
        self.form = urlencode(intake_form(self.school_id, token), doseq=True)

    def record_case(self, port: int) -> Outcome:
        """POST /cases/new. The cookie is kept as it was after sign-in: the redirect (and its
        flashed message) is not followed."""
        t0 = time.monotonic()
        try:
            status, headers, _ = self._request(
                port, "POST", "/cases/new", self.form, keep_cookies=False
            )
        except (OSError, http.client.HTTPException) as exc:
            return Outcome(t0, time.monotonic(), None, type(exc).__name__, None)
        t1 = time.monotonic()
        match = CASE_PATH_RE.match(_path(headers.get("Location")))
        if status in (302, 303) and match and match.group(1) != "new":
            return Outcome(t0, t1, status, "", match.group(1))
        # The app's pages carry X-Request-Id; an answer without it is gunicorn's own (the
        # app's error handling itself failed).
        page = "" if headers.get("X-Request-Id") else " (gunicorn's bare page)"
        return Outcome(t0, t1, status, f"HTTP {status}{page}", None)


@dataclass
class Event:
    """A disruption during the load: when it began, when the service was whole again."""

    what: str
    started: float
    recovered: float | None
    details: list[str] = field(default_factory=list)


def run_load(
    port: int,
    clients: list[Client],
    seconds: float,
    event: Callable[[], Event] | None = None,
    event_after: float = 0.0,
) -> tuple[list[Outcome], float, Event | None]:
    """Every client posts cases in a loop for ``seconds``; ``event`` runs ``event_after``
    seconds in. Returns the outcomes (by start time), the wall time and the event."""
    results: list[list[Outcome]] = [[] for _ in clients]
    t0 = time.monotonic()
    deadline = t0 + seconds

    def work(i: int, client: Client) -> None:
        while time.monotonic() < deadline:
            results[i].append(client.record_case(port))

    threads = [
        threading.Thread(target=work, args=(i, c), daemon=True) for i, c in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    happened = None
    if event is not None:
        time.sleep(max(0.0, t0 + event_after - time.monotonic()))
        happened = event()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - t0
    outcomes = sorted((o for part in results for o in part), key=lambda o: o.start)
    return outcomes, wall, happened


# -- checks ---------------------------------------------------------------------------------


def case_ids(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT public_id FROM cases")).scalars())


def flask_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    flask = Path(sys.executable).with_name("flask")
    command = [str(flask)] if flask.exists() else [sys.executable, "-m", "flask"]
    return subprocess.run(
        [*command, "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def check_audit(env: dict[str, str], label: str) -> None:
    done = flask_command(env, "audit", "verify")
    said = (done.stdout.strip() or done.stderr.strip()).splitlines()
    figure(f"{label}: audit verify exit code", f"{done.returncode}", "0", done.returncode == 0)
    if said:
        note(said[-1][:200])
    if done.returncode != 0:
        note(done.stderr.strip()[-2000:])


def latency(outcomes: list[Outcome]) -> str:
    times = sorted((o.end - o.start) * 1000 for o in outcomes if o.ok)
    if not times:
        return "-"
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    return f"median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms"


@dataclass
class Intake:
    """What one service did over the rounds of the intake phase."""

    label: str
    service: Service
    outcomes: list[Outcome] = field(default_factory=list)
    wall: float = 0.0
    cpu: CpuUse = field(default_factory=CpuUse)
    created: set[str] = field(default_factory=set)
    log_offset: int = 0

    @property
    def rate(self) -> float:
        return sum(o.ok for o in self.outcomes) / self.wall


def intake_phase(
    services: list[tuple[str, Service]], clients: list[Client], engine, seconds: float, rounds: int
) -> list[Intake]:
    """Load each service in turn, ``rounds`` times, ``seconds / rounds`` each time (so that a
    burst of other work on the machine falls on all of them alike), after a warm-up of each
    (the workers import, connect and fill their caches); prints the figures of each."""
    runs = [Intake(label, service) for label, service in services]
    for run in runs:
        run_load(run.service.port, clients, WARM_UP_SECONDS)
        run.log_offset = run.service.log_offset()
    for _ in range(rounds):
        for run in runs:
            before = case_ids(engine)
            meter = CpuMeter(run.service)
            outcomes, wall, _ = run_load(run.service.port, clients, seconds / rounds)
            run.cpu.add(meter.read())
            run.outcomes += outcomes
            run.wall += wall
            run.created |= case_ids(engine) - before
    for run in runs:
        ok = [o for o in run.outcomes if o.ok]
        errors = Counter(o.kind for o in run.outcomes if not o.ok)
        label = run.label
        figure(
            f"{label}: intake",
            f"{run.rate:.1f} req/s ({len(ok)} POSTs in {run.wall:.1f} s; {latency(run.outcomes)})",
        )
        figure(f"{label}: CPU (100% = one core)", run.cpu.line())
        if run.cpu.others > OTHER_LOAD_WARNING:
            note(
                f"WARNING: other processes took {100 * run.cpu.others:.0f}% of a core on "
                "average meanwhile: not the figures of a quiet machine"
            )
        figure(
            f"{label}: errors",
            f"{sum(errors.values())} {dict(errors) or ''}".strip(),
            "0",
            not errors,
        )
        acknowledged = {o.public_id for o in ok}
        figure(
            f"{label}: cases created == successful POSTs",
            f"{len(run.created)} == {len(ok)}",
            "equal, same cases",
            len(run.created) == len(ok) and run.created == acknowledged,
        )
        logged = run.service.error_lines(run.log_offset)
        figure(f"{label}: ERROR lines in the gunicorn/app log", f"{len(logged)}")
        for line in _distinct(logged)[:4]:
            note(line[:400])
    return runs


@dataclass
class ChainUse:
    """The audit chain's advisory lock during a load, from pg_locks sampled meanwhile."""

    samples: int = 0
    held: int = 0  # samples in which some transaction held the lock
    waiting: int = 0  # sum over the samples of the transactions waiting for it

    @property
    def busy(self) -> float:
        return self.held / self.samples if self.samples else 0.0

    @property
    def waiters(self) -> float:
        return self.waiting / self.samples if self.samples else 0.0


def sample_chain_lock(engine, stop_event: threading.Event, use: ChainUse) -> None:
    """Sample pg_locks every SAMPLE_SECONDS until ``stop_event``: is the chain's lock held, and
    how many wait for it (services/audit/trail.py takes it from the head's read to commit)."""
    from caseapp.services.audit.trail import ADVISORY_LOCK_KEY

    query = text(
        "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted) "
        "FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = :hi "
        "AND objid::bigint = :lo AND objsubid = 1 AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    params = {"hi": ADVISORY_LOCK_KEY >> 32, "lo": ADVISORY_LOCK_KEY & 0xFFFFFFFF}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while not stop_event.is_set():
            granted, waiting = conn.execute(query, params).one()
            use.samples += 1
            use.held += 1 if granted else 0
            use.waiting += waiting
            time.sleep(SAMPLE_SECONDS)


def chain_phase(
    label: str, service: Service, clients: list[Client], engine, seconds: float
) -> tuple[float, ChainUse, int]:
    """Load ``service`` for ``seconds`` while sampling the chain's lock; prints what the chain
    costs each request and the rate it alone would allow. Returns (rate, use, errors)."""
    use = ChainUse()
    stop_event = threading.Event()
    sampler = threading.Thread(
        target=sample_chain_lock, args=(engine, stop_event, use), daemon=True
    )
    sampler.start()
    try:
        outcomes, wall, _ = run_load(service.port, clients, seconds)
    finally:
        stop_event.set()
        sampler.join()
    ok = sum(o.ok for o in outcomes)
    rate = ok / wall
    hold_ms = 1000 * use.busy / rate if rate else 0.0
    wait_ms = 1000 * use.waiters / rate if rate else 0.0
    cap = rate / use.busy if use.busy else float("inf")
    figure(
        f"{label}: audit chain lock held (pg_locks, {use.samples} samples)",
        f"{100 * use.busy:.0f}% of the time at {rate:.1f} req/s",
    )
    note(
        f"per request: the lock held {hold_ms:.2f} ms (head read, event, commit) and waited "
        f"for {wait_ms:.2f} ms; the chain alone would allow ~{cap:.0f} req/s"
    )
    return rate, use, len(outcomes) - ok


def disruption_phase(
    service: Service,
    clients: list[Client],
    engine,
    seconds: float,
    label: str,
    event: Callable[[], Event],
    env: dict[str, str],
) -> None:
    before = case_ids(engine)
    offset = service.log_offset()
    outcomes, wall, happened = run_load(service.port, clients, seconds, event, seconds / 3)
    assert happened is not None
    # Is the service whole again? A signed-in POST and /healthz (pool_pre_ping after a
    # database restart; a new worker after a kill).
    answered = None
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        probe = clients[0].record_case(service.port)
        outcomes.append(probe)
        try:
            health = call(service.port, "GET", "/healthz")[0]
        except (OSError, http.client.HTTPException):
            health = None
        if probe.ok and health == 200:
            answered = time.monotonic()
            break
        time.sleep(0.2)
    after = case_ids(engine)
    ok = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    acknowledged = {o.public_id for o in ok}
    lost = acknowledged - after
    created = after - before
    figure(
        f"{label}: {happened.what}",
        f"at {happened.started - outcomes[0].start:.1f} s of {wall:.1f} s",
    )
    for line in happened.details:
        note(line)
    figure(f"{label}: acknowledged POSTs (302)", f"{len(ok)} ({len(ok) / wall:.1f} req/s)")
    kinds = Counter(o.kind for o in failed)
    figure(
        f"{label}: POSTs without an acknowledgement", f"{len(failed)} {dict(kinds) or ''}".strip()
    )
    if happened.recovered is not None:
        later = [o for o in failed if o.start > happened.recovered]
        figure(
            f"{label}: ... of which started after recovery",
            f"{len(later)} {dict(Counter(o.kind for o in later)) or ''}".strip(),
        )
        if failed:
            last = max(o.end for o in failed)
            note(
                f"failures between {min(o.start for o in failed) - happened.started:+.2f} s "
                f"and {last - happened.started:+.2f} s from the event"
            )
    figure(f"{label}: acknowledged cases missing from the database", f"{len(lost)}", "0", not lost)
    figure(
        f"{label}: cases committed without an acknowledgement",
        f"{len(created - acknowledged)} (of {len(failed)} unacknowledged POSTs)",
        "<= unacknowledged",
        len(created - acknowledged) <= len(failed),
    )
    figure(
        f"{label}: service answers again (signed-in POST 302 and /healthz 200)",
        "yes" if answered else "NO",
        "yes",
        answered is not None,
    )
    logged = service.error_lines(offset)
    figure(f"{label}: ERROR lines in the gunicorn/app log", f"{len(logged)}")
    for line in _distinct(logged)[:4]:
        note(line[:400])
    check_audit(env, label)


def _distinct(lines: list[str]) -> list[str]:
    """Each kind of log line once, with how often it came: logger, message, exception type and
    the last line of its traceback (time, pid and request id left out)."""
    counts: Counter[str] = Counter()
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            counts[line[:300]] += 1
            continue
        summary = f"{entry.get('logger')}: {entry.get('message')}"
        if entry.get("exc_type"):
            last = (entry.get("traceback") or "").strip().splitlines()[-1:]
            summary += f" [{entry['exc_type']}: {last[0][:200] if last else ''}]"
        counts[re.sub(r"pid:\d+", "pid:N", summary)] += 1
    return [f"{n} x {summary}" for summary, n in counts.most_common()]


def memory(service: Service, label: str) -> None:
    for pid in service.workers():
        value = rss_mb(pid)
        if value is not None:
            figure(
                f"{label}: VmRSS of worker {pid}",
                f"{value:.1f} MB",
                f"<= {RSS_TARGET_MB:.0f} MB",
                value <= RSS_TARGET_MB,
            )


def kill_a_worker(service: Service) -> Callable[[], Event]:
    def event() -> Event:
        before = service.workers()
        victim = before[0]
        started = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        recovered = None
        while time.monotonic() < started + 30:
            now = service.workers()
            if victim not in now and len(now) >= service.workers_wanted:
                recovered = time.monotonic()
                break
            time.sleep(0.02)
        details = [
            f"killed worker {victim} of {before}; "
            + (
                f"a new worker ({service.workers()}) within {recovered - started:.2f} s"
                if recovered
                else "NO new worker within 30 s"
            )
        ]
        return Event("kill -9 of one worker", started, recovered, details)

    return event


def restart_postgres(command: list[str], admin_url: str) -> Callable[[], Event]:
    def event() -> Event:
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        back = wait_for_postgres(admin_url, 120)
        details = [
            f"`{shlex.join(command)}` exit {done.returncode} in {time.monotonic() - started:.1f} s"
        ]
        if done.returncode != 0:
            details.append((done.stderr or done.stdout).strip()[-500:])
        details.append(
            f"PostgreSQL accepting again {back - started:.2f} s after the restart began"
            if back
            else "PostgreSQL NOT accepting within 120 s"
        )
        return Event("PostgreSQL restart", started, back, details)

    return event


def postgres_facts(admin_url: str) -> dict[str, str]:
    engine = create_engine(admin_url, poolclass=_null_pool())
    try:
        with engine.connect() as conn:
            return {
                name: conn.execute(text(f"SHOW {name}")).scalar_one()
                for name in ("server_version", "cluster_name", "synchronous_commit", "fsync")
            }
    finally:
        engine.dispose()


def other_sessions(admin_url: str, own: str) -> list[str]:
    engine = create_engine(admin_url, poolclass=_null_pool())
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT datname, usename, application_name, count(*) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
                    "AND datname IS DISTINCT FROM :own GROUP BY 1, 2, 3 ORDER BY 1"
                ),
                {"own": own},
            ).all()
        return [f"{db} ({user}, {app or '-'}): {n}" for db, user, app, n in rows]
    finally:
        engine.dispose()


def restart_command(args, facts: dict[str, str]) -> list[str] | None:
    if args.postgres_restart_command:
        return shlex.split(args.postgres_restart_command)
    version, _, name = facts.get("cluster_name", "").partition("/")
    if version and name and shutil.which("pg_ctlcluster"):
        return ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"]
    return None


# -- main -----------------------------------------------------------------------------------


class _ScaleOnlyDone(Exception):
    """--scale-only: the scale-out part is measured; clean up and report."""


def _interrupted(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server (any database on it, used to create and drop "
        "the drill's own); default: SQLite in a temp dir",
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="load per phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the intake phase alternates 1 and 2 workers this many times",
    )
    parser.add_argument(
        "--keep-logs",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy the gunicorn logs (JSON lines) into DIR at the end",
    )
    parser.add_argument(
        "--scale-only",
        action="store_true",
        help="only the scale-out part: intake with 1, 2 and 4 workers, the checks after it "
        "and the audit chain's share (no kill -9, no PostgreSQL restart)",
    )
    parser.add_argument(
        "--restart-postgres",
        action="store_true",
        help="restart the PostgreSQL CLUSTER during the load (every database "
        "on it; other users of the server lose their connections)",
    )
    parser.add_argument(
        "--postgres-restart-command",
        default=None,
        help="default: pg_ctlcluster --skip-systemctl-redirect VERSION NAME "
        "restart, from the server's cluster_name",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupted)

    tmp = Path(tempfile.mkdtemp(prefix="production-drill-"))
    database = service = engine = None
    services: list[Service] = []
    restart_tried = False
    facts: dict[str, str] = {}
    try:
        from caseapp import migrate
        from caseapp.db import make_engine
        from caseapp.security.keyring import Keyring

        database = Database.make(args.database_url, tmp)
        if database.postgres:
            facts = postgres_facts(database.admin_url)
        keyring_path = tmp / "keyring.json"
        Keyring.generate(keyring_path).save()  # mode 0600, as production demands
        for folder in ("attachments", "metrics", "instance"):
            (tmp / folder).mkdir(mode=0o700)
        engine = make_engine(database.url)  # pool_pre_ping, like the app's
        migrate.upgrade(engine)
        people = seed(database.url, keyring_path, tmp / "seed-instance", args.clients)

        port = free_port()
        env = production_environ(
            CASEAPP_ENV="production",
            SECRET_KEY=new_secret(),
            DATABASE_URL=database.url,
            CASEAPP_KEYRING=str(keyring_path),
            CASEAPP_ATTACHMENTS=str(tmp / "attachments"),
            CASEAPP_INSTANCE=str(tmp / "instance"),
            CASEAPP_TRUSTED_PROXIES="1",
            CASEAPP_BASE_URL=f"https://{HOST}:{port}",
            CASEAPP_METRICS_TOKEN=new_secret(32),
            PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),
        )
        import gunicorn

        engine_name = (
            f"PostgreSQL {facts.get('server_version')} (cluster "
            f"{facts.get('cluster_name')}, synchronous_commit "
            f"{facts.get('synchronous_commit')}, fsync {facts.get('fsync')})"
            if database.postgres
            else "SQLite"
        )
        print(
            f"production drill: {engine_name}, database {make_url(database.url).database}",
            flush=True,
        )
        print(
            f"gunicorn {gunicorn.__version__} with deploy/gunicorn.conf.py, "
            f"CASEAPP_ENV=production; {len(os.sched_getaffinity(0))} cores; "
            f"{args.clients} clients straight to gunicorn with nginx's headers "
            f"(X-Forwarded-Proto: https); {args.seconds:g} s per phase after "
            f"{WARM_UP_SECONDS:g} s of warm-up\n",
            flush=True,
        )

        busy0, t0 = _machine()[0], time.monotonic()
        time.sleep(1.0)
        busy_before = (_machine()[0] - busy0) / (time.monotonic() - t0)
        figure("machine busy before the load (100% = one core)", f"{100 * busy_before:.0f}%")
        if busy_before > OTHER_LOAD_WARNING:
            note(
                "WARNING: something else is using the CPU: throughput figures will be low "
                "and the worker ratio unreliable"
            )
        clients = [Client(person, school_id) for person, school_id in people]

        # 1. One worker, two and four: all running, loaded in turn.
        one = Service(env, free_port(), tmp / "gunicorn-1.log", 1)
        two = service = Service(env, port, tmp / "gunicorn-2.log", 2)
        four = Service(env, free_port(), tmp / "gunicorn-4.log", 4)
        services = [one, two, four]
        for each in services:
            each.start()
        t0 = time.monotonic()
        for client in clients:
            client.sign_in(one.port)
        # The seeded hashes use the testing preset's argon2 parameters: this first sign-in
        # also rehashes each password with production's.
        figure(
            "sign-in through the forms (password + TOTP, rehash), per client",
            f"{(time.monotonic() - t0) / len(clients) * 1000:.0f} ms",
        )
        runs = intake_phase(
            [("1 worker", one), ("2 workers", two), ("4 workers", four)],
            clients,
            engine,
            args.seconds,
            args.rounds,
        )
        ratio = runs[1].rate / runs[0].rate
        figure(
            "2 workers / 1 worker", f"{ratio:.2f}x", f">= {RATIO_TARGET}x", ratio >= RATIO_TARGET
        )
        figure("4 workers / 1 worker (no target)", f"{runs[2].rate / runs[0].rate:.2f}x")
        cores = len(os.sched_getaffinity(0))
        note(
            f"with more workers than this machine's {cores} cores, a busy worker waits for a "
            "core, and so does the audit chain's lock it holds (deploy/gunicorn.conf.py says "
            "why its default keeps workers beyond the cores all the same)"
        )
        busy4 = runs[2].cpu.machine / runs[2].cpu.wall if runs[2].cpu.wall else 0.0
        figure(
            "4 workers: machine busy (100% = one core)",
            f"{100 * busy4:.0f}% of {100 * cores}% ({cores} cores)",
        )
        if max(run.cpu.others for run in runs) > OTHER_LOAD_WARNING:
            note(
                "WARNING: measured while other processes used the CPU (see above); run it "
                "again on a quiet machine before believing this ratio"
            )
        memory(one, "1 worker")
        memory(two, "2 workers")
        memory(four, "4 workers")
        one.stop()

        # The audit chain's serialisation (PostgreSQL: its advisory lock).
        if database.postgres:
            print(flush=True)
            chain_seconds = max(3.0, args.seconds / 3)
            errors = 0
            uses = {}
            for label, each in (("2 workers", two), ("4 workers", four)):
                _rate, uses[label], failed_posts = chain_phase(
                    label, each, clients, engine, chain_seconds
                )
                errors += failed_posts
            per_core = "one per core" if cores == 2 else f"on {cores} cores"
            figure(
                f"2 workers ({per_core}): audit chain lock held",
                f"{100 * uses['2 workers'].busy:.0f}% of the time",
                f"<= {100 * CHAIN_BUSY_TARGET:.0f}%",
                uses["2 workers"].busy <= CHAIN_BUSY_TARGET,
            )
            figure("chain runs: errors", f"{errors}", "0", errors == 0)
            use = uses["4 workers"]
            cores_limit = busy4 >= 0.85 * cores and use.busy < CHAIN_SATURATED
            figure(
                "where the limit is with 4 workers",
                "the cores, not the chain"
                if cores_limit
                else "not the cores alone: see the CPU and lock figures above",
                f"the cores (machine >= 85% busy, lock held < {100 * CHAIN_SATURATED:.0f}%)",
                cores_limit,
            )
            note(
                f"with 4 workers the machine was {100 * busy4:.0f}% busy of {100 * cores}% and "
                f"the chain lock held {100 * use.busy:.0f}% of the time (a holder waiting for a "
                "core holds it longer: the share grows with the workers beyond the cores)"
            )
        else:
            figure("audit chain lock", "PostgreSQL only (SQLite serialises every write)")
        four.stop()
        check_audit(env, "after intake")
        if args.scale_only:
            raise _ScaleOnlyDone

        # 2. kill -9 of a worker.
        print(flush=True)
        disruption_phase(
            service, clients, engine, args.seconds, "kill -9", kill_a_worker(service), env
        )

        # 3. PostgreSQL restart.
        print(flush=True)
        if not database.postgres:
            figure("PostgreSQL restart", "skipped (SQLite)")
        elif not args.restart_postgres:
            figure(
                "PostgreSQL restart",
                "skipped: give --restart-postgres (it restarts the whole cluster)",
            )
        else:
            command = restart_command(args, facts)
            if command is None:
                figure(
                    "PostgreSQL restart",
                    "skipped: no pg_ctlcluster or cluster_name; give --postgres-restart-command",
                )
            else:
                others = other_sessions(database.admin_url, database.name)
                print("!" * 78, file=sys.stderr)
                print(
                    f"!! RESTARTING THE POSTGRESQL CLUSTER {facts.get('cluster_name')} "
                    f"in {args.seconds / 3:.0f} s: `{shlex.join(command)}`",
                    file=sys.stderr,
                )
                print(
                    "!! every connection to every database on it is cut; connected now: "
                    + ("; ".join(others) or "nobody else"),
                    file=sys.stderr,
                )
                print("!" * 78, file=sys.stderr, flush=True)
                restart_tried = True
                disruption_phase(
                    service,
                    clients,
                    engine,
                    args.seconds,
                    "PG restart",
                    restart_postgres(command, database.admin_url),
                    env,
                )

        # 4. Memory after all the load.
        print(flush=True)
        memory(service, "after every phase")
    except _ScaleOnlyDone:
        pass
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr, flush=True)
        CHECKS.append(("interrupted", False))
    finally:
        for each in services:
            each.stop()
        if engine is not None:
            engine.dispose()
        if restart_tried and database is not None:
            _ensure_postgres(database.admin_url, facts)
        if database is not None:
            try:
                database.drop()
            except Exception as exc:  # noqa: BLE001 - say so, keep cleaning
                print(f"could not drop database {database.name}: {exc}", file=sys.stderr)
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in tmp.glob("gunicorn-*.log"):
                shutil.copy(log, args.keep_logs / log.name)
        shutil.rmtree(tmp, ignore_errors=True)

    failed = [label for label, ok in CHECKS if not ok]
    print(
        f"\n{len(CHECKS) - len(failed)} of {len(CHECKS)} targets met"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""),
        flush=True,
    )
    return 1 if failed else 0


def _ensure_postgres(admin_url: str, facts: dict[str, str]) -> None:
    """After a restart was tried: PostgreSQL must be running when the drill ends."""
    if wait_for_postgres(admin_url, 60) is not None:
        return
    version, _, name = facts.get("cluster_name", "").partition("/")
    print(
        f"!! PostgreSQL is not answering after the restart: starting cluster {version}/{name}",
        file=sys.stderr,
        flush=True,
    )
    if version and name:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "start"],
            check=False,
            timeout=300,
        )
    if wait_for_postgres(admin_url, 60) is None:
        print("!! PostgreSQL is STILL DOWN: start it by hand", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
