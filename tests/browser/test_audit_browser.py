"""The audit trail in a real browser: an auditor lists the events of a district, opens one, and
has the chain verified; each screen passes the accessibility check."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_accessible, sign_in

pytestmark = pytest.mark.browser


def test_auditor_opens_an_event_and_verifies_the_chain(live_server, page):
    from playwright.sync_api import expect

    base = live_server.url
    sign_in(page, live_server, live_server.people["auditor"])

    page.locator('nav a[href="/audit/events"]').click()
    page.wait_for_url(f"{base}/audit/events")
    filters = page.locator("form.filters")
    filters.locator('input[name="unit"]').fill(live_server.units["district"])
    with page.expect_navigation():
        filters.locator('button[type="submit"]').click()
    expect(page.locator("main .alert")).to_have_count(0)
    newest = page.locator("table tbody tr").first.locator("a")
    expect(newest).to_have_count(1)  # the district's accounts and units were recorded
    assert_accessible(page, "the audit trail of a district")

    seq = newest.inner_text().strip()
    with page.expect_navigation():
        newest.click()
    assert page.url == f"{base}/audit/events/{seq}"
    expect(page.locator("h1")).to_contain_text(seq)
    assert_accessible(page, "an audit event")

    page.goto(f"{base}/audit/status")
    with page.expect_navigation():
        page.locator('form[action="/audit/verify"] button[type="submit"]').click()
    expect(page.locator(".flash-error")).to_have_count(0)
    expect(page.locator(".flash-success")).to_have_count(1)
    assert_accessible(page, "the audit chain's status after a verification")
