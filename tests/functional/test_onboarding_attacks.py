"""Attacks on the onboarding import found by review, kept as tests: a few kilobytes of
workbook declaring a million rows, a workbook that unpacks to hundreds of megabytes, and a
batch whose request must name in the trail who is put forward for which role."""

from __future__ import annotations

import io
import json
import re
import time
import tracemalloc
import zipfile

import pytest
from openpyxl import Workbook

from caseapp.errors import ValidationFailed
from caseapp.services.accounts.imports import COLUMNS
from caseapp.services.org.sheets import read_table
from tests.factories import Visitor
from tests.functional.admin_support import audit_head, events_after
from tests.functional.test_onboarding_import import ACCOUNT_HEADINGS, _csv, _post


def _workbook(edit) -> bytes:
    """An accounts workbook whose first sheet's XML is passed through ``edit``."""
    book = Workbook()
    sheet = book.active
    sheet.append(ACCOUNT_HEADINGS)
    sheet.append(["a.b", "A B", "", "SCH-A", "focal_point", ""])
    out = io.BytesIO()
    book.save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = edit(data.decode()).encode()
            target.writestr(item.filename, data, compresslevel=9)
    return result.getvalue()


@pytest.mark.parametrize("declared", [True, False])
def test_a_workbook_declaring_a_million_rows_is_refused_at_once(app, declared):
    def edit(xml: str) -> str:
        dimension = '<dimension ref="A1:XFD1048576"/>' if declared else ""
        xml = re.sub(r'<dimension ref="[^"]*"/>', dimension, xml)
        return xml.replace(
            "</sheetData>",
            '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row>'
            "</sheetData>",
        )

    data = _workbook(edit)
    assert len(data) < 10_000
    started = time.monotonic()
    with app.test_request_context(), pytest.raises(ValidationFailed):
        read_table(data, "a.xlsx", COLUMNS)
    assert time.monotonic() - started < 10


def test_a_workbook_unpacking_to_a_hundred_megabytes_is_refused_before_reading(app):
    """A few hundred kilobytes that unpack to 100 MB of cell text: refused from the sizes the
    archive declares, before any of it is read (memory measured while reading)."""

    def edit(xml: str) -> str:
        big = "A" * 1_000_000
        rows = "".join(
            f'<row r="{r}"><c r="B{r}" t="inlineStr"><is><t>{big}</t></is></c></row>'
            for r in range(3, 103)
        )
        return xml.replace("</sheetData>", rows + "</sheetData>")

    data = _workbook(edit)
    assert len(data) < 1_000_000
    tracemalloc.start()
    try:
        with app.test_request_context(), pytest.raises(ValidationFailed):
            read_table(data, "a.xlsx", COLUMNS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


def test_a_batch_request_names_every_account_and_role_in_the_trail(app, db, world):
    """A grant asked for an existing account in a batch is named in the request's event, so a
    rejected or expired batch still shows who was put forward for what."""
    start = audit_head(db)
    admin = Visitor(app, db, world["admin_d1"], lang="en")
    rows = [["no.grants", "Person no.grants", "", "SCH-A", "Cán bộ quản lý", "D1"]]
    r = _post(admin, "/admin/import/accounts", _csv(ACCOUNT_HEADINGS, rows), "a.csv")
    assert r.status_code == 200
    request = next(e for e in events_after(db, start) if e.action == "approval.request")
    assert json.loads(request.changes)["grants"] == [[2, "no.grants", "officer", "D1"]]
