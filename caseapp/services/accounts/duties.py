"""Separation of duties: which roles one account never holds together, who may appoint an
auditor, and which changes need a second person's approval."""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext as _

from caseapp.models import Unit, User

# Roles that open case content or review administrators.
FOUR_EYES_ROLES = ("focal_point", "officer", "auditor")
# Granted only when a second person approves: those roles, and the administrative role too (an
# administrator who could make a second account of theirs an administrator at once would approve
# their own requests with it). The first administrators come from the command line.
APPROVED_ROLES = (*FOUR_EYES_ROLES, "head", "admin")

# An account holding `admin` never holds any of these too (and the other way round): an
# administrator who could also read cases could grant themself a way in; one who could also
# audit would review their own actions.
APART_FROM_ADMIN = frozenset({*FOUR_EYES_ROLES, "head"})


def needs_approval(role: str) -> bool:
    return role in APPROVED_ROLES


def separation_problem(held: Iterable[str], role: str) -> str | None:
    """Why ``role`` cannot join the roles ``held`` by one account, or None."""
    held = set(held)
    clash = (role == "admin" and held & APART_FROM_ADMIN) or (
        role in APART_FROM_ADMIN and "admin" in held
    )
    if not clash:
        return None
    if role == "auditor" or "auditor" in held:
        return _(
            "One account cannot both administer and audit: auditors review what "
            "administrators do. Use two accounts."
        )
    return _(
        "One account cannot both administer and work on cases: an administrator never "
        "opens case content. Use two accounts."
    )


def common_unit_path(*paths: str) -> str:
    """The path of the lowest unit covering every unit of ``paths`` (materialised paths
    "/1/4/17/"): their longest common prefix, cut at a whole unit ("/" when none)."""
    parts = [p.strip("/").split("/") for p in paths]
    common: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1 or not level[0]:
            break
        common.append(level[0])
    return "/" + "".join(f"{p}/" for p in common)


def strictly_above(outer: Unit, inner: Unit) -> bool:
    return inner.path.startswith(outer.path) and inner.path != outer.path


def may_appoint_auditor(person: User, unit: Unit) -> bool:
    """An auditor at ``unit`` is appointed only by an administrator of a unit strictly above
    it, or, at the top unit (which has none above it), by that unit's administrators as a
    pair (requester and approver both administrators there)."""
    for grant in person.active_grants:
        if grant.role != "admin":
            continue
        if strictly_above(grant.unit, unit):
            return True
        if unit.parent_id is None and grant.unit_id == unit.id:
            return True
    return False


def appoints_auditor_path(admin_path: str, unit: Unit) -> bool:
    """may_appoint_auditor() for one administrative grant given by its unit's path."""
    if unit.path.startswith(admin_path) and unit.path != admin_path:
        return True
    return unit.parent_id is None and admin_path == unit.path


__all__ = [
    "APART_FROM_ADMIN",
    "APPROVED_ROLES",
    "FOUR_EYES_ROLES",
    "appoints_auditor_path",
    "common_unit_path",
    "may_appoint_auditor",
    "needs_approval",
    "separation_problem",
    "strictly_above",
]
