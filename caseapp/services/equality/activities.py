"""The activities of a unit's period report: its own and those of the units that rolled up to
it during the period, with their action month, results, materials and targets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from caseapp.models import Activity
from caseapp.services.equality.campaigns import by_key
from caseapp.services.org.history import paths_during

if TYPE_CHECKING:
    from caseapp.models import Unit
    from caseapp.services.equality.work import WorkReport
    from caseapp.services.reports.periods import Period


def period_activities(session: Session, unit: Unit, period: Period) -> list[dict[str, Any]]:
    """The activities held in the period by ``unit`` and by the units below it at some time of
    the period, oldest first, as plain values (they are frozen into the report's snapshot)."""
    unit_ids = set(paths_during(session, unit, period.date_from, period.date_to)) | {unit.id}
    found = session.scalars(
        select(Activity)
        .options(
            joinedload(Activity.unit),
            selectinload(Activity.materials),  # the file itself stays deferred
            selectinload(Activity.targets),
        )
        .where(
            Activity.unit_id.in_(sorted(unit_ids)),
            Activity.held_on >= period.date_from,
            Activity.held_on <= period.date_to,
        )
        .order_by(Activity.held_on, Activity.id)
    )
    out = []
    for activity in found:
        month = by_key(activity.campaign_key) if activity.campaign_key else None
        out.append(
            {
                "held_on": activity.held_on.isoformat(),
                "campaign": activity.campaign_key,
                "campaign_name": month.name if month is not None else None,
                "kind": activity.kind,
                "audience": activity.audience,
                "title": activity.title,
                "female": activity.participants_female,
                "male": activity.participants_male,
                "other": activity.participants_other,
                "results": activity.results or "",
                "materials": [m.title for m in activity.materials],
                "unit": activity.unit.code,
                "unit_name": activity.unit.name,
                "target_ids": sorted(t.target_id for t in activity.targets),
            }
        )
    return out


def fill(session: Session, unit: Unit, period: Period, report: WorkReport) -> None:
    """Set the report's activities."""
    report.activities = period_activities(session, unit, period)
