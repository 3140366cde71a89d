"""Four-eyes: what one administrator or officer asks for takes effect only when a second
person approves it.

Grants of every role, `admin` included (the first administrators come from the command line);
sign-in resets and new accounts (whose enrolment code has two halves, one per person); lifting
an exclusion from a case. A request about an account belongs to the lowest unit covering both
the account's home unit and the role's unit. The approver is an active administrator whose grant
covers the request's unit (its own unit or above), never the requester, never the person
concerned. Where no such administrator exists (a small province with one), an active officer
covering the unit approves instead, except for an auditor (only an administrator who could
appoint them). An exclusion lift is approved by another officer or administrator covering the
case's school who is not excluded from it. At approval the requester must still be active and
still hold the power they asked with. Requests expire seven days after being asked. Every step
is audited."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session, contains_eager, object_session, selectinload

from caseapp.db import utcnow
from caseapp.errors import Conflict, Forbidden, NotFound, ValidationFailed
from caseapp.models import (
    ApprovalRequest,
    Case,
    CaseExclusion,
    EnrolmentCode,
    Grant,
    Unit,
    User,
)
from caseapp.security.authz import covers, scope_filter
from caseapp.services.accounts import duties, enrolment, notices
from caseapp.services.accounts import users as user_service
from caseapp.services.audit import sealed_text
from caseapp.services.audit.trail import record
from caseapp.services.cases.access import can_oversee

EXPIRES_AFTER = timedelta(days=7)
# Kinds about an account (the person is told when something is asked about them).
ACCOUNT_KINDS = ("grant", "credential_reset", "new_account")
DECIDE = "approval.decide"


def payload(req: ApprovalRequest) -> dict:
    try:
        value = json.loads(req.payload or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def is_expired(req: ApprovalRequest, now: datetime | None = None) -> bool:
    return req.status == "pending" and _aware(req.expires_at) <= (now or utcnow())


def shown_status(req: ApprovalRequest, now: datetime | None = None) -> str:
    """The status to show: a pending request past its time reads "expired"."""
    return "expired" if is_expired(req, now) else req.status


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC).
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# Who may decide -----------------------------------------------------------------------------


@dataclass
class Deciders:
    """Everyone who could decide requests, loaded once for a page (no query per row):
    (user id, unit path) of the active admin and officer grants of active accounts, and the
    people excluded from the cases the requests concern."""

    admins: list[tuple[int, str]]
    officers: list[tuple[int, str]]
    excluded: dict[int, set[int]]
    # The units of the auditor grants asked for, by id (the auditor rule needs them).
    role_units: dict[int, Unit] = field(default_factory=dict)

    def ids_for(self, req: ApprovalRequest) -> set[int]:
        """Who may decide ``req``."""
        path = req.unit.path
        barred = {req.requested_by_id, req.subject_user_id, *batch_user_ids(req)}
        if req.kind == "exclusion_lift":
            ids = {uid for uid, p in self.admins + self.officers if path.startswith(p)}
            return ids - barred - self.excluded.get(req.case_id or 0, set())
        if _asks_auditor(req):
            # Only an administrator who could appoint this auditor (strictly above its unit,
            # or the top unit's pair), never an officer: one would approve the auditor of their
            # own units.
            unit = self.role_units.get(_role_unit_id(req))
            if unit is None:
                return set()
            return {
                uid
                for uid, p in self.admins
                if path.startswith(p) and duties.appoints_auditor_path(p, unit)
            } - barred
        admins = {uid for uid, p in self.admins if path.startswith(p)}
        admins -= barred
        if admins:
            return admins
        # A single-administrator deployment: the officers above approve instead.
        return {uid for uid, p in self.officers if path.startswith(p)} - barred

    def may_decide(self, person: User, req: ApprovalRequest) -> bool:
        return person.active and person.id in self.ids_for(req)


def batch_user_ids(req: ApprovalRequest) -> set[int]:
    """The accounts a batch (an import of accounts) is about: none of them decides it."""
    if req.kind != "batch":
        return set()
    lines = payload(req).get("lines")
    return {
        line["user_id"]
        for line in (lines if isinstance(lines, list) else [])
        if isinstance(line, dict) and isinstance(line.get("user_id"), int)
    }


def _asks_auditor(req: ApprovalRequest) -> bool:
    return req.kind in ("grant", "new_account") and payload(req).get("role") == "auditor"


def _role_unit_id(req: ApprovalRequest) -> int:
    value = payload(req).get("unit_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _holders(session: Session) -> dict[str, list[tuple[int, str]]]:
    """(user id, unit path) of the live admin and officer grants of active accounts, by role
    (one statement for both)."""
    found: dict[str, list[tuple[int, str]]] = {"admin": [], "officer": []}
    for role, uid, path in session.execute(
        select(Grant.role, Grant.user_id, Unit.path)
        .join(Unit, Unit.id == Grant.unit_id)
        .join(User, User.id == Grant.user_id)
        .where(Grant.role.in_(tuple(found)), Grant.revoked_at.is_(None), User.active.is_(True))
        .order_by(Grant.id)
    ):
        found[role].append((uid, path))
    return found


def deciders(session: Session, requests: list[ApprovalRequest] | None = None) -> Deciders:
    case_ids = {r.case_id for r in requests or [] if r.case_id is not None}
    excluded: dict[int, set[int]] = defaultdict(set)
    if case_ids:
        for case_id, user_id in session.execute(
            select(CaseExclusion.case_id, CaseExclusion.user_id).where(
                CaseExclusion.case_id.in_(case_ids)
            )
        ):
            excluded[case_id].add(user_id)
    unit_ids = {_role_unit_id(r) for r in requests or [] if _asks_auditor(r)}
    role_units = (
        {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(unit_ids)))}
        if unit_ids
        else {}
    )
    holders = _holders(session)
    return Deciders(holders["admin"], holders["officer"], dict(excluded), role_units)


def may_decide(session: Session, person: User, req: ApprovalRequest) -> bool:
    return deciders(session, [req]).may_decide(person, req)


# Asking -------------------------------------------------------------------------------------


def _pending(session: Session, kind: str, **where) -> ApprovalRequest | None:
    stmt = select(ApprovalRequest).where(
        ApprovalRequest.kind == kind,
        ApprovalRequest.status == "pending",
        ApprovalRequest.expires_at > utcnow(),
    )
    for column, value in where.items():
        stmt = stmt.where(getattr(ApprovalRequest, column) == value)
    for req in session.scalars(stmt):
        return req
    return None


def _open_request(
    session: Session,
    actor: User,
    kind: str,
    unit: Unit,
    reason: str,
    *,
    subject: User | None = None,
    case: Case | None = None,
    details: dict | None = None,
) -> ApprovalRequest:
    now = utcnow()
    reason = (reason or "").strip()
    req = ApprovalRequest(
        kind=kind,
        status="pending",
        unit_id=unit.id,
        subject_user_id=subject.id if subject is not None else None,
        case_id=case.id if case is not None else None,
        payload=json.dumps(details or {}, sort_keys=True, ensure_ascii=False),
        reason=_sealed(session, case.id if case is not None else None, "reason", reason),
        requested_by_id=actor.id,
        requested_at=now,
        expires_at=now + EXPIRES_AFTER,
    )
    session.add(req)
    changes = {"kind": kind, **(details or {})}
    if subject is not None:
        changes["subject"] = subject.username
    if case is not None:
        changes["case"] = case.reference
    record(
        session,
        actor,
        "approval.request",
        req,
        unit=unit,
        object_ref=case.reference if case is not None else (subject.username if subject else ""),
        reason=reason,
        changes=changes,
    )
    if subject is not None and kind in ACCOUNT_KINDS:
        notices.tell(session, subject, "account.requested")
    return req


TABLE = "approval_requests"


def _session_of(row) -> Session:
    session = object_session(row)
    assert session is not None  # shown rows were loaded by the page's session
    return session


def _sealed(session: Session, case_id: int | None, field: str, value: str) -> str:
    """The reason and the decision note are sealed like the reasons in the audit trail: under
    the case's audit text key (gone with its content), else the service key."""
    return sealed_text.seal_row_text(session, case_id, TABLE, field, value)


def seal_reason(session: Session, case_id: int | None, reason: str) -> str:
    return _sealed(session, case_id, "reason", reason)


def _clear(session: Session, req: ApprovalRequest, field: str) -> str:
    return sealed_text.open_row_text(session, TABLE, field, getattr(req, field)) or ""


def text_of(req: ApprovalRequest, field: str) -> str:
    """The reason or the decision note of ``req`` as every page shows it (clear, or a
    placeholder once it no longer opens)."""
    return sealed_text.row_text(_session_of(req), TABLE, field, getattr(req, field))


def _common_unit(session: Session, actor: User | None, *units: Unit) -> Unit:
    """The lowest unit covering all of ``units`` (an account's home unit and the unit of a role
    for it): the request's unit, whose administrators decide it. The asker must administer it
    too."""
    path = duties.common_unit_path(*(u.path for u in units))
    found = session.scalar(select(Unit).where(Unit.path == path)) if path != "/" else None
    if found is None:
        raise ValidationFailed(_("No unit covers both the account's unit and the role's unit."))
    if actor is not None and not covers(actor, "admin.users", found):
        raise Forbidden(
            _(
                "The account's unit and the role's unit are administered together only above "
                "your units: ask an administrator there."
            )
        )
    return found


def request_grant(
    session: Session, actor: User, user: User, role: str, unit: Unit, reason: str = ""
) -> ApprovalRequest | Grant:
    """Ask for ``user`` to receive ``role`` at ``unit``. The administrative role takes effect
    at once (a Grant is returned); the roles that open content or audit wait for a second
    person (the pending request is returned). Every rule is checked now and again at
    approval."""
    if not duties.needs_approval(role):
        return user_service.grant_role(session, actor, user, role, unit)
    user_service.check_grant_request(actor, user, role, unit)
    user_service.check_grant(session, user, role, unit)
    for req in session.scalars(
        select(ApprovalRequest).where(
            ApprovalRequest.kind.in_(("grant", "new_account")),
            ApprovalRequest.status == "pending",
            ApprovalRequest.subject_user_id == user.id,
            ApprovalRequest.expires_at > utcnow(),
        )
    ):
        wanted = payload(req)
        if wanted.get("role") == role and wanted.get("unit_id") == unit.id:
            raise Conflict(_("This grant was already asked for and waits for approval."))
    return _open_request(
        session,
        actor,
        "grant",
        _common_unit(session, actor, user.unit, unit),
        reason,
        subject=user,
        details={"role": role, "unit": unit.code, "unit_id": unit.id},
    )


@dataclass(frozen=True)
class Asked:
    """A request just made, and the letter (part 1 of an enrolment code) for the asker."""

    request: ApprovalRequest
    letter: enrolment.Letter | None = None


def request_credential_reset(session: Session, actor: User, user: User, reason: str) -> Asked:
    """ "Reset sign-in": ask for a new enrolment code for ``user``. The asker receives its
    first half now; the approver receives the second half, and only then do the person's
    password, authenticator and recovery codes stop working."""
    user_service.check_reach(actor, user)
    if not covers(actor, "admin.users", user.unit):
        raise NotFound()
    if not (reason or "").strip():
        raise ValidationFailed(_("Please give a reason."))
    if _pending(session, "credential_reset", subject_user_id=user.id) or _pending(
        session, "new_account", subject_user_id=user.id
    ):
        raise Conflict(_("A sign-in reset of this account already waits for approval."))
    req = _open_request(session, actor, "credential_reset", user.unit, reason, subject=user)
    letter = enrolment.issue_first_half(session, actor, user, "reset", approval=req)
    return Asked(req, letter)


@dataclass(frozen=True)
class NewAccount:
    user: User
    request: ApprovalRequest
    letter: enrolment.Letter


def create_user_with_role(
    session: Session,
    actor: User,
    username: str,
    full_name: str,
    email: str,
    unit: Unit,
    role: str | None = None,
    role_unit: Unit | None = None,
    reason: str = "",
) -> NewAccount:
    """A new account at ``unit``, without any password anybody knows, and a request (kind
    new_account) carrying its optional first role (at ``role_unit``, by default the account's
    own unit). The asker receives part 1 of the enrolment code; the approver grants the role
    and receives part 2."""
    if role_unit is not None and not role:
        raise ValidationFailed(_("Choose the role to grant at that unit, or leave the unit empty."))
    user, _none = user_service.create_user(session, actor, username, full_name, email, unit)
    session.flush()
    details: dict = {}
    scope = unit
    if role:
        where = role_unit or unit
        user_service.check_grant_request(actor, user, role, where)
        user_service.check_grant(session, user, role, where)
        details = {"role": role, "unit": where.code, "unit_id": where.id}
        # Decided by the administrators of both units (a school's may not grant the province).
        scope = _common_unit(session, actor, unit, where)
    req = _open_request(session, actor, "new_account", scope, reason, subject=user, details=details)
    letter = enrolment.issue_first_half(session, actor, user, "new_account", approval=req)
    return NewAccount(user, req, letter)


def request_exclusion_lift(
    session: Session, actor: User, case: Case, exclusion_id: int, reason: str
) -> ApprovalRequest:
    """An overseeing officer asks for an excluded person to see the case again; another
    officer or administrator covering the school, not excluded from it, approves."""
    if not can_oversee(actor, case):
        raise Forbidden(_("Only an officer above the school can lift an exclusion."))
    if not (reason or "").strip():
        raise ValidationFailed(_("Please give a reason."))
    exclusion = session.get(CaseExclusion, exclusion_id)
    if exclusion is None or exclusion.case_id != case.id:
        raise NotFound()
    for req in session.scalars(
        select(ApprovalRequest).where(
            ApprovalRequest.kind == "exclusion_lift",
            ApprovalRequest.status == "pending",
            ApprovalRequest.case_id == case.id,
            ApprovalRequest.expires_at > utcnow(),
        )
    ):
        if payload(req).get("exclusion_id") == exclusion.id:
            raise Conflict(_("Lifting this exclusion was already asked for."))
    return _open_request(
        session,
        actor,
        "exclusion_lift",
        case.unit,
        reason,
        subject=exclusion.user,
        case=case,
        details={
            "exclusion_id": exclusion.id,
            "user": exclusion.user.username,
            "case": case.reference,
        },
    )


# Deciding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decided:
    """A decision, and the letters (part 2 of enrolment codes) for the approver: one for a new
    account or a reset, one per new account for a batch, none otherwise."""

    request: ApprovalRequest
    letters: tuple[enrolment.Letter, ...] = ()

    @property
    def letter(self) -> enrolment.Letter | None:
        return self.letters[0] if self.letters else None


def _locked(session: Session, req: ApprovalRequest, version: int | None) -> ApprovalRequest:
    """The request, re-read under a row lock (two approvals at once: the second waits, then
    finds it decided); refused when decided or changed since the page was shown."""
    session.execute(
        select(ApprovalRequest.id).where(ApprovalRequest.id == req.id).with_for_update()
    )
    session.refresh(req)
    if req.status != "pending" or (version is not None and req.version != version):
        raise Conflict(
            _(
                "This request was decided or changed by someone else in the meantime. "
                "Nothing was changed: reload it to see where it stands."
            )
        )
    return req


def _decision_changes(req: ApprovalRequest) -> dict:
    requester = req.requested_by
    changes = {
        "kind": req.kind,
        "requested_by": requester.username if requester is not None else "",
        # A batch's lines are in its request (thousands of them): the event counts them.
        **{k: v for k, v in payload(req).items() if k not in ("unit_id", "lines")},
    }
    if req.subject is not None:
        changes["subject"] = req.subject.username
    return changes


def _close(session: Session, req: ApprovalRequest, actor: User, status: str, note: str) -> None:
    req.status = status
    req.decided_by_id = actor.id
    req.decided_at = utcnow()
    req.decision_note = _sealed(session, req.case_id, "decision_note", (note or "").strip())


def approve(
    session: Session, approver: User, req: ApprovalRequest, note: str, version: int | None
) -> Decided:
    """Approve ``req`` and carry out its effect, as ``approver``."""
    req = _locked(session, req, version)
    if not may_decide(session, approver, req):
        raise Forbidden(
            _(
                "You cannot decide this request: a second person approves it, never the "
                "one who asked nor the person concerned."
            )
        )
    if is_expired(req):
        raise ValidationFailed(
            _("This request expired: it was not decided within 7 days. Ask again if needed.")
        )
    _check_requester(session, req)
    changes = _decision_changes(req)
    letters = _carry_out(session, approver, req)
    _close(session, req, approver, "approved", note)
    record(
        session,
        approver,
        "approval.approve",
        req,
        unit=req.unit,
        object_ref=_ref(req),
        reason=(note or "").strip(),
        changes=changes,
    )
    return Decided(req, tuple(letters))


def _check_requester(session: Session, req: ApprovalRequest) -> None:
    """The person who asked may still ask it now: an active account; for a request about an
    account, still an administrator of the request's unit; for an exclusion lift, still an
    officer above the case, not excluded from it. Otherwise nobody approves it."""
    requester = req.requested_by
    if requester is not None:
        session.refresh(requester)
        session.refresh(requester, ["grants"])
    if requester is None or not requester.active:
        raise Conflict(
            _(
                "The person who asked no longer has an active account: this request cannot "
                "be approved. Reject it; ask again if it is still needed."
            )
        )
    if req.kind == "exclusion_lift":
        case = session.get(Case, req.case_id)
        excluded = session.scalar(
            select(CaseExclusion.id).where(
                CaseExclusion.case_id == req.case_id, CaseExclusion.user_id == requester.id
            )
        )
        if case is None or excluded is not None or not can_oversee(requester, case):
            raise Conflict(
                _(
                    "The person who asked can no longer oversee this case: this request "
                    "cannot be approved. Reject it; ask again if it is still needed."
                )
            )
    elif not covers(requester, "admin.users", req.unit):
        raise Conflict(
            _(
                "The person who asked no longer administers this unit: this request cannot "
                "be approved. Reject it; ask again if it is still needed."
            )
        )


def _ref(req: ApprovalRequest) -> str:
    """The audit events' object reference: the case's, or the account's user name."""
    if req.case_id is not None:
        return str(payload(req).get("case") or "")
    return req.subject.username if req.subject is not None else ""


def _carry_out(session: Session, approver: User, req: ApprovalRequest) -> list[enrolment.Letter]:
    requester = req.requested_by
    subject = req.subject
    wanted = payload(req)
    if req.kind == "exclusion_lift":
        _lift(session, approver, req)
        return []
    if req.kind == "batch":
        from caseapp.services.accounts import imports

        return imports.carry_out_batch(session, approver, req)
    if subject is None:
        raise NotFound()
    if not covers(approver, DECIDE, subject.unit) or not all(
        covers(approver, DECIDE, g.unit) for g in subject.active_grants
    ):
        raise Forbidden(_("This account is beyond the units you may decide for."))
    if req.kind in ("grant", "new_account") and wanted.get("role"):
        unit = session.get(Unit, wanted.get("unit_id"))
        if unit is None:
            raise NotFound()
        role = str(wanted["role"])
        # The approver administers the role's unit as well as the account's.
        if not covers(approver, DECIDE, unit):
            raise Forbidden(_("This account is beyond the units you may decide for."))
        user_service.check_grant(session, subject, role, unit)
        # Both sides of the auditor rule (Deciders.ids_for chose the approver by it too).
        if role == "auditor" and not (
            requester is not None
            and duties.may_appoint_auditor(requester, unit)
            and duties.may_appoint_auditor(approver, unit)
        ):
            raise Forbidden(
                _(
                    "An auditor is appointed by an administrator of a unit above the "
                    "auditor's unit, so that nobody appoints the person who audits them."
                )
            )
        user_service.apply_grant(session, approver, subject, role, unit, requested_by=requester)
    if req.kind == "grant":
        return []
    try:
        letter = enrolment.release_second_half(session, approver, subject)
    except LookupError:
        raise Conflict(
            _("This account's enrolment code was replaced or withdrawn. Ask again.")
        ) from None
    if req.kind == "credential_reset":
        record(
            session,
            approver,
            "auth.credential_reset",
            subject,
            unit=subject.unit,
            object_ref=subject.username,
            reason=_clear(session, req, "reason"),
            changes={
                "user": subject.username,
                "requested_by": requester.username if requester is not None else "",
            },
        )
        notices.tell(session, subject, "account.reset")
    return [letter]


def _lift(session: Session, approver: User, req: ApprovalRequest) -> None:
    exclusion = session.get(CaseExclusion, payload(req).get("exclusion_id"))
    if exclusion is None or exclusion.case_id != req.case_id:
        raise Conflict(_("This exclusion no longer exists."))
    case = session.get(Case, req.case_id)
    assert case is not None
    person = exclusion.user
    requester = req.requested_by
    record(
        session,
        approver,
        "case.exclusion_lift",
        exclusion,
        unit=case.unit,
        object_ref=case.reference,
        reason=_clear(session, req, "reason"),
        changes={
            "user": person.username,
            "requested_by": requester.username if requester is not None else "",
        },
    )
    session.delete(exclusion)
    notices.tell(session, person, "account.included")


def _withdraw_code(session: Session, req: ApprovalRequest) -> list[EnrolmentCode]:
    """The unfinished enrolment code of a request that will not be approved stops working."""
    codes = list(
        session.scalars(
            select(EnrolmentCode).where(
                EnrolmentCode.approval_id == req.id,
                EnrolmentCode.used_at.is_(None),
                EnrolmentCode.revoked_at.is_(None),
            )
        )
    )
    for code in codes:
        code.revoked_at = utcnow()
    return codes


def reject(
    session: Session, approver: User, req: ApprovalRequest, note: str, version: int | None
) -> Decided:
    """Turn ``req`` down (with a note); nothing it asked for happens."""
    req = _locked(session, req, version)
    if not may_decide(session, approver, req):
        raise Forbidden(_("You cannot decide this request."))
    if not (note or "").strip():
        raise ValidationFailed(_("Please say why the request is rejected."))
    return _end(session, approver, req, "rejected", "approval.reject", note)


def cancel(
    session: Session, actor: User, req: ApprovalRequest, note: str, version: int | None
) -> Decided:
    """The requester withdraws ``req``."""
    req = _locked(session, req, version)
    if req.requested_by_id != actor.id:
        raise Forbidden(_("Only the person who asked can withdraw a request."))
    return _end(session, actor, req, "cancelled", "approval.cancel", note)


def _end(
    session: Session, actor: User, req: ApprovalRequest, status: str, action: str, note: str
) -> Decided:
    changes = _decision_changes(req)
    codes = _withdraw_code(session, req)
    _close(session, req, actor, status, note)
    record(
        session,
        actor,
        action,
        req,
        unit=req.unit,
        object_ref=_ref(req),
        reason=(note or "").strip(),
        changes=changes,
        covers=tuple(codes),
    )
    return Decided(req)


# Reading ------------------------------------------------------------------------------------


def _with_people(stmt: Select) -> Select:
    return stmt.options(
        selectinload(ApprovalRequest.unit),
        selectinload(ApprovalRequest.subject),
        selectinload(ApprovalRequest.requested_by),
        selectinload(ApprovalRequest.decided_by),
    )


def in_reach(person: User) -> Select:
    """A select() of the requests ``person`` may look at: their own, and those of units where
    they could decide (administrators and officers)."""
    return _with_people(
        select(ApprovalRequest)
        .join(Unit, Unit.id == ApprovalRequest.unit_id)
        .where(
            or_(
                ApprovalRequest.requested_by_id == person.id,
                scope_filter(person, DECIDE, Unit.path),
            )
        )
    )


def get_request(session: Session, person: User, request_id: int) -> ApprovalRequest:
    """A request ``person`` may look at (see in_reach); 404 otherwise."""
    req = session.scalar(in_reach(person).where(ApprovalRequest.id == request_id))
    if req is None:
        raise NotFound()
    if req.case_id is not None and req.requested_by_id != person.id:
        # A request about a case says nothing to someone excluded from it (its reference,
        # the reason): as if it did not exist.
        excluded = session.scalar(
            select(CaseExclusion.id).where(
                CaseExclusion.case_id == req.case_id, CaseExclusion.user_id == person.id
            )
        )
        if excluded is not None:
            raise NotFound()
    return req


def pending_in_reach(person: User, now: ColumnElement | None = None) -> Select:
    """A select() of the pending, unexpired requests of others at units where ``person`` may
    decide: the candidates of waiting_for, before its rule (may_decide) is applied. ``now``:
    the moment they must not have expired by (default the present; a bound parameter for a
    statement built once and run again later)."""
    return (
        select(ApprovalRequest)
        .join(Unit, Unit.id == ApprovalRequest.unit_id)
        .where(
            ApprovalRequest.status == "pending",
            ApprovalRequest.expires_at > (utcnow() if now is None else now),
            scope_filter(person, DECIDE, Unit.path),
            ApprovalRequest.requested_by_id != person.id,
        )
    )


def _candidates(person: User, limit: int) -> Select:
    return (
        pending_in_reach(person)
        .order_by(ApprovalRequest.requested_at, ApprovalRequest.id)
        .limit(limit)
    )


def _decidable(
    session: Session, person: User, candidates: list[ApprovalRequest]
) -> list[ApprovalRequest]:
    if not candidates:  # the usual case, on every page of the menu: no grant list to load
        return []
    found = deciders(session, candidates)
    return [r for r in candidates if found.may_decide(person, r)]


def waiting_for(session: Session, person: User, limit: int = 500) -> list[ApprovalRequest]:
    """The pending, unexpired requests ``person`` may decide, oldest first. Pending requests
    are few (they expire within 7 days): the rule is applied to each in memory, with the
    deciders loaded once."""
    candidates = list(session.scalars(_with_people(_candidates(person, limit))))
    return _decidable(session, person, candidates)


def waiting_count(session: Session, person: User) -> int:
    """How many requests ``person`` may decide (the menu's number, on every page while one
    waits): as waiting_for, with the candidates' units from the same statement and no people
    loaded, since the rule reads nothing else of them."""
    unit_joined = _candidates(person, 500).options(contains_eager(ApprovalRequest.unit))
    return len(_decidable(session, person, list(session.scalars(unit_joined))))


def own_requests(person: User) -> Select:
    """A select() of the requests ``person`` asked for, newest first."""
    return _with_people(
        select(ApprovalRequest)
        .where(ApprovalRequest.requested_by_id == person.id)
        .order_by(ApprovalRequest.requested_at.desc(), ApprovalRequest.id.desc())
    )


def about_account(session: Session, user: User) -> list[ApprovalRequest]:
    """Pending requests about ``user``'s account (for the account's admin page)."""
    return list(
        session.scalars(
            _with_people(
                select(ApprovalRequest)
                .where(
                    ApprovalRequest.subject_user_id == user.id,
                    ApprovalRequest.status == "pending",
                    ApprovalRequest.kind.in_(ACCOUNT_KINDS),
                )
                .order_by(ApprovalRequest.requested_at)
            )
        )
    )


@dataclass(frozen=True)
class Subject:
    """What an approver sees of the account a request is about: when it was created, the
    grants it holds today and the other requests about it that wait (so that "this new
    account already holds..." is seen before approving)."""

    created_at: datetime
    grants: list[Grant]
    pending: list[ApprovalRequest]


def about_subject(session: Session, req: ApprovalRequest) -> Subject | None:
    """The account of a request about an account (see Subject); None for an exclusion lift."""
    person = req.subject
    if person is None or req.kind not in ACCOUNT_KINDS:
        return None
    grants = list(
        session.scalars(
            select(Grant)
            .options(selectinload(Grant.unit))
            .where(Grant.user_id == person.id, Grant.revoked_at.is_(None))
            .order_by(Grant.id)
        )
    )
    others = [r for r in about_account(session, person) if r.id != req.id and not is_expired(r)]
    return Subject(person.created_at, grants, others)


@dataclass(frozen=True)
class CodeState:
    """Where an account's latest enrolment code stands (never the code itself)."""

    state: str  # "waiting" (for its part 2), "valid", "expired" or "used"
    issued_at: datetime
    expires_at: datetime | None
    used_at: datetime | None


def code_state(session: Session, user: User) -> CodeState | None:
    """The state of ``user``'s latest enrolment code that was not withdrawn, if any."""
    code = session.scalar(
        select(EnrolmentCode)
        .where(EnrolmentCode.user_id == user.id, EnrolmentCode.revoked_at.is_(None))
        .order_by(EnrolmentCode.id.desc())
        .limit(1)
    )
    if code is None:
        return None
    if code.used_at is not None:
        state = "used"
    elif code.second_hash is None or code.expires_at is None:
        state = "waiting"
    elif _aware(code.expires_at) > utcnow():
        state = "valid"
    else:
        state = "expired"
    return CodeState(state, code.issued_at, code.expires_at, code.used_at)


def lifts_for_case(session: Session, person: User, case: Case) -> list[ApprovalRequest]:
    """Pending exclusion lifts of ``case`` that ``person`` may approve (for the case page)."""
    pending = list(
        session.scalars(
            _with_people(
                select(ApprovalRequest).where(
                    ApprovalRequest.kind == "exclusion_lift",
                    ApprovalRequest.status == "pending",
                    ApprovalRequest.case_id == case.id,
                    ApprovalRequest.expires_at > utcnow(),
                )
            )
        )
    )
    if not pending:
        return []
    found = deciders(session, pending)
    return [r for r in pending if found.may_decide(person, r)]


def lifts_asked(session: Session, case: Case) -> set[int]:
    """Ids of the exclusions of ``case`` whose lifting waits for approval."""
    return {
        int(payload(r).get("exclusion_id") or 0)
        for r in session.scalars(
            select(ApprovalRequest).where(
                ApprovalRequest.kind == "exclusion_lift",
                ApprovalRequest.status == "pending",
                ApprovalRequest.case_id == case.id,
                ApprovalRequest.expires_at > utcnow(),
            )
        )
    }


__all__ = [
    "EXPIRES_AFTER",
    "Asked",
    "Decided",
    "Deciders",
    "NewAccount",
    "Subject",
    "about_account",
    "about_subject",
    "approve",
    "cancel",
    "code_state",
    "create_user_with_role",
    "deciders",
    "get_request",
    "in_reach",
    "is_expired",
    "lifts_asked",
    "lifts_for_case",
    "may_decide",
    "own_requests",
    "payload",
    "reject",
    "request_credential_reset",
    "request_exclusion_lift",
    "request_grant",
    "shown_status",
    "waiting_count",
    "waiting_for",
]
