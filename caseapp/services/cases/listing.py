"""The case list: filters, sort and the select() behind one page, within the user's scope."""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    case,
    exists,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

from caseapp.clock import local_today, zone
from caseapp.kept_statements import KEPT, KeptStatements, units_key, viewer_key
from caseapp.models import Case, CaseNameIndex, CasePerson, CaseStep, CaseViolenceType, Unit
from caseapp.models.cases import AtAGlance
from caseapp.prepared_statements import written_in
from caseapp.services.cases import tally
from caseapp.services.cases.access import scope_unit_ids, visible_cases, visible_steps
from caseapp.services.cases.deadlines import (
    first_follow_up_of_case,
    first_step_due_today,
    follow_up_due_soon,
    overdue_condition,
    steps_due_today,
)
from caseapp.services.cases.tally import Tally, capped_select, counted

if TYPE_CHECKING:
    from caseapp.models import User

# Open cases, and among them those in immediate danger or with a child at serious risk: the
# conditions of the partial indexes ix_cases_unit_open and ix_cases_unit_urgent, written with
# literals so that the planners match them to those (SQLite does so word for word).
OPEN = Case.status != literal_column("'closed'")
URGENT = or_(Case.risk_level == literal_column("'immediate'"), Case.serious_risk_to_child)
_RISK_RANK = case(
    {"immediate": 0, "high": 1, "medium": 2, "low": 3}, value=Case.risk_level, else_=4
)
# Each sort as its keys, (expression, descending): unique as a whole (the id breaks ties),
# so that a page can start right after a case (keyset pagination).
SORT_KEYS = {
    "received_desc": ((Case.received_on, True), (Case.id, True)),
    "received_asc": ((Case.received_on, False), (Case.id, False)),
    "reference": ((Case.reference, False),),
    "risk": ((_RISK_RANK, False), (Case.received_on, True), (Case.id, True)),
}
SORTS = {
    name: tuple(key.desc() if down else key.asc() for key, down in keys)
    for name, keys in SORT_KEYS.items()
}
# "Due today" by day received reads the day from the step it joins (step_copies keeps it equal
# to the case's, and case_id is the case's id): the same order, read from the index of the
# steps due today (ix_case_steps_due_open_received) instead of sorting every case due today.
STEP_SORT_KEYS = {
    "received_desc": ((CaseStep.received_on, True), (CaseStep.case_id, True)),
    "received_asc": ((CaseStep.received_on, False), (CaseStep.case_id, False)),
}


def _sort_name(flt: CaseFilter) -> str:
    return flt.sort if flt.sort in SORT_KEYS else "received_desc"


def sort_keys(flt: CaseFilter) -> tuple[tuple, tuple]:
    """The keys the list of ``flt`` is ordered and paged by (SORT_KEYS, or their copies on
    the joined step for "due today"), and the case's own keys of the same sort, which a
    cursor's values are read from (the copies are equal to them)."""
    name = _sort_name(flt)
    if flt.due == "today" and name in STEP_SORT_KEYS:
        return STEP_SORT_KEYS[name], SORT_KEYS[name]
    return SORT_KEYS[name], SORT_KEYS[name]


# A reference search: what a person typed, sent as parameters (never written into the SQL, so
# the statements are kept all the same): the prefix for LIKE, with "/", "%" and "_" escaped by
# "/" (a prefix, not a pattern: "%" and "_" typed in the box match themselves), and on SQLite,
# whose LIKE ignores case and so cannot read the index on references, the same prefix again as
# a range (prefix <= reference < prefix + U+10FFFF, the last character there is), so that the
# count of a reference search stops at the ceiling there too. Elsewhere PostgreSQL reads the
# index for the LIKE itself (and a range may not match a prefix under every collation).
_REFERENCE_LIKE = bindparam("reference_like", type_=String())
_REFERENCE_FROM = bindparam("reference_from", type_=String())
_REFERENCE_TO = bindparam("reference_to", type_=String())


def reference_values(reference: str) -> dict[str, str]:
    """The parameters of a search for the reference prefix ``reference`` as typed."""
    prefix = reference.strip().upper()
    escaped = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return {
        "reference_like": escaped,
        "reference_from": prefix,
        "reference_to": prefix + "\U0010ffff",
    }


# The "due" filter: the cases of "my work"'s lists "due today" and "follow-ups in the next two
# weeks" (its "see all" links), the same sets read from the steps by due day (a list may span
# a province: my work reads them school by school instead); by name, the statement of a page
# or of its count from the list's statement. "Due today" joins each case to one of its steps
# due today (page and count alike), whose copy of the day received orders the page
# (STEP_SORT_KEYS). A page of the many follow-ups of two weeks tests case after case in the list's
# order; its count walks the follow-ups by due day, each case once, and stops at the ceiling.
def _due_today(stmt: Select, for_count: bool, today: date | None) -> Select:
    return stmt.join(CaseStep, CaseStep.case_id == Case.id).where(
        *first_step_due_today(today=today)
    )


def _due_fortnight(stmt: Select, for_count: bool, today: date | None) -> Select:
    if for_count:
        return stmt.join(CaseStep, CaseStep.case_id == Case.id).where(
            OPEN, *first_follow_up_of_case(today=today)
        )
    return stmt.where(OPEN, follow_up_due_soon(today=today))


DUE = {"today": _due_today, "fortnight": _due_fortnight}


@dataclass
class CaseFilter:
    reference: str = ""
    status: str = ""
    unit_path: str = ""
    violence: str = ""
    risk: str = ""
    due: str = ""  # one of DUE: the lists of "my work" in full
    overdue: bool = False
    urgent: bool = False
    received_from: date | None = None
    received_to: date | None = None
    sort: str = "received_desc"
    # The other cases sharing a name (blind index digest) with this case, for one role.
    related_to: int | None = None
    related_role: str = ""
    # ... or with one person of that case (their uid): a repeat alert per person.
    related_person: str = ""


# The home page's counts, kept per scope (kept_statements.viewer_key) and units.
_attention: KeptStatements[Select] = KeptStatements(KEPT)


def attention_counts(session, user: User) -> dict[str, Tally]:
    """Open cases needing attention now, within the user's scope: each count stops at the
    ceiling (tally.py), read from a partial index (open, urgent, overdue cases by unit), the
    three in one statement, kept per scope (kept_statements.viewer_key) and units."""
    units = scope_unit_ids(session, user)

    def build() -> Select:
        mine = visible_cases(user).where(Case.unit_id.in_(units))
        return capped_select(
            {
                "open": mine.where(OPEN),
                "urgent": mine.where(OPEN, URGENT),
                "overdue": mine.where(overdue_condition()),
            },
            postgresql=postgresql,
        )

    postgresql = session.get_bind().dialect.name == "postgresql"
    key = (viewer_key(user), units_key(units), tally.CEILING, postgresql)
    return counted(session, _attention.get(key, build))


# What a row of the list shows (cases/list.html) and nothing else: never sealed content, and
# no column a row does not need.
LIST_COLUMNS = (
    Case.id,
    Case.public_id,
    Case.reference,
    Case.unit_id,
    Unit.name.label("unit_name"),
    Case.received_on,
    Case.risk_level,
    Case.serious_risk_to_child,
    Case.status,
    Case.verification_due_on,
)


@dataclass(frozen=True, slots=True)
class ListedCase(AtAGlance):
    """One row of the list, read as plain columns (no ORM object: building fifty cases and
    their units, and loading their kinds through the relationship, was a third of the
    page's Python), with the kinds of violence of the case in their order (the lists of
    my work show none); ``urgent`` and ``is_open`` as the case's own (AtAGlance)."""

    id: int
    public_id: str
    reference: str
    unit_id: int
    unit_name: str
    received_on: date
    risk_level: str
    serious_risk_to_child: bool
    status: str
    verification_due_on: date | None
    violence_types: tuple[str, ...] = ()


def case_list(
    user: User,
    flt: CaseFilter,
    for_count: bool = False,
    sqlite: bool = False,
    today: date | None = None,
):
    """The cases of the list for ``flt``, in its order; ``for_count``: the same cases as its
    count reads them best; ``sqlite``: for SQLite (a reference search is also a range there);
    ``today``: the day of "due today" and of the follow-ups' window (default: read now).
    Every column of the cases: a page reads its rows through ``page_rows``."""
    stmt = visible_cases(user)
    if flt.reference:
        # Its values: reference_values(flt.reference), at each run.
        stmt = stmt.where(Case.reference.startswith(_REFERENCE_LIKE, escape="/"))
        if sqlite:
            stmt = stmt.where(Case.reference >= _REFERENCE_FROM, Case.reference < _REFERENCE_TO)
    if flt.status:
        stmt = stmt.where(Case.status == flt.status)
    if flt.unit_path:
        stmt = stmt.where(Unit.path.startswith(flt.unit_path))
    if flt.violence:
        # OFFSET 0 keeps PostgreSQL from turning the EXISTS into a join: as a join it read
        # every case of that kind (a hash of the archive) to count a page's matches; as a
        # test per case (the key of case_violence_types) a count stops at the ceiling.
        stmt = stmt.where(
            exists(
                select(CaseViolenceType.case_id)
                .where(CaseViolenceType.case_id == Case.id, CaseViolenceType.type == flt.violence)
                .offset(0)
            )
        )
    if flt.risk:
        stmt = stmt.where(Case.risk_level == flt.risk)
    if flt.due in DUE:
        stmt = DUE[flt.due](stmt, for_count, today)
    if flt.overdue:
        stmt = stmt.where(overdue_condition())
    if flt.urgent:
        stmt = stmt.where(OPEN, URGENT)
    if flt.received_from:
        stmt = stmt.where(Case.received_on >= flt.received_from)
    if flt.received_to:
        stmt = stmt.where(Case.received_on <= flt.received_to)
    if flt.related_to is not None and (
        flt.related_role in ("harmed", "perpetrator") or flt.related_person
    ):
        stmt = stmt.where(Case.id != flt.related_to, _shares_a_name(flt))
    keys, _case_keys = sort_keys(flt)
    return stmt.order_by(*(key.desc() if down else key.asc() for key, down in keys))


def page_rows(user: User, flt: CaseFilter, sqlite: bool = False, today: date | None = None):
    """The statement of a page's rows: ``case_list`` reading only LIST_COLUMNS (what
    ListedCase holds; never a sealed column)."""
    return case_list(user, flt, sqlite=sqlite, today=today).with_only_columns(*LIST_COLUMNS)


@dataclass
class CasePage:
    """One page of the list: its cases, how many match (up to the ceiling), and the cases
    after which the next page starts and before which the previous one ends (None: there
    is none)."""

    rows: list[ListedCase]
    total: Tally
    previous: str | None
    next: str | None

    @property
    def first(self) -> bool:
        return self.previous is None


def case_page(
    session: Session,
    user: User,
    flt: CaseFilter,
    size: int,
    after: str | None = None,
    before: str | None = None,
) -> CasePage:
    """The page of ``case_list`` starting after the case ``after`` (or ending before
    ``before``), both public ids; the first page without them, or when that case is not one
    the user may see. The page reads ``size`` + 1 rows from where it starts, whatever its
    depth (keyset pagination), and the count stops at the ceiling."""
    # What a person typed (a reference) or a person's uid is never written into the SQL
    # (it would show in a log of a failed statement): those searches keep their parameters.
    written = not (flt.reference or flt.related_person)
    options = written_in if written else {}
    cursor = _boundary(session, user, flt, after or before)
    backward = cursor is not None and not after
    sqlite = session.get_bind().dialect.name == "sqlite"
    count, page = _list_statements(user, flt, size, cursor is not None, backward, sqlite)
    typed = reference_values(flt.reference) if flt.reference else {}
    total = counted(session, count, typed, written=written)["n"]
    values = {f"cursor_{i}": value for i, value in enumerate(cursor or ())}
    found = session.execute(page, values | typed, execution_options=options).all()
    more, rows = len(found) > size, _listed(session, found[:size])
    if backward and not more:
        # Back at the start (or cases came in meanwhile): the first page as it is now.
        return case_page(session, user, flt, size)
    if backward:
        rows.reverse()
        return CasePage(rows, total, rows[0].public_id, rows[-1].public_id)
    return CasePage(
        rows,
        total,
        rows[0].public_id if cursor is not None and rows else None,
        rows[-1].public_id if more else None,
    )


# The list's statements (its count, its page), kept per scope (kept_statements.viewer_key),
# filter, page size and kind of page: building them anew took about 1 ms of each page, and a
# reference search's 3 ms (it was not cacheable). The cases related to one (a person's uid, a
# case) are built each time.
_lists: KeptStatements[tuple[Select, Select]] = KeptStatements(KEPT)


def _list_statements(
    user: User, flt: CaseFilter, size: int, paged: bool, backward: bool, sqlite: bool = False
) -> tuple[Select, Select]:
    """The count (tally.capped_select, one column "n") and the page of ``flt``: ``size`` + 1
    rows, after (or, ``backward``, before) the case whose sort keys are the parameters
    ``cursor_0``, ``cursor_1``... when ``paged``; a reference search's parameters are
    reference_values'. ``sqlite``: for SQLite."""

    # The day, read once: for the key and for the statements built under it.
    today = local_today()

    def build() -> tuple[Select, Select]:
        keys, _case_keys = sort_keys(flt)
        page = page_rows(user, flt, sqlite, today)
        if paged:
            cursor = [bindparam(f"cursor_{i}", type_=key.type) for i, (key, _d) in enumerate(keys)]
            page = page.where(_beyond(keys, cursor, backward))
        if backward:
            page = page.order_by(None).order_by(
                *(key.asc() if down else key.desc() for key, down in keys)
            )
        count = capped_select({"n": _counted(user, flt, sqlite, today)}, postgresql=not sqlite)
        return count, page.limit(size + 1)

    if flt.related_person or flt.related_to is not None:
        return build()
    # What the statements read in Python: the person, the filter (of a reference search, only
    # that there is one: its text is a parameter), the size, the kind of page, the dialect, the
    # count's ceiling, and the day where the users are ("due today", the follow-ups' window).
    key = (
        viewer_key(user),
        astuple(replace(flt, reference="typed" if flt.reference else "")),
        size,
        paged,
        backward,
        sqlite,
        tally.CEILING,
        today,
        str(zone()),
    )
    return _lists.get(key, build)


def _counted(user: User, flt: CaseFilter, sqlite: bool, today: date) -> Select:
    """What the count of ``flt`` reads: "due today" alone (or within a unit: my work's "see
    all") from the steps' copies of their case's school, status and moment, each case once
    (DISTINCT case_id, read from ix_case_steps_due_open_case alone); any other filter from
    ``case_list``'s count form."""
    if flt.due == "today" and replace(flt, due="", unit_path="", sort="") == CaseFilter(sort=""):
        stmt = visible_steps(user).where(*steps_due_today(today=today))
        if flt.unit_path:
            stmt = stmt.where(Unit.path.startswith(flt.unit_path))
        return stmt.distinct().order_by(CaseStep.case_id)
    return case_list(user, flt, for_count=True, sqlite=sqlite, today=today)


# The kinds of violence of a page's cases, by their ids (a list sent as parameters).
_KINDS_OF = (
    select(CaseViolenceType.case_id, CaseViolenceType.type)
    .where(CaseViolenceType.case_id.in_(bindparam("case_ids", expanding=True)))
    .order_by(CaseViolenceType.case_id, CaseViolenceType.type)
)


def _listed(session: Session, found) -> list[ListedCase]:
    """The rows ``found`` with their kinds of violence, read in one statement."""
    kinds: dict[int, list[str]] = {row.id: [] for row in found}
    if kinds:
        for case_id, kind in session.execute(_KINDS_OF, {"case_ids": list(kinds)}):
            kinds[case_id].append(kind)
    return [ListedCase(**row._mapping, violence_types=tuple(kinds[row.id])) for row in found]


# The statements that read a cursor's sort keys, kept per scope (kept_statements.viewer_key)
# and sort.
_cursors: KeptStatements[Select] = KeptStatements(KEPT)


def _boundary(session: Session, user: User, flt: CaseFilter, public_id: str | None):
    """The sort keys (sort_keys' second) of the case ``public_id`` if the user may see it
    (else None: a cursor never reveals a case out of scope or excluded)."""
    if not isinstance(public_id, str) or len(public_id) != 36:
        return None
    _keys, case_keys = sort_keys(flt)

    def build() -> Select:
        return (
            visible_cases(user)
            .with_only_columns(*(key for key, _down in case_keys))
            .where(Case.public_id == bindparam("public_id"))
        )

    stmt = _cursors.get((viewer_key(user), _sort_name(flt)), build)
    return session.execute(stmt, {"public_id": public_id}).first()


def _beyond(keys, values, backward: bool):
    """The rows after ``values`` in the order of ``keys`` (before them when ``backward``): a
    row comparison when every key runs the same way (an index range), otherwise spelled out
    key by key."""
    downs = {down != backward for _key, down in keys}
    if len(downs) == 1:
        left, right = tuple_(*(k for k, _d in keys)), tuple_(*values)
        return left < right if downs.pop() else left > right
    terms: list = []
    equal: list = []
    for (key, down), value in zip(keys, values, strict=True):
        terms.append(and_(*equal, key < value if down != backward else key > value))
        equal.append(key == value)
    return or_(*terms)


def _shares_a_name(flt: CaseFilter):
    """The case has a name digest, in the same role, of the related case (of its person)."""
    mine = aliased(CaseNameIndex)
    conditions = [mine.case_id == flt.related_to]
    if flt.related_role in ("harmed", "perpetrator"):
        conditions.append(mine.role == flt.related_role)
    if flt.related_person:
        person = select(CasePerson.id).where(
            CasePerson.case_id == flt.related_to, CasePerson.uid == flt.related_person
        )
        conditions.append(mine.person_id == person.scalar_subquery())
    return exists(
        select(CaseNameIndex.id)
        .join(mine, (mine.role == CaseNameIndex.role) & (mine.digest == CaseNameIndex.digest))
        .where(CaseNameIndex.case_id == Case.id, *conditions)
    )
