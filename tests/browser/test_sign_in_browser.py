"""Sign-in in a real browser: password, TOTP code, home page, a page that does not exist,
sign-out; each page passes the accessibility check."""

from __future__ import annotations

import re

import pytest

from caseapp.security import totp
from tests.browser.conftest import assert_accessible

pytestmark = pytest.mark.browser


def test_sign_in_with_totp_and_sign_out(live_server, page):
    from playwright.sync_api import expect

    base = live_server.url
    person = live_server.person

    page.goto(f"{base}/login")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    assert_accessible(page, "the sign-in page")
    login_form = page.locator('form[action="/login"]')
    login_form.locator('input[name="username"]').fill(person.username)
    login_form.locator('input[name="password"]').fill(person.password)
    login_form.locator('button[type="submit"]').click()

    page.wait_for_url(f"{base}/login/2fa")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    assert_accessible(page, "the second-factor page")
    code_form = page.locator('form[action="/login/2fa"]')
    code_form.locator('input[name="code"]').fill(
        totp.code_at(person.totp_secret, totp.current_counter())
    )
    code_form.locator('button[type="submit"]').click()

    page.wait_for_url(f"{base}/")
    expect(page.locator("h1")).to_contain_text(live_server.full_name)
    expect(page.locator("header .who")).to_have_text(live_server.full_name)
    assert_accessible(page, "the home page")

    response = page.goto(f"{base}/no-such-page")
    assert response.status == 404
    expect(page.locator("h1")).to_have_count(1)
    assert_accessible(page, "the not-found page")

    page.locator('form[action="/logout"] button[type="submit"]').click()
    page.wait_for_url(f"{base}/login")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator('form[action="/login"] input[name="username"]')).to_be_visible()
    expect(page.locator('form[action="/logout"]')).to_have_count(0)
    expect(page.get_by_text(live_server.full_name)).to_have_count(0)

    # The session is gone on the server too: the home page sends us back to sign in.
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(re.escape(f"{base}/login")))
