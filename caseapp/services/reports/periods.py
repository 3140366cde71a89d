"""Report periods, building a unit's report, exporting it (audited), and schools submitting
their period report as a frozen, hashed snapshot that officers combine."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.clock import check_within_bounds, local_today
from caseapp.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from caseapp.models import ReportSnapshot, Unit
from caseapp.runtime import settings
from caseapp.security.authz import covers
from caseapp.services.audit.trail import record
from caseapp.services.org.history import elsewhere_during, paths_during
from caseapp.services.reports import exports as report_exports
from caseapp.services.reports import tables as report_tables
from caseapp.services.reports.tables import Report, Table
from caseapp.services.reports.view import shown_tables, shown_timeliness

if TYPE_CHECKING:
    from caseapp.models import User


@dataclass(frozen=True)
class Period:
    key: str  # "annual:2026"
    kind: str  # "six_month" or "annual"
    date_from: date
    date_to: date
    due_on: date


def _md(year: int, month_day: str) -> date:
    month, day = (int(x) for x in month_day.split("-"))
    return date(year, month, day)


def periods_of(year: int) -> list[Period]:
    """The configured periods whose last day falls in ``year``."""
    out = []
    for kind, start, end, due in settings().report_periods:
        date_to = _md(year, end)
        date_from = _md(year if start <= end else year - 1, start)
        out.append(Period(f"{kind}:{year}", kind, date_from, date_to, _md(year, due)))
    return out


def recent_periods(today: date | None = None) -> list[Period]:
    today = today or local_today()
    found = [
        p
        for y in (today.year + 1, today.year, today.year - 1, today.year - 2)
        for p in periods_of(y)
        if p.date_from <= today
    ]
    return sorted(found, key=lambda p: p.date_to, reverse=True)[:6]


def default_period(today: date | None = None) -> Period:
    """The latest period that has ended (the one being reported now)."""
    today = today or local_today()
    periods = recent_periods(today)
    return next((p for p in periods if p.date_to < today), periods[0])


def period_by_key(key: str) -> Period:
    try:
        kind, year = key.split(":")
        return next(p for p in periods_of(int(year)) if p.kind == kind)
    except (ValueError, StopIteration):
        raise ValidationFailed(_("Unknown report period.")) from None


def asked_level(value: str | None) -> str | None:
    """The school level a report or the monitoring is cut by (None: every level)."""
    from caseapp.models.units import SCHOOL_LEVELS

    if value is None or not value.strip():
        return None
    if value.strip() not in SCHOOL_LEVELS:
        raise ValidationFailed(_("Unknown school level."))
    return value.strip()


def check_range(date_from: date, date_to: date) -> None:
    check_within_bounds(date_from, date_to)
    if date_from > date_to:
        raise ValidationFailed(_("The start of the period is after its end."))
    if (date_to - date_from).days > 3 * 366:
        raise ValidationFailed(_("A report covers at most three years."))


def report_unit(session: Session, user: User, code: str | None) -> Unit:
    """The unit a report is asked for (default: the user's own), within their scope."""
    from caseapp.security.authz import scope_paths
    from caseapp.services.org.units import unit_in_scope

    if code:
        try:
            return unit_in_scope(session, user, code, "report.read")
        except ValidationFailed:
            raise NotFound() from None  # a unit asked for in the address: no such page
    paths = scope_paths(user, "report.read")
    if not paths:
        raise NotFound()
    unit = session.scalar(select(Unit).where(Unit.path == paths[0]))
    if unit is None:
        raise NotFound()
    return unit


def unit_names(session: Session, report: Report) -> dict[str, str]:
    codes = report.table("per_unit").rows
    return dict(session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())


def _place(unit: Unit) -> str:
    """The place name of the date line: the province (or city) of the unit or above it."""
    current: Unit | None = unit
    while current is not None:
        for marker in ("tỉnh ", "thành phố "):
            if marker in current.name:
                return current.name.split(marker, 1)[1]
        current = current.parent
    return ""


def export(
    session: Session,
    actor: User | None,
    unit: Unit,
    date_from: date,
    date_to: date,
    fmt: str,
    title: str,
    level: str | None = None,
    figures: Session | None = None,
) -> bytes:
    """The report with small cells suppressed, in ``fmt`` (of the schools of ``level`` when
    given); the export is audited in ``session``. ``figures``: the session the report is read
    from (the read replica's), else ``session``."""
    if fmt not in report_exports.FORMATS:
        raise ValidationFailed(_("Unknown format."))
    check_range(date_from, date_to)
    source = figures if figures is not None else session
    report = report_tables.build(
        source,
        unit,
        date_from,
        date_to,
        viewer=actor,
        level=level,
    )
    tables = shown_tables(report, suppressed=True, unit_names=unit_names(source, report))
    if level is not None:  # the reader of the file sees which schools it counts
        from caseapp.labels import school_level_names

        title = f"{title} ({school_level_names().get(level, level)})"
    parent = unit.parent.name if unit.parent is not None else ""
    place = _place(unit)
    meta = report_exports.ReportMeta(
        unit_name=unit.name,
        parent_name=parent,
        unit_code=unit.code,
        date_from=date_from,
        date_to=date_to,
        title=title,
        place=place or "……",
        issued_on=local_today(),
        timeliness=shown_timeliness(report.timeliness, suppressed=True),
    )
    content = report_exports.export(fmt, tables, meta)
    record(
        session,
        actor,
        "report.export",
        unit=unit,
        object_type="reports",
        object_ref=unit.code,
        changes={
            "format": fmt,
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "suppressed": True,
            **({"level": level} if level else {}),
        },
    )
    return content


# Submission ------------------------------------------------------------------------------


def _canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def submitted_snapshot(session: Session, unit: Unit, period: Period) -> ReportSnapshot | None:
    """The report ``unit`` submitted for ``period``, if it did."""
    return session.scalar(
        select(ReportSnapshot).where(
            ReportSnapshot.unit_id == unit.id, ReportSnapshot.period_key == period.key
        )
    )


def submit_refusal(
    session: Session, actor: User, unit: Unit, period: Period | None
) -> DomainError | None:
    """Why ``actor`` may not submit ``unit``'s report for ``period`` now (None: they may).
    The one submit rule: the page offers the button when it is None, ``submit`` enforces it.
    A school's focal point submits the school's report; an office's own officer the office's
    (an officer above submits it only for an office that is closed: a re-organisation's old
    district, whose late reports the province completes)."""
    if period is None:
        return Forbidden(_("Only the school's focal point submits its report."))
    if unit.kind == "school":
        if not covers(actor, "case.write", unit):
            return Forbidden(_("Only the school's focal point submits its report."))
    elif not _own_officer(actor, unit):
        return Forbidden(_("Only the unit's officer submits its report."))
    if report_tables.excluded_below(session, actor, unit):
        # The figures count a case this person may not see: they cannot vouch for them.
        return Forbidden(_("Another person of the unit submits this report."))
    if local_today() <= period.date_to:  # its last day is not over yet
        return ValidationFailed(_("The period has not ended yet."))
    if submitted_snapshot(session, unit, period) is not None:
        return Conflict(_("This report was already submitted."))
    return None


def _own_officer(actor: User, unit: Unit) -> bool:
    from caseapp.security.authz import effective_grants

    if any(g.role == "officer" and g.unit_id == unit.id for g in effective_grants(actor)):
        return True
    return not unit.is_open and covers(actor, "case.oversee", unit)


def may_submit(session: Session, actor: User, unit: Unit, period: Period | None) -> bool:
    return submit_refusal(session, actor, unit, period) is None


def submit(session: Session, actor: User, unit: Unit, period: Period) -> ReportSnapshot:
    """Freeze the unit's report for ``period``, its figures and its text together: stored
    with its hash, never changed. An office's figures are combined from its schools'
    submissions."""
    from caseapp.services.equality.submission import missing_parts
    from caseapp.services.equality.work import gather
    from caseapp.services.org.units import lock_unit

    # Saves of the unit's figures and text wait for the submission (and a submission for
    # them): what is frozen is what was saved, and a save after it is refused.
    lock_unit(session, unit)
    refusal = submit_refusal(session, actor, unit, period)
    if refusal is not None:
        raise refusal
    missing = missing_parts(session, unit, period)
    if missing:
        raise ValidationFailed(
            " ".join([_("The report is not complete. Nothing was submitted."), *missing])
        )
    if unit.kind == "school":
        data = report_tables.build(session, unit, period.date_from, period.date_to).as_dict()
    else:
        data = combined(session, unit, period)[0].as_dict()
    data["work"] = gather(session, unit, period).as_dict()
    text = _canonical(data)
    snapshot = ReportSnapshot(
        unit_id=unit.id,
        period_key=period.key,
        date_from=period.date_from,
        date_to=period.date_to,
        due_on=period.due_on,
        data=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        submitted_by_id=actor.id,
    )
    session.add(snapshot)
    record(
        session,
        actor,
        "report.submit",
        snapshot,
        unit=unit,
        object_ref=unit.code,
        changes={"period": period.key, "sha256": snapshot.sha256},
    )
    return snapshot


def snapshot_work(snap: ReportSnapshot):
    """The work report a snapshot froze with its figures (None for snapshots of before)."""
    from caseapp.services.equality.work import WorkReport

    work = json.loads(snap.data).get("work")
    return WorkReport.from_dict(work) if isinstance(work, dict) else None


def readable_snapshot(session: Session, user: User, snapshot_id: int) -> ReportSnapshot:
    """A submitted report ``user`` may read; 404 otherwise. A snapshot holds the official
    figures, every case included: not for someone excluded from one of them."""
    snap = session.get(ReportSnapshot, snapshot_id)
    if (
        snap is None
        or not covers(user, "report.read", snap.unit)
        or report_tables.excluded_below(session, user, snap.unit)
    ):
        raise NotFound()
    return snap


def stored_table(t: dict) -> Table:
    """A table as stored in a snapshot's JSON. Snapshots frozen before cases had several
    persons say nothing of what they count (each case had one person harmed: the tables of
    persons counted cases too) and have no "mixed" column: they read as the tables of today,
    with 0 cases of persons of several sexes."""
    counts = t.get("counts") or report_tables.TABLE_COUNTS.get(t["key"], "cases")
    cols = list(t["cols"])
    cells = {(r, c): t["cells"][i][j] for i, r in enumerate(t["rows"]) for j, c in enumerate(cols)}
    col_totals = dict(zip(cols, t["col_totals"], strict=True)) if t["distinct_totals"] else None
    if counts == "cases" and cols == list(report_tables.SEX_COLUMNS):
        cols.append(report_tables.MIXED)
        if col_totals is not None:
            col_totals[report_tables.MIXED] = 0
    return Table(t["key"], list(t["rows"]), cols, cells, col_totals, t["suppressible"], counts)


def snapshot_report(snap: ReportSnapshot) -> Report:
    """The report a snapshot froze, read back from its stored JSON."""
    data = json.loads(snap.data)
    return Report(
        data["unit"]["code"],
        data["unit"]["name"],
        date.fromisoformat(data["from"]),
        date.fromisoformat(data["to"]),
        [stored_table(t) for t in data["tables"]],
        data["timeliness"],
    )


def combined_unit(session: Session, user: User, code: str | None) -> Unit:
    """The unit whose combined report ``user`` may see: one they oversee, not built from a
    case they are excluded from (snapshots count every case); 404 otherwise."""
    unit = report_unit(session, user, code)
    if not covers(user, "case.oversee", unit) or report_tables.excluded_below(session, user, unit):
        raise NotFound()
    return unit


def snapshot_intact(snapshot: ReportSnapshot) -> bool:
    return hashlib.sha256(snapshot.data.encode("utf-8")).hexdigest() == snapshot.sha256


def submissions(session: Session, unit: Unit, period: Period) -> list[dict]:
    """Every school that rolled up to ``unit`` during the period (its parent history): its
    snapshot for the period, and whether it is late."""
    today = local_today()
    paths = paths_during(session, unit, period.date_from, period.date_to, kind="school")
    schools = sorted(
        session.scalars(select(Unit).where(Unit.id.in_(paths))),
        key=lambda school: (paths[school.id].rstrip("/").rsplit("/", 1)[0], school.code),
    )
    snaps = {
        s.unit_id: s
        for s in session.scalars(
            select(ReportSnapshot).where(
                ReportSnapshot.period_key == period.key,
                ReportSnapshot.unit_id.in_([s.id for s in schools]),
            )
        )
    }
    rows = []
    for school in schools:
        snap = snaps.get(school.id)
        if snap is not None:
            from caseapp.clock import zone

            at = snap.submitted_at
            if at.tzinfo is None:  # SQLite gives back the stored UTC time without its zone
                at = at.replace(tzinfo=UTC)
            submitted_on = at.astimezone(zone()).date()
            late = submitted_on > period.due_on
        else:
            late = today > period.due_on
        rows.append({"unit": school, "snapshot": snap, "late": late})
    return rows


def combined(session: Session, unit: Unit, period: Period) -> tuple[Report, int, int]:
    """The unit's report built from its schools' submitted snapshots, with live figures for
    the schools that have not submitted and for activities of the offices themselves.
    Returns (report, schools submitted, schools in all)."""
    rows = submissions(session, unit, period)
    live = report_tables.build(session, unit, period.date_from, period.date_to)
    tables = {
        t.key: Table(
            t.key,
            list(t.rows),
            list(t.cols),
            {},
            {} if t.col_totals is not None else None,
            t.suppressible,
            t.counts,
        )
        for t in live.tables
    }
    # Each school counts under the unit right below this one it sat under last in the period.
    paths = paths_during(session, unit, period.date_from, period.date_to, kind="school")
    child_of = {
        f"/{child_id}/": code
        for child_id, code in session.execute(
            select(Unit.id, Unit.code)
            .where(Unit.code.in_(tables["per_unit"].rows))
            .order_by(Unit.code)
        )
    }
    # A school that moved during the period counts here only for the cases it received while
    # below this unit (its snapshot covers the whole period: not usable here).
    moved = elsewhere_during(
        session, unit, [row["unit"].id for row in rows], period.date_from, period.date_to
    )
    live_of = {
        row["unit"].id: row["unit"].id not in moved
        for row in rows
        if row["snapshot"] is None or row["unit"].id in moved
    }
    # The figures of every school read live, in a few statements for them all; each school
    # built on its own (a dozen statements each) only when the rollups cannot answer.
    found = report_tables.schools_within(session, unit, period.date_from, period.date_to, live_of)
    submitted = 0
    for row in rows:
        school = row["unit"]
        if row["snapshot"] is not None:
            submitted += 1
        if school.id not in live_of:
            data = json.loads(row["snapshot"].data)
        elif found is not None:
            data = {"tables": [t.as_dict() for t in found[school.id]]}
        else:
            data = report_tables.build(
                session,
                school,
                period.date_from,
                period.date_to,
                within=unit if school.id in moved else None,
            ).as_dict()
        group = next(
            (code for mark, code in child_of.items() if mark in paths.get(school.id, "")),
            school.code,
        )
        for t in data["tables"]:
            target = tables[t["key"]]
            if t["key"] == "activities":
                continue
            for r, row_key in enumerate(t["rows"]):
                for c, col_key in enumerate(t["cols"]):
                    key = (group, col_key) if t["key"] == "per_unit" else (row_key, col_key)
                    target.cells[key] = target.cells.get(key, 0) + t["cells"][r][c]
            if target.col_totals is not None:
                for c, col_key in enumerate(t["cols"]):
                    target.col_totals[col_key] = (
                        target.col_totals.get(col_key, 0) + t["col_totals"][c]
                    )
    # Activities: every unit's own records (offices included), live.
    tables["activities"] = live.table("activities")
    report = Report(
        unit.code,
        unit.name,
        period.date_from,
        period.date_to,
        [tables[t.key] for t in live.tables],
        live.timeliness,
    )
    return report, submitted, len(rows)
