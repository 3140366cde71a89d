"""Onboarding without a shell, in a real browser (issue 12): the province's administrator
checks a file of schools (the dry run shows the bad line, its column and the reason), imports
the corrected file, then imports the accounts and gets their part-1 letters. Every page passes
the accessibility check."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible, screenshot, sign_in

pytestmark = pytest.mark.browser

HEADINGS = "Mã đơn vị,Tên đơn vị,Loại đơn vị,Cấp học,Loại hình,Mã đơn vị cấp trên\n"
BAD = HEADINGS + (
    "BRI-THPT,Trường THPT Nhập Thử,Trường,THPT,Công lập,BR-P\n"
    "BRI-DH,Trường Đại học Lạ,Trường,Đại học,Công lập,BR-P\n"
)
GOOD = HEADINGS + "BRI-THPT,Trường THPT Nhập Thử,Trường,THPT,Công lập,BR-P\n"
ACCOUNTS = (
    "Tên đăng nhập,Họ và tên,Email,Mã đơn vị,Vai trò\n"
    "nhap.thu.mot,Nguyễn Nhập Một,,BRI-THPT,Cán bộ đầu mối\n"
    "nhap.thu.hai,Trần Nhập Hai,,BRI-THPT,Cán bộ quản lý\n"
)


def _choose(page, field: str, name: str, text: str) -> None:
    page.set_input_files(
        f"#{field}", files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}]
    )


def test_an_admin_checks_fixes_and_imports_schools_then_accounts(live_server, page):
    from playwright.sync_api import expect

    base = live_server.url
    sign_in(page, live_server, live_server.people["admin"])
    page.goto(f"{base}/admin/users")
    page.locator('a[href="/admin/import"]').click()
    page.wait_for_url(f"{base}/admin/import")
    assert_accessible(page, "the import page")

    _choose(page, "units-file", "truong.csv", BAD)
    page.locator('form[action="/admin/import/units/check"] button:not([formaction])').click()
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first.locator("th")).to_have_text("3")
    expect(errors.first).to_contain_text("Cấp học")
    assert_accessible(page, "the report of a dry run with an error")
    screenshot(page, "import-dry-run.png")

    _choose(page, "units-file", "truong.csv", GOOD)
    page.locator('form[action="/admin/import/units/check"] button[formaction]').click()
    expect(page.locator("#import-report")).to_be_visible()
    expect(page.locator("#import-errors")).to_have_count(0)
    expect(page.locator("#import-lines tbody tr")).to_have_count(1)

    _choose(page, "accounts-file", "tai-khoan.csv", ACCOUNTS)
    page.locator('form[action="/admin/import/accounts/check"] button[formaction]').click()
    expect(page.locator("article.letter")).to_have_count(2)
    expect(page.locator("#import-summary")).to_be_visible()
    expect(page.locator("article.letter").first).to_contain_text("BRI-THPT")
    assert_accessible(page, "the part-1 letters of an import")
