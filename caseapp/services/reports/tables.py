"""The period report of a unit: every table of DESIGN.md section 8, each one SQL aggregate
over the unit's subtree. Tables hold codes, not words: screens and exports translate them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Date, Integer, and_, cast, exists, func, select
from sqlalchemy import case as when
from sqlalchemy.orm import Session, aliased

from caseapp.clock import start_of_local_day, zone
from caseapp.models import (
    Activity,
    Case,
    CasePerson,
    CaseStep,
    CaseTransition,
    CaseViolenceType,
    Unit,
    UnitParentHistory,
    User,
)
from caseapp.models import cases as domain
from caseapp.models import steps as step_domain
from caseapp.models.reports import ACTIVITY_KINDS
from caseapp.runtime import settings
from caseapp.services.org.history import children_during, in_force, rolls_up
from caseapp.services.reports import channels
from caseapp.services.reports.exclusions import ShownTo, shown_to
from caseapp.services.reports.exclusions import excluded_below as excluded_below

SEX_COLUMNS = domain.SEXES
# Tables that count cases have a column more: cases whose persons harmed are of several sexes.
MIXED = domain.SEX_GROUP_MIXED
GROUP_COLUMNS = domain.SEX_GROUPS
# What each table counts (Table.counts); every other table counts cases.
TABLE_COUNTS = {
    "age_by_sex": "people",
    "role_by_sex": "people",
    "perpetrators_by_relationship_sex": "people",
    "activities": "activities",
    "self_reports": "reports",
}
STATUS_ROWS = ("resolved", "in_progress", "overdue")
FINDING_ROWS = (*step_domain.FINDINGS, "not_verified")


@dataclass
class Table:
    key: str
    rows: list[str]
    cols: list[str]
    cells: dict[tuple[str, str], int] = field(default_factory=dict)
    # When a case can fall in several rows (violence types), the column totals count each case
    # once and so do not equal the sum of the cells.
    col_totals: dict[str, int] | None = None
    suppressible: bool = True
    # What a cell counts: "people" (persons harmed or alleged perpetrators, each once),
    # "cases" (each case once, by the sex of its persons harmed) or "activities" (activities
    # and their participants). Every table says it (screen and exports).
    counts: str = "cases"

    def cell(self, row: str, col: str) -> int:
        return self.cells.get((row, col), 0)

    def row_total(self, row: str) -> int:
        return sum(self.cell(row, c) for c in self.cols)

    def col_total(self, col: str) -> int:
        if self.col_totals is not None:
            return self.col_totals.get(col, 0)
        return sum(self.cell(r, col) for r in self.rows)

    def total(self) -> int:
        return sum(self.col_total(c) for c in self.cols)

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "rows": self.rows,
            "cols": self.cols,
            "cells": [[self.cell(r, c) for c in self.cols] for r in self.rows],
            "col_totals": [self.col_total(c) for c in self.cols],
            "distinct_totals": self.col_totals is not None,
            "suppressible": self.suppressible,
            "counts": self.counts,
        }


@dataclass
class Report:
    unit_code: str
    unit_name: str
    date_from: date
    date_to: date
    tables: list[Table]
    timeliness: dict

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)

    def as_dict(self) -> dict:
        return {
            "unit": {"code": self.unit_code, "name": self.unit_name},
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "tables": [t.as_dict() for t in self.tables],
            "timeliness": self.timeliness,
        }


def _cases_in(
    unit: Unit,
    date_from: date,
    date_to: date,
    shown: ShownTo | None = None,
    level: str | None = None,
    within: Unit | None = None,
):
    """Conditions for the cases of the report: received in the period, at a school that sat
    below the unit on the day the case was received (history: old periods roll up through old
    offices); of schools of ``level`` only when given; for a report shown to a person, not the
    cases they are excluded from (exclusion beats every grant, aggregates included: a narrow
    period would otherwise describe the case); ``within``: only the cases that also rolled up
    to that unit (a school's part of an office's figures when it moved during the period)."""
    conditions = [
        rolls_up(unit),
        *([rolls_up(within)] if within is not None else []),
        Case.received_on >= date_from,
        Case.received_on <= date_to,
    ]
    if level is not None:
        conditions.append(Case.unit_id.in_(select(Unit.id).where(Unit.level == level)))
    if shown is not None:
        conditions.append(~shown.excluded(Case.id))
    return and_(*conditions)


def _grouped(session: Session, key: str, rows, cols, stmt, col_totals=None) -> Table:
    table = Table(key, list(rows), list(cols), counts=TABLE_COUNTS.get(key, "cases"))
    for row, col, n in session.execute(stmt):
        if row in table.rows and col in table.cols:
            table.cells[(row, col)] = int(n or 0)
    if col_totals is not None:
        table.col_totals = {c: 0 for c in cols}
        for col, n in session.execute(col_totals):
            if col in table.col_totals:
                table.col_totals[col] = int(n or 0)
    return table


def _days(session: Session, later, earlier):
    """Whole days between two date expressions, in this database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return later - earlier
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _local_date(session: Session, instant, when: datetime):
    """The date of a UTC instant where the users are (the day a case closed, as they see it)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(zone().key, instant), Date)
    # SQLite stores UTC without a zone and knows no zone names: shift by the zone's offset.
    offset = zone().utcoffset(when) or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return func.date(instant, f"{minutes:+d} minutes")


def _median(session: Session, days_stmt) -> tuple[float | None, int]:
    """The median of a one-column select() and how many rows it has, in one pass, by window
    functions (PostgreSQL and SQLite)."""
    sub = days_stmt.subquery()
    ranked = select(
        sub.c.days,
        func.row_number().over(order_by=sub.c.days).label("rn"),
        func.count().over().label("n"),
    ).subquery()
    value, count = session.execute(
        select(func.avg(ranked.c.days), func.max(ranked.c.n)).where(
            ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2])
        )
    ).one()
    return (round(float(value), 1) if value is not None else None), int(count or 0)


def build(
    session: Session,
    unit: Unit,
    date_from: date,
    date_to: date,
    viewer: User | None = None,
    level: str | None = None,
    within: Unit | None = None,
    source: str = "auto",
) -> Report:
    """The report of ``unit`` for the period. ``viewer``: the person it is shown to (their
    excluded cases are left out, services/reports/exclusions.py); None for the official figures
    (submission, scheduled export). ``level``: the cases of schools of that level only.
    ``within``: only the cases that rolled up to that unit too. ``source``: "rollups" (the
    sums kept per school and month, services.reports.rollups; periods of whole months),
    "scan" (every case of the period read again: the check) or "auto" (rollups when the
    period is of whole months)."""
    from caseapp.services.reports import rollups

    if source not in ("auto", "rollups", "scan"):
        raise ValueError(f"unknown source {source!r}")
    if source == "rollups" and not rollups.whole_months(date_from, date_to):
        raise ValueError("rollups answer periods of whole months")
    shown = shown_to(session, viewer)
    if source != "scan" and rollups.whole_months(date_from, date_to):
        return _from_rollups(session, unit, date_from, date_to, shown, level, within)
    return _scan(session, unit, date_from, date_to, shown, level, within)


def _scan(
    session: Session,
    unit: Unit,
    date_from: date,
    date_to: date,
    shown: ShownTo | None,
    level: str | None,
    within: Unit | None,
) -> Report:
    """The full scan: every table one SQL aggregate over the period's cases."""
    cfg = settings()
    scope = _cases_in(unit, date_from, date_to, shown, level, within)
    end = start_of_local_day(date_to + timedelta(days=1))
    tables: list[Table] = []

    tables.append(
        _grouped(
            session,
            "violence_by_sex",
            domain.VIOLENCE_TYPES,
            GROUP_COLUMNS,
            select(CaseViolenceType.type, Case.harmed_sex_group, func.count())
            .select_from(CaseViolenceType)
            .join(Case, Case.id == CaseViolenceType.case_id)
            .where(scope)
            .group_by(CaseViolenceType.type, Case.harmed_sex_group),
            col_totals=select(Case.harmed_sex_group, func.count())
            .select_from(Case)
            .where(scope)
            .group_by(Case.harmed_sex_group),
        )
    )
    # Tables of persons: each person of a case not withdrawn counts once (three girls harmed
    # in one fight add three to "female").
    for key, position, column, rows in (
        ("age_by_sex", "harmed", CasePerson.age_band, domain.AGE_BANDS),
        ("role_by_sex", "harmed", CasePerson.role, domain.HARMED_ROLES),
        (
            "perpetrators_by_relationship_sex",
            "perpetrator",
            CasePerson.relationship,
            domain.RELATIONSHIPS,
        ),
    ):
        tables.append(
            _grouped(
                session,
                key,
                rows,
                SEX_COLUMNS,
                select(column, CasePerson.sex, func.count())
                .select_from(Case)
                .join(CasePerson, CasePerson.case_id == Case.id)
                .where(scope, CasePerson.position == position, CasePerson.withdrawn_at.is_(None))
                .group_by(column, CasePerson.sex),
            )
        )

    # Status at the end of the period, from the last transition before it.
    # Join the grouped subquery itself, then the row by primary key: SQLite would otherwise
    # materialise a joined derived table and scan it once per case (bench/reports.py).
    last = (
        select(CaseTransition.case_id, func.max(CaseTransition.id).label("last_id"))
        .where(CaseTransition.at < end)
        .group_by(CaseTransition.case_id)
        .subquery()
    )
    last_status = aliased(CaseTransition)
    verified_by_end = exists(
        select(CaseStep.id).where(
            CaseStep.case_id == Case.id,
            CaseStep.kind == "verification",
            CaseStep.done_on.is_not(None),
            CaseStep.done_on <= date_to,
        )
    )
    status_class = when(
        (last_status.to_status == "closed", "resolved"),
        (and_(Case.verification_due_on < date_to, ~verified_by_end), "overdue"),
        else_="in_progress",
    )
    tables.append(
        _grouped(
            session,
            "status_at_end",
            STATUS_ROWS,
            GROUP_COLUMNS,
            select(status_class, Case.harmed_sex_group, func.count())
            .select_from(Case)
            .outerjoin(last, last.c.case_id == Case.id)
            .outerjoin(last_status, last_status.id == last.c.last_id)
            .where(scope)
            .group_by(status_class, Case.harmed_sex_group),
        )
    )

    latest_verification = (
        select(CaseStep.case_id, func.max(CaseStep.id).label("step_id"))
        .where(
            CaseStep.kind == "verification",
            CaseStep.done_on.is_not(None),
            CaseStep.done_on <= date_to,
        )
        .group_by(CaseStep.case_id)
        .subquery()
    )
    finding = aliased(CaseStep)
    finding_row = func.coalesce(finding.finding, "not_verified")
    tables.append(
        _grouped(
            session,
            "findings",
            FINDING_ROWS,
            GROUP_COLUMNS,
            select(finding_row, Case.harmed_sex_group, func.count())
            .select_from(Case)
            .outerjoin(latest_verification, latest_verification.c.case_id == Case.id)
            .outerjoin(finding, finding.id == latest_verification.c.step_id)
            .where(scope)
            .group_by(finding_row, Case.harmed_sex_group),
        )
    )

    service_row = when((CaseStep.kind == "referral", "referral"), else_=CaseStep.service)
    tables.append(
        _grouped(
            session,
            "support_by_service",
            (*step_domain.SUPPORT_SERVICES, "referral"),
            GROUP_COLUMNS,
            select(service_row, Case.harmed_sex_group, func.count(func.distinct(Case.id)))
            .select_from(CaseStep)
            .join(Case, Case.id == CaseStep.case_id)
            .where(
                scope,
                CaseStep.done_on <= date_to,
                ((CaseStep.kind == "support") & (CaseStep.status == "provided"))
                | ((CaseStep.kind == "referral") & CaseStep.status.in_(("accepted", "completed"))),
            )
            .group_by(service_row, Case.harmed_sex_group),
            col_totals=select(Case.harmed_sex_group, func.count(func.distinct(Case.id)))
            .select_from(CaseStep)
            .join(Case, Case.id == CaseStep.case_id)
            .where(
                scope,
                CaseStep.done_on <= date_to,
                ((CaseStep.kind == "support") & (CaseStep.status == "provided"))
                | ((CaseStep.kind == "referral") & CaseStep.status.in_(("accepted", "completed"))),
            )
            .group_by(Case.harmed_sex_group),
        )
    )

    # Per unit: the units directly below during the period (or the unit itself for a school).
    groups = children_during(session, unit, date_from, date_to) or [unit]
    per_unit = Table("per_unit", [child.code for child in groups], list(GROUP_COLUMNS))
    # One query for all of them: the cases by the path their school had the day each was
    # received; a path names the unit below it rolled up through.
    placed = aliased(UnitParentHistory)
    codes = {str(child.id): child.code for child in groups}
    for path, sex, n in session.execute(
        select(placed.path, Case.harmed_sex_group, func.count(func.distinct(Case.id)))
        .select_from(Case)
        .join(placed, and_(placed.unit_id == Case.unit_id, in_force(placed, Case.received_on)))
        .where(scope)
        .group_by(placed.path, Case.harmed_sex_group)
    ):
        for part in path.strip("/").split("/"):
            code = codes.get(part)
            if code is not None:
                per_unit.cells[(code, sex)] = per_unit.cells.get((code, sex), 0) + int(n)
    tables.append(per_unit)

    tables.append(_activities(session, unit, date_from, date_to))
    channel = channels.channel_row(Case.received_via)  # one expression: PostgreSQL groups by it
    tables.append(
        _grouped(
            session,
            "cases_by_channel",
            channels.CHANNEL_ROWS,
            GROUP_COLUMNS,
            select(channel, Case.harmed_sex_group, func.count())
            .select_from(Case)
            .where(scope)
            .group_by(channel, Case.harmed_sex_group),
        )
    )
    reports_scope = channels.self_reports_in(unit, date_from, date_to, shown, level, within)
    tables.append(_self_reports(session, reports_scope))
    timeliness = _timeliness(session, scope, date_to, end, cfg.verification_days)
    timeliness.update(
        channels.reply_times(session, reports_scope, lambda a, b: _days(session, a, b))
    )
    return Report(unit.code, unit.name, date_from, date_to, tables, timeliness)


def _self_reports(session: Session, reports_scope) -> Table:
    return Table(
        "self_reports",
        list(channels.SELF_REPORT_ROWS),
        list(channels.SELF_REPORT_COLUMNS),
        channels.self_report_outcomes(session, reports_scope),
        counts=TABLE_COUNTS["self_reports"],
    )


def _activities(session: Session, unit: Unit, date_from: date, date_to: date) -> Table:
    """Activities: every unit's own records, read live (a few per school and year)."""
    activities = Table(
        "activities",
        list(ACTIVITY_KINDS),
        ["activities", "female", "male", "other"],
        suppressible=False,
        counts=TABLE_COUNTS["activities"],
    )
    for kind, count, female, male, other in session.execute(
        select(
            Activity.kind,
            func.count(),
            func.sum(Activity.participants_female),
            func.sum(Activity.participants_male),
            func.sum(Activity.participants_other),
        )
        .where(
            rolls_up(unit, on=Activity.held_on, unit_id=Activity.unit_id),
            Activity.held_on >= date_from,
            Activity.held_on <= date_to,
        )
        .group_by(Activity.kind)
    ):
        for col, value in zip(activities.cols, (count, female, male, other), strict=True):
            activities.cells[(kind, col)] = int(value or 0)
    return activities


def _from_rollups(
    session: Session,
    unit: Unit,
    date_from: date,
    date_to: date,
    shown: ShownTo | None,
    level: str | None,
    within: Unit | None,
) -> Report:
    """The same report summed from the rollups (services.reports.rollups): the same Table
    objects as the scan, cell for cell (tests/functional/test_report_rollups.py)."""
    from caseapp.services.reports import rollups

    cfg = settings()
    # Every case of the period: the viewer's excluded ones among them are taken out of the sums.
    scope = _cases_in(unit, date_from, date_to, None, level, within) if shown is not None else None
    summed = rollups.sums(session, unit, date_from, date_to, shown, level, within, scope)
    if summed is None:  # changes of the period not folded into the rollups yet: the scan
        return _scan(session, unit, date_from, date_to, shown, level, within)
    figures, paths = summed
    groups = children_during(session, unit, date_from, date_to) or [unit]
    codes = {str(child.id): child.code for child in groups}
    per_group: dict[tuple[str, str], int] = {}
    for (path, sex), n in sorted(paths.items()):
        if not n:
            continue
        for part in path.strip("/").split("/"):
            code = codes.get(part)
            if code is not None:
                per_group[(code, sex)] = per_group.get((code, sex), 0) + n
    *summed_tables, channel_table = _summed_tables(figures, [g.code for g in groups], per_group)
    tables = [*summed_tables, _activities(session, unit, date_from, date_to), channel_table]
    reports_scope = channels.self_reports_in(unit, date_from, date_to, shown, level, within)
    tables.append(_self_reports(session, reports_scope))

    def histogram(figure: str) -> list[tuple[int, int]]:
        return sorted((int(row), n) for (f, row, _c), n in figures.items() if f == figure and n)

    verify, close = histogram("verify_days"), histogram("close_days")
    verified = sum(n for _d, n in verify)
    in_time = sum(n for d, n in verify if d <= cfg.verification_days)
    timeliness = {
        "closed": sum(n for _d, n in close),
        "median_days_to_verification": channels.median_of_counts(verify),
        "median_days_to_closure": channels.median_of_counts(close),
        "verified": verified,
        "verified_within_deadline": in_time,
        "share_verified_within_deadline": round(100 * in_time / verified, 1) if verified else None,
        "verification_days": cfg.verification_days,
    }
    timeliness.update(
        channels.reply_times(session, reports_scope, lambda a, b: _days(session, a, b))
    )
    return Report(unit.code, unit.name, date_from, date_to, tables, timeliness)


def _summed_tables(
    figures: dict[tuple[str, str, str], int],
    group_codes: list[str],
    per_group: dict[tuple[str, str], int],
) -> list[Table]:
    """The tables of the report summed from the rollups' figures, in the report's order:
    those before "per_unit", "per_unit" (the units ``group_codes``, cells ``per_group``), then
    "cases_by_channel" (activities and self-reports are read elsewhere)."""

    def table(key, rows, cols, figure=None, totals=None) -> Table:
        t = Table(key, list(rows), list(cols), counts=TABLE_COUNTS.get(key, "cases"))
        for (f, row, col), n in figures.items():
            if f == (figure or key) and n and row in t.rows and col in t.cols:
                t.cells[(row, col)] = n
        if totals is not None:
            t.col_totals = {c: figures.get((totals, "", c), 0) for c in t.cols}
        return t

    per_unit = Table("per_unit", list(group_codes), list(GROUP_COLUMNS))
    per_unit.cells = dict(per_group)
    return [
        table("violence_by_sex", domain.VIOLENCE_TYPES, GROUP_COLUMNS, totals="cases"),
        table("age_by_sex", domain.AGE_BANDS, SEX_COLUMNS),
        table("role_by_sex", domain.HARMED_ROLES, SEX_COLUMNS),
        table("perpetrators_by_relationship_sex", domain.RELATIONSHIPS, SEX_COLUMNS),
        table("status_at_end", STATUS_ROWS, GROUP_COLUMNS),
        table("findings", FINDING_ROWS, GROUP_COLUMNS),
        table(
            "support_by_service",
            (*step_domain.SUPPORT_SERVICES, "referral"),
            GROUP_COLUMNS,
            totals="support_total",
        ),
        per_unit,
        table("cases_by_channel", channels.CHANNEL_ROWS, GROUP_COLUMNS),
    ]


def schools_within(
    session: Session, unit: Unit, date_from: date, date_to: date, schools: dict[int, bool]
) -> dict[int, list[Table]] | None:
    """The tables of each of ``schools`` (id -> whether it sat below ``unit`` all the period)
    as ``build(session, school, date_from, date_to, within=None if whole else unit)`` gives
    them, but the activities (the combined report reads them live for the whole unit), in a
    few statements whatever the number of schools: the rollups and the self-reports grouped
    by school (periods.combined, where a school's own build each cost a dozen). None when the
    rollups cannot answer (a period not of whole months, changes not folded in): the caller
    builds each school."""
    from caseapp.services.reports import rollups

    if not schools:
        return {}
    if not rollups.whole_months(date_from, date_to):
        return None
    summed = rollups.sums_by_school(session, unit, date_from, date_to, schools)
    if summed is None:
        return None
    figures, per_unit = summed
    outcomes = channels.self_report_outcomes_by_school(session, unit, date_from, date_to, schools)
    codes = {
        school: code
        for school, code in session.execute(
            select(Unit.id, Unit.code).where(Unit.id.in_(list(schools)))
        )
    }
    found = {}
    for school in schools:
        code = codes[school]
        per_group = {(code, col): n for col, n in per_unit[school].items() if n}
        found[school] = [
            *_summed_tables(figures[school], [code], per_group),
            Table(
                "self_reports",
                list(channels.SELF_REPORT_ROWS),
                list(channels.SELF_REPORT_COLUMNS),
                outcomes.get(school, {}),
                counts=TABLE_COUNTS["self_reports"],
            ),
        ]
    return found


def _timeliness(session: Session, scope, date_to: date, end, verification_days: int) -> dict:
    first_verified = (
        select(CaseStep.case_id, func.min(CaseStep.done_on).label("done"))
        .where(
            CaseStep.kind == "verification",
            CaseStep.done_on.is_not(None),
            CaseStep.done_on <= date_to,
        )
        .group_by(CaseStep.case_id)
        .subquery()
    )
    to_verify = _days(session, first_verified.c.done, Case.received_on)
    verify_days = (
        select(to_verify.label("days"))
        .select_from(Case)
        .join(first_verified, first_verified.c.case_id == Case.id)
        .where(scope)
    )
    closed_at = (
        select(CaseTransition.case_id, func.min(CaseTransition.at).label("at"))
        .where(CaseTransition.to_status == "closed", CaseTransition.at < end)
        .group_by(CaseTransition.case_id)
        .subquery()
    )
    to_close = _days(session, _local_date(session, closed_at.c.at, end), Case.received_on)
    close_days = (
        select(to_close.label("days"))
        .select_from(Case)
        .join(closed_at, closed_at.c.case_id == Case.id)
        .where(scope)
    )
    counts = session.execute(
        select(func.count(), func.sum(when((to_verify <= verification_days, 1), else_=0)))
        .select_from(Case)
        .join(first_verified, first_verified.c.case_id == Case.id)
        .where(scope)
    ).one()
    verified, in_time = int(counts[0] or 0), int(counts[1] or 0)
    median_to_verify, _verified = _median(session, verify_days)
    median_to_close, closed = _median(session, close_days)
    return {
        "closed": closed,
        "median_days_to_verification": median_to_verify,
        "median_days_to_closure": median_to_close,
        "verified": verified,
        "verified_within_deadline": in_time,
        "share_verified_within_deadline": round(100 * in_time / verified, 1) if verified else None,
        "verification_days": verification_days,
    }
