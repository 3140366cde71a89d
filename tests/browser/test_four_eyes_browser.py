"""Four-eyes on a sign-in reset, in a real browser (issue 11): the first sign-in page with an
enrolment code and the printed letters, at a desktop and a phone width; then the whole walk.
Every page passes the accessibility check."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from caseapp.security import totp
from tests.browser.conftest import assert_accessible, screenshot, sign_in
from tests.factories import Person, make_user

pytestmark = pytest.mark.browser

WIDTHS = ((1366, 768), (390, 844))
LETTER_URL = "/__enrolment_letter_preview__"
NEW_PASSWORD = "my own sentence for the phone 5"


def _fits(page) -> bool:
    """Nothing wider than the window: no sideways scrolling on a phone."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_first_sign_in_page_is_accessible_and_fits_a_phone(live_server, page):
    from playwright.sync_api import expect

    base = live_server.url
    page.goto(f"{base}/login")
    page.locator('a[href="/login/code"]').click()
    page.wait_for_url(f"{base}/login/code")
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        assert_accessible(page, f"the first sign-in page at {width} px")
        assert _fits(page), width
    form = page.locator('form[action="/login/code"]')
    for name in ("first_half", "second_half"):
        field = form.locator(f'input[name="{name}"]')
        expect(field).to_have_attribute("aria-describedby", f"{name}-hint")
    expect(form.locator('input[autocomplete="new-password"]')).to_have_count(2)
    # A refusal: one generic message, still accessible.
    form.locator('input[name="username"]').fill("no.such.person")
    form.locator('input[name="first_half"]').fill("ABCD-EFGH")
    form.locator('input[name="second_half"]').fill("JKLM-NPQR")
    form.locator('input[name="new_password"]').fill("a sentence nobody guesses 9")
    form.locator('input[name="repeat"]').fill("a sentence nobody guesses 9")
    form.locator('button[type="submit"]').click()
    expect(page.locator('.alert[role="alert"]')).to_be_visible()
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        assert_accessible(page, f"the first sign-in page with a refusal at {width} px")
    screenshot(page, "first-sign-in-refused.png")


def test_letters_print_one_per_page_without_the_menus(live_server, page):
    """The letter template as H-B's admin screens render it, served on a made-up address so
    the app's stylesheet applies."""
    from flask import render_template
    from playwright.sync_api import expect

    from caseapp.db import utcnow
    from caseapp.services.accounts.enrolment import VALID_FOR, Letter

    base = live_server.url
    now = utcnow()
    letters = [
        Letter("Nguyễn Văn A", "nguyen.a", 1, "ABCD-EFGH", "Quản trị Một", now, None),
        Letter("Nguyễn Văn A", "nguyen.a", 2, "JKLM-NPQR", "Quản trị Hai", now, now + VALID_FOR),
    ]
    with live_server.app.test_request_context("/"):
        html = render_template("admin/enrolment_letter.html", letters=letters, back_url="/")
    page.goto(f"{base}/login")  # the origin's cookies and stylesheet
    page.route(
        f"{base}{LETTER_URL}",
        lambda route: route.fulfill(status=200, content_type="text/html", body=html),
    )
    page.goto(f"{base}{LETTER_URL}")
    expect(page.locator("article.letter")).to_have_count(2)
    expect(page.locator(".letter-code code").first).to_have_text("ABCD-EFGH")
    expect(page.locator("article.letter").nth(1)).to_contain_text(
        (now + VALID_FOR + timedelta(hours=7)).strftime("%d/%m/%Y %H:%M")
    )
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        assert_accessible(page, f"the enrolment letters at {width} px")
        assert _fits(page), width
    page.emulate_media(media="print")
    assert page.locator(".topbar").is_hidden() and page.locator(".no-print").is_hidden()
    breaks = page.evaluate(
        "() => [...document.querySelectorAll('article.letter')].map("
        "a => getComputedStyle(a).breakAfter)"
    )
    assert breaks == ["page", "auto"], breaks
    screenshot(page, "enrolment-letters-print.png")


def _seed_walk(live) -> tuple[Person, Person, int]:
    """A second administrator of the province and a focal point of the district's school
    (officer.district is the officer above them). Returns both and the focal point's id."""
    from caseapp.db import get_session
    from caseapp.models import Unit
    from caseapp.runtime import keyring

    with live.app.app_context():
        s = get_session()
        province = s.scalar(select(Unit).where(Unit.code == "BR-P"))
        school = s.scalar(select(Unit).where(Unit.code == live.units["district_school"]))
        second_admin = make_user(s, keyring(), "admin2.province", province, [("admin", province)])
        subject = make_user(s, keyring(), "focal.reset", school, [("focal_point", school)])
        s.commit()
    return second_admin, subject, subject.id


def _sign_out(page) -> None:
    page.locator('form[action="/logout"] button[type="submit"]').click()
    page.wait_for_url(re.compile(r".*/login$"))


def test_a_reset_walks_from_two_admins_to_the_person_to_the_officer_and_auditor(
    live_server, chromium
):
    from playwright.sync_api import expect

    live = live_server
    base = live.url
    second_admin, subject, subject_id = _seed_walk(live)
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()

    # 1. An administrator asks for the reset and is shown part 1 only.
    sign_in(page, live, live.people["admin"])
    page.goto(f"{base}/admin/users/{subject_id}")
    form = page.locator(f'form[action="/admin/users/{subject_id}/reset-sign-in"]')
    form.locator('input[name="reason"]').fill("Điện thoại của cô ấy bị mất")
    form.locator('button[type="submit"]').click()
    expect(page.locator("article.letter")).to_have_count(1)
    expect(page.locator("article.letter h2")).to_contain_text("1")
    first = page.locator(".letter-code code").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", first), first
    assert_accessible(page, "the letter with part 1")
    screenshot(page, "four-eyes-part-1.png")
    _sign_out(page)

    # 2. A second administrator approves and is shown part 2 only.
    sign_in(page, live, second_admin)
    page.goto(f"{base}/admin/approvals")
    assert_accessible(page, "the approvals list")
    row = page.locator("main table tbody tr", has_text=subject.username).first
    expect(row).to_contain_text("Điện thoại của cô ấy bị mất")  # who asked, and why
    row.locator("a").first.click()
    page.wait_for_url(re.compile(r".*/admin/approvals/\d+$"))
    assert_accessible(page, "the request")
    page.locator('form[action$="/approve"] button[type="submit"]').click()
    expect(page.locator("article.letter")).to_have_count(1)
    second = page.locator(".letter-code code").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", second) and second != first
    expect(page.locator("article.letter")).not_to_contain_text(first)
    assert_accessible(page, "the letter with part 2")
    screenshot(page, "four-eyes-part-2.png")
    _sign_out(page)
    context.close()

    # 3. The person: the old password no longer works; both parts and a password of their own,
    # then their own authenticator, and they are signed in.
    context = chromium.new_context(viewport={"width": 390, "height": 844})  # on a phone
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{base}/login")
    login = page.locator('form[action="/login"]')
    login.locator('input[name="username"]').fill(subject.username)
    login.locator('input[name="password"]').fill(subject.password)
    login.locator('button[type="submit"]').click()
    expect(page.locator('p.alert[role="alert"]')).to_be_visible()
    assert page.url == f"{base}/login"
    page.locator('a[href="/login/code"]').click()
    page.wait_for_url(f"{base}/login/code")
    form = page.locator('form[action="/login/code"]')
    form.locator('input[name="username"]').fill(subject.username)
    form.locator('input[name="first_half"]').fill(first.lower())  # as typed: case is no matter
    form.locator('input[name="second_half"]').fill(second)
    form.locator('input[name="new_password"]').fill(NEW_PASSWORD)
    form.locator('input[name="repeat"]').fill(NEW_PASSWORD)
    form.locator('button[type="submit"]').click()
    page.wait_for_url(f"{base}/login/enrol")
    assert_accessible(page, "the authenticator enrolment after a code")
    key = page.locator("code.secret").inner_text()
    secret = totp.from_base32(key)
    counter = totp.current_counter()
    enrol = page.locator('form[action="/login/enrol"]')
    enrol.locator('input[name="code"]').fill(totp.code_at(secret, counter))
    enrol.locator('button[type="submit"]').click()
    expect(page.locator("main code").first).to_be_visible()  # the recovery codes, once
    page.goto(f"{base}/")
    expect(page.locator("header .who")).to_have_text(f"Person {subject.username}")
    _sign_out(page)
    context.close()

    # 4. The officer above the person is told, in the app.
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_in(page, live, live.people["district_officer"])
    page.goto(f"{base}/notifications")
    notices = page.locator("ul.notices")
    expect(notices).to_contain_text(f"Person {subject.username}")
    assert_accessible(page, "the officer's notifications")
    _sign_out(page)

    # 5. The auditor's attention list shows the reset.
    if _has_rule(live, "/audit/attention"):
        sign_in(page, live, live.people["auditor"])
        page.goto(f"{base}/audit/attention")
        expect(page.locator("main")).to_contain_text(subject.username)
        assert_accessible(page, "the auditor's attention list")
        screenshot(page, "four-eyes-attention.png")
    context.close()


def _has_rule(live, path: str) -> bool:
    return any(rule.rule == path for rule in live.app.url_map.iter_rules())
