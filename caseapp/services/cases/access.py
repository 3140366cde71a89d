"""Who may see which case: one scoped query for everything, exclusions beat every grant."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, exists, false, or_, select
from sqlalchemy.orm import Session

from caseapp.db import get_session, reads_replica
from caseapp.errors import NotFound
from caseapp.kept_statements import KEPT, KeptStatements, viewer_key
from caseapp.models import Case, CaseExclusion, CaseStep, Grant, Unit, User
from caseapp.prepared_statements import written_in
from caseapp.security.authz import covers, effective_grants, scope_filter, scope_paths


def visible_cases(user: User, permission: str = "case.read") -> Select:
    """A select() of the cases ``user`` may see: below a unit where they hold ``permission``,
    and not naming them as excluded. Auditors and administrators hold no case permission."""
    return (
        select(Case)
        .join(Case.unit)
        .where(scope_filter(user, permission, Unit.path), ~excluded_from(user, Case.id))
    )


def visible_case(user: User, case_id, permission: str = "case.read") -> ColumnElement[bool]:
    """The case ``case_id`` (a column of the rows being read) is one ``user`` may see: one
    index lookup per row read. Written as a subquery that stops at its first row, so that the
    planner cannot turn it into a hash of every case the person may see, built before the
    first row is read (PostgreSQL did so for the unread notices counted on every page: the
    hash of 100,000 cases, 32 ms, to count a hundred notices, 0.9 ms this way)."""
    return (
        visible_cases(user, permission)
        .with_only_columns(Case.id)
        .where(Case.id == case_id)
        .limit(1)
        .scalar_subquery()
        .is_not(None)
    )


def visible_steps(user: User, permission: str = "case.read") -> Select:
    """A select() of the case ids of the steps ``user`` may see the case of, read from the
    steps alone: the scope from their copy of the case's school (step_copies keeps it in the
    transaction that moves the case), the exclusions by case id, as visible_cases."""
    return (
        select(CaseStep.case_id)
        .join(Unit, Unit.id == CaseStep.unit_id)
        .where(scope_filter(user, permission, Unit.path), ~excluded_from(user, CaseStep.case_id))
    )


def excluded_from(user: User, case_id) -> ColumnElement[bool]:
    """``user`` is named as excluded from the case ``case_id`` (a column holding its id; for a
    nullable one, ``or_(column.is_(None), ~excluded_from(...))``: under NOT the two forms
    below differ on NULL).

    For the person signed in, the cases their sign-in session's statement read at the start
    of the request (``User.excluded_case_ids``: in the same transaction, a few milliseconds
    before), written into the SQL as a list of ids, or nothing for the many excluded from
    none: the statement then holds no person's id, and people of the same scope share it and
    its plan (kept_statements.viewer_key). For a person read otherwise (a command, a job, a
    person other than the one signed in), asked of the database by their id. Read from the
    primary, the ids hold on the read replica too (reports, monitoring): an exclusion the
    replica has not received yet holds at once."""
    known = user.excluded_case_ids
    if known is None:
        return exists(
            select(CaseExclusion.id).where(
                CaseExclusion.case_id == case_id, CaseExclusion.user_id == user.id
            )
        )
    return case_id.in_(known) if known else false()


def primary_exclusions(session: Session, user: User) -> tuple[int, ...]:
    """The cases ``user`` is excluded from as the primary holds them, for a page reading
    ``session``: on the read replica, the sign-in session's list, or, when it gives none (a
    person excluded from more than its limit), read from the primary now, so that no case
    comes in through the replica's lag; () on the primary, whose own rows the statements
    read by the person's id."""
    if not reads_replica(session):
        return ()
    known = user.excluded_case_ids
    if known is not None:
        return known
    return tuple(
        sorted(
            get_session().scalars(
                select(CaseExclusion.case_id).where(CaseExclusion.user_id == user.id)
            )
        )
    )


# Up to this many units the scope goes to the database as a list of ids (a planner sees one
# school as one value); a wider scope goes as the subquery that lists them.
UNIT_LIST_MAX = 1000
# The select() of the units of a person's scope, kept per scope and permission
# (kept_statements.viewer_key).
_units: KeptStatements[tuple[Select, Select]] = KeptStatements(KEPT)


def scope_unit_ids(session: Session, user: User, permission: str = "case.read"):
    """The ids of the units where ``user`` holds ``permission``: a list (read now) up to
    UNIT_LIST_MAX, else the select() itself. Added to visible_cases() (which it repeats, so it
    changes no answer) as "the case's unit is one of these", it lets the planners read an index
    on cases by unit, in the index's order, instead of reading the whole index and testing
    each case's unit path; read once for a screen that holds several columns to the same
    units."""

    def build() -> tuple[Select, Select]:
        units = select(Unit.id).where(scope_filter(user, permission, Unit.path))
        # In order: the same units make the same key of the statements they are written into.
        return units, units.order_by(Unit.id).limit(UNIT_LIST_MAX + 1)

    units, first = _units.get((viewer_key(user), permission), build)
    # Its values (the scope's paths, the limit) written in: planned once per connection.
    ids = list(session.scalars(first, execution_options=written_in))
    return ids if len(ids) <= UNIT_LIST_MAX else units


def people_covering(case: Case, roles: tuple[str, ...]):
    """A select() of the active users holding one of ``roles`` at the case's unit or above it,
    not excluded from the case."""
    ancestors = [int(p) for p in case.unit.path.strip("/").split("/")]
    excluded = select(CaseExclusion.user_id).where(CaseExclusion.case_id == case.id)
    held = select(Grant.user_id).where(
        Grant.role.in_(roles), Grant.revoked_at.is_(None), Grant.unit_id.in_(ancestors)
    )
    return select(User).where(
        User.id.in_(held),
        User.active.is_(True),
        User.id.not_in(excluded),
        User.id.not_in(administrators()),
    )


def administrators():
    """A select() of the ids of accounts holding an active administrative grant: they never
    exercise a content role, even one granted before separation of duties (authz)."""
    return select(Grant.user_id).where(Grant.role == "admin", Grant.revoked_at.is_(None))


def people_linked(case: Case):
    """A select() of every account attached to the case's school or a unit above it: its home
    unit is there, or it holds or once held a grant there (active or not)."""
    ancestors = [int(p) for p in case.unit.path.strip("/").split("/")]
    granted = select(Grant.user_id).where(Grant.unit_id.in_(ancestors))
    return select(User).where(or_(User.unit_id.in_(ancestors), User.id.in_(granted)))


def get_case(session: Session, user: User, public_id: str) -> Case:
    """The case, if ``user`` may see it; otherwise 404 (existence does not leak)."""
    if not isinstance(public_id, str) or len(public_id) != 36:
        raise NotFound()
    case = session.scalar(visible_cases(user).where(Case.public_id == public_id))
    if case is None:
        raise NotFound()
    return case


def can_handle(user: User, case: Case) -> bool:
    """A focal point of the case's school handles it: content opens without a stated reason."""
    return can_handle_at(user, case.unit)


def can_handle_at(user: User, unit: Unit) -> bool:
    """can_handle() for a case of ``unit`` that does not exist yet."""
    return covers(user, "case.write", unit)


def can_oversee(user: User, case: Case) -> bool:
    return covers(user, "case.oversee", case.unit)


def can_read_content(user: User, case: Case) -> bool:
    return can_handle(user, case) or can_oversee(user, case)


def intake_units(session: Session, user: User) -> list[Unit]:
    """Open schools where ``user`` may record cases."""
    paths = scope_paths(user, "case.write")
    if not paths:
        # Nowhere to record (an officer, an auditor): the query would be "WHERE false", a
        # round trip on every case list they open for an empty answer.
        return []
    if len(paths) == 1:
        held = next((g.unit for g in effective_grants(user) if g.unit.path == paths[0]), None)
        if held is not None and held.kind == "school":
            # A focal point of one school (most who record cases): nothing sits below a
            # school (PARENT_KINDS), so the answer is that school if open, and the grant has
            # loaded it already (with the sign-in session): no query.
            return [held] if held.valid_to is None else []
    return list(
        session.scalars(
            select(Unit)
            .where(
                scope_filter(user, "case.write", Unit.path),
                Unit.kind == "school",
                Unit.valid_to.is_(None),
            )
            .order_by(Unit.name)
        )
    )
