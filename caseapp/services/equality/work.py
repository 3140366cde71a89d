"""A unit's period report as one value (WorkReport): its narrative, its plan and targets with
their results, its statistics by sex, its activities. Gathered live while the report is written,
frozen into the unit's ReportSnapshot (under "work") when it is submitted, read back from there
for the document and for the units above."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from caseapp.models import Unit
    from caseapp.services.reports.periods import Period


@dataclass
class WorkReport:
    unit_code: str
    unit_name: str
    parent_name: str  # the governing body named in the heading block
    unit_kind: str
    period_key: str
    date_from: date
    date_to: date
    due_on: date
    sections: dict[str, str] = field(default_factory=dict)  # sections.SECTIONS -> text
    number: str = ""
    signer_title: str = ""
    signer_name: str = ""
    recipients: list[str] = field(default_factory=list)
    # {"year": int, "text": str, "approved": bool, "approved_on": "YYYY-MM-DD" | None}
    plan: dict[str, Any] | None = None
    # [{"title": str, "measure": str, "target": int, "result": int | None}]
    targets: list[dict[str, Any]] = field(default_factory=list)
    statistics: dict[str, int] | None = None  # figures key -> count (figures.keys_for)
    previous: dict[str, int] | None = None  # the same unit's figures of the period before
    # [{"held_on": iso, "campaign": key | None, "kind", "audience", "title", "female", "male",
    #   "other", "results": str, "materials": [title, ...], "unit": code}]
    activities: list[dict[str, Any]] = field(default_factory=list)
    # The units below whose submissions were compiled (offices): [{"code", "name", "submitted",
    # "late"}]
    sources: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("date_from", "date_to", "due_on"):
            data[name] = data[name].isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkReport:
        values = dict(data)
        for name in ("date_from", "date_to", "due_on"):
            values[name] = date.fromisoformat(values[name])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


def gather(session: Session, unit: Unit, period: Period) -> WorkReport:
    """The unit's period report as it stands now (live figures, the draft's text)."""
    from caseapp.services.equality import activities, narrative, plans, statistics

    report = WorkReport(
        unit_code=unit.code,
        unit_name=unit.name,
        parent_name=unit.parent.name if unit.parent is not None else "",
        unit_kind=unit.kind,
        period_key=period.key,
        date_from=period.date_from,
        date_to=period.date_to,
        due_on=period.due_on,
    )
    narrative.fill(session, unit, period, report)
    plans.fill(session, unit, period, report)
    statistics.fill(session, unit, period, report)
    activities.fill(session, unit, period, report)
    return report
