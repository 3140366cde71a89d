"""Following a report with its receipt code: the status in plain words, the conversation, a new
message; a wrong, expired and throttled code read exactly the same; the reply token."""

from __future__ import annotations

import dataclasses
import io
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.models import AuditEvent, SelfReport, SelfReportMessage, SelfReportPhoto
from caseapp.services.audit.trail import record
from caseapp.services.selfreports.follow import public_status
from caseapp.services.selfreports.seal import ReportSeal
from tests.functional.admin_support import audit_head, events_after
from tests.functional.selfreport_support import (
    code_of,
    env,
    gps_jpeg,
    latest_report,
    open_report,
    send_report,
    token_of,
)

pytestmark = pytest.mark.usefixtures("clean_store")
WRONG = "1111 2222 3333 4444"


def _filed(client, db, **overrides) -> tuple[SelfReport, str]:
    response = send_report(client, "SCH-A", **overrides)
    assert response.status_code == 200
    return latest_report(db), code_of(response)


def _staff_reply(db, report: SelfReport, text: str) -> None:
    message = SelfReportMessage(
        uid=str(uuid.uuid4()),
        report_id=report.id,
        direction="staff",
        sent_on=local_today(),
        body=b"",
    )
    message.body = ReportSeal(report).seal_message(message.uid, text)
    db.add(message)
    record(db, None, "selfreport.reply", message, unit=report.routed_unit, changes={})
    db.commit()


def _close(db, report: SelfReport, days_ago: int) -> None:
    report.status = "closed"
    report.closed_on = local_today() - timedelta(days=days_ago)
    record(db, None, "selfreport.close", report, unit=report.routed_unit)
    db.commit()


def test_the_code_opens_the_status_and_the_conversation(client, db):
    report, code = _filed(client, db)
    spaced = f"{code[:4]} {code[4:8]}-{code[8:12]} {code[12:]}"
    page = open_report(client, spaced)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Set-Cookie" not in page.headers
    assert "Trường A" in body and "Đã nhận" in body  # received
    _staff_reply(db, report, "Cô đã đọc, em có an toàn không?")
    start = audit_head(db)
    sent = client.post(
        "/r/follow/message",
        data={"token": token_of(page), "message": "Em ổn, cảm ơn cô."},
        environ_base=env(),
    )
    assert sent.status_code == 200 and "Set-Cookie" not in sent.headers
    text = sent.get_data(as_text=True)
    assert text.index("Cô đã đọc") < text.index("Em ổn, cảm ơn cô.")
    assert local_today().strftime("%d/%m/%Y") in text
    events = events_after(db, start)
    assert [e.action for e in events] == ["selfreport.message_received"]
    assert events[0].ip == "" and events[0].request_id == ""
    stored = db.scalar(select(SelfReportMessage).where(SelfReportMessage.direction == "reporter"))
    assert stored.sent_on == local_today() and stored.staff_sent_at is None
    assert b"Em \xe1\xbb\x95n" not in stored.body  # sealed
    # Reading one's own report writes no event.
    before = audit_head(db)
    open_report(client, code)
    assert events_after(db, before) == []


def test_a_message_may_carry_photos(client, db):
    report, code = _filed(client, db)
    token = token_of(open_report(client, code))
    sent = client.post(
        "/r/follow/message",
        data={
            "token": token,
            "message": "Ảnh đây",
            "photos": [(io.BytesIO(gps_jpeg()), "a.jpg")],
        },
        content_type="multipart/form-data",
        environ_base=env(),
    )
    assert sent.status_code == 200
    db.expire_all()
    photo = db.scalar(select(SelfReportPhoto).where(SelfReportPhoto.report_id == report.id))
    assert photo is not None and photo.message_id is not None
    assert "1 ảnh" in sent.get_data(as_text=True)


def test_wrong_expired_and_throttled_codes_read_the_same(app, client, db):
    report, code = _filed(client, db)
    wrong = open_report(client, WRONG, ip="10.9.9.1")
    assert wrong.status_code == 200
    _close(db, report, days_ago=400)  # more than 12 months ago
    expired = open_report(client, code, ip="10.9.9.2")
    assert (expired.status_code, expired.get_data()) == (wrong.status_code, wrong.get_data())

    fresh, fresh_code = _filed(client, db)
    limit = app.extensions["caseapp.settings"].selfreport_guesses_per_address
    for _ in range(limit):
        open_report(client, WRONG, ip="10.9.9.3")
    locked = open_report(client, fresh_code, ip="10.9.9.3")  # the right code, while blocked
    assert (locked.status_code, locked.get_data()) == (wrong.status_code, wrong.get_data())
    assert dict(locked.headers).keys() == dict(wrong.headers).keys()
    # Another address still opens it.
    assert "Đã nhận" in open_report(client, fresh_code, ip="10.9.9.4").get_data(as_text=True)


def test_a_recently_closed_report_still_opens_but_takes_no_message(client, db):
    report, code = _filed(client, db)
    token = token_of(open_report(client, code))
    _close(db, report, days_ago=30)
    page = open_report(client, code)
    assert "Đã kết thúc" in page.get_data(as_text=True)
    assert 'name="message"' not in page.get_data(as_text=True)
    before = db.scalar(select(func.count()).select_from(SelfReportMessage))
    refused = client.post("/r/follow/message", data={"token": token, "message": "Còn nữa"})
    assert refused.status_code == 400
    assert db.scalar(select(func.count()).select_from(SelfReportMessage)) == before


def test_guessing_is_throttled_for_everyone_together(app, client, db):
    original = app.extensions["caseapp.settings"]
    app.extensions["caseapp.settings"] = dataclasses.replace(original, selfreport_guesses_total=3)
    try:
        _report, code = _filed(client, db)
        wrong = open_report(client, WRONG, ip="10.8.0.1")
        for i in range(3):
            open_report(client, WRONG, ip=f"10.8.1.{i}")
        blocked = open_report(client, code, ip="10.8.2.1")
        assert blocked.get_data() == wrong.get_data()
    finally:
        app.extensions["caseapp.settings"] = original


@pytest.mark.parametrize("tamper", ["", "x", "flip"])
def test_a_tampered_reply_token_is_refused(client, db, tamper):
    _report, code = _filed(client, db)
    token = token_of(open_report(client, code))
    bad = {"": "", "x": "x", "flip": token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")}
    before = db.scalar(select(func.count()).select_from(AuditEvent))
    refused = client.post("/r/follow/message", data={"token": bad[tamper], "message": "Hi"})
    assert refused.status_code == 400
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_a_form_token_is_no_reply_token(client, db):
    _filed(client, db)
    form_token = token_of(client.get("/r/SCH-A"))
    refused = client.post("/r/follow/message", data={"token": form_token, "message": "Hi"})
    assert refused.status_code == 400


@pytest.mark.parametrize(
    ("status", "case_status", "shown"),
    [
        ("new", None, "received"),
        ("seen", None, "looking"),
        ("accepted", "verifying", "looking"),
        ("accepted", "supporting", "help"),
        ("merged", "monitoring", "help"),
        ("accepted", "closed", "closed"),
        ("closed", None, "closed"),
        ("spam", None, "closed"),
    ],
)
def test_public_status_in_plain_words(status, case_status, shown):
    case = SimpleNamespace(status=case_status) if case_status else None
    assert public_status(SimpleNamespace(status=status, case=case)) == shown  # type: ignore[arg-type]


def test_an_empty_or_long_message_is_refused(client, db):
    _filed(client, db)
    _r, code = _filed(client, db)
    token = token_of(open_report(client, code))
    for text in ("   ", "m" * 3001):
        refused = client.post("/r/follow/message", data={"token": token, "message": text})
        assert refused.status_code == 400 and 'role="alert"' in refused.get_data(as_text=True)
