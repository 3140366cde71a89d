"""Deciding a request from a data subject: granted, limited or refused (these two with a legal
ground and a reason). What a grant does depends on the kind:

- deletion: the content of a confirmed case is crypto-shredded (services.cases.intake.
  destroy_content) only where the subject is the person harmed, the only person harmed still in
  the case (shredding destroys the whole case's content, so another person harmed's record would
  go too), the case is closed and under no legal hold; any other confirmed match makes a grant
  impossible: the decision is then limited (the cases that qualify are shredded) or refused;
- withdrawal of consent: every consent still in force about a confirmed person harmed is
  withdrawn today through the consent service (which the school's focal point records);
- access: granted or limited only by releasing a reviewed export (request_export);
- correction, objection, restriction: the decision is recorded; the focal point corrects or
  restricts through the case page."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.clock import local_today
from caseapp.errors import Conflict, Forbidden, ValidationFailed
from caseapp.models import CaseConsent
from caseapp.models.privacy import LegalHold, SubjectRequest
from caseapp.security.authz import covers
from caseapp.services.cases.intake import destroy_content
from caseapp.services.cases.records import withdraw_consent
from caseapp.services.privacy.request_export import pending
from caseapp.services.privacy.request_matches import confirmed_matches, hidden_confirmed
from caseapp.services.privacy.requests import (
    check_ground,
    check_version,
    refuse_decided,
    set_outcome,
)

if TYPE_CHECKING:
    from caseapp.models import Case, CasePerson, User


def outcomes_for(user: User, req: SubjectRequest) -> tuple[str, ...]:
    """The decisions ``user`` can carry out on ``req`` (the form offers only these): an access
    request is granted by releasing its export; a deletion shreds content, which only an officer
    above the school may do; a withdrawal of consent is recorded by the school's focal point."""
    if req.kind == "access":
        return ("refused",)
    if req.kind == "deletion" and not covers(user, "case.oversee", req.unit):
        return ("refused",)
    if req.kind == "withdrawal" and not covers(user, "case.write", req.unit):
        return ("limited", "refused")
    return ("granted", "limited", "refused")


def _check_may_carry_out(user: User, req: SubjectRequest, outcome: str) -> None:
    if outcome in outcomes_for(user, req) or req.kind == "access":
        return
    if req.kind == "deletion":
        raise Forbidden(
            _(
                "Only an officer above the school can grant or limit a deletion (it destroys "
                "case content): refuse it with its legal ground, or ask an officer to decide."
            )
        )
    raise Forbidden(
        _(
            "A withdrawal of consent is recorded by the school's focal point: ask them to grant "
            "this request."
        )
    )


def _check_all_seen(session: Session, actor: User, req: SubjectRequest) -> None:
    if hidden_confirmed(session, actor, req):
        raise Conflict(
            _(
                "A confirmed case of this request is hidden from you (you are excluded from it): "
                "another officer must decide this request. Nothing was changed."
            )
        )


def _held(session: Session, case_ids: list[int]) -> set[int]:
    if not case_ids:
        return set()
    return set(
        session.scalars(
            select(LegalHold.case_id).where(
                LegalHold.case_id.in_(case_ids), LegalHold.released_at.is_(None)
            )
        )
    )


def shreddable(session: Session, rows: list[tuple]) -> list[tuple]:
    """The confirmed (match, case, person) whose case content a deletion may shred."""
    held = _held(session, [c.id for _m, c, _p in rows])
    out = []
    for match, case, person in rows:
        if (
            match.position == "harmed"
            and case.status == "closed"
            and case.key_destroyed_at is None
            and case.id not in held
            and [p.id for p in case.harmed_people] == [person.id]
        ):
            out.append((match, case, person))
    return out


def _delete(session: Session, actor: User, req: SubjectRequest, outcome: str) -> None:
    if req.relation not in ("person_harmed", "guardian"):
        if outcome == "granted":
            raise ValidationFailed(
                _(
                    "Only the content of a case about the person harmed can be deleted at their "
                    "request: limit or refuse this one with its legal ground."
                )
            )
        return
    rows = confirmed_matches(session, actor, req)
    able = shreddable(session, rows)
    if outcome == "granted" and (not rows or len(able) != len(rows)):
        raise ValidationFailed(
            _(
                "A deletion can be granted only when every confirmed case is closed, under no "
                "legal hold, and the subject is its only person harmed. Limit or refuse it with "
                "its legal ground (the cases that qualify are deleted when it is limited)."
            )
        )
    for _m, case, _p in able:
        destroy_content(
            session,
            actor,
            case,
            _("Deletion requested by the data subject (%(ref)s)", ref=req.reference),
        )


def _withdraw(session: Session, actor: User, req: SubjectRequest) -> None:
    rows = [row for row in confirmed_matches(session, actor, req) if row[0].position == "harmed"]
    if not rows:
        raise ValidationFailed(_("Confirm the person harmed among the matches first."))
    people: dict[int, tuple[Case, CasePerson]] = {p.id: (c, p) for _m, c, p in rows}
    consents = session.scalars(
        select(CaseConsent).where(
            CaseConsent.person_id.in_(list(people)), CaseConsent.withdrawn_on.is_(None)
        )
    ).all()
    for consent in consents:
        case, _person = people[consent.person_id or 0]
        withdraw_consent(session, actor, case, consent.id, local_today())


def decide(
    session: Session,
    actor: User,
    req: SubjectRequest,
    version: int,
    outcome: str,
    ground: str,
    reason: str,
    now: datetime | None = None,
) -> SubjectRequest:
    check_version(req, version)
    refuse_decided(req)
    if pending(req) is not None:
        raise Conflict(
            _(
                "An export of this request is waiting for review: the reviewing officer releases "
                "or sends it back before the request can be decided otherwise."
            )
        )
    ground, why = check_ground(outcome, ground, reason)
    if req.acknowledged_at is None:
        raise ValidationFailed(_("Acknowledge the request before deciding it."))
    if req.kind == "access" and outcome != "refused":
        raise ValidationFailed(
            _("An access request is granted or limited by releasing its reviewed export.")
        )
    _check_may_carry_out(actor, req, outcome)
    if req.kind == "deletion" and outcome != "refused":
        _check_all_seen(session, actor, req)
        _delete(session, actor, req, outcome)
    if req.kind == "withdrawal" and outcome == "granted":
        _check_all_seen(session, actor, req)
        _withdraw(session, actor, req)
    set_outcome(session, actor, req, outcome, ground, why, now)
    return req
