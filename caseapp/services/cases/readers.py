"""Who could read a case, and who did: the people who can open its confidential content today
(through which grant), and every opening of it (reads and file downloads: who, when, with
what reason), newest first. Shown to the people responsible for the case: its school's focal
points and the officers above (GlobaLeaks's access report, given to them, not only to admins).

An excluded person is not among those who can open it, whatever their grant (exclusions are
listed on their own); a person who opened it before being excluded is still among those who
did."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from caseapp.errors import Forbidden
from caseapp.models import AuditEvent, Case, CaseExclusion, Grant, Unit, User
from caseapp.security.authz import roles_with
from caseapp.services.cases.access import administrators, can_read_content

# The audited reads of a case's content (services/cases/content.py writes them).
OPENINGS = ("case.view_confidential", "attachment.download")
SHOWN_ON_THE_CASE = 10


def content_roles() -> tuple[str, ...]:
    """The roles that open a case's content: its school's handlers and the overseers above."""
    return tuple(dict.fromkeys(roles_with("case.write") + roles_with("case.oversee")))


@dataclass
class Reader:
    """A person who can open the case's content today, and the grant that lets them."""

    user_id: int
    full_name: str
    username: str
    role: str
    unit_name: str
    is_handler: bool


@dataclass
class Opening:
    at: datetime
    user_id: int | None
    full_name: str
    action: str
    reason: str


def _require(actor: User, case: Case) -> None:
    if not can_read_content(actor, case):
        raise Forbidden()


def who_can_read(session: Session, actor: User, case: Case) -> list[Reader]:
    """Every active person whose grant at the case's school or a unit above it opens its
    content, not excluded from it: one row per grant, the nearest unit first (one query)."""
    _require(actor, case)
    ancestors = [int(p) for p in case.unit.path.strip("/").split("/")]
    excluded = select(CaseExclusion.user_id).where(CaseExclusion.case_id == case.id)
    rows = session.execute(
        select(User.id, User.full_name, User.username, Grant.role, Unit.name)
        .join(Grant, Grant.user_id == User.id)
        .join(Unit, Unit.id == Grant.unit_id)
        .where(
            Grant.role.in_(content_roles()),
            Grant.revoked_at.is_(None),
            Grant.unit_id.in_(ancestors),
            User.active.is_(True),
            User.id.not_in(excluded),
            User.id.not_in(administrators()),
        )
        .order_by(func.length(Unit.path).desc(), User.full_name, User.id, Grant.role)
    ).all()
    return [
        Reader(uid, name, username, role, unit, uid == case.assigned_to_id)
        for uid, name, username, role, unit in rows
    ]


def openings(actor: User, case: Case) -> Select:
    """A select() of the audited openings of the case's content, newest first, with the full
    name of who opened it (paginate it, or take the first rows)."""
    _require(actor, case)
    return (
        select(AuditEvent, User.full_name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.object_ref == case.reference, AuditEvent.action.in_(OPENINGS))
        .order_by(AuditEvent.seq.desc())
    )


def as_openings(session: Session, actor: User, rows) -> list[Opening]:
    """The rows of openings() with their reasons opened for ``actor`` (one batch)."""
    from caseapp.services.audit.sealed_text import reasons

    clear = reasons(session, [e for e, _name in rows], actor)
    return [
        Opening(e.at, e.actor_id, name or e.actor_name, e.action, clear[e.seq]) for e, name in rows
    ]


def latest_openings(
    session: Session, actor: User, case: Case, limit: int = SHOWN_ON_THE_CASE
) -> tuple[list[Opening], int]:
    """The last ``limit`` openings and how many there were in all (two queries)."""
    stmt = openings(actor, case)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return as_openings(session, actor, session.execute(stmt.limit(limit)).all()), total


def page_of_openings(
    session: Session, actor: User, case: Case, page: int, size: int
) -> tuple[list[Opening], int, int]:
    """One page of the openings: (rows, page, pages)."""
    stmt = openings(actor, case)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, (total + size - 1) // size)
    page = min(max(1, page), pages)
    rows = session.execute(stmt.limit(size).offset((page - 1) * size)).all()
    return as_openings(session, actor, rows), page, pages


__all__ = [
    "OPENINGS",
    "Opening",
    "Reader",
    "content_roles",
    "latest_openings",
    "openings",
    "page_of_openings",
    "who_can_read",
]
