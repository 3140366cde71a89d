"""The report from rollups (services/reports/rollups.py) is the full scan's report, table for
table: on random cases, persons, violence types, steps and transitions across months, changed
after a first report (a corrected date, a person withdrawn, a step removed, a case moved to
another school), a school moved under another office on a random day (the 2026 reform), and a
random period of whole months, unit, school level, ``within`` and viewer with exclusions: the
same Table objects (cells, column totals) and the same timeliness, and the same published
figures once small cells are suppressed. Runs on SQLite and on PostgreSQL
(TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, time, timedelta

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
    Unit,
    User,
)
from caseapp.models import cases as domain
from caseapp.models import steps as step_domain
from caseapp.models.reports import CaseOfficeRollup, CaseRollup, CaseRollupMark
from caseapp.models.units import SCHOOL_LEVELS
from caseapp.services.org import units as unit_service
from caseapp.services.reports import rollups
from caseapp.services.reports import tables as report_tables
from caseapp.services.reports.suppression import suppress
from tests.factories import signed_in_as

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
cases = st.lists(
    st.fixed_dictionaries(
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
    ),
    min_size=1,
    max_size=10,
)
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
            school_b = schools[1]
            unit_service.move_unit(
                db,
                None,
                school_b,
                db.get(Unit, world.units["D2"]),
                START + timedelta(days=move),
                school_b.version,
            )
            db.flush()
            db.expire_all()
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
