"""The workflow's transition matrix, written out by hand from DESIGN.md section 5 (and the roles
of section 1), not read from caseapp/workflow.py: for all 7 x 7 (from, to) pairs, whether the
move exists and who may make it through POST /cases/<id>/transition, and that every refusal
changes nothing (status, version, transitions, audit trail, notifications).

The case is at Trường A (SCH-A, district D1). Before each move every fact the rules ask for is in
place (a finished verification found not substantiated, a provided support, a follow-up done
and one scheduled; closure requested by focal_a), so only the pair and the person decide; the
facts themselves are tested in test_workflow_rules.py."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from caseapp.models import AuditEvent, CaseTransition, Unit
from caseapp.runtime import keyring
from caseapp.services.cases import records as case_records
from tests.factories import Visitor, make_user, reason_of
from tests.functional.workflow_support import (
    REASON,
    reach,
    state_of,
    transition_events,
    user,
)

STATES = ("new", "verifying", "supporting", "monitoring", "closure_requested", "closed", "reopened")
HANDLER = "handler"  # a focal point of the case's school
OFFICER = "officer"  # an officer of a unit above the school

# DESIGN.md section 5: new -> verifying -> supporting -> monitoring -> closure_requested ->
# closed; closed -> reopened (officer, with reason) -> verifying or supporting. Section 1: the
# focal point records verification, support and follow-up; the officer approves closure and
# reopens. Every other pair of the 49, the seven "stay where you are" included, is no move.
DESIGN: dict[tuple[str, str], frozenset[str]] = {
    ("new", "verifying"): frozenset({HANDLER}),
    ("verifying", "supporting"): frozenset({HANDLER}),
    ("supporting", "monitoring"): frozenset({HANDLER}),
    ("monitoring", "closure_requested"): frozenset({HANDLER}),
    ("closure_requested", "closed"): frozenset({OFFICER}),  # not the requester
    ("closed", "reopened"): frozenset({OFFICER}),
    # The design does not say who takes a reopened case on; both may (as the code has it).
    ("reopened", "verifying"): frozenset({HANDLER, OFFICER}),
    ("reopened", "supporting"): frozenset({HANDLER, OFFICER}),
    # Read from the rules of section 5 rather than its arrow line: "closure needs a done
    # follow-up (unless not substantiated)" lets a case found not substantiated ask for closure
    # from verification, and any case whose follow-up is done ask for it before monitoring;
    # "approved by an officer" means the officer may also send the request back.
    ("verifying", "closure_requested"): frozenset({HANDLER}),
    ("supporting", "closure_requested"): frozenset({HANDLER}),
    ("closure_requested", "monitoring"): frozenset({OFFICER}),
}

# People who can see a case of SCH-A, and what they are on it. focal_a recorded the case and
# is its assigned handler; focal_a2 is another focal point of SCH-A, not assigned: the code
# (case_access.can_handle, a "case.write" grant covering the school) makes any focal point of
# the school a handler, the assignment does not narrow it.
ON_THE_CASE = {"focal_a": HANDLER, "focal_a2": HANDLER, "officer_d1": OFFICER, "officer_p": OFFICER}
# People who must get a 404 on every move: another school of the district, another district,
# grants without case permissions, and an officer of D1 named as excluded on the case.
NOT_THEIRS = ("focal_b", "focal_c", "officer_d2", "admin_p", "admin_d1", "auditor_p", "officer_x")

NOT_POSSIBLE = "This change of status is not possible."
ONLY_OFFICER = "Only an officer above the school can do this."
ONLY_FOCAL = "Only the school's focal point can do this."


def _cell(source: str, target: str):
    return pytest.param(source, target, id=f"{source}->{target}")


CELLS = [_cell(s, t) for s in STATES for t in STATES]


@pytest.fixture()
def people(db, world) -> dict:
    """The seeded people, with a second focal point of SCH-A and an excluded officer of D1."""
    school = db.get(Unit, world.units["SCH-A"])
    district = db.get(Unit, world.units["D1"])
    extra = {
        "focal_a2": make_user(db, keyring(), "focal.a2", school, [("focal_point", school)]),
        "officer_x": make_user(db, keyring(), "officer.x", district, [("officer", district)]),
    }
    db.commit()
    return {**world.people, **extra}


@pytest.fixture()
def case(app, db, world, people):
    """A case of SCH-A recorded by focal_a, naming officer_x as excluded."""
    focal = Visitor(app, db, people["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    assert case.assigned_to_id == people["focal_a"].id
    case_records.exclude(
        db, user(db, people["focal_a"]), case, "officer.x", "Người thân của học sinh"
    )
    db.commit()
    return case


def _snapshot(db, case) -> dict:
    """Everything a move changes, the whole audit trail included."""
    found = state_of(db, case)
    found["updated_at"] = case.updated_at
    found["all_audit"] = db.scalar(select(func.count()).select_from(AuditEvent))
    return found


def _refusal(source: str, target: str) -> str:
    allowed = DESIGN.get((source, target))
    if allowed is None:
        return NOT_POSSIBLE
    return ONLY_OFFICER if allowed == {OFFICER} else ONLY_FOCAL


def _try(db, case, actor: Visitor, target: str):
    return actor.transition(case, target, closure_reason="not_substantiated")


@pytest.mark.parametrize(("source", "target"), CELLS)
def test_matrix(app, db, people, case, source, target):
    """Each person on the case tries the move from the same starting point (a savepoint is
    rolled back after each try); the move is made exactly by the roles the design names."""
    reach(db, people, case, source, finding="not_substantiated")
    actors = {name: Visitor(app, db, people[name], lang="en") for name in ON_THE_CASE}
    allowed = DESIGN.get((source, target), frozenset())
    for name, role in ON_THE_CASE.items():
        before = _snapshot(db, case)
        attempt = db.begin_nested()
        db.connection()  # emits the SAVEPOINT now, before the request's changes
        try:
            r = _try(db, case, actors[name], target)
            after = _snapshot(db, case)
            assert r.status_code == 302, (name, r.text[:500])
            if role in allowed:
                assert "The case is now:" in r.text, (name, r.text)
                _assert_moved(db, case, before, after, source, target, people[name])
            else:
                assert _refusal(source, target) in r.text, (name, r.text)
                assert after == before, name
        finally:
            attempt.rollback()
    db.expire_all()
    assert case.status == source


def _assert_moved(db, case, before, after, source, target, person) -> None:
    assert after["status"] == target
    assert after["version"] == before["version"] + 1
    assert after["transitions"] == before["transitions"] + 1
    assert after["steps"] == before["steps"]
    assert after["all_audit"] == before["all_audit"] + 1  # one event: the transition
    event = transition_events(db, case)[-1]
    assert (reason_of(db, event), event.actor_name) == (REASON, person.username)
    row = db.scalar(
        select(CaseTransition)
        .where(CaseTransition.case_id == case.id)
        .order_by(CaseTransition.id.desc())
        .limit(1)
    )
    assert (row.from_status, row.to_status, row.by_id) == (source, target, person.id)


@pytest.mark.parametrize("source", STATES)
def test_people_without_the_case_get_404_for_every_move(app, db, people, case, source):
    """Exclusion beats the officer's grant; auditors and administrators hold no case
    permission; other schools and districts do not see the case. Nothing changes."""
    reach(db, people, case, source, finding="not_substantiated")
    before = _snapshot(db, case)
    for name in NOT_THEIRS:
        actor = Visitor(app, db, people[name], lang="en")
        for target in STATES:
            r = _try(db, case, actor, target)
            assert r.status_code == 404, (name, target)
            assert _snapshot(db, case) == before, (name, target)


def test_the_excluded_officer_is_only_shut_out_of_that_case(app, db, world, people, case):
    """officer_x is an officer of D1 like officer_d1: on a case of SCH-A that does not name
    them, they approve the closure."""
    other = Visitor(app, db, people["focal_a"], lang="en").intake(db, world.units["SCH-A"])
    reach(db, people, other, "closure_requested", finding="not_substantiated")
    r = Visitor(app, db, people["officer_x"], lang="en").transition(other, "closed")
    assert "The case is now:" in r.text
    db.expire_all()
    assert other.status == "closed"
