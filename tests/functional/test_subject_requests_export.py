"""The access export: found through the name index (no other case opened), holding what concerns
the subject only (a perpetrator's request returns nothing of the person harmed, and no read of
the person harmed's fields is audited), reviewed by an officer who is not the preparer, then
released and printable; deletion and withdrawal decisions."""

from __future__ import annotations

import json

from sqlalchemy import select

from caseapp.models import AuditEvent, CaseConsent, CasePerson
from caseapp.models.privacy import SubjectRequest, SubjectRequestExport
from caseapp.services.privacy import request_export
from tests.factories import Visitor
from tests.functional.case_support import CANARY
from tests.functional.subject_request_support import events, record_request, state, url

HARMED = f"Nguyễn Thị {CANARY}-harmed"
PERPETRATOR = f"Trần Văn {CANARY}-perp"


def _case(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    return focal.intake(db, world.units["SCH-A"])


def _matched(visitor, db, req: SubjectRequest) -> SubjectRequest:
    """Acknowledge, search the index and confirm every candidate."""
    assert visitor.post(url(req, "/acknowledge"), {"version": str(req.version)}).status_code == 302
    db.expire_all()
    r = visitor.post(url(req, "/matches/search"), {"version": str(req.version)})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.expire_all()
    for match in list(req.matches):
        r = visitor.post(url(req, "/matches"), {"match_id": str(match.id), "confirmed": "y"})
        assert r.status_code == 302
    db.expire_all()
    return req


def _prepare(visitor, db, req: SubjectRequest) -> SubjectRequestExport:
    r = visitor.post(url(req, "/export"), {"version": str(req.version)})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]
    db.expire_all()
    return request_export.pending(req)


def _reads(db, case) -> list[dict]:
    db.expire_all()
    return [
        json.loads(e.changes) if isinstance(e.changes, str) else (e.changes or {})
        for e in db.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "case.view_confidential",
                AuditEvent.object_ref == case.reference,
            )
        )
    ]


def test_a_perpetrators_access_request_returns_nothing_of_the_person_harmed(app, db, world):
    case = _case(app, db, world)
    harmed = next(p for p in case.people if p.position == "harmed")
    perpetrator = next(p for p in case.people if p.position == "perpetrator")
    reads_before = len(_reads(db, case))
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    req = record_request(
        officer,
        db,
        unit_code="SCH-A",
        relation="alleged_perpetrator",
        requester_name=PERPETRATOR,
        subject_name="",
    )
    req = _matched(officer, db, req)
    assert [(m.position, m.person_id, m.case_id) for m in req.matches] == [
        ("perpetrator", perpetrator.id, case.id)
    ]
    export = _prepare(officer, db, req)
    body = request_export.body_of(req, export)
    dumped = json.dumps(body, ensure_ascii=False)
    assert PERPETRATOR in dumped
    for secret in (HARMED, f"{CANARY}-contact", f"{CANARY}-guardian", f"{CANARY}-narrative"):
        assert secret not in dumped
    assert f"{CANARY}-informant" not in dumped
    assert set(body["withheld"]) >= {"narrative", "notes", "files", "other_people"}
    assert body["cases"][0]["person"]["position"] == "perpetrator"
    # One audited read for the case, of the perpetrator's own fields; none of the harmed's.
    reads = _reads(db, case)[reads_before:]
    assert [r.get("person") for r in reads] == [perpetrator.uid]
    assert harmed.uid not in json.dumps(reads)
    # The sealed export holds nothing in clear.
    raw = db.get(SubjectRequestExport, export.id).body
    assert PERPETRATOR.encode() not in raw and b"perpetrator" not in raw


def test_a_guardians_request_finds_the_child_and_the_review_takes_a_second_officer(app, db, world):
    case = _case(app, db, world)
    harmed = next(p for p in case.people if p.position == "harmed")
    preparer = Visitor(app, db, world["officer_d1"], lang="en")
    req = record_request(
        preparer, db, relation="guardian", requester_name=f"{CANARY}-guardian", subject_name=HARMED
    )
    req = _matched(preparer, db, req)
    assert [(m.position, m.person_id) for m in req.matches] == [("harmed", harmed.id)]
    export = _prepare(preparer, db, req)
    assert req.status == "awaiting_review" and export.status == "pending_review"
    body = request_export.body_of(req, export)
    dumped = json.dumps(body, ensure_ascii=False)
    assert HARMED in dumped and f"{CANARY}-guardian" in dumped
    assert PERPETRATOR not in dumped and f"{CANARY}-narrative" not in dumped
    # The preparer cannot release (or reject) their own export; nothing changes.
    kept = state(db, req)
    r = preparer.post(
        url(req, f"/exports/{export.id}/release"),
        {"version": str(export.version), "outcome": "granted", "legal_ground": "", "reason": ""},
    )
    assert r.status_code == 400
    assert "another officer" in r.get_data(as_text=True)
    r = preparer.post(
        url(req, f"/exports/{export.id}/reject"), {"version": str(export.version), "note": "x"}
    )
    assert r.status_code == 400
    assert state(db, req) == kept
    assert db.get(SubjectRequestExport, export.id).status == "pending_review"
    # Only a released export prints; the pending one is read by a reviewer only.
    focal = Visitor(app, db, world["focal_a"], lang="en")
    assert focal.get(url(req, f"/exports/{export.id}")).status_code == 404
    # A second officer reviews it on screen (audited) and releases it.
    reviewer = Visitor(app, db, world["officer_p"], lang="en")
    page = reviewer.get(url(req, f"/exports/{export.id}")).get_data(as_text=True)
    assert HARMED in page and "Release" in page
    assert events(db, "request.export_view") == 1
    r = reviewer.post(
        url(req, f"/exports/{export.id}/release"),
        {
            "version": str(export.version),
            "outcome": "granted",
            "legal_ground": "",
            "reason": "",
            "verified": "y",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.expire_all()
    assert (req.status, req.outcome) == ("completed", "granted")
    assert export.status == "released" and export.reviewed_by_id == world["officer_p"].id
    assert events(db, "request.export_release") == 1
    printed = focal.get(url(req, f"/exports/{export.id}"))
    assert printed.status_code == 200 and HARMED in printed.get_data(as_text=True)
    assert events(db, "request.export_download") == 1


def test_a_rejected_export_goes_back_for_a_new_one(app, db, world):
    _case(app, db, world)
    preparer = Visitor(app, db, world["officer_d1"], lang="en")
    req = _matched(preparer, db, record_request(preparer, db, subject_name=HARMED))
    export = _prepare(preparer, db, req)
    reviewer = Visitor(app, db, world["officer_p"], lang="en")
    r = reviewer.post(url(req, f"/exports/{export.id}/reject"), {"version": str(export.version)})
    assert r.status_code == 400  # a note is required
    r = reviewer.post(
        url(req, f"/exports/{export.id}/reject"),
        {"version": str(export.version), "note": "Thiếu bước hỗ trợ"},
    )
    assert r.status_code == 302
    db.expire_all()
    assert req.status == "acknowledged" and export.status == "rejected"
    assert "Thiếu bước hỗ trợ" in preparer.get(url(req)).get_data(as_text=True)
    assert _prepare(preparer, db, req).id != export.id


def test_an_informants_request_is_not_searched_in_the_index(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = record_request(focal, db, relation="informant", subject_name="")
    page = focal.get(url(req)).get_data(as_text=True)
    assert "not in the name index" in page
    r = focal.post(url(req, "/matches/search"), {"version": str(req.version)})
    assert r.status_code == 400
    assert events(db, "request.match_search") == 0


def test_matching_stays_in_the_request_units_scope(app, db, world):
    _case(app, db, world)  # at SCH-A
    focal_b = Visitor(app, db, world["focal_b"], lang="en")
    req = record_request(focal_b, db, unit_code="SCH-B", subject_name=HARMED)
    _matched(focal_b, db, req)
    assert req.matches == []


def test_deletion_is_granted_only_for_a_closed_case_of_the_person_harmed(app, db, world):
    case = _case(app, db, world)
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    req = _matched(
        officer,
        db,
        record_request(officer, db, kind="deletion", relation="guardian", subject_name=HARMED),
    )
    assert len(req.matches) == 1
    kept = state(db, req)
    r = officer.post(
        url(req, "/decide"),
        {"version": str(req.version), "outcome": "granted", "legal_ground": "", "reason": ""},
    )
    assert r.status_code == 400 and "only when every confirmed case is closed" in r.get_data(
        as_text=True
    )
    db.expire_all()
    assert state(db, req) == kept and case.key_destroyed_at is None
    r = officer.post(
        url(req, "/decide"),
        {
            "version": str(req.version),
            "outcome": "limited",
            "legal_ground": "ongoing_verification",
            "reason": "Vụ việc chưa kết thúc",
        },
    )
    assert r.status_code == 302
    db.expire_all()
    assert req.outcome == "limited" and case.key_destroyed_at is None


def test_withdrawal_granted_withdraws_the_consents_of_the_person(app, db, world):
    case = _case(app, db, world)
    harmed = next(p for p in case.people if p.position == "harmed")
    focal = Visitor(app, db, world["focal_a"], lang="en")
    given = db.scalars(select(CaseConsent).where(CaseConsent.person_id == harmed.id)).all()
    if not given:
        from caseapp.services.cases.records import record_consent
        from tests.factories import get_user

        record_consent(db, get_user(db, "focal.a"), case, "guardian", "referral", case.received_on)
        db.commit()
    req = _matched(
        focal,
        db,
        record_request(focal, db, kind="withdrawal", relation="guardian", subject_name=HARMED),
    )
    r = focal.post(
        url(req, "/decide"),
        {"version": str(req.version), "outcome": "granted", "legal_ground": "", "reason": ""},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.expire_all()
    consents = db.scalars(select(CaseConsent).where(CaseConsent.person_id == harmed.id)).all()
    assert consents and all(c.withdrawn_on is not None for c in consents)
    assert events(db, "consent.withdraw") >= 1
    assert db.get(CasePerson, harmed.id).withdrawn_at is None


def test_a_reviewer_excluded_from_the_case_neither_reads_nor_releases(app, db, world):
    from caseapp.services.cases.records import exclude
    from tests.factories import get_user

    case = _case(app, db, world)
    preparer = Visitor(app, db, world["officer_d1"], lang="en")
    req = _matched(preparer, db, record_request(preparer, db, subject_name=HARMED))
    export = _prepare(preparer, db, req)
    exclude(db, get_user(db, "focal.a"), case, "officer.p", "Người thân của gia đình")
    db.commit()
    reviewer = Visitor(app, db, world["officer_p"], lang="en")
    before = events(db, "request.export_view")
    assert reviewer.get(url(req, f"/exports/{export.id}")).status_code == 404
    r = reviewer.post(
        url(req, f"/exports/{export.id}/release"),
        {"version": str(export.version), "outcome": "granted", "legal_ground": "", "reason": ""},
    )
    assert r.status_code == 404
    db.expire_all()
    assert export.status == "pending_review" and req.status == "awaiting_review"
    assert events(db, "request.export_view") == before


def test_deletion_granted_shreds_the_closed_case_of_its_only_person_harmed(app, db, world):
    from caseapp.models import Case
    from caseapp.services.audit.trail import record

    case = _case(app, db, world)
    fresh = db.get(Case, case.id)
    fresh.status = "closed"
    record(db, None, "case.transition", fresh, unit=fresh.unit, object_ref=fresh.reference)
    db.commit()
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    req = _matched(
        officer,
        db,
        record_request(officer, db, kind="deletion", relation="person_harmed", subject_name=HARMED),
    )
    before = events(db, "case.destroy_content")
    r = officer.post(
        url(req, "/decide"),
        {"version": str(req.version), "outcome": "granted", "legal_ground": "", "reason": ""},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.expire_all()
    assert req.outcome == "granted" and req.status == "completed"
    assert db.get(Case, case.id).key_destroyed_at is not None
    assert db.get(Case, case.id).wrapped_key is None
    assert events(db, "case.destroy_content") == before + 1
