"""The accessibility check itself: axe-core runs under the app's Content-Security-Policy as
served (it is never part of the page), and a serious or critical violation fails the check,
naming the rule and the element."""

from __future__ import annotations

import os

import pytest

from caseapp.access import CSP
from tests.browser.conftest import assert_accessible, axe_missing, axe_source

pytestmark = pytest.mark.browser

BREAK_THE_PAGE = """() => {
  const main = document.querySelector('main');
  const picture = Object.assign(document.createElement('img'), {className: 'probe'});
  picture.src = '/static/favicon.svg';
  const unlabelled = Object.assign(document.createElement('input'), {className: 'probe'});
  // A second field with the id the user-name label points at: the label names the first only.
  const twin = Object.assign(document.createElement('input'), {id: 'username'});
  main.append(picture, unlabelled, twin);
}"""


def test_the_check_runs_under_the_csp_and_fails_on_a_serious_violation(live_server, page):
    from playwright.sync_api import expect

    if axe_source() is None:
        if os.environ.get("CASEAPP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CASEAPP_REQUIRE_BROWSER=1 but {axe_missing()}", pytrace=False)
        pytest.skip(f"accessibility checks skipped: {axe_missing()}")
    refused = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    response = page.goto(f"{live_server.url}/login")
    assert response.headers["content-security-policy"] == CSP
    assert_accessible(page, "the sign-in page")
    expect(page.locator("script")).to_have_count(0)
    assert page.evaluate("() => typeof window.axe") == "object"
    assert not refused, refused

    page.evaluate(BREAK_THE_PAGE)
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page, "the sign-in page, broken on purpose")
    message = str(failure.value)
    for rule in ("image-alt [critical]", "label [critical]", "duplicate-id-aria [critical]"):
        assert rule in message, message
    assert ".probe" in message, message
    assert not refused, refused
