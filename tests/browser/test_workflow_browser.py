"""A case from intake to closure through the screens, in a real browser: the focal point records
it, verifies it, provides support and schedules a follow-up that is already past, so the case
is overdue on the officer's monitoring screen; the focal point records the follow-up (the next
one is scheduled 30 days on) and the overdue count drops to 0 while the case is still being
monitored; the focal point requests closure and the officer, another person than the requester,
approves it. The screens on the way (my work, monitoring, the case page with a step or a next
step open, the timeline) pass the accessibility check."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from caseapp.clock import local_today
from tests.browser.conftest import TIMEOUT_MS, assert_accessible, screenshot, sign_in

pytestmark = pytest.mark.browser

SCHOOL_NAME = "Trường THCS Thử Nghiệm"  # BR-DS, seeded by the conftest
# DESIGN.md section 5, in the default language (Vietnamese).
STATUS = {
    "new": "Mới tiếp nhận",
    "verifying": "Đang xác minh",
    "supporting": "Đang hỗ trợ",
    "monitoring": "Đang theo dõi",
    "closed": "Đã kết thúc",
}


def _ddmmyyyy(day) -> str:
    return day.strftime("%d/%m/%Y")


def _submit(page, button) -> None:
    """Post a form, wait for the page it redirects to, and check it reports success."""
    from playwright.sync_api import expect

    with page.expect_navigation():
        button.click()
    errors = page.locator(".flash-error").all_inner_texts()
    assert not errors, errors
    expect(page.locator(".flash-success")).to_have_count(1)


def _transition(
    page, target: str, reason: str, closure_reason: str | None = None, check: str | None = None
) -> None:
    """Open the "Next steps" item leading to ``target``, give a reason, confirm; with
    ``check``, the page passes the accessibility check (under that name) before confirming."""
    from playwright.sync_api import expect

    item = page.locator("#workflow ul.options details").filter(
        has=page.locator(f'input[name="target"][value="{target}"]')
    )
    expect(item).to_have_count(1)
    item.locator("summary").click()
    form = item.locator("form")
    expect(form.locator('textarea[name="reason"]')).to_be_visible()
    if closure_reason is not None:
        form.locator('select[name="closure_reason"]').select_option(closure_reason)
    form.locator('textarea[name="reason"]').fill(reason)
    if check:
        assert_accessible(page, check)
    _submit(page, form.locator('button[type="submit"]'))


def _add_step(page, kind: str, **fields) -> None:
    """Open "Add a step" for ``kind``, fill ``fields`` (select or input by name), add."""
    from playwright.sync_api import expect

    item = page.locator("#workflow details.add-step").filter(
        has=page.locator(f'input[name="kind"][value="{kind}"]')
    )
    expect(item).to_have_count(1)
    item.locator("summary").click()
    form = item.locator("form")
    for name, value in fields.items():
        select = form.locator(f'select[name="{name}"]')
        if select.count():
            select.select_option(value)
        else:
            form.locator(f'input[name="{name}"]').fill(value)
    _submit(page, form.locator('button[type="submit"]'))


def _status(page):
    # The second fact of the "Details" card: School, then Status.
    return page.locator("section.card dl.facts > dd").nth(1)


def _school_row(desk, base: str):
    from playwright.sync_api import expect

    desk.goto(f"{base}/monitoring")
    row = desk.locator("table tbody tr").filter(
        has=desk.get_by_role("link", name=SCHOOL_NAME, exact=True)
    )
    expect(row).to_have_count(1)
    return row


def _record_case(page, base: str, received, marker: str) -> None:
    form = page.locator("form.case-form")
    form.locator('select[name="unit_id"]').select_option(label=SCHOOL_NAME)
    form.locator('input[name="received_on"]').fill(received.isoformat())
    form.locator('input[name="incident_on"]').fill((received - timedelta(days=1)).isoformat())
    form.locator('select[name="received_via"]').select_option("in_person")
    form.locator('select[name="reporter_kind"]').select_option("teacher")
    form.locator('select[name="setting"]').select_option("in_school")
    form.locator('input[name="violence_types"][value="psychological"]').check()
    form.locator('select[name="risk_level"]').select_option("medium")
    form.locator('input[name="child"]').check()
    form.locator('select[name="harmed_sex"]').select_option("male")
    form.locator('select[name="harmed_age_band"]').select_option("11-14")
    form.locator('select[name="harmed_role"]').select_option("pupil")
    form.locator('select[name="harmed_disability"]').select_option("no")
    form.locator('select[name="harmed_ethnic_minority"]').select_option("no")
    form.locator('select[name="perpetrator_sex"]').select_option("male")
    form.locator('select[name="perpetrator_age_band"]').select_option("11-14")
    form.locator('select[name="perpetrator_relationship"]').select_option("pupil_peer")
    form.locator('textarea[name="narrative"]').fill(f"Em bị bạn cùng lớp chế giễu. {marker}")
    page.locator('form.case-form button[type="submit"]').click()
    page.wait_for_url(re.compile(re.escape(f"{base}/cases/") + r"[0-9a-f-]{36}$"))


def test_case_goes_from_intake_to_closure_through_the_screens(live_server, page, chromium):
    from playwright.sync_api import expect

    base = live_server.url
    focal = live_server.people["district_focal"]
    officer = live_server.people["district_officer"]
    today = local_today()
    received = today - timedelta(days=5)
    yesterday = today - timedelta(days=1)
    next_follow_up = today + timedelta(days=30)

    # The focal point records the case, received five days ago.
    sign_in(page, live_server, focal)
    page.goto(f"{base}/cases/new")
    _record_case(page, base, received, "WORKFLOW-JOURNEY")
    case_url = page.url
    match = re.search(
        rf"{re.escape(live_server.units['district_school'])}-\d{{4}}-\d{{4}}",
        page.locator("h1").inner_text(),
    )
    assert match
    reference = match.group(0)
    expect(_status(page)).to_have_text(STATUS["new"])

    reasons = {
        "verifying": "Tiếp nhận xong, bắt đầu xác minh",
        "supporting": "Đã xác minh xong, chuyển sang hỗ trợ",
        "monitoring": "Đã tư vấn tâm lý, chuyển sang theo dõi",
        "closure_requested": "Học sinh đã an toàn, đề nghị kết thúc",
        "closed": "Đồng ý kết thúc vụ việc",
    }

    _transition(page, "verifying", reasons["verifying"])
    expect(_status(page)).to_have_text(STATUS["verifying"])

    _add_step(
        page,
        "verification",
        method="interview",
        finding="substantiated",
        done_on=yesterday.isoformat(),
    )
    _transition(page, "supporting", reasons["supporting"])
    expect(_status(page)).to_have_text(STATUS["supporting"])

    _add_step(
        page, "support", service="counselling", status="provided", done_on=yesterday.isoformat()
    )
    # The follow-up form accepts a date in the past (it only has to be on or after the day
    # the case was received): the case is overdue from now on.
    _add_step(page, "follow_up", due_on=yesterday.isoformat())
    expect(page.locator("#workflow .urgent-alert")).to_have_count(1)
    _transition(page, "monitoring", reasons["monitoring"])
    expect(_status(page)).to_have_text(STATUS["monitoring"])

    # The focal point's work list puts the case among the overdue ones.
    page.goto(f"{base}/work")
    overdue_cases = page.locator("main section", has=page.locator("h2", has_text="Quá hạn"))
    expect(overdue_cases.get_by_role("link", name=reference, exact=True)).to_have_count(1)
    assert_accessible(page, "my work with an overdue case")

    # The district's officer, in a browser of their own, sees the school's case overdue.
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        desk = context.new_page()
        sign_in(desk, live_server, officer)
        row = _school_row(desk, base)
        overdue = row.locator("td").nth(2)
        expect(overdue.locator("a .bad")).to_have_text("1")
        still_open = row.locator("td").nth(1).inner_text()  # other tests' cases count too
        screenshot(desk, "monitoring-overdue.png")
        assert_accessible(desk, "school monitoring with an overdue case")
        overdue.locator("a").click()
        desk.wait_for_url(re.compile(r"/cases/\?.*overdue=y"))
        expect(desk.locator("table tbody tr")).to_have_count(1)
        expect(desk.locator("table tbody tr")).to_contain_text(reference)

        # The focal point records the follow-up as done: the case is safe.
        page.goto(case_url)
        finish = page.locator("#workflow details").filter(
            has=page.locator('select[name="situation"]')
        )
        expect(finish).to_have_count(1)
        finish.locator("summary").click()
        form = finish.locator("form")
        form.locator('input[name="done_on"]').fill(today.isoformat())
        form.locator('select[name="situation"]').select_option("safe")
        assert_accessible(page, "a case's page with a follow-up being recorded")
        _submit(page, form.locator('button[type="submit"]'))
        expect(page.locator("#workflow .urgent-alert")).to_have_count(0)
        # This follow-up is done today; the next one is scheduled 30 days later, still to do.
        rows = page.locator("#workflow table tbody tr")
        done = rows.filter(has_text=_ddmmyyyy(yesterday)).filter(
            has=page.locator("td:nth-child(4)", has_text=_ddmmyyyy(today))
        )
        expect(done).to_have_count(1)
        planned = rows.filter(has_text=_ddmmyyyy(next_follow_up))
        expect(planned).to_have_count(1)
        expect(planned.locator("td").nth(3)).to_have_text("—")  # not done yet
        expect(planned.locator('select[name="situation"]')).to_have_count(1)
        expect(_status(page)).to_have_text(STATUS["monitoring"])

        # Nothing is overdue any more at the school, and the case is still open: the follow-up
        # cleared it, not a closure request (a case awaiting closure is never counted overdue).
        row = _school_row(desk, base)
        expect(row.locator("td").nth(1)).to_have_text(still_open)
        overdue = row.locator("td").nth(2)
        expect(overdue).to_have_text("0")
        expect(overdue.locator("a")).to_have_count(0)
        screenshot(desk, "monitoring-clear.png")

        _transition(
            page,
            "closure_requested",
            reasons["closure_requested"],
            closure_reason="resolved",
            check="a case's page with a closure request open",
        )

        # The officer (not the requester) approves the closure.
        desk.goto(case_url)
        _transition(desk, "closed", reasons["closed"])
        expect(_status(desk)).to_have_text(STATUS["closed"])
        # A closed case can only be reopened (by the officer, with a reason).
        expect(desk.locator('#workflow ul.options input[name="target"]')).to_have_count(1)
        expect(desk.locator('#workflow ul.options input[name="target"]')).to_have_attribute(
            "value", "reopened"
        )
    finally:
        context.close()

    # The timeline lists every change of status with its reason.
    page.goto(case_url)
    expect(_status(page)).to_have_text(STATUS["closed"])
    timeline = page.locator("ol.timeline")
    screenshot(page, "case-closed.png")
    assert_accessible(page, "a closed case's page with its timeline")
    for reason in reasons.values():
        expect(timeline.locator("> li").filter(has_text=reason)).to_have_count(1)
    for old, new in (
        ("new", "verifying"),
        ("verifying", "supporting"),
        ("supporting", "monitoring"),
    ):
        expect(timeline).to_contain_text(f"{STATUS[old]} → {STATUS[new]}")
    # Through "closure requested" (its wording is not pinned here) to closed.
    expect(timeline).to_contain_text(f"{STATUS['monitoring']} → ")
    expect(timeline).to_contain_text(f" → {STATUS['closed']}")
