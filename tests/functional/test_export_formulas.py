"""No export can carry a live spreadsheet formula: a unit name such as =HYPERLINK(...) reaches
the report's CSV and XLSX (summary and per-unit sheets) and the audit CSV as plain text; a
number, a negative one too, stays a number."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from caseapp.models import AuditEvent, Unit
from caseapp.services.org import units
from caseapp.services.reports import exports as report_exports
from caseapp.services.reports.suppression import Published
from caseapp.services.reports.view import ShownTable
from tests.factories import Visitor

# The four shapes of the outside review: a formula, DDE, an @-function and a sum with a sign.
FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"]
EXPORT = (
    "/reports/export?unit={unit}&period=custom&date_from=2020-01-01&date_to=2020-06-30&format={fmt}"
)
# A cell a spreadsheet would evaluate: it starts with one of these and is not a plain number.
STARTS_A_FORMULA = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?[\d.,]+%?")


def live(value) -> bool:
    text = "" if value is None else str(value)
    return text.startswith(STARTS_A_FORMULA) and not PLAIN_NUMBER.fullmatch(text)


@pytest.fixture()
def named(db, world):
    """Every unit of the tree renamed to ``formula`` (with its code, so the names differ)."""

    def rename(formula: str) -> None:
        for code in ("PRV", "D1", "D2", "SCH-A", "SCH-B", "SCH-C"):
            unit = db.get(Unit, world.units[code])
            suffix = "" if code == "D1" else f" {code}"  # D1 carries the value exactly
            units.update_unit(db, None, unit, formula + suffix, unit.kind, unit.version)
        db.commit()

    return rename


def _export(app, db, world, who, code, fmt) -> bytes:
    r = Visitor(app, db, world[who], lang="vi").get(EXPORT.format(unit=code, fmt=fmt))
    assert r.status_code == 200, r.status_code
    return r.data


def _csv_cells(content: bytes) -> list[str]:
    rows = csv.reader(io.StringIO(content.decode("utf-8-sig")))
    return [cell for row in rows for cell in row]


def _xlsx_cells(content: bytes) -> list:
    book = load_workbook(io.BytesIO(content))
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize(("who", "code"), [("officer_d1", "D1"), ("officer_p", "PRV")])
def test_a_unit_name_is_plain_text_in_the_report_csv(app, db, world, named, formula, who, code):
    named(formula)
    cells = _csv_cells(_export(app, db, world, who, code, "csv"))
    assert not [c for c in cells if live(c)]
    # The name is there, as text: the heading (D1) or its row of the per-unit table (PRV).
    assert "'" + formula in cells


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize(("who", "code"), [("officer_d1", "D1"), ("officer_p", "PRV")])
def test_a_unit_name_is_plain_text_in_the_report_xlsx(app, db, world, named, formula, who, code):
    named(formula)
    cells = _xlsx_cells(_export(app, db, world, who, code, "xlsx"))
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert not [(c.parent.title, c.coordinate, c.value) for c in cells if live(c.value)]
    names = [c.parent.title for c in cells if isinstance(c.value, str) and formula in c.value]
    assert len(set(names)) >= 2  # the summary sheet and the per-unit sheet both name units
    # The counts are still numbers.
    assert any(isinstance(c.value, int) for c in cells)


@pytest.mark.parametrize("formula", FORMULAS)
def test_the_docx_keeps_the_name_as_written(app, db, world, named, formula):
    """A Word document does not evaluate formulas: the name reads as written there."""
    named(formula)
    doc = Document(io.BytesIO(_export(app, db, world, "officer_d1", "D1", "docx")))
    text = "\n".join(
        [p.text for p in doc.paragraphs]
        + [c.text for t in doc.tables for row in t.rows for c in row.cells]
    )
    assert formula.upper() in text  # the heading block writes unit names in capitals


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_unit_name_is_plain_text_in_the_audit_csv(app, db, world, named, formula):
    named(formula)
    r = Visitor(app, db, world["auditor_p"], lang="en").get("/audit/events.csv")
    assert r.status_code == 200
    cells = _csv_cells(r.data)
    assert not [c for c in cells if live(c)]
    db.expire_all()
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "unit.update"))


def _table(cells: list[list[int | None]]) -> ShownTable:
    values = Published(
        cells=cells,
        row_totals=[sum(r) for r in cells],
        col_totals=[sum(c) for c in zip(*cells, strict=True)],
        total=sum(map(sum, cells)),
    )
    return ShownTable(
        "per_unit", "Theo đơn vị", "", [FORMULAS[0], FORMULAS[2]], ["Nữ", "Nam"], values
    )


def _meta() -> report_exports.ReportMeta:
    return report_exports.ReportMeta(
        unit_name=FORMULAS[3],
        parent_name=FORMULAS[1],
        unit_code="D1",
        date_from=date(2020, 1, 1),
        date_to=date(2020, 6, 30),
        title="Báo cáo",
        place="P",
        issued_on=date(2020, 7, 1),
        timeliness={
            "median_days_to_verification": -2,
            "median_days_to_closure": 3.5,
            "verification_days": 7,
            "share_verified_within_deadline": 50,
        },
    )


def test_numbers_stay_numbers_and_text_is_inert(app):
    """Made-up figures: a negative count is a number cell, a negative median plain text."""
    with app.test_request_context():
        book = report_exports.to_xlsx([_table([[-3, 2], [1, 4]])], _meta())
        content = report_exports.to_csv([_table([[-3, 2], [1, 4]])], _meta())
    cells = _xlsx_cells(book)
    values = [c.value for c in cells if c.value is not None]
    assert -3 in values and 2 in values  # counts are numbers, the negative one too
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert not [v for v in values if live(v)]
    assert "'" + FORMULAS[0] in values and "'" + FORMULAS[3] in values
    assert "-2" in values  # a number written as text (the medians are) cannot run either
    text = _csv_cells(content)
    assert not [c for c in text if live(c)]
    assert "-3" in text and "'" + FORMULAS[0] in text
