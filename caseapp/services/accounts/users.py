"""Accounts and role grants, managed by administrators within their own subtree."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from caseapp.db import utcnow
from caseapp.errors import Conflict, Forbidden, NotFound, ValidationFailed
from caseapp.models import Grant, Unit, User
from caseapp.models.users import EMAIL_MAX, FULL_NAME_MAX, ROLES, USERNAME_PATTERN
from caseapp.runtime import hasher
from caseapp.security import passwords
from caseapp.security.authz import covers, scope_filter
from caseapp.services.accounts import auth, duties, notices, sessions
from caseapp.services.audit.trail import changes_of, record

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
    note: dict | None = None,
) -> tuple[User, None]:
    """A new account at ``unit``. With ``password`` (the command line, the demo, tests), that
    password; without, none anybody knows: the person starts with an enrolment code (see
    services.accounts.approvals.create_user_with_role). Returns (user, None): no temporary
    password exists any more; the pair keeps the callers' unpacking."""
    username = auth.normalise_username(username)
    if not re.match(USERNAME_PATTERN, username):
        raise ValidationFailed(_("A user name has 3 to 64 lower-case letters, digits, . _ or -."))
    _check_profile(full_name, email)
    if actor is not None and not covers(actor, "admin.users", unit):
        raise NotFound()
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(_("The user name %(name)s is already taken.", name=username))
    if password is not None and auth.password_problems(password, username, full_name):
        raise ValidationFailed(_("The password does not meet the password rules."))
    user = User(
        username=username,
        full_name=full_name.strip(),
        email=email.strip().lower(),
        unit=unit,
        # Without a password: an unusable hash (no argon2 work), so none signs in.
        password_hash=(
            passwords.hash_password(hasher(), password)
            if password is not None
            else passwords.unusable_hash()
        ),
        must_change_password=False,
    )
    session.add(user)
    # ``note``: where the change comes from (an import's batch and line), beside the diff.
    changes = {**changes_of(user), **note} if note else None
    record(session, actor, "user.create", user, unit=unit, changes=changes)
    return user, None


def update_user(
    session: Session,
    actor: User,
    user: User,
    full_name: str,
    email: str,
    version: int,
    note: dict | None = None,
) -> User:
    _within_reach(actor, user)
    if user.version != version:
        raise Conflict(_("This account was changed by someone else. Reload it and try again."))
    _check_profile(full_name, email)
    user.full_name = full_name.strip()
    user.email = email.strip().lower()
    changes = {**changes_of(user), **note} if note else None
    record(session, actor, "user.update", user, unit=user.unit, changes=changes)
    return user


def _not_self(actor: User | None, user: User) -> None:
    if actor is not None and actor.id == user.id:
        raise Forbidden(_("You cannot change your own access; ask another administrator."))


def _within_reach(actor: User | None, user: User) -> None:
    """An account holding a role beyond the administrator's units (a province administrator
    whose home unit is a school, say) is not theirs to reset, disable or edit: that would be a
    takeover of wider access."""
    if actor is not None and not all(
        covers(actor, "admin.users", g.unit) for g in user.active_grants
    ):
        raise Forbidden(_("You do not have permission to do this."))


def check_reach(actor: User | None, user: User) -> None:
    """An administrator acts on another account, one within their units."""
    _not_self(actor, user)
    _within_reach(actor, user)


def _oversight_kept(actor: User | None, grants: list[Grant]) -> None:
    """Removing an auditor (revoking the grant, disabling the account) is for an administrator
    who could have appointed them (strictly above the auditor's unit, or at the top unit): an
    administrator never takes their own auditor away."""
    for grant in grants:
        if (
            actor is not None
            and grant.role == "auditor"
            and not duties.may_appoint_auditor(actor, grant.unit)
        ):
            raise Forbidden(
                _(
                    "An auditor is removed only by an administrator of a unit above the "
                    "auditor's unit, so that nobody removes the person who audits them."
                )
            )


def set_active(session: Session, actor: User, user: User, active: bool, reason: str) -> User:
    _not_self(actor, user)
    _within_reach(actor, user)
    if not active:
        _oversight_kept(actor, user.active_grants)
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
    if actor is not None:
        notices.tell(session, user, "account.enabled" if active else "account.disabled")
    return user


def check_grant(session: Session, user: User, role: str, unit: Unit) -> None:
    """What must hold for ``user`` to receive ``role`` at ``unit``, whoever asks: a known role,
    an open unit, not held already, and separation of duties. Checked when a grant is asked for
    and again when it is approved. Locks the account's row: grants to one account are decided
    one at a time (two at once could each miss the other and join roles kept apart)."""
    if role not in ROLES:
        raise ValidationFailed(_("Unknown role."))
    # The unit's row first (closing a unit holds it too), then the account's.
    if unit.id is not None:
        session.execute(select(Unit.id).where(Unit.id == unit.id).with_for_update())
        session.refresh(unit, ["valid_to"])
    if not unit.is_open:
        raise ValidationFailed(_("A closed unit cannot receive new grants."))
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    session.refresh(user, ["grants"])
    if any(g.role == role and g.unit_id == unit.id for g in user.active_grants):
        raise Conflict(_("This account already holds that role at that unit."))
    problem = duties.separation_problem(user.roles(), role)
    if problem:
        raise ValidationFailed(problem)


def check_grant_request(actor: User | None, user: User, role: str, unit: Unit) -> None:
    """The asker's side of a grant: never to themself, within their units, and an auditor only
    from an administrator strictly above the auditor's unit (or at the top unit)."""
    _not_self(actor, user)
    if actor is None:
        return
    if not (covers(actor, "admin.users", unit) and covers(actor, "admin.users", user.unit)):
        raise NotFound()
    if role == "auditor" and not duties.may_appoint_auditor(actor, unit):
        raise Forbidden(
            _(
                "An auditor is appointed by an administrator of a unit above the auditor's "
                "unit, so that nobody appoints the person who audits them."
            )
        )


def grant_role(session: Session, actor: User | None, user: User, role: str, unit: Unit) -> Grant:
    """Give ``user`` ``role`` at ``unit`` at once: the system (command line, demo, tests) for
    any role; an administrator only for roles that need no second approval (``admin``). The
    others are asked for with services.accounts.approvals.request_grant."""
    if actor is not None and duties.needs_approval(role):
        raise Forbidden(_("This role takes effect only when a second person approves it."))
    check_grant_request(actor, user, role, unit)
    check_grant(session, user, role, unit)
    return apply_grant(session, actor, user, role, unit)


def apply_grant(
    session: Session,
    actor: User | None,
    user: User,
    role: str,
    unit: Unit,
    requested_by: User | None = None,
) -> Grant:
    """Write the grant (after check_grant): ``actor`` is who decided it (the approver of a
    request, whose ``requested_by`` the event names). The person and the officers above them
    are told; the account's sessions end."""
    grant = Grant(
        user=user, role=role, unit=unit, granted_by_id=actor.id if actor is not None else None
    )
    session.add(grant)
    changes = {"user": user.username, "role": role, "unit": unit.code}
    if requested_by is not None:
        changes["requested_by"] = requested_by.username
    # Grant(user=user) also appends to user.grants, which marks an existing user modified.
    record(
        session,
        actor,
        "user.grant",
        grant,
        unit=unit,
        object_ref=user.username,
        changes=changes,
        covers=(user,),
    )
    sessions.revoke_all(session, actor, user, "grants_changed")
    if actor is not None:
        notices.tell(session, user, "account.granted")
    return grant


def revoke_grant(session: Session, actor: User | None, grant: Grant, reason: str) -> Grant:
    """End ``grant``: by an administrator covering its unit, or by the system (actor None: the
    command line, a unit closed by a reform)."""
    user = grant.user
    _not_self(actor, user)
    if actor is not None and not covers(actor, "admin.users", grant.unit):
        raise NotFound()
    if grant.revoked_at is not None:
        raise Conflict(_("This grant was already revoked."))
    _oversight_kept(actor, [grant])
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
    if actor is not None:
        notices.tell(session, user, "account.revoked")
    return grant
