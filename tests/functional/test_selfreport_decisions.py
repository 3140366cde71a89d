"""Deciding a self-report from its page: accepted as a case (content re-sealed under the case's
key, photos as files, the danger clock carried), merged into a case the officer may change
(another: 404, nothing changed), closed with a message, marked as spam (counted); a stale
form is a 409 and a form without its CSRF token is refused, both changing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from caseapp.clock import local_today
from caseapp.models import Case, CaseAttachment, SelfReport, Unit, User
from caseapp.services.cases import content as case_content
from caseapp.services.cases import intake as cases
from caseapp.services.selfreports import inbox
from tests.factories import Visitor
from tests.functional.admin_support import audit_head, events_after
from tests.functional.case_attack_support import case_details, page_text
from tests.functional.selfreport_support import SECRET, TINY_JPEG, add_photo, submit_report

ACCEPT = {
    "violence_types": ["physical", "psychological"],
    "setting": "in_school",
    "reporter_kind": "person_harmed",
    "risk_level": "medium",
    "child": "y",
    "harmed_sex": "not_recorded",
    "harmed_age_band": "11-14",
    "harmed_role": "pupil",
    "perpetrator_sex": "not_recorded",
    "perpetrator_age_band": "11-14",
    "perpetrator_relationship": "pupil_peer",
}


def _unit(db, world, code: str) -> Unit:
    return db.get(Unit, world.units[code])


def _fresh(db, report: SelfReport) -> SelfReport:
    db.expire_all()
    return db.get(SelfReport, report.id)


@pytest.mark.usefixtures("clean_store")
def test_accepting_records_a_case_with_the_content_resealed(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"), danger=True)
    add_photo(db, report)
    clock = report.due_at
    db.commit()
    agent = Visitor(client, db, world["focal_a"])
    start = audit_head(db)
    r = agent.post(f"/self-reports/{report.uid}/accept", {**ACCEPT, "version": report.version})
    assert r.status_code == 302, page_text(r)[:2000]
    actions = sorted(e.action for e in events_after(db, start))
    assert actions == ["attachment.add", "case.create", "selfreport.accept"]
    report = _fresh(db, report)
    case = db.get(Case, report.case_id)
    assert r.headers["Location"].endswith(f"/cases/{case.public_id}")
    assert (report.status, report.due_at, report.decided_by_id) == (
        "accepted",
        None,
        world["focal_a"].id,
    )
    assert case.received_via == "self_report" and case.received_on == report.received_on
    assert case.unit_id == report.school_id
    assert sorted(case.violence_types) == ["physical", "psychological"]
    assert case.intervention_due_at is not None
    due, clock = (t.replace(tzinfo=None) for t in (case.intervention_due_at, clock))
    assert abs((due - clock).total_seconds()) < 1  # the clock started at receipt
    focal = db.get(User, world["focal_a"].id)
    opened = case_content.open_content(db, focal, case)
    assert SECRET in opened.narrative
    assert opened.informant_name == f"Bạn nhỏ {SECRET}-name"
    assert opened.informant_contact == f"{SECRET}-contact"
    # Sealed under the case's key: the report's ciphertext was not copied.
    assert case.narrative != report.details
    files = list(db.scalars(select(CaseAttachment).where(CaseAttachment.case_id == case.id)))
    assert len(files) == 1
    name, kind, size, chunks = case_content.open_attachment(db, focal, case, files[0].uid)
    assert (kind, b"".join(chunks)) == ("image/jpeg", TINY_JPEG)
    db.rollback()


def test_accept_needs_a_kind_of_violence_and_the_age_bands(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"), what="")
    db.commit()
    agent = Visitor(client, db, world["focal_a"])
    for missing in ("violence_types", "harmed_age_band"):
        data = {k: v for k, v in ACCEPT.items() if k != missing}
        r = agent.post(f"/self-reports/{report.uid}/accept", {**data, "version": report.version})
        assert r.status_code == 302 and r.headers["Location"].endswith("#messages")
        assert _fresh(db, report).status == "new"
        assert db.scalar(select(Case).where(Case.received_via == "self_report")) is None


def test_a_browser_may_send_the_accept_form_with_one_kind_ticked(client, db, world):
    """Each box of the kinds of violence carries ``required`` (WTForms): without novalidate a
    browser refuses the form until every kind is ticked, and no report can be accepted."""
    import re

    report = submit_report(db, _unit(db, world, "SCH-A"))
    db.commit()
    agent = Visitor(client, db, world["focal_a"])
    html = agent.get(f"/self-reports/{report.uid}").get_data(as_text=True)
    form = re.search(r'<form [^>]*action="/self-reports/[^"]+/accept"[^>]*>', html)
    assert form is not None
    boxes = re.findall(r'<input [^>]*name="violence_types"[^>]*>', html)
    assert len(boxes) > 1
    if any(re.search(r"\brequired\b", box) for box in boxes):
        assert re.search(r"\bnovalidate\b", form.group(0)), form.group(0)


def test_an_officer_accepts_a_staff_named_report_at_the_school(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"), who_did="teacher_staff")
    db.commit()
    agent = Visitor(client, db, world["officer_d1"])
    page = page_text(agent.get(f"/self-reports/{report.uid}"))
    assert "exclude" in page or "loại trừ" in page  # the form says how to keep the staff out
    data = {**ACCEPT, "perpetrator_relationship": "teacher", "perpetrator_age_band": "25-59"}
    r = agent.post(f"/self-reports/{report.uid}/accept", {**data, "version": report.version + 1})
    assert r.status_code == 302, page_text(r)[:2000]
    case = db.get(Case, _fresh(db, report).case_id)
    assert case.unit_id == world.units["SCH-A"] and case.received_via == "self_report"


def test_self_report_is_not_offered_at_intake(client, db, world):
    from tests.functional.case_support import intake_form

    agent = Visitor(client, db, world["focal_a"])
    assert 'value="self_report"' not in agent.get("/cases/new").get_data(as_text=True)
    r = agent.post("/cases/new", intake_form(world.units["SCH-A"], received_via="self_report"))
    assert r.status_code == 400
    assert db.scalar(select(Case).where(Case.received_via == "self_report")) is None


def _case(db, world, code="SCH-A", who="focal_a") -> Case:
    made = cases.create_case(
        db,
        db.get(User, world[who].id),
        _unit(db, world, code),
        case_details(),
        cases.CaseContent(narrative="Đã có hồ sơ"),
    )
    db.commit()
    return made


@pytest.mark.usefixtures("clean_store")
def test_merging_adds_a_note_and_the_photos(client, db, world):
    case = _case(db, world)
    report = submit_report(db, _unit(db, world, "SCH-A"))
    add_photo(db, report)
    db.commit()
    agent = Visitor(client, db, world["focal_a"])
    agent.get(f"/self-reports/{report.uid}")
    start = audit_head(db)
    r = agent.post(
        f"/self-reports/{report.uid}/merge",
        {"reference": case.reference.lower(), "version": _fresh(db, report).version},
    )
    assert r.status_code == 302, page_text(r)[:2000]
    actions = sorted(e.action for e in events_after(db, start))
    assert actions == ["attachment.add", "note.add", "selfreport.merge"]
    report = _fresh(db, report)
    assert (report.status, report.case_id) == ("merged", case.id)
    notes = case_content.open_content(db, db.get(User, world["focal_a"].id), case).notes
    assert notes[-1].body.startswith("Tự báo cáo nhận ngày") or "Self-report" in notes[-1].body
    assert SECRET in notes[-1].body
    db.rollback()


@pytest.mark.parametrize("code, who", [("SCH-C", "focal_c"), ("SCH-B", "focal_b")])
def test_merging_into_a_case_one_may_not_change_is_a_404(client, db, world, code, who):
    other = _case(db, world, code, who)
    report = submit_report(db, _unit(db, world, "SCH-A"))
    db.commit()
    agent = Visitor(client, db, world["focal_a"])
    start = audit_head(db)
    for reference in (other.reference, "NO-SUCH-2025-0001"):
        r = agent.post(f"/self-reports/{report.uid}/merge", {"reference": reference, "version": 1})
        assert r.status_code == 302 and r.headers["Location"].endswith("#messages")
    assert events_after(db, start) == []
    assert _fresh(db, report).status == "new"


def test_closing_sends_the_message_and_needs_one(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"))
    db.commit()
    agent = Visitor(client, db, world["focal_a"])
    r = agent.post(f"/self-reports/{report.uid}/close", {"message": "  ", "version": 1})
    assert r.status_code == 302 and _fresh(db, report).status == "new"
    start = audit_head(db)
    r = agent.post(
        f"/self-reports/{report.uid}/close",
        {"message": f"Cảm ơn em. Gọi 111 nếu cần {SECRET}-reply", "version": 1},
    )
    assert r.status_code == 302
    assert [e.action for e in events_after(db, start)] == ["selfreport.close"]
    report = _fresh(db, report)
    assert (report.status, report.closed_on, report.first_reply_on) == (
        "closed",
        local_today(),
        local_today(),
    )
    assert [m.direction for m in report.messages] == ["staff"]
    assert SECRET.encode() not in report.messages[0].body


def test_spam_is_counted_per_unit(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"))
    db.commit()
    agent = Visitor(client, db, world["officer_d1"])
    r = agent.post(f"/self-reports/{report.uid}/spam", {"version": 1})
    assert r.status_code == 302
    assert _fresh(db, report).status == "spam"
    since = local_today() - timedelta(days=1)
    units = [_unit(db, world, c) for c in ("SCH-A", "D1", "D2")]
    counts = inbox.spam_counts(db, since, units)
    assert counts == {units[0].id: 1, units[1].id: 1, units[2].id: 0}
    r = agent.post(f"/self-reports/{report.uid}/reply", {"body": "xin chào", "version": 2})
    assert r.status_code == 302 and len(_fresh(db, report).messages) == 0


@pytest.mark.parametrize("action", ["accept", "merge", "close", "spam"])
def test_a_stale_form_is_a_409_and_changes_nothing(client, db, world, action):
    case = _case(db, world)
    report = submit_report(db, _unit(db, world, "SCH-A"))
    db.commit()
    agent = Visitor(client, db, world["focal_a"])
    agent.get(f"/self-reports/{report.uid}")  # opened: version 2 now
    data = {**ACCEPT, "reference": case.reference, "message": "Cảm ơn em."}
    start = audit_head(db)
    r = agent.post(f"/self-reports/{report.uid}/{action}", {**data, "version": 1})
    assert r.status_code == 409
    assert f"/self-reports/{report.uid}" in page_text(r)  # the way forward
    assert events_after(db, start) == []
    assert _fresh(db, report).status == "seen"


@pytest.mark.parametrize("action", ["accept", "merge", "close", "spam", "reply"])
def test_a_post_without_its_csrf_token_is_refused(client, db, world, action):
    report = submit_report(db, _unit(db, world, "SCH-A"))
    db.commit()
    agent = Visitor(client, db, world["focal_a"])
    start = audit_head(db)
    data = {**ACCEPT, "message": "x", "body": "x", "reference": "X", "version": 1}
    r = agent.post(f"/self-reports/{report.uid}/{action}", data, csrf=False)
    assert r.status_code == 400
    assert events_after(db, start) == []
    assert _fresh(db, report).status == "new"
