"""A unit's gender-equality work report as a DOCX in the layout of an administrative report
(Decree 30/2020/ND-CP, appendix I): heading block, title and subject, the narrative sections,
the statistics (violence cases with small cells suppressed, the unit's figures by sex, targets
beside results, activities), difficulties, proposals, recipients and signature. Every text
from users goes in as a plain run (python-docx escapes it)."""

from __future__ import annotations

import io
from datetime import date

from flask_babel import gettext as _

from caseapp.services.equality import sections
from caseapp.services.equality.document_rows import (
    DASH,
    NONE_TEXT,
    activity_rows,
    period_text,
    statistics_rows,
    subject_line,
    target_rows,
)
from caseapp.services.equality.work import WorkReport
from caseapp.services.reports.exports import (
    cell_lines,
    date_line,
    grid_table,
    heading_block,
    legend,
    new_document,
    table_grid,
    timeliness_rows,
)
from caseapp.services.reports.view import ShownTable


def _bold(doc, text: str, center: bool = False):
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    paragraph = doc.add_paragraph()
    if center:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.add_run(text).bold = True
    return paragraph


def _text(doc, value: str) -> None:
    """A section's text, a paragraph per line; "(không có)" when it is empty."""
    lines = [line for line in (value or "").splitlines() if line.strip()]
    for line in lines or [NONE_TEXT]:
        doc.add_paragraph().add_run(line)


def _rows_or_none(doc, rows: list[list[str]], title: str) -> None:
    _bold(doc, title)
    if rows:
        grid_table(doc, rows, bold_last=False)
    else:
        doc.add_paragraph().add_run(NONE_TEXT)


def _case_tables(doc, tables: list[ShownTable], timeliness: dict) -> None:
    _bold(doc, _("Violence and abuse cases"))
    doc.add_paragraph().add_run(legend()).italic = True
    for number, table in enumerate(tables, start=1):
        doc.add_paragraph().add_run(f"{number}. {table.title}").bold = True
        if table.unit_line:
            doc.add_paragraph().add_run(table.unit_line).italic = True
        grid_table(doc, table_grid(table))
        if table.note:
            doc.add_paragraph().add_run(table.note).italic = True
    if timeliness:
        for label, value in timeliness_rows(timeliness):
            doc.add_paragraph().add_run(f"- {label}: {value}")


def _closing(doc, work: WorkReport) -> None:
    closing = doc.add_table(rows=1, cols=2)
    left, right = closing.rows[0].cells
    # Each line "- <recipient>", as typed without a dash of its own.
    named = [r.strip().lstrip("-–• ").strip() for r in work.recipients]
    recipients = [f"- {r}" for r in named if r] or ["- Lưu: VT."]
    cell_lines(left, [("Nơi nhận:", True), *[(r, False) for r in recipients]], size=11)
    cell_lines(
        right,
        [
            ((work.signer_title or "Thủ trưởng đơn vị").upper(), True),
            ("(Ký, ghi rõ họ tên, đóng dấu)", False),
        ],
        italic_last=True,
    )
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    for paragraph in left.paragraphs:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT  # recipients read from the left
    for _blank in range(3):
        right.add_paragraph()
    signer = right.add_paragraph()
    signer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    signer.add_run(work.signer_name or DASH).bold = True


def to_docx(
    work: WorkReport,
    tables: list[ShownTable],
    timeliness: dict,
    *,
    issued_on: date | None = None,
    place: str = "",
    fingerprint: str = "",
) -> bytes:
    """The report as DOCX, dated ``issued_on`` (today for a draft, the submission day for a
    snapshot); ``fingerprint``: the line that marks a submitted one, printed small at the end."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    from caseapp.clock import local_today

    names = sections.section_names()
    doc = new_document()
    heading_block(
        doc,
        work.parent_name,
        work.unit_name,
        f"Số: {work.number.strip() or '……'}/BC-{work.unit_code}",
        date_line(place or "……", issued_on or local_today()),
    )
    doc.add_paragraph()
    _bold(doc, "BÁO CÁO", center=True)
    _bold(doc, subject_line(work), center=True)
    doc.add_paragraph(period_text(work)).alignment = WD_ALIGN_PARAGRAPH.CENTER

    _bold(doc, f"I. {names['general'].upper()}")
    _text(doc, work.sections.get("general", ""))
    _bold(doc, "II. KẾT QUẢ THỰC HIỆN CÁC NHIỆM VỤ")
    for number, key in enumerate(sections.TASKS, start=1):
        _bold(doc, f"{number}. {names[key]}")
        _text(doc, work.sections.get(key, ""))
    n = len(sections.TASKS)
    _bold(doc, f"{n + 1}. {_('Statistics tables')}")
    _case_tables(doc, tables, timeliness)
    _rows_or_none(doc, statistics_rows(work), _("The unit's statistics by sex"))
    _rows_or_none(doc, target_rows(work), _("Targets and results"))
    _rows_or_none(doc, activity_rows(work), _("Activities and their results"))

    _bold(doc, "III. KHÓ KHĂN, VƯỚNG MẮC")
    _text(doc, work.sections.get("difficulties", ""))
    _bold(doc, "IV. ĐỀ XUẤT, KIẾN NGHỊ")
    _text(doc, work.sections.get("proposals", ""))
    doc.add_paragraph()
    _closing(doc, work)
    if fingerprint:
        from docx.shared import Pt

        mark = doc.add_paragraph().add_run(fingerprint)
        mark.font.size = Pt(9)
        mark.italic = True
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
