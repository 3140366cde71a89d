"""The period report in a real browser: an officer opens their district's report, picks the
annual report (the latest that has ended) with the page's own period control, as they would
whatever the date (cases seeded through the service at a school of the district, received
within that year), sees the charts and the tables, downloads the XLSX and finds a sheet per
table with small counts shown as "<5". The report page passes the accessibility check."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from caseapp.clock import local_today
from tests.browser.conftest import assert_accessible, screenshot, sign_in

pytestmark = pytest.mark.browser

SCHOOL_CODE = "BR-RS"
SCHOOL_NAME = "Trường Tiểu học Báo Cáo"
# (days after the period's first day, violence type, sex, age band of the person harmed);
# the last one in the summer, in the annual period but in no six-month one.
CASES = (
    (15, "physical", "female", "11-14"),
    (45, "physical", "female", "6-10"),
    (75, "cyber", "male", "11-14"),
    (250, "cyber", "female", "15-17"),
)


def _annual_period(today):
    """The latest annual period that has ended (the annual report being made now)."""
    from caseapp.services.reports.periods import recent_periods

    return next(p for p in recent_periods(today) if p.kind == "annual" and p.date_to < today)


def _seed_cases(live):
    """A school of district BR-D of its own (the overdue counts of BR-DS stay untouched), its
    focal point, and four cases received within the latest annual period that has ended."""
    from caseapp.db import get_session
    from caseapp.runtime import keyring
    from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case
    from caseapp.services.org.units import unit_by_code
    from tests.factories import get_user, make_unit, make_user

    with live.app.app_context():
        s = get_session()
        period = _annual_period(local_today())
        if unit_by_code(s, SCHOOL_CODE) is not None:
            return period
        # Dated before the reform of 1 July 2025: a district office holds history only.
        school = make_unit(
            s,
            unit_by_code(s, live.units["district"]),
            SCHOOL_CODE,
            "school",
            SCHOOL_NAME,
            date(2020, 1, 1),
        )
        person = make_user(s, keyring(), "focal.report", school, [("focal_point", school)])
        s.flush()
        focal = get_user(s, person.username)
        for days, kind, sex, band in CASES:
            received = period.date_from + timedelta(days=days)
            assert received <= period.date_to
            create_case(
                s,
                focal,
                school,
                CaseDetails(
                    received_on=received,
                    received_via="in_person",
                    reporter_kind="teacher",
                    setting="in_school",
                    violence_types=[kind],
                    child=True,
                    harmed_sex=sex,
                    harmed_age_band=band,
                    harmed_role="pupil",
                    perpetrator_sex="male",
                    perpetrator_age_band="11-14",
                    perpetrator_relationship="pupil_peer",
                    risk_level="low",
                ),
                CaseContent(harmed_name=f"Học sinh {days}"),
            )
        s.commit()
    return period


def test_officer_sees_the_district_report_and_downloads_it_as_xlsx(live_server, page, tmp_path):
    from openpyxl import load_workbook
    from playwright.sync_api import expect

    base = live_server.url
    period = _seed_cases(live_server)
    sign_in(page, live_server, live_server.people["district_officer"])

    page.locator('nav a[href="/reports/"]').click()
    page.wait_for_url(f"{base}/reports/")
    # The annual report, chosen in the period list and shown (from May to October the page
    # opens on the six-month report, which would miss the case received in the summer).
    filters = page.locator("form.filters")
    choice = filters.locator(f'select[name="period"] option[value="{period.key}"]')
    expect(choice).to_have_count(1)
    expect(choice).to_contain_text(str(period.date_to.year))
    label = choice.inner_text().strip()
    filters.locator('select[name="period"]').select_option(label=label)
    with page.expect_navigation():
        filters.locator('button[type="submit"]').click()
    assert f"period={period.kind}%3A{period.date_to.year}" in page.url, page.url
    expect(filters.locator('select[name="period"]')).to_have_value(period.key)
    expect(page.locator("h1")).to_have_text(label)
    expect(page.locator("main p.muted").first).to_contain_text(f"{period.date_from:%d/%m/%Y}")
    expect(page.locator("main p.muted").first).to_contain_text(f"{period.date_to:%d/%m/%Y}")

    # Charts drawn by the app: an SVG with bars, some of them not empty.
    chart = page.locator("figure.chart svg").first
    expect(chart).to_be_visible()
    assert chart.locator("rect").count() > 0
    widths = chart.locator("rect").evaluate_all(
        "bars => bars.map(b => b.getBoundingClientRect().width)"
    )
    assert any(w > 0 for w in widths), widths
    screenshot(page, "report.png")
    assert_accessible(page, "the annual report")

    # The tables, exact on screen for the officer's own district.
    tables = page.locator("section.report-table")
    count = tables.count()
    assert count >= 5
    titles = [re.sub(r"^\d+\.\s*", "", t).strip() for t in tables.locator("h2").all_inner_texts()]
    per_unit = page.locator("#t-per_unit tbody tr").filter(has_text=SCHOOL_NAME)
    expect(per_unit).to_have_count(1)
    expect(per_unit.locator("td").last).to_have_text(str(len(CASES)))

    # The XLSX download.
    link = page.locator('a[href*="format=xlsx"]')
    expect(link).to_have_count(1)
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx"), download.suggested_filename
    target = tmp_path / download.suggested_filename
    download.save_as(target)

    book = load_workbook(target, read_only=True)
    sheets = book.worksheets
    assert len(sheets) == 1 + count  # a summary, then a sheet per table
    assert [sheet["A1"].value for sheet in sheets[1:]] == titles
    sheet_of = dict(zip(tables.evaluate_all("ts => ts.map(t => t.id)"), sheets[1:], strict=True))
    rows = [list(r) for r in sheet_of["t-per_unit"].iter_rows(values_only=True)]
    school_row = next(r for r in rows if r and r[0] == SCHOOL_NAME)
    # Female 3, male 1, total 4: every count of the school is small.
    assert "<5" in school_row
    assert school_row[-1] == "<5"
    # No count of cases or people from 1 to 4 leaves the unit in any table (activities,
    # counted without anyone's details, are not suppressed).
    counted = [sheet for key, sheet in sheet_of.items() if key != "t-activities"]
    small = [
        (sheet.title, v)
        for sheet in counted
        for row in sheet.iter_rows(values_only=True)
        for v in row
        if isinstance(v, int) and 1 <= v <= 4
    ]
    assert not small, small
    assert (
        sum(
            1
            for sheet in counted
            for row in sheet.iter_rows(values_only=True)
            for v in row
            if v == "<5"
        )
        >= 3
    )
    book.close()
