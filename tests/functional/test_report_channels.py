"""Part 7 of the self-report issue: cases by channel and the self-reports of a period in the
period report, against hand counts, with small cells hidden on export like every table."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook

from caseapp.labels import report_labels
from caseapp.services.reports import channels, rollups
from caseapp.services.reports import tables as report_tables
from caseapp.services.reports.view import shown_tables, shown_timeliness
from tests.factories import Visitor, selects, signed_in_as, statements_sent
from tests.functional.report_support import CASES, PERIOD, build_period_data, new_case, unit, user
from tests.functional.selfreport_support import add_self_report

EXPORT = (
    "/reports/export?unit={unit}&period=custom&date_from=2020-01-01&date_to=2020-06-30&format={fmt}"
)


def _rows(table) -> dict:
    return {r: tuple(table.cell(r, c) for c in table.cols) for r in table.rows}


@pytest.fixture()
def data(db, world):
    return build_period_data(db, world)


def test_cases_by_channel_by_sex(db, world, data):
    # Two more cases at SCH-A, received from the public page: a girl and a boy.
    for key, sex in (("A1", "female"), ("A2", "male")):
        spec = next(s for s in CASES if s.key == key)
        case = new_case(db, world, replace(spec, key=f"S{key}", sex=sex))
        case.received_via = "self_report"
    db.commit()
    report = report_tables.build(db, unit(db, world, "SCH-A"), *PERIOD)
    table = report.table("cases_by_channel")
    assert table.counts == "cases"
    assert table.cols == list(report_tables.GROUP_COLUMNS)
    rows = _rows(table)
    assert rows["self_report"][:2] == (1, 1)
    # A1, A3, A4 female, A2 male: recorded by staff.
    assert rows["staff_intake"][:2] == (3, 1)
    assert table.total() == report.table("violence_by_sex").total()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("PRV", {"open": 1, "accepted": 1, "merged": 0, "closed": 1, "spam": 1}),
        ("D1", {"open": 1, "accepted": 1, "merged": 0, "closed": 1, "spam": 1}),
        ("SCH-A", {"open": 0, "accepted": 1, "merged": 0, "closed": 1, "spam": 1}),
        ("D2", {"open": 0, "accepted": 0, "merged": 0, "closed": 0, "spam": 0}),
    ],
)
def test_self_reports_by_outcome_count_at_their_school(db, world, data, code, expected):
    table = report_tables.build(db, unit(db, world, code), *PERIOD).table("self_reports")
    assert table.counts == "reports"
    assert {r: table.cell(r, "reports") for r in table.rows} == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # SCH-A: 0, 2 and 5 days; SCH-B: one not answered (SCH-C's is after the period).
        ("PRV", (3, 1, 2.0, 33.3, 66.7)),
        ("SCH-A", (3, 0, 2.0, 33.3, 66.7)),
        ("D2", (0, 0, None, None, None)),
    ],
)
def test_time_to_first_reply(db, world, data, code, expected):
    t = report_tables.build(db, unit(db, world, code), *PERIOD).timeliness
    assert (
        t["self_reports_answered"],
        t["self_reports_not_answered"],
        t["median_days_to_first_reply"],
        t["share_answered_within_1_day"],
        t["share_answered_within_3_days"],
    ) == expected


def test_median_of_grouped_counts():
    assert channels.median_of_counts([]) is None
    assert channels.median_of_counts([(4, 1)]) == 4
    assert channels.median_of_counts([(0, 2), (3, 1)]) == 0
    assert channels.median_of_counts([(1, 2), (5, 2)]) == 3
    assert channels.median_of_counts([(0, 1), (2, 5), (9, 100)]) == 9


def test_many_self_reports_cost_no_more_queries(db, world):
    engine = db.get_bind().engine
    school = unit(db, world, "SCH-C")
    rollups.refresh(db)  # the marks the seed's units left
    with statements_sent(engine) as sent:
        report_tables.build(db, school, *PERIOD)
    empty = len(selects(sent))
    for day in range(1, 29):
        add_self_report(db, school, date(2020, 2, day), "closed", first_reply_on=date(2020, 3, day))
    db.commit()
    with statements_sent(engine) as sent:
        report = report_tables.build(db, school, *PERIOD)
    assert len(selects(sent)) == empty
    assert report.table("self_reports").cell("closed", "reports") == 28
    assert report.timeliness["median_days_to_first_reply"] == 29.0


def test_small_counts_are_hidden_when_the_report_leaves_the_unit(app, db, world, data):
    report = report_tables.build(db, unit(db, world, "D1"), *PERIOD)
    with app.test_request_context():
        shown = {t.key: t for t in shown_tables(report, suppressed=True)}
        exact = {t.key: t for t in shown_tables(report, suppressed=False)}
        timing = shown_timeliness(report.timeliness, suppressed=True)
    assert exact["self_reports"].values.total == 4
    hidden = shown["self_reports"].values
    assert all(v is None for row in hidden.cells for v in row if v != 0)
    assert hidden.total is None
    assert all(v in (None, 0) for row in shown["cases_by_channel"].values.cells for v in row)
    # Three replies: their median and shares would be those reports' own delays.
    assert timing["median_days_to_first_reply"] is None
    assert timing["share_answered_within_1_day"] is None
    assert timing["self_reports_not_answered"] is None
    assert timing["hidden"] is True


def test_the_exports_hold_both_tables(app, db, world, data):
    officer = Visitor(app, db, world["officer_d1"], lang="vi")
    with force_locale("vi"):
        labels = report_labels()
    titles = (labels["titles"]["cases_by_channel"], labels["titles"]["self_reports"])
    book = load_workbook(io.BytesIO(officer.get(EXPORT.format(unit="D1", fmt="xlsx")).data))
    sheets = {s["A1"].value: s for s in book.worksheets[1:]}
    for title in titles:
        assert title in sheets
    grid = [list(r) for r in sheets[titles[1]].iter_rows(min_row=3, values_only=True)]
    spam = next(r for r in grid if r[0] == labels["rows"]["self_reports"]["spam"])
    assert spam[1] == "<5"
    summary = [v for row in book.worksheets[0].iter_rows(values_only=True) for v in row if v]
    with force_locale("vi"):
        from flask_babel import gettext

        assert gettext("Median days from a self-report to the first reply") in summary
    content = officer.get(EXPORT.format(unit="D1", fmt="csv")).data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    assert [titles[0]] in rows and [titles[1]] in rows
    page = officer.get("/reports/?unit=D1&period=custom&date_from=2020-01-01&date_to=2020-06-30")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="t-cases_by_channel"' in html and 'id="t-self_reports"' in html


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_self_report_of_a_case_the_viewer_is_excluded_from_leaves_with_it(
    db, world, data, signed_in
):
    """Shown to a person, the self-reports table leaves out the report that became a case
    they are excluded from, and keeps those that became no case, whether their exclusions
    are asked by their id or written in as their sign-in session read them (an IN over a
    NULL case would drop those too)."""
    from caseapp.models import CaseExclusion

    school = unit(db, world, "SCH-A")
    add_self_report(db, school, date(2020, 2, 11), "accepted", case_id=data["A1"].id)
    db.add(CaseExclusion(case_id=data["A1"].id, user_id=world["officer_d1"].id))
    db.flush()
    official = report_tables.build(db, school, *PERIOD).table("self_reports")
    viewer = signed_in_as(db, world["officer_d1"]) if signed_in else user(db, world, "officer_d1")
    assert viewer.excluded_case_ids == ((data["A1"].id,) if signed_in else None)
    shown = report_tables.build(db, school, *PERIOD, viewer=viewer).table("self_reports")
    assert official.cell("accepted", "reports") == 2
    assert shown.cell("accepted", "reports") == 1
    assert shown.total() == official.total() - 1 == 3


def test_an_exclusion_made_after_the_request_began_holds_on_the_report(db, world, data):
    """The cases a report leaves out are also asked of the database it reads, at the moment
    it reads them: an exclusion committed after the sign-in session listed the person's
    exclusions (none, here) still takes its case out (services/reports/exclusions.py)."""
    from caseapp.models import CaseExclusion

    school = unit(db, world, "SCH-A")
    viewer = signed_in_as(db, world["officer_d1"])
    assert viewer.excluded_case_ids == ()
    before = report_tables.build(db, school, *PERIOD, viewer=viewer)
    db.add(CaseExclusion(case_id=data["A1"].id, user_id=viewer.id))
    db.flush()
    assert viewer.excluded_case_ids == ()  # as read at the start of the request
    after = report_tables.build(db, school, *PERIOD, viewer=viewer)
    assert after.table("violence_by_sex").total() == before.table("violence_by_sex").total() - 1
    assert report_tables.excluded_below(db, viewer, school)
