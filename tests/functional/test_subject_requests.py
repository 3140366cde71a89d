"""Requests from data subjects: recorded with working-day clocks (a request before Tết is due
after it; one received on a Friday afternoon counts from Monday), acknowledged, extended once,
decided with a legal ground when refused, refused outside the unit and without CSRF, overdue ones
in My work, and no name in clear in the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, text

from caseapp.clock import local_today, zone
from caseapp.models.privacy import SubjectRequest
from caseapp.services.privacy import requests as service
from caseapp.services.privacy.calendar import add_working_days
from tests.factories import Visitor, get_user, selects, statements_sent
from tests.functional.subject_request_support import (
    FORM,
    REQUESTER,
    all_events,
    ensure_holidays,
    events,
    record_request,
    state,
    url,
)


def _input(**fields) -> service.RequestInput:
    return service.RequestInput(**{**FORM, **fields})


def _create_at(db, world, moment: datetime, **fields) -> SubjectRequest:
    """A request received at ``moment`` (UTC), recorded then (so the moment is not future)."""
    actor = get_user(db, "focal.a")
    unit = actor.unit
    local = moment.astimezone(zone()).strftime("%d/%m/%Y %H:%M")
    return service.create(db, actor, unit, _input(received_at=local, **fields), now=moment)


def test_a_request_received_before_tet_is_due_after_it(app, db, world):
    ensure_holidays(db, date(2027, 1, 1), date(2027, 3, 31))
    # Wednesday 03/02/2027, 10:00 Vietnam time; Tết 2027 is 05/02-08/02 (Friday to Monday).
    moment = datetime(2027, 2, 3, 3, 0, tzinfo=UTC)
    req = _create_at(db, world, moment)
    # Acknowledge within 2 working days: Thursday 04/02 (1), then Tuesday 09/02 (2).
    assert req.acknowledge_due_on == date(2027, 2, 9)
    # Access within 10: 04/02, 09, 10, 11, 12, 15, 16, 17, 18, 19/02.
    assert req.due_on == date(2027, 2, 19)
    # A deletion within 20: ... 19/02 (10), 22-26/02 (15), 01-05/03 (20).
    deletion = _create_at(db, world, moment, kind="deletion")
    assert deletion.due_on == date(2027, 3, 5)
    assert req.reference.startswith("YC-2027-")
    assert deletion.reference != req.reference


def test_a_request_received_on_friday_afternoon_counts_from_monday(app, db, world):
    # Friday 04/12/2026, 15:30 Vietnam time.
    moment = datetime(2026, 12, 4, 8, 30, tzinfo=UTC)
    req = _create_at(db, world, moment, kind="correction")
    assert req.acknowledge_due_on == date(2026, 12, 8)  # Monday (1), Tuesday (2)
    assert req.due_on == date(2026, 12, 18)  # ten working days from Monday 07/12
    assert service.received_on(req) == date(2026, 12, 4)


def test_recorded_acknowledged_extended_once_each_audited(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    before = events(db, "request.create")
    req = record_request(focal, db, subject_name="Nguyễn Thị Con")
    assert events(db, "request.create") == before + 1
    assert req.status == "received" and req.reference.startswith("YC-")
    page = focal.get(url(req)).get_data(as_text=True)
    assert REQUESTER in page and "Nguyễn Thị Con" in page
    r = focal.post(url(req, "/acknowledge"), {"version": str(req.version)})
    assert r.status_code == 302
    db.expire_all()
    assert req.acknowledged_at is not None and req.status == "acknowledged"
    assert events(db, "request.acknowledge") == 1
    due = req.due_on
    r = focal.post(url(req, "/extend"), {"version": str(req.version), "reason": "Cần xác minh"})
    assert r.status_code == 302
    db.expire_all()
    assert req.extended_to == add_working_days(db, due, 10)
    assert req.deadline == req.extended_to
    assert events(db, "request.extend") == 1
    # A second extension is refused, nothing changed.
    kept, count = state(db, req), all_events(db)
    r = focal.post(url(req, "/extend"), {"version": str(req.version), "reason": "Lần nữa"})
    assert r.status_code == 400
    assert "already extended once" in r.get_data(as_text=True)
    assert state(db, req) == kept and all_events(db) == count


def test_a_stale_version_is_a_conflict_with_a_way_forward(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = record_request(focal, db)
    kept = state(db, req)
    r = focal.post(url(req, "/acknowledge"), {"version": str(req.version + 5)})
    assert r.status_code == 409
    body = r.get_data(as_text=True)
    assert "changed by someone else" in body and f'href="{url(req)}"' in body
    assert state(db, req) == kept


def test_a_refusal_needs_its_legal_ground_and_reason(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = record_request(focal, db, kind="objection", relation="person_harmed")
    focal.post(url(req, "/acknowledge"), {"version": str(req.version)})
    db.expire_all()
    kept, count = state(db, req), all_events(db)
    for data in (
        {"outcome": "refused", "legal_ground": "", "reason": "Không có căn cứ"},
        {"outcome": "refused", "legal_ground": "rights_of_others", "reason": ""},
        {"outcome": "limited", "legal_ground": "", "reason": "Một phần"},
    ):
        r = focal.post(url(req, "/decide"), {"version": str(req.version), **data})
        assert r.status_code == 400, data
        assert state(db, req) == kept and all_events(db) == count
    r = focal.post(
        url(req, "/decide"),
        {
            "version": str(req.version),
            "outcome": "refused",
            "legal_ground": "ongoing_verification",
            "reason": "Vụ việc đang xác minh CANARY-REQ-REASON",
        },
    )
    assert r.status_code == 302
    db.expire_all()
    assert (req.status, req.outcome, req.legal_ground) == (
        "refused",
        "refused",
        "ongoing_verification",
    )
    event = events(db, "request.decide")
    assert event == 1
    # Decided: no further step.
    r = focal.post(url(req, "/extend"), {"version": str(req.version), "reason": "x"})
    assert r.status_code == 409


def test_another_unit_gets_404_and_nothing_changes(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = record_request(focal, db)
    kept, count = state(db, req), all_events(db)
    other = Visitor(app, db, world["focal_b"], lang="en")
    assert other.get(url(req)).status_code == 404
    for tail, data in (
        ("/acknowledge", {}),
        ("/extend", {"reason": "x"}),
        ("/decide", {"outcome": "refused", "legal_ground": "other", "reason": "x"}),
        ("/matches/search", {}),
        ("/export", {}),
    ):
        r = other.post(url(req, tail), {"version": str(req.version), **data})
        assert r.status_code == 404, tail
    assert state(db, req) == kept and all_events(db) == count
    assert req.reference not in other.get("/privacy/requests?show=all").get_data(as_text=True)
    # An auditor (no request permission) is refused the pages altogether.
    auditor = Visitor(app, db, world["auditor_p"], lang="en")
    assert auditor.get("/privacy/requests").status_code in (403, 404)


def test_a_post_without_csrf_is_refused(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = record_request(focal, db)
    kept, count = state(db, req), all_events(db)
    r = focal.post(url(req, "/acknowledge"), {"version": str(req.version)}, csrf=False)
    assert r.status_code == 400
    r = focal.post("/privacy/requests/new", dict(FORM), csrf=False)
    assert r.status_code == 400
    assert state(db, req) == kept and all_events(db) == count


def test_bad_input_is_refused_with_a_message(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    count = all_events(db)
    future = (datetime.now(UTC) + timedelta(days=3)).astimezone(zone())
    for fields, message in (
        ({"received_at": future.strftime("%d/%m/%Y %H:%M")}, "cannot be in the future"),
        ({"received_at": "31/02/2026 10:00"}, "dd/mm/yyyy HH:MM"),
        ({"kind": "everything"}, "not valid"),
        ({"requester_name": ""}, "is required"),
        ({"unit_code": "SCH-B"}, "No unit with the code"),
        ({"relation": "guardian", "subject_name": "", "requester_name": ""}, "is required"),
    ):
        r = focal.post("/privacy/requests/new", {**FORM, **fields})
        assert r.status_code == 400, fields
        assert message in r.get_data(as_text=True), fields
    assert all_events(db) == count


def test_an_overdue_request_appears_in_my_work_and_monitoring(app, db, world):
    moment = datetime.now(UTC) - timedelta(days=40)
    req = _create_at(db, world, moment)
    db.commit()
    assert service.overdue(req)
    focal = Visitor(app, db, world["focal_a"], lang="en")
    page = focal.get("/work").get_data(as_text=True)
    assert req.reference in page and "Overdue requests about personal data" in page
    listing = focal.get("/privacy/requests?show=overdue").get_data(as_text=True)
    assert req.reference in listing and "Overdue" in listing
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    monitoring = officer.get("/monitoring").get_data(as_text=True)
    assert "overdue requests about personal data" in monitoring
    # Another school's focal point does not see it.
    other = Visitor(app, db, world["focal_b"], lang="en")
    assert req.reference not in other.get("/work").get_data(as_text=True)


def test_the_database_holds_no_name_in_clear(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = record_request(focal, db, subject_name="Nguyễn Thị CANARY-REQ-SUBJECT")
    focal.post(url(req, "/acknowledge"), {"version": str(req.version)})
    db.expire_all()
    focal.post(url(req, "/extend"), {"version": str(req.version), "reason": "CANARY-REQ-WHY"})
    db.flush()
    rows = db.execute(text("SELECT * FROM subject_requests")).all()
    assert rows
    dump = repr(rows)
    for value in row_values(rows):
        for secret in ("CANARY-REQ", "Yêucầu", "0912 000 111"):
            assert secret.encode() not in value and secret not in dump
    events_text = repr(db.execute(text("SELECT * FROM audit_events")).all())
    assert "CANARY-REQ" not in events_text and "Yêucầu" not in events_text
    # It opens for those who handle the unit's requests.
    assert service.opened(db.get(SubjectRequest, req.id)).requester_name == REQUESTER


def row_values(rows) -> list[bytes]:
    out = []
    for row in rows:
        for value in row:
            if isinstance(value, bytes | memoryview):
                out.append(bytes(value))
            elif value is not None:
                out.append(str(value).encode())
    return out


def test_the_list_filters_and_shows_days_left(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = record_request(focal, db)
    listing = focal.get("/privacy/requests").get_data(as_text=True)
    assert req.reference in listing and "working days left" in listing
    assert req.deadline.strftime("%d/%m/%Y") in listing
    assert req.reference in focal.get("/privacy/requests?show=all").get_data(as_text=True)
    assert req.reference not in focal.get("/privacy/requests?show=overdue").get_data(as_text=True)
    assert focal.get("/privacy/requests?show=nonsense").status_code == 200
    assert local_today() <= req.acknowledge_due_on
    assert db.scalar(select(SubjectRequest.id).where(SubjectRequest.id == req.id))


def _selects(app, visitor, path: str) -> int:
    with statements_sent(app.extensions["caseapp.engine"]) as sent:
        assert visitor.get(path).status_code == 200
    return len(selects(sent))


def test_the_list_and_my_work_are_a_fixed_number_of_queries(app, db, world):
    old = datetime.now(UTC) - timedelta(days=40)
    for _ in range(2):
        _create_at(db, world, old)
    db.commit()
    focal = Visitor(app, db, world["focal_a"], lang="en")
    focal.get("/privacy/requests?show=all")  # warm: the session's first queries
    few = {p: _selects(app, focal, p) for p in ("/privacy/requests?show=all", "/work")}
    for _ in range(5):
        _create_at(db, world, old)
    db.commit()
    many = {p: _selects(app, focal, p) for p in ("/privacy/requests?show=all", "/work")}
    assert many == few
