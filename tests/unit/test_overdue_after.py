"""The stored moment after which a case is overdue (``Case.overdue_after``, kept by
services/cases/clocks.py after every flush) says exactly what every clock of the case says
(``overdue_parts``, the SQL over the case and its steps), on random histories of changes and at
random moments, the edges of each clock included (the microsecond before and after a deadline,
17:00 UTC when the day changes in Vietnam)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import and_, exists, select

from caseapp.clock import local_today
from caseapp.models import AuditEvent, Case, CaseStep
from caseapp.models.steps import FINDINGS, STEP_KINDS
from caseapp.services.cases import clocks, step_copies, tallies
from caseapp.services.cases.deadlines import (
    ACTIVE,
    ALWAYS,
    due_today,
    first_step_due_today,
    overdue_by_clocks,
    overdue_condition,
    steps_due_today,
)
from tests.factories import Visitor

STATUSES = (
    "new",
    "verifying",
    "supporting",
    "monitoring",
    "closure_requested",
    "closed",
    "reopened",
)
BASE = date(2026, 3, 1)
MICRO = timedelta(microseconds=1)

days = st.integers(min_value=-5, max_value=40).map(lambda n: BASE + timedelta(days=n))
maybe_day = st.none() | days
moments = st.builds(
    lambda d, s: datetime.combine(d, time(0), tzinfo=UTC) + timedelta(seconds=s),
    days,
    st.integers(min_value=0, max_value=86_399),
)
step_facts = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(STEP_KINDS),
        "due_on": maybe_day,
        "done_on": maybe_day,
        "finding": st.none() | st.sampled_from(FINDINGS),
    }
)
# One change to a case: a step added, a step finished (or reopened by a correction), a
# change of status, a clock set or cleared, the day received corrected (the steps' copy).
changes = st.one_of(
    st.tuples(st.just("received"), days),
    st.tuples(st.just("add"), step_facts),
    st.tuples(st.just("finish"), st.integers(min_value=0, max_value=9), maybe_day),
    st.tuples(st.just("status"), st.sampled_from(STATUSES)),
    st.tuples(st.just("intervention"), st.none() | moments),
    st.tuples(st.just("verification"), maybe_day),
    st.tuples(st.just("support"), maybe_day),
)


def _case(unit_id: int, status: str) -> Case:
    number = uuid.uuid4().int % 10**9
    return Case(
        public_id=str(uuid.uuid4()),
        reference=f"PROP-{number}",
        unit_id=unit_id,
        year=2026,
        number=number,
        status=status,
        received_on=BASE,
        received_via="in_person",
        reporter_kind="teacher",
        setting="in_school",
        child=True,
        harmed_sex_group="female",
        risk_level="medium",
        wrapped_key=b"x" * 60,
    )


def _apply(db, case: Case, steps: list[CaseStep], change) -> None:
    kind = change[0]
    if kind == "add":
        facts = change[1]
        step = CaseStep(uid=str(uuid.uuid4()), case_id=case.id, **facts)
        db.add(step)
        steps.append(step)
    elif kind == "finish" and steps:
        steps[change[1] % len(steps)].done_on = change[2]
    elif kind == "status":
        case.status = change[1]
    elif kind == "intervention":
        case.intervention_due_at = change[1]
    elif kind == "verification":
        case.verification_due_on = change[1]
    elif kind == "support":
        case.support_due_on = change[1]
    elif kind == "received":
        case.received_on = change[1]


def _edges(db, case_id: int) -> list[datetime]:
    """The moments where a clock of the case turns: each deadline and a microsecond around."""
    row = db.execute(
        select(Case.intervention_due_at, Case.verification_due_on, Case.support_due_on).where(
            Case.id == case_id
        )
    ).one()
    dues = list(db.scalars(select(CaseStep.due_on).where(CaseStep.case_id == case_id)))
    out: list[datetime] = []
    if row[0] is not None:
        at = row[0] if row[0].tzinfo else row[0].replace(tzinfo=UTC)
        out += [at - MICRO, at, at + MICRO]
    for day in (row[1], row[2], *dues):
        if day is not None:
            change = datetime.combine(day, time(17), tzinfo=UTC)  # 00:00 the next day in Vietnam
            out += [change - MICRO, change, change + MICRO]
    return out


def _agree(db, case_id: int, now: datetime) -> None:
    stored = db.scalar(select(Case.id).where(Case.id == case_id, overdue_condition(now)))
    clocks_say = db.scalar(select(Case.id).where(Case.id == case_id, overdue_by_clocks(now)))
    assert (stored is not None) == (clocks_say is not None), now
    # "Due today" is the plain definition: active, not overdue, a step not done due today.
    plain = and_(
        Case.status.in_(ACTIVE),
        ~overdue_by_clocks(now),
        exists(
            select(CaseStep.id).where(
                CaseStep.case_id == Case.id,
                CaseStep.done_on.is_(None),
                CaseStep.due_on == local_today(now),
            )
        ),
    )
    expected = db.scalar(select(Case.id).where(Case.id == case_id, plain)) is not None
    # The case list's filter (the same set, read from the steps by due day) agrees.
    listed = db.scalar(select(Case.id).where(Case.id == case_id, due_today(now))) is not None
    assert listed == expected, now
    # ... and so does the form its pages and my work read, one row per case joined to one step
    # due today.
    joined = db.scalars(
        select(Case.id)
        .join(CaseStep, CaseStep.case_id == Case.id)
        .where(Case.id == case_id, *first_step_due_today(now))
    ).all()
    assert joined == ([case_id] if expected else []), now
    # ... and so does the form the case list's count reads, from the steps alone (their copies
    # of the case's status and moment), the case once.
    counted = db.scalars(
        select(CaseStep.case_id)
        .where(CaseStep.case_id == case_id, *steps_due_today(now))
        .distinct()
    ).all()
    assert counted == ([case_id] if expected else []), now
    # Every step carries its case's school, day received, status and moment (step_copies,
    # clocks), whoever wrote it.
    copied = (Case.unit_id, Case.received_on, Case.status, Case.overdue_after)
    copies = {
        tuple(row)
        for row in db.execute(
            select(
                CaseStep.unit_id,
                CaseStep.received_on,
                CaseStep.case_status,
                CaseStep.case_overdue_after,
            ).where(CaseStep.case_id == case_id)
        )
    }
    case_facts = db.execute(select(*copied).where(Case.id == case_id)).one()
    assert copies <= {tuple(case_facts)}, copies


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    status=st.sampled_from(STATUSES),
    history=st.lists(changes, max_size=12),
    nows=st.lists(moments, min_size=1, max_size=6),
)
def test_the_stored_moment_agrees_with_every_clock(db, world, status, history, nows):
    nested = db.begin_nested()
    try:
        case = _case(world.units["SCH-A"], status)
        db.add(case)
        db.flush()
        steps: list[CaseStep] = []
        for change in history:
            _apply(db, case, steps, change)
            db.flush()
            # After every change, not only at the end: no intermediate state may be stale.
            for now in nows:
                _agree(db, case.id, now)
        for now in _edges(db, case.id):
            _agree(db, case.id, now)
    finally:
        nested.rollback()


def test_monitoring_without_a_follow_up_is_overdue_at_once(db, world):
    case = _case(world.units["SCH-A"], "monitoring")
    db.add(case)
    db.flush()
    assert case.overdue_after == ALWAYS
    db.add(CaseStep(uid=str(uuid.uuid4()), case_id=case.id, kind="follow_up", due_on=BASE))
    db.flush()
    assert case.overdue_after == datetime.combine(BASE, time(17), tzinfo=UTC) - MICRO


def test_the_moment_does_not_touch_the_case_version_nor_the_trail(db, world):
    """Derived data: keeping it is no edit of the case (no false conflict) and needs no
    audit event of its own (the change that moved a clock has one)."""
    case = _case(world.units["SCH-A"], "verifying")
    db.add(case)
    db.flush()
    version = case.version
    db.add(CaseStep(uid=str(uuid.uuid4()), case_id=case.id, kind="verification", due_on=BASE))
    db.flush()
    assert case.version == version
    assert case.overdue_after is not None
    assert case not in db.dirty


def test_refresh_all_repairs_a_bulk_loaded_moment(db, world):
    case = _case(world.units["SCH-A"], "monitoring")
    db.add(case)
    db.flush()
    db.execute(Case.__table__.update().where(Case.id == case.id).values(overdue_after=None))
    assert clocks.refresh_all(db) >= 1
    assert db.scalar(select(Case.overdue_after).where(Case.id == case.id)) is not None
    # The schools' overdue days and months counted again from the moments (the bulk load
    # wrote none, and a change of the time zone setting moves the days).
    conn = db.connection()
    assert tallies.stored(conn)[2:] == tallies.computed(conn)[2:]


def test_refresh_all_repairs_the_steps_copies_written_past_the_services(db, world):
    """A bulk load that wrote steps (or cases) with SQL alone leaves their copies of the
    case's school, day received, status and moment wrong; the refresh writes them again,
    counts only the steps that differed, and a second run finds nothing to correct."""
    school, other = world.units["SCH-A"], world.units["SCH-B"]
    case = _case(school, "monitoring")
    kept = _case(school, "verifying")
    db.add_all([case, kept])
    db.flush()
    for owner in (case, case, kept):
        db.add(CaseStep(uid=str(uuid.uuid4()), case_id=owner.id, kind="follow_up", due_on=BASE))
    db.flush()
    assert step_copies.refresh_all(db) == 0  # kept by the session: nothing to correct
    steps = CaseStep.__table__
    db.execute(
        steps.update()
        .where(steps.c.case_id == case.id)
        .values(
            unit_id=other,
            received_on=BASE - timedelta(days=9),
            case_status="closed",
            case_overdue_after=None,
        )
    )
    assert step_copies.refresh_all(db, batch=1) == 2
    db.expire_all()
    for step in db.scalars(select(CaseStep).where(CaseStep.case_id.in_([case.id, kept.id]))):
        owner = db.get(Case, step.case_id)
        assert (step.unit_id, step.received_on, step.case_status, step.case_overdue_after) == (
            owner.unit_id,
            owner.received_on,
            owner.status,
            owner.overdue_after,
        )
    assert step_copies.refresh_all(db) == 0


def test_the_refresh_command_repairs_and_is_audited(app, db, world):
    case = Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])
    assert case.overdue_after is not None  # the intake's clocks
    db.execute(Case.__table__.update().where(Case.id == case.id).values(overdue_after=None))
    db.commit()
    result = app.test_cli_runner().invoke(args=["cases", "refresh-clocks"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 cases had a stale overdue moment")
    assert db.scalar(select(Case.overdue_after).where(Case.id == case.id)) is not None
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "cases.clocks_refreshed")
    ).one()
    assert json.loads(event.changes) == {
        "corrected": 1,
        "steps_corrected": 0,
        "closures_corrected": 0,
    }


def test_the_present_is_read_at_each_run(db, monkeypatch):
    """``db.present()``: PostgreSQL's now() (the transaction's start; the screens' statements
    then carry no moment and keep their plan), elsewhere the app's clock, read when the
    statement runs, not when it was compiled and cached."""
    from caseapp import db as database

    stmt = select(database.present())
    if db.get_bind().dialect.name == "postgresql":
        assert "now()" in str(stmt.compile(db.get_bind()))
        assert db.scalar(stmt) == db.scalar(select(database.present()))  # one transaction
        return
    for moment in (datetime(2026, 3, 1, 8, 0, tzinfo=UTC), datetime(2027, 1, 2, 9, 30, tzinfo=UTC)):
        monkeypatch.setattr(database, "utcnow", lambda moment=moment: moment)
        read = db.scalar(stmt)
        assert read.replace(tzinfo=UTC) == moment
