"""The activities of a unit's period report: its own and those of the units that rolled up to
it during the period, with their action month, results, materials and targets."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from caseapp.models import Activity, ReportSnapshot, Unit, UnitParentHistory
from caseapp.services.equality.campaigns import by_key
from caseapp.services.org.history import paths_during

if TYPE_CHECKING:
    from caseapp.services.equality.work import WorkReport
    from caseapp.services.reports.periods import Period


def period_activities(session: Session, unit: Unit, period: Period) -> list[dict[str, Any]]:
    """The activities held in the period by ``unit`` and by the units below it at some time of
    the period, oldest first, as plain values (they are frozen into the report's snapshot).
    A unit below that submitted its report for the period counts with the activities its
    snapshot froze, not with its rows as they read today."""
    unit_ids = set(paths_during(session, unit, period.date_from, period.date_to)) | {unit.id}
    frozen = _frozen(session, unit, period, unit_ids - {unit.id})
    found = session.scalars(
        select(Activity)
        .options(
            joinedload(Activity.unit),
            selectinload(Activity.materials),  # the file itself stays deferred
            selectinload(Activity.targets),
        )
        .where(
            Activity.unit_id.in_(sorted(unit_ids - set(frozen))),
            Activity.held_on >= period.date_from,
            Activity.held_on <= period.date_to,
        )
        .order_by(Activity.held_on, Activity.id)
    )
    below = _below_on(session, unit, period)
    out = []
    for activity in found:
        if activity.unit_id != unit.id and not below(activity.unit_id, activity.held_on):
            continue  # held while its unit counted under another office
        out.append(_plain(activity))
    for unit_id, entries in frozen.items():
        out.extend(e for e in entries if below(unit_id, date.fromisoformat(e["held_on"])))
    out.sort(key=lambda e: e["held_on"])  # stable: each unit's own order kept within a day
    return out


def _plain(activity: Activity) -> dict[str, Any]:
    month = by_key(activity.campaign_key) if activity.campaign_key else None
    return {
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


def _frozen(
    session: Session, unit: Unit, period: Period, unit_ids: set[int]
) -> dict[int, list[dict[str, Any]]]:
    """For each unit of ``unit_ids`` that submitted its report for the period (with its
    activities: snapshots of before the work report have none), the activities it held
    itself as its snapshot froze them (an office's snapshot lists its schools' too: those
    count from the schools' own snapshots or rows). One query for them all."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not unit_ids:
        return out
    for unit_id, code, data in session.execute(
        select(ReportSnapshot.unit_id, Unit.code, ReportSnapshot.data)
        .join(Unit, Unit.id == ReportSnapshot.unit_id)
        .where(
            ReportSnapshot.period_key == period.key,
            ReportSnapshot.unit_id.in_(sorted(unit_ids)),
        )
    ):
        work = json.loads(data).get("work")
        entries = work.get("activities") if isinstance(work, dict) else None
        if isinstance(entries, list):
            out[unit_id] = [e for e in entries if isinstance(e, dict) and e.get("unit") == code]
    return out


def _below_on(session: Session, unit: Unit, period: Period):
    """Whether a unit sat below ``unit`` on a day of the period (its parent history)."""
    row = UnitParentHistory
    spans: dict[int, list[tuple]] = {}
    for unit_id, valid_from, valid_to, opened in session.execute(
        select(row.unit_id, row.valid_from, row.valid_to, row.opened).where(
            row.path.contains(f"/{unit.id}/"),
            or_(row.opened, row.valid_from <= period.date_to),
            or_(row.valid_to.is_(None), row.valid_to > period.date_from),
        )
    ):
        spans.setdefault(unit_id, []).append((valid_from, valid_to, opened))

    def below(unit_id: int, day) -> bool:
        return any(
            (opened or start <= day) and (end is None or day < end)
            for start, end, opened in spans.get(unit_id, ())
        )

    return below


def fill(session: Session, unit: Unit, period: Period, report: WorkReport) -> None:
    """Set the report's activities."""
    report.activities = period_activities(session, unit, period)
