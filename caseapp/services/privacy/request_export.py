"""The export an access request produces: what the service holds about THAT PERSON ONLY, from the
confirmed matches: their own sealed fields (opened through the one door, one audited read per
case), their clear facts, the facts of the case that concern them, the steps about them and the
consents about them. Never the narrative, notes, files, step details or anything about another
person: the export lists what was withheld and why. Sealed (JSON) under the request's key,
prepared by one person, reviewed by an officer who is not the preparer, then released (the
request is completed) or rejected with a note; only a released export can be printed."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import Case, CaseConsent, CaseStep
from caseapp.models.privacy import REQUEST_TEXT_MAX, SubjectRequest, SubjectRequestExport
from caseapp.security.authz import covers
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.cases.access import visible_cases
from caseapp.services.cases.content import open_person
from caseapp.services.privacy.request_matches import confirmed_matches
from caseapp.services.privacy.request_seal import RequestSeal
from caseapp.services.privacy.requests import (
    REVIEW,
    check_ground,
    check_version,
    clean_text,
    opened,
    refuse_decided,
    set_outcome,
)

if TYPE_CHECKING:
    from caseapp.models import CasePerson, User

# What an export never holds, each with why (labels in the template).
WITHHELD = ("narrative", "notes", "files", "step_details", "other_people", "informant")
STEP_FACTS = ("kind", "method", "finding", "service", "status")
PERSON_FACTS = (
    "position",
    "sex",
    "age_band",
    "age_years",
    "role",
    "grade",
    "disability",
    "ethnic_minority",
    "relationship",
)


def _day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def pending(req: SubjectRequest) -> SubjectRequestExport | None:
    return next((e for e in req.exports if e.status == "pending_review"), None)


def released(req: SubjectRequest) -> SubjectRequestExport | None:
    return next((e for e in req.exports if e.status == "released"), None)


def _case_part(
    session: Session,
    actor: User,
    req: SubjectRequest,
    case: Case,
    person: CasePerson,
    steps,
    consents,
) -> dict:
    part: dict = {
        "reference": case.reference,
        "received_on": _day(case.received_on),
        "incident_on": _day(case.incident_on),
        "status": case.status,
        "violence": list(case.violence_types),
        "person": {name: getattr(person, name) for name in PERSON_FACTS},
        "steps": [
            {
                "recorded_on": _day(s.created_at),
                "due_on": _day(s.due_on),
                "done_on": _day(s.done_on),
                **{name: getattr(s, name) or "" for name in STEP_FACTS},
            }
            for s in steps
        ],
        "consents": [
            {
                "party": c.party,
                "purpose": c.purpose,
                "given_on": _day(c.given_on),
                "withdrawn_on": _day(c.withdrawn_on),
            }
            for c in consents
        ],
        "content_destroyed": case.key_destroyed_at is not None,
    }
    if case.key_destroyed_at is None:
        reason = _(
            "Request %(ref)s from the data subject: preparing their export", ref=req.reference
        )
        view = open_person(session, actor, case, person, reason)
        part["person"].update(
            name=view.name,
            contact=view.contact,
            guardian_name=view.guardian_name,
            guardian_contact=view.guardian_contact,
        )
    return part


def prepare(
    session: Session, actor: User, req: SubjectRequest, version: int
) -> SubjectRequestExport:
    check_version(req, version)
    refuse_decided(req)
    if req.kind != "access":
        raise ValidationFailed(_("Only an access request produces an export."))
    if req.acknowledged_at is None:
        raise ValidationFailed(_("Acknowledge the request before preparing its export."))
    if pending(req) is not None:
        raise Conflict(_("An export of this request is already waiting for review."))
    rows = confirmed_matches(session, actor, req)
    if not rows:
        raise ValidationFailed(_("Confirm at least one match before preparing the export."))
    person_ids = [p.id for _m, _c, p in rows]
    steps: dict[int, list] = {pid: [] for pid in person_ids}
    for step in session.scalars(
        select(CaseStep)
        .where(CaseStep.person_id.in_(person_ids))
        .order_by(CaseStep.created_at, CaseStep.id)
    ):
        steps[step.person_id or 0].append(step)
    consents: dict[int, list] = {pid: [] for pid in person_ids}
    for consent in session.scalars(
        select(CaseConsent)
        .where(CaseConsent.person_id.in_(person_ids))
        .order_by(CaseConsent.given_on, CaseConsent.id)
    ):
        consents[consent.person_id or 0].append(consent)
    body = {
        "request": req.reference,
        "kind": req.kind,
        "relation": req.relation,
        "subject_name": opened(req).subject_name,
        "prepared_on": _day(utcnow()),
        "cases": [
            _case_part(session, actor, req, c, p, steps[p.id], consents[p.id]) for _m, c, p in rows
        ],
        "withheld": list(WITHHELD),
    }
    export = SubjectRequestExport(request=req, status="pending_review", prepared_by_id=actor.id)
    session.add(export)
    session.flush()
    export.body = RequestSeal(req).seal_json(f"export:{export.id}", body)
    req.status = "awaiting_review"
    record(
        session,
        actor,
        "request.export_prepare",
        export,
        unit=req.unit,
        object_ref=req.reference,
        changes={"cases": len(rows), "body": "changed"},
        covers=(req,),
    )
    return export


def body_of(req: SubjectRequest, export: SubjectRequestExport) -> dict:
    return RequestSeal(req).open_json(f"export:{export.id}", export.body)


def get_export(req: SubjectRequest, export_id: int) -> SubjectRequestExport:
    export = next((e for e in req.exports if e.id == export_id), None)
    if export is None:
        raise NotFound()
    return export


def may_review(user: User, req: SubjectRequest, export: SubjectRequestExport) -> bool:
    return (
        export.status == "pending_review"
        and covers(user, REVIEW, req.unit)
        and export.prepared_by_id != user.id
    )


def read(session: Session, actor: User, req: SubjectRequest, export: SubjectRequestExport) -> dict:
    """The export in clear, audited: a reviewer of the unit reads a pending one; anyone who may
    read the request reads (and prints) a released one; a rejected one is not shown."""
    if export.status == "pending_review" and not covers(actor, REVIEW, req.unit):
        raise NotFound()
    if export.status == "rejected":
        raise NotFound()
    body = _visible_body(session, actor, req, export)
    action = (
        "request.export_view" if export.status == "pending_review" else "request.export_download"
    )
    record(
        session,
        actor,
        action,
        unit=req.unit,
        object_type="subject_request_exports",
        object_id=str(export.id),
        object_ref=req.reference,
    )
    return body


def _visible_body(
    session: Session, actor: User, req: SubjectRequest, export: SubjectRequestExport
) -> dict:
    """The export in clear when ``actor`` may see every case it draws on; an exclusion from one
    of them keeps it from their eyes (404), to read or to review."""
    body = body_of(req, export)
    refs = [c.get("reference") for c in body.get("cases", [])]
    if refs and len(visible_references(session, actor, refs)) != len(set(refs)):
        raise NotFound()
    return body


def visible_references(session: Session, user: User, refs: list) -> set[str]:
    """The case references among ``refs`` whose case ``user`` may see (one query)."""
    return set(
        session.scalars(
            visible_cases(user).with_only_columns(Case.reference).where(Case.reference.in_(refs))
        )
    )


def _check_reviewer(
    actor: User, req: SubjectRequest, export: SubjectRequestExport, version: int
) -> None:
    if not covers(actor, REVIEW, req.unit):
        raise NotFound()
    if export.version != version:
        raise Conflict(
            _("This export was changed by someone else. Reload the page to see it, then try again.")
        )
    if export.status != "pending_review":
        raise Conflict(_("This export was already reviewed."))
    if export.prepared_by_id == actor.id:
        raise ValidationFailed(
            _("You prepared this export: another officer reviews and releases it.")
        )


def release(
    session: Session,
    actor: User,
    req: SubjectRequest,
    export: SubjectRequestExport,
    version: int,
    outcome: str,
    ground: str,
    reason: str,
    now: datetime | None = None,
    verified: bool = False,
) -> SubjectRequestExport:
    _check_reviewer(actor, req, export, version)
    refuse_decided(req)
    _visible_body(session, actor, req, export)
    if not verified:
        raise ValidationFailed(
            _(
                "Check the requester's identity (and, for a guardian, that they are the child's "
                "guardian) and tick the box before releasing the export. Nothing was released."
            )
        )
    if outcome not in ("granted", "limited"):
        raise ValidationFailed(_("A released export grants the request or limits it."))
    ground, why = check_ground(outcome, ground, reason)
    moment = now or utcnow()
    export.status = "released"
    export.reviewed_by_id = actor.id
    export.reviewed_at = moment
    export.released_at = moment
    record(
        session,
        actor,
        "request.export_release",
        export,
        unit=req.unit,
        object_ref=req.reference,
        changes=changes_of(export) | {"identity_verified": True},
    )
    set_outcome(session, actor, req, outcome, ground, why, moment)
    return export


def reject(
    session: Session,
    actor: User,
    req: SubjectRequest,
    export: SubjectRequestExport,
    version: int,
    note: str,
    now: datetime | None = None,
) -> SubjectRequestExport:
    _check_reviewer(actor, req, export, version)
    refuse_decided(req)
    _visible_body(session, actor, req, export)
    why = clean_text(note, _("What must change"), REQUEST_TEXT_MAX, True)
    export.status = "rejected"
    export.reviewed_by_id = actor.id
    export.reviewed_at = now or utcnow()
    export.review_note = RequestSeal(req).seal(f"review_note:{export.id}", why)
    req.status = "acknowledged"
    record(
        session,
        actor,
        "request.export_reject",
        export,
        unit=req.unit,
        object_ref=req.reference,
        changes=changes_of(export),
        covers=(req,),
    )
    return export


def review_note(req: SubjectRequest, export: SubjectRequestExport) -> str:
    return RequestSeal(req).open(f"review_note:{export.id}", export.review_note)
