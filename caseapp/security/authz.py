"""Roles, permissions and unit scope: who may do what, and where."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, false, or_

if TYPE_CHECKING:
    from caseapp.models import User

# A permission every fully signed-in user holds (their own account pages, language, home).
SIGNED_IN = "signed_in"

# "approval.decide": look at and decide the requests a second person must approve (grants,
# sign-in resets, new accounts, exclusion lifts); services.accounts.approvals says which.
# "selfreport.handle": the new reports waiting at one's units (open, accept, merge, close,
# mark as spam, reply); "selfreport.poster": print a school's poster of its reporting page.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # "case.change": add to or move a case one may open (notes, files, steps, status, handler,
    # exclusions); the service then checks the case's unit (its school's focal points, the
    # officers above). The routes that change a case declare it, never "case.read".
    "focal_point": frozenset(
        {
            SIGNED_IN,
            "case.read",
            "case.write",
            "case.change",
            "referral.read",
            "report.read",
            "activity.write",
            "work.write",
            "request.manage",
            "selfreport.handle",
            "selfreport.poster",
        }
    ),
    "officer": frozenset(
        {
            SIGNED_IN,
            "case.read",
            "case.oversee",
            "case.change",
            "approval.decide",
            "referral.read",
            "referral.manage",
            "report.read",
            "activity.write",
            "work.write",
            "breach.manage",
            "privacy.read",
            "request.manage",
            "request.review",
            "selfreport.handle",
            "selfreport.poster",
        }
    ),
    # The head of a unit (principal, head of an office): approves its gender-equality plan and
    # reads its reports; opens no case.
    "head": frozenset({SIGNED_IN, "report.read", "plan.approve"}),
    "auditor": frozenset({SIGNED_IN, "audit.read", "breach.read", "privacy.read"}),
    "admin": frozenset(
        {
            SIGNED_IN,
            "admin.units",
            "admin.users",
            "approval.decide",
            "referral.read",
            "referral.manage",
            "breach.manage",
            "privacy.read",
            "privacy.settings",
            "selfreport.poster",
        }
    ),
}

ALL_PERMISSIONS = frozenset().union(*ROLE_PERMISSIONS.values())


def roles_with(permission: str) -> tuple[str, ...]:
    """The roles that carry ``permission``."""
    return tuple(role for role, held in ROLE_PERMISSIONS.items() if permission in held)


def permissions_for(roles: Iterable[str]) -> frozenset[str]:
    result: set[str] = set()
    for role in roles:
        result |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(result)


# Roles an administrative account never exercises (separation of duties). New grants are
# refused; an account that held both before the rule existed keeps only its administration
# until the other grant is revoked (the auditor's attention list shows it as high).
KEPT_APART_FROM_ADMIN = frozenset({"focal_point", "officer", "head", "auditor"})


def effective_grants(user: User) -> list:
    """The grants ``user`` may act on: the active ones, less any content or auditing grant
    held together with administration."""
    grants = user.active_grants
    if any(g.role == "admin" for g in grants):
        return [g for g in grants if g.role not in KEPT_APART_FROM_ADMIN]
    return grants


def scope_paths(user: User, permission: str) -> list[str]:
    """Materialised paths of the units where ``user`` holds ``permission``, outermost only."""
    paths = sorted(
        {
            g.unit.path
            for g in effective_grants(user)
            if permission in ROLE_PERMISSIONS.get(g.role, frozenset())
        },
        key=len,
    )
    outermost: list[str] = []
    for path in paths:
        if not any(path.startswith(p) for p in outermost):
            outermost.append(path)
    return outermost


def scope_filter(user: User, permission: str, path_column) -> ColumnElement[bool]:
    """The SQL condition "``path_column`` (a materialised unit path) lies at or below a unit where
    ``user`` holds ``permission``": the one subtree filter of every scoped listing. Without such
    a unit it is false (deny by default)."""
    paths = scope_paths(user, permission)
    if not paths:
        return false()
    return or_(*[path_column.startswith(p) for p in paths])


def has_permission(user: User, permission: str) -> bool:
    return permission in permissions_for(g.role for g in effective_grants(user))


def covers(user: User, permission: str, unit) -> bool:
    """True when ``user`` holds ``permission`` at ``unit`` or above it."""
    return within(unit.path, scope_paths(user, permission))


def within(path: str, paths: list[str]) -> bool:
    """True when the unit path ``path`` lies at or below one of ``paths`` (of scope_paths)."""
    return any(path.startswith(p) for p in paths)


def assignable_roles(user: User) -> tuple[str, ...]:
    return tuple(ROLE_PERMISSIONS) if has_permission(user, "admin.users") else ()
