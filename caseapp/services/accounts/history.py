"""A person's own account page: their last sign-ins, the failed attempts, and every change to
their account (from the audit trail), each with who made it. Reading it is not a confidential
read: it names no case and no child, and it is not audited."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, not_, or_, select, union
from sqlalchemy.orm import Session

from caseapp.errors import NotFound
from caseapp.labels import audit_action_names, role_names
from caseapp.models import AuditEvent, AuditEventName, Unit, User, UserSession
from caseapp.security.authz import covers
from caseapp.services.audit.trail import NAMED_INSIDE

# Signing in and out are not changes to the account: the sign-ins are listed on their own.
SIGN_INS = ("auth.login", "auth.password_ok", "auth.logout")
FAILURES = (
    "auth.login_failed",
    "auth.second_factor_failed",
    "auth.locked",
    "auth.password_change_failed",
    "auth.enrolment_failed",
)
# What an event about an account may be (object_ref holds the account's user name).
ACCOUNT_OBJECTS = ("users", "grants", "enrolment_codes", "approval_requests", "recovery_codes")
# About a case the person was kept from: neither the case nor who asked is shown to them.
CASE_SIDE = ("case.exclude", "case.exclusion_lift")
RECENT = 10


def _about(user: User) -> ColumnElement[bool]:
    """The audit events about ``user``'s account, each branch read from an index: by
    (object_type, object_id), by object_ref, or, for the events that name the person only
    inside their changes (exclusions, approvals: trail.NAMED_INSIDE), by the names kept beside
    them (AuditEventName)."""
    return AuditEvent.seq.in_(
        union(
            select(AuditEvent.seq).where(
                AuditEvent.object_type == "users", AuditEvent.object_id == str(user.id)
            ),
            select(AuditEvent.seq).where(
                AuditEvent.object_ref == user.username,
                AuditEvent.object_type.in_(ACCOUNT_OBJECTS),
            ),
            select(AuditEventName.seq)
            .join(AuditEvent, AuditEvent.seq == AuditEventName.seq)
            .where(AuditEventName.username == user.username, AuditEvent.action.in_(NAMED_INSIDE)),
        )
    )


def _pair(key: str, value: str) -> str:
    """``"key": "value"`` as record() writes it in an event's changes (sorted JSON)."""
    return json.dumps({key: value}, ensure_ascii=False)[1:-1]


# Approval events of exclusion lifts (asked, rejected, withdrawn, approved).
APPROVAL_EVENTS = ("approval.request", "approval.approve", "approval.reject", "approval.cancel")


def _kept_from_the_person() -> ColumnElement[bool]:
    """What the person's own history never shows: that they were excluded from a case, and
    every step of a request to lift it (it would tip them off that a case concerns them). The
    lifting itself, once approved, is shown (they are told of it then)."""
    return or_(
        AuditEvent.action == "case.exclude",
        and_(
            AuditEvent.action.in_(APPROVAL_EVENTS),
            AuditEvent.changes.contains(_pair("kind", "exclusion_lift"), autoescape=True),
        ),
    )


def changes_to(user: User, *, own: bool = True) -> Select:
    """A select() of every change to ``user``'s account, newest first (paginate it). Read by
    the person themselves (``own``), without their exclusions from cases and the requests to
    lift them; ``own=False`` for an officer above them, who is told of those."""
    stmt = select(AuditEvent).where(_about(user), AuditEvent.action.not_in(SIGN_INS + FAILURES))
    if own:
        stmt = stmt.where(not_(_kept_from_the_person()))
    return stmt.order_by(AuditEvent.seq.desc())


@dataclass
class SignIn:
    at: datetime | None
    ip: str
    browser: str


@dataclass
class Failure:
    at: datetime
    ip: str
    what: str


def recent_sign_ins(session: Session, user: User, limit: int = RECENT) -> list[SignIn]:
    """The last completed sign-ins (second factor passed), newest first."""
    rows = session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.second_factor_at.is_not(None))
        .order_by(UserSession.second_factor_at.desc(), UserSession.id.desc())
        .limit(limit)
    )
    return [SignIn(s.second_factor_at, s.ip, browser_of(s.user_agent)) for s in rows]


def recent_failures(session: Session, user: User, limit: int = RECENT) -> list[Failure]:
    """The last refused sign-ins, password changes and enrolment codes on the account, newest
    first."""
    names = audit_action_names()
    rows = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "users",
            AuditEvent.object_id == str(user.id),
            AuditEvent.action.in_(FAILURES),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
    return [Failure(e.at, e.ip, names.get(e.action, e.action)) for e in rows]


_BROWSERS = (
    ("coc_coc", "Cốc Cốc"),
    ("edg", "Edge"),
    ("opr/", "Opera"),
    ("zalo", "Zalo"),
    ("firefox", "Firefox"),
    ("fxios", "Firefox"),
    ("crios", "Chrome"),
    ("chrome", "Chrome"),
    ("safari", "Safari"),
)
_SYSTEMS = (
    ("android", "Android"),
    ("iphone", "iOS"),
    ("ipad", "iPadOS"),
    ("windows", "Windows"),
    ("mac os x", "macOS"),
    ("cros", "ChromeOS"),
    ("linux", "Linux"),
)


def browser_of(user_agent: str) -> str:
    """A browser's User-Agent in short: "Firefox, Windows"."""
    ua = (user_agent or "").lower()
    name = next((n for key, n in _BROWSERS if key in ua), "")
    system = next((s for key, s in _SYSTEMS if key in ua), "")
    found = ", ".join(p for p in (name, system) if p)
    return found or re.sub(r"\s+", " ", user_agent or "")[:40] or "—"


@dataclass
class Change:
    """One line of an account's history, ready to show."""

    at: datetime
    what: str
    by: str
    details: list[str] = field(default_factory=list)


def describe(session: Session, viewer: User, events: list[AuditEvent]) -> list[Change]:
    """Events about an account (``changes_to``) as ``viewer`` reads them: who did it by full
    name ("you" for the viewer's own acts), the role and unit of a grant; for an exclusion
    neither the case nor who asked."""
    names = audit_action_names()
    roles = role_names()
    kinds = {
        "grant": _("A role"),
        "credential_reset": _("A sign-in reset"),
        "new_account": _("A new account"),
        "exclusion_lift": _("Lifting an exclusion from a case"),
    }
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    changes = {e.seq: _changes(e) for e in events}
    codes = {c.get("unit") for c in changes.values() if isinstance(c.get("unit"), str)}
    people = (
        dict(session.execute(select(User.id, User.full_name).where(User.id.in_(actor_ids))).all())
        if actor_ids
        else {}
    )
    units = (
        dict(session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())
        if codes
        else {}
    )
    lines = []
    for e in events:
        c = changes[e.seq]
        case_side = e.action in CASE_SIDE or c.get("kind") == "exclusion_lift"
        if case_side:
            by = _("(not shown)")
        elif e.actor_id is None:
            by = _("the system")
        elif e.actor_id == viewer.id:
            by = _("you")
        else:
            by = people.get(e.actor_id, e.actor_name)
        details = []
        if e.action == "case.exclude":
            what = _("Excluded from a case")
        elif e.action == "case.exclusion_lift":
            what = _("An exclusion from a case was lifted")
        else:
            what = names.get(e.action, e.action)
            if e.action.startswith("approval.") and c.get("kind") in kinds:
                details.append(kinds[c["kind"]])
            if isinstance(c.get("role"), str) and not case_side:
                unit = c.get("unit")
                role = roles.get(c["role"], c["role"])
                details.append(
                    _("%(role)s at %(unit)s", role=role, unit=units.get(unit, unit))
                    if isinstance(unit, str)
                    else role
                )
        lines.append(Change(e.at, what, by, details))
    return lines


def _changes(event: AuditEvent) -> dict:
    try:
        value = json.loads(event.changes or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _oversees(officer: User, person: User | None) -> bool:
    return (
        person is not None
        and person.id != officer.id
        and covers(officer, "case.oversee", person.unit)
    )


def overseen_person(session: Session, officer: User, user_id: int) -> User:
    """A person whose account history ``officer`` may read: an officer above their home unit
    (the one told of changes to it). Anyone else: 404."""
    person = session.get(User, user_id)
    if person is None or not _oversees(officer, person):
        raise NotFound()
    return person


def oversees(session: Session, officer: User, user_id: int) -> bool:
    """Whether ``officer`` may read the changes to that person's account (overseen_person)."""
    return _oversees(officer, session.get(User, user_id))


__all__ = [
    "Change",
    "Failure",
    "SignIn",
    "browser_of",
    "changes_to",
    "describe",
    "overseen_person",
    "oversees",
    "recent_failures",
    "recent_sign_ins",
]
