"""People, not one person per case: a fight with two girls and a boy harmed (and two girls and
a boy alleged to have done it) counts 2 and 1 in every table of persons and 1, under "several
sexes", in every table of cases: on the screen, in XLSX, CSV and DOCX. Every table says what it
counts. Small cells stay hidden in what leaves the unit, the new column included, and reports
frozen before persons were counted one by one still read and combine."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import re
from datetime import date

import pytest
from docx import Document
from flask_babel import force_locale
from openpyxl import load_workbook

from caseapp.labels import report_labels
from caseapp.services.cases import steps as step_service
from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case
from caseapp.services.cases.people import PersonInput
from caseapp.services.cases.steps import StepInput
from caseapp.services.reports import periods as reports
from caseapp.services.reports import tables as report_tables
from caseapp.services.reports.suppression import suppress
from caseapp.services.reports.view import column_names, shown_tables, unit_lines
from tests.factories import Visitor
from tests.functional.report_support import frozen_snapshot, unit, user

DAY = date(2016, 5, 10)  # a day no other report test uses
PEOPLE_TABLES = ("age_by_sex", "role_by_sex", "perpetrators_by_relationship_sex")
CASE_TABLES = ("violence_by_sex", "status_at_end", "findings", "support_by_service", "per_unit")
# The one row of each table the case falls in.
ROW = {
    "age_by_sex": "11-14",
    "role_by_sex": "pupil",
    "perpetrators_by_relationship_sex": "pupil_peer",
    "violence_by_sex": "physical",
    "status_at_end": "in_progress",  # verification due ten days after intake
    "findings": "not_verified",
    "support_by_service": "counselling",
    "per_unit": "SCH-A",
}
QUERY = f"unit=SCH-A&period=custom&date_from={DAY.isoformat()}&date_to={DAY.isoformat()}"


def _pupil(position: str, sex: str) -> PersonInput:
    if position == "harmed":
        return PersonInput("harmed", sex, "11-14", role="pupil", child=True)
    return PersonInput("perpetrator", sex, "11-14", relationship="pupil_peer")


def group_case(db, world, code="SCH-A", sexes=("female", "female", "male"), on=DAY):
    """A fight at ``code``: the persons harmed are of ``sexes`` (the first one through the
    intake's own fields, the others as more people), and so are the alleged perpetrators;
    counselling given to the first person harmed on the day."""
    focal = user(db, world, {"SCH-A": "focal_a", "SCH-B": "focal_b"}[code])
    first, *more = sexes
    details = CaseDetails(
        received_on=on,
        received_via="in_person",
        reporter_kind="teacher",
        setting="in_school",
        violence_types=["physical"],
        child=True,
        harmed_sex=first,
        harmed_age_band="11-14",
        harmed_role="pupil",
        perpetrator_sex=first,
        perpetrator_age_band="11-14",
        perpetrator_relationship="pupil_peer",
        perpetrator_count=1,
        risk_level="medium",
        more_people=[_pupil("harmed", s) for s in more] + [_pupil("perpetrator", s) for s in more],
    )
    case = create_case(db, focal, unit(db, world, code), details, CaseContent())
    db.flush()
    step_service.add_step(
        db,
        focal,
        case,
        StepInput(
            kind="support",
            person=case.harmed_people[0].uid,
            service="counselling",
            status="provided",
            done_on=on,
        ),
    )
    db.commit()
    return case


def _labels(lang: str = "en") -> tuple[dict, dict[str, str]]:
    """The names of the tables as shown, and the lines saying what they count."""
    with force_locale(lang):
        names = report_labels()
        names["cols"] = column_names(names)
        return names, unit_lines()


def _check_grids(grids: dict[str, tuple[str, list[list[str]]]], world_names: dict) -> None:
    """``grids``: {table title: (the line under it, its grid of texts: header, rows, totals)}.
    Every table of persons shows female 2, male 1 in its row; every table of cases 1 under
    several sexes; nothing else but zeros; each says what it counts."""
    names, lines = _labels()
    sexes = names["cols"]["sex"]
    for key in (*PEOPLE_TABLES, *CASE_TABLES):
        title = names["titles"][key]
        line, grid = grids[title]
        header = grid[0][1:-1]
        row = world_names[ROW[key]] if key == "per_unit" else names["rows"][key][ROW[key]]
        nonzero = {
            (r[0], header[j]): v
            for r in grid[1:-1]
            for j, v in enumerate(r[1:-1])
            if v not in ("0", "")
        }
        if key in PEOPLE_TABLES:
            assert line == lines["people"], key
            assert sexes["mixed"] not in header, key
            assert nonzero == {(row, sexes["female"]): "2", (row, sexes["male"]): "1"}, key
            assert grid[-1][-1] == "3", key  # three persons
        else:
            assert line == lines["cases"], key
            assert header[-1] == sexes["mixed"], key
            assert nonzero == {(row, sexes["mixed"]): "1"}, key
            assert grid[-1][-1] == "1", key  # one case
    activities = grids[names["titles"]["activities"]][0]
    assert activities == lines["activities"]


def test_the_built_report_counts_persons_and_cases(db, world):
    group_case(db, world)
    report = report_tables.build(db, unit(db, world, "SCH-A"), DAY, DAY)
    for key in PEOPLE_TABLES:
        table = report.table(key)
        assert table.counts == "people" and table.as_dict()["counts"] == "people"
        assert table.cols == list(report_tables.SEX_COLUMNS)
        got = {k: v for k, v in table.cells.items() if v}
        assert got == {(ROW[key], "female"): 2, (ROW[key], "male"): 1}, key
    for key in CASE_TABLES:
        table = report.table(key)
        assert table.counts == "cases" and table.as_dict()["counts"] == "cases"
        assert table.cols == [*report_tables.SEX_COLUMNS, "mixed"]
        assert {k: v for k, v in table.cells.items() if v} == {(ROW[key], "mixed"): 1}, key
        assert table.total() == 1
    assert report.table("activities").counts == "activities"


def test_a_withdrawn_person_is_not_counted(db, world):
    from caseapp.services.cases import people

    case = group_case(db, world)
    boy = next(p for p in case.harmed_people if p.sex == "male")
    people.withdraw_person(db, user(db, world, "focal_a"), case, boy.uid, case.version, "Ghi nhầm")
    db.commit()
    report = report_tables.build(db, unit(db, world, "SCH-A"), DAY, DAY)
    assert {k: v for k, v in report.table("age_by_sex").cells.items() if v} == {
        ("11-14", "female"): 2
    }
    # Two girls left: the case is a case of girls now.
    assert {k: v for k, v in report.table("per_unit").cells.items() if v} == {
        ("SCH-A", "female"): 1
    }


def _screen_grids(page: str) -> dict:
    grids = {}
    for section in re.findall(r'<section class="card report-table".*?</section>', page, re.S):
        title = html.unescape(re.search(r"<h2>\d+\. (.*?)</h2>", section).group(1))
        line = re.search(r'<p class="muted unit-of-count">(.*?)</p>', section)
        thead = re.search(r"<thead>(.*?)</thead>", section, re.S).group(1)
        grid = [["", *[html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", thead)]]]
        for body in re.findall(r"<tr><th scope=\"row\">(.*?)</tr>", section, re.S):
            name, rest = body.split("</th>", 1)
            cells = re.findall(r"<td>(?:<strong>)?(.*?)(?:</strong>)?</td>", rest)
            grid.append([html.unescape(name), *[html.unescape(c) for c in cells]])
        grids[title] = (html.unescape(line.group(1)) if line else "", grid)
    return grids


def _csv_grids(content: bytes) -> dict:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    titles = set(_labels()[0]["titles"].values())
    grids, current = {}, None
    for row in rows:
        if len(row) == 1 and row[0] in titles:
            current = row[0]
            grids[current] = ("", [])
        elif current and len(row) == 1 and not grids[current][1]:
            grids[current] = (row[0], [])
        elif current and len(row) > 1:
            grids[current][1].append(row)
        elif not row:
            current = None
    return grids


def _xlsx_grids(content: bytes) -> dict:
    book = load_workbook(io.BytesIO(content))
    grids = {}
    for sheet in book.worksheets[1:]:
        rows = [["" if v is None else str(v) for v in r] for r in sheet.iter_rows(values_only=True)]
        grid = []
        for r in rows[2:]:
            if not any(r):
                break
            grid.append(r)
        grids[rows[0][0]] = (rows[1][0], grid)
    return grids


def _docx_grids(content: bytes) -> dict:
    doc = Document(io.BytesIO(content))
    paragraphs = [p.text for p in doc.paragraphs]
    headings = [i for i, t in enumerate(paragraphs) if re.match(r"\d+\. ", t)]
    tables = doc.tables[1:-1]
    grids = {}
    for i, table in zip(headings, tables, strict=False):
        title = paragraphs[i].split(". ", 1)[1]
        grids[title] = (paragraphs[i + 1], [[c.text for c in row.cells] for row in table.rows])
    return grids


@pytest.fixture()
def no_threshold(app, monkeypatch):
    """Exports with nothing hidden (threshold 1), so that the figures themselves are read."""
    settings = app.extensions["caseapp.settings"]
    monkeypatch.setitem(
        app.extensions, "caseapp.settings", dataclasses.replace(settings, small_cell_threshold=1)
    )


def test_two_girls_and_a_boy_on_the_screen(app, db, world):
    group_case(db, world)
    page = Visitor(app, db, world["focal_a"], lang="en").get(f"/reports/?{QUERY}")
    assert page.status_code == 200
    _check_grids(_screen_grids(page.get_data(as_text=True)), {"SCH-A": "Trường A"})


@pytest.mark.parametrize(
    ("fmt", "grids"), [("xlsx", _xlsx_grids), ("csv", _csv_grids), ("docx", _docx_grids)]
)
def test_two_girls_and_a_boy_in_every_export(app, db, world, no_threshold, fmt, grids):
    group_case(db, world)
    out = Visitor(app, db, world["focal_a"], lang="en").get(f"/reports/export?{QUERY}&format={fmt}")
    assert out.status_code == 200
    _check_grids(grids(out.data), {"SCH-A": "Trường A"})


@pytest.mark.parametrize("fmt", ["screen", "xlsx", "csv", "docx"])
def test_the_small_counts_of_a_group_stay_hidden_outside_the_unit(app, db, world, fmt):
    """At the real threshold the 2 and the 1 (and the 3 they add up to) read <5 everywhere a
    report leaves the unit."""
    group_case(db, world)
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    if fmt == "screen":
        grids = _screen_grids(visitor.get(f"/reports/?{QUERY}&view=export").get_data(as_text=True))
    else:
        content = visitor.get(f"/reports/export?{QUERY}&format={fmt}").data
        grids = {"xlsx": _xlsx_grids, "csv": _csv_grids, "docx": _docx_grids}[fmt](content)
    names, _lines = _labels()
    for key in (*PEOPLE_TABLES, *CASE_TABLES):
        _line, grid = grids[names["titles"][key]]
        values = {v for row in grid[1:] for v in row[1:]}
        assert values <= {"0", "<5"} and "<5" in values, (key, values)


def test_the_column_of_several_sexes_is_protected_like_the_others(app, db, world):
    """Six cases of girls, five of boys and one of a girl and a boy: the one case under
    "several sexes" is hidden, and so is another count of its row and its column total, so
    that it cannot be worked out from the totals."""
    for sexes in [("female",)] * 6 + [("male",)] * 5 + [("female", "male")]:
        group_case(db, world, code="SCH-B", sexes=sexes)
    report = report_tables.build(db, unit(db, world, "SCH-B"), DAY, DAY)
    with app.test_request_context():
        shown = {t.key: t for t in shown_tables(report, suppressed=True)}
    violence = shown["violence_by_sex"].values
    physical = report.table("violence_by_sex").rows.index("physical")
    assert report.table("violence_by_sex").cells[("physical", "mixed")] == 1
    row = violence.cells[physical]
    assert row[-1] is None  # the one case of several sexes
    assert sum(v is None for v in row) >= 2  # and one more, or the row total gives it away
    assert violence.col_totals[-1] is None
    per_unit = shown["per_unit"].values
    assert per_unit.cells[0][-1] is None and sum(v is None for v in per_unit.cells[0]) >= 2
    # The persons: seven girls and six boys harmed, nothing small.
    age = shown["age_by_sex"].values
    band = report.table("age_by_sex").rows.index("11-14")
    assert age.cells[band][:2] == [7, 6]


def test_suppression_of_a_five_column_table():
    """The algorithm on its own: a small count in the last column hides a partner in its row
    and its column; the published totals leave every hidden cell unknown."""
    published = suppress([[12, 9, 0, 0, 2], [7, 8, 0, 0, 0]], [19, 17, 0, 0, 2], 5)
    assert published.cells[0][4] is None
    assert sum(v is None for v in published.cells[0]) >= 2
    assert published.col_totals[4] is None
    hidden = [(r, c) for r in range(2) for c in range(5) if published.cells[r][c] is None]
    for r, c in hidden:  # each hidden cell shares its row and its column with another
        assert any(h != (r, c) and h[0] == r for h in hidden) or published.row_totals[r] is None
        assert any(h != (r, c) and h[1] == c for h in hidden) or published.col_totals[c] is None


# Reports frozen before persons were counted one by one ------------------------------------


def _old_format(data: dict) -> dict:
    """A report as snapshots stored it before this change: no "counts", no "mixed" column."""
    old = json.loads(json.dumps(data))
    for t in old["tables"]:
        t.pop("counts")
        if "mixed" in t["cols"]:
            j = t["cols"].index("mixed")
            t["cols"].pop(j)
            t["col_totals"].pop(j)
            for row in t["cells"]:
                row.pop(j)
    return old


def _annual_2016() -> reports.Period:
    return next(p for p in reports.periods_of(2016) if p.kind == "annual")


@pytest.fixture()
def old_snapshot(db, world):
    """SCH-B's report of 2016 with one girl harmed, frozen in the old format."""
    period = _annual_2016()
    group_case(db, world, code="SCH-B", sexes=("female",))
    school = unit(db, world, "SCH-B")
    data = _old_format(report_tables.build(db, school, period.date_from, period.date_to).as_dict())
    return frozen_snapshot(db, school, period, data, user(db, world, "focal_b"))


def test_an_old_snapshot_reads_with_its_defaults(db, world, old_snapshot):
    report = reports.snapshot_report(old_snapshot)
    for key in PEOPLE_TABLES:
        assert report.table(key).counts == "people"
        assert report.table(key).cols == list(report_tables.SEX_COLUMNS)
    for key in CASE_TABLES:
        table = report.table(key)
        assert table.counts == "cases"
        assert table.cols == [*report_tables.SEX_COLUMNS, "mixed"]
        assert table.col_total("mixed") == 0 and table.total() == 1
    assert report.table("per_unit").cell("SCH-B", "female") == 1
    assert report.table("activities").counts == "activities"


def test_an_old_snapshot_renders(app, db, world, old_snapshot):
    page = Visitor(app, db, world["officer_d1"], lang="en").get(
        f"/reports/snapshots/{old_snapshot.id}"
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Altered" not in text
    grids = _screen_grids(text)
    names, lines = _labels()
    for key in PEOPLE_TABLES:
        assert grids[names["titles"][key]][0] == lines["people"]
    per_unit_line, per_unit = grids[names["titles"]["per_unit"]]
    assert per_unit_line == lines["cases"]
    assert per_unit[0][1:] == [
        *[names["cols"]["sex"][c] for c in report_tables.GROUP_COLUMNS],
        "Total",
    ]
    assert per_unit[1] == ["Trường B", "1", "0", "0", "0", "0", "1"]


def test_an_old_snapshot_combines_with_live_figures(db, world, old_snapshot):
    group_case(db, world)  # SCH-A has not submitted: its figures are live
    report, submitted, schools = reports.combined(db, unit(db, world, "D1"), _annual_2016())
    assert (submitted, schools) == (1, 2)
    per_unit = report.table("per_unit")
    assert {k: v for k, v in per_unit.cells.items() if v} == {
        ("SCH-A", "mixed"): 1,
        ("SCH-B", "female"): 1,
    }
    assert per_unit.counts == "cases"
    age = report.table("age_by_sex")
    assert age.counts == "people"
    assert {k: v for k, v in age.cells.items() if v} == {
        ("11-14", "female"): 3,
        ("11-14", "male"): 1,
    }
    violence = report.table("violence_by_sex")
    assert [violence.col_total(c) for c in violence.cols] == [1, 0, 0, 0, 1]
