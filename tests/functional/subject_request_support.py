"""Helpers of the tests of requests from data subjects."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from caseapp.models import AuditEvent
from caseapp.models.privacy import Holiday, SubjectRequest
from caseapp.services.audit.holidays import holidays_between

REQUESTER = "Phạm Văn Yêucầu-CANARY-REQ"
FORM = {
    "unit_code": "SCH-A",
    "kind": "access",
    "relation": "guardian",
    "channel": "in_person",
    "received_at": "",
    "requester_name": REQUESTER,
    "requester_contact": "0912 000 111 CANARY-REQ-CONTACT",
    "subject_name": "Nguyễn Thị Con-CANARY-REQ-CHILD",
    "case_reference": "",
    "details": "Xin xem dữ liệu về con tôi CANARY-REQ-DETAILS",
}


def ensure_holidays(db, first: date, last: date) -> None:
    """The public holidays of the span in the calendar table (migration 0015 seeds them; a
    database made from the models has none)."""
    have = set(db.scalars(select(Holiday.day).where(Holiday.day.between(first, last))))
    for day, name in holidays_between(first, last).items():
        if day not in have:
            db.add(Holiday(day=day, name=name))
    db.flush()


def record_request(visitor, db, **fields) -> SubjectRequest:
    r = visitor.post("/privacy/requests/new", {**FORM, **fields})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    request_id = int(r.headers["Location"].rsplit("/", 1)[-1])
    db.expire_all()
    return db.get(SubjectRequest, request_id)


def url(req: SubjectRequest, tail: str = "") -> str:
    return f"/privacy/requests/{req.id}{tail}"


def events(db, action: str) -> int:
    db.expire_all()
    return db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def all_events(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(AuditEvent))


def state(db, req: SubjectRequest) -> tuple:
    db.expire_all()
    fresh = db.get(SubjectRequest, req.id)
    return (
        fresh.version,
        fresh.status,
        fresh.acknowledged_at,
        fresh.extended_to,
        fresh.outcome,
        fresh.legal_ground,
        len(fresh.matches),
        len(fresh.exports),
    )
