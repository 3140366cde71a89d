"""The gender-equality work report as a document: the DOCX holds every part of an
administrative report (Decree 30/2020) with the user's text as plain text, the XLSX its tables
with inert text; both routes answer only readers of the unit and are audited once."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pytest
from docx import Document
from flask_babel import force_locale
from openpyxl import load_workbook
from sqlalchemy import select

from caseapp.models import AuditEvent, ReportSnapshot
from caseapp.services.equality import sections
from caseapp.services.equality.document import to_docx
from caseapp.services.equality.document_xlsx import to_xlsx
from caseapp.services.equality.work import WorkReport
from caseapp.services.reports import periods as reports
from caseapp.services.reports import tables as report_tables
from caseapp.services.reports.view import shown_tables, shown_timeliness
from tests.factories import Visitor, complete_work_report
from tests.functional.report_support import (
    PERIOD,
    build_period_data,
    frozen_snapshot,
    unit,
    user,
)
from tests.functional.test_report_exclusions import colleague, hidden_case  # noqa: F401

FORMULA = '=HYPERLINK("http://evil.example","x")'
SIX_MONTH = "six_month:2020"  # 01/11/2019 - 30/04/2020, due 15/05/2020


def _work(**changes) -> WorkReport:
    texts = {key: f"Nội dung {key} của trường." for key in sections.SECTIONS}
    texts["prevention"] = "Xử lý <w:t>kết thúc</w:t> & giữ bí mật.\nDòng thứ hai."
    values = {
        "unit_code": "SCH-A",
        "unit_name": "Trường A",
        "parent_name": "Phòng Giáo dục D1",
        "unit_kind": "school",
        "period_key": SIX_MONTH,
        "date_from": date(2019, 11, 1),
        "date_to": date(2020, 4, 30),
        "due_on": date(2020, 5, 15),
        "sections": texts,
        "number": "12",
        "signer_title": "Hiệu trưởng",
        "signer_name": "Lê Thị Hoa",
        "recipients": ["Phòng Giáo dục D1", "- Lưu: VT", "  "],
        "plan": {"year": 2020, "text": "Kế hoạch", "approved": True, "approved_on": "2020-01-05"},
        "targets": [
            {"title": "Tỉ lệ nữ cán bộ quản lý", "measure": "%", "target": 40, "result": 45},
            {"title": FORMULA, "measure": "người", "target": 200, "result": 150},
        ],
        "statistics": {"teachers_female": 31, "teachers_male": 9, "women_leaders": 2},
        "previous": {"teachers_female": 30, "teachers_male": 10, "women_leaders": 1},
        "activities": [
            {
                "held_on": "2019-11-20",
                "campaign": "gender:2019",
                "kind": "action_month_gender",
                "audience": "pupils",
                "title": "Ngoại khóa bình đẳng giới",
                "female": 120,
                "male": 115,
                "other": 0,
                "results": "Học sinh hiểu về bình đẳng giới",
                "materials": [],
                "unit": "SCH-A",
            }
        ],
    }
    values.update(changes)
    return WorkReport(**values)


def _case_tables(db, world):
    report = report_tables.build(db, unit(db, world, "SCH-A"), *PERIOD)
    shown = shown_tables(report, suppressed=True, unit_names=reports.unit_names(db, report))
    return shown, shown_timeliness(report.timeliness, suppressed=True)


def _read(content: bytes) -> tuple[list[str], list[list[list[str]]]]:
    doc = Document(io.BytesIO(content))
    paragraphs = [p.text for p in doc.paragraphs]
    grids = [[[c.text for c in row.cells] for row in t.rows] for t in doc.tables]
    return paragraphs, grids


def _cells(grid) -> list[str]:
    return [line for row in grid for cell in row for line in cell.split("\n")]


def test_the_docx_holds_every_part_of_the_report(app, db, world):
    build_period_data(db, world)
    tables, timeliness = _case_tables(db, world)
    with force_locale("en"):
        content = to_docx(_work(), tables, timeliness, issued_on=date(2020, 5, 10), place="Phú Thọ")
        names = sections.section_names()
    paragraphs, grids = _read(content)
    heading, closing = grids[0], grids[-1]
    left, right = _cells([[heading[0][0]]]), _cells([[heading[0][1]]])
    assert left == ["PHÒNG GIÁO DỤC D1", "TRƯỜNG A", "Số: 12/BC-SCH-A"]
    assert right == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Phú Thọ, ngày 10 tháng 05 năm 2020",
    ]
    assert "BÁO CÁO" in paragraphs
    assert (
        "Kết quả thực hiện công tác bình đẳng giới và vì sự tiến bộ của phụ nữ 6 tháng đầu năm 2020"
    ) in paragraphs
    assert "From 01/11/2019 to 30/04/2020" in paragraphs
    assert f"I. {names['general'].upper()}" in paragraphs
    assert "II. KẾT QUẢ THỰC HIỆN CÁC NHIỆM VỤ" in paragraphs
    for number, key in enumerate(sections.TASKS, start=1):
        assert f"{number}. {names[key]}" in paragraphs
    for key in sections.SECTIONS:
        if key != "prevention":
            assert f"Nội dung {key} của trường." in paragraphs
    # The user's text is text: markup stays as typed, lines stay lines.
    assert "Xử lý <w:t>kết thúc</w:t> & giữ bí mật." in paragraphs
    assert "Dòng thứ hai." in paragraphs
    assert paragraphs.index("III. KHÓ KHĂN, VƯỚNG MẮC") < paragraphs.index("IV. ĐỀ XUẤT, KIẾN NGHỊ")
    assert any("are hidden" in p for p in paragraphs)  # the suppression legend
    assert any("<5" in c for grid in grids[1:-1] for c in _cells(grid))  # a hidden cell
    stats = next(g for g in grids if g[0][1:4] == ["Female", "Male", "Total"])
    assert ["Teachers", "31", "9", "40", "30", "10", "40"] in stats
    assert ["Women in leadership positions", "2", "—", "2", "1", "—", "1"] in stats
    targets = next(g for g in grids if g[0][0] == "Target")
    assert ["Tỉ lệ nữ cán bộ quản lý", "%", "40", "45", "Yes"] in targets
    assert [FORMULA, "người", "200", "150", "No"] in targets
    activities = next(g for g in grids if g[0][0] == "Date")
    row = activities[1]
    assert row[0] == "20/11/2019" and row[2] == "Ngoại khóa bình đẳng giới"
    assert "15/11 - 15/12/2019" in row[1] and row[3:6] == ["120", "115", "0"]
    assert row[6] == "Học sinh hiểu về bình đẳng giới"
    assert _cells([[closing[0][0]]]) == ["Nơi nhận:", "- Phòng Giáo dục D1", "- Lưu: VT"]
    signature = [line for line in _cells([[closing[0][1]]]) if line]
    assert signature == ["HIỆU TRƯỞNG", "(Ký, ghi rõ họ tên, đóng dấu)", "Lê Thị Hoa"]


def test_an_empty_report_says_none_and_does_not_fail(app, db, world):
    empty = _work(sections={}, number="", recipients=[], targets=[], activities=[])
    empty.statistics = empty.previous = None
    empty.signer_title = empty.signer_name = ""
    paragraphs, grids = _read(to_docx(empty, [], {}, issued_on=date(2020, 5, 10)))
    assert paragraphs.count("(không có)") >= len(sections.SECTIONS) + 3
    assert _cells([[grids[0][0][0]]])[-1] == "Số: ……/BC-SCH-A"
    assert "……, ngày 10 tháng 05 năm 2020" in _cells([[grids[0][0][1]]])
    load_workbook(io.BytesIO(to_xlsx(empty, [], {})))  # opens


def test_the_xlsx_has_its_tables_with_numbers_and_inert_text(app, db, world):
    build_period_data(db, world)
    tables, timeliness = _case_tables(db, world)
    with force_locale("en"):
        book = load_workbook(io.BytesIO(to_xlsx(_work(), tables, timeliness)))
    names = book.sheetnames
    assert names[0] == "Summary" and len(names) == 1 + len(tables) + 3
    assert names[-3:] == ["Unit statistics", "Targets", "Activities"]
    summary = [row[0] for row in book["Summary"].iter_rows(values_only=True)]
    assert "Trường A" in summary and any("hidden" in str(v) for v in summary)
    stats = list(book["Unit statistics"].iter_rows(values_only=True))
    assert ("Teachers", 31, 9, 40, 30, 10, 40) in stats
    targets = list(book["Targets"].iter_rows(values_only=True))
    assert ("'" + FORMULA, "người", 200, 150, "No") in targets
    assert not [
        c.value
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith("=")
    ]


# Routes -------------------------------------------------------------------------------------

DOCUMENT = "/equality/document?unit={unit}&period=" + SIX_MONTH + "&format={fmt}"


def _events(db) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == "work.export")))


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
def test_the_draft_document_is_a_file_and_is_audited_once(app, db, world, fmt):
    r = Visitor(app, db, world["focal_a"], lang="en").get(DOCUMENT.format(unit="SCH-A", fmt=fmt))
    assert r.status_code == 200, r.data
    disposition = r.headers["Content-Disposition"]
    assert f'filename="bao-cao-binh-dang-gioi-SCH-A-2020-6t.{fmt}"' in disposition
    [event] = _events(db)
    assert event.actor_name == "focal.a" and event.object_ref == "SCH-A"
    assert json.loads(event.changes) == {
        "format": fmt,
        "period": SIX_MONTH,
        "snapshot": "draft",
        "suppressed": True,
    }
    if fmt == "docx":
        paragraphs, grids = _read(r.data)
        assert "TRƯỜNG A" in _cells([[grids[0][0][0]]])


@pytest.mark.parametrize(
    ("who", "code"), [("focal_b", "SCH-A"), ("officer_d2", "SCH-A"), ("focal_a", "D1")]
)
def test_another_unit_s_document_is_not_found(app, db, world, who, code):
    r = Visitor(app, db, world[who], lang="en").get(DOCUMENT.format(unit=code, fmt="docx"))
    assert r.status_code == 404 and _events(db) == []


def test_an_unknown_format_or_period_is_told(app, db, world):
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    r = visitor.get(DOCUMENT.format(unit="SCH-A", fmt="pdf"))
    assert r.status_code == 400 and b"choose DOCX or XLSX" in r.data
    r = visitor.get("/equality/document?unit=SCH-A&period=weekly:2020&format=docx")
    assert r.status_code == 400 and b"Unknown report period" in r.data
    assert _events(db) == []


def _snapshot(db, world, with_work: bool) -> ReportSnapshot:
    school = unit(db, world, "SCH-A")
    period = reports.period_by_key(SIX_MONTH)
    data = report_tables.build(db, school, period.date_from, period.date_to).as_dict()
    if with_work:
        data["work"] = _work().as_dict()
    return frozen_snapshot(
        db,
        school,
        period,
        data,
        user(db, world, "focal_a"),
        datetime(2020, 5, 12, 3, 0, tzinfo=UTC),
    )


def test_a_submitted_document_is_dated_and_fingerprinted(app, db, world):
    snap = _snapshot(db, world, with_work=True)
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    page = officer.get(f"/reports/snapshots/{snap.id}").get_data(as_text=True)
    assert f"/equality/snapshots/{snap.id}/document?format=docx" in page  # offered there
    r = officer.get(f"/equality/snapshots/{snap.id}/document?format=docx")
    assert r.status_code == 200
    paragraphs, grids = _read(r.data)
    assert "ngày 12 tháng 05 năm 2020" in _cells([[grids[0][0][1]]])[-1]
    assert "Nội dung general của trường." in paragraphs
    assert f"Submitted report, fingerprint {snap.sha256[:16]}." in paragraphs
    [event] = _events(db)
    assert json.loads(event.changes)["snapshot"] == snap.id
    xlsx = officer.get(f"/equality/snapshots/{snap.id}/document?format=xlsx")
    assert xlsx.status_code == 200 and len(_events(db)) == 2
    assert officer.get(f"/equality/snapshots/{snap.id}/document?format=odt").status_code == 400
    other = Visitor(app, db, world["officer_d2"], lang="en")
    assert other.get(f"/equality/snapshots/{snap.id}/document").status_code == 404
    assert len(_events(db)) == 2


def test_a_snapshot_from_before_the_work_report_gives_its_tables_only(app, db, world):
    snap = _snapshot(db, world, with_work=False)
    r = Visitor(app, db, world["focal_a"], lang="en").get(
        f"/equality/snapshots/{snap.id}/document?format=docx"
    )
    assert r.status_code == 200
    paragraphs, _grids = _read(r.data)
    assert any("case tables only" in p and snap.sha256[:16] in p for p in paragraphs)
    assert "(không có)" in paragraphs


def test_an_excluded_officer_s_document_leaves_the_case_out(
    app,
    db,
    world,
    hidden_case,  # noqa: F811 - the fixture
):
    """officer_d1 is excluded from a case at SCH-A: their draft leaves it out of the tables,
    the submitted report (every case counted) is not theirs to read."""
    url = "/equality/document?unit=SCH-A&period=six_month:2018&format=docx"

    def total(who) -> str:
        r = Visitor(app, db, world[who], lang="en").get(url)
        assert r.status_code == 200
        _paragraphs, grids = _read(r.data)
        return grids[1][-1][-1]  # the first case table's grand total

    assert total("focal_a") == "<5" and total("officer_d1") == "0"
    focal = user(db, world, "focal_a")
    with app.test_request_context():
        period = reports.period_by_key("annual:2018")
        complete_work_report(db, focal, unit(db, world, "SCH-A"), period)
        snap = reports.submit(db, focal, unit(db, world, "SCH-A"), period)
    db.commit()
    snapshot_url = f"/equality/snapshots/{snap.id}/document"
    assert Visitor(app, db, world["officer_d1"]).get(snapshot_url).status_code == 404
    assert Visitor(app, db, world["officer_p"]).get(snapshot_url).status_code == 200
