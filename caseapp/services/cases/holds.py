"""Legal holds: an officer over a case stops the retention run from shredding it (a complaint,
a court case), with a reason sealed under the case's key; released with a reason. One hold in
force at a time; every hold is kept."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.errors import Conflict, Forbidden, NotFound, ValidationFailed
from caseapp.limits import REASON_MAX, REASON_MIN
from caseapp.models import Case, LegalHold, User
from caseapp.services.audit.trail import record
from caseapp.services.cases.access import can_oversee
from caseapp.services.cases.content import sealer

TABLE = "legal_holds"


def holds_of(session: Session, case: Case) -> list[LegalHold]:
    """Every hold of the case, the latest first (who and when; the reasons stay sealed)."""
    return list(
        session.scalars(
            select(LegalHold).where(LegalHold.case_id == case.id).order_by(LegalHold.id.desc())
        )
    )


def active_hold(session: Session, case: Case) -> LegalHold | None:
    return session.scalar(
        select(LegalHold).where(LegalHold.case_id == case.id, LegalHold.released_at.is_(None))
    )


def _checked(actor: User, case: Case, reason: str) -> str:
    if not can_oversee(actor, case):
        raise Forbidden(_("Only an officer above the school can set or release a legal hold."))
    reason = (reason or "").strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationFailed(
            _("Between %(min)d and %(max)d characters.", min=REASON_MIN, max=REASON_MAX)
        )
    return reason


def set_hold(session: Session, actor: User, case: Case, reason: str) -> LegalHold:
    """Put the case under a legal hold: the retention run keeps it until it is released."""
    reason = _checked(actor, case, reason)
    # Lock the case row (PostgreSQL) and read it afresh: a retention run shredding it at the
    # same moment either finishes first (seen here) or waits for this hold and then sees it.
    session.refresh(case, with_for_update=True)
    if case.key_destroyed_at is not None:
        raise ValidationFailed(_("This case's content was destroyed: there is nothing to hold."))
    if active_hold(session, case) is not None:
        raise Conflict(_("A legal hold is already in force on this case."))
    hold = LegalHold(case_id=case.id, set_by_id=actor.id, set_at=utcnow())
    session.add(hold)
    session.flush()  # the hold's id is part of what its reason is sealed with
    hold.reason = sealer(case).seal(TABLE, str(hold.id), "reason", reason)
    record(
        session,
        actor,
        "case.hold_set",
        hold,
        unit=case.unit,
        object_ref=case.reference,
        changes={"case": case.reference, "reason": "changed"},
        reason=reason,
    )
    return hold


def release_hold(
    session: Session, actor: User, case: Case, hold_id: int, version: int, reason: str
) -> LegalHold:
    """Release the hold in force (``version``: the one the officer saw)."""
    reason = _checked(actor, case, reason)
    hold = session.get(LegalHold, hold_id)
    if hold is None or hold.case_id != case.id:
        raise NotFound()
    if case.key_destroyed_at is not None:
        raise ValidationFailed(_("This case's content was destroyed: there is nothing to hold."))
    if hold.released_at is not None or hold.version != version:
        raise Conflict(_("Someone else changed this legal hold after you opened the case."))
    hold.released_by_id = actor.id
    hold.released_at = utcnow()
    hold.release_reason = sealer(case).seal(TABLE, str(hold.id), "release_reason", reason)
    record(
        session,
        actor,
        "case.hold_release",
        hold,
        unit=case.unit,
        object_ref=case.reference,
        changes={"released": [False, True], "release_reason": "changed"},
        reason=reason,
    )
    return hold
