"""Issue 12, done when: the administrator of the Sở onboards a district office of 2020 with three
schools and two communes of July 2025 from a workbook (the dry run shows the bad line, its
column and the reason, and creates nothing; the corrected workbook is checked and imported),
imports the accounts of the new schools and of a commune (part-1 letters; a second
administrator approves the batch and gets the part-2 letters), cases are recorded at the
schools before and after the reform day, the administrator applies a re-organisation moving the
three schools to the two communes, and the province's officer finds the annual report of the
period before with the schools under the old office and the one after under the communes.
Every page of the walk passes the accessibility check. The workbooks are XLSX, as a Sở's
spreadsheet program writes them (dates as date cells)."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest

from tests.browser.conftest import assert_accessible, screenshot, sign_in
from tests.browser.test_reform_browser import AFTER, BEFORE, REFORM_DAY, per_unit, record_cases

pytestmark = pytest.mark.browser

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SINCE, COMMUNES_SINCE = date(2020, 1, 1), date(2025, 7, 1)
OFFICE = ("BRT-PGD", "Phòng Giáo dục và Đào tạo huyện Hai Tầng")
SCHOOLS = {  # code: (name, level as written, the commune it moves to)
    "BRT-S1": ("Trường Tiểu học Hai Tầng", "Tiểu học", "BRT-X1"),
    "BRT-S2": ("Trường THCS Hai Tầng", "THCS", "BRT-X1"),
    "BRT-S3": ("Trường Mầm non Hai Tầng", "Mầm non", "BRT-W2"),
}
COMMUNES = {"BRT-X1": ("Xã Hai Tầng", "Xã"), "BRT-W2": ("Phường Hai Tầng", "Phường")}
UPPER = ("BRT-THPT", "Trường THPT Hai Tầng")
UNIT_HEADINGS = (
    "Mã đơn vị",
    "Tên đơn vị",
    "Loại đơn vị",
    "Loại xã/phường",
    "Cấp học",
    "Loại hình",
    "Mã đơn vị cấp trên",
    "Ngày bắt đầu",
)
ACCOUNTS = {  # user name: (full name, unit, role as written)
    "dau.moi.hai.tang.1": ("Nguyễn Thị Một", "BRT-S1", "Cán bộ đầu mối"),
    "dau.moi.hai.tang.2": ("Trần Văn Hai", "BRT-S2", "Cán bộ đầu mối"),
    "dau.moi.hai.tang.3": ("Lê Thị Ba", "BRT-S3", "Cán bộ đầu mối"),
    "can.bo.xa.hai.tang": ("Phạm Văn Xã", "BRT-X1", "Cán bộ quản lý"),
    "can.bo.phong.hai.tang": ("Đỗ Văn Phòng", OFFICE[0], "Cán bộ quản lý"),
}
FOCAL_OF = {unit: name for name, (_f, unit, role) in ACCOUNTS.items() if "đầu mối" in role}


def _workbook(headings, rows) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(headings))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _units_workbook(upper_parent: str) -> bytes:
    """Line 2 the office, 3-5 its schools, 6-7 the communes, 8 an upper-secondary school."""
    rows = [(*OFFICE, "Phòng GD&ĐT", "", "", "", "BR-P", SINCE)]
    rows += [
        (code, name, "Trường", "", level, "Công lập", OFFICE[0], SINCE)
        for code, (name, level, _c) in SCHOOLS.items()
    ]
    rows += [
        (code, name, kind, kind, "", "", "BR-P", COMMUNES_SINCE)
        for code, (name, kind) in COMMUNES.items()
    ]
    rows.append((*UPPER, "Trường", "", "THPT", "Công lập", upper_parent, None))
    return _workbook(UNIT_HEADINGS, rows)


ACCOUNTS_FILE = _workbook(
    ("Tên đăng nhập", "Họ và tên", "Email", "Mã đơn vị", "Vai trò"),
    [(name, full, "", unit, role) for name, (full, unit, role) in ACCOUNTS.items()],
)
REFORM_FILE = _workbook(
    ("Mã trường", "Mã đơn vị cấp trên mới", "Từ ngày"),
    [(code, commune, REFORM_DAY) for code, (_n, _l, commune) in SCHOOLS.items()],
)
ALL_CODES = {OFFICE[0], *SCHOOLS, *COMMUNES, UPPER[0]}


def _choose(page, selector: str, name: str, content: bytes) -> None:
    page.locator(selector).set_input_files(
        files=[{"name": name, "mimeType": XLSX, "buffer": content}]
    )


def _units(live) -> dict:
    """{code: (kind, parent code, valid from, valid to)} of this test's units in the database."""
    from sqlalchemy import select

    from caseapp.db import get_session
    from caseapp.models import Unit

    with live.app.app_context():
        s = get_session()
        return {
            u.code: (u.kind, u.parent.code if u.parent else None, u.valid_from, u.valid_to)
            for u in s.scalars(select(Unit).where(Unit.code.in_(ALL_CODES)))
        }


def _codes(page) -> dict[str, str]:
    """{user name: code} of the letters shown."""
    codes = {}
    for letter in page.locator("article.letter").all():
        name = letter.locator("dd code").inner_text().strip()
        codes[name] = letter.locator(".letter-code code").inner_text().strip()
    return codes


def _grants(live) -> dict[str, set[tuple[str, str]]]:
    """{user name: {(role, unit code)}} of the active grants of the imported accounts."""
    from sqlalchemy import select

    from caseapp.db import get_session
    from caseapp.models import User

    with live.app.app_context():
        s = get_session()
        return {
            user.username: {(g.role, g.unit.code) for g in user.grants if g.active}
            for user in s.scalars(select(User).where(User.username.in_(ACCOUNTS)))
        }


def _seed(live):
    """A second administrator and an officer of the province (roles an import cannot ask for)."""
    from caseapp.db import get_session
    from caseapp.runtime import keyring
    from caseapp.services.org.units import unit_by_code
    from tests.factories import make_user

    with live.app.app_context():
        s = get_session()
        province = unit_by_code(s, "BR-P")
        approver = make_user(s, keyring(), "admin2.hai.tang", province, [("admin", province)])
        officer = make_user(s, keyring(), "officer.hai.tang", province, [("officer", province)])
        s.commit()
    return approver, officer


def _record_cases(live) -> None:
    """Through the intake service: two cases at each imported school (before and after the
    reform day), each recorded by the school's imported focal point."""
    from caseapp.db import get_session
    from caseapp.services.org.units import unit_by_code
    from tests.factories import get_user

    with live.app.app_context():
        s = get_session()
        for code in SCHOOLS:
            record_cases(s, get_user(s, FOCAL_OF[code]), unit_by_code(s, code))
        s.commit()


def test_a_province_onboards_schools_and_accounts_then_reorganises_them(
    live_server, page, chromium
):
    from playwright.sync_api import expect

    live = live_server
    base = live.url
    approver, officer = _seed(live)
    sign_in(page, live, live.people["admin"])

    # 1. Units: the dry run finds the upper-secondary school placed under a commune.
    page.goto(f"{base}/admin/users")
    page.locator('a[href="/admin/import"]').click()
    page.wait_for_url(f"{base}/admin/import")
    assert_accessible(page, "the import page")
    units_form = 'form[action="/admin/import/units/check"]'
    _choose(page, "#units-file", "don-vi.xlsx", _units_workbook("BRT-X1"))
    page.locator(f"{units_form} button:not([formaction])").click()
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first.locator("th")).to_have_text("8")
    expect(errors.first.locator("td").first).to_have_text("Mã đơn vị cấp trên")
    expect(errors.first.locator("td").last).to_contain_text("Trung học phổ thông")
    expect(page.locator("#import-lines tbody tr")).to_have_count(7)
    assert_accessible(page, "the dry run of the units with a bad line")
    screenshot(page, "province-2026-units-dry-run.png")
    assert _units(live) == {}  # the dry run created nothing

    # Fixed (the school under the Sở), checked again, imported.
    fixed = _units_workbook("BR-P")
    _choose(page, "#units-file", "don-vi.xlsx", fixed)
    page.locator(f"{units_form} button:not([formaction])").click()
    expect(page.locator("#import-errors")).to_have_count(0)
    expect(page.locator("#import-lines tbody tr").filter(has_text="BRT-")).to_have_count(7)
    assert _units(live) == {}
    _choose(page, "#units-file", "don-vi.xlsx", fixed)
    page.locator(f"{units_form} button[formaction]").click()
    expect(page.locator("p.flash-success")).to_be_visible()
    assert_accessible(page, "the units imported")
    units = _units(live)
    assert units[OFFICE[0]] == ("district", "BR-P", SINCE, None)
    for code, (_n, _l, _c) in SCHOOLS.items():
        assert units[code] == ("school", OFFICE[0], SINCE, None)
    for code in COMMUNES:
        assert units[code] == ("commune", "BR-P", COMMUNES_SINCE, None)
    assert units[UPPER[0]][:2] == ("school", "BR-P")
    # The same workbook again changes nothing.
    _choose(page, "#units-file", "don-vi.xlsx", fixed)
    page.locator(f"{units_form} button:not([formaction])").click()
    expect(page.locator("#import-lines tbody tr").filter(has_text="BRT-")).to_have_count(7)
    expect(page.locator("#import-lines tbody tr").filter(has_text="Giữ nguyên")).to_have_count(7)

    # 2. Accounts: part 1 of each new account's code, the batch waiting for a second person.
    _choose(page, "#accounts-file", "tai-khoan.xlsx", ACCOUNTS_FILE)
    page.locator('form[action="/admin/import/accounts/check"] button[formaction]').click()
    expect(page.locator("article.letter")).to_have_count(len(ACCOUNTS))
    expect(page.locator("article.letter h2").first).to_contain_text("1")
    summary = page.locator("#import-summary")
    expect(summary).to_contain_text("#")
    batch = int(re.search(r"#(\d+)", summary.inner_text())[1])
    first_parts = _codes(page)
    assert set(first_parts) == set(ACCOUNTS)
    assert_accessible(page, "the part-1 letters of the imported accounts")

    # 3. A second administrator approves the batch and gets part 2.
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    try:
        other = context.new_page()
        sign_in(other, live, approver)
        other.goto(f"{base}/admin/approvals")
        other.locator(f'a[href="/admin/approvals/{batch}"]').first.click()
        other.wait_for_url(f"{base}/admin/approvals/{batch}")
        assert_accessible(other, "the batch of imported accounts")
        other.locator('form[action$="/approve"] button[type="submit"]').click()
        expect(other.locator("article.letter")).to_have_count(len(ACCOUNTS))
        expect(other.locator("article.letter h2").first).to_contain_text("2")
        second_parts = _codes(other)
        assert set(second_parts) == set(ACCOUNTS)
        assert all(second_parts[n] != first_parts[n] for n in ACCOUNTS)
        assert_accessible(other, "the part-2 letters of the imported accounts")
    finally:
        context.close()

    roles = {"Cán bộ đầu mối": "focal_point", "Cán bộ quản lý": "officer"}
    assert _grants(live) == {
        name: {(roles[role], unit)} for name, (_f, unit, role) in ACCOUNTS.items()
    }

    # The same accounts again: nothing new, nothing waiting.
    page.goto(f"{base}/admin/import")
    _choose(page, "#accounts-file", "tai-khoan.xlsx", ACCOUNTS_FILE)
    page.locator('form[action="/admin/import/accounts/check"] button:not([formaction])').click()
    lines = page.locator("#import-lines tbody tr")
    expect(lines).to_have_count(len(ACCOUNTS))
    expect(lines.filter(has_text="Giữ nguyên")).to_have_count(len(ACCOUNTS))

    # Cases at the schools, recorded by their imported focal points (their roles now hold).
    _record_cases(live)

    # 4. The re-organisation: checked (changes nothing), then applied, the office closed.
    page.goto(f"{base}/admin/units")
    page.locator('a[href="/admin/reform"]').first.click()
    page.wait_for_url(f"{base}/admin/reform")
    _choose(page, 'input[name="file"]', "sap-xep.xlsx", REFORM_FILE)
    with page.expect_navigation():
        page.locator('form[action="/admin/reform/check"] button:not([formaction])').click()
    changes = page.locator("table").filter(has_text="BRT-S1").locator("tbody tr")
    expect(changes).to_have_count(3)
    for code, (_n, _l, commune) in SCHOOLS.items():
        expect(changes.filter(has_text=code)).to_contain_text(commune)
        expect(changes.filter(has_text=code)).to_contain_text(f"{REFORM_DAY:%d/%m/%Y}")
    assert_accessible(page, "the check of the re-organisation")
    assert _units(live)["BRT-S1"][1] == OFFICE[0]
    _choose(page, 'input[name="file"]', "sap-xep.xlsx", REFORM_FILE)
    page.locator('input[name="close_emptied"]').check()
    with page.expect_navigation():
        page.locator('form[action="/admin/reform/check"] button[formaction]').click()
    expect(page.locator("p.flash-success")).to_be_visible()
    units = _units(live)
    for code, (_n, _l, commune) in SCHOOLS.items():
        assert units[code][1] == commune
    assert units[OFFICE[0]][3] == REFORM_DAY
    # The office's officer kept nothing; the focal points followed their schools.
    grants = _grants(live)
    assert grants["can.bo.phong.hai.tang"] == set()
    assert grants[FOCAL_OF["BRT-S1"]] == {("focal_point", "BRT-S1")}

    # 5. The province's officer: before the day under the office, after it under the communes.
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    try:
        reader = context.new_page()
        sign_in(reader, live, officer)
        rows = per_unit(reader, base, "BR-P", BEFORE)
        expect(rows.filter(has_text=OFFICE[1]).locator("td").last).to_have_text("3")
        for name, _kind in COMMUNES.values():
            expect(rows.filter(has_text=name).locator("td").last).to_have_text("0")
        assert_accessible(reader, "the annual report before the re-organisation")
        screenshot(reader, "province-2026-report-before.png")
        rows = per_unit(reader, base, OFFICE[0], BEFORE)
        for name, _l, _c in SCHOOLS.values():
            expect(rows.filter(has_text=name).locator("td").last).to_have_text("1")
        rows = per_unit(reader, base, "BR-P", AFTER)
        expect(rows.filter(has_text=OFFICE[1])).to_have_count(0)
        expect(rows.filter(has_text=COMMUNES["BRT-X1"][0]).locator("td").last).to_have_text("2")
        expect(rows.filter(has_text=COMMUNES["BRT-W2"][0]).locator("td").last).to_have_text("1")
        screenshot(reader, "province-2026-report-after.png")
        rows = per_unit(reader, base, "BRT-X1", AFTER)
        expect(rows).to_have_count(2)
        expect(rows.filter(has_text=SCHOOLS["BRT-S3"][0])).to_have_count(0)
        rows = per_unit(reader, base, "BRT-X1", BEFORE)
        expect(rows.filter(has_text=SCHOOLS["BRT-S1"][0])).to_have_count(0)
    finally:
        context.close()
