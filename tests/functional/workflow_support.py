"""Helpers for the workflow tests: people acting through their own client (in English, so the
flashed messages read as in the code), and cases driven through the real steps with the
services, to any state of the workflow."""

from __future__ import annotations

import html
from datetime import date, timedelta

from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.models import AuditEvent, Case, CaseStep, CaseTransition, Notification, User
from caseapp.services.cases import records as case_records
from caseapp.services.cases import steps as step_service
from caseapp.services.cases import workflow as workflow_service
from caseapp.services.cases.steps import StepInput
from caseapp.services.org import referrals
from tests.factories import REASON


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def user(db, person) -> User:
    return db.get(User, person.id)


# Driving a case with the services (fast, and the same code the routes call) ----------------


def add(db, person, case: Case, kind: str, **fields) -> CaseStep:
    step = step_service.add_step(db, user(db, person), case, StepInput(kind=kind, **fields))
    db.commit()
    return step


def complete(db, person, case: Case, step: CaseStep, **fields) -> CaseStep:
    db.refresh(step)
    step_service.complete_step(
        db, user(db, person), case, step, StepInput(kind=step.kind, **fields), step.version
    )
    db.commit()
    return step


def move(db, person, case: Case, target: str, closure_reason: str | None = None) -> Case:
    db.refresh(case)
    workflow_service.transition(
        db, user(db, person), case, target, REASON, case.version, closure_reason
    )
    db.commit()
    return case


def verify(db, person, case: Case, finding: str | None = "substantiated") -> CaseStep:
    done = local_today() if finding else None
    return add(db, person, case, "verification", method="interview", finding=finding, done_on=done)


def provide_support(db, person, case: Case, status: str = "provided") -> CaseStep:
    done = local_today() if status == "provided" else None
    return add(db, person, case, "support", service="counselling", status=status, done_on=done)


def schedule_follow_up(db, person, case: Case, due_on: date | None = None) -> CaseStep:
    return add(db, person, case, "follow_up", due_on=due_on or local_today() + timedelta(days=7))


def done_follow_up(db, person, case: Case) -> CaseStep:
    step = schedule_follow_up(db, person, case, due_on=local_today())
    return complete(db, person, case, step, done_on=local_today(), situation="safe")


# The way through the workflow; each state is reached with the facts its exits need.
ORDER = ("new", "verifying", "supporting", "monitoring", "closure_requested", "closed", "reopened")


def reach(db, world, case: Case, state: str, finding: str = "substantiated") -> Case:
    """Take ``case`` (new) to ``state`` the way people would: focal_a handles the school's
    case, officer_p approves and reopens (so officer_d1 is still free to act)."""
    focal, officer = world["focal_a"], world["officer_p"]
    stop = ORDER.index(state)
    if stop >= 1:
        move(db, focal, case, "verifying")
        verify(db, focal, case, finding)
    if stop >= 2:
        move(db, focal, case, "supporting")
        provide_support(db, focal, case)
        done_follow_up(db, focal, case)
        schedule_follow_up(db, focal, case)
    if stop >= 3:
        move(db, focal, case, "monitoring")
    if stop >= 4:
        move(db, focal, case, "closure_requested", closure_reason="resolved")
    if stop >= 5:
        move(db, officer, case, "closed")
    if stop >= 6:
        move(db, officer, case, "reopened")
    db.expire_all()
    assert case.status == state
    return case


def referral_contact(db, world, code: str = "D1"):
    from caseapp.models import Unit

    unit = db.get(Unit, world.units[code])
    contact = referrals.create_contact(
        db, None, unit, f"Dịch vụ tư vấn {code}", "hotline", "111", ""
    )
    db.commit()
    return contact


def consent(db, person, case: Case, *parties: str, purpose: str = "referral") -> None:
    for party in parties:
        case_records.record_consent(db, user(db, person), case, party, purpose, local_today())
    db.commit()


# What is stored about a case, to show that a refused action changed nothing -----------------


def state_of(db, case: Case) -> dict:
    db.expire_all()
    return {
        "status": case.status,
        "version": case.version,
        "requested_by": case.closure_requested_by_id,
        "transitions": db.scalar(
            select(func.count())
            .select_from(CaseTransition)
            .where(CaseTransition.case_id == case.id)
        ),
        "steps": db.scalar(
            select(func.count()).select_from(CaseStep).where(CaseStep.case_id == case.id)
        ),
        "audit": db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.object_ref == case.reference,
                AuditEvent.action.in_(("case.transition", "step.add")),
            )
        ),
        "notices": db.scalar(
            select(func.count()).select_from(Notification).where(Notification.case_id == case.id)
        ),
    }


def transition_events(db, case: Case) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_ref == case.reference, AuditEvent.action == "case.transition")
            .order_by(AuditEvent.seq)
        )
    )


def notices(db, case: Case, kind: str | None = None) -> list[Notification]:
    stmt = select(Notification).where(Notification.case_id == case.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.scalars(stmt.order_by(Notification.id)))
