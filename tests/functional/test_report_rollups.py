"""The report from rollups (services/reports/rollups.py) is the full scan's report, table for
table: on random cases, persons, violence types, steps and transitions across months, changed
after a first report (a corrected date, a person withdrawn, a step removed, a case moved to
another school), a school moved under another office on a random day (the 2026 reform), and a
random period of whole months, unit, school level, ``within`` and viewer with exclusions: the
same Table objects (cells, column totals) and the same timeliness, and the same published
figures once small cells are suppressed. Runs on SQLite and on PostgreSQL
(TEST_DATABASE_URL)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from datetime import UTC, date, datetime, time, timedelta
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from caseapp.models import (
    Case,
    CaseExclusion,
    CasePerson,
    CaseStep,
    CaseTransition,
    CaseViolenceType,
    ReportSnapshot,
    Unit,
    User,
)
from caseapp.models import cases as domain
from caseapp.models import steps as step_domain
from caseapp.models.reports import CaseOfficeRollup, CaseRollup, CaseRollupMark
from caseapp.models.selfreports import REPORT_STATUSES
from caseapp.models.units import SCHOOL_LEVELS
from caseapp.services.org import units as unit_service
from caseapp.services.org.history import elsewhere_during, paths_during
from caseapp.services.reports import periods as periods_service
from caseapp.services.reports import rollups
from caseapp.services.reports import tables as report_tables
from caseapp.services.reports.periods import Period
from caseapp.services.reports.suppression import suppress
from tests.factories import make_unit, selects, signed_in_as, statements_sent
from tests.functional.selfreport_support import add_self_report

START = date(2024, 9, 1)  # cases over fourteen months from here
DAYS = 425
SCHOOLS = ("SCH-A", "SCH-B", "SCH-C")

days = st.integers(min_value=-20, max_value=DAYS + 60).map(lambda n: START + timedelta(days=n))
# Instants around the day's change in Vietnam (17:00 UTC), month ends included.
instants = st.builds(
    lambda d, s: datetime.combine(d, time(17), tzinfo=UTC) + timedelta(seconds=s),
    days,
    st.sampled_from((-3600, -1, 0, 1, 3600, -17 * 3600, 6 * 3600)),
)
persons = st.lists(
    st.fixed_dictionaries(
        {
            "position": st.sampled_from(("harmed", "perpetrator")),
            "sex": st.sampled_from(domain.SEXES),
            "age_band": st.sampled_from(domain.AGE_BANDS),
            "role": st.none() | st.sampled_from(domain.HARMED_ROLES),
            "relationship": st.none() | st.sampled_from(domain.RELATIONSHIPS),
            "withdrawn": st.booleans(),
        }
    ),
    max_size=4,
)
steps = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(("verification", "support", "referral", "follow_up")),
            "status": st.none()
            | st.sampled_from(step_domain.SUPPORT_STATUSES + step_domain.REFERRAL_STATUSES),
            "service": st.none() | st.sampled_from(step_domain.SUPPORT_SERVICES),
            "done_on": st.none() | days,
            "finding": st.none() | st.sampled_from(step_domain.FINDINGS),
        }
    ),
    max_size=4,
)
transitions = st.lists(
    st.tuples(st.sampled_from(domain.STATUSES), instants),
    max_size=4,
)
case_specs = st.fixed_dictionaries(
    {
        "school": st.sampled_from(SCHOOLS),
        "received": st.integers(min_value=0, max_value=DAYS),
        "group": st.sampled_from(report_tables.GROUP_COLUMNS),
        "via": st.sampled_from(("in_person", "phone", "self_report")),
        "due": st.none() | st.integers(min_value=-3, max_value=45),
        "types": st.sets(st.sampled_from(domain.VIOLENCE_TYPES), max_size=3),
        "persons": persons,
        "steps": steps,
        "transitions": transitions,
        "excluded": st.booleans(),
    }
)
cases = st.lists(case_specs, min_size=1, max_size=10)
# After a first report: (what, which case, a value).
changes = st.lists(
    st.tuples(
        st.sampled_from(("received", "school", "withdraw", "drop_step", "type")),
        st.integers(min_value=0, max_value=9),
        st.integers(min_value=0, max_value=DAYS),
    ),
    max_size=4,
)
periods = st.tuples(st.integers(min_value=-1, max_value=15), st.integers(min_value=1, max_value=14))


def _month_start(offset: int) -> date:
    month = START.year * 12 + START.month - 1 + offset
    return date(month // 12, month % 12 + 1, 1)


def _add_case(db, spec: dict, school: Unit, viewer_id: int) -> Case:
    number = uuid.uuid4().int % 10**9
    received = START + timedelta(days=spec["received"])
    case = Case(
        public_id=str(uuid.uuid4()),
        reference=f"ROLL-{number}",
        unit_id=school.id,
        year=received.year,
        number=number,
        status="new",
        received_on=received,
        received_via=spec["via"],
        reporter_kind="teacher",
        setting="in_school",
        child=True,
        harmed_sex_group=spec["group"],
        risk_level="medium",
        verification_due_on=None if spec["due"] is None else received + timedelta(spec["due"]),
        wrapped_key=b"x" * 60,
    )
    db.add(case)
    db.flush()
    for kind in spec["types"]:
        db.add(CaseViolenceType(case_id=case.id, type=kind))
    for i, p in enumerate(spec["persons"]):
        db.add(
            CasePerson(
                uid=str(uuid.uuid4()),
                case_id=case.id,
                position=p["position"],
                ordinal=i + 1,
                sex=p["sex"],
                age_band=p["age_band"],
                role=p["role"],
                relationship=p["relationship"],
                withdrawn_at=datetime(2025, 1, 1, tzinfo=UTC) if p["withdrawn"] else None,
            )
        )
    for s in spec["steps"]:
        db.add(CaseStep(uid=str(uuid.uuid4()), case_id=case.id, **s))
    for to_status, at in spec["transitions"]:
        db.add(CaseTransition(case_id=case.id, from_status="new", to_status=to_status, at=at))
    if spec["excluded"]:
        db.add(CaseExclusion(case_id=case.id, user_id=viewer_id))
    db.flush()
    return case


def _change(db, made: list[Case], schools: list[Unit], change) -> None:
    what, which, value = change
    case = made[which % len(made)]
    if what == "received":
        case.received_on = START + timedelta(days=value)
    elif what == "school":
        case.unit_id = schools[value % len(schools)].id
    elif what == "withdraw":
        person = db.scalar(select(CasePerson).where(CasePerson.case_id == case.id).limit(1))
        if person is not None:
            person.withdrawn_at = datetime(2025, 2, 1, tzinfo=UTC)
    elif what == "drop_step":
        step = db.scalar(select(CaseStep).where(CaseStep.case_id == case.id).limit(1))
        if step is not None:
            db.delete(step)
    elif what == "type":
        row = db.scalar(select(CaseViolenceType).where(CaseViolenceType.case_id == case.id))
        if row is not None:
            db.delete(row)
        else:
            db.add(CaseViolenceType(case_id=case.id, type="cyber"))
    db.flush()


def _move_b_to_d2(db, world, schools: list[Unit], day: int) -> None:
    """SCH-B (``schools[1]``) moves from D1 to D2 on START + ``day`` (the 2026 reform)."""
    school_b = schools[1]
    d2 = db.get(Unit, world.units["D2"])
    unit_service.move_unit(db, None, school_b, d2, START + timedelta(days=day), school_b.version)
    db.flush()
    db.expire_all()


def _published(report: report_tables.Report) -> list:
    out = []
    for t in report.tables:
        cells = [[t.cell(r, c) for c in t.cols] for r in t.rows]
        if t.suppressible and t.rows and t.cols:
            out.append(suppress(cells, [t.col_total(c) for c in t.cols], 5))
    return out


def _offices_right(db) -> None:
    """The offices' sums are the sums of the school rows (kept by difference, never drifting)."""
    conn = db.connection()
    assert rollups.offices_stored(conn) == rollups.offices_computed(conn)


def _same(db, unit, date_from, date_to, **kw) -> None:
    scan = report_tables.build(db, unit, date_from, date_to, source="scan", **kw)
    summed = report_tables.build(db, unit, date_from, date_to, source="rollups", **kw)
    for a, b in zip(scan.tables, summed.tables, strict=True):
        assert a == b, (a.key, a.cells, a.col_totals, b.cells, b.col_totals)
    assert scan.timeliness == summed.timeliness
    assert _published(scan) == _published(summed)
    _offices_right(db)
    viewer = kw.get("viewer")
    if viewer is not None:
        # The same figures with the viewer's exclusions as their sign-in session reads them
        # (ids written into the statements, access.excluded_from) as when asked by their id.
        assert signed_in_as(db, viewer) is viewer and viewer.excluded_case_ids is not None
        try:
            for source in ("scan", "rollups"):
                known = report_tables.build(db, unit, date_from, date_to, source=source, **kw)
                assert known.tables == scan.tables and known.timeliness == scan.timeliness
        finally:
            viewer.excluded_case_ids = None


@settings(
    max_examples=int(os.environ.get("ROLLUP_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=cases,
    later=changes,
    move=st.none() | st.integers(min_value=0, max_value=DAYS),
    period=periods,
    pick=st.tuples(
        st.sampled_from(("PRV", "D1", "D2", "SCH-A", "SCH-B")),
        st.booleans(),  # the viewer (with exclusions) or the official figures
        st.none() | st.sampled_from(SCHOOL_LEVELS),
        st.booleans(),  # within D1
    ),
)
def test_rollups_give_the_scans_figures(db, world, data, later, move, period, pick):
    nested = db.begin_nested()
    try:
        schools = [db.get(Unit, world.units[code]) for code in SCHOOLS]
        viewer = db.get(User, world.people["officer_p"].id)
        made = [
            _add_case(db, spec, schools[SCHOOLS.index(spec["school"])], viewer.id) for spec in data
        ]
        first, months = period
        date_from = _month_start(first)
        date_to = _month_start(first + months) - timedelta(days=1)
        code, as_viewer, level, within_d1 = pick
        unit = db.get(Unit, world.units[code])
        kw = {
            "viewer": viewer if as_viewer else None,
            "level": level,
            "within": db.get(Unit, world.units["D1"]) if within_d1 else None,
        }
        _same(db, unit, date_from, date_to, **kw)
        for change in later:
            _change(db, made, schools, change)
        if move is not None:  # SCH-B goes from D1 to D2 on a random day
            _move_b_to_d2(db, world, schools, move)
            unit = db.get(Unit, world.units[code])
        _same(db, unit, date_from, date_to, **kw)
    finally:
        nested.rollback()


def test_a_period_of_part_months_goes_to_the_scan(db, world):
    prv = db.get(Unit, world.units["PRV"])
    with pytest.raises(ValueError):
        report_tables.build(db, prv, date(2025, 1, 2), date(2025, 3, 31), source="rollups")
    report_tables.build(db, prv, date(2025, 1, 2), date(2025, 3, 31))  # auto: the scan


def test_a_flush_marks_and_a_report_clears(db, world):
    """The mark is written in the transaction of the change; the report recomputes it."""
    school = db.get(Unit, world.units["SCH-C"])
    rollups.refresh(db)
    spec = {
        "received": 40,
        "group": "female",
        "via": "phone",
        "due": 10,
        "types": {"physical"},
        "persons": [],
        "steps": [],
        "transitions": [],
        "excluded": False,
    }
    case = _add_case(db, spec, school, world.people["officer_p"].id)
    month = rollups.month_of(case.received_on)
    assert db.scalar(
        select(func.count())
        .select_from(CaseRollupMark)
        .where(CaseRollupMark.unit_id == school.id, CaseRollupMark.month == month)
    )
    report = report_tables.build(db, school, date(2024, 10, 1), date(2024, 10, 31))
    assert report.table("violence_by_sex").cell("physical", "female") == 1
    assert not db.scalar(select(func.count()).select_from(CaseRollupMark))
    assert db.scalar(
        select(func.sum(CaseRollup.n)).where(
            CaseRollup.unit_id == school.id, CaseRollup.figure == "cases"
        )
    )


def _spec(**kw) -> dict:
    spec = {
        "received": 40,
        "group": "female",
        "via": "phone",
        "due": 10,
        "types": {"physical"},
        "persons": [
            {
                "position": "harmed",
                "sex": "female",
                "age_band": domain.AGE_BANDS[0],
                "role": None,
                "relationship": None,
                "withdrawn": False,
            }
        ],
        "steps": [
            {
                "kind": "verification",
                "status": None,
                "service": None,
                "done_on": START + timedelta(days=45),
                "finding": step_domain.FINDINGS[0],
            }
        ],
        "transitions": [("closed", datetime(2024, 11, 20, 3, tzinfo=UTC))],
        "excluded": False,
    }
    spec.update(kw)
    return spec


def test_office_sums_follow_moves_exclusions_and_changes_of_school(db, world):
    """The sums per office (case_office_rollups) stay the school rows' sums, and the reports
    of the province, of each office and of a school stay the scan's, through: cases at
    schools and one recorded at an office itself, a case moved to a school of the other
    office, a corrected date of receipt, an exclusion, and a school moved under the other
    office (the 2026 reform)."""
    viewer = db.get(User, world.people["officer_p"].id)
    viewer_id = viewer.id
    a, b, c = (db.get(Unit, world.units[code]) for code in SCHOOLS)
    d1, d2, prv = (db.get(Unit, world.units[code]) for code in ("D1", "D2", "PRV"))
    made = [
        _add_case(db, _spec(received=10 * i, group=("female", "male")[i % 2]), school, viewer_id)
        for i, school in enumerate((a, a, b, b, c, c))
    ]
    at_office = _add_case(db, _spec(received=70, excluded=True), d1, viewer_id)
    date_from, date_to = date(2024, 9, 1), date(2025, 8, 31)

    def check() -> None:
        for unit in (prv, d1, d2, a, b, c):
            db.refresh(unit)
            for shown_to in (None, viewer):
                _same(db, unit, date_from, date_to, viewer=shown_to)

    check()
    assert db.scalar(select(func.count()).select_from(CaseOfficeRollup))
    made[0].unit_id = c.id  # a case of SCH-A recorded at SCH-C after all
    made[2].received_on = made[2].received_on + timedelta(days=60)
    db.add(CaseExclusion(case_id=made[3].id, user_id=viewer_id))
    at_office.unit_id = d2.id
    db.flush()
    check()
    unit_service.move_unit(db, None, b, d2, START + timedelta(days=25), b.version)
    db.flush()
    db.expire_all()
    check()
    # Everything recomputed from scratch gives the same sums.
    conn = db.connection()
    before = rollups.offices_stored(conn)
    rollups.rebuild_all(db)
    assert rollups.offices_stored(conn) == before
    assert rollups.rebuild_offices(conn) == len(before)
    assert rollups.offices_stored(conn) == before


# Self-reports for the combined report's grouped figures: (school, day, status, where it waits:
# routed to the school or to the office above, escalated or not).
self_reports = st.lists(
    st.tuples(
        st.sampled_from(SCHOOLS),
        st.integers(min_value=0, max_value=DAYS),
        st.sampled_from(REPORT_STATUSES),
        st.sampled_from(("school", "office", "school_escalated")),
    ),
    max_size=6,
)


def _add_self_report(db, school: Unit, day: int, status: str, route: str) -> None:
    office = db.get(Unit, school.parent_id)
    report = add_self_report(db, school, START + timedelta(days=day), status)
    if route == "office":
        report.routed_unit_id, report.route = office.id, "asked_office"
    elif route == "school_escalated":
        report.escalated_unit_id = office.id
    db.flush()


def _snapshot(db, school: Unit, span: Period) -> None:
    data = report_tables.build(db, school, span.date_from, span.date_to).as_dict()
    for table in data["tables"]:
        table["cells"] = [[n + 7 for n in row] for row in table["cells"]]
        table["col_totals"] = [n + 7 for n in table["col_totals"]]
    text = json.dumps(data)
    db.add(
        ReportSnapshot(
            unit_id=school.id,
            period_key=span.key,
            date_from=span.date_from,
            date_to=span.date_to,
            due_on=span.due_on,
            data=text,
            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        )
    )
    db.flush()


def _each_school(db, unit: Unit, date_from: date, date_to: date) -> dict[int, list]:
    """Each school below ``unit`` in the period built on its own, as the combined report did
    school by school: within ``unit`` when it sat elsewhere for part of the period."""
    schools = paths_during(db, unit, date_from, date_to, kind="school")
    moved = elsewhere_during(db, unit, list(schools), date_from, date_to)
    built = {}
    for school_id in schools:
        school = db.get(Unit, school_id)
        within = unit if school_id in moved else None
        report = report_tables.build(db, school, date_from, date_to, within=within)
        built[school_id] = [t for t in report.tables if t.key != "activities"]
    return built


@settings(
    max_examples=int(os.environ.get("ROLLUP_EXAMPLES", "60")) // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.lists(case_specs, min_size=4, max_size=12),
    reports=self_reports,
    later=changes,
    move=st.integers(min_value=0, max_value=DAYS),
    period=periods,
    code=st.sampled_from(("PRV", "D1", "D2")),
)
def test_every_schools_figures_at_once_are_each_schools_own(
    db, world, data, reports, later, move, period, code
):
    """The combined report reads the figures of all its schools in a few statements
    (tables.schools_within): the same tables as each school's own report (within the unit for a
    school that moved during the period), on random cases, self-reports, later changes and a
    school moved on a random day; and the combined report itself is the same as when built
    school by school."""
    nested = db.begin_nested()
    try:
        schools = [db.get(Unit, world.units[c]) for c in SCHOOLS]
        viewer = db.get(User, world.people["officer_p"].id)
        made = [
            _add_case(db, spec, schools[SCHOOLS.index(spec["school"])], viewer.id) for spec in data
        ]
        for school_code, day, status, route in reports:
            _add_self_report(db, schools[SCHOOLS.index(school_code)], day, status, route)
        for change in later:
            _change(db, made, schools, change)
        _move_b_to_d2(db, world, schools, move)  # on a random day
        first, months = period
        date_from = _month_start(first)
        date_to = _month_start(first + months) - timedelta(days=1)
        unit = db.get(Unit, world.units[code])
        built = _each_school(db, unit, date_from, date_to)
        moved = elsewhere_during(db, unit, list(built), date_from, date_to)
        at_once = report_tables.schools_within(
            db, unit, date_from, date_to, {s: s not in moved for s in built}
        )
        assert at_once is not None
        assert at_once == built
        # The combined report, both ways, with snapshots submitted by SCH-A and SCH-B (each
        # cell 7 more than its live figure: used for SCH-A, not for SCH-B if it moved).
        span = Period("annual:test", "annual", date_from, date_to, date_to + timedelta(days=15))
        for school in schools[:2]:
            _snapshot(db, school, span)
        grouped = periods_service.combined(db, unit, span)
        with mock.patch.object(report_tables, "schools_within", return_value=None):
            one_by_one = periods_service.combined(db, unit, span)
        assert grouped[1:] == one_by_one[1:]
        assert grouped[0].tables == one_by_one[0].tables
    finally:
        nested.rollback()


def test_a_school_moved_in_the_period_counts_what_it_received_below_the_unit(db, world):
    """SCH-B moves from D1 to D2 in the middle of the period, with cases and self-reports on
    both sides of the move: each office's figures of it, read for all its schools at once,
    are those of its own report within the office (D1 the first part, D2 the second, the
    province both), and the combined reports agree both ways."""
    nested = db.begin_nested()
    try:
        schools = [db.get(Unit, world.units[c]) for c in SCHOOLS]
        viewer = db.get(User, world.people["officer_p"].id)
        spec = {
            "group": "female",
            "via": "phone",
            "due": None,
            "persons": [],
            "steps": [],
            "transitions": [],
            "excluded": False,
        }
        # Received on days 40 and 60 (before the move on day 100) and 130 (after it).
        for day, kind in ((40, "cyber"), (60, "physical"), (130, "cyber")):
            _add_case(db, dict(spec, received=day, types={kind}), schools[1], viewer.id)
        for day, route in ((50, "school"), (70, "office"), (120, "school"), (140, "office")):
            _add_self_report(db, schools[1], day, "new", route)
        _add_case(db, dict(spec, received=45, types={"cyber"}), schools[0], viewer.id)
        _move_b_to_d2(db, world, schools, 100)
        date_from, date_to = _month_start(0), _month_start(6) - timedelta(days=1)
        span = Period("annual:test", "annual", date_from, date_to, date_to + timedelta(days=15))
        # SCH-B's cases and self-reports at each office. A report counts where it waits now
        # (channels.waits_within): SCH-B's no longer wait below D1; those sent to the office
        # never count at the school.
        expected = {"D1": (2, 0), "D2": (1, 1), "PRV": (3, 2)}
        for code, (n_cases, n_reports) in expected.items():
            unit = db.get(Unit, world.units[code])
            built = _each_school(db, unit, date_from, date_to)
            moved = elsewhere_during(db, unit, list(built), date_from, date_to)
            assert moved == (set() if code == "PRV" else {schools[1].id})
            at_once = report_tables.schools_within(
                db, unit, date_from, date_to, {s: s not in moved for s in built}
            )
            assert at_once == built
            school_b = {t.key: t for t in at_once[schools[1].id]}
            assert school_b["violence_by_sex"].total() == n_cases
            assert school_b["self_reports"].total() == n_reports
            grouped = periods_service.combined(db, unit, span)
            with mock.patch.object(report_tables, "schools_within", return_value=None):
                one_by_one = periods_service.combined(db, unit, span)
            assert grouped[0].tables == one_by_one[0].tables and grouped[1:] == one_by_one[1:]
    finally:
        nested.rollback()


def test_the_combined_report_costs_the_same_statements_for_any_number_of_schools(db, world):
    """Each school's figures used to be a report of its own (a dozen statements a school: some
    twenty thousand for a province of 1,500 schools); now the same few statements answer for
    every school, whether two or twelve."""
    engine = db.get_bind().engine
    d1 = db.get(Unit, world.units["D1"])
    viewer = db.get(User, world.people["officer_p"].id)
    spec = {
        "group": "male",
        "via": "phone",
        "due": None,
        "types": {"physical"},
        "persons": [],
        "steps": [],
        "transitions": [],
        "excluded": False,
    }
    date_from, date_to = _month_start(0), _month_start(12) - timedelta(days=1)
    span = Period("annual:test", "annual", date_from, date_to, date_to + timedelta(days=15))

    def combined() -> tuple[int, int]:
        rollups.refresh(db)
        with statements_sent(engine) as sent:
            report, _submitted, schools = periods_service.combined(db, d1, span)
        assert report.table("violence_by_sex").total() == schools  # a case at each school
        return len(selects(sent)), schools

    for code in ("SCH-A", "SCH-B"):
        _add_case(db, dict(spec, received=30), db.get(Unit, world.units[code]), viewer.id)
    few, two = combined()
    for i in range(10):
        school = make_unit(db, d1, f"SCH-N{i}", "school", f"Trường N{i}")
        _add_case(db, dict(spec, received=30 + i), school, viewer.id)
    many, twelve = combined()
    assert (two, twelve) == (2, 12)
    assert many == few
