"""The cases a report shown to a person leaves out: those the person is excluded from, by both
sources at once, so that neither a lag nor a moment's difference lets one in.

- As the database the figures are read from holds them (the person's exclusions by their id,
  in the same snapshot as the figures): an exclusion committed after the request began
  counts.
- As the primary holds them (services/cases/access.primary_exclusions: the sign-in session's
  list, or the primary's read now past its limit): on the read replica, an exclusion the
  replica has not replayed yet counts too.

Reports are not the daily screens: their statements are built at each visit and not shared
between people, so nothing is lost by asking both."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from caseapp.models import Case, CaseExclusion, Unit, User
from caseapp.services.cases.access import primary_exclusions
from caseapp.services.org.history import ever_below


@dataclass(frozen=True)
class ShownTo:
    """The person a report is shown to, as far as its figures are concerned: their id, and the
    cases the primary says they are excluded from when the figures come from the replica."""

    user_id: int
    primary_ids: tuple[int, ...] = ()

    def excluded(self, case_id) -> ColumnElement[bool]:
        """The person is excluded from the case ``case_id`` (a column holding its id, never
        NULL: a nullable one needs its own ``IS NULL`` beside the NOT of this)."""
        by_id = exists(
            select(CaseExclusion.id).where(
                CaseExclusion.case_id == case_id, CaseExclusion.user_id == self.user_id
            )
        )
        return or_(case_id.in_(self.primary_ids), by_id) if self.primary_ids else by_id


def shown_to(session: Session, viewer: User | None) -> ShownTo | None:
    """``viewer`` for a report read in ``session``; None for the official figures."""
    if viewer is None:
        return None
    return ShownTo(viewer.id, primary_exclusions(session, viewer))


def excluded_below(session: Session, viewer: User, unit: Unit) -> bool:
    """Whether ``viewer`` is excluded from any case of a school that sat below ``unit`` at any
    time (its history: old periods roll up through it). Snapshots keep their figures while
    cases change (a corrected date can move a case out of the period), so the question is
    asked of the unit, not of the period's cases as they read today."""
    ids = primary_exclusions(session, viewer)
    if ids and session.scalar(select(Case.id).where(Case.id.in_(ids), ever_below(unit)).limit(1)):
        return True
    return (
        session.scalar(
            select(CaseExclusion.id)
            .join(Case, Case.id == CaseExclusion.case_id)
            .where(CaseExclusion.user_id == viewer.id, ever_below(unit))
            .limit(1)
        )
        is not None
    )
