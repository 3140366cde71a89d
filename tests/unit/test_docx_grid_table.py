"""grid_table, the bordered table of every DOCX export (reports, the gender-equality document,
the processing record): each value in its own cell, row by row, the header (and the total row)
bold, 11 pt; a short row ends in blank cells; a row longer than the header is refused rather
than spilled into the next row or cut."""

from __future__ import annotations

import pytest
from docx import Document
from docx.shared import Pt

from caseapp.services.reports.exports import grid_table


def _runs(cell):
    return [run for paragraph in cell.paragraphs for run in paragraph.runs]


def test_every_value_lands_in_its_cell_with_the_header_and_total_bold():
    grid = [["Kind", "Girls", "Boys"], ["Physical", "3", "4"], ["Total", "3", "4"]]
    doc = Document()
    grid_table(doc, grid)
    (table,) = doc.tables
    assert [[cell.text for cell in row.cells] for row in table.rows] == grid
    for r, row in enumerate(table.rows):
        for cell in row.cells:
            (run,) = _runs(cell)
            assert run.font.size == Pt(11)
            assert bool(run.bold) == (r in (0, 2))


def test_a_long_table_keeps_its_rows_in_order_and_the_last_row_plain_when_asked():
    grid = [["Column", "Purpose"], *[[f"t.c{i}", f"p{i}"] for i in range(300)]]
    doc = Document()
    grid_table(doc, grid, bold_last=False)
    (table,) = doc.tables
    assert [[cell.text for cell in row.cells] for row in table.rows] == grid
    assert not _runs(table.rows[-1].cells[0])[0].bold


def test_a_short_row_ends_in_blank_cells():
    doc = Document()
    grid_table(doc, [["a", "b", "c"], ["only"]])
    assert [cell.text for cell in doc.tables[0].rows[1].cells] == ["only", "", ""]


def test_a_row_longer_than_the_header_is_refused():
    with pytest.raises(ValueError, match="row 1 has 3 values for 2 columns"):
        grid_table(Document(), [["a", "b"], ["1", "2", "3"]])
