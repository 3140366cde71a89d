"""Report exports: XLSX (a sheet per table), CSV, and DOCX laid out as a Vietnamese
administrative report (Decree 30/2020: motto, unit, number, place and date, body, recipients,
signature). Every value that leaves the unit has small cells suppressed by the caller."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _

from caseapp.i18n import number as local_number
from caseapp.runtime import settings
from caseapp.security.spreadsheet import inert_text
from caseapp.services.reports.view import ShownTable, text

FORMATS = ("xlsx", "csv", "docx")
MIME = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass
class ReportMeta:
    unit_name: str
    parent_name: str
    unit_code: str
    date_from: date
    date_to: date
    title: str
    place: str
    issued_on: date
    timeliness: dict


def table_grid(table: ShownTable) -> list[list[str]]:
    v = table.values
    rows = [["", *table.col_names, _("Total")]]
    for name, cells, total in zip(table.row_names, v.cells, v.row_totals, strict=True):
        rows.append([name, *[text(c) for c in cells], text(total)])
    rows.append([_("Total"), *[text(c) for c in v.col_totals], text(v.total)])
    return rows


def timeliness_rows(t: dict) -> list[list[str]]:
    """The timeliness figures as (label, value) rows (t as view.shown_timeliness gives it)."""
    share = t["share_verified_within_deadline"]
    hidden = (
        [[_("Figures drawn from fewer than %(n)d cases are hidden.", n=t.get("threshold", 5)), ""]]
        if t.get("hidden")
        else []
    )
    return (
        hidden
        + [
            [
                _("Median days from intake to verification"),
                local_number(t["median_days_to_verification"]),
            ],
            [_("Median days from intake to closure"), local_number(t["median_days_to_closure"])],
            [
                _("Verified within %(n)d days", n=t["verification_days"]),
                "—" if share is None else f"{local_number(share)}%",
            ],
        ]
        + reply_rows(t)
    )


def reply_rows(t: dict) -> list[list[str]]:
    """Time from a self-report to the school's first reply (absent from reports frozen
    before self-reports existed)."""
    if "self_reports_answered" not in t:
        return []

    def percent(value: float | None) -> str:
        return "—" if value is None else f"{local_number(value)}%"

    def count(value: int | None) -> str:
        return "—" if value is None else str(value)

    return [
        [_("Self-reports answered"), count(t["self_reports_answered"])],
        [_("Self-reports not answered yet"), count(t["self_reports_not_answered"])],
        [
            _("Median days from a self-report to the first reply"),
            local_number(t["median_days_to_first_reply"]),
        ],
        [_("Self-reports answered within 1 day"), percent(t["share_answered_within_1_day"])],
        [_("Self-reports answered within 3 days"), percent(t["share_answered_within_3_days"])],
    ]


def legend() -> str:
    """What the hidden cells of an export mean (every export leaves its unit)."""
    n = settings().small_cell_threshold
    return _(
        "Counts shown as <%(n)d are hidden: counts from 1 to %(m)d, and other counts "
        "hidden with them so that none can be worked out from the totals.",
        n=n,
        m=n - 1,
    )


def period_line(meta: ReportMeta) -> str:
    return _(
        "From %(start)s to %(end)s",
        start=meta.date_from.strftime("%d/%m/%Y"),
        end=meta.date_to.strftime("%d/%m/%Y"),
    )


class _InertWriter:
    """csv.writer whose every cell is inert text (a unit name may read =HYPERLINK(...))."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: list[str]) -> None:
        self._writer.writerow([inert_text(value) for value in row])

    def writerows(self, rows: list[list[str]]) -> None:
        for row in rows:
            self.writerow(row)


def to_csv(tables: list[ShownTable], meta: ReportMeta) -> bytes:
    out = io.StringIO()
    writer = _InertWriter(out)
    writer.writerow([meta.title])
    writer.writerow([meta.unit_name, period_line(meta)])
    writer.writerow([legend()])
    for table in tables:
        writer.writerow([])
        writer.writerow([table.title])
        if table.unit_line:
            writer.writerow([table.unit_line])
        writer.writerows(table_grid(table))
        if table.note:
            writer.writerow([table.note])
    writer.writerow([])
    writer.writerow([_("Timeliness")])
    writer.writerows(timeliness_rows(meta.timeliness))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def sheet_name(title: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", " ", title)[:28].strip()
    base, n = name, 2
    while name in used:
        name = f"{base[:25]} ({n})"
        n += 1
    used.add(name)
    return name


def to_xlsx(tables: list[ShownTable], meta: ReportMeta) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook()
    summary = book.active
    assert isinstance(summary, Worksheet)  # a new workbook has one worksheet
    summary.title = sheet_name(_("Summary"), set())
    used = {summary.title}
    summary.append([inert_text(meta.title)])
    summary["A1"].font = Font(bold=True, size=13)
    summary.append([inert_text(meta.unit_name)])
    summary.append([inert_text(period_line(meta))])
    summary.append([inert_text(legend())])
    summary.append([])
    for row in timeliness_rows(meta.timeliness):
        summary.append([inert_text(v) for v in row])
    summary.column_dimensions["A"].width = 48
    for table in tables:
        table_sheet(book, table, used)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


_COUNT = re.compile(r"-?[0-9]{1,15}")


def count_cell(value: str) -> int | str:
    """A count is a number cell (a negative one too); anything else is inert text."""
    return int(value) if _COUNT.fullmatch(value) else inert_text(value)


def to_docx(tables: list[ShownTable], meta: ReportMeta) -> bytes:
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    doc = new_document()
    heading_block(
        doc,
        meta.parent_name,
        meta.unit_name,
        f"Số: ……/BC-{meta.unit_code}",
        date_line(meta.place, meta.issued_on),
    )
    doc.add_paragraph()
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(meta.title.upper())
    run.bold = True
    period = doc.add_paragraph(period_line(meta))
    period.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph().add_run(legend()).italic = True

    for number, table in enumerate(tables, start=1):
        heading = doc.add_paragraph()
        heading.add_run(f"{number}. {table.title}").bold = True
        if table.unit_line:
            doc.add_paragraph().add_run(table.unit_line).italic = True
        grid_table(doc, table_grid(table))
        if table.note:
            note = doc.add_paragraph(table.note)
            note.runs[0].italic = True
    heading = doc.add_paragraph()
    heading.add_run(f"{len(tables) + 1}. {_('Timeliness')}").bold = True
    for label, value in timeliness_rows(meta.timeliness):
        doc.add_paragraph(f"- {label}: {value}")

    return closed_document(doc)


def closed_document(doc) -> bytes:
    """The document's bytes after the standard closing block of an administrative document:
    "Nơi nhận" on the left, the head of the unit's signature on the right."""
    closing = doc.add_table(rows=1, cols=2)
    left, right = closing.rows[0].cells
    cell_lines(left, [("Nơi nhận:", True), ("- Như trên;", False), ("- Lưu: VT.", False)], size=11)
    cell_lines(
        right,
        [("THỦ TRƯỞNG ĐƠN VỊ", True), ("(Ký, ghi rõ họ tên, đóng dấu)", False)],
        italic_last=True,
    )
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def new_document():
    """An empty A4 document: margins 3/2/2/2 cm, Times New Roman 13 (Decree 30/2020)."""
    from docx import Document
    from docx.shared import Cm, Pt

    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin, section.right_margin = Cm(3), Cm(2)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(13)
    return doc


def date_line(place: str, day: date) -> str:
    return f"{place}, ngày {day.day:02d} tháng {day.month:02d} năm {day.year}"


def heading_block(doc, parent_name: str, unit_name: str, number_line: str, dated: str) -> None:
    """The two columns at the top: governing body, unit and number; motto and date."""
    header = doc.add_table(rows=1, cols=2)
    left, right = header.rows[0].cells
    cell_lines(
        left, [(parent_name.upper(), False), (unit_name.upper(), True), (number_line, False)]
    )
    cell_lines(
        right,
        [
            ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", True),
            ("Độc lập - Tự do - Hạnh phúc", True),
            (dated, False),
        ],
        italic_last=True,
    )


def grid_table(doc, grid: list[list[str]], bold_last: bool = True) -> None:
    """A bordered table of ``grid`` in 11 pt, its first (and last) row bold."""
    from docx.shared import Pt

    out = doc.add_table(rows=len(grid), cols=len(grid[0]))
    out.style = "Table Grid"
    # Row by row: Table.cell() lists every cell of the table again at each call, which made a
    # table of a few hundred rows (the processing record's columns) take seconds.
    for r, (shown, row) in enumerate(zip(out.rows, grid, strict=True)):
        if len(row) > len(grid[0]):
            raise ValueError(f"row {r} has {len(row)} values for {len(grid[0])} columns")
        for cell, value in zip(shown.cells, row, strict=False):  # a short row: blanks after
            cell.text = value
            for paragraph in cell.paragraphs:
                for run in paragraph.runs:
                    run.font.size = Pt(11)
                    run.bold = r == 0 or (bold_last and r == len(grid) - 1)


def table_sheet(book, table: ShownTable, used: set[str]) -> None:
    """A sheet holding one shown table: title, unit of count, grid (counts as numbers), note."""
    from openpyxl.styles import Alignment, Font

    sheet = book.create_sheet(sheet_name(table.title, used))
    sheet.append([inert_text(table.title)])
    sheet["A1"].font = Font(bold=True)
    if table.unit_line:
        sheet.append([inert_text(table.unit_line)])
        sheet["A2"].font = Font(italic=True)
    for i, row in enumerate(table_grid(table)):
        sheet.append([count_cell(v) for v in row])
        if i == 0:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(wrap_text=True)
    if table.note:
        sheet.append([])
        sheet.append([inert_text(table.note)])
    sheet.column_dimensions["A"].width = 44


def cell_lines(cell, lines, italic_last=False, size=None) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    cell.paragraphs[0].text = ""
    for i, (line, bold) in enumerate(lines):
        paragraph = cell.paragraphs[0] if i == 0 else cell.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = paragraph.add_run(line)
        run.bold = bold
        run.italic = italic_last and i == len(lines) - 1
        if size:
            run.font.size = Pt(size)


def export(fmt: str, tables: list[ShownTable], meta: ReportMeta) -> bytes:
    return {"xlsx": to_xlsx, "csv": to_csv, "docx": to_docx}[fmt](tables, meta)
