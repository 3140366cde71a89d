"""A re-organisation in a real browser: the province's administrator checks a file that moves
three schools of a district office to two communes (the dry run lists the changes and changes
nothing), applies it, and the province's officer finds the annual report of the period before
the date showing the schools under the old office, the one after under the communes. The
re-organisation page passes the accessibility check."""

from __future__ import annotations

from datetime import date

import pytest

from tests.browser.conftest import assert_accessible, screenshot, sign_in

pytestmark = pytest.mark.browser

REFORM_DAY = date(2025, 11, 1)  # the first day of the annual period 2025-2026
BEFORE, AFTER = "annual:2025", "annual:2026"
OFFICE = ("BR-LD", "Phòng Giáo dục huyện Cải Cách")
SCHOOLS = {
    "BR-L1": ("Trường Tiểu học Cải Cách Một", "BR-C1"),
    "BR-L2": ("Trường Tiểu học Cải Cách Hai", "BR-C1"),
    "BR-L3": ("Trường Mầm non Cải Cách Ba", "BR-C2"),
}
COMMUNES = {"BR-C1": "Xã Cải Cách Một", "BR-C2": "Phường Cải Cách Hai"}
FILE = "Mã trường,Mã đơn vị cấp trên mới,Từ ngày\n" + "".join(
    f"{code},{commune},{REFORM_DAY:%d/%m/%Y}\n" for code, (_n, commune) in SCHOOLS.items()
)


def _seed(live):
    """A district office of 2020 with three schools, two communes of July 2025, one case at
    each school before the reform day and one after, and an officer of the province."""
    from caseapp.db import get_session
    from caseapp.runtime import keyring
    from caseapp.services.org.units import unit_by_code
    from tests.factories import get_user, make_unit, make_user

    with live.app.app_context():
        s = get_session()
        province = unit_by_code(s, "BR-P")
        since = date(2020, 1, 1)
        office = make_unit(s, province, *OFFICE[:1], "district", OFFICE[1], since)
        schools = [
            make_unit(s, office, code, "school", name, since, level="primary")
            for code, (name, _c) in SCHOOLS.items()
        ]
        for code, name in COMMUNES.items():
            make_unit(s, province, code, "commune", name, date(2025, 7, 1))
        focal = make_user(
            s, keyring(), "focal.reform", office, [("focal_point", u) for u in schools]
        )
        officer = make_user(s, keyring(), "officer.reform", province, [("officer", province)])
        s.flush()
        user = get_user(s, focal.username)
        for school in schools:
            record_cases(s, user, school)
        s.commit()
    return officer


def record_cases(session, user, school) -> None:
    """Through the intake service: one case at ``school`` received before the reform day (on
    3 March 2025, in the annual period BEFORE) and one after it (3 March 2026, in AFTER),
    recorded by ``user`` (who handles cases there)."""
    from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case

    for received in (date(2025, 3, 3), date(2026, 3, 3)):
        create_case(
            session,
            user,
            school,
            CaseDetails(
                received_on=received,
                received_via="in_person",
                reporter_kind="teacher",
                setting="in_school",
                violence_types=["physical"],
                child=True,
                harmed_sex="female",
                harmed_age_band="6-10",
                harmed_role="pupil",
                perpetrator_sex="male",
                perpetrator_age_band="6-10",
                perpetrator_relationship="pupil_peer",
                risk_level="low",
            ),
            CaseContent(harmed_name=f"Học sinh {school.code}"),
        )


def _choose_file(page, tmp_path):
    path = tmp_path / "sap-xep.csv"
    path.write_text(FILE, encoding="utf-8")
    page.locator('input[name="file"]').set_input_files(str(path))


def per_unit(page, base, unit: str, period: str):
    page.goto(f"{base}/reports/?unit={unit}&period={period.replace(':', '%3A')}")
    return page.locator("#t-per_unit tbody tr")


def test_admin_applies_a_reform_and_reports_follow_the_history(
    live_server, page, chromium, tmp_path
):
    from playwright.sync_api import expect

    base = live_server.url
    officer = _seed(live_server)
    sign_in(page, live_server, live_server.people["admin"])

    page.goto(f"{base}/admin/units")
    page.get_by_role("link", name="Sắp xếp lại đơn vị").or_(
        page.locator('a[href="/admin/reform"]')
    ).first.click()
    page.wait_for_url(f"{base}/admin/reform")
    assert_accessible(page, "the re-organisation page")

    # The dry run: every change listed, nothing changed.
    _choose_file(page, tmp_path)
    with page.expect_navigation():
        page.locator('form[action="/admin/reform/check"] button:not([formaction])').click()
    changes = page.locator("table").filter(has_text="BR-L1").locator("tbody tr")
    expect(changes).to_have_count(3)
    expect(changes.filter(has_text="BR-L3")).to_contain_text("BR-C2")
    screenshot(page, "reform-check.png")
    assert_accessible(page, "the re-organisation check")
    from caseapp.db import get_session
    from caseapp.services.org.units import unit_by_code

    with live_server.app.app_context():
        assert unit_by_code(get_session(), "BR-L1").parent.code == "BR-LD"

    # Applied, the emptied office closed.
    _choose_file(page, tmp_path)
    page.locator('input[name="close_emptied"]').check()
    with page.expect_navigation():
        page.locator('form[action="/admin/reform/check"] button[formaction]').click()
    expect(page.locator("p.flash-success")).to_be_visible()
    with live_server.app.app_context():
        s = get_session()
        assert unit_by_code(s, "BR-L1").parent.code == "BR-C1"
        assert unit_by_code(s, "BR-LD").valid_to == REFORM_DAY

    # The province's officer: the period before under the old office, the one after under
    # the communes.
    context = chromium.new_context()
    try:
        other = context.new_page()
        sign_in(other, live_server, officer)
        rows = per_unit(other, base, "BR-P", BEFORE)
        expect(rows.filter(has_text=OFFICE[1])).to_have_count(1)
        expect(rows.filter(has_text=OFFICE[1]).locator("td").last).to_have_text("3")
        expect(rows.filter(has_text=COMMUNES["BR-C1"]).locator("td").last).to_have_text("0")
        rows = per_unit(other, base, OFFICE[0], BEFORE)
        for name, _commune in SCHOOLS.values():
            expect(rows.filter(has_text=name)).to_have_count(1)
        rows = per_unit(other, base, "BR-P", AFTER)
        expect(rows.filter(has_text=OFFICE[1])).to_have_count(0)
        expect(rows.filter(has_text=COMMUNES["BR-C1"]).locator("td").last).to_have_text("2")
        expect(rows.filter(has_text=COMMUNES["BR-C2"]).locator("td").last).to_have_text("1")
        rows = per_unit(other, base, "BR-C1", AFTER)
        expect(rows).to_have_count(2)
        rows = per_unit(other, base, "BR-C1", BEFORE)
        expect(rows.filter(has_text=SCHOOLS["BR-L1"][0])).to_have_count(0)
    finally:
        context.close()
