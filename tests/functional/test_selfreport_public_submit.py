"""A report from the public page of a school: stored sealed with the day only, routed, audited
once without address or request id, announced; the receipt page; the honeypot and the minimum
fill time; bad input refused with nothing stored."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from caseapp.clock import local_today, start_of_local_day
from caseapp.models import AuditEvent, Notification, SelfReport, Unit
from caseapp.services.audit.trail import record
from caseapp.services.selfreports.seal import ReportSeal
from tests.functional.admin_support import audit_head, events_after
from tests.functional.selfreport_support import (
    ADDRESS,
    AGENT,
    code_of,
    env,
    latest_report,
    report_fields,
    scan,
    send_report,
    token_of,
)

pytestmark = pytest.mark.usefixtures("clean_store")


def _count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def test_a_report_is_stored_sealed_with_the_day_only(client, db, world):
    words = ["Nguyễn-Văn-Bí-Mật", "sân-sau-thư-viện-xyz", "0909-777-123", "Bé-Na-Tên-Thật"]
    start = audit_head(db)
    response = send_report(
        client,
        "SCH-A",
        details=f"{words[0]} đánh em ở {words[1]}.",
        contact=words[2],
        name=words[3],
        danger="yes",
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    code = code_of(response)
    assert " ".join(code[i : i + 4] for i in range(0, 16, 4)) in response.get_data(as_text=True)

    report = latest_report(db)
    assert report.school_id == world.units["SCH-A"]
    assert report.routed_unit_id == world.units["SCH-A"] and report.route == "school"
    assert type(report.received_on) is date and report.received_on == local_today()
    assert report.danger is True and report.what_kinds == ["hit", "words"]
    assert report.due_at is not None
    opened = ReportSeal(report)
    assert opened.open("details", report.details) == f"{words[0]} đánh em ở {words[1]}."
    assert opened.open("reporter_contact", report.reporter_contact) == words[2]
    assert opened.open("reporter_name", report.reporter_name) == words[3]

    # Nothing in clear anywhere: not the words, the code, the address or the user agent.
    assert scan(db, [*words, code, ADDRESS, AGENT, "PhoneXYZ"]) == []

    events = events_after(db, start)
    assert [e.action for e in events] == ["selfreport.received"]
    event = events[0]
    assert event.at.replace(tzinfo=None) == start_of_local_day(local_today()).replace(tzinfo=None)
    assert event.ip == "" and event.request_id == "" and event.actor_id is None
    assert set(json.loads(event.changes)) == {"route", "danger", "photos", "contact_given"}
    assert '"route": "school"' in event.changes and "Nguy" not in event.changes
    # The school's focal point is told, once, naming nothing.
    notice = db.scalar(select(Notification).where(Notification.user_id == world["focal_a"].id))
    assert notice is not None and notice.kind == "self_report_danger" and notice.case_id is None


@pytest.mark.parametrize(
    ("school", "who_did", "office", "where", "route"),
    [
        ("SCH-A", "teacher_staff", None, "D1", "staff_named"),
        ("SCH-A", "teacher_staff", "yes", "D1", "staff_named"),
        ("SCH-B", "pupil", "yes", "D1", "asked_office"),
        ("SCH-C", "family", None, "SCH-C", "school"),
        ("SCH-C", None, None, "SCH-C", "school"),
    ],
)
def test_routing(client, db, world, school, who_did, office, where, route):
    response = send_report(client, school, who_did=who_did, office=office)
    assert response.status_code == 200
    report = latest_report(db)
    assert (report.routed_unit_id, report.route) == (world.units[where], route)
    assert report.who_did == (who_did or "not_said")


def test_the_form_preselects_the_office_for_a_teacher_only_after_a_reply(client, db):
    page = client.get("/r/SCH-A").get_data(as_text=True)
    assert 'name="office" value="yes">' in page  # not ticked on a fresh form
    again = send_report(client, "SCH-A", who_hurt="nobody", who_did="teacher_staff")
    assert again.status_code == 400
    assert 'name="office" value="yes" checked' in again.get_data(as_text=True)


@pytest.mark.parametrize(
    "overrides",
    [
        {"who_hurt": ""},
        {"who_hurt": "dog"},
        {"what": ["hit", "lasers"]},
        {"what": [], "details": "   "},
        {"when": "yesterday"},
        {"where": "moon"},
        {"who_did": "robot"},
        {"danger": "maybe"},
        {"details": "x" * 5001},
        {"name": "n" * 121},
        {"contact": "c" * 301},
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(client, db, overrides):
    before = (_count(db, SelfReport), _count(db, AuditEvent))
    response = send_report(client, "SCH-A", **overrides)
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)
    assert (_count(db, SelfReport), _count(db, AuditEvent)) == before


def test_what_they_typed_is_kept_when_refused(client, db):
    response = send_report(client, "SCH-A", who_hurt="", details="Em bị bắt nạt ở căng tin")
    assert "Em bị bắt nạt ở căng tin" in response.get_data(as_text=True)
    assert 'value="hit" checked' in response.get_data(as_text=True)


def test_the_honeypot_gets_a_receipt_and_stores_nothing(client, db):
    before = (_count(db, SelfReport), _count(db, AuditEvent), _count(db, Notification))
    response = send_report(client, "SCH-A", website="http://spam.example")
    assert response.status_code == 200
    assert len(code_of(response)) == 16
    assert (_count(db, SelfReport), _count(db, AuditEvent), _count(db, Notification)) == before


def test_a_form_sent_too_fast_is_shown_again_with_what_was_typed(app, client, db):
    original = app.extensions["caseapp.settings"]
    app.extensions["caseapp.settings"] = dataclasses.replace(
        original, selfreport_min_fill_seconds=60
    )
    try:
        before = _count(db, SelfReport)
        response = send_report(client, "SCH-A", details="Một điều rất riêng")
        assert response.status_code == 400
        body = response.get_data(as_text=True)
        assert "Một điều rất riêng" in body and 'role="alert"' in body
        assert _count(db, SelfReport) == before
    finally:
        app.extensions["caseapp.settings"] = original


@pytest.mark.parametrize("token", ["", "forged", None])
def test_a_missing_or_forged_form_token_is_refused(client, db, token):
    page = client.get("/r/SCH-A")
    real = token_of(page)
    data = {"token": real[:-2] + "xx" if token is None else token, **report_fields()}
    before = _count(db, SelfReport)
    response = client.post("/r/SCH-A", data=data, environ_base=env())
    assert response.status_code == 400
    assert _count(db, SelfReport) == before


def test_a_token_of_another_form_is_refused(client, db):
    receipt = send_report(client, "SCH-A")
    receipt_token = token_of(receipt)  # the "save as image" form's token
    before = _count(db, SelfReport)
    response = client.post("/r/SCH-A", data={"token": receipt_token, **report_fields()})
    assert response.status_code == 400
    assert _count(db, SelfReport) == before


def test_unknown_school_is_a_friendly_404(client, db):
    for url in ("/r/NO-SUCH-SCHOOL", "/r/D1", "/r/PRV"):
        response = client.get(url)
        assert response.status_code == 404
        body = response.get_data(as_text=True)
        assert "111" in body and 'id="quick-exit"' in body
        assert "Set-Cookie" not in response.headers
    assert client.post("/r/NO-SUCH-SCHOOL", data=report_fields()).status_code == 404


def test_a_closed_school_takes_no_report(client, db, world):
    school = db.get(Unit, world.units["SCH-B"])
    school.valid_to = local_today()
    record(db, None, "unit.close", school, unit=school)
    db.commit()  # a savepoint: the test's transaction is rolled back afterwards
    assert client.get("/r/SCH-B").status_code == 404


def test_search_finds_schools_by_folded_name(client, db):
    response = client.get("/r?q=truong a")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "/r/SCH-A" in body and "/r/D1" not in body
    assert "/r/SCH-A?lang=en" in client.get("/r?q=TRƯỜNG&lang=en").get_data(as_text=True)
    assert "/r/SCH-" not in client.get("/r?q=zzzz").get_data(as_text=True)
    # A NUL typed in (or sent by a script) parts words; PostgreSQL refused it with a 500.
    response = client.get("/r?q=truong%00a")
    assert response.status_code == 200
    assert "/r/SCH-A" in response.get_data(as_text=True)


def test_a_receipt_code_already_held_is_drawn_again(client, db, monkeypatch):
    from caseapp.services.selfreports import seal

    taken = code_of(send_report(client, "SCH-A"))
    drawn = iter([taken, "1234567812345678"])
    monkeypatch.setattr(seal, "new_receipt_code", lambda: next(drawn))
    response = send_report(client, "SCH-B", ip="10.5.5.5")
    assert response.status_code == 200
    assert code_of(response) == "1234567812345678"
    assert latest_report(db).receipt_hash == seal.receipt_hash("1234567812345678")
