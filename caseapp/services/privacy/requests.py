"""Requests from data subjects (Law 91/2025/QH15, Decree 356/2025): recorded by the focal point
or officer who received them, with clocks in working days (acknowledge, then complete by the
period of the request's kind, one extension with a reason), and a decision that states its legal
ground whenever it refuses or limits. Names, contacts, details and reasons are sealed under the
request's own key (services.privacy.request_seal); audit events never hold them."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, joinedload

from caseapp.clock import local_today, zone
from caseapp.db import utcnow
from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.kept_statements import KEPT, KeptStatements, person_key
from caseapp.models import Unit
from caseapp.models.privacy import (
    LEGAL_GROUNDS,
    REQUEST_CHANNELS,
    REQUEST_KINDS,
    REQUEST_RELATIONS,
    REQUEST_TEXT_MAX,
    SubjectRequest,
)
from caseapp.prepared_statements import written_in
from caseapp.security.authz import covers, scope_filter
from caseapp.security.text import refused_characters
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.privacy import periods
from caseapp.services.privacy.breaches import parse_moment
from caseapp.services.privacy.calendar import (
    add_working_days,
    holiday_days,
    is_working_day,
    working_days_between,
)
from caseapp.services.privacy.references import next_reference
from caseapp.services.privacy.request_seal import RequestSeal, new_request_key

if TYPE_CHECKING:
    from caseapp.models import User

MANAGE, REVIEW = "request.manage", "request.review"
REFERENCE_LOCK_KEY = 715_015_001  # PostgreSQL advisory lock: one YC reference at a time
NAME_MAX, CONTACT_MAX, CASE_REFERENCE_MAX = 200, 300, 40
OPEN_STATUSES = ("received", "acknowledged", "awaiting_review")
FILTERS = ("open", "overdue", "all")
# A case reference as intake makes it: the school's code, the year, the number (SCH-A-2026-0001).
CASE_REFERENCE = re.compile(r"[A-Z0-9][A-Z0-9_-]{1,19}-[0-9]{4}-[0-9]{4,8}")
# The period that sets the deadline of each kind of request.
PERIOD_OF_KIND = {kind: f"request_{kind}" for kind in REQUEST_KINDS}


@dataclass
class RequestInput:
    unit_code: str
    kind: str
    relation: str
    channel: str
    received_at: str  # dd/mm/yyyy HH:MM local time; empty: now
    requester_name: str
    requester_contact: str
    subject_name: str
    case_reference: str = ""
    details: str = ""


@dataclass
class RequestView:
    """A request with its sealed fields in clear (the request's page; never stored or logged)."""

    requester_name: str = ""
    requester_contact: str = ""
    subject_name: str = ""
    details: str = ""
    extension_reason: str = ""
    outcome_reason: str = ""


# Clocks ------------------------------------------------------------------------------------


def received_on(req: SubjectRequest) -> date:
    at = req.received_at
    return (at if at.tzinfo else at.replace(tzinfo=zone())).astimezone(zone()).date()


def ack_overdue(req: SubjectRequest, today: date | None = None) -> bool:
    return (
        req.acknowledged_at is None
        and req.status in OPEN_STATUSES
        and (today or local_today()) > req.acknowledge_due_on
    )


def decision_overdue(req: SubjectRequest, today: date | None = None) -> bool:
    return req.status in OPEN_STATUSES and (today or local_today()) > req.deadline


def overdue(req: SubjectRequest, today: date | None = None) -> bool:
    return ack_overdue(req, today) or decision_overdue(req, today)


def days_left(session: Session, req: SubjectRequest, today: date | None = None) -> int | None:
    """Working days left until the deadline (0 on its day or past it); None once decided."""
    if req.status not in OPEN_STATUSES:
        return None
    return working_days_between(session, today or local_today(), req.deadline)


def days_left_of(session: Session, rows: list[SubjectRequest], today: date | None = None) -> dict:
    """{request id: working days left (None once decided)} for a page of requests: the holidays
    are read once for the whole page (no query per row)."""
    day = today or local_today()
    open_rows = [r for r in rows if r.status in OPEN_STATUSES]
    if not open_rows:
        return {r.id: None for r in rows}
    holidays = holiday_days(session, day, max(r.deadline for r in open_rows))
    out: dict[int, int | None] = {r.id: None for r in rows}
    for r in open_rows:
        span = (r.deadline - day).days
        out[r.id] = sum(
            1 for n in range(1, span + 1) if is_working_day(day + timedelta(days=n), holidays)
        )
    return out


def overdue_condition(today: date):
    """SQL: not acknowledged past its day, or not decided past the deadline."""
    undecided = SubjectRequest.status.in_(OPEN_STATUSES)
    deadline = func.coalesce(SubjectRequest.extended_to, SubjectRequest.due_on)
    return and_(
        undecided,
        or_(
            and_(
                SubjectRequest.acknowledged_at.is_(None), SubjectRequest.acknowledge_due_on < today
            ),
            deadline < today,
        ),
    )


# Reading -----------------------------------------------------------------------------------


def visible_requests(user: User, show: str = "open", today: date | None = None):
    """The requests of the units where ``user`` handles or reviews requests: the most urgent
    deadline first among open ones, then the newest."""
    stmt = (
        select(SubjectRequest)
        .join(SubjectRequest.unit)
        .options(joinedload(SubjectRequest.unit))
        .where(or_(scope_filter(user, MANAGE, Unit.path), scope_filter(user, REVIEW, Unit.path)))
    )
    if show == "open":
        stmt = stmt.where(SubjectRequest.status.in_(OPEN_STATUSES))
    elif show == "overdue":
        stmt = stmt.where(overdue_condition(today or local_today()))
    return stmt.order_by(
        case((SubjectRequest.status.in_(OPEN_STATUSES), 0), else_=1),
        func.coalesce(SubjectRequest.extended_to, SubjectRequest.due_on),
        SubjectRequest.id.desc(),
    )


# The overdue requests' statements of my work and monitoring, kept per person (kept_statements):
# the key holds what they read in Python (the person's id and grants, the unit, the day).
_overdue: KeptStatements[Select] = KeptStatements(KEPT)


def overdue_requests(session: Session, user: User, limit: int = 50) -> list[SubjectRequest]:
    """Overdue requests of the units where ``user`` handles requests (My work): one query."""
    today = local_today()

    def build() -> Select:
        return (
            select(SubjectRequest)
            .join(SubjectRequest.unit)
            .options(joinedload(SubjectRequest.unit))
            .where(scope_filter(user, MANAGE, Unit.path), overdue_condition(today))
            .order_by(func.coalesce(SubjectRequest.extended_to, SubjectRequest.due_on))
            .limit(limit)
        )

    stmt = _overdue.get(("mine", person_key(user), today, limit), build)
    # Planned once (prepared_statements.py).
    return list(session.scalars(stmt, execution_options=written_in))


def overdue_count_below(session: Session, user: User, unit: Unit) -> int:
    """How many overdue requests of ``unit`` and the units below it ``user`` handles or reviews
    (the monitoring page): one aggregate."""
    today = local_today()

    def build() -> Select:
        return (
            select(func.count(SubjectRequest.id))
            .join(SubjectRequest.unit)
            .where(
                Unit.path.startswith(unit.path),
                or_(scope_filter(user, MANAGE, Unit.path), scope_filter(user, REVIEW, Unit.path)),
                overdue_condition(today),
            )
        )

    stmt = _overdue.get(("below", person_key(user), unit.path, today), build)
    return session.scalar(stmt, execution_options=written_in) or 0


def may_read(user: User, req: SubjectRequest) -> bool:
    return covers(user, MANAGE, req.unit) or covers(user, REVIEW, req.unit)


def get_request(
    session: Session, user: User, request_id: int, permission: str | None = None
) -> SubjectRequest:
    """The request when ``user`` may read it (``permission``: hold it over its unit); else 404."""
    req = session.get(SubjectRequest, request_id)
    if req is None or not may_read(user, req):
        raise NotFound()
    if permission is not None and not covers(user, permission, req.unit):
        raise NotFound()
    return req


def opened(req: SubjectRequest) -> RequestView:
    """The request's sealed fields in clear, for those who may read it."""
    s = RequestSeal(req)
    return RequestView(
        requester_name=s.open("requester_name", req.requester_name),
        requester_contact=s.open("requester_contact", req.requester_contact),
        subject_name=s.open("subject_name", req.subject_name),
        details=s.open("details", req.details),
        extension_reason=s.open("extension_reason", req.extension_reason),
        outcome_reason=s.open("outcome_reason", req.outcome_reason),
    )


# Recording ---------------------------------------------------------------------------------


def clean_text(value: str, label: str, limit: int, required: bool = False) -> str:
    cleaned = (value or "").replace("\r\n", "\n").strip()
    if required and not cleaned:
        raise ValidationFailed(_("%(field)s is required.", field=label))
    if len(cleaned) > limit:
        raise ValidationFailed(_("%(field)s takes at most %(n)d characters.", field=label, n=limit))
    if refused_characters(cleaned):
        raise ValidationFailed(_("%(field)s holds characters that are not allowed.", field=label))
    return cleaned


def case_reference(value: str) -> str:
    """The case reference a requester gave, upper-cased; only the shape of a reference is kept
    (never free text: it is stored and audited in clear)."""
    cleaned = (value or "").strip()
    if not cleaned:
        return ""
    upper = cleaned.upper()
    if (
        not cleaned.isascii()
        or len(upper) > CASE_REFERENCE_MAX
        or not CASE_REFERENCE.fullmatch(upper)
    ):
        raise ValidationFailed(
            _(
                "The case reference is not valid: enter it as it is written on the case "
                "(for example SCH-A-2026-0001), or leave it empty. Nothing was saved."
            )
        )
    return upper


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValidationFailed(_("A choice in the form is not valid. Nothing was saved."))
    return value


def create(
    session: Session, actor: User, unit: Unit, data: RequestInput, now: datetime | None = None
) -> SubjectRequest:
    if not covers(actor, MANAGE, unit):
        raise NotFound()
    kind = _choice(data.kind, REQUEST_KINDS)
    relation = _choice(data.relation, REQUEST_RELATIONS)
    channel = _choice(data.channel, REQUEST_CHANNELS)
    received = parse_moment(data.received_at, _("Received at"), now) or (now or utcnow())
    requester = clean_text(data.requester_name, _("Requester's name"), NAME_MAX, True)
    contact = clean_text(data.requester_contact, _("Requester's contact"), CONTACT_MAX)
    subject = clean_text(data.subject_name, _("Name of the person the data is about"), NAME_MAX)
    if relation != "guardian" and not subject:
        subject = requester  # the requester asks about themselves
    if not subject:
        raise ValidationFailed(_("A guardian asks for a child: enter the child's name."))
    reference = case_reference(data.case_reference)
    details = clean_text(data.details, _("What the person asks"), REQUEST_TEXT_MAX)
    day = received.astimezone(zone()).date()
    req = SubjectRequest(
        uid=str(uuid.uuid4()),
        unit=unit,
        kind=kind,
        relation=relation,
        channel=channel,
        case_reference=reference,
        received_at=received,
        received_by_id=actor.id,
        acknowledge_due_on=add_working_days(
            session, day, periods.get(session, "request_acknowledge").amount
        ),
        due_on=add_working_days(session, day, periods.get(session, PERIOD_OF_KIND[kind]).amount),
        status="received",
    )
    seal = RequestSeal(req, new_request_key(req))
    req.requester_name = seal.seal("requester_name", requester)
    req.requester_contact = seal.seal("requester_contact", contact)
    req.subject_name = seal.seal("subject_name", subject)
    req.details = seal.seal("details", details)
    req.reference = next_reference(
        session, SubjectRequest.reference, "YC", day.year, REFERENCE_LOCK_KEY
    )
    session.add(req)
    changes = {
        "reference": req.reference,
        "kind": kind,
        "relation": relation,
        "channel": channel,
        "received_at": received.isoformat(),
        "case_reference": reference,
        "acknowledge_due_on": req.acknowledge_due_on.isoformat(),
        "due_on": req.due_on.isoformat(),
        "requester_name": "changed",
        "requester_contact": "changed",
        "subject_name": "changed",
        "details": "changed",
    }
    record(
        session, actor, "request.create", req, unit=unit, changes=changes, object_ref=req.reference
    )
    return req


# Steps -------------------------------------------------------------------------------------


def check_version(req: SubjectRequest, version: int) -> None:
    if req.version != version:
        raise Conflict(
            _(
                "This request was changed by someone else. Reload the page to see it, then try "
                "again."
            )
        )


def refuse_decided(req: SubjectRequest) -> None:
    if req.status not in OPEN_STATUSES:
        raise Conflict(_("This request is already decided; it can no longer change."))


def _audit(session: Session, actor: User, action: str, req: SubjectRequest, **extra) -> None:
    changes = changes_of(req) | extra
    record(session, actor, action, req, unit=req.unit, changes=changes, object_ref=req.reference)


def acknowledge(
    session: Session, actor: User, req: SubjectRequest, version: int, now: datetime | None = None
) -> SubjectRequest:
    check_version(req, version)
    refuse_decided(req)
    if req.acknowledged_at is not None:
        raise Conflict(_("This request was already acknowledged."))
    req.acknowledged_at = now or utcnow()
    if req.status == "received":
        req.status = "acknowledged"
    _audit(session, actor, "request.acknowledge", req)
    return req


def extend(
    session: Session, actor: User, req: SubjectRequest, version: int, reason: str
) -> SubjectRequest:
    check_version(req, version)
    refuse_decided(req)
    if req.extended_to is not None:
        raise ValidationFailed(_("The deadline was already extended once; it cannot be again."))
    if local_today() > req.deadline:
        raise ValidationFailed(
            _(
                "The deadline has already passed: it can no longer be extended. Decide the "
                "request now."
            )
        )
    why = clean_text(reason, _("Reason for the extension"), REQUEST_TEXT_MAX, True)
    req.extended_to = add_working_days(
        session, req.due_on, periods.get(session, "request_extension").amount
    )
    req.extension_reason = RequestSeal(req).seal("extension_reason", why)
    _audit(session, actor, "request.extend", req)
    return req


def check_ground(outcome: str, ground: str, reason: str) -> tuple[str, str]:
    """(ground, reason): both required when ``outcome`` refuses or limits the request."""
    _choice(outcome, ("granted", "limited", "refused"))
    why = clean_text(reason, _("Reason"), REQUEST_TEXT_MAX)
    if outcome == "granted":
        return "", why
    if ground not in LEGAL_GROUNDS:
        raise ValidationFailed(
            _("A request refused or limited needs its legal ground. Nothing was saved.")
        )
    if not why:
        raise ValidationFailed(
            _("Say why the request is refused or limited (a reason is required).")
        )
    return ground, why


def set_outcome(
    session: Session,
    actor: User,
    req: SubjectRequest,
    outcome: str,
    ground: str,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Write the decision on ``req`` (checked by the caller) and audit it once."""
    req.outcome = outcome
    req.legal_ground = ground
    req.outcome_reason = RequestSeal(req).seal("outcome_reason", reason)
    req.status = "refused" if outcome == "refused" else "completed"
    req.decided_at = now or utcnow()
    req.decided_by_id = actor.id
    _audit(session, actor, "request.decide", req)
