"""Server-side sign-in sessions: created at sign-in, checked on every request, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, String, bindparam, event, func, select, update
from sqlalchemy.orm import Session, joinedload, object_session

from caseapp.db import utcnow
from caseapp.models import CaseExclusion, Grant, User, UserSession
from caseapp.prepared_statements import written_in
from caseapp.runtime import settings
from caseapp.services.audit.trail import record


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "ignore")).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def open_session(session: Session, user: User, ip: str, user_agent: str) -> tuple[str, UserSession]:
    token = secrets.token_urlsafe(32)
    record_ = UserSession(
        token_hash=_hash(token), user_id=user.id, ip=ip[:45], user_agent=user_agent[:200]
    )
    session.add(record_)
    return token, record_


def renew_token(session: Session, user_session: UserSession) -> str:
    """A new token for ``user_session``; the old one stops working. Used when the second factor
    completes sign-in, so a cookie copied before then never becomes a full session."""
    token = secrets.token_urlsafe(32)
    user_session.token_hash = _hash(token)
    return token


# Every request's first statement, built once (kept_statements): building it anew (three loader
# options) cost 0.4 ms a request. The user, their grants and the grants' units come with it
# (every page checks them): one statement instead of four (three lazy loads). It is sent with
# the token's hash written into its SQL (prepared_statements.written_in: 64 hexadecimal digits,
# a plain value), so that PostgreSQL plans it once per session and connection instead of at
# every request: as a parameter it was planned again each time (0.25 ms of the server's time,
# half of what a light page costs it, for 0.03 ms of execution). The hash is what the table
# holds, not the cookie's token; error logs show no literal of a statement (logs.safe_message).
# Up to this many, the cases a person is excluded from are written into the screens'
# statements (services/cases/access.py); beyond, each statement asks the database.
EXCLUSIONS_WRITTEN_MAX = 100
# With them, the cases the person is excluded from, as one text of their ids ("3,17"; NULL for
# none), for the screens' statements (services/cases/access.py, User.excluded_case_ids).
_EXCLUDED_CASES = (
    select(func.aggregate_strings(CaseExclusion.case_id.cast(String), ","))
    .where(CaseExclusion.user_id == UserSession.user_id)
    .scalar_subquery()
)
_LIVE_SESSION = (
    select(UserSession, _EXCLUDED_CASES)
    .where(UserSession.token_hash == bindparam("token_hash"))
    .options(
        joinedload(UserSession.user, innerjoin=True)
        .joinedload(User.grants)
        .joinedload(Grant.unit, innerjoin=True)
    )
)


def load_session(session: Session, token: str | None) -> UserSession | None:
    """The live session for ``token``, touched; None when unknown, revoked or timed out."""
    if not token:
        return None
    row = (
        session.execute(_LIVE_SESSION, {"token_hash": _hash(token)}, execution_options=written_in)
        .unique()
        .one_or_none()
    )
    if row is None or row[0].revoked_at is not None:
        return None
    found, excluded = row
    ids = {int(i) for i in (excluded or "").split(",") if i}
    # A person excluded from very many cases: asked of the database by id, as for anyone
    # read otherwise (no statement of the screens grows with the list).
    found.user.excluded_case_ids = (
        tuple(sorted(ids)) if len(ids) <= EXCLUSIONS_WRITTEN_MAX else None
    )
    now = utcnow()
    cfg = settings()
    if now - _aware(found.created_at) > timedelta(seconds=cfg.session_absolute_seconds):
        _expire(found, "absolute_timeout")
        return None
    if now - _aware(found.last_seen_at) > timedelta(seconds=cfg.session_idle_seconds):
        _expire(found, "idle_timeout")
        return None
    if not found.user.active:
        _expire(found, "disabled")
        return None
    if now - _aware(found.last_seen_at) > timedelta(seconds=cfg.session_touch_seconds):
        found.last_seen_at = now
        session.info["session_bookkeeping"] = True
    return found


def _expire(found: UserSession, reason: str) -> None:
    owner = object_session(found)
    if owner is not None:
        owner.info["session_bookkeeping"] = True
    found.revoked_at = utcnow()
    found.revoked_reason = reason


def close_session(session: Session, user_session: UserSession, reason: str = "logout") -> None:
    _expire(user_session, reason)


def revoke_all(session: Session, actor: User | None, user: User, reason: str) -> int:
    """End every live session of ``user`` (password change, grant change, disabling...)."""
    # An UPDATE's result is a CursorResult (it has the row count).
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason[:40])
            .execution_options(synchronize_session="fetch")
        ),
    )
    count = result.rowcount or 0
    if not count:
        return 0
    record(
        session,
        actor,
        "auth.sessions_revoked",
        unit=user.unit,
        object_type="users",
        object_id=str(user.id),
        object_ref=user.username,
        changes={"sessions_ended": count},
        reason=reason,
    )
    return count


def live_sessions(session: Session, user: User) -> list[UserSession]:
    cfg = settings()
    idle_cut = utcnow() - timedelta(seconds=cfg.session_idle_seconds)
    abs_cut = utcnow() - timedelta(seconds=cfg.session_absolute_seconds)
    return list(
        session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user.id,
                UserSession.revoked_at.is_(None),
                UserSession.last_seen_at > idle_cut,
                UserSession.created_at > abs_cut,
            )
            .order_by(UserSession.created_at.desc())
        )
    )


def _forget_exclusions(session: Session, *_args) -> None:
    """The cases a person is excluded from, as their sign-in session read them, serve only
    until the end of that transaction: after a commit or a rollback the screens ask the
    database by id again (a session kept longer than a request never serves a stale list)."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, User) and obj.excluded_case_ids is not None:
            obj.excluded_case_ids = None


def install() -> None:
    for name in ("after_commit", "after_rollback", "after_soft_rollback"):
        if not event.contains(Session, name, _forget_exclusions):
            event.listen(Session, name, _forget_exclusions)
