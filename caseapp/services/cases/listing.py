"""The case list: filters, sort and the select() behind one page, within the user's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import case, exists, or_, select
from sqlalchemy.orm import aliased, contains_eager, defer, selectinload

from caseapp.models import Case, CaseNameIndex, CasePerson, CaseViolenceType, Unit
from caseapp.models.cases import CONFIDENTIAL_FIELDS
from caseapp.services.cases.access import visible_cases
from caseapp.services.cases.deadlines import overdue_condition

if TYPE_CHECKING:
    from caseapp.models import User

_RISK_RANK = case(
    {"immediate": 0, "high": 1, "medium": 2, "low": 3}, value=Case.risk_level, else_=4
)
SORTS = {
    "received_desc": (Case.received_on.desc(), Case.id.desc()),
    "received_asc": (Case.received_on.asc(), Case.id.asc()),
    "reference": (Case.reference.asc(),),
    "risk": (_RISK_RANK, Case.received_on.desc(), Case.id.desc()),
}


@dataclass
class CaseFilter:
    reference: str = ""
    status: str = ""
    unit_path: str = ""
    violence: str = ""
    risk: str = ""
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


def attention_counts(session, user: User) -> dict[str, int]:
    """Open cases needing attention now, within the user's scope (one aggregate query)."""
    from sqlalchemy import func

    scope = (
        visible_cases(user)
        .where(Case.status != "closed")
        .with_only_columns(
            func.count(Case.id).label("open"),
            func.count(
                case((or_(Case.risk_level == "immediate", Case.serious_risk_to_child), 1))
            ).label("urgent"),
            func.count(case((overdue_condition(), 1))).label("overdue"),
        )
    )
    row = session.execute(scope).one()
    return {"open": row.open, "urgent": row.urgent, "overdue": row.overdue}


def case_list(user: User, flt: CaseFilter):
    # The list never shows sealed content: leave those columns (and the data key) unloaded.
    sealed = [getattr(Case, name) for name in (*CONFIDENTIAL_FIELDS, "wrapped_key")]
    stmt = visible_cases(user).options(
        contains_eager(Case.unit),
        selectinload(Case.violence),
        *[defer(column) for column in sealed],
    )
    if flt.reference:
        # A prefix, not a pattern: "%" and "_" typed in the box match themselves.
        stmt = stmt.where(Case.reference.startswith(flt.reference.strip().upper(), autoescape=True))
    if flt.status:
        stmt = stmt.where(Case.status == flt.status)
    if flt.unit_path:
        stmt = stmt.where(Unit.path.startswith(flt.unit_path))
    if flt.violence:
        stmt = stmt.where(
            exists(
                select(CaseViolenceType.case_id).where(
                    CaseViolenceType.case_id == Case.id, CaseViolenceType.type == flt.violence
                )
            )
        )
    if flt.risk:
        stmt = stmt.where(Case.risk_level == flt.risk)
    if flt.overdue:
        stmt = stmt.where(overdue_condition())
    if flt.urgent:
        stmt = stmt.where(
            Case.status != "closed", or_(Case.risk_level == "immediate", Case.serious_risk_to_child)
        )
    if flt.received_from:
        stmt = stmt.where(Case.received_on >= flt.received_from)
    if flt.received_to:
        stmt = stmt.where(Case.received_on <= flt.received_to)
    if flt.related_to is not None and (
        flt.related_role in ("harmed", "perpetrator") or flt.related_person
    ):
        stmt = stmt.where(Case.id != flt.related_to, _shares_a_name(flt))
    return stmt.order_by(*SORTS.get(flt.sort, SORTS["received_desc"]))


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
