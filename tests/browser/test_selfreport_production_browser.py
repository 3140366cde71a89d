"""The public self-report pages behind the production proxy (nginx + gunicorn, as shipped): a
pupil's phone opens /r/<school code>, sends a report and gets a receipt; no response sets a
cookie, nginx's access log holds no line for those pages (neither the phone's address nor the
school's code), gunicorn's log names them "/r/…" without an address, and no log holds the
report's words. A staff page, for contrast, is logged with its address."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.browser.conftest import TIMEOUT_MS, assert_accessible
from tests.browser.production_stack import HOST
from tests.browser.test_production_proxy import SCHOOL_CODE, SCHOOL_NAME, production  # noqa: F401

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
DETAILS = "Cô giáo chủ nhiệm véo tai em ở hành lang PROXY-LOI-KE"
MIN_FILL_SECONDS = 3  # config: selfreport_min_fill_seconds in production


def _wait_for(predicate, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_the_public_page_through_the_proxy_leaves_no_trace(chromium, production):  # noqa: F811
    base = production.base
    access_log = production.nginx.prefix / "logs" / "caseapp.access.log"
    context = chromium.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, ignore_https_errors=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    cookies_set: list[str] = []
    page = context.new_page()
    page.on(
        "response",
        lambda r: cookies_set.append(r.url) if r.header_value("set-cookie") else None,
    )
    try:
        response = page.goto(f"{base}/r/{SCHOOL_CODE}")
        assert response.status == 200
        assert SCHOOL_NAME in page.locator("main").inner_text()
        assert_accessible(page, "the school's report page behind the proxy")
        shown_at = time.monotonic()

        page.get_by_label("Em", exact=True).check()
        page.get_by_label("Bị chửi, dọa nạt hoặc xúc phạm").check()
        page.get_by_label("Hôm nay").check()
        page.get_by_label("Ở trường", exact=True).check()
        page.get_by_label("Thầy cô hoặc người làm việc ở trường").check()
        page.locator('input[name="danger"][value="no"]').check()
        page.locator("#details").fill(DETAILS)
        time.sleep(max(0.0, MIN_FILL_SECONDS + 0.5 - (time.monotonic() - shown_at)))
        with page.expect_navigation():
            page.get_by_role("button", name="Gửi").click()
        shown = page.locator("p.code").inner_text().strip()
        assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", shown), shown
        assert cookies_set == [] and context.cookies() == []
    finally:
        context.close()

    # A staff page, for contrast: nginx logs it with the address (the log is written).
    status, _, _ = production.get("/login")
    assert status == 200
    _wait_for(lambda: access_log.exists() and "/login" in access_log.read_text(), "/login")
    nginx_lines = access_log.read_text(encoding="utf-8").splitlines()
    assert any(line.startswith(f"{HOST} ") and "/login" in line for line in nginx_lines)
    paths = [line.split('"')[1].split()[1] for line in nginx_lines]  # "METHOD $uri PROTO"
    assert not [p for p in paths if p == "/r" or p.startswith("/r/")], paths
    assert not [line for line in nginx_lines if SCHOOL_CODE in line]

    def reporter_lines() -> list[dict]:
        lines = production.gunicorn_log.read_text(encoding="utf-8", errors="replace")
        return [
            entry
            for entry in (json.loads(line) for line in lines.splitlines() if line.startswith("{"))
            if entry.get("path") == "/r/…"
        ]

    # The page and the report: logged by gunicorn as "/r/…", with no address.
    _wait_for(lambda: len(reporter_lines()) >= 2, 'gunicorn\'s "/r/…" lines')
    for entry in reporter_lines():
        assert entry["remote"] in ("-", "", None), entry
        assert entry["user_agent"] in ("-", "", None), entry
    log = production.gunicorn_log.read_text(encoding="utf-8", errors="replace")
    assert SCHOOL_CODE not in log
    assert "PROXY-LOI-KE" not in log and shown not in log and shown.replace(" ", "") not in log
