"""Moving a case through its states, by the rules of caseapp/workflow.py; every transition
takes a reason and is audited; closure requests and approvals notify the right people."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp import workflow
from caseapp.clock import local_today
from caseapp.db import utcnow
from caseapp.errors import InvalidTransition, ValidationFailed
from caseapp.limits import REASON_MAX, REASON_MIN
from caseapp.models import Case, CaseStep, CaseTransition
from caseapp.models.steps import CLOSURE_REASONS
from caseapp.services.audit.trail import record
from caseapp.services.cases import notifications
from caseapp.services.cases import steps as step_service
from caseapp.services.cases.access import can_handle, can_oversee

if TYPE_CHECKING:
    from caseapp.models import User


def facts(session: Session, case: Case) -> workflow.Facts:
    # Ordered, so that "the" finding is the last one finished on either database (unordered,
    # PostgreSQL returns an updated row last and SQLite by id: the rules differed).
    steps = list(
        session.scalars(
            select(CaseStep)
            .where(CaseStep.case_id == case.id)
            .order_by(CaseStep.done_on, CaseStep.id)
        )
    )
    verifications = [s for s in steps if s.kind == "verification" and s.is_done and s.finding]
    finding = verifications[-1].finding if verifications else None
    harmed = [p.id for p in case.harmed_people]

    def each(test) -> bool:
        """``test`` holds of a step about each person harmed (a step of no person, older
        than the people of a case, is about all of them)."""
        return bool(harmed) and all(
            any(test(s) and s.person_id in (person_id, None) for s in steps) for person_id in harmed
        )

    return workflow.Facts(
        verification_done=bool(verifications),
        finding=finding,
        support_provided=each(lambda s: s.kind == "support" and s.status == "provided"),
        follow_up_scheduled=each(lambda s: s.kind == "follow_up" and not s.is_done),
        follow_up_done=each(lambda s: s.kind == "follow_up" and s.is_done),
        requested_by_id=case.closure_requested_by_id,
    )


def roles_on(actor: User, case: Case) -> set[str]:
    roles = set()
    if can_handle(actor, case):
        roles.add(workflow.HANDLER)
    if can_oversee(actor, case):
        roles.add(workflow.OFFICER)
    return roles


def options(session: Session, actor: User, case: Case) -> list[tuple]:
    return workflow.options(case.status, facts(session, case), roles_on(actor, case), actor.id)


def transition(
    session: Session,
    actor: User,
    case: Case,
    target: str,
    reason: str,
    version: int,
    closure_reason: str | None = None,
) -> Case:
    """Move ``case`` to ``target``; refuses with the reason the rules give."""
    if case.version != version:
        raise InvalidTransition(_("Someone else changed this case. Reload it and try again."))
    reason = (reason or "").strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationFailed(
            _("Give a reason of %(min)d to %(max)d characters.", min=REASON_MIN, max=REASON_MAX)
        )
    rule = workflow.find(case.status, target)
    if rule is None:
        raise InvalidTransition(_("This change of status is not possible."))
    why = workflow.blocker(rule, facts(session, case), roles_on(actor, case), actor.id)
    if why is not None:
        raise InvalidTransition(str(why))
    if target == "closure_requested" and closure_reason not in CLOSURE_REASONS:
        raise ValidationFailed(_("Choose why the case can close."))
    if target == "closed":
        _end_scheduled_follow_ups(session, actor, case)
    old = case.status
    row = CaseTransition(
        case_id=case.id,
        from_status=old,
        to_status=target,
        by_id=actor.id,
        closure_reason=closure_reason if target == "closure_requested" else None,
    )
    case.status = target
    if target == "closure_requested":
        case.closure_requested_by_id = actor.id
        case.closure_reason = closure_reason
    elif target in ("monitoring", "reopened") and old in ("closure_requested", "closed"):
        case.closure_requested_by_id = None
        case.closure_reason = None
    session.add(row)
    record(
        session,
        actor,
        "case.transition",
        case,
        unit=case.unit,
        object_ref=case.reference,
        reason=reason,
        covers=(row,),
    )
    if target == "closure_requested":
        notifications.notify_officers(
            session, case, "closure_requested", f"closure_requested:{case.id}:{row_key(case)}"
        )
    elif old == "closure_requested":
        kind = "closure_approved" if target == "closed" else "closure_returned"
        notifications.notify_handlers(session, case, kind, f"{kind}:{case.id}:{row_key(case)}")
    return case


def _end_scheduled_follow_ups(session: Session, actor: User, case: Case) -> None:
    """Finish, as of today with the situation unknown, each open follow-up the service
    scheduled itself (the next one, on finishing a follow-up while monitoring): nobody will
    do it once the case is closed, and reopened it would be overdue at once. Each is audited
    as a step finished by the approver. A follow-up a person planned is left to them."""
    if case.key_destroyed_at is not None:
        return  # no step can change on it (steps.complete_step refuses)
    steps = list(
        session.scalars(
            select(CaseStep)
            .where(CaseStep.case_id == case.id, CaseStep.kind == "follow_up")
            .order_by(CaseStep.id)
        )
    )
    scheduled_on = {s.next_on for s in steps if s.is_done and s.next_on is not None}
    for step in steps:
        if not step.is_done and step.details is None and step.due_on in scheduled_on:
            step_service.complete_step(
                session,
                actor,
                case,
                step,
                step_service.StepInput(
                    kind="follow_up", done_on=local_today(), situation="unknown"
                ),
                step.version,
            )


def row_key(case: Case) -> str:
    return utcnow().strftime("%Y%m%d%H%M%S%f")
