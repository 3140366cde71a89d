"""The security review of requests from data subjects: a refused access request cannot become a
grant through a pending export; the case reference is a reference, never free text; a decision
acts on every confirmed case or none (a case hidden from the decider stops it); no extension once
the deadline has passed; the decision form offers only what its user can carry out; an export is
released only once the requester's identity and guardianship are checked. Each attack is tried
and nothing changes."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from caseapp.clock import local_today
from caseapp.models import AuditEvent, Case
from caseapp.models.privacy import SubjectRequest, SubjectRequestExport
from caseapp.services.audit.trail import record
from tests.factories import Visitor, get_user
from tests.functional.subject_request_support import (
    all_events,
    events,
    record_request,
    state,
    url,
)
from tests.functional.test_subject_requests_export import HARMED, _case, _matched, _prepare

RELEASE = {"outcome": "granted", "legal_ground": "", "reason": "", "verified": "y"}


def _close(db, case_id: int) -> None:
    fresh = db.get(Case, case_id)
    fresh.status = "closed"
    record(db, None, "case.transition", fresh, unit=fresh.unit, object_ref=fresh.reference)
    db.commit()


def _export_state(db, export_id: int) -> tuple:
    db.expire_all()
    e = db.get(SubjectRequestExport, export_id)
    return (e.version, e.status, e.reviewed_by_id, e.released_at)


def _offered(page: str) -> set[str]:
    block = re.search(r'<select[^>]*id="decide-outcome".*?</select>', page, re.S)
    assert block, "the decision form is on the page"
    return set(re.findall(r'<option[^>]*value="([a-z]+)"', block.group(0)))


def test_a_refusal_cannot_be_turned_into_a_grant_by_a_pending_export(app, db, world):
    _case(app, db, world)
    preparer = Visitor(app, db, world["officer_d1"], lang="en")
    req = _matched(preparer, db, record_request(preparer, db, subject_name=HARMED))
    export = _prepare(preparer, db, req)
    kept, kept_export, before = state(db, req), _export_state(db, export.id), all_events(db)
    # The handler refuses the access request while its export waits for review: refused.
    r = preparer.post(
        url(req, "/decide"),
        {
            "version": str(req.version),
            "outcome": "refused",
            "legal_ground": "rights_of_others",
            "reason": "Từ chối",
        },
    )
    assert r.status_code == 409
    assert "waiting for review" in r.get_data(as_text=True)
    assert state(db, req) == kept and _export_state(db, export.id) == kept_export
    assert all_events(db) == before
    # A request already decided (however it came to be) is never released or sent back.
    fresh = db.get(SubjectRequest, req.id)
    fresh.status, fresh.outcome = "refused", "refused"
    record(db, None, "request.decide", fresh, unit=fresh.unit, object_ref=fresh.reference)
    db.commit()
    kept, before = state(db, req), all_events(db)
    reviewer = Visitor(app, db, world["officer_p"], lang="en")
    r = reviewer.post(
        url(req, f"/exports/{export.id}/release"), {"version": str(export.version), **RELEASE}
    )
    assert r.status_code == 409 and "already decided" in r.get_data(as_text=True)
    r = reviewer.post(
        url(req, f"/exports/{export.id}/reject"), {"version": str(export.version), "note": "x"}
    )
    assert r.status_code == 409
    assert state(db, req) == kept and _export_state(db, export.id) == kept_export
    assert (db.get(SubjectRequest, req.id).outcome) == "refused"
    assert all_events(db) == before


def test_the_case_reference_takes_only_the_shape_of_a_reference(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    name = "Lê Thị CANARY-CASEREF"
    before, count = all_events(db), len(db.scalars(select(SubjectRequest.id)).all())
    for typed in (name, "CANARY-CASEREF", "SCH-A-2026-0001 Lê Thị", "ＳＣＨ-A-2026-0001"):
        r = focal.post(
            "/privacy/requests/new",
            {**_form(), "case_reference": typed},
        )
        assert r.status_code == 400, typed
        assert "case reference is not valid" in r.get_data(as_text=True)
    db.expire_all()
    assert len(db.scalars(select(SubjectRequest.id)).all()) == count
    assert all_events(db) == before
    changes = db.scalars(select(AuditEvent.changes)).all()
    assert not any("CANARY-CASEREF" in str(c) for c in changes)
    # A real reference is kept, upper-cased.
    req = record_request(focal, db, case_reference=" sch-a-2026-0001 ")
    assert req.case_reference == "SCH-A-2026-0001"


def _form() -> dict:
    from tests.functional.subject_request_support import FORM

    return dict(FORM)


def test_a_deletion_is_not_granted_past_a_confirmed_case_hidden_from_the_decider(app, db, world):
    from caseapp.services.cases.records import exclude

    x, y = _case(app, db, world), _case(app, db, world)
    _close(db, x.id)
    _close(db, y.id)
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = _matched(
        focal,
        db,
        record_request(focal, db, kind="deletion", relation="guardian", subject_name=HARMED),
    )
    assert sorted(m.case_id for m in req.matches if m.confirmed) == sorted([x.id, y.id])
    exclude(db, get_user(db, "focal.a"), db.get(Case, x.id), "officer.d1", "Người thân")
    db.commit()
    kept, before = state(db, req), all_events(db)
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    for outcome, ground, reason in (
        ("granted", "", ""),
        ("limited", "ongoing_verification", "Một phần"),
    ):
        r = officer.post(
            url(req, "/decide"),
            {
                "version": str(req.version),
                "outcome": outcome,
                "legal_ground": ground,
                "reason": reason,
            },
        )
        assert r.status_code == 409
        assert "another officer must decide" in r.get_data(as_text=True)
    db.expire_all()
    assert state(db, req) == kept and all_events(db) == before
    assert db.get(Case, x.id).key_destroyed_at is None
    assert db.get(Case, y.id).key_destroyed_at is None
    # An officer who sees both cases decides it: both are shredded.
    other = Visitor(app, db, world["officer_p"], lang="en")
    r = other.post(
        url(req, "/decide"),
        {"version": str(req.version), "outcome": "granted", "legal_ground": "", "reason": ""},
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.expire_all()
    assert db.get(Case, x.id).key_destroyed_at is not None
    assert db.get(Case, y.id).key_destroyed_at is not None


def test_no_extension_once_the_deadline_has_passed(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    req = record_request(focal, db)
    fresh = db.get(SubjectRequest, req.id)
    fresh.due_on = local_today() - timedelta(days=1)
    record(db, None, "request.create", fresh, unit=fresh.unit, object_ref=fresh.reference)
    db.commit()
    kept, before = state(db, req), all_events(db)
    r = focal.post(
        url(req, "/extend"), {"version": str(req.version), "reason": "Cần thêm thời gian"}
    )
    assert r.status_code == 400
    assert "deadline has already passed" in r.get_data(as_text=True)
    assert state(db, req) == kept and all_events(db) == before
    assert db.get(SubjectRequest, req.id).extension_reason is None


def test_the_decision_form_offers_only_what_its_user_can_carry_out(app, db, world):
    case = _case(app, db, world)
    _close(db, case.id)
    focal = Visitor(app, db, world["focal_a"], lang="en")
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    deletion = _matched(
        focal,
        db,
        record_request(focal, db, kind="deletion", relation="guardian", subject_name=HARMED),
    )
    assert _offered(focal.get(url(deletion)).get_data(as_text=True)) == {"refused"}
    assert _offered(officer.get(url(deletion)).get_data(as_text=True)) == {
        "granted",
        "limited",
        "refused",
    }
    kept, before = state(db, deletion), all_events(db)
    r = focal.post(
        url(deletion, "/decide"),
        {"version": str(deletion.version), "outcome": "granted", "legal_ground": "", "reason": ""},
    )
    assert r.status_code == 403 and "Only an officer above the school" in r.get_data(as_text=True)
    assert state(db, deletion) == kept and all_events(db) == before
    assert db.get(Case, case.id).key_destroyed_at is None

    withdrawal = _matched(
        officer,
        db,
        record_request(officer, db, kind="withdrawal", relation="guardian", subject_name=HARMED),
    )
    assert _offered(officer.get(url(withdrawal)).get_data(as_text=True)) == {"limited", "refused"}
    assert "granted" in _offered(focal.get(url(withdrawal)).get_data(as_text=True))
    kept, before = state(db, withdrawal), all_events(db)
    r = officer.post(
        url(withdrawal, "/decide"),
        {
            "version": str(withdrawal.version),
            "outcome": "granted",
            "legal_ground": "",
            "reason": "",
        },
    )
    assert r.status_code == 403 and "school's focal point" in r.get_data(as_text=True)
    assert state(db, withdrawal) == kept and all_events(db) == before


def test_an_export_is_released_only_once_identity_and_guardianship_are_checked(app, db, world):
    _case(app, db, world)
    preparer = Visitor(app, db, world["officer_d1"], lang="en")
    req = _matched(preparer, db, record_request(preparer, db, subject_name=HARMED))
    export = _prepare(preparer, db, req)
    reviewer = Visitor(app, db, world["officer_p"], lang="en")
    page = reviewer.get(url(req, f"/exports/{export.id}")).get_data(as_text=True)
    assert 'name="verified"' in page
    kept, kept_export = state(db, req), _export_state(db, export.id)
    before = events(db, "request.export_release")
    unticked = {k: v for k, v in RELEASE.items() if k != "verified"}
    r = reviewer.post(
        url(req, f"/exports/{export.id}/release"), {"version": str(export.version), **unticked}
    )
    assert r.status_code == 400 and "tick the box" in r.get_data(as_text=True)
    assert state(db, req) == kept and _export_state(db, export.id) == kept_export
    assert events(db, "request.export_release") == before
    r = reviewer.post(
        url(req, f"/exports/{export.id}/release"), {"version": str(export.version), **RELEASE}
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    db.expire_all()
    assert db.get(SubjectRequest, req.id).outcome == "granted"
