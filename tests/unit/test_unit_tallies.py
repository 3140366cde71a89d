"""The per-school tallies (services/cases/tallies.py, kept after every flush) equal a fresh
GROUP BY over the cases and transitions, on random histories: intakes, changes of status
(closing with its transition, reopening), of risk and serious risk, assignments, a case moved
to another school, its day of receipt corrected; closures at the edges of a month where the
users are (17:00 UTC on the last day is already the next month in Vietnam); cases flushed
with their old state loaded or expired."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from caseapp.models import Case, CaseTransition
from caseapp.models.reports import UnitCaseTally
from caseapp.services.cases import tallies
from tests.factories import Visitor

STATUSES = ("new", "verifying", "supporting", "monitoring", "closure_requested", "reopened")
RISKS = ("low", "medium", "high", "immediate")
SCHOOLS = ("SCH-A", "SCH-B", "SCH-C")
BASE = date(2026, 1, 31)

days = st.integers(min_value=-40, max_value=40).map(lambda n: BASE + timedelta(days=n))
# Around 17:00 UTC, when the day (and at a month's end the month) changes in Vietnam.
moments = st.builds(
    lambda d, s: datetime.combine(d, time(17), tzinfo=UTC) + timedelta(seconds=s),
    days,
    st.integers(min_value=-2, max_value=2),
)
changes = st.one_of(
    st.tuples(st.just("intake"), st.sampled_from(SCHOOLS), days, st.sampled_from(RISKS)),
    st.tuples(st.just("status"), st.integers(0, 9), st.sampled_from(STATUSES)),
    st.tuples(st.just("close"), st.integers(0, 9), moments),
    st.tuples(st.just("risk"), st.integers(0, 9), st.sampled_from(RISKS)),
    st.tuples(st.just("serious"), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("assign"), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("move"), st.integers(0, 9), st.sampled_from(SCHOOLS)),
    st.tuples(st.just("received"), st.integers(0, 9), days),
    st.tuples(
        st.just("expire"),
    ),
)


def _case(unit_id: int, received_on: date, risk: str) -> Case:
    number = uuid.uuid4().int % 10**9
    return Case(
        public_id=str(uuid.uuid4()),
        reference=f"TALLY-{number}",
        unit_id=unit_id,
        year=received_on.year,
        number=number,
        received_on=received_on,
        received_via="in_person",
        reporter_kind="teacher",
        setting="in_school",
        child=True,
        harmed_sex_group="female",
        risk_level=risk,
        wrapped_key=b"x" * 60,
    )


def _apply(db, world, cases: list[Case], change) -> None:
    kind = change[0]
    if kind == "intake":
        case = _case(world.units[change[1]], change[2], change[3])
        db.add(case)
        cases.append(case)
        return
    if kind == "expire":
        db.expire_all()  # the next change loads the old value first (active_history)
        return
    if not cases:
        return
    case = cases[change[1] % len(cases)]
    if kind == "status":
        case.status = change[2]
    elif kind == "close":
        db.add(
            CaseTransition(
                case_id=case.id, from_status=case.status, to_status="closed", at=change[2]
            )
        )
        case.status = "closed"
    elif kind == "risk":
        case.risk_level = change[2]
    elif kind == "serious":
        case.serious_risk_to_child = change[2]
    elif kind == "assign":
        case.assigned_to_id = world["focal_a"].id if change[2] else None
    elif kind == "move":
        case.unit_id = world.units[change[2]]
    elif kind == "received":
        case.received_on = change[2]


def _agree(db) -> None:
    conn = db.connection()
    assert tallies.stored(conn) == tallies.computed(conn)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(changes, max_size=25), flush_each=st.booleans())
def test_the_tallies_equal_a_fresh_count(db, world, history, flush_each):
    nested = db.begin_nested()
    try:
        tallies.rebuild(db.connection())  # whatever the fixtures loaded, counted
        cases: list[Case] = []
        for change in history:
            _apply(db, world, cases, change)
            if flush_each or change[0] == "intake":
                db.flush()
                _agree(db)
        db.flush()
        _agree(db)
    finally:
        nested.rollback()


def test_an_intake_through_the_service_is_counted_once(app, db, world):
    tallies.rebuild(db.connection())
    db.commit()
    school = world.units["SCH-A"]
    before = db.get(UnitCaseTally, school)
    total = before.total if before else 0
    Visitor(app, db, world["focal_a"], lang="en").intake(db, school)
    db.expire_all()
    assert db.scalar(select(UnitCaseTally.total).where(UnitCaseTally.unit_id == school)) == (
        total + 1
    )
    conn = db.connection()
    assert tallies.stored(conn) == tallies.computed(conn)


def test_the_tallies_are_not_audited_and_leave_the_case_version(db, world):
    case = _case(world.units["SCH-B"], BASE, "low")
    db.add(case)
    db.flush()
    version = case.version
    case.risk_level = "high"
    db.flush()
    assert case.version == version + 1  # the change itself, not the tallies
    assert case not in db.dirty


def test_the_closures_of_a_moved_case_follow_it(db, world):
    nested = db.begin_nested()
    try:
        tallies.rebuild(db.connection())
        case = _case(world.units["SCH-A"], BASE, "high")
        db.add(case)
        db.flush()
        at = datetime(2026, 1, 31, 17, 0, tzinfo=UTC)  # 1 February in Vietnam
        db.add(CaseTransition(case_id=case.id, from_status="new", to_status="closed", at=at))
        case.status = "closed"
        db.flush()
        _agree(db)
        case.unit_id = world.units["SCH-C"]
        db.flush()
        _agree(db)
        months = tallies.stored(db.connection())[1]
        assert months[(world.units["SCH-C"], 2026 * 12 + 1)] == (0, 1)
    finally:
        nested.rollback()


def test_monitoring_reads_the_tallies_less_the_excluded_and_caps_overdue(db, world, monkeypatch):
    from caseapp.models import CaseExclusion, Unit, User
    from caseapp.services.cases import monitoring

    nested = db.begin_nested()
    try:
        tallies.rebuild(db.connection())
        officer = db.get(User, world["officer_d1"].id)
        district = db.get(Unit, world.units["D1"])
        before = {r["unit"].code: r for r in monitoring.school_rows(db, officer, district)}
        trend_before = monitoring.monthly_trend(db, officer, district)
        school = world.units["SCH-B"]
        late = []
        for _ in range(4):  # monitoring without a follow-up: overdue at once
            case = _case(school, monitoring.local_today(), "immediate")
            case.status = "monitoring"
            db.add(case)
            late.append(case)
        db.flush()
        db.add(CaseExclusion(case_id=late[0].id, user_id=officer.id))
        db.flush()
        rows = {r["unit"].code: r for r in monitoring.school_rows(db, officer, district)}
        b, was = rows["SCH-B"], before["SCH-B"]
        assert b["total"] - was["total"] == 3 == b["open"] - was["open"]
        assert b["high_risk"] - was["high_risk"] == 3 == b["unassigned"] - was["unassigned"]
        assert b["overdue"] - was["overdue"] == 3 and not b["overdue_more"]
        trend = monitoring.monthly_trend(db, officer, district)
        assert trend[-1]["received"] - trend_before[-1]["received"] == 3
        monkeypatch.setattr(monitoring, "OVERDUE_CEILING", b["overdue"] - 1)
        rows = {r["unit"].code: r for r in monitoring.school_rows(db, officer, district)}
        assert rows["SCH-B"]["overdue"] == b["overdue"] - 1 and rows["SCH-B"]["overdue_more"]
        monkeypatch.setattr(monitoring, "OVERDUE_CEILING", b["overdue"])
        rows = {r["unit"].code: r for r in monitoring.school_rows(db, officer, district)}
        assert rows["SCH-B"]["overdue"] == b["overdue"] and not rows["SCH-B"]["overdue_more"]
    finally:
        nested.rollback()
