"""Units of the organisation tree: create, rename, close, move; always within the actor's scope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from caseapp.clock import check_within_bounds, local_today
from caseapp.errors import Conflict, Forbidden, NotFound, ValidationFailed
from caseapp.models import Grant, Unit, UnitParentHistory, User
from caseapp.models.units import (
    LEGACY_KINDS,
    LEVEL_PARENTS,
    LOCAL_TYPES,
    OWNERSHIPS,
    PARENT_KINDS,
    SCHOOL_LEVELS,
    UNIT_CODE_PATTERN,
    UNIT_NAME_MAX,
)
from caseapp.runtime import settings
from caseapp.security.authz import covers, scope_filter
from caseapp.security.text import refused_characters
from caseapp.services.accounts import users as user_service
from caseapp.services.audit.trail import record
from caseapp.services.org.levels import guess_level, guess_local_type, guess_ownership


def visible_units(user: User, permission: str = "admin.units"):
    """A select() of the units ``user`` holds ``permission`` over, ordered by path."""
    return select(Unit).where(scope_filter(user, permission, Unit.path)).order_by(Unit.path)


def open_units(
    session: Session, user: User, permission: str, limit: int = 2000, closed_too: bool = False
) -> list[Unit]:
    """The open units ``user`` holds ``permission`` over, for a unit-code suggestion list
    (``closed_too``: reports still roll up through units closed since, such as old districts)."""
    stmt = visible_units(user, permission)
    if not closed_too:
        stmt = stmt.where(Unit.valid_to.is_(None))
    return list(session.scalars(stmt.limit(limit)))


def get_unit_in_scope(session: Session, user: User, unit_id: int, permission: str = "admin.units"):
    unit = session.get(Unit, unit_id)
    if unit is None or not covers(user, permission, unit):
        raise NotFound()
    return unit


def lock_unit(session: Session, unit: Unit) -> None:
    """Hold ``unit``'s row until the end of the transaction and read it afresh: closing a unit,
    moving a unit under it and granting a role at it are decided one at a time (PostgreSQL;
    SQLite writes one transaction at a time anyway)."""
    if unit.id is not None:
        session.refresh(unit, with_for_update=True)


def unit_by_code(session: Session, code: str) -> Unit | None:
    code = code.strip().upper()
    if not re.match(UNIT_CODE_PATTERN, code):
        return None  # no such unit; and PostgreSQL refuses a NUL in a query parameter (500)
    return session.scalar(select(Unit).where(Unit.code == code))


def unit_in_scope(session: Session, user: User, code: str | None, permission: str) -> Unit:
    """The unit named by ``code`` where ``user`` holds ``permission`` (at it or above it).
    Otherwise one form error, whether the code is unknown or lies outside their units."""
    unit = unit_by_code(session, code or "")
    if unit is None or not covers(user, permission, unit):
        raise ValidationFailed(
            _(
                "No unit with the code %(code)s within your units.",
                code=(code or "").strip().upper()[:20],
            )
        )
    return unit


@dataclass
class UnitSurroundings:
    """What the page of one unit shows around it: the units below it, where it sat before, and
    (a closed unit) the accounts whose home it still is: they keep their account and history,
    but no role (their grants ended with the unit)."""

    children: list[Unit]
    history: list[UnitParentHistory]
    parents: dict[int, Unit]
    based_here: list[User]


def surroundings(session: Session, unit: Unit) -> UnitSurroundings:
    children = list(
        session.scalars(select(Unit).where(Unit.parent_id == unit.id).order_by(Unit.code))
    )
    history = list(
        session.scalars(
            select(UnitParentHistory)
            .where(UnitParentHistory.unit_id == unit.id)
            .order_by(UnitParentHistory.valid_from)
        )
    )
    parent_ids = {h.parent_id for h in history if h.parent_id}
    parents = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(parent_ids)))}
    based_here = (
        []
        if unit.is_open
        else list(
            session.scalars(select(User).where(User.unit_id == unit.id).order_by(User.username))
        )
    )
    return UnitSurroundings(children, history, parents, based_here)


def _check_fields(code: str, name: str, kind: str) -> None:
    if not re.match(UNIT_CODE_PATTERN, code):
        raise ValidationFailed(_("A unit code has 2 to 20 capital letters, digits, - or _."))
    if not name.strip() or len(name) > UNIT_NAME_MAX:
        raise ValidationFailed(
            _("A unit name is required (at most %(n)d characters).", n=UNIT_NAME_MAX)
        )
    # A unit name reaches every report and export; XLSX and DOCX (XML) refuse these outright.
    if refused_characters(name) or any(ch in "\t\r\n" for ch in name):
        raise ValidationFailed(_("This field holds characters that are not allowed."))
    if kind not in settings().unit_kinds or kind not in PARENT_KINDS:
        raise ValidationFailed(_("Unknown kind of unit."))


def _kind_name(kind: str) -> str:
    from caseapp.labels import unit_kind_names

    return unit_kind_names().get(kind, kind)


def _level_name(level: str) -> str:
    from caseapp.labels import school_level_names

    return school_level_names().get(level, level)


def check_place(
    kind: str, parent: Unit | None, *, level: str | None = None, on: date | None = None
) -> None:
    """A unit of ``kind`` (a school: of ``level``) may sit under ``parent`` (None: at the top of
    the tree) from the day ``on`` (default today). A legacy kind (the district education offices
    of before the two-tier organisation) neither receives nor is created from the day of the
    reform; before it, history can still be recorded."""
    if (parent.kind if parent is not None else None) not in PARENT_KINDS.get(kind, ()):
        if parent is None:
            raise ValidationFailed(
                _(
                    "A unit of the kind “%(kind)s” cannot be at the top of the tree.",
                    kind=_kind_name(kind),
                )
            )
        raise ValidationFailed(
            _(
                "A unit of the kind “%(kind)s” cannot sit under one of the kind “%(parent)s”.",
                kind=_kind_name(kind),
                parent=_kind_name(parent.kind),
            )
        )
    if (
        kind == "school"
        and parent is not None
        and level is not None
        and parent.kind not in LEVEL_PARENTS.get(level, ())
    ):
        raise ValidationFailed(
            _(
                "A school of the level “%(level)s” cannot sit under one of the kind “%(parent)s”.",
                level=_level_name(level),
                parent=_kind_name(parent.kind),
            )
        )
    legacy = kind in LEGACY_KINDS or (parent is not None and parent.kind in LEGACY_KINDS)
    if legacy and (on or local_today()) >= settings().two_tier_from:
        raise ValidationFailed(
            _(
                "District offices were dissolved on %(day)s: nothing new may be placed in or "
                "under one from that day. Choose a commune, a ward or the province.",
                day=settings().two_tier_from.strftime("%d/%m/%Y"),
            )
        )


@dataclass(frozen=True)
class UnitTraits:
    """What a unit's kind adds to it: a school's level and ownership, a commune's local type."""

    level: str | None = None
    ownership: str | None = None
    local_type: str | None = None


def _traits(kind: str, name: str, traits: UnitTraits, current: Unit | None = None) -> UnitTraits:
    """``traits`` completed (a value left out: the unit's current one, else guessed from the
    name) and checked; the traits of another kind are dropped."""
    if kind == "school":
        level = traits.level or (current.level if current else None) or guess_level(name)
        ownership = (
            traits.ownership or (current.ownership if current else None) or guess_ownership(name)
        )
        if level not in SCHOOL_LEVELS:
            raise ValidationFailed(_("Unknown school level."))
        if ownership not in OWNERSHIPS:
            raise ValidationFailed(_("Unknown kind of ownership."))
        return UnitTraits(level=level, ownership=ownership)
    if kind == "commune":
        local_type = (
            traits.local_type or (current.local_type if current else None) or guess_local_type(name)
        )
        if local_type not in LOCAL_TYPES:
            raise ValidationFailed(_("Unknown kind of commune."))
        return UnitTraits(local_type=local_type)
    return UnitTraits()


def create_unit(
    session: Session,
    actor: User | None,
    parent: Unit | None,
    code: str,
    name: str,
    kind: str,
    valid_from: date | None = None,
    traits: UnitTraits = UnitTraits(),
) -> Unit:
    """A new unit below ``parent``; only the system (actor None) may create a root. A school
    without a level or ownership, a commune without a local type get them from their name."""
    code = code.strip().upper()
    name = name.strip()
    _check_fields(code, name, kind)
    traits = _traits(kind, name, traits)
    if parent is None and actor is not None:
        raise NotFound()
    if parent is not None:
        if actor is not None and not covers(actor, "admin.units", parent):
            raise NotFound()
        if not parent.is_open:
            raise ValidationFailed(_("A closed unit cannot receive new units."))
    start = valid_from or local_today()
    check_within_bounds(start)
    check_place(kind, parent, level=traits.level, on=start)
    if unit_by_code(session, code) is not None:
        raise Conflict(_("The unit code %(code)s is already used.", code=code))
    unit = Unit(
        code=code,
        name=name,
        kind=kind,
        level=traits.level,
        ownership=traits.ownership,
        local_type=traits.local_type,
        parent=parent,
        path="/",
        valid_from=start,
    )
    session.add(unit)
    history = UnitParentHistory(
        parent_id=parent.id if parent else None, path="/", valid_from=start, opened=True
    )
    record(
        session,
        actor,
        "unit.create",
        unit,
        unit=parent or unit,
        covers=(history,),
        changes={
            "code": [None, code],
            "name": [None, name],
            "kind": [None, kind],
            "parent": [None, parent.code if parent else None],
            **{
                field: [None, value]
                for field, value in (
                    ("level", traits.level),
                    ("ownership", traits.ownership),
                    ("local_type", traits.local_type),
                )
                if value is not None
            },
        },
    )
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    history.unit_id = unit.id
    history.path = unit.path
    session.add(history)
    return unit


def update_unit(
    session: Session,
    actor: User,
    unit: Unit,
    name: str,
    kind: str,
    version: int,
    traits: UnitTraits = UnitTraits(),
) -> Unit:
    """Rename, re-kind or re-level ``unit``; a trait left out keeps its current value."""
    if unit.version != version:
        raise Conflict(_("This unit was changed by someone else. Reload it and try again."))
    _check_fields(unit.code, name.strip(), kind)
    traits = _traits(kind, name.strip(), traits, current=unit if kind == unit.kind else None)
    if kind != unit.kind or traits.level != unit.level:
        check_place(kind, unit.parent, level=traits.level)
    if kind != unit.kind:
        below = set(session.scalars(select(Unit.kind).where(Unit.parent_id == unit.id)))
        if any(kind not in PARENT_KINDS.get(child, ()) for child in below):
            raise ValidationFailed(
                _(
                    "The units below this one cannot sit under a unit of the kind “%(kind)s”.",
                    kind=_kind_name(kind),
                )
            )
    unit.name = name.strip()
    unit.kind = kind
    unit.level, unit.ownership, unit.local_type = traits.level, traits.ownership, traits.local_type
    record(session, actor, "unit.update", unit, unit=unit)
    return unit


def _active_grants(session: Session, unit: Unit) -> list[Grant]:
    return list(
        session.scalars(
            select(Grant)
            .where(Grant.unit_id == unit.id, Grant.revoked_at.is_(None))
            .order_by(Grant.id)
        )
    )


def close_unit(session: Session, actor: User | None, unit: Unit, on: date, version: int) -> Unit:
    """Close ``unit`` from ``on``: it keeps its cases and history but receives nothing new,
    and every role held at it ends with it (each grant revoked and audited, the holders'
    sessions ended). A unit holding roles is closed only by an administrator of a unit above
    it: an office's own administrator does not remove the people who oversee it."""
    lock_unit(session, unit)
    if unit.version != version:
        raise Conflict(_("This unit was changed by someone else. Reload it and try again."))
    if not unit.is_open:
        raise ValidationFailed(_("This unit is already closed."))
    check_within_bounds(on)
    open_children = session.scalar(
        select(func.count())
        .select_from(Unit)
        .where(Unit.parent_id == unit.id, Unit.valid_to.is_(None))
    )
    if open_children:
        raise ValidationFailed(_("Close or move the units below this one first."))
    if on < unit.valid_from:
        raise ValidationFailed(_("A unit cannot close before it opened."))
    grants = _active_grants(session, unit)
    if (
        grants
        and actor is not None
        and (unit.parent is None or not covers(actor, "admin.units", unit.parent))
    ):
        raise Forbidden(
            _(
                "People hold roles at this unit, and their roles end when it closes: only an "
                "administrator of a unit above it may close it."
            )
        )
    unit.valid_to = on
    record(session, actor, "unit.close", unit, unit=unit)
    for grant in grants:
        user_service.revoke_grant(session, actor, grant, _("The unit was closed."))
    return unit


@dataclass
class _DescendantHistory:
    count: int
    rows: tuple[UnitParentHistory, ...]


def _descendant_history(
    session: Session, unit: Unit, old_path: str, new_path: str, on: date
) -> _DescendantHistory:
    """The units below a moving ``unit`` keep their parent but not their path: each one's
    current history row ends on ``on`` and a row with the new path begins (a row that began
    on or after ``on`` takes the new path itself: the unit never sat under the old one then).
    Returns every row written, for the move's audit event to cover."""
    descendants = list(
        session.scalars(select(Unit).where(Unit.path.startswith(old_path), Unit.id != unit.id))
    )
    paths = {d.id: new_path + d.path[len(old_path) :] for d in descendants}
    rows: list[UnitParentHistory] = []
    if not descendants:
        return _DescendantHistory(0, ())
    for row in session.scalars(
        select(UnitParentHistory).where(
            UnitParentHistory.unit_id.in_(paths), UnitParentHistory.valid_to.is_(None)
        )
    ):
        if row.valid_from >= on:
            row.path = paths[row.unit_id]
            rows.append(row)
            continue
        row.valid_to = on
        fresh = UnitParentHistory(
            unit_id=row.unit_id, parent_id=row.parent_id, path=paths[row.unit_id], valid_from=on
        )
        session.add(fresh)
        rows += [row, fresh]
    return _DescendantHistory(len(descendants), tuple(rows))


def move_unit(
    session: Session, actor: User, unit: Unit, new_parent: Unit, on: date, version: int
) -> Unit:
    """Re-parent ``unit`` and its subtree; the old parent stays in the history."""
    lock_unit(session, new_parent)
    if unit.version != version:
        raise Conflict(_("This unit was changed by someone else. Reload it and try again."))
    if actor is not None and not covers(actor, "admin.units", new_parent):
        raise NotFound()
    if new_parent.path.startswith(unit.path):
        raise ValidationFailed(_("A unit cannot be moved below itself."))
    if not new_parent.is_open:
        raise ValidationFailed(_("A closed unit cannot receive new units."))
    if unit.parent_id is None:
        raise ValidationFailed(_("The top unit cannot be moved."))
    check_within_bounds(on)
    check_place(unit.kind, new_parent, level=unit.level, on=on)
    old_parent = unit.parent
    old_path = unit.path
    new_path = f"{new_parent.path}{unit.id}/"
    current = session.scalar(
        select(UnitParentHistory).where(
            UnitParentHistory.unit_id == unit.id, UnitParentHistory.valid_to.is_(None)
        )
    )
    # A move is dated after the unit came under its present parent: an earlier date would
    # leave a row ending before it began and count old cases under two offices. Only a unit's
    # first row (a unit recorded later than it existed) may be re-dated into its past.
    if current is not None and not current.opened and on <= current.valid_from:
        raise ValidationFailed(
            _(
                "This unit sits under its present parent since %(day)s: the move must be "
                "dated after that day.",
                day=current.valid_from.strftime("%d/%m/%Y"),
            )
        )
    history = UnitParentHistory(
        unit_id=unit.id, parent_id=new_parent.id, path=new_path, valid_from=on
    )
    session.add(history)
    unit.parent = new_parent
    covered = (history,) if current is None else (history, current)
    if current is not None:
        current.valid_to = on
    below = _descendant_history(session, unit, old_path, new_path, on)
    record(
        session,
        actor,
        "unit.move",
        unit,
        unit=new_parent,
        covers=covered + below.rows,
        changes={
            "parent": [old_parent.code if old_parent else None, new_parent.code],
            "descendants_moved": below.count,
        },
    )
    unit.path = new_path
    session.flush()
    session.execute(
        update(Unit)
        .where(Unit.path.startswith(old_path), Unit.id != unit.id)
        .values(path=func.replace(Unit.path, old_path, new_path))
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return unit
