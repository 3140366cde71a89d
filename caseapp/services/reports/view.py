"""A report ready to show or export: translated names, and each table either exact (the unit's
own officer on screen) or with small cells suppressed (everything that leaves the unit)."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from caseapp.labels import case_choice_names, report_labels
from caseapp.runtime import settings
from caseapp.services.reports.suppression import Published, exact, suppress
from caseapp.services.reports.tables import MIXED, Report


@dataclass
class ShownTable:
    key: str
    title: str
    note: str
    row_names: list[str]
    col_names: list[str]
    values: Published
    counts: str = "cases"  # "people", "cases" or "activities": see Table.counts
    unit_line: str = ""  # "Unit of count: ..." under the title, on screen and in exports


def unit_lines() -> dict[str, str]:
    """What each kind of table counts, as said under its title."""
    return {
        "people": _("Unit of count: persons"),
        "cases": _("Unit of count: cases"),
        "activities": _("Unit of count: activities and participants"),
        "reports": _("Unit of count: self-reports"),
    }


def column_names(names: dict) -> dict[str, dict[str, str]]:
    """The column names of every group of columns (report_labels()['cols']), with the
    column of cases whose persons harmed are of several sexes."""
    # Cases whose persons harmed are of several sexes (tables that count cases): the name
    # the case's own page gives them.
    mixed = case_choice_names()["harmed_sex_group"][MIXED]
    return {**names["cols"], "sex": {**names["cols"]["sex"], MIXED: mixed}}


def shown_tables(
    report: Report, suppressed: bool, unit_names: dict[str, str] | None = None
) -> list[ShownTable]:
    names = report_labels()
    col_names = column_names(names)
    lines = unit_lines()
    threshold = settings().small_cell_threshold
    out = []
    for table in report.tables:
        data = table.as_dict()
        if suppressed and table.suppressible:
            values = suppress(data["cells"], data["col_totals"], threshold)
        else:
            values = exact(data["cells"], data["col_totals"])
        if table.key == "activities":
            # Totals add up people: the number of activities is not added to them.
            values.row_totals = [sum(row[1:]) for row in data["cells"]]
            values.total = sum(data["col_totals"][1:])
        if table.key == "per_unit":
            row_names = [(unit_names or {}).get(r, r) for r in table.rows]
        else:
            row_names = [names["rows"][table.key].get(r, r) for r in table.rows]
        col_group = table.key if table.key in ("activities", "self_reports") else "sex"
        out.append(
            ShownTable(
                table.key,
                names["titles"][table.key],
                names["notes"].get(table.key, ""),
                row_names,
                [col_names[col_group].get(c, c) for c in table.cols],
                values,
                table.counts,
                lines.get(table.counts, ""),
            )
        )
    return out


def text(value: int | None, threshold: int | None = None) -> str:
    if value is None:
        return f"<{threshold or settings().small_cell_threshold}"
    return str(value)


def shown_timeliness(timeliness: dict, suppressed: bool) -> dict:
    """Timeliness as shown: leaving the unit, figures drawn from fewer cases than the
    small-cell threshold are hidden too (one case's median is that case's own delay)."""
    if not suppressed:
        return {**timeliness, "hidden": False}
    threshold = settings().small_cell_threshold
    shown = {**timeliness, "hidden": False, "threshold": threshold}
    if 0 < timeliness.get("verified", 0) < threshold:
        shown.update(
            median_days_to_verification=None,
            share_verified_within_deadline=None,
            verified=None,
            verified_within_deadline=None,
            hidden=True,
        )
    if 0 < timeliness.get("closed", 0) < threshold:
        shown.update(median_days_to_closure=None, closed=None, hidden=True)
    # Self-reports: a median of a few replies is those replies' own delays.
    if 0 < timeliness.get("self_reports_answered", 0) < threshold:
        shown.update(
            self_reports_answered=None,
            median_days_to_first_reply=None,
            share_answered_within_1_day=None,
            share_answered_within_3_days=None,
            hidden=True,
        )
    if 0 < timeliness.get("self_reports_not_answered", 0) < threshold:
        shown.update(self_reports_not_answered=None, hidden=True)
    return shown
