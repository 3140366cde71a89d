"""A pupil on a phone: opens the school's page, files a report naming a teacher, sees the receipt,
opens the report with the code; every public page passes axe; no cookie is ever set; the quick
exit (link or Esc) leaves the neutral page in place of the report page."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import assert_accessible, screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
SCHOOL = "BR-DS"  # Trường THCS Thử Nghiệm, under district BR-D


def _phone(chromium):
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(15_000)
    return context


def test_a_pupil_files_a_report_on_a_phone_and_follows_it(live_server, chromium):
    context = _phone(chromium)
    page = context.new_page()
    try:
        base = live_server.url
        page.goto(f"{base}/r/{SCHOOL}")
        assert page.locator("#quick-exit").inner_text() == "Thoát nhanh"
        assert "111" in page.locator("header").inner_text()
        assert_accessible(page, "the school's report page")
        screenshot(page, "selfreport-form.png")

        page.get_by_label("Em", exact=True).check()
        page.get_by_label("Bị chửi, dọa nạt hoặc xúc phạm").check()
        page.get_by_label("Tuần này").check()
        page.get_by_label("Ở trường", exact=True).check()
        page.get_by_label("Thầy cô hoặc người làm việc ở trường").check()
        # The little script ticks "send to the office" at once.
        assert page.locator("#office").is_checked()
        page.locator('input[name="danger"][value="no"]').check()
        page.locator("#details").fill("Thầy ấy quát mắng em trước lớp mỗi ngày.")
        page.get_by_role("button", name="Gửi").click()

        page.wait_for_selector("p.code")
        shown = page.locator("p.code").inner_text()
        assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", shown.strip()), shown
        assert_accessible(page, "the receipt page")
        with page.expect_download() as download:
            page.get_by_role("button", name="Lưu thành ảnh").click()
        assert download.value.suggested_filename.endswith(".png")

        page.get_by_role("link", name="Em có mã biên nhận").first.click()
        assert_accessible(page, "the follow page (code form)")
        page.locator("#code").fill(shown)
        page.get_by_role("button", name="Xem báo cáo").click()
        page.wait_for_selector("p.status")
        assert "Đã nhận" in page.locator("p.status").inner_text()
        assert_accessible(page, "the follow page (status)")
        page.locator("#message").fill("Hôm nay thầy lại quát em.")
        page.get_by_role("button", name="Gửi").click()
        page.wait_for_selector("p.note")
        assert "Hôm nay thầy lại quát em." in page.locator("ol.talk").inner_text()
        assert_accessible(page, "the follow page after a message")

        assert context.cookies() == []
    finally:
        context.close()


def test_the_quick_exit_replaces_the_page(live_server, chromium):
    context = _phone(chromium)
    page = context.new_page()
    try:
        base = live_server.url
        page.goto(f"{base}/r")
        page.goto(f"{base}/r/{SCHOOL}")
        page.locator("#quick-exit").click()
        page.wait_for_url(f"{base}/r/exit")
        assert "Thời tiết" in page.locator("h1").inner_text()
        # location.replace(): Back does not return to the report page.
        page.go_back()
        assert page.url != f"{base}/r/{SCHOOL}"
        # The Esc key does the same.
        page.goto(f"{base}/r/{SCHOOL}")
        page.keyboard.press("Escape")
        page.wait_for_url(f"{base}/r/exit")
        assert_accessible(page, "the neutral page")
        assert context.cookies() == []
    finally:
        context.close()


def test_finding_the_school_by_name(live_server, chromium):
    context = _phone(chromium)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/r")
        page.locator("#q").fill("thu nghiem")
        page.get_by_role("button", name="Tìm kiếm").click()
        assert_accessible(page, "the school search")
        page.get_by_role("link", name="Trường THCS Thử Nghiệm").click()
        page.wait_for_url(f"{live_server.url}/r/{SCHOOL}")
    finally:
        context.close()
