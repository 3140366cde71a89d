"""A guardian's access request in a real browser, end to end (issue 15 part 1): the school's focal
point records it, acknowledges it, finds the child through the name index, confirms the match
and prepares the export; the commune's officer (not the preparer) reviews it on screen and
releases it within the clock; the focal point prints it. The export holds the child's details
and nothing of the alleged perpetrator or the account of what happened. Every page passes the
accessibility check."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser.conftest import assert_accessible, screenshot, sign_in

pytestmark = pytest.mark.browser

COMMUNE = "BR-YC"
SCHOOL = "BR-YCS"
CHILD = "Lò Thị Yêu Cầu"
GUARDIAN = "Lò Văn Phụ Huynh"
PERPETRATOR = "Hà Văn Bị Tố"
NARRATIVE = "Chuyện đã xảy ra ở sân trường"


def _seed(live):
    from caseapp.clock import local_today
    from caseapp.db import get_session
    from caseapp.runtime import keyring
    from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case
    from caseapp.services.org.units import unit_by_code
    from tests.factories import get_user, make_unit, make_user

    with live.app.app_context():
        s = get_session()
        if unit_by_code(s, COMMUNE) is not None:
            return
        province = unit_by_code(s, "BR-P")
        commune = make_unit(s, province, COMMUNE, "commune", "Phòng Văn hóa - Xã hội xã Yên")
        school = make_unit(
            s, commune, SCHOOL, "school", "Trường THCS Yên Bình", level="lower_secondary"
        )
        people = {
            "focal": make_user(s, keyring(), "focal.yen", school, [("focal_point", school)]),
            "officer": make_user(s, keyring(), "officer.yen", commune, [("officer", commune)]),
        }
        s.flush()
        create_case(
            s,
            get_user(s, people["focal"].username),
            school,
            CaseDetails(
                received_on=local_today() - timedelta(days=10),
                received_via="in_person",
                reporter_kind="teacher",
                setting="in_school",
                violence_types=["psychological"],
                child=True,
                harmed_sex="female",
                harmed_age_band="11-14",
                harmed_role="pupil",
                perpetrator_sex="male",
                perpetrator_age_band="11-14",
                perpetrator_relationship="pupil_peer",
                risk_level="low",
            ),
            CaseContent(
                harmed_name=CHILD,
                guardian_name=GUARDIAN,
                perpetrator_names=PERPETRATOR,
                narrative=NARRATIVE,
            ),
        )
        s.commit()
        live.people.update({f"yen_{k}": v for k, v in people.items()})


def _post_form(page, action: str):
    return page.locator(f'form[method="post"][action="{action}"]')


def _submit(page, action: str) -> None:
    _post_form(page, action).locator('button[type="submit"]').first.click()
    page.wait_for_load_state()


def test_a_guardians_access_request_is_answered_within_the_clock(chromium, live_server):
    live = live_server
    _seed(live)
    base = live.url

    def person_page(key):
        context = chromium.new_context()
        context.set_default_timeout(30_000)
        tab = context.new_page()
        sign_in(tab, live, live.people[key])
        return context, tab

    # 1. The focal point records the request (received now) from the navigation.
    ctx, page = person_page("yen_focal")
    page.goto(f"{base}/privacy/requests")
    assert_accessible(page, "requests list")
    page.goto(f"{base}/privacy/requests/new")
    assert_accessible(page, "request form")
    form = _post_form(page, "/privacy/requests/new")
    form.locator('input[name="unit_code"]').fill(SCHOOL)
    form.locator('select[name="kind"]').select_option("access")
    form.locator('select[name="relation"]').select_option("guardian")
    form.locator('select[name="channel"]').select_option("letter")
    form.locator('input[name="requester_name"]').fill(GUARDIAN)
    form.locator('input[name="requester_contact"]').fill("0987 654 321")
    form.locator('input[name="subject_name"]').fill(CHILD)
    form.locator('textarea[name="details"]').fill("Xin xem dữ liệu về con.")
    form.locator('button[type="submit"]').click()
    page.wait_for_url(f"{base}/privacy/requests/*")
    request_path = page.url.removeprefix(base)
    assert CHILD in page.content() and GUARDIAN in page.content()
    assert_accessible(page, "request recorded")

    # 2. Acknowledge, search the name index, confirm the one match, prepare the export.
    _submit(page, f"{request_path}/acknowledge")
    assert _post_form(page, f"{request_path}/acknowledge").count() == 0
    _submit(page, f"{request_path}/matches/search")
    confirm = _post_form(page, f"{request_path}/matches")
    assert confirm.count() == 1
    confirm.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    assert_accessible(page, "request with a confirmed match")
    _submit(page, f"{request_path}/export")
    assert page.locator(f'a[href^="{request_path}/exports/"]').count() == 0  # not the reviewer
    assert_accessible(page, "export waiting for review")
    ctx.close()

    # 3. The commune's officer reviews the export on screen and releases it.
    ctx, page = person_page("yen_officer")
    page.goto(f"{base}{request_path}")
    review = page.locator(f'a[href^="{request_path}/exports/"]')
    assert review.count() == 1
    review.click()
    page.wait_for_load_state()
    content = page.content()
    assert CHILD in content and GUARDIAN in content
    assert PERPETRATOR not in content and NARRATIVE not in content
    assert_accessible(page, "export under review")
    export_path = page.url.removeprefix(base)
    release = _post_form(page, f"{export_path}/release")
    release.locator('select[name="outcome"]').select_option("granted")
    release.locator('input[name="verified"]').check()
    release.locator('button[type="submit"]').click()
    page.wait_for_load_state()
    assert page.url.removeprefix(base) == request_path
    assert "⚠" not in page.locator("main").inner_text()  # completed, not overdue
    assert _post_form(page, f"{request_path}/decide").count() == 0
    assert_accessible(page, "request completed")
    screenshot(page, "subject-request-completed.png")
    ctx.close()

    # 4. The focal point prints the released export.
    ctx, page = person_page("yen_focal")
    page.goto(f"{base}{export_path}")
    assert CHILD in page.content() and NARRATIVE not in page.content()
    assert _post_form(page, f"{export_path}/release").count() == 0
    assert_accessible(page, "printable export")
    ctx.close()
