"""The tables of a unit's gender-equality work report as XLSX: a summary sheet, a sheet per
violence-case table (small cells suppressed), the unit's statistics by sex, targets beside
results, activities with results. Every text cell is inert, every count a number."""

from __future__ import annotations

import io

from flask_babel import gettext as _

from caseapp.security.spreadsheet import inert_text
from caseapp.services.equality.document_rows import (
    activity_rows,
    period_text,
    statistics_rows,
    subject_line,
    target_rows,
)
from caseapp.services.equality.work import WorkReport
from caseapp.services.reports.exports import (
    count_cell,
    legend,
    sheet_name,
    table_sheet,
    timeliness_rows,
)
from caseapp.services.reports.view import ShownTable


def _rows_sheet(book, title: str, rows: list[list[str]], used: set[str]) -> None:
    from openpyxl.styles import Alignment, Font

    sheet = book.create_sheet(sheet_name(title, used))
    sheet.append([inert_text(title)])
    sheet["A1"].font = Font(bold=True)
    if not rows:
        sheet.append([inert_text("(không có)")])
    for i, row in enumerate(rows):
        sheet.append([count_cell(v) for v in row])
        if i == 0:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(wrap_text=True)
    sheet.column_dimensions["A"].width = 44


def to_xlsx(
    work: WorkReport, tables: list[ShownTable], timeliness: dict, *, fingerprint: str = ""
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook()
    summary = book.active
    assert isinstance(summary, Worksheet)  # a new workbook has one worksheet
    summary.title = sheet_name(_("Summary"), set())
    used = {summary.title}
    for line in (
        subject_line(work),
        work.unit_name,
        period_text(work),
        legend(),
        *([fingerprint] if fingerprint else []),
    ):
        summary.append([inert_text(line)])
    summary["A1"].font = Font(bold=True, size=13)
    if timeliness:
        summary.append([])
        for row in timeliness_rows(timeliness):
            summary.append([inert_text(v) for v in row])
    summary.column_dimensions["A"].width = 48
    for table in tables:
        table_sheet(book, table, used)
    _rows_sheet(book, _("Unit statistics"), statistics_rows(work), used)
    _rows_sheet(book, _("Targets"), target_rows(work), used)
    _rows_sheet(book, _("Activities"), activity_rows(work), used)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
