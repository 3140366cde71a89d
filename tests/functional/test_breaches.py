"""The breach register: recorded, updated, acted on and closed by an officer of the units
concerned (each audited once), a 72-hour clock in calendar hours, read by auditors without an
audit event, refused outside scope, on stale versions, without CSRF and on bad input, the
notification DOCX, and the offers to record a breach."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

from docx import Document
from sqlalchemy import func, select

from caseapp.models import AuditEvent, Grant
from caseapp.models.privacy import Breach, BreachAction
from caseapp.runtime import keyring
from caseapp.services.audit.trail import record
from caseapp.services.privacy import breaches as service
from tests.factories import Visitor, make_user
from tests.functional.report_support import unit

FORM = {
    "unit_code": "D1",
    "discovered_at": "27/11/2026 20:00",  # a Friday evening
    "discovered_by": "Cán bộ CNTT phòng D1",
    "description": "Máy tính xách tay có bản sao dữ liệu bị mất.",
    "data_categories": ["identity", "children"],
    "units_affected": "SCH-A, SCH-B",
    "people_affected": "40",
    "source": "manual",
    "source_ref": "",
}


def _events(db, action: str) -> int:
    db.expire_all()
    return db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def _all_events(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(AuditEvent))


def _breaches(db) -> list[tuple]:
    db.expire_all()
    return [
        (b.id, b.version, b.status, b.authority_notified_at, b.notify_people)
        for b in db.scalars(select(Breach).order_by(Breach.id))
    ]


def _record(officer: Visitor, db, **fields) -> Breach:
    r = officer.post("/privacy/breaches/new", {**FORM, **fields})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    breach_id = int(r.headers["Location"].rsplit("/", 1)[-1])
    db.expire_all()
    return db.get(Breach, breach_id)


def test_create_update_action_close_audited_once_each(app, db, world):
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    breach = _record(officer, db)
    assert breach.reference.startswith("SC-2026-")
    assert service.categories_of(breach) == ["identity", "children"]
    assert service.units_of(breach) == ["SCH-A", "SCH-B"]
    assert breach.people_affected == 40
    assert _events(db, "breach.create") == 1
    url = f"/privacy/breaches/{breach.id}"
    r = officer.post(
        url,
        {
            "version": str(breach.version),
            "contained_at": "28/11/2026 08:00",
            "authority_notified_at": "29/11/2026 09:00",
            "notify_people": "no",
            "notify_people_reason": "Dữ liệu đã được mã hóa, không thể đọc.",
            "people_notified_at": "",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    assert _events(db, "breach.update") == 1
    r = officer.post(f"{url}/actions", {"taken_at": "28/11/2026 07:30", "text": "Đổi mật khẩu."})
    assert r.status_code == 302
    assert _events(db, "breach.action") == 1
    db.expire_all()
    breach = db.get(Breach, breach.id)
    r = officer.post(f"{url}/close", {"version": str(breach.version), "reason": ""})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    assert _events(db, "breach.close") == 1
    db.expire_all()
    breach = db.get(Breach, breach.id)
    assert breach.status == "closed" and breach.closed_at is not None
    assert not service.overdue(breach)  # notified 37 hours after discovery
    page = officer.get(url).get_data(as_text=True)
    assert "Đổi mật khẩu." in page and "Authority notified" in page


def test_friday_evening_is_due_monday_evening(app, db, world):
    assert date(2026, 11, 27).weekday() == 4
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    breach = _record(officer, db)
    due = service.deadline(breach)
    assert service.shown_moment(due) == "30/11/2026 20:00"  # Monday evening, 72 hours on
    saturday = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
    assert service.remaining_hours(breach, saturday) == 58
    assert not service.overdue(breach, saturday)
    monday_before = datetime(2026, 11, 30, 12, 59, tzinfo=UTC)  # 19:59 in Vietnam
    assert not service.overdue(breach, monday_before)
    assert service.remaining_hours(breach, monday_before) == 0
    monday_after = datetime(2026, 11, 30, 13, 1, tzinfo=UTC)
    assert service.overdue(breach, monday_after)
    listing = officer.get("/privacy/breaches").get_data(as_text=True)
    assert "30/11/2026 20:00" in listing
    assert "Overdue: the authority was not notified within 72 hours" in listing


def test_another_commune_gets_404_and_changes_nothing(app, db, world):
    breach = _record(Visitor(app, db, world["officer_d1"]), db)
    before, events = _breaches(db), _all_events(db)
    other = Visitor(app, db, world["officer_d2"])
    url = f"/privacy/breaches/{breach.id}"
    assert other.get(url).status_code == 404
    assert other.get(f"{url}/notification.docx").status_code == 404
    r = other.post(url, {"version": str(breach.version), "notify_people": "yes"})
    assert r.status_code == 404
    assert other.post(f"{url}/actions", {"text": "x"}).status_code == 404
    assert (
        other.post(f"{url}/close", {"version": str(breach.version), "reason": "x"}).status_code
        == 404
    )
    assert breach.reference not in other.get("/privacy/breaches").get_data(as_text=True)
    assert _breaches(db) == before and _all_events(db) == events


def test_auditor_reads_unaudited_and_cannot_record(app, db, world):
    breach = _record(Visitor(app, db, world["officer_d1"]), db)
    auditor = Visitor(app, db, world["auditor_p"], lang="en")
    events, before = _all_events(db), _breaches(db)
    assert breach.reference in auditor.get("/privacy/breaches").get_data(as_text=True)
    page = auditor.get(f"/privacy/breaches/{breach.id}").get_data(as_text=True)
    assert breach.reference in page and "Record the action" not in page
    assert _all_events(db) == events  # reading the register is not audited
    assert auditor.get("/privacy/breaches/new").status_code in (403, 404)
    assert auditor.post("/privacy/breaches/new", FORM).status_code in (403, 404)
    url = f"/privacy/breaches/{breach.id}"
    r = auditor.post(url, {"version": str(breach.version), "notify_people": "yes"})
    assert r.status_code in (403, 404)
    assert _breaches(db) == before and _all_events(db) == events


def test_stale_version_409_nothing_changed(app, db, world):
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    breach = _record(officer, db)
    url = f"/privacy/breaches/{breach.id}"
    fresh = {"version": str(breach.version), "notify_people": "yes", "contained_at": ""}
    assert officer.post(url, fresh).status_code == 302
    before, events = _breaches(db), _all_events(db)
    r = officer.post(url, {**fresh, "notify_people": "undecided"})  # the old version again
    assert r.status_code == 409
    assert "Reload it and try again" in r.get_data(as_text=True)
    r = officer.post(f"{url}/close", {"version": fresh["version"], "reason": "Không phải sự cố"})
    assert r.status_code == 409
    assert _breaches(db) == before and _all_events(db) == events


def test_missing_csrf_refused(app, db, world):
    officer = Visitor(app, db, world["officer_d1"])
    breach = _record(officer, db)
    before, events = _breaches(db), _all_events(db)
    assert officer.post("/privacy/breaches/new", FORM, csrf=False).status_code == 400
    url = f"/privacy/breaches/{breach.id}"
    data = {"version": str(breach.version), "notify_people": "yes"}
    assert officer.post(url, data, csrf=False).status_code == 400
    assert officer.post(f"{url}/actions", {"text": "x"}, csrf=False).status_code == 400
    assert _breaches(db) == before and _all_events(db) == events


def test_invalid_input_refused_with_a_message(app, db, world):
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    before, events = _breaches(db), _all_events(db)
    cases = [
        ({"discovered_at": "01/01/2099 10:00"}, "cannot be in the future"),
        ({"discovered_at": "31/02/2026 10:00"}, "dd/mm/yyyy HH:MM"),
        ({"data_categories": ["identity", "horoscope"]}, "not in the list"),
        ({"data_categories": []}, "at least one category"),
        ({"units_affected": "SCH-A, SCH-C"}, "No unit with the code SCH-C"),
        ({"unit_code": "D2"}, "No unit with the code D2"),
        ({"people_affected": "-3"}, "whole number"),
        ({"description": ""}, "is required"),
    ]
    for fields, message in cases:
        r = officer.post("/privacy/breaches/new", {**FORM, **fields})
        assert r.status_code == 400, fields
        page = r.get_data(as_text=True)
        assert message in page, (fields, page[:2000])
        assert "Cán bộ CNTT phòng D1" in page  # what was typed is kept
    assert _breaches(db) == before and _all_events(db) == events
    breach = _record(officer, db)
    before, events = _breaches(db), _all_events(db)
    url = f"/privacy/breaches/{breach.id}"
    r = officer.post(url, {"version": str(breach.version), "notify_people": "no"})
    assert r.status_code == 400 and "reason is required" in r.get_data(as_text=True)
    r = officer.post(f"{url}/close", {"version": str(breach.version), "reason": ""})
    assert r.status_code == 400 and "has not been notified" in r.get_data(as_text=True)
    assert _breaches(db) == before and _all_events(db) == events


def test_notification_docx_holds_the_fields(app, db, world):
    officer = Visitor(app, db, world["officer_d1"])
    breach = _record(officer, db)
    url = f"/privacy/breaches/{breach.id}"
    officer.post(f"{url}/actions", {"taken_at": "28/11/2026 07:30", "text": "Khóa tài khoản."})
    r = officer.get(f"{url}/notification.docx")
    assert r.status_code == 200
    doc = Document(io.BytesIO(r.data))
    body = "\n".join(p.text for p in doc.paragraphs) + "\n".join(
        c.text for t in doc.tables for row in t.rows for c in row.cells
    )
    for expected in (
        "PHÒNG GIÁO DỤC D1",
        "SỞ GIÁO DỤC TỈNH P",
        breach.reference,
        "27/11/2026 20:00",
        "30/11/2026 20:00",
        "Máy tính xách tay có bản sao dữ liệu bị mất.",
        "Khoảng 40 người",
        "SCH-A, SCH-B",
        "Khóa tài khoản.",
        "Person officer.d1",
        "Lý do thông báo sau 72 giờ",
    ):
        assert expected in body, expected
    assert _events(db, "breach.export") == 1


def _broken_verification(db) -> None:
    record(
        db,
        None,
        "audit.verify",
        object_type="audit_events",
        changes={"ok": False, "bad_seq": 7, "kind": "hash", "count": 9, "checkpoints": 0},
    )
    db.commit()


def test_broken_verify_offers_to_record_a_breach(app, db, world):
    _broken_verification(db)
    with app.test_request_context():
        both = make_user(
            db,
            keyring(),
            "officer.auditor",
            unit(db, world, "PRV"),
            [("auditor", unit(db, world, "PRV")), ("officer", unit(db, world, "D1"))],
        )
    db.commit()
    page = Visitor(app, db, both, lang="en").get("/audit/status").get_data(as_text=True)
    assert "/privacy/breaches/new?source=audit_verify&amp;ref=seq+7" in page
    auditor = Visitor(app, db, world["auditor_p"], lang="en")
    page = auditor.get("/audit/status").get_data(as_text=True)
    assert "/privacy/breaches/new" not in page
    assert "tell an officer or administrator to record a breach" in page
    form = (
        Visitor(app, db, both, lang="en")
        .get("/privacy/breaches/new?source=audit_verify&ref=seq+7")
        .get_data(as_text=True)
    )
    assert 'value="audit_verify"' in form and 'value="seq 7"' in form


def test_breach_actions_are_append_only_rows(app, db, world):
    officer = Visitor(app, db, world["officer_d1"])
    breach = _record(officer, db)
    url = f"/privacy/breaches/{breach.id}/actions"
    officer.post(url, {"taken_at": "", "text": "Một"})
    officer.post(url, {"taken_at": "", "text": "Hai"})
    db.expire_all()
    texts = [
        a.text for a in db.scalars(select(BreachAction).where(BreachAction.breach_id == breach.id))
    ]
    assert sorted(texts) == ["Hai", "Một"]


def test_unreviewed_high_attention_item_offers_to_record_a_breach(app, db, world):
    a = unit(db, world, "SCH-A")
    with app.test_request_context():
        both = make_user(db, keyring(), "admin.and.focal.b1", a, [("admin", a)])
        legacy = Grant(user_id=both.id, role="focal_point", unit_id=a.id)
        db.add(legacy)
        record(db, None, "user.grant", legacy, unit=a, changes={"user": both.username})
        prv = unit(db, world, "PRV")
        reader = make_user(
            db, keyring(), "auditor.officer", prv, [("auditor", prv), ("officer", prv)]
        )
    db.commit()
    page = Visitor(app, db, reader, lang="en").get("/audit/attention").get_data(as_text=True)
    assert "/privacy/breaches/new?source=attention&amp;ref=" in page
    page = (
        Visitor(app, db, world["auditor_p"], lang="en")
        .get("/audit/attention")
        .get_data(as_text=True)
    )
    assert "/privacy/breaches/new" not in page
    assert "tell an officer or administrator to record a breach" in page


def test_units_affected_stay_below_the_recording_unit(app, db, world):
    """Who reads a breach is decided by its recording unit: naming units outside it would tell
    its readers about units they cannot see. A breach spanning two communes is recorded at the
    province."""
    province = Visitor(app, db, world["officer_p"], lang="en")
    before = db.scalar(select(func.count(Breach.id)))
    r = province.post("/privacy/breaches/new", {**FORM, "unit_code": "D1", "units_affected": "D2"})
    assert r.status_code == 400 and "No unit with the code D2" in r.get_data(as_text=True)
    assert db.scalar(select(func.count(Breach.id))) == before
    breach = _record(province, db, unit_code="PRV", units_affected="D1, SCH-C")
    assert json.loads(breach.units_affected) == ["D1", "SCH-C"]


def test_an_attention_offer_carries_no_case_reference():
    """The offer's reference names the kind of item and its first event, never the item's key
    (which may hold a case reference and an account id)."""
    from pathlib import Path

    template = Path("caseapp/templates/audit/attention.html").read_text(encoding="utf-8")
    [offer] = [line for line in template.splitlines() if "privacy/_offer.html" in line]
    assert "item.key" not in offer and "item.kind" in offer


def test_a_late_notification_needs_its_reason(app, db, world):
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    breach = _record(officer, db)  # discovered Friday 20:00, due Monday 20:00
    url = f"/privacy/breaches/{breach.id}"
    late = {
        "version": str(breach.version),
        "notify_people": "undecided",
        "authority_notified_at": "01/12/2026 09:00",
    }
    before, events = _breaches(db), _all_events(db)
    r = officer.post(url, late)
    assert r.status_code == 400
    assert "after the 72-hour deadline" in r.get_data(as_text=True)
    assert _breaches(db) == before and _all_events(db) == events
    # On time, no reason is asked.
    on_time = {**late, "authority_notified_at": "30/11/2026 19:00"}
    r = officer.post(url, on_time)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.expire_all()
    breach = db.get(Breach, breach.id)
    why = "Phải xác minh với nhà cung cấp dịch vụ trước khi thông báo."
    r = officer.post(url, {**late, "version": str(breach.version), "delay_reason": why})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.expire_all()
    assert db.get(Breach, breach.id).delay_reason == why
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "breach.update").order_by(AuditEvent.seq)
    ).all()[-1]
    assert json.loads(event.changes)["delay_reason"] == "changed"
    assert why not in event.changes
    assert why in officer.get(url).get_data(as_text=True)


def test_the_decree_fields_are_kept_and_printed_in_the_notification(app, db, world):
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    consequences = "Tên và lớp của 40 học sinh có thể bị người ngoài đọc được."
    before, events = _breaches(db), _all_events(db)
    for fields, message in (
        ({"occurred_at": "27/11/2026 21:00"}, "cannot have occurred after it was discovered"),
        ({"occurred_at": "27-11-2026"}, "dd/mm/yyyy HH:MM"),
        ({"records_affected": "-1"}, "number of records affected is a whole number"),
        ({"records_affected": "nhiều"}, "number of records affected is a whole number"),
    ):
        r = officer.post("/privacy/breaches/new", {**FORM, **fields})
        assert r.status_code == 400, fields
        assert message in r.get_data(as_text=True), fields
    assert _breaches(db) == before and _all_events(db) == events
    breach = _record(
        officer,
        db,
        occurred_at="26/11/2026 18:30",
        records_affected="120",
        consequences=consequences,
    )
    assert breach.records_affected == 120 and breach.consequences == consequences
    assert service.shown_moment(breach.occurred_at) == "26/11/2026 18:30"
    created = db.scalars(select(AuditEvent).where(AuditEvent.action == "breach.create")).one()
    assert consequences not in created.changes
    assert json.loads(created.changes)["consequences"] == "changed"
    url = f"/privacy/breaches/{breach.id}"
    why = "Chờ xác minh phạm vi với nhà trường."
    r = officer.post(
        url,
        {
            "version": str(breach.version),
            "notify_people": "undecided",
            "authority_notified_at": "01/12/2026 09:00",
            "delay_reason": why,
            "occurred_at": "26/11/2026 18:30",
            "records_affected": "120",
            "consequences": consequences,
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    doc = Document(io.BytesIO(officer.get(f"{url}/notification.docx").data))
    body = "\n".join(p.text for p in doc.paragraphs)
    for expected in ("26/11/2026 18:30", "Khoảng 120 bản ghi", consequences, why):
        assert expected in body, expected
    assert "……" not in body.split("Thời điểm xảy ra")[1].splitlines()[0]
    assert "Đơn vị đánh giá và bổ sung cụ thể" not in body  # their words, not the stock ones


def test_closing_without_notifying_keeps_the_reason(app, db, world):
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    breach = _record(officer, db)
    why = "Không phải sự cố dữ liệu cá nhân: máy đã được tìm thấy, ổ đĩa mã hóa."
    r = officer.post(
        f"/privacy/breaches/{breach.id}/close", {"version": str(breach.version), "reason": why}
    )
    assert r.status_code == 302
    db.expire_all()
    closed = db.get(Breach, breach.id)
    assert closed.status == "closed" and closed.close_reason == why
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "breach.close")).one()
    assert json.loads(event.changes)["close_reason"] == "changed"
    assert why in officer.get(f"/privacy/breaches/{breach.id}").get_data(as_text=True)


def test_a_period_change_moves_the_deadline_of_breaches_recorded_after_it(app, db, world):
    from caseapp.models import LegalPeriod

    officer = Visitor(app, db, world["officer_d1"], lang="en")
    earlier = _record(officer, db)
    line = db.get(LegalPeriod, "breach_notify")
    admin = Visitor(app, db, world["admin_p"], lang="en")
    r = admin.post(
        "/privacy/settings/periods",
        {"key": line.key, "version": str(line.version), "amount": "48", "basis": line.basis},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    later = _record(officer, db)
    db.expire_all()
    assert service.shown_moment(service.deadline(later)) == "29/11/2026 20:00"  # 48 hours on
    assert service.shown_moment(service.deadline(earlier)) == "30/11/2026 20:00"  # as recorded
    listing = officer.get("/privacy/breaches").get_data(as_text=True)
    assert "within 48 hours of discovery" in listing
    assert "29/11/2026 20:00" in listing and "30/11/2026 20:00" in listing
