"""Issue 14, done when: at phone width a pupil opens /r/<school code>, files a report naming a
teacher and saves the receipt as an image; the report waits at the commune's office, not at the
school (its focal point neither lists nor opens it); the commune's officer opens it, accepts it
as a case and replies from the case's confidential page; the pupil, in a fresh browser with the
code only, reads the reply and answers; the officer reads the exchange, in order, on the case's
confidential page and in its timeline; the trail holds every read (an auditor lists them), and
what the pupil did is recorded with the day only, no address and no request id. No cookie is
ever set on the pupil's phone; every page visited passes axe."""

from __future__ import annotations

import json
import re
from datetime import UTC

import pytest

from tests.browser.conftest import TIMEOUT_MS, assert_accessible, screenshot, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
COMMUNE = "BR-HC"
SCHOOL = "BR-HCS"
SCHOOL_NAME = "Trường THCS Hành Trình"
DETAILS = "Thầy dạy toán quát mắng và đánh vào tay em trước lớp."
REPLY = "Cô đã đọc báo cáo của em. Em có an toàn không? Cô sẽ giúp em."
ANSWER = "Em cảm ơn cô. Hôm nay thầy lại quát em trong giờ ra chơi."
REASON = "Tiếp nhận tự báo cáo của học sinh, cần đọc để trả lời em."


def _seed(live) -> None:
    """A commune office with one school, its focal point and the commune's officer."""
    from caseapp.db import get_session
    from caseapp.runtime import keyring
    from caseapp.services.org.units import unit_by_code
    from tests.factories import make_unit, make_user

    with live.app.app_context():
        s = get_session()
        if unit_by_code(s, COMMUNE) is not None:
            return
        province = unit_by_code(s, "BR-P")
        commune = make_unit(s, province, COMMUNE, "commune", "Phòng Văn hóa - Xã hội xã Hành")
        school = make_unit(s, commune, SCHOOL, "school", SCHOOL_NAME, level="lower_secondary")
        live.people["hanh_focal"] = make_user(
            s, keyring(), "focal.hanh", school, [("focal_point", school)]
        )
        live.people["hanh_officer"] = make_user(
            s, keyring(), "officer.hanh", commune, [("officer", commune)]
        )
        s.commit()


def _vi(live, msgid: str, context: str | None = None) -> str:
    """The text the staff screens show for ``msgid`` (Vietnamese, the default locale)."""
    from flask_babel import gettext, pgettext

    with live.app.test_request_context("/"):
        return pgettext(context, msgid) if context else gettext(msgid)


def _phone(chromium):
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _staff(chromium, live, key):
    context = chromium.new_context()
    context.set_default_timeout(30_000)
    tab = context.new_page()
    sign_in(tab, live, live.people[key])
    return context, tab


def _events(live, since: int, *actions: str) -> list:
    from sqlalchemy import select

    from caseapp.db import get_session
    from caseapp.models import AuditEvent

    with live.app.app_context():
        s = get_session()
        rows = list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq > since, AuditEvent.action.in_(actions))
                .order_by(AuditEvent.seq)
            )
        )
        s.expunge_all()
        return rows


def _head(live) -> int:
    from sqlalchemy import func, select

    from caseapp.db import get_session
    from caseapp.models import AuditEvent

    with live.app.app_context():
        return get_session().scalar(select(func.max(AuditEvent.seq))) or 0


def _report_uid(live, since: int) -> str:
    """The report the pupil sent (its "received" event, after ``since``)."""
    from sqlalchemy import select

    from caseapp.db import get_session
    from caseapp.models.selfreports import SelfReport

    (received,) = _events(live, since, "selfreport.received")
    with live.app.app_context():
        return get_session().scalar(
            select(SelfReport.uid).where(SelfReport.id == int(received.object_id))
        )


def _pupil_files_a_report(chromium, live) -> str:
    """The pupil's phone: the school's page, the report, the receipt saved as an image.
    Returns the code as the page shows it."""
    context = _phone(chromium)
    page = context.new_page()
    try:
        response = page.goto(f"{live.url}/r/{SCHOOL}")
        assert response.status == 200
        assert SCHOOL_NAME in page.locator("main").inner_text()
        assert "111" in page.locator("header").inner_text()
        assert_accessible(page, "the school's report page (phone)")

        page.get_by_label("Em", exact=True).check()
        page.get_by_label("Bị chửi, dọa nạt hoặc xúc phạm").check()
        page.get_by_label("Hôm nay").check()
        page.get_by_label("Ở trường", exact=True).check()
        page.get_by_label("Thầy cô hoặc người làm việc ở trường").check()
        assert page.locator("#office").is_checked()  # preselected: a teacher was named
        page.locator('input[name="danger"][value="no"]').check()
        page.locator("#details").fill(DETAILS)
        with page.expect_navigation():
            page.get_by_role("button", name="Gửi").click()

        code = page.locator("p.code")
        code.wait_for()
        shown = code.inner_text().strip()
        assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", shown), shown
        assert_accessible(page, "the receipt page (phone)")
        screenshot(page, "selfreport-journey-receipt.png")
        with page.expect_download() as download:
            page.get_by_role("button", name="Lưu thành ảnh").click()
        saved = download.value
        assert saved.suggested_filename.endswith(".png")
        with open(saved.path(), "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
        assert context.cookies() == []
        return shown
    finally:
        context.close()


def _not_at_the_school(chromium, live, report_uid: str) -> None:
    """The school's focal point neither lists the report nor opens it."""
    context, page = _staff(chromium, live, "hanh_focal")
    try:
        page.goto(f"{live.url}/self-reports/")
        assert_accessible(page, "the school's self-reports")
        assert page.locator(f'a[href="/self-reports/{report_uid}"]').count() == 0
        assert SCHOOL_NAME not in page.locator("main table").all_inner_texts()
        response = page.goto(f"{live.url}/self-reports/{report_uid}")
        assert response.status == 404
        assert DETAILS not in page.content()
    finally:
        context.close()


def _officer_accepts_and_replies(chromium, live, report_uid: str) -> str:
    """The commune's officer: the waiting list, the report, the accept form, a reply from the
    case's confidential page. Returns the case's address."""
    from playwright.sync_api import expect

    base = live.url
    context, page = _staff(chromium, live, "hanh_officer")
    try:
        page.goto(f"{base}/self-reports/")
        assert_accessible(page, "the office's self-reports")
        link = page.locator(f'a[href="/self-reports/{report_uid}"]')
        expect(link).to_have_count(1)
        with page.expect_navigation():
            link.click()
        assert DETAILS in page.locator("main").inner_text()
        assert_accessible(page, "the self-report, opened by the officer")

        accept = page.locator(f'form[action="/self-reports/{report_uid}/accept"]')
        # Carried over from the report: the teacher, in school, words (psychological).
        assert accept.locator('input[name="violence_types"][value="psychological"]').is_checked()
        label = lambda msgid: accept.get_by_label(_vi(live, msgid), exact=True)  # noqa: E731
        assert label("Relationship of the alleged perpetrator").input_value() == "teacher"
        assert label("Where it happened").input_value() == "in_school"
        label("Risk level").select_option("medium")
        label("Sex of the person harmed").select_option("not_recorded")
        label("Age band of the person harmed").select_option("11-14")
        label("The person harmed is a").select_option("pupil")
        label("Sex of the alleged perpetrator").select_option("male")
        label("Age band of the alleged perpetrator").select_option("25-59")
        label("The person harmed is a child (under 16)").check()
        with page.expect_navigation():
            accept.get_by_role("button", name=_vi(live, "Accept as a case")).click()
        assert re.fullmatch(rf"{re.escape(base)}/cases/[^/#?]+", page.url), page.url
        case_url = page.url
        expect(page.locator(".flash-success")).to_contain_text(
            _vi(live, "The report was accepted as a new case.")
        )
        assert_accessible(page, "the case made from the self-report")

        # An officer over the school opens the content with a reason.
        opened = page.locator(f'form[action="{case_url.removeprefix(base)}/confidential"]')
        opened.get_by_label(_vi(live, "Why do you need to open it?")).fill(REASON)
        with page.expect_navigation():
            opened.get_by_role("button", name=_vi(live, "Open with this reason")).click()
        conversation = page.locator("#conversation")
        expect(conversation).to_contain_text(_vi(live, "No messages yet."))
        assert_accessible(page, "the case's confidential page with the conversation")
        conversation.get_by_label(_vi(live, "Message to the reporter")).fill(REPLY)
        with page.expect_navigation():
            conversation.get_by_role("button", name=_vi(live, "Send the message")).click()
        assert page.url.startswith(f"{case_url}/confidential")
        expect(page.locator("#conversation article.note")).to_have_count(1)
        expect(page.locator("#conversation")).to_contain_text(REPLY)
        assert_accessible(page, "the confidential page after the reply")
        return case_url
    finally:
        context.close()


def _pupil_reads_and_answers(chromium, live, code: str) -> None:
    """A fresh phone (no cookie, nothing shared): the code, the reply, an answer."""
    context = _phone(chromium)
    page = context.new_page()
    try:
        page.goto(f"{live.url}/r/follow")
        assert_accessible(page, "the follow page (phone)")
        page.locator("#code").fill(code)
        with page.expect_navigation():
            page.get_by_role("button", name="Xem báo cáo").click()
        talk = page.locator("ol.talk")
        talk.wait_for()
        assert "Đã nhận" not in page.locator("p.status").inner_text()  # it was opened
        assert talk.locator("li.theirs").inner_text().count(REPLY) == 1
        assert_accessible(page, "the pupil's report with the reply (phone)")
        page.get_by_label("Viết tin nhắn").fill(ANSWER)
        with page.expect_navigation():
            page.get_by_role("button", name="Gửi").click()
        page.locator("p.note").wait_for()
        lines = talk.locator("li")
        assert lines.count() == 2  # the reply, then the answer: in the order written
        first, second = lines.nth(0), lines.nth(1)
        assert REPLY in first.inner_text() and first.get_attribute("class") == "theirs"
        assert ANSWER in second.inner_text() and second.get_attribute("class") == "mine"
        assert_accessible(page, "the pupil's report after the answer (phone)")
        assert context.cookies() == []
    finally:
        context.close()


def _officer_reads_the_exchange(chromium, live, case_url: str) -> None:
    from playwright.sync_api import expect

    base = live.url
    context, page = _staff(chromium, live, "hanh_officer")
    try:
        page.goto(case_url)
        # The timeline (newest first) lists the reply and the pupil's answer.
        timeline = page.locator("ol.timeline")
        actions = [a.strip() for a in timeline.locator("li > strong").all_inner_texts()]
        answer = _vi(live, "Message from a self-reporter received", "audit action")
        reply = _vi(live, "Reply sent to a self-reporter", "audit action")
        assert answer in actions and reply in actions, actions
        assert actions.index(answer) < actions.index(reply), actions
        assert ANSWER not in timeline.inner_text()  # the timeline never shows content
        assert_accessible(page, "the case's page with its timeline")

        opened = page.locator(f'form[action="{case_url.removeprefix(base)}/confidential"]')
        opened.get_by_label(_vi(live, "Why do you need to open it?")).fill(REASON)
        with page.expect_navigation():
            opened.get_by_role("button", name=_vi(live, "Open with this reason")).click()
        notes = page.locator("#conversation article.note")
        expect(notes).to_have_count(2)
        assert REPLY in notes.nth(0).inner_text()
        assert ANSWER in notes.nth(1).inner_text()
        assert _vi(live, "The reporter") in notes.nth(1).inner_text()
        assert_accessible(page, "the confidential page with the exchange")
        screenshot(page, "selfreport-journey-exchange.png")
    finally:
        context.close()


def _auditor_sees_the_reads(chromium, live, reads: int) -> None:
    from playwright.sync_api import expect

    context, page = _staff(chromium, live, "auditor")
    try:
        page.goto(f"{live.url}/audit/events")
        filters = page.locator("form.filters")
        filters.locator('input[name="unit"]').fill(COMMUNE)
        filters.locator('select[name="action"]').select_option("selfreport.read")
        with page.expect_navigation():
            filters.locator('button[type="submit"]').click()
        rows = page.locator("table tbody tr")
        expect(rows).to_have_count(reads)  # the commune's and its school's, nobody else's
        for row in rows.all_inner_texts():
            assert "officer.hanh" in row or "Person officer.hanh" in row, row
        assert_accessible(page, "the audit trail of the reads")
    finally:
        context.close()


def test_a_pupil_reports_a_teacher_and_talks_with_the_office(live_server, chromium):
    live = live_server
    _seed(live)
    start = _head(live)

    code = _pupil_files_a_report(chromium, live)
    report_uid = _report_uid(live, start)
    _not_at_the_school(chromium, live, report_uid)
    case_url = _officer_accepts_and_replies(chromium, live, report_uid)
    _pupil_reads_and_answers(chromium, live, code)
    _officer_reads_the_exchange(chromium, live, case_url)

    # The trail: every read, by the officer, in order.
    officer_id = live.people["hanh_officer"].id
    reads = _events(live, start, "selfreport.read", "case.view_confidential")
    assert [(e.action, e.actor_id) for e in reads] == [
        ("selfreport.read", officer_id),  # the report opened from the list
        ("case.view_confidential", officer_id),  # the case's content, with a reason
        ("selfreport.read", officer_id),  # the conversation on that page
        ("case.view_confidential", officer_id),  # after the reply, the page shown again
        ("selfreport.read", officer_id),
        ("case.view_confidential", officer_id),  # to read the pupil's answer
        ("selfreport.read", officer_id),
    ], [(e.action, e.actor_id) for e in reads]
    assert json.loads(reads[0].changes)["status"] == ["new", "seen"]
    assert json.loads(reads[-1].changes)["messages"] == 2
    _auditor_sees_the_reads(chromium, live, sum(e.action == "selfreport.read" for e in reads))

    # What the pupil did: the day only, no address, no request id, nobody.
    from caseapp.clock import local_today, start_of_local_day

    day_start = start_of_local_day(local_today())
    pupil = _events(live, start, "selfreport.received", "selfreport.message_received")
    assert [e.action for e in pupil] == ["selfreport.received", "selfreport.message_received"]
    for event in pupil:
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
        assert at == day_start, (event.action, at, day_start)
        assert event.ip == "" and event.request_id == ""
        assert event.actor_id is None
    # The officer's own events carry theirs, as every staff event does.
    assert reads[0].ip and reads[0].request_id
