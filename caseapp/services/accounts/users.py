"""Accounts and role grants, managed by administrators within their own subtree."""

from __future__ import annotations

import re
import secrets

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from caseapp.db import utcnow
from caseapp.errors import Conflict, Forbidden, NotFound, ValidationFailed
from caseapp.models import Grant, Unit, User, UserSession
from caseapp.models.users import EMAIL_MAX, FULL_NAME_MAX, ROLES, USERNAME_PATTERN
from caseapp.runtime import hasher
from caseapp.security import passwords
from caseapp.security.authz import covers, scope_filter
from caseapp.services.accounts import auth, sessions
from caseapp.services.audit.trail import record

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def visible_users(admin, search: str = ""):
    """A select() of the accounts whose home unit lies within ``admin``'s subtree; with
    ``search``, those whose user name or full name contains it."""
    stmt = (
        select(User)
        .join(User.unit)
        .options(selectinload(User.grants).selectinload(Grant.unit), selectinload(User.unit))
        .where(scope_filter(admin, "admin.users", Unit.path))
        .order_by(User.username)
    )
    search = clean_search(search)
    if search:
        stmt = stmt.where(
            or_(User.username.like(f"%{search.lower()}%"), User.full_name.ilike(f"%{search}%"))
        )
    return stmt


def clean_search(text: str | None) -> str:
    """A search text as the account list uses it: trimmed, at most 64 characters, and without
    NUL (PostgreSQL refuses it in a query parameter)."""
    return (text or "").replace("\x00", "").strip()[:64]


def ever_signed_in(session: Session, user: User) -> bool:
    """Whether ``user`` has ever had a sign-in session (a new account has not)."""
    return (
        session.scalar(select(UserSession.id).where(UserSession.user_id == user.id).limit(1))
        is not None
    )


def get_user_in_scope(session: Session, admin, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not covers(admin, "admin.users", user.unit):
        raise NotFound()
    return user


def get_grant_in_scope(session: Session, admin, grant_id: int) -> Grant:
    """A grant held by an account within ``admin``'s subtree; 404 otherwise."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound()
    get_user_in_scope(session, admin, grant.user_id)
    return grant


def temporary_password() -> str:
    return "-".join(secrets.token_urlsafe(4) for _ in range(4))


def _check_profile(full_name: str, email: str) -> None:
    if not full_name.strip() or len(full_name) > FULL_NAME_MAX:
        raise ValidationFailed(
            _("A full name is required (at most %(n)d characters).", n=FULL_NAME_MAX)
        )
    if email and (len(email) > EMAIL_MAX or not re.match(EMAIL_PATTERN, email)):
        raise ValidationFailed(_("The e-mail address is not valid."))


def create_user(
    session: Session,
    actor: User | None,
    username: str,
    full_name: str,
    email: str,
    unit: Unit,
    password: str | None = None,
) -> tuple[User, str | None]:
    """A new account at ``unit``. Without ``password``, a temporary one to change at sign-in."""
    username = auth.normalise_username(username)
    if not re.match(USERNAME_PATTERN, username):
        raise ValidationFailed(_("A user name has 3 to 64 lower-case letters, digits, . _ or -."))
    _check_profile(full_name, email)
    if actor is not None and not covers(actor, "admin.users", unit):
        raise NotFound()
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(_("The user name %(name)s is already taken.", name=username))
    temp = None
    if password is None:
        temp = password = temporary_password()
    elif auth.password_problems(password, username, full_name):
        raise ValidationFailed(_("The password does not meet the password rules."))
    user = User(
        username=username,
        full_name=full_name.strip(),
        email=email.strip().lower(),
        unit=unit,
        password_hash=passwords.hash_password(hasher(), password),
        must_change_password=temp is not None,
    )
    session.add(user)
    record(session, actor, "user.create", user, unit=unit)
    return user, temp


def create_user_with_role(
    session: Session,
    actor: User,
    username: str,
    full_name: str,
    email: str,
    unit: Unit,
    role: str | None = None,
    role_unit: Unit | None = None,
) -> tuple[User, str | None, Grant | None]:
    """A new account at ``unit`` and, when ``role`` is given, its first grant (at ``role_unit``,
    by default the account's own unit): both or neither."""
    if role_unit is not None and not role:
        raise ValidationFailed(_("Choose the role to grant at that unit, or leave the unit empty."))
    user, temp = create_user(session, actor, username, full_name, email, unit)
    if not role:
        return user, temp, None
    session.flush()
    return user, temp, grant_role(session, actor, user, role, role_unit or unit)


def update_user(
    session: Session, actor: User, user: User, full_name: str, email: str, version: int
) -> User:
    _within_reach(actor, user)
    if user.version != version:
        raise Conflict(_("This account was changed by someone else. Reload it and try again."))
    _check_profile(full_name, email)
    user.full_name = full_name.strip()
    user.email = email.strip().lower()
    record(session, actor, "user.update", user, unit=user.unit)
    return user


def _not_self(actor: User | None, user: User) -> None:
    if actor is not None and actor.id == user.id:
        raise Forbidden(_("You cannot change your own access; ask another administrator."))


def _within_reach(actor: User, user: User) -> None:
    """An account holding a role beyond the administrator's units (a province administrator
    whose home unit is a school, say) is not theirs to reset, disable or edit: that would be a
    takeover of wider access."""
    if actor is not None and not all(
        covers(actor, "admin.users", g.unit) for g in user.active_grants
    ):
        raise Forbidden(_("You do not have permission to do this."))


def set_active(session: Session, actor: User, user: User, active: bool, reason: str) -> User:
    _not_self(actor, user)
    _within_reach(actor, user)
    if user.active == active:
        return user
    user.active = active
    record(
        session,
        actor,
        "user.enable" if active else "user.disable",
        user,
        unit=user.unit,
        reason=reason,
    )
    if not active:
        sessions.revoke_all(session, actor, user, "disabled")
    return user


def reset_second_factor(session: Session, actor: User, user: User, reason: str) -> User:
    """Clear the TOTP secret and recovery codes; the user enrols again at next sign-in."""
    _not_self(actor, user)
    _within_reach(actor, user)
    codes = auth.delete_recovery_codes(session, user)
    user.totp_secret = None
    user.totp_enrolled_at = None
    user.totp_last_counter = 0
    record(
        session,
        actor,
        "auth.second_factor_reset",
        user,
        unit=user.unit,
        reason=reason,
        covers=tuple(codes),
    )
    sessions.revoke_all(session, actor, user, "second_factor_reset")
    return user


def reset_password(session: Session, actor: User, user: User, reason: str) -> str:
    _not_self(actor, user)
    _within_reach(actor, user)
    temp = temporary_password()
    user.password_hash = passwords.hash_password(hasher(), temp)
    user.password_changed_at = utcnow()
    user.must_change_password = True
    record(session, actor, "auth.password_reset", user, unit=user.unit, reason=reason)
    sessions.revoke_all(session, actor, user, "password_reset")
    return temp


# Separation of duties: whoever audits administrators' actions is not one of them.
SEPARATED = {"admin", "auditor"}


def grant_role(session: Session, actor: User | None, user: User, role: str, unit: Unit) -> Grant:
    """Give ``user`` ``role`` at ``unit``; an administrator never grants above their own unit."""
    _not_self(actor, user)
    if role not in ROLES:
        raise ValidationFailed(_("Unknown role."))
    if actor is not None and not (
        covers(actor, "admin.users", unit) and covers(actor, "admin.users", user.unit)
    ):
        raise NotFound()
    if not unit.is_open:
        raise ValidationFailed(_("A closed unit cannot receive new grants."))
    # Grants to one account are decided one at a time (two at once could each miss the other
    # and make an administrator an auditor too).
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    session.refresh(user, ["grants"])
    if any(g.role == role and g.unit_id == unit.id for g in user.active_grants):
        raise Conflict(_("This account already holds that role at that unit."))
    if any({g.role, role} == SEPARATED for g in user.active_grants):
        raise ValidationFailed(
            _(
                "One account cannot both administer and audit: auditors "
                "review what administrators do. Use two accounts."
            )
        )
    grant = Grant(
        user=user, role=role, unit=unit, granted_by_id=actor.id if actor is not None else None
    )
    session.add(grant)
    # Grant(user=user) also appends to user.grants, which marks an existing user modified.
    record(
        session,
        actor,
        "user.grant",
        grant,
        unit=unit,
        object_ref=user.username,
        changes={"user": user.username, "role": role, "unit": unit.code},
        covers=(user,),
    )
    sessions.revoke_all(session, actor, user, "grants_changed")
    return grant


def revoke_grant(session: Session, actor: User, grant: Grant, reason: str) -> Grant:
    user = grant.user
    _not_self(actor, user)
    if actor is not None and not covers(actor, "admin.users", grant.unit):
        raise NotFound()
    if grant.revoked_at is not None:
        raise Conflict(_("This grant was already revoked."))
    grant.revoked_at = utcnow()
    grant.revoked_by_id = actor.id if actor is not None else None
    record(
        session,
        actor,
        "user.revoke",
        grant,
        unit=grant.unit,
        object_ref=user.username,
        reason=reason,
        changes={
            "user": user.username,
            "role": grant.role,
            "unit": grant.unit.code,
            "revoked": True,
        },
    )
    sessions.revoke_all(session, actor, user, "grants_changed")
    return grant
