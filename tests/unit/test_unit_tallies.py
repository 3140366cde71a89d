"""The per-school tallies (services/cases/tallies.py, kept after every flush) equal a fresh
GROUP BY over the cases and transitions, on random histories: intakes, changes of status
(closing with its transition, reopening), of risk and serious risk, assignments, a case moved
to another school, its day of receipt corrected; closures at the edges of a month where the
users are (17:00 UTC on the last day is already the next month in Vietnam); cases flushed
with their old state loaded or expired. With them the days (and months) the cases' clocks run
out (moved by cases.clocks): clocks set at intake and corrected, steps added and finished,
moments around midnight where the users are and at the turn of a month; and monitoring's
overdue cases, read from them, equal the cases overdue now, whichever side of a day's first
moment the present falls."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from caseapp.models import Case, CaseStep, CaseTransition
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
maybe_day = st.none() | days
# Around 00:00 UTC too (07:00 in Vietnam: a moment of the day).
midnights = st.builds(
    lambda d, s: datetime.combine(d, time(0), tzinfo=UTC) + timedelta(seconds=s),
    days,
    st.integers(min_value=-2, max_value=2),
)
changes = st.one_of(
    st.tuples(st.just("intake"), st.sampled_from(SCHOOLS), days, st.sampled_from(RISKS)),
    st.tuples(st.just("verification"), st.integers(0, 9), maybe_day),
    st.tuples(st.just("intervention"), st.integers(0, 9), st.none() | moments | midnights),
    st.tuples(
        st.just("step"),
        st.integers(0, 9),
        st.sampled_from(("verification", "support", "follow_up")),
        days,
    ),
    st.tuples(st.just("finish"), st.integers(0, 9), maybe_day),
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


def _apply(db, world, cases: list[Case], change, steps: list[CaseStep]) -> None:
    kind = change[0]
    if kind == "intake":
        case = _case(world.units[change[1]], change[2], change[3])
        case.verification_due_on = change[2]  # a clock from the start: a moment in the INSERT
        db.add(case)
        cases.append(case)
        return
    if kind == "expire":
        db.expire_all()  # the next change loads the old value first (active_history)
        return
    if kind == "finish":
        if steps:
            steps[change[1] % len(steps)].done_on = change[2]
        return
    if not cases:
        return
    case = cases[change[1] % len(cases)]
    if kind == "step":
        if case.id is None:
            db.flush()
        step = CaseStep(uid=str(uuid.uuid4()), case_id=case.id, kind=change[2], due_on=change[3])
        db.add(step)
        steps.append(step)
        return
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
    elif kind == "verification":
        case.verification_due_on = change[2]
    elif kind == "intervention":
        case.intervention_due_at = change[2]


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
        steps: list[CaseStep] = []
        for change in history:
            _apply(db, world, cases, change, steps)
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


def test_monitoring_reads_the_tallies_less_the_excluded_and_counts_overdue_now(
    db, world, monkeypatch
):
    from sqlalchemy import func

    from caseapp.models import CaseExclusion, Unit, User
    from caseapp.services.cases import monitoring
    from caseapp.services.cases.deadlines import overdue_condition

    nested = db.begin_nested()
    try:
        tallies.rebuild(db.connection())
        officer = db.get(User, world["officer_d1"].id)
        district = db.get(Unit, world.units["D1"])
        before = {r["unit"].code: r for r in monitoring.school_rows(db, officer, district)}
        trend_before = monitoring.monthly_trend(db, officer, district)
        school = world.units["SCH-B"]
        today = monitoring.local_today()
        late = []
        for _ in range(4):  # monitoring without a follow-up: overdue at once
            case = _case(school, today, "immediate")
            case.status = "monitoring"
            db.add(case)
            late.append(case)
        # Clocks that ran out months ago, days ago, a second ago, and some still running.
        for due in (-400, -40, -3, -1, 0, 2, 35):
            case = _case(school, today, "low")
            case.verification_due_on = today + timedelta(days=due)
            db.add(case)
        # Clocks that are moments: an hour ago, in an hour, and at the very start of today
        # and the microsecond before it (the first of today's moments, the last of
        # yesterday's).
        start = tallies.day_start(today)
        for moment in (
            monitoring.utcnow() - timedelta(hours=1),
            monitoring.utcnow() + timedelta(hours=1),
            start,
            start - timedelta(microseconds=1),
        ):
            case = _case(school, today, "low")
            case.intervention_due_at = moment
            db.add(case)
        db.flush()
        db.add(CaseExclusion(case_id=late[0].id, user_id=officer.id))
        db.flush()
        assert tallies.stored(db.connection()) == tallies.computed(db.connection())
        rows = {r["unit"].code: r for r in monitoring.school_rows(db, officer, district)}
        b, was = rows["SCH-B"], before["SCH-B"]
        assert b["total"] - was["total"] == 14 == b["open"] - was["open"]
        assert b["high_risk"] - was["high_risk"] == 3
        assert b["unassigned"] - was["unassigned"] == 14
        overdue_now = db.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.unit_id == school, overdue_condition(), Case.id != late[0].id)
        )
        assert b["overdue"] == overdue_now and b["overdue"] - was["overdue"] >= 3 + 4 + 1
        trend = monitoring.monthly_trend(db, officer, district)
        assert trend[-1]["received"] - trend_before[-1]["received"] == 14
        # The day of the present as Python reads it a day or a month off the database's (the
        # instant a day or a month begins, either way): the same figures.
        now = monitoring.utcnow()
        for moved in (now + timedelta(days=d) for d in (1, -1, 31, -31)):
            monkeypatch.setattr(monitoring, "utcnow", lambda moved=moved: moved)
            again = {r["unit"].code: r for r in monitoring.school_rows(db, officer, district)}
            assert again["SCH-B"]["overdue"] == overdue_now
            assert [r["overdue"] for r in again.values()] == [r["overdue"] for r in rows.values()]
    finally:
        nested.rollback()
