"""Exporting a unit's gender-equality work report (DOCX or XLSX), audited "work.export": the
report as it stands now (a draft, dated today), or a submitted one read back from its snapshot
(dated the day it was submitted and marked with its fingerprint). Case tables always leave with
small cells suppressed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from caseapp.clock import local_today, zone
from caseapp.errors import ValidationFailed
from caseapp.security.text import scrubbed
from caseapp.services.audit.trail import record
from caseapp.services.equality import document, document_xlsx, work
from caseapp.services.equality.document_rows import file_name
from caseapp.services.reports import periods
from caseapp.services.reports import tables as report_tables
from caseapp.services.reports.exports import MIME
from caseapp.services.reports.view import shown_tables, shown_timeliness

if TYPE_CHECKING:
    from caseapp.models import ReportSnapshot, Unit, User
    from caseapp.services.reports.periods import Period
    from caseapp.services.reports.tables import Report

FORMATS = ("docx", "xlsx")


@dataclass
class Exported:
    content: bytes
    filename: str
    mimetype: str


def check_format(fmt: str | None) -> str:
    if fmt not in FORMATS:
        raise ValidationFailed(_("Unknown format: choose DOCX or XLSX."))
    return fmt


def _render(
    session: Session,
    fmt: str,
    unit: Unit,
    work_report: work.WorkReport,
    report: Report,
    issued_on: date,
    mark: str,
) -> Exported:
    # A text frozen before the rule on characters would make the writers fail: scrubbed.
    work_report = scrubbed(work_report)
    shown = scrubbed(
        shown_tables(report, suppressed=True, unit_names=periods.unit_names(session, report))
    )
    timeliness = shown_timeliness(report.timeliness, suppressed=True)
    if fmt == "docx":
        content = document.to_docx(
            work_report,
            shown,
            timeliness,
            issued_on=issued_on,
            place=periods._place(unit),
            fingerprint=mark,
        )
    else:
        content = document_xlsx.to_xlsx(work_report, shown, timeliness, fingerprint=mark)
    return Exported(content, file_name(work_report, fmt), MIME[fmt])


def _audit(session: Session, actor: User, unit: Unit, fmt: str, period_key: str, snap) -> None:
    record(
        session,
        actor,
        "work.export",
        unit=unit,
        object_type="work_report",
        object_ref=unit.code,
        changes={
            "format": fmt,
            "period": period_key,
            "snapshot": snap.id if snap is not None else "draft",
            "suppressed": True,
        },
    )


def export_live(session: Session, actor: User, unit: Unit, period: Period, fmt: str) -> Exported:
    """The unit's report as it stands now (``unit`` already checked in the actor's scope for
    report.read); the cases the actor is excluded from are left out."""
    check_format(fmt)
    work_report = work.gather(session, unit, period)
    report = report_tables.build(session, unit, period.date_from, period.date_to, viewer=actor)
    out = _render(session, fmt, unit, work_report, report, local_today(), "")
    _audit(session, actor, unit, fmt, period.key, None)
    return out


def _submitted_on(snap: ReportSnapshot) -> date:
    at = snap.submitted_at
    if at.tzinfo is None:  # SQLite gives back the stored UTC time without its zone
        at = at.replace(tzinfo=UTC)
    return at.astimezone(zone()).date()


def snapshot_work(snap: ReportSnapshot) -> tuple[work.WorkReport, bool]:
    """The work report a snapshot froze, and whether it froze one: a snapshot submitted before
    the work report existed holds the case tables only (its sections read empty)."""
    data = json.loads(snap.data)
    if isinstance(data.get("work"), dict):
        return work.WorkReport.from_dict(data["work"]), True
    unit = snap.unit
    return (
        work.WorkReport(
            unit_code=unit.code,
            unit_name=unit.name,
            parent_name=unit.parent.name if unit.parent is not None else "",
            unit_kind=unit.kind,
            period_key=snap.period_key,
            date_from=snap.date_from,
            date_to=snap.date_to,
            due_on=snap.due_on or snap.date_to,
        ),
        False,
    )


def export_snapshot(session: Session, actor: User, snapshot_id: int, fmt: str) -> Exported:
    """A submitted report, as frozen: 404 for a reader who may not read the snapshot."""
    check_format(fmt)
    snap = periods.readable_snapshot(session, actor, snapshot_id)
    work_report, complete = snapshot_work(snap)
    mark = _("Submitted report, fingerprint %(hash)s.", hash=snap.sha256[:16])
    if not complete:
        mark += " " + _(
            "Submitted before the work report was kept in the service: case tables only."
        )
    out = _render(
        session,
        fmt,
        snap.unit,
        work_report,
        periods.snapshot_report(snap),
        _submitted_on(snap),
        mark,
    )
    _audit(session, actor, snap.unit, fmt, snap.period_key, snap)
    return out
