"""The workflow's rules through POST /cases/<id>/transition: every transition for every role,
the facts each one needs, the two-person closure, reopening, stale forms and short reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from caseapp import workflow
from caseapp.clock import local_today
from caseapp.models import CaseStep, CaseTransition, Unit
from caseapp.services.accounts import users
from tests.factories import Visitor, clear_reasons, reason_of
from tests.functional.workflow_support import (
    REASON,
    add,
    complete,
    consent,
    done_follow_up,
    move,
    provide_support,
    reach,
    referral_contact,
    schedule_follow_up,
    state_of,
    text_of,
    transition_events,
    user,
    verify,
)

NOT_POSSIBLE = "This change of status is not possible."
ONLY_OFFICER = "Only an officer above the school can do this."
ONLY_FOCAL = "Only the school's focal point can do this."
IMPOSSIBLE = (
    ("new", "closed"),
    ("new", "supporting"),
    ("verifying", "monitoring"),
    ("monitoring", "closed"),
    ("closed", "verifying"),
    ("closure_requested", "verifying"),
    ("reopened", "closed"),
    ("new", "no_such_state"),
)
PAIRS = [(t.source, t.target) for t in workflow.TRANSITIONS] + list(IMPOSSIBLE)
ROLES = {
    "focal_a": workflow.HANDLER,
    "officer_d1": workflow.OFFICER,
    "focal_b": None,
    "auditor_p": None,
}


def _expected(source: str, target: str, role: str | None) -> tuple[int, str | None]:
    """(HTTP status, the message of a refusal or None when the move is made)."""
    if role is None:
        return 404, None
    rule = workflow.find(source, target)
    if rule is None:
        return 302, NOT_POSSIBLE
    if role not in rule.who:
        return 302, ONLY_OFFICER if rule.who == (workflow.OFFICER,) else ONLY_FOCAL
    return 302, None


@pytest.fixture()
def focal(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en")


@pytest.fixture()
def officer(app, db, world):
    return Visitor(app, db, world["officer_d1"], lang="en")


@pytest.fixture()
def case(db, world, focal):
    return focal.intake(db, world.units["SCH-A"])


def _refused(db, case, before, response, message) -> None:
    assert response.status_code == 302
    assert message in response.text
    assert state_of(db, case) == before


def _moved(db, case, response, target, person, reason=REASON) -> None:
    assert response.status_code == 302
    assert "The case is now:" in response.text
    db.expire_all()
    assert case.status == target
    event = transition_events(db, case)[-1]
    assert (reason_of(db, event), event.actor_name) == (reason, person.username)
    row = db.scalar(
        select(CaseTransition)
        .where(CaseTransition.case_id == case.id)
        .order_by(CaseTransition.id.desc())
        .limit(1)
    )
    assert (row.to_status, row.by_id) == (target, person.id)


@pytest.mark.parametrize("who", list(ROLES))
@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{s}->{t}" for s, t in PAIRS])
def test_transition_table(app, db, world, case, source, target, who):
    finding = (
        "not_substantiated"
        if (source, target) == ("verifying", "closure_requested")
        else "substantiated"
    )
    reach(db, world, case, source, finding)
    before = state_of(db, case)
    actor = Visitor(app, db, world[who], lang="en")
    closure = "not_substantiated" if finding == "not_substantiated" else "resolved"
    r = actor.transition(case, target, closure_reason=closure)
    status, message = _expected(source, target, ROLES[who])
    assert r.status_code == status
    if status == 404 or message:
        assert state_of(db, case) == before
        if message:
            assert message in r.text
    else:
        _moved(db, case, r, target, world[who])


@pytest.mark.parametrize("target", ["supporting", "closure_requested"])
@pytest.mark.parametrize("verification", ["none", "unfinished"])
def test_leaving_verifying_needs_a_finished_verification(
    db, world, focal, case, target, verification
):
    move(db, world["focal_a"], case, "verifying")
    if verification == "unfinished":
        step = verify(db, world["focal_a"], case, finding=None)
        assert not step.is_done
    before = state_of(db, case)
    r = focal.transition(case, target, closure_reason="not_substantiated")
    _refused(db, case, before, r, "Finish a verification (method and finding) first.")
    if verification == "unfinished":
        complete(
            db, world["focal_a"], case, step, done_on=case.received_on, finding="not_substantiated"
        )
    else:
        verify(db, world["focal_a"], case, "not_substantiated")
    _moved(
        db,
        case,
        focal.transition(case, target, closure_reason="not_substantiated"),
        target,
        world["focal_a"],
    )


@pytest.mark.parametrize("finding", ["substantiated", "inconclusive"])
def test_only_not_substantiated_closes_from_verifying(db, world, focal, case, finding):
    reach(db, world, case, "verifying", finding)
    before = state_of(db, case)
    r = focal.transition(case, "closure_requested", closure_reason="resolved")
    _refused(db, case, before, r, "Only a case found not substantiated closes straight")


def test_not_substantiated_closes_straight_from_verifying(db, world, focal, officer, case):
    reach(db, world, case, "verifying", "not_substantiated")
    r = focal.transition(case, "closure_requested", closure_reason="not_substantiated")
    _moved(db, case, r, "closure_requested", world["focal_a"])
    assert case.closure_reason == "not_substantiated"
    _moved(db, case, officer.transition(case, "closed"), "closed", world["officer_d1"])
    assert [s.kind for s in db.scalars(select(CaseStep).where(CaseStep.case_id == case.id))] == [
        "verification"
    ]


@pytest.mark.parametrize(
    ("earlier", "later"),
    [("not_substantiated", "substantiated"), ("substantiated", "not_substantiated")],
)
def test_the_last_finished_verification_decides(db, world, focal, earlier, later):
    """Two verifications: the one finished last gives the finding, on either database."""
    received = local_today() - timedelta(days=3)
    case = focal.intake(db, world.units["SCH-A"], received_on=received)
    move(db, world["focal_a"], case, "verifying")
    first = verify(db, world["focal_a"], case, finding=None)
    add(
        db,
        world["focal_a"],
        case,
        "verification",
        method="site_visit",
        finding=earlier,
        done_on=received + timedelta(days=1),
    )
    complete(db, world["focal_a"], case, first, done_on=local_today(), finding=later)
    before = state_of(db, case)
    r = focal.transition(case, "closure_requested", closure_reason="not_substantiated")
    if later == "not_substantiated":
        _moved(db, case, r, "closure_requested", world["focal_a"])
    else:
        _refused(db, case, before, r, "Only a case found not substantiated closes straight")


# (support statuses recorded, follow-up: None, "scheduled" or "done") -> the blocker
MONITORING_FACTS = [
    ((), "scheduled", "Record a support that was provided to each person harmed first."),
    (("planned",), "scheduled", "Record a support that was provided to each person harmed first."),
    (("declined",), "scheduled", "Record a support that was provided to each person harmed first."),
    (("provided",), None, "Schedule a follow-up of each person harmed first."),
    (("provided",), "done", "Schedule a follow-up of each person harmed first."),
    (("planned", "provided"), "scheduled", None),
]


@pytest.mark.parametrize(("supports", "follow_up", "message"), MONITORING_FACTS)
def test_monitoring_needs_a_provided_support_and_a_scheduled_follow_up(
    db, world, focal, case, supports, follow_up, message
):
    reach(db, world, case, "verifying")
    move(db, world["focal_a"], case, "supporting")
    for status in supports:
        provide_support(db, world["focal_a"], case, status)
    if follow_up == "scheduled":
        schedule_follow_up(db, world["focal_a"], case)
    elif follow_up == "done":
        done_follow_up(db, world["focal_a"], case)
    before = state_of(db, case)
    r = focal.transition(case, "monitoring")
    if message:
        _refused(db, case, before, r, message)
    else:
        _moved(db, case, r, "monitoring", world["focal_a"])


@pytest.mark.parametrize("source", ["supporting", "monitoring"])
def test_closure_request_needs_a_done_follow_up(db, world, focal, case, source):
    reach(db, world, case, "verifying")
    move(db, world["focal_a"], case, "supporting")
    provide_support(db, world["focal_a"], case)
    step = schedule_follow_up(db, world["focal_a"], case)
    if source == "monitoring":
        move(db, world["focal_a"], case, "monitoring")
    before = state_of(db, case)
    r = focal.transition(case, "closure_requested", closure_reason="resolved")
    _refused(db, case, before, r, "Record a follow-up that was done for each person harmed first.")
    complete(db, world["focal_a"], case, step, done_on=case.received_on, situation="safe")
    r = focal.transition(case, "closure_requested", closure_reason="resolved")
    _moved(db, case, r, "closure_requested", world["focal_a"])


def test_not_substantiated_needs_no_follow_up_to_close_from_support(db, world, focal, case):
    reach(db, world, case, "verifying", "not_substantiated")
    move(db, world["focal_a"], case, "supporting")
    r = focal.transition(case, "closure_requested", closure_reason="not_substantiated")
    _moved(db, case, r, "closure_requested", world["focal_a"])


@pytest.mark.parametrize("closure_reason", [None, "", "bogus"])
def test_closure_request_needs_a_closure_reason(db, world, focal, case, closure_reason):
    reach(db, world, case, "monitoring")
    before = state_of(db, case)
    r = focal.transition(case, "closure_requested", closure_reason=closure_reason)
    _refused(db, case, before, r, "Choose why the case can close.")


def test_two_person_closure(app, db, world, case):
    """officer_d1 also a focal point of SCH-A: may request closure, may not approve it."""
    units_a = db.get(Unit, world.units["SCH-A"])
    users.grant_role(db, None, user(db, world["officer_d1"]), "focal_point", units_a)
    db.commit()
    both = Visitor(app, db, world["officer_d1"], lang="en")
    reach(db, world, case, "monitoring")
    _moved(
        db,
        case,
        both.transition(case, "closure_requested", closure_reason="resolved"),
        "closure_requested",
        world["officer_d1"],
    )
    assert case.closure_requested_by_id == world["officer_d1"].id
    before = state_of(db, case)
    r = both.transition(case, "closed")
    _refused(
        db, case, before, r, "Closure is approved by another person than the one who requested it."
    )
    other = Visitor(app, db, world["officer_p"], lang="en")
    _moved(db, case, other.transition(case, "closed"), "closed", world["officer_p"])


def test_officer_returns_a_closure_request(db, world, focal, officer, case):
    reach(db, world, case, "closure_requested")
    assert case.closure_requested_by_id == world["focal_a"].id
    before = state_of(db, case)
    _refused(db, case, before, focal.transition(case, "monitoring"), ONLY_OFFICER)
    _moved(
        db,
        case,
        officer.transition(case, "monitoring", reason="Cần theo dõi thêm"),
        "monitoring",
        world["officer_d1"],
        reason="Cần theo dõi thêm",
    )
    assert case.closure_requested_by_id is None
    # The requester's earlier request no longer counts: a new request is needed.
    _moved(
        db,
        case,
        focal.transition(case, "closure_requested", closure_reason="resolved"),
        "closure_requested",
        world["focal_a"],
    )


@pytest.mark.parametrize("then", ["verifying", "supporting"])
@pytest.mark.parametrize("by", ["focal_a", "officer_d1"])
def test_reopen_by_an_officer_with_a_reason(app, db, world, focal, officer, case, then, by):
    reach(db, world, case, "closed")
    before = state_of(db, case)
    _refused(db, case, before, focal.transition(case, "reopened"), ONLY_OFFICER)
    _refused(
        db, case, before, officer.transition(case, "reopened", reason=""), "Please give a reason."
    )
    _moved(
        db,
        case,
        officer.transition(case, "reopened", reason="Có thông tin mới"),
        "reopened",
        world["officer_d1"],
        reason="Có thông tin mới",
    )
    actor = focal if by == "focal_a" else officer
    _moved(db, case, actor.transition(case, then), then, world[by])
    assert clear_reasons(db, transition_events(db, case))[-2:] == ["Có thông tin mới", REASON]


def test_a_stale_version_is_refused(app, db, world, focal, case):
    reach(db, world, case, "verifying")
    stale = case.version
    move(db, world["focal_a"], case, "supporting")  # someone else moved it meanwhile
    before = state_of(db, case)
    r = focal.transition(case, "monitoring", version=stale)
    _refused(db, case, before, r, "Someone else changed this case. Reload it and try again.")
    r = focal.transition(case, "closure_requested", version=stale, closure_reason="resolved")
    _refused(db, case, before, r, "Someone else changed this case.")


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Please give a reason."),
        ("abcd", "Between 5 and"),
        ("   abc    ", "Give a reason of 5 to 500 characters."),
        ("x" * 501, "Between 5 and"),
    ],
)
def test_a_short_or_missing_reason_is_refused(db, world, focal, case, reason, message):
    before = state_of(db, case)
    _refused(db, case, before, focal.transition(case, "verifying", reason=reason), message)
    assert transition_events(db, case) == []


OPEN_STATES = ("new", "verifying", "supporting", "monitoring", "closure_requested", "reopened")


@pytest.mark.parametrize("kind", ["support", "referral"])
@pytest.mark.parametrize("state", OPEN_STATES)
def test_support_and_referral_in_every_open_state(db, world, focal, case, state, kind):
    """Support never waits for verification."""
    reach(db, world, case, state)
    contact = referral_contact(db, world)
    consent(db, world["focal_a"], case, "person_harmed", "guardian")
    before = state_of(db, case)
    fields = {"kind": kind, "contact_id": str(contact.id)}
    if kind == "support":
        fields.update(service="counselling", status="planned")
    r = focal.add_step(case, **fields)
    assert "Step recorded." in r.text
    after = state_of(db, case)
    assert after["steps"] == before["steps"] + 1
    assert after["status"] == state
    step = db.scalar(
        select(CaseStep).where(CaseStep.case_id == case.id).order_by(CaseStep.id.desc()).limit(1)
    )
    assert (step.kind, step.contact_id) == (kind, contact.id)


@pytest.mark.parametrize("kind", ["support", "referral", "verification"])
def test_no_step_on_a_closed_case(db, world, focal, case, kind):
    reach(db, world, case, "closed")
    contact = referral_contact(db, world)
    consent(db, world["focal_a"], case, "person_harmed", "guardian")
    before = state_of(db, case)
    r = focal.add_step(
        case,
        kind=kind,
        contact_id=str(contact.id),
        service="counselling",
        status="planned",
        method="interview",
    )
    _refused(db, case, before, r, "The case is closed; reopen it first.")


def test_steps_through_the_routes_reach_monitoring(db, world, focal, case):
    """The same path as the helpers, entirely through the forms of the case page."""
    today = case.received_on
    _moved(db, case, focal.transition(case, "verifying"), "verifying", world["focal_a"])
    focal.add_step(case, kind="verification", method="interview")
    step = db.scalar(select(CaseStep).where(CaseStep.case_id == case.id))
    assert "Finish a verification" in focal.transition(case, "supporting").text
    r = focal.complete_step(case, step, done_on=today, finding="substantiated")
    assert "Step finished." in r.text
    _moved(db, case, focal.transition(case, "supporting"), "supporting", world["focal_a"])
    assert (
        "Step recorded."
        in focal.add_step(
            case, kind="support", service="counselling", status="provided", done_on=today
        ).text
    )
    assert "Step recorded." in focal.add_step(case, kind="follow_up", due_on=today).text
    _moved(db, case, focal.transition(case, "monitoring"), "monitoring", world["focal_a"])
    follow_up = db.scalar(
        select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.kind == "follow_up")
    )
    focal.complete_step(case, follow_up, done_on=today, situation="safe")
    _moved(
        db,
        case,
        focal.transition(case, "closure_requested", closure_reason="resolved"),
        "closure_requested",
        world["focal_a"],
    )


def test_the_refusal_is_shown_on_the_case_page(db, world, focal, case):
    """The flashed blocker is what the person sees after the redirect, besides the disabled
    buttons of both ways out of verification, which name the same blocker."""
    move(db, world["focal_a"], case, "verifying")
    r = focal.post(
        f"/cases/{case.public_id}/transition",
        {"target": "supporting", "reason": REASON, "version": str(case.version)},
        follow_redirects=True,
    )
    page = text_of(r)
    assert r.status_code == 200
    assert (
        '<p class="flash flash-error" role="alert">Finish a verification (method and '
        "finding) first.</p>"
    ) in page
    assert page.count("Finish a verification (method and finding) first.") == 3  # + 2 buttons


def test_closing_a_case_ends_its_automatically_scheduled_follow_up(app, db, world, focal, case):
    """A follow-up done while monitoring schedules the next one; approving the closure ends
    that open step (audited, by the approver), so a closed or reopened case is not overdue
    for it. A follow-up a person planned is theirs to finish."""
    from caseapp.models import AuditEvent

    reach(db, world, case, "monitoring")
    planned = db.scalar(
        select(CaseStep).where(
            CaseStep.case_id == case.id, CaseStep.kind == "follow_up", CaseStep.done_on.is_(None)
        )
    )
    complete(db, world["focal_a"], case, planned, done_on=local_today(), situation="safe")
    auto = db.scalar(
        select(CaseStep).where(
            CaseStep.case_id == case.id, CaseStep.kind == "follow_up", CaseStep.done_on.is_(None)
        )
    )
    assert auto is not None and auto.due_on == planned.next_on  # scheduled by the service
    manual = schedule_follow_up(
        db, world["focal_a"], case, due_on=local_today() + timedelta(days=3)
    )
    move(db, world["focal_a"], case, "closure_requested", closure_reason="resolved")
    approver = Visitor(app, db, world["officer_p"], lang="en")
    _moved(db, case, approver.transition(case, "closed"), "closed", world["officer_p"])
    db.expire_all()
    assert auto.done_on == local_today() and auto.situation == "unknown"
    assert manual.done_on is None
    ended = db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "step.complete", AuditEvent.object_id == str(auto.id)
        )
    )
    assert ended is not None and ended.actor_id == world["officer_p"].id
    assert ended.object_ref == case.reference
