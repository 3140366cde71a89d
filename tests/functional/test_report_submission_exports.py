"""Schools submit frozen, hashed period reports; officers see who is late and combine them;
exports (XLSX, CSV, DOCX, and the command line) hide small counts and are audited."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from docx import Document
from flask_babel import force_locale
from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from caseapp.labels import report_labels
from caseapp.models import AuditEvent, ReportSnapshot
from caseapp.services.audit.trail import record
from caseapp.services.cases import people
from caseapp.services.cases.people import PersonInput
from caseapp.services.reports import periods as reports
from caseapp.services.reports import tables as report_tables
from caseapp.services.reports.view import unit_lines
from tests.factories import Visitor, complete_work_report
from tests.functional.report_support import CASES, PERIOD, build_period_data, new_case, unit, user
from tests.functional.workflow_support import text_of


def annual() -> reports.Period:
    """The annual period ending 31 October 2020, due 15 November 2020: long over."""
    return next(p for p in reports.periods_of(2020) if p.kind == "annual")


SPECS = {spec.key: spec for spec in CASES}
SUBMIT = "/equality/submit"  # the period report is submitted from the gender-equality report
EXPORT = (
    "/reports/export?unit={unit}&period=custom&date_from=2020-01-01&date_to=2020-06-30&format={fmt}"
)


def _snapshots(db, code=None) -> list[ReportSnapshot]:
    stmt = select(ReportSnapshot).where(ReportSnapshot.period_key == annual().key)
    if code:
        stmt = stmt.where(ReportSnapshot.unit_id == unit_id_of(db, code))
    return list(db.scalars(stmt))


def unit_id_of(db, code):
    from caseapp.services.org.units import unit_by_code

    return unit_by_code(db, code).id


def _events(db, action) -> list[AuditEvent]:
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
    )


def _table(data: dict, key: str) -> dict:
    t = next(t for t in data["tables"] if t["key"] == key)
    return {row: tuple(cells) for row, cells in zip(t["rows"], t["cells"], strict=True)}


def _complete(db, world, code="SCH-A", who="focal_a"):
    """The school's gender-equality report of the period written (statistics, sections)."""
    complete_work_report(db, world[who], unit(db, world, code), annual())
    db.commit()


def _submit(db, world, code="SCH-A", who="focal_a"):
    _complete(db, world, code, who)
    snap = reports.submit(db, user(db, world, who), unit(db, world, code), annual())
    db.commit()
    return snap


# Submission ------------------------------------------------------------------------------


def test_a_submitted_report_is_frozen_and_hashed(app, db, world):
    a1, _a2 = (new_case(db, world, SPECS[k]) for k in ("A1", "A2"))
    db.commit()
    _complete(db, world)
    focal = Visitor(app, db, world["focal_a"], lang="en")
    out = focal.submit(SUBMIT, {"unit": "SCH-A", "period": annual().key, "confirm": "y"})
    assert out.status_code == 302 and "fingerprint" in out.text
    [snap] = _snapshots(db, "SCH-A")
    frozen = snap.data
    assert snap.sha256 == hashlib.sha256(frozen.encode("utf-8")).hexdigest()
    # (female, male, other, not recorded, several sexes)
    assert _table(json.loads(frozen), "per_unit") == {"SCH-A": (1, 1, 0, 0, 0)}
    [event] = _events(db, "report.submit")
    assert json.loads(event.changes)["sha256"] == snap.sha256
    assert event.actor_name == "focal.a"

    # Editing the case's person harmed afterwards changes the live report, not the submitted
    # one.
    girl = a1.harmed_people[0]
    people.update_person(
        db,
        user(db, world, "focal_a"),
        a1,
        girl.uid,
        PersonInput("harmed", "male", girl.age_band, role=girl.role, child=girl.child),
        a1.version,
    )
    db.commit()
    db.expire_all()
    live = report_tables.build(db, unit(db, world, "SCH-A"), annual().date_from, annual().date_to)
    assert _table(live.as_dict(), "per_unit") == {"SCH-A": (0, 2, 0, 0, 0)}
    [snap] = _snapshots(db, "SCH-A")
    assert snap.data == frozen and reports.snapshot_intact(snap)
    page = focal.get(f"/reports/snapshots/{snap.id}")
    assert page.status_code == 200 and "Altered" not in text_of(page)

    out = focal.submit(SUBMIT, {"unit": "SCH-A", "period": annual().key, "confirm": "y"})
    assert "already submitted" in out.text
    assert len(_snapshots(db, "SCH-A")) == 1


def test_submission_needs_the_figures_confirmed(app, db, world):
    _complete(db, world)
    focal = Visitor(app, db, world["focal_a"], lang="en")
    out = focal.submit(SUBMIT, {"unit": "SCH-A", "period": annual().key})
    assert out.status_code == 302
    assert _snapshots(db) == [] and _events(db, "report.submit") == []


@pytest.mark.parametrize(
    ("who", "code", "status"),
    [
        ("officer_d1", "SCH-A", 403),  # officers do not submit a school's (no case.write)
        ("focal_b", "SCH-A", 404),  # another school's report is not found
        ("focal_a", "D1", 404),  # nor the office's above
    ],
)
def test_only_the_schools_focal_point_submits(app, db, world, who, code, status):
    _complete(db, world)
    out = Visitor(app, db, world[who], lang="en").submit(
        SUBMIT, {"unit": code, "period": annual().key, "confirm": "y"}
    )
    assert out.status_code == status
    assert _snapshots(db) == [] and _events(db, "report.submit") == []


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("focal_a", 200),
        ("officer_d1", 200),
        ("officer_p", 200),
        ("focal_b", 404),
        ("officer_d2", 404),
        ("auditor_p", 404),
    ],
)
def test_a_snapshot_is_seen_within_scope_only(app, db, world, who, status):
    snap = _submit(db, world)
    assert (
        Visitor(app, db, world[who], lang="en").get(f"/reports/snapshots/{snap.id}").status_code
        == status
    )


@pytest.mark.parametrize(("days_after_end", "offered"), [(0, False), (1, True)])
def test_the_submit_button_appears_once_the_period_is_over(
    app, db, world, monkeypatch, days_after_end, offered
):
    from caseapp.equality import narrative
    from caseapp.services.reports import periods

    for module in (narrative, periods):  # the page's date and the submit rule's
        monkeypatch.setattr(
            module, "local_today", lambda: annual().date_to + timedelta(days=days_after_end)
        )
    page = text_of(
        Visitor(app, db, world["focal_a"], lang="en").get(
            f"/equality/?unit=SCH-A&period={annual().key}"
        )
    )
    assert ("Submit to the unit above" in page) is offered


@pytest.mark.parametrize(("days_after_end", "accepted"), [(-1, False), (0, False), (1, True)])
def test_a_period_is_submitted_once_it_has_ended(db, world, monkeypatch, days_after_end, accepted):
    monkeypatch.setattr(
        reports, "local_today", lambda: annual().date_to + timedelta(days=days_after_end)
    )
    if accepted:
        assert _submit(db, world).period_key == annual().key
    else:
        with force_locale("en"), pytest.raises(reports.ValidationFailed, match="not ended"):
            _submit(db, world)
        assert _snapshots(db) == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE report_snapshots SET data = '{}'",
        "DELETE FROM report_snapshots",
        "TRUNCATE report_snapshots",
    ],
)
def test_database_refuses_to_rewrite_a_snapshot(db, world, statement):
    if statement.startswith("TRUNCATE") and db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE statement (DELETE is refused instead)")
    snap = _submit(db, world)
    nested = db.begin_nested()
    with pytest.raises(DatabaseError, match="append-only"):
        db.execute(text(statement))
    nested.rollback()
    db.expire_all()
    assert [s.data for s in _snapshots(db)] == [snap.data] and reports.snapshot_intact(snap)


def _submission_rows(page: str) -> dict[str, str]:
    section = page.split("Submissions by the schools", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*><td>([^<]+)</td>\s*<td>(.*?)</td>", section, re.S)
    return {name: re.sub(r"<[^>]+>", "", state).strip() for name, state in rows}


@pytest.mark.parametrize(
    ("today", "school_b"), [(None, "late: not submitted"), (date(2020, 11, 10), "not yet")]
)
def test_officer_sees_who_submitted_and_who_is_late(app, db, world, monkeypatch, today, school_b):
    _submit(db, world)  # now, years after the due date: late
    if today:
        monkeypatch.setattr(reports, "local_today", lambda: today)
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    page = text_of(officer.get(f"/reports/?unit=D1&period={annual().key}"))
    rows = _submission_rows(page)
    assert set(rows) == {"Trường A", "Trường B"}
    assert rows["Trường A"].endswith("late") and rows["Trường B"] == school_b


@pytest.mark.parametrize(
    ("submitted_at", "late"),
    [
        (datetime(2020, 11, 15, 16, 59, tzinfo=UTC), False),  # 23:59 on the due date in Vietnam
        (datetime(2020, 11, 15, 17, 0, tzinfo=UTC), True),  # already 16 November there
    ],
)
def test_lateness_is_judged_on_the_date_in_vietnam(db, world, submitted_at, late):
    school = unit(db, world, "SCH-B")
    snap = ReportSnapshot(
        unit_id=school.id,
        period_key=annual().key,
        date_from=annual().date_from,
        date_to=annual().date_to,
        due_on=annual().due_on,
        data="{}",
        sha256=hashlib.sha256(b"{}").hexdigest(),
        submitted_at=submitted_at,
        submitted_by_id=world["focal_b"].id,
    )
    db.add(snap)
    record(db, None, "report.submit", snap, unit=school)
    db.commit()
    db.expire_all()
    rows = {r["unit"].code: r for r in reports.submissions(db, unit(db, world, "D1"), annual())}
    assert rows["SCH-B"]["snapshot"].id == snap.id and rows["SCH-B"]["late"] is late


def test_combined_report_is_built_from_the_snapshots(app, db, world):
    for key in ("A1", "A2", "B1"):
        new_case(db, world, SPECS[key])
    db.commit()
    _submit(db, world)
    new_case(db, world, SPECS["A3"])  # after SCH-A submitted: not in its frozen figures
    db.commit()
    d1 = unit(db, world, "D1")
    report, submitted, schools = reports.combined(db, d1, annual())
    assert (submitted, schools) == (1, 2)
    per_unit = report.table("per_unit")
    assert {r: tuple(per_unit.cell(r, c) for c in per_unit.cols) for r in per_unit.rows} == {
        "SCH-A": (1, 1, 0, 0, 0),
        "SCH-B": (0, 1, 0, 0, 0),
    }  # SCH-B has not submitted: live
    violence = report.table("violence_by_sex")
    assert violence.cell("sexual_harassment", "female") == 0  # A3 came too late
    assert [violence.col_total(c) for c in violence.cols] == [1, 2, 0, 0, 0]
    page = Visitor(app, db, world["officer_d1"], lang="en").get(
        f"/reports/combined?unit=D1&period={annual().key}"
    )
    assert page.status_code == 200
    assert "Built from 1 submitted school reports of 2" in text_of(page)
    assert (
        Visitor(app, db, world["focal_a"], lang="en")
        .get(f"/reports/combined?unit=SCH-A&period={annual().key}")
        .status_code
        == 403
    )


# Exports ---------------------------------------------------------------------------------


@pytest.fixture()
def officer(app, db, world):
    build_period_data(db, world)
    return Visitor(app, db, world["officer_d1"], lang="vi")


def _export(officer, fmt, code="D1"):
    r = officer.get(EXPORT.format(unit=code, fmt=fmt))
    assert r.status_code == 200, r.status_code
    assert r.headers["Content-Disposition"] == (
        f'attachment; filename="bao-cao-{code}-20200101-20200630.{fmt}"'
    )
    return r


def _vi_labels():
    with force_locale("vi"):
        return report_labels()


def _vi_unit_lines():
    """The line under each title: "Đơn vị tính: người" and so on (the catalogue's words)."""
    with force_locale("vi"):
        return unit_lines()


def _small(value) -> bool:
    return str(value).strip() in {"1", "2", "3", "4"}


@pytest.mark.parametrize(
    ("fmt", "mimetype"),
    [
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("csv", "text/csv"),
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ],
)
def test_export_is_a_file_and_is_audited(db, officer, fmt, mimetype):
    r = _export(officer, fmt)
    assert r.mimetype == mimetype and len(r.data) > 200
    [event] = _events(db, "report.export")
    assert event.actor_name == "officer.d1" and event.object_ref == "D1"
    assert json.loads(event.changes) == {
        "format": fmt,
        "from": "2020-01-01",
        "to": "2020-06-30",
        "suppressed": True,
    }


def test_xlsx_has_a_sheet_per_table_in_vietnamese_with_small_cells_hidden(officer):
    book = load_workbook(io.BytesIO(_export(officer, "xlsx").data))
    labels = _vi_labels()
    assert len(book.sheetnames) == 1 + len(labels["titles"])  # a summary, then the tables
    summary = [v for row in book.worksheets[0].iter_rows(values_only=True) for v in row if v]
    # D1's timeliness comes from 4 verified and 2 closed cases, under the threshold: the
    # medians (7 and 60 days) and the share (75%) would describe those cases, so they are
    # hidden on export, and the summary says why.
    assert "Phòng Giáo dục D1" in summary
    assert not {"7", "60", "75%", "7.0", "60.0"} & set(summary)
    with force_locale("vi"):
        from flask_babel import gettext

        assert gettext("Figures drawn from fewer than %(n)d cases are hidden.", n=5) in summary
    # Each sheet: the title, what its cells count, then the table.
    sheets = {
        sheet["A1"].value: [list(r) for r in sheet.iter_rows(min_row=3, values_only=True)]
        for sheet in book.worksheets[1:]
    }
    assert set(sheets) == set(labels["titles"].values())
    lines = _vi_unit_lines()
    counted = {sheet["A1"].value: sheet["A2"].value for sheet in book.worksheets[1:]}
    assert counted[labels["titles"]["age_by_sex"]] == lines["people"]
    assert counted[labels["titles"]["per_unit"]] == lines["cases"]
    assert set(counted.values()) == set(lines.values())
    violence = sheets[labels["titles"]["violence_by_sex"]]
    assert violence[0][1:3] == ["Nữ", "Nam"]
    physical = next(r for r in violence if r[0] == "Bạo lực thể chất")
    assert physical[1:5] == ["<5", "<5", 0, "<5"]  # (1, 1, 0, 1) in D1
    per_unit = sheets[labels["titles"]["per_unit"]]
    assert [r[0] for r in per_unit[1:3]] == ["Trường A", "Trường B"]
    for key, title in labels["titles"].items():
        values = [v for r in sheets[title][1:] for v in r[1:]]
        if key != "activities":
            assert "<5" in values and not any(_small(v) for v in values), key
    activities = sheets[labels["titles"]["activities"]]
    training = next(r for r in activities if r[0] == labels["rows"]["activities"]["training"])
    # Not suppressed; the row total adds up participants, not activities and people.
    assert training[1:6] == [2, 15, 17, 1, 33]


def test_docx_is_laid_out_as_an_administrative_report(officer):
    doc = Document(io.BytesIO(_export(officer, "docx").data))
    header = [c.text for c in doc.tables[0].rows[0].cells]
    assert "SỞ GIÁO DỤC TỈNH P" in header[0] and "PHÒNG GIÁO DỤC D1" in header[0]
    assert "Số: ……/BC-D1" in header[0]
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in header[1]
    assert "Độc lập - Tự do - Hạnh phúc" in header[1]
    assert re.search(r"ngày \d{2} tháng \d{2} năm \d{4}", header[1])
    closing = " ".join(c.text for c in doc.tables[-1].rows[0].cells)
    assert "Nơi nhận:" in closing
    labels = _vi_labels()
    body = [p.text for p in doc.paragraphs]
    titles = list(labels["titles"].values())
    assert [t for t in body if re.match(r"\d+\. ", t)][: len(titles)] == [
        f"{n}. {title}" for n, title in enumerate(titles, start=1)
    ]
    lines = _vi_unit_lines()
    headings = [i for i, t in enumerate(body) if re.match(r"\d+\. ", t)][: len(titles)]
    assert [body[i + 1] for i in headings] == [
        lines[report_tables.TABLE_COUNTS.get(key, "cases")] for key in labels["titles"]
    ]
    tables = doc.tables[1:-1]
    assert len(tables) == len(titles)
    grids = [[[c.text for c in row.cells] for row in t.rows] for t in tables]
    assert grids[0][0][1:3] == ["Nữ", "Nam"]
    for key, grid in zip(labels["titles"], grids, strict=True):
        values = [v for row in grid[1:] for v in row[1:]]
        if key != "activities":
            assert "<5" in values and not any(_small(v) for v in values), key


def test_csv_hides_small_cells(officer):
    content = _export(officer, "csv").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    labels = _vi_labels()
    assert rows[1][0] == "Phòng Giáo dục D1"
    sections, current = {}, None
    counted = {}
    for previous, row in zip(rows[1:], rows[2:], strict=False):
        if len(row) == 1 and row[0] in labels["titles"].values():
            current = row[0]
            sections[current] = []
        elif current and len(row) > 1:
            sections[current].append(row)
        elif len(row) == 1 and previous == [current]:
            counted[current] = row[0]
    assert set(sections) == set(labels["titles"].values())
    lines = _vi_unit_lines()
    assert counted == {
        title: lines[report_tables.TABLE_COUNTS.get(key, "cases")]
        for key, title in labels["titles"].items()
    }
    for key, title in labels["titles"].items():
        values = [v for row in sections[title][1:] for v in row[1:]]
        if key != "activities":
            assert "<5" in values and not any(_small(v) for v in values), key


def _docx_tables(content: bytes) -> list:
    doc = Document(io.BytesIO(content))
    return [[[c.text for c in row.cells] for row in t.rows] for t in doc.tables]


def test_command_line_export_writes_the_same_tables(app, db, officer, tmp_path):
    out = tmp_path / "d1.docx"
    result = app.test_cli_runner().invoke(
        args=[
            "reports",
            "export",
            "--unit",
            "D1",
            "--from",
            "2020-01-01",
            "--to",
            "30/06/2020",
            "--format",
            "docx",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "docx report of D1 written" in result.output
    assert _docx_tables(out.read_bytes()) == _docx_tables(_export(officer, "docx").data)
    assert [e.actor_name for e in _events(db, "report.export")] == ["system", "officer.d1"]


def test_command_line_export_refuses_an_unknown_unit(app, db, tmp_path):
    result = app.test_cli_runner().invoke(
        args=[
            "reports",
            "export",
            "--unit",
            "NOPE",
            "--from",
            "2020-01-01",
            "--to",
            "2020-06-30",
            "--out",
            str(tmp_path / "x.xlsx"),
        ]
    )
    assert result.exit_code != 0 and "unknown unit NOPE" in result.output
    assert not (tmp_path / "x.xlsx").exists()


@pytest.mark.parametrize(
    "url",
    [
        "/reports/?unit=D1",
        "/reports/?unit=SCH-B",
        EXPORT.format(unit="D1", fmt="xlsx"),
        EXPORT.format(unit="SCH-B", fmt="docx"),
        EXPORT.format(unit="PRV", fmt="csv"),
    ],
)
def test_focal_point_cannot_see_or_export_other_units(app, db, world, url):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    assert focal.get(url).status_code == 404
    assert _events(db, "report.export") == []
    assert focal.get(EXPORT.format(unit="SCH-A", fmt="csv")).status_code == 200  # its own


def test_bad_export_requests_are_refused_without_an_audit_event(db, officer):
    for query in (
        "format=pdf",
        "format=xlsx&period=custom&date_from=2020-06-30&date_to=2020-01-01",
    ):
        r = officer.get(f"/reports/export?unit=D1&{query}")
        assert r.status_code == 302
    assert (
        db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "report.export")
        )
        == 0
    )


def test_period_constants_match_the_fixture(db):
    assert annual().date_from <= PERIOD[0] and PERIOD[1] <= annual().date_to
    assert annual().due_on == date(2020, 11, 15)
