"""What a unit's period report still lacks before it may be submitted, and the overview of a
unit's period report: its checklist, and for an office who below has submitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caseapp.models import Activity, ReportSnapshot, Unit
from caseapp.models.equality import GenderPlan, UnitStatistics
from caseapp.services.equality import compile as compiling
from caseapp.services.equality import narrative
from caseapp.services.equality.sections import SECTIONS, section_names

if TYPE_CHECKING:
    from caseapp.services.reports.periods import Period


def has_statistics(session: Session, unit: Unit, period: Period) -> bool:
    return (
        session.scalar(
            select(UnitStatistics.id).where(
                UnitStatistics.unit_id == unit.id, UnitStatistics.period_key == period.key
            )
        )
        is not None
    )


def missing_parts(session: Session, unit: Unit, period: Period) -> list[str]:
    """What the report lacks, one line each (empty: it may be submitted)."""
    draft = narrative.draft_of(session, unit, period)
    sections = narrative.sections_of(draft)
    names = section_names()
    missing = []
    empty = [names[key] for key in SECTIONS if not sections[key].strip()]
    if empty:
        missing.append(_("Sections not written: %(names)s.", names="; ".join(empty)))
    unedited = compiling.unedited(draft) if draft.id is not None else []
    if unedited:
        missing.append(
            _(
                "Sections still as compiled from the units below (edit them first): %(names)s.",
                names="; ".join(unedited),
            )
        )
    if not draft.signer_title.strip():
        missing.append(_("The signing title is empty."))
    if unit.kind == "school" and not has_statistics(session, unit, period):
        missing.append(_("The statistics by sex of the period are not entered."))
    return missing


@dataclass
class Checklist:
    plan_year: int
    plan_exists: bool
    plan_approved: bool
    statistics: bool
    activities: int
    written: int
    sections: int
    snapshot: ReportSnapshot | None
    missing: list[str]


def checklist(session: Session, unit: Unit, period: Period) -> Checklist:
    from caseapp.services.reports.periods import submitted_snapshot

    year = period.date_to.year
    plan = session.scalar(
        select(GenderPlan).where(GenderPlan.unit_id == unit.id, GenderPlan.year == year)
    )
    activities = session.scalar(
        select(func.count(Activity.id)).where(
            Activity.unit_id == unit.id,
            Activity.held_on >= period.date_from,
            Activity.held_on <= period.date_to,
        )
    )
    snapshot = submitted_snapshot(session, unit, period)
    return Checklist(
        plan_year=year,
        plan_exists=plan is not None,
        plan_approved=plan is not None and plan.status == "approved",
        statistics=has_statistics(session, unit, period),
        activities=activities or 0,
        written=narrative.written(narrative.draft_of(session, unit, period)),
        sections=len(SECTIONS),
        snapshot=snapshot,
        missing=[] if snapshot is not None else missing_parts(session, unit, period),
    )
