"""Clocks and overdue at the edges of a day in Asia/Ho_Chi_Minh (UTC+7: the day changes at
17:00 UTC), the 12-hour intervention clock, working days, follow-ups while monitoring, and the
"my work" and monitoring screens built on them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from caseapp.clock import add_working_days, local_today, start_of_local_day
from caseapp.models import Case, CaseStep
from caseapp.services.cases.deadlines import overdue_condition, overdue_parts, overdue_reasons
from tests.factories import Visitor
from tests.functional.workflow_support import (
    add,
    complete,
    consent,
    done_follow_up,
    move,
    provide_support,
    reach,
    referral_contact,
    schedule_follow_up,
    text_of,
    verify,
)

SECOND = timedelta(seconds=1)


def utc(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=UTC)


def last_day_in_vietnam(day: date) -> datetime:
    """23:59:59 of ``day`` in Vietnam, as a UTC instant."""
    return utc(day, 16, 59, 59)


def first_instant_after(day: date) -> datetime:
    """00:00:00 of the day after ``day`` in Vietnam, as a UTC instant."""
    return utc(day, 17)


def clock_running(db, case: Case, clock: str, now: datetime) -> bool:
    return (
        db.scalar(select(Case.id).where(Case.id == case.id, overdue_parts(now=now)[clock]))
        is not None
    )


def overdue(db, case: Case, now: datetime) -> bool:
    return (
        db.scalar(select(Case.id).where(Case.id == case.id, overdue_condition(now=now))) is not None
    )


@pytest.fixture()
def focal(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en")


@pytest.fixture()
def case(db, world, focal):
    return focal.intake(db, world.units["SCH-A"])


def test_the_day_changes_at_17_utc(app, db):
    day = date(2025, 3, 14)
    assert local_today(last_day_in_vietnam(day)) == day
    assert local_today(first_instant_after(day)) == day + timedelta(days=1)
    assert start_of_local_day(day + timedelta(days=1)) == first_instant_after(day)


@pytest.mark.parametrize("state", ["supporting", "monitoring"])
def test_a_follow_up_is_overdue_from_the_next_vietnamese_day(db, world, case, state):
    reach(db, world, case, state)
    due = db.scalar(
        select(CaseStep.due_on).where(
            CaseStep.case_id == case.id, CaseStep.kind == "follow_up", CaseStep.done_on.is_(None)
        )
    )
    assert not overdue(db, case, utc(due, 0))
    assert not overdue(db, case, last_day_in_vietnam(due))
    assert overdue_reasons(db, case, last_day_in_vietnam(due)) == []
    assert overdue(db, case, first_instant_after(due))
    assert overdue_reasons(db, case, first_instant_after(due)) == ["step"]


@pytest.mark.parametrize("state", ["new", "verifying"])
def test_verification_is_due_after_the_days_set(db, world, settings, case, state):
    if state == "verifying":
        move(db, world["focal_a"], case, "verifying")
    due = case.verification_due_on
    assert due == case.received_on + timedelta(days=settings.verification_days)
    assert not clock_running(db, case, "verification", last_day_in_vietnam(due))
    assert clock_running(db, case, "verification", first_instant_after(due))


def test_a_finished_verification_stops_its_clock(db, world, case):
    move(db, world["focal_a"], case, "verifying")
    step = verify(db, world["focal_a"], case, finding=None)
    late = first_instant_after(case.verification_due_on)
    assert clock_running(db, case, "verification", late)
    assert clock_running(db, case, "step", late)  # the open verification step itself
    complete(db, world["focal_a"], case, step, done_on=case.received_on, finding="inconclusive")
    assert not clock_running(db, case, "verification", late)
    assert not clock_running(db, case, "step", late)


URGENT = [{"risk_level": "immediate"}, {"risk_level": "medium", "serious_risk_to_child": "y"}]


@pytest.mark.parametrize("urgent", URGENT, ids=["immediate", "child_at_serious_risk"])
@pytest.mark.parametrize("action", ["support", "referral"])
def test_the_intervention_clock(db, world, settings, focal, urgent, action):
    case = focal.intake(db, world.units["SCH-A"], **urgent)
    assert case.urgent
    hours = timedelta(hours=settings.intervention_hours)
    intake = case.intervention_due_at - hours
    assert abs(intake - case.created_at) < timedelta(seconds=5)
    assert not clock_running(db, case, "intervention", intake + hours - SECOND)
    assert clock_running(db, case, "intervention", intake + hours + SECOND)
    assert "intervention" in overdue_reasons(db, case, intake + hours + SECOND)
    if action == "support":
        provide_support(db, world["focal_a"], case, "planned")
    else:
        contact = referral_contact(db, world)
        consent(db, world["focal_a"], case, "person_harmed", "guardian")
        add(db, world["focal_a"], case, "referral", contact_id=contact.id)
    assert not clock_running(db, case, "intervention", intake + hours + SECOND)
    assert not clock_running(db, case, "intervention", intake + 10 * hours)


@pytest.mark.parametrize("stop", ["support", "not_substantiated"])
def test_starting_verification_does_not_stop_the_intervention_clock(db, world, focal, stop):
    """Only a support or a referral is an intervention (or a finding that nothing happened):
    the urgent alarm must not vanish because someone pressed "Start verification"."""
    case = focal.intake(db, world.units["SCH-A"], risk_level="immediate")
    move(db, world["focal_a"], case, "verifying")
    late = case.intervention_due_at + SECOND
    assert clock_running(db, case, "intervention", late)
    verify(db, world["focal_a"], case, "substantiated")
    assert clock_running(db, case, "intervention", late)
    if stop == "support":
        provide_support(db, world["focal_a"], case, "planned")
    else:
        verify(db, world["focal_a"], case, "not_substantiated")
    assert not clock_running(db, case, "intervention", late)


def test_no_intervention_clock_for_a_case_that_is_not_urgent(db, case):
    assert not case.urgent and case.intervention_due_at is None
    assert not clock_running(
        db, case, "intervention", utc(case.received_on, 0) + timedelta(days=40)
    )


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (date(2025, 3, 10), 5, date(2025, 3, 17)),  # Monday -> next Monday
        (date(2025, 3, 13), 5, date(2025, 3, 20)),  # Thursday -> next Thursday
        (date(2025, 3, 14), 5, date(2025, 3, 21)),  # Friday -> next Friday
        (date(2025, 3, 15), 5, date(2025, 3, 21)),  # Saturday -> Friday
        (date(2025, 3, 16), 5, date(2025, 3, 21)),  # Sunday -> Friday
        (date(2025, 3, 14), 1, date(2025, 3, 17)),  # Friday + 1 -> Monday
        (date(2025, 3, 14), 0, date(2025, 3, 14)),
    ],
)
def test_add_working_days_skips_the_weekend(start, count, expected):
    assert add_working_days(start, count) == expected


def test_a_friday_intake_has_its_support_plan_due_the_next_friday(db, world, settings, focal):
    today = local_today()
    friday = today - timedelta(days=(today.weekday() - 4) % 7)
    case = focal.intake(db, world.units["SCH-A"], received_on=friday)
    assert settings.support_plan_working_days == 5
    assert case.support_due_on == friday + timedelta(days=7)
    due = case.support_due_on
    assert not clock_running(db, case, "support", last_day_in_vietnam(due))
    assert clock_running(db, case, "support", first_instant_after(due))
    provide_support(db, world["focal_a"], case, "planned")
    assert not clock_running(db, case, "support", first_instant_after(due))


def test_monitoring_without_a_scheduled_follow_up_is_overdue(app, db, world, case):
    """Returned from a closure request whose last follow-up was done: nothing is scheduled."""
    reach(db, world, case, "verifying")
    move(db, world["focal_a"], case, "supporting")
    provide_support(db, world["focal_a"], case)
    done_follow_up(db, world["focal_a"], case)
    move(db, world["focal_a"], case, "closure_requested", closure_reason="resolved")
    move(db, world["officer_d1"], case, "monitoring")
    now = utc(case.received_on, 1)
    assert overdue_reasons(db, case, now) == ["follow_up"]
    assert "follow_up" in overdue_reasons(db, case)  # and right now
    schedule_follow_up(db, world["focal_a"], case)
    assert overdue_reasons(db, case, now) == []


@pytest.mark.parametrize("next_on", [None, 10])
def test_finishing_a_follow_up_in_monitoring_schedules_the_next(
    db, world, settings, focal, case, next_on
):
    reach(db, world, case, "monitoring")
    step = db.scalar(
        select(CaseStep).where(
            CaseStep.case_id == case.id, CaseStep.kind == "follow_up", CaseStep.done_on.is_(None)
        )
    )
    today = local_today()
    wanted = today + timedelta(days=next_on) if next_on else None
    r = focal.complete_step(case, step, done_on=today, situation="at_risk", next_on=wanted)
    assert "Step finished." in r.text
    db.expire_all()
    expected = wanted or today + timedelta(days=settings.follow_up_days)
    assert (step.done_on, step.situation, step.next_on) == (today, "at_risk", expected)
    open_ = list(
        db.scalars(
            select(CaseStep).where(
                CaseStep.case_id == case.id,
                CaseStep.kind == "follow_up",
                CaseStep.done_on.is_(None),
            )
        )
    )
    assert [s.due_on for s in open_] == [expected]
    assert not overdue(db, case, last_day_in_vietnam(expected))
    assert overdue(db, case, first_instant_after(expected))


def test_the_next_follow_up_must_come_after_this_one(db, world, focal, case):
    reach(db, world, case, "monitoring")
    step = db.scalar(
        select(CaseStep).where(
            CaseStep.case_id == case.id, CaseStep.kind == "follow_up", CaseStep.done_on.is_(None)
        )
    )
    today = local_today()
    r = focal.complete_step(case, step, done_on=today, situation="safe", next_on=today)
    assert "The next follow-up must come after this one." in r.text
    db.expire_all()
    assert step.done_on is None


# The screens --------------------------------------------------------------------------------


def _overdue_follow_up_case(db, world, focal) -> tuple[Case, CaseStep]:
    """A case in monitoring received 20 days ago whose only late clock is a follow-up."""
    received = local_today() - timedelta(days=20)
    case = focal.intake(db, world.units["SCH-A"], received_on=received)
    person = world["focal_a"]
    move(db, person, case, "verifying")
    add(
        db,
        person,
        case,
        "verification",
        method="interview",
        finding="substantiated",
        done_on=received + timedelta(days=1),
    )
    move(db, person, case, "supporting")
    add(
        db,
        person,
        case,
        "support",
        service="counselling",
        status="provided",
        done_on=received + timedelta(days=1),
    )
    step = add(db, person, case, "follow_up", due_on=received + timedelta(days=5))
    move(db, person, case, "monitoring")
    assert overdue_reasons(db, case) == ["step"]
    return case, step


def _section(page: str, heading: str) -> str:
    start = page.index(f">{heading} (")
    end = page.find("<h2", start)
    return page[start : end if end != -1 else None]


def test_my_work_lists_overdue_first(app, db, world, focal):
    fresh = focal.intake(db, world.units["SCH-A"])
    late = focal.intake(db, world.units["SCH-A"], received_on=local_today() - timedelta(days=15))
    today = focal.intake(db, world.units["SCH-A"])
    move(db, world["focal_a"], today, "verifying")
    add(db, world["focal_a"], today, "verification", method="interview", due_on=local_today())
    assert overdue_reasons(db, fresh) == [] == overdue_reasons(db, today)
    assert "verification" in overdue_reasons(db, late)
    page = text_of(focal.get("/work"))
    assert page.index(late.reference) < page.index(today.reference) < page.index(fresh.reference)
    sections = {
        name: _section(page, name) for name in ("Overdue", "Due today", "New cases to start")
    }
    where = {
        c.reference: [n for n, text in sections.items() if c.reference in text]
        for c in (late, today, fresh)
    }
    assert where == {
        late.reference: ["Overdue"],
        today.reference: ["Due today"],
        fresh.reference: ["New cases to start"],
    }
    assert "Overdue (1)" in page and "Due today (1)" in page and "New cases to start (1)" in page


def _school_overdue(page: str, school: str) -> int:
    row = re.search(rf">{re.escape(school)}</a></td>\s*<td>\d+</td>\s*<td>(.*?)</td>", page, re.S)
    assert row, page[:2000]
    return int(re.sub(r"<[^>]+>", "", row.group(1)))


def test_monitoring_counts_the_overdue_case_until_its_follow_up_is_done(app, db, world, focal):
    case, step = _overdue_follow_up_case(db, world, focal)
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    page = text_of(officer.get("/monitoring"))
    assert _school_overdue(page, "Trường A") == 1
    assert _school_overdue(page, "Trường B") == 0
    assert case.reference in _section(text_of(focal.get("/work")), "Overdue")
    r = focal.complete_step(case, step, done_on=local_today(), situation="safe")
    assert "Step finished." in r.text
    assert overdue_reasons(db, case) == []
    assert _school_overdue(text_of(officer.get("/monitoring")), "Trường A") == 0
    assert case.reference not in _section(text_of(focal.get("/work")), "Overdue")
