"""A case in a real browser: a focal point records it on a phone-sized screen (after a first
try the form sends back), opens its confidential content, adds a note and a file; an officer of
the district finds it by its reference and reads the content only after stating a reason. Every
screen on the way passes the accessibility check."""

from __future__ import annotations

import os
import re
import struct
import uuid
import zlib
from datetime import timedelta
from pathlib import Path

import pytest

from caseapp.clock import local_today
from tests.browser.conftest import TIMEOUT_MS, assert_accessible, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
RECORD_A_CASE = 'a[href="/cases/new"]'  # "Record a case"; its Vietnamese wording may change


def _png() -> bytes:
    """A valid 1x1 PNG, built in memory."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _sign_in(page, live, person) -> None:
    """With a TOTP code newer than the last one the person used (other tests sign the same
    people in, maybe within the same 30 seconds)."""
    from playwright.sync_api import expect

    sign_in(page, live, person)
    expect(page.locator('form[action="/logout"]')).to_have_count(1)


def _sign_out(page, base: str) -> None:
    page.locator('form[action="/logout"] button[type="submit"]').click()
    page.wait_for_url(f"{base}/login")


def _save_screenshot(page, name: str, tmp_path: Path) -> Path:
    """Into the test's tmp dir, and into $CASEAPP_SCREENSHOT_DIR when set (for a human)."""
    target = Path(os.environ.get("CASEAPP_SCREENSHOT_DIR") or tmp_path) / name
    page.screenshot(path=str(target), full_page=True)
    return target


def _fill_intake(page, marker: str) -> None:
    form = page.locator("form.case-form")
    form.locator('select[name="unit_id"]').select_option(label="Trường THCS Thử Nghiệm")
    form.locator('input[name="received_on"]').fill(local_today().isoformat())
    form.locator('select[name="received_via"]').select_option("phone")
    form.locator('select[name="reporter_kind"]').select_option("parent_guardian")
    form.locator('input[name="incident_on"]').fill((local_today() - timedelta(days=3)).isoformat())
    form.locator('input[name="incident_date_approximate"]').check()
    form.locator('select[name="setting"]').select_option("to_from_school")
    form.locator('input[name="violence_types"][value="physical"]').check()
    form.locator('input[name="violence_types"][value="cyber"]').check()
    form.locator('select[name="risk_level"]').select_option("high")
    form.locator('input[name="child"]').check()
    form.locator('select[name="harmed_sex"]').select_option("female")
    form.locator('select[name="harmed_age_band"]').select_option("11-14")
    form.locator('input[name="harmed_age_years"]').fill("13")
    form.locator('select[name="harmed_role"]').select_option("pupil")
    form.locator('select[name="harmed_disability"]').select_option("no")
    form.locator('select[name="harmed_ethnic_minority"]').select_option("yes")
    form.locator('input[name="perpetrator_count"]').fill("2")
    form.locator('select[name="perpetrator_sex"]').select_option("male")
    form.locator('select[name="perpetrator_age_band"]').select_option("15-17")
    form.locator('select[name="perpetrator_relationship"]').select_option("pupil_peer")
    form.locator('input[name="harmed_name"]').fill("Lê Thị Hoa")
    form.locator('input[name="guardian_name"]').fill("Lê Văn Nam")
    form.locator('textarea[name="perpetrator_names"]').fill("Trần Văn Bình\nPhạm Minh Đức")
    form.locator('textarea[name="narrative"]').fill(
        f"Em bị hai bạn lớp 9 đánh trên đường về nhà và bị chụp ảnh đăng lên mạng. {marker}"
    )


def test_focal_point_records_a_case_and_officer_reads_it_with_a_reason(
    live_server, page, chromium, tmp_path
):
    from playwright.sync_api import expect

    base = live_server.url
    focal = live_server.people["district_focal"]
    officer = live_server.people["district_officer"]
    school_code = live_server.units["district_school"]
    tag = uuid.uuid4().hex[:10]
    narrative_marker = f"NARRATIVE-{tag}"
    note_marker = f"NOTE-{tag}"
    file_name = f"ảnh-tin-nhắn-{tag}.png"

    # The focal point works on a phone.
    page.set_viewport_size(PHONE)
    _sign_in(page, live_server, focal)
    page.locator('nav a[href="/cases/"]').click()
    page.wait_for_url(f"{base}/cases/")
    assert_accessible(page, "the case list on a phone")
    record_link = page.locator(f"main {RECORD_A_CASE}")
    link_text = record_link.inner_text().strip()
    assert link_text
    record_link.click()
    page.wait_for_url(f"{base}/cases/new")
    expect(page.locator("h1")).to_have_text(link_text)
    assert_accessible(page, "the new-case form on a phone")
    # Sent empty, the form comes back with what needs attention, and nothing is saved.
    with page.expect_navigation():
        page.locator('form.case-form button[type="submit"]').click()
    expect(page.locator("#form-errors")).to_be_visible()
    assert_accessible(page, "the new-case form with its errors on a phone")
    _fill_intake(page, narrative_marker)
    # Nothing on the form is wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _save_screenshot(page, "intake-phone.png", tmp_path)
    page.locator('form.case-form button[type="submit"]').click()

    page.wait_for_url(re.compile(re.escape(f"{base}/cases/") + r"[0-9a-f-]{36}$"))
    heading = page.locator("h1").inner_text()
    match = re.search(rf"{re.escape(school_code)}-{local_today().year}-\d{{4}}", heading)
    assert match, heading
    reference = match.group(0)
    expect(page.locator(".flash-success")).to_contain_text(reference)
    expect(page.get_by_text(narrative_marker)).to_have_count(0)
    case_url = page.url
    assert_accessible(page, "a new case's page on a phone")

    # Focal points of the school open the content without a reason.
    page.locator(f'a[href="{case_url.removeprefix(base)}/confidential"]').click()
    page.wait_for_url(f"{case_url}/confidential")
    expect(page.locator("section.confidential")).to_contain_text(narrative_marker)

    notes = page.locator(f'form[action="{case_url.removeprefix(base)}/notes"]')
    notes.locator('textarea[name="body"]').fill(f"Đã gọi điện cho phụ huynh. {note_marker}")
    notes.locator('button[type="submit"]').click()
    page.wait_for_url(f"{case_url}/confidential")
    expect(page.locator(".flash-success")).to_have_count(1)
    expect(page.locator("article.note")).to_contain_text(note_marker)

    upload = page.locator(f'form[action="{case_url.removeprefix(base)}/attachments"]')
    upload.locator('input[type="file"]').set_input_files(
        {"name": file_name, "mimeType": "image/png", "buffer": _png()}
    )
    upload.locator('button[type="submit"]').click()
    page.wait_for_url(f"{case_url}/confidential")
    expect(page.locator(".flash-error")).to_have_count(0)
    expect(page.get_by_role("link", name=file_name)).to_have_count(1)
    expect(page.locator("article.note")).to_contain_text(note_marker)
    assert_accessible(page, "the confidential content with a note and a file on a phone")
    _sign_out(page, base)

    # The district's officer, in a browser of their own, on a desktop screen.
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        desk = context.new_page()
        _sign_in(desk, live_server, officer)
        desk.locator('nav a[href="/cases/"]').click()
        desk.wait_for_url(f"{base}/cases/")
        expect(desk.locator(RECORD_A_CASE)).to_have_count(0)
        filters = desk.locator("form.filters")
        filters.locator('input[name="q"]').fill(reference.lower())
        filters.locator('button[type="submit"]').click()
        desk.wait_for_url(re.compile(r"/cases/\?.*q="))
        rows = desk.locator("table tbody tr")
        expect(rows).to_have_count(1)
        assert_accessible(desk, "the case list found by reference")
        rows.get_by_role("link", name=reference).click()
        desk.wait_for_url(case_url)
        assert_accessible(desk, "a case's page for the district's officer")
        expect(desk.get_by_text(narrative_marker)).to_have_count(0)
        assert narrative_marker not in desk.content()
        assert note_marker not in desk.content()

        opener = desk.locator(f'form[action="{case_url.removeprefix(base)}/confidential"]')
        opener.locator('textarea[name="reason"]').fill(
            "Kiểm tra tiến độ xác minh theo báo cáo của trường"
        )
        opener.locator('button[type="submit"]').click()
        desk.wait_for_url(f"{case_url}/confidential")
        expect(desk.locator("section.confidential")).to_contain_text(narrative_marker)
        expect(desk.locator("article.note")).to_contain_text(note_marker)
        expect(desk.get_by_role("button", name=file_name)).to_have_count(1)
        _sign_out(desk, base)
    finally:
        context.close()
