"""Benchmark the annual report of a province: report_tables.build from the rollups next to the
full scan and to hand-written SQL, and the memory of exporting it to XLSX and DOCX.

    .venv/bin/python bench/reports.py [--cases 100000] [--database-url URL] [--repeat 3]

Fills a fresh database (SQLite file in a temp dir unless --database-url names an EMPTY one)
with a province of 2 communes x 50 schools and N cases (bench/casegen.py: received dates over
two years, one to three persons harmed and one to five alleged perpetrators a case, violence
types, verification/support/follow-up steps and status transitions as the workflow would have
left them), by COPY on PostgreSQL (psycopg's cursor.copy) and by Core
executemany in batches on SQLite (with PRAGMA synchronous=OFF and journal_mode=MEMORY while
loading: bench only). Then, for the last annual report period that has ended:

- builds the rollups of the loaded cases (services.reports.rollups.rebuild_all: what a bulk
  load or the migration does) and times it;
- times caseapp.services.reports.tables.build for the province from the rollups and with
  source="scan" (the full scan), --repeat runs each, checks both give the same Table objects
  and prints `annual report from rollups <= 1/20 of the full scan: PASS|FAIL` (best runs);
  the time of each statement of the scan (slowest first);
- times hand-written SQL (below) that computes the same tables, and checks the figures match;
- runs caseapp.services.reports.periods.export to XLSX and to DOCX in a fresh child process
  each (inside
  app.test_request_context() and flask_babel.force_locale("vi")), once for time and
  resource.getrusage ru_maxrss and once under tracemalloc for the peak of Python memory (the
  export reads the rollups); `peak RSS < 300 MB: PASS|FAIL` on the largest peak resident size
  (VmHWM) of those export processes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, insert, select, text  # noqa: E402

from bench import casegen  # noqa: E402
from bench.common import PASSWORD, empty_app, make_app  # noqa: E402
from caseapp.clock import local_today, start_of_local_day  # noqa: E402
from caseapp.db import get_session  # noqa: E402
from caseapp.models import Activity, Unit, User  # noqa: E402
from caseapp.models.reports import ACTIVITY_KINDS, AUDIENCES  # noqa: E402
from caseapp.services.accounts import users
from caseapp.services.org import units
from caseapp.services.reports import rollups  # noqa: E402
from caseapp.services.reports import tables as report_tables  # noqa: E402

DISTRICTS, SCHOOLS = 2, 50
OFFICER = "officer.province"
TITLE = "Báo cáo tình hình bạo lực, xâm hại trong trường học"


def seed_units(app) -> dict:
    """A province with DISTRICTS communes of SCHOOLS schools, an officer of the province and a
    focal point of the first school (through the services, so audited like real ones). The
    communes of the two-tier organisation: no district office is created from 1 July 2025."""
    with app.app_context():
        s = get_session()
        province = units.create_unit(
            s, None, None, "RB-P", "Sở Giáo dục và Đào tạo tỉnh Bench", "province"
        )
        schools = []
        for d in range(1, DISTRICTS + 1):
            commune = units.create_unit(
                s, None, province, f"RB-D{d}", f"Ủy ban nhân dân xã {d}", "commune"
            )
            schools += [
                units.create_unit(
                    s,
                    None,
                    commune,
                    f"RB-D{d}-S{i:02d}",
                    f"Trường THCS số {i} xã {d}",
                    "school",
                )
                for i in range(1, SCHOOLS + 1)
            ]
        officer, _ = users.create_user(s, None, OFFICER, "Officer Province", "", province, PASSWORD)
        users.grant_role(s, None, officer, "officer", province)
        focal, _ = users.create_user(
            s, None, "focal.bench", "Focal Bench", "", schools[0], PASSWORD
        )
        users.grant_role(s, None, focal, "focal_point", schools[0])
        s.commit()
        # Interleave the communes so that both get busy and quiet schools.
        order = [u for pair in zip(schools[:SCHOOLS], schools[SCHOOLS:], strict=True) for u in pair]
        return {
            "province": province.code,
            "province_id": province.id,
            "province_path": province.path,
            "schools": [(u.id, u.code) for u in order],
            "officer": officer.id,
            "focal": focal.id,
        }


def fill_activities(engine, schools: list[tuple[int, str]], user_id: int, n: int) -> None:
    import random

    rng = random.Random(3)
    today = local_today()
    rows = [
        {
            "unit_id": rng.choice(schools)[0],
            "held_on": today - timedelta(days=rng.randint(0, casegen.DAYS)),
            "kind": rng.choice(ACTIVITY_KINDS),
            "audience": rng.choice(AUDIENCES),
            "title": f"Hoạt động {i}",
            "participants_female": rng.randint(0, 300),
            "participants_male": rng.randint(0, 300),
            "participants_other": rng.randint(0, 3),
            "created_by_id": user_id,
            "created_at": datetime.now(UTC),
            "version": 1,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Activity.__table__), rows)


def annual_period():
    from caseapp.services.reports.periods import periods_of

    today = local_today()
    for year in (today.year, today.year - 1):
        period = next(p for p in periods_of(year) if p.kind == "annual")
        if period.date_to < today:
            return period
    raise RuntimeError("no annual period has ended")


# -- hand-written SQL -------------------------------------------------------------------------

# The report's cases: received in the period, at a unit below the report's unit. Not
# materialized: PostgreSQL would otherwise plan the joins to a CTE it has no statistics for.
SCOPED = """scoped AS NOT MATERIALIZED (
    SELECT c.id, c.unit_id, c.harmed_sex_group, c.received_on, c.verification_due_on, u.path
    FROM cases c JOIN units u ON u.id = c.unit_id
    WHERE u.path LIKE :prefix AND c.received_on >= :date_from AND c.received_on <= :date_to)"""


def hand_queries(dialect: str) -> dict[str, str]:
    """One GROUP BY per table (per_unit in one query for all the children), each restricted to
    the report's cases before joining steps and transitions."""
    pg = dialect == "postgresql"
    w = "WITH " + SCOPED + "\n"
    if pg:
        verify_days = "fv.done - s.received_on"
        close_days = "CAST(ca.at AS date) - s.received_on"
    else:
        verify_days = "CAST(julianday(fv.done) - julianday(s.received_on) AS INTEGER)"
        close_days = "CAST(julianday(date(ca.at)) - julianday(s.received_on) AS INTEGER)"
    first_verified = (
        "(SELECT st.case_id, min(st.done_on) AS done FROM case_steps st "
        "JOIN scoped s0 ON s0.id = st.case_id WHERE st.kind = 'verification' "
        "AND st.done_on IS NOT NULL AND st.done_on <= :date_to "
        "GROUP BY st.case_id) fv"
    )
    closed_at = (
        "(SELECT t.case_id, min(t.at) AS at FROM case_transitions t "
        "JOIN scoped s0 ON s0.id = t.case_id WHERE t.to_status = 'closed' "
        "AND t.at < :end GROUP BY t.case_id) ca"
    )
    if pg:
        median_verify = (
            w + f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {verify_days})"
            f" FROM scoped s JOIN {first_verified} ON fv.case_id = s.id"
        )
        median_close = (
            w + f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {close_days}),"
            f" count(*) FROM scoped s JOIN {closed_at} ON ca.case_id = s.id"
        )
    else:

        def median(days: str, source: str, alias: str) -> str:
            return (
                w + "SELECT avg(days), max(n) FROM (SELECT days, row_number() OVER "
                "(ORDER BY days) "
                f"AS rn, count(*) OVER () AS n FROM (SELECT {days} AS days FROM scoped s "
                f"JOIN {source} ON {alias}.case_id = s.id)) "
                "WHERE rn IN ((n + 1) / 2, (n + 2) / 2)"
            )

        median_verify = median(verify_days, first_verified, "fv")
        median_close = median(close_days, closed_at, "ca")
    return {
        "violence_by_sex": w + "SELECT v.type, s.harmed_sex_group, count(*) FROM scoped s "
        "JOIN case_violence_types v ON v.case_id = s.id GROUP BY v.type, s.harmed_sex_group",
        "violence_by_sex totals": w + "SELECT s.harmed_sex_group, count(*) FROM scoped s "
        "GROUP BY s.harmed_sex_group",
        # Tables of persons: one row per person of the case not withdrawn.
        "age_by_sex": w + "SELECT p.age_band, p.sex, count(*) FROM scoped s "
        "JOIN case_persons p ON p.case_id = s.id "
        "WHERE p.position = 'harmed' AND p.withdrawn_at IS NULL GROUP BY p.age_band, p.sex",
        "role_by_sex": w + "SELECT p.role, p.sex, count(*) FROM scoped s "
        "JOIN case_persons p ON p.case_id = s.id "
        "WHERE p.position = 'harmed' AND p.withdrawn_at IS NULL GROUP BY p.role, p.sex",
        "perpetrators_by_relationship_sex": w + "SELECT p.relationship, p.sex, count(*) "
        "FROM scoped s JOIN case_persons p ON p.case_id = s.id "
        "WHERE p.position = 'perpetrator' AND p.withdrawn_at IS NULL "
        "GROUP BY p.relationship, p.sex",
        "status_at_end": w
        + """, last_t AS (
    SELECT t.case_id, max(t.id) AS last_id FROM case_transitions t
    JOIN scoped s0 ON s0.id = t.case_id WHERE t.at < :end GROUP BY t.case_id)
SELECT CASE WHEN t.to_status = 'closed' THEN 'resolved'
            WHEN s.verification_due_on < :date_to AND NOT EXISTS (
                SELECT 1 FROM case_steps st WHERE st.case_id = s.id
                AND st.kind = 'verification' AND st.done_on IS NOT NULL
                AND st.done_on <= :date_to) THEN 'overdue'
            ELSE 'in_progress' END AS row_key, s.harmed_sex_group, count(*)
FROM scoped s LEFT JOIN last_t l ON l.case_id = s.id
LEFT JOIN case_transitions t ON t.id = l.last_id
GROUP BY 1, s.harmed_sex_group""",
        "findings": w
        + """, last_v AS (
    SELECT st.case_id, max(st.id) AS step_id FROM case_steps st
    JOIN scoped s0 ON s0.id = st.case_id WHERE st.kind = 'verification'
    AND st.done_on IS NOT NULL AND st.done_on <= :date_to GROUP BY st.case_id)
SELECT coalesce(st.finding, 'not_verified') AS row_key, s.harmed_sex_group, count(*)
FROM scoped s LEFT JOIN last_v l ON l.case_id = s.id LEFT JOIN case_steps st ON st.id = l.step_id
GROUP BY 1, s.harmed_sex_group""",
        "support_by_service": w
        + """SELECT CASE WHEN st.kind = 'referral' THEN 'referral'
    ELSE st.service END AS row_key, s.harmed_sex_group, count(DISTINCT s.id)
FROM scoped s JOIN case_steps st ON st.case_id = s.id
WHERE st.done_on <= :date_to AND ((st.kind = 'support' AND st.status = 'provided')
    OR (st.kind = 'referral' AND st.status IN ('accepted', 'completed')))
GROUP BY 1, s.harmed_sex_group""",
        "support_by_service totals": w
        + """SELECT s.harmed_sex_group, count(DISTINCT s.id)
FROM scoped s JOIN case_steps st ON st.case_id = s.id
WHERE st.done_on <= :date_to AND ((st.kind = 'support' AND st.status = 'provided')
    OR (st.kind = 'referral' AND st.status IN ('accepted', 'completed')))
GROUP BY s.harmed_sex_group""",
        "per_unit": w
        + """SELECT d.code, s.harmed_sex_group, count(*) FROM scoped s
JOIN units d ON d.parent_id = :unit_id AND s.path LIKE d.path || '%'
GROUP BY d.code, s.harmed_sex_group""",
        "activities": """SELECT a.kind, count(*), sum(a.participants_female),
    sum(a.participants_male), sum(a.participants_other)
FROM activities a JOIN units u ON u.id = a.unit_id
WHERE u.path LIKE :prefix AND a.held_on >= :date_from AND a.held_on <= :date_to
GROUP BY a.kind""",
        "timeliness counts": w
        + f"""SELECT count(*),
    sum(CASE WHEN {verify_days} <= :verification_days THEN 1 ELSE 0 END)
FROM scoped s JOIN {first_verified} ON fv.case_id = s.id""",
        "timeliness median to verification": median_verify,
        "timeliness median to closure": median_close,
    }


def run_hand(engine, params: dict) -> tuple[dict[str, list], dict[str, float]]:
    out, spent = {}, {}
    with engine.connect() as conn:
        for key, sql in hand_queries(engine.dialect.name).items():
            t0 = time.perf_counter()
            out[key] = [tuple(r) for r in conn.execute(text(sql), params).all()]
            spent[key] = time.perf_counter() - t0
    return out, spent


def hand_report(rows: dict[str, list], settings) -> dict:
    """The hand-written results in the shape of Report.as_dict()'s tables and timeliness."""

    def cells(key, total_key=None):
        got = {(r, c): int(n or 0) for r, c, n in rows[key]}
        totals = {c: int(n or 0) for c, n in rows[total_key]} if total_key else None
        return got, totals

    tables = {}
    for key in ("violence_by_sex", "support_by_service"):
        tables[key] = cells(key, key + " totals")
    for key in (
        "age_by_sex",
        "role_by_sex",
        "perpetrators_by_relationship_sex",
        "status_at_end",
        "findings",
        "per_unit",
    ):
        tables[key] = cells(key)
    tables["activities"] = (
        {
            (kind, col): int(v or 0)
            for kind, *values in rows["activities"]
            for col, v in zip(("activities", "female", "male", "other"), values, strict=True)
        },
        None,
    )
    verified, in_time = rows["timeliness counts"][0]
    verified, in_time = int(verified or 0), int(in_time or 0)

    def med(key):
        value = rows[key][0][0]
        return round(float(value), 1) if value is not None else None

    closed = rows["timeliness median to closure"][0][1]
    timeliness = {
        "closed": int(closed or 0),
        "median_days_to_verification": med("timeliness median to verification"),
        "median_days_to_closure": med("timeliness median to closure"),
        "verified": verified,
        "verified_within_deadline": in_time,
        "share_verified_within_deadline": round(100 * in_time / verified, 1) if verified else None,
        "verification_days": settings.verification_days,
    }
    return {"tables": tables, "timeliness": timeliness}


def same_figures(report: report_tables.Report, hand: dict) -> list[str]:
    """The differences between build()'s report and the hand-written results (none: [])."""
    problems = []
    for table in report.tables:
        if table.key not in hand["tables"]:  # channels and self-reports: no hand SQL for them
            continue
        cells, totals = hand["tables"][table.key]
        mine = {k: v for k, v in table.cells.items() if v}
        theirs = {k: v for k, v in cells.items() if v and k[0] in table.rows and k[1] in table.cols}
        if mine != theirs:
            problems.append(f"{table.key}: cells differ")
        if (
            table.col_totals is not None
            and totals is not None
            and {k: v for k, v in table.col_totals.items() if v}
            != {k: v for k, v in totals.items() if v and k in table.cols}
        ):
            problems.append(f"{table.key}: column totals differ")
    # The hand SQL has no self-report figures: compare the keys it computes.
    if {k: report.timeliness.get(k) for k in hand["timeliness"]} != hand["timeliness"]:
        problems.append(f"timeliness differs: {report.timeliness} != {hand['timeliness']}")
    return problems


# -- timing build() statement by statement ---------------------------------------------------


class StatementTimer:
    def __init__(self, engine):
        self.on = False
        self.rows: list[tuple[float, str]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, _cursor, _statement, _params, _context, _many):
        conn.info["bench.t0"] = time.perf_counter()

    def _after(self, conn, _cursor, statement, _params, _context, _many):
        if self.on:
            self.rows.append((time.perf_counter() - conn.info.pop("bench.t0"), statement))


def describe(statement: str) -> str:
    """A short name for one of build()'s statements."""
    s = " ".join(statement.split())
    for marker, name in (
        ("case_violence_types.type", "violence_by_sex"),
        ("case_persons.age_band", "age_by_sex"),
        ("case_persons.role", "role_by_sex"),
        ("case_persons.relationship", "perpetrators_by_relationship_sex"),
        ("'resolved'", "status_at_end"),
        ("not_verified", "findings"),
        ("'referral'", "support_by_service"),
        ("activities", "activities"),
        ("row_number()", "timeliness median"),
        ("min(case_steps.done_on)", "timeliness counts"),
        ("units.parent_id", "per_unit children"),
        # The literals above are bound parameters in the SQL sent: the joins tell them apart.
        ("case_transitions_1.to_status", "status_at_end"),
        ("coalesce(case_steps_1.finding", "findings"),
        ("count(distinct(cases.id))", "support_by_service"),
    ):
        if marker in s:
            if name == "violence_by_sex" or name == "support_by_service":
                return name + (" totals" if s.startswith("SELECT cases.harmed_sex_group") else "")
            if name == "timeliness median":
                return name + (" to closure" if "case_transitions" in s else " to verification")
            return name
    if s.startswith("SELECT cases.harmed_sex_group, count(*)"):
        return "per_unit (one child) or violence totals"
    return s[:60]


# -- the export, in a child process ----------------------------------------------------------


def _vm(field: str) -> int:
    """A field of /proc/self/status in kB (VmHWM: peak resident size of this process since its
    exec, unlike ru_maxrss); 0 where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def export_child(args) -> None:
    """Run reports.export once in this (fresh) process and print one JSON line."""
    import tracemalloc

    from flask_babel import force_locale

    from caseapp.services.org.units import unit_by_code
    from caseapp.services.reports import periods as reports

    app = make_app(args.database_url, Path(args.instance))
    with app.app_context():
        period = annual_period()
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start_hwm = _vm("VmHWM")
    with app.test_request_context(), force_locale("vi"):
        s = get_session()
        unit = unit_by_code(s, args.unit)
        actor = s.scalar(select(User).where(User.username == OFFICER))
        if args.trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        content = reports.export(s, actor, unit, period.date_from, period.date_to, args.fmt, TITLE)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] if args.trace else None
        if args.trace:
            tracemalloc.stop()
        s.rollback()  # leave no audit event behind
    print(
        json.dumps(
            {
                "fmt": args.fmt,
                "seconds": seconds,
                "bytes": len(content),
                "start_maxrss_kb": start_rss,
                "end_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "start_hwm_kb": start_hwm,
                "end_hwm_kb": _vm("VmHWM"),
                "traced_peak": peak,
            }
        )
    )


def measure_export(url: str, instance: Path, unit: str, fmt: str, trace: bool) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--export-child",
        fmt,
        "--database-url",
        url,
        "--instance",
        str(instance),
        "--unit",
        unit,
    ] + (["--trace"] if trace else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"export child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_combined(app, world: dict, period, repeat: int) -> tuple:
    """periods.combined for the province (every school's live figures, none submitted) as
    it is, with the schools' figures read at once (tables.schools_within), and school by
    school as before (each school's own build): times, statements and whether they agree."""
    from unittest import mock

    from caseapp.services.reports import periods

    engine = app.extensions["caseapp.engine"]
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    times: tuple[list[float], list[float]] = ([], [])
    counts, reports = [0, 0], [None, None]
    with app.test_request_context():
        s = get_session()
        unit = s.scalar(select(Unit).where(Unit.code == world["province"]))
        for _ in range(repeat):
            for way in (0, 1):
                school_by_school = mock.patch.object(
                    report_tables, "schools_within", return_value=None
                )
                with school_by_school if way else contextlib.nullcontext():
                    del sent[:]
                    t0 = time.perf_counter()
                    reports[way] = periods.combined(s, unit, period)
                    times[way].append(time.perf_counter() - t0)
                    counts[way] = len(sent)
                s.rollback()
    event.remove(engine, "before_cursor_execute", seen)
    same = reports[0] is not None and reports[1] is not None
    same = same and reports[0][0].tables == reports[1][0].tables
    return times[0], times[1], counts, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=None,
        help="an EMPTY database (default: a SQLite file in a temp dir)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of build()")
    parser.add_argument(
        "--no-copy", action="store_true", help="PostgreSQL: Core executemany instead of COPY"
    )
    parser.add_argument(
        "--sqlite-analyze",
        action="store_true",
        help="run ANALYZE after the fill on SQLite (the app never does)",
    )
    parser.add_argument(
        "--skip-build",
        action="store_true",
        help="time only the hand-written SQL (no build(), no export): for "
        "sizes where build() takes too long",
    )
    # Internal: the child process that measures one export.
    parser.add_argument("--export-child", choices=("xlsx", "docx", "csv"), help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--unit", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(
            argparse.Namespace(
                fmt=args.export_child,
                database_url=args.database_url,
                instance=args.instance,
                unit=args.unit,
                trace=args.trace,
            )
        )
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    app = empty_app(url, tmp)
    engine = app.extensions["caseapp.engine"]
    pg = engine.dialect.name == "postgresql"
    world = seed_units(app)
    t0 = time.perf_counter()
    totals, spent = casegen.fill(
        engine,
        args.cases,
        world["schools"],
        world["focal"],
        local_today(),
        use_copy=pg and not args.no_copy,
    )
    fill_activities(engine, world["schools"], world["focal"], 5_000)
    fill_s = time.perf_counter() - t0
    with app.app_context():
        s = get_session()
        t0 = time.perf_counter()
        rollups.rebuild_all(s)
        s.commit()
        rollup_s = time.perf_counter() - t0
        rollup_rows = s.scalar(text("SELECT count(*) FROM case_rollups"))
    if args.sqlite_analyze and not pg:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    with app.app_context():
        period = annual_period()
    settings = app.extensions["caseapp.settings"]

    timer = StatementTimer(engine)
    builds, report = [], None
    with app.app_context():
        s = get_session()
        unit = s.scalar(select(Unit).where(Unit.code == world["province"]))
        for i in range(0 if args.skip_build else args.repeat):
            timer.on, timer.rows = i == args.repeat - 1, []
            t0 = time.perf_counter()
            report = report_tables.build(s, unit, period.date_from, period.date_to, source="scan")
            builds.append(time.perf_counter() - t0)
            s.rollback()
        timer.on = False
        summed_builds, summed = [], None
        for _ in range(0 if args.skip_build else args.repeat):
            t0 = time.perf_counter()
            summed = report_tables.build(
                s, unit, period.date_from, period.date_to, source="rollups"
            )
            summed_builds.append(time.perf_counter() - t0)
            s.rollback()
        identical = (
            summed is not None
            and report is not None
            and summed.tables == report.tables
            and summed.timeliness == report.timeliness
        )
    per_statement = sorted(timer.rows, reverse=True)
    combined = [] if args.skip_build else measure_combined(app, world, period, args.repeat)

    params = {
        "prefix": world["province_path"] + "%",
        "date_from": period.date_from,
        "date_to": period.date_to,
        "end": start_of_local_day(period.date_to + timedelta(days=1)),
        "unit_id": world["province_id"],
        "verification_days": settings.verification_days,
    }
    hand_runs = [run_hand(engine, params) for _ in range(args.repeat)]
    jit_builds = []
    if pg:
        casegen.jit_off(engine)
        with app.app_context():
            s = get_session()
            unit = s.scalar(select(Unit).where(Unit.code == world["province"]))
            for _ in range(0 if args.skip_build else args.repeat):
                t0 = time.perf_counter()
                report_tables.build(s, unit, period.date_from, period.date_to, source="scan")
                jit_builds.append(time.perf_counter() - t0)
                s.rollback()
    jit_hand = [sum(run_hand(engine, params)[1].values()) for _ in range(args.repeat)] if pg else []
    hand_rows, hand_spent = hand_runs[-1]
    in_period = sum(n for _code, _sex, n in hand_rows["per_unit"])
    problems = same_figures(report, hand_report(hand_rows, settings)) if report else []

    exports = (
        {}
        if args.skip_build
        else {
            (fmt, trace): measure_export(url, tmp, world["province"], fmt, trace)
            for fmt in ("xlsx", "docx")
            for trace in (False, True)
        }
    )

    print(
        f"database  {engine.dialect.name}   cases {totals.cases:,}   persons {totals.people:,}   "
        f"violence types "
        f"{totals.types:,}   steps {totals.steps:,}   transitions {totals.transitions:,}   "
        f"activities 5,000"
    )
    how = "COPY" if pg and not args.no_copy else "Core executemany"
    print(
        f"fill {fill_s:.1f} s: rows made in Python {spent['generate']:.1f} s, {how} "
        f"{spent['write']:.1f} s"
        + (f", VACUUM ANALYZE {spent['analyze']:.1f} s" if pg else "")
        + f"  ({totals.cases / fill_s:,.0f} cases/s)"
    )
    print(
        f"rollups built from the loaded cases: {rollup_s:.1f} s, {rollup_rows:,} rows "
        f"({totals.cases / max(rollup_s, 1e-9):,.0f} cases/s)"
    )
    print(
        f"report: province {world['province']}, period {period.key} "
        f"({period.date_from} to {period.date_to}), {in_period:,} cases in the period\n"
    )
    if builds:
        print(
            "build(), full scan:  "
            + ", ".join(f"{b:.2f} s" for b in builds)
            + f"   ({len(per_statement)} statements)"
        )
        print(
            "build(), rollups:    "
            + ", ".join(f"{b:.3f} s" for b in summed_builds)
            + f"   same Table objects and timeliness as the scan: {'yes' if identical else 'NO'}"
        )
    else:
        print("report_tables.build: skipped (--skip-build)")
    if jit_builds:
        print("build(), jit = off:  " + ", ".join(f"{b:.2f} s" for b in jit_builds))
    hand_totals = [sum(sp.values()) for _r, sp in hand_runs]
    print(
        "hand-written SQL:    "
        + ", ".join(f"{h:.2f} s" for h in hand_totals)
        + f"   ({len(hand_spent)} statements)   same figures: "
        + (
            "not compared"
            if report is None
            else "yes"
            if not problems
            else "NO: " + "; ".join(problems)
        )
    )
    if jit_hand:
        print("hand SQL, jit = off: " + ", ".join(f"{h:.2f} s" for h in jit_hand))
    if per_statement:
        print("\nbuild(), last run, statement by statement (slowest first):")
    for seconds, statement in per_statement:
        print(f"  {seconds * 1000:9.1f} ms  {describe(statement)}")
    print("\nhand-written SQL, last run:")
    for key, seconds in sorted(hand_spent.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds * 1000:9.1f} ms  {key}")
    if exports:
        print("\nexport (reports.export: build + suppression + rendering), one fresh process each:")
    for fmt in ("xlsx", "docx") if exports else ():
        plain, traced = exports[(fmt, False)], exports[(fmt, True)]
        print(
            f"  {fmt}: {plain['seconds']:.2f} s, {plain['bytes']:,} bytes; peak resident "
            f"(VmHWM) {plain['start_hwm_kb'] / 1024:.0f} MB after start-up -> "
            f"{plain['end_hwm_kb'] / 1024:.0f} MB after the export; ru_maxrss "
            f"{plain['start_maxrss_kb'] / 1024:.0f} -> {plain['end_maxrss_kb'] / 1024:.0f} MB"
            f"; tracemalloc peak {traced['traced_peak'] / 1e6:.1f} MB (traced run "
            f"{traced['seconds']:.2f} s)"
        )
    if exports:
        print(
            "  (Linux carries the parent's resident size at fork into the child's ru_maxrss "
            "across exec, so ru_maxrss starts at this process's size; VmHWM is the child's "
            "own.)"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\nthis process: ru_maxrss {rss / 1024:.0f} MB (the fill included)")
    if builds:
        ratio = min(summed_builds) / min(builds)
        ok = ratio <= 1 / 20 and identical
        print(
            f"annual report from rollups <= 1/20 of the full scan: {'PASS' if ok else 'FAIL'} "
            f"(best {min(summed_builds):.3f} s against {min(builds):.2f} s: 1/{1 / ratio:.0f}"
            + ("" if identical else "; figures differ")
            + ")"
        )
    if combined:
        at_once, one_by_one, statements, same = combined
        print(
            f"combined report of the province ({len(world['schools'])} schools, none submitted), "
            f"for information: {min(at_once) * 1000:.0f} ms in {statements[0]} statements, the "
            f"schools' figures read at once, against {min(one_by_one) * 1000:.0f} ms in "
            f"{statements[1]} statements school by school (best of {len(at_once)}); same "
            f"figures: {'yes' if same else 'NO'}"
        )
    if exports:
        peak_mb = max(e["end_hwm_kb"] for e in exports.values()) / 1024
        print(
            f"peak RSS < 300 MB: {'PASS' if peak_mb < 300 else 'FAIL'} "
            f"(largest VmHWM of the export processes: {peak_mb:.0f} MB)"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
