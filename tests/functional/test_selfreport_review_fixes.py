"""Fixes of review r2 (school side of self-reports): a report naming staff is not handed to the
school on acceptance; destroying a case's content destroys its reports' too; reports closed on
their own lose their content with their receipt code; no merge into a closed case; a school's
statistics never count a report routed to the office; escalation and a reporter's message are
announced; the clock of a report keeps the hour, not the second."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from caseapp.clock import local_today
from caseapp.db import utcnow
from caseapp.models import Case, CaseExclusion, Notification, SelfReport, Unit, User
from caseapp.runtime import settings
from caseapp.services.audit.trail import record
from caseapp.services.cases import intake as cases
from caseapp.services.cases import notifications
from caseapp.services.cases import records as case_records
from caseapp.services.privacy import receipts
from caseapp.services.reports import tables as report_tables
from caseapp.services.selfreports import decisions, follow, inbox, routing
from caseapp.services.selfreports.escalation import escalate_unseen
from tests.factories import Visitor
from tests.functional.admin_support import audit_head, events_after
from tests.functional.case_attack_support import page_text
from tests.functional.retention_support import closed_case
from tests.functional.selfreport_support import (
    SECRET,
    add_photo,
    code_of,
    latest_report,
    open_report,
    reporter_message,
    send_report,
    submit_report,
)
from tests.functional.test_selfreport_decisions import ACCEPT

STAFF = {**ACCEPT, "perpetrator_age_band": "25-59", "perpetrator_relationship": "teacher"}


def _unit(db, world, code: str) -> Unit:
    return db.get(Unit, world.units[code])


def _accept(client, db, world, report: SelfReport, who: str, extra=None) -> Case:
    agent = Visitor(client, db, world[who])
    db.expire_all()
    data = {**STAFF, **(extra or {}), "version": db.get(SelfReport, report.id).version}
    r = agent.post(f"/self-reports/{report.uid}/accept", data)
    assert r.status_code == 302, page_text(r)[:2000]
    db.expire_all()
    return db.get(Case, db.get(SelfReport, report.id).case_id)


def _excluded(db, case: Case) -> set[int]:
    return set(db.scalars(select(CaseExclusion.user_id).where(CaseExclusion.case_id == case.id)))


# 1. A report naming staff ---------------------------------------------------------------------


@pytest.mark.usefixtures("clean_store")
def test_a_staff_named_report_is_not_shown_to_the_school_on_acceptance(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"), who_did="teacher_staff")
    add_photo(db, report)
    reporter_message(db, report, f"Thầy ấy lại doạ em {SECRET}-reporter")
    db.commit()
    assert report.route == "staff_named"
    focal = Visitor(client, db, world["focal_a"])
    assert focal.get(f"/self-reports/{report.uid}").status_code == 404
    # The accept form says who will be excluded, each ticked.
    page = Visitor(client, db, world["officer_d1"]).get(f"/self-reports/{report.uid}")
    html = page.get_data(as_text=True)
    for who in ("focal_a", "new_user"):
        assert f'name="exclude" value="{world[who].id}" id="exclude-{world[who].id}" checked' in (
            html
        )
    assert f'value="{world["officer_d1"].id}"' not in html
    start = audit_head(db)
    case = _accept(client, db, world, report, "officer_d1")  # a raw post: everyone excluded
    actions = sorted(e.action for e in events_after(db, start))
    assert actions.count("case.exclude") == 2 and actions.count("selfreport.accept") == 1
    assert _excluded(db, case) == {world["focal_a"].id, world["new_user"].id}
    focal = Visitor(client, db, world["focal_a"])
    assert focal.get(f"/cases/{case.public_id}").status_code == 404
    assert focal.get(f"/cases/{case.public_id}/confidential").status_code == 404
    text = page_text(focal.get(f"/self-reports/{report.uid}"))
    assert SECRET not in text
    # No conversation reaches the school's focal point, not even through the reply form.
    r = focal.post(f"/self-reports/{report.uid}/reply", {"body": "Chào em", "back": "case"})
    assert r.status_code == 404
    # The officer still reads it all, conversation included.
    officer = Visitor(client, db, world["officer_d1"])
    r = officer.post(f"/cases/{case.public_id}/confidential", {"reason": "Xem hồ sơ tự báo cáo"})
    assert f"{SECRET}-reporter" in page_text(r)


def test_the_officer_may_keep_a_trusted_focal_point(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"), who_did="teacher_staff")
    db.commit()
    trusted, other = world["focal_a"].id, world["new_user"].id
    extra = {"offered": [str(trusted), str(other)], "exclude": [str(other)]}
    case = _accept(client, db, world, report, "officer_d1", extra)
    assert _excluded(db, case) == {other}
    assert Visitor(client, db, world["focal_a"]).get(f"/cases/{case.public_id}").status_code == 200


def test_a_report_for_the_school_excludes_nobody(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"), asked_office=False)
    db.commit()
    assert decisions.school_side_readers(db, report) == []
    case = _accept(client, db, world, report, "focal_a")
    assert _excluded(db, case) == set()


# 2. Destroying a case's content destroys its reports' ------------------------------------------


@pytest.mark.usefixtures("clean_store")
def test_destroying_the_case_content_destroys_the_report_content(client, db, world):
    sent = send_report(client, "SCH-A", details=f"Em sợ lắm {SECRET}-details")
    code = code_of(sent)
    report = latest_report(db)
    photo = add_photo(db, report)
    reporter_message(db, report, f"Em sợ lắm {SECRET}-reporter")
    db.commit()
    case = _accept(client, db, world, report, "focal_a")
    officer = db.get(User, world["officer_d1"].id)
    start = audit_head(db)
    cases.destroy_content(db, officer, db.get(Case, case.id), "Hết thời hạn lưu trữ")
    db.commit()
    (event,) = events_after(db, start)
    assert json.loads(event.changes)["self_reports_destroyed"] == [report.id]
    assert SECRET not in event.changes
    stored = settings().attachment_dir / photo.storage_name
    assert stored.exists()
    assert case_records.discard_case_files(db, db.get(Case, case.id)) >= 1
    assert not stored.exists()
    agent = Visitor(client, db, world["officer_d1"], lang="en")
    page = agent.get(f"/self-reports/{report.uid}")
    assert page.status_code == 200
    assert SECRET not in page_text(page) and "Content destroyed" in page_text(page)
    assert agent.get(f"/self-reports/{report.uid}/photos/{photo.uid}").status_code == 404
    r = agent.post(f"/self-reports/{report.uid}/reply", {"body": "Chào em"})
    assert r.status_code == 302  # refused with a message, nothing sent
    db.expire_all()
    assert db.get(SelfReport, report.id).wrapped_key is None
    assert len(db.get(SelfReport, report.id).messages) == 1
    # The reporter's page: the status, a placeholder for the messages, no form, no error.
    client.get("/auth/logout")
    follow = open_report(client, code)
    assert follow.status_code == 200
    body = follow.get_data(as_text=True)
    assert SECRET not in body and 'name="message"' not in body


# 3. A report closed on its own loses its content with its receipt code --------------------------


def _closed_long_ago(db, world, status: str = "closed") -> SelfReport:
    report = submit_report(db, _unit(db, world, "SCH-A"), received_on=date(2019, 1, 2))
    report.status, report.closed_on = status, date(2019, 1, 3)
    report.due_at = None
    record(db, None, "selfreport.test_data", report, changes={})
    db.commit()
    return report


@pytest.mark.usefixtures("clean_store")
def test_the_retention_run_destroys_a_long_closed_report(app, client, db, world):
    closed = _closed_long_ago(db, world)
    photo = add_photo(db, closed)
    spam = _closed_long_ago(db, world, "spam")
    waiting = submit_report(db, _unit(db, world, "SCH-A"), received_on=date(2019, 1, 2))
    db.commit()
    stored = settings().attachment_dir / photo.storage_name
    due = {d.report_id: d for d in receipts.due(db, local_today())}
    assert due[closed.id].content and due[closed.id].code and waiting.id not in due
    # The dry run lists them and changes nothing.
    dry = app.test_cli_runner().invoke(args=["retention", "run", "--dry-run"])
    assert f"receipt code and content of self-report #{closed.id} SCH-A" in dry.output, dry.output
    db.expire_all()
    assert db.get(SelfReport, closed.id).wrapped_key is not None and stored.exists()
    start = audit_head(db)
    run = app.test_cli_runner().invoke(args=["retention", "run"])
    assert "2 self-reports' content destroyed (1 photo files removed)" in run.output, run.output
    events = [e for e in events_after(db, start) if e.object_type == "self_reports"]
    assert sorted(int(e.object_id) for e in events) == sorted([closed.id, spam.id])
    for e in events:
        assert e.action == "selfreport.destroy_content" and e.actor_id is None
        assert json.loads(e.changes)["content"] == ["kept", "destroyed"]
        assert SECRET not in e.changes
    db.expire_all()
    assert db.get(SelfReport, closed.id).wrapped_key is None and not stored.exists()
    assert db.get(SelfReport, waiting.id).wrapped_key is not None
    page = Visitor(client, db, world["focal_a"]).get(f"/self-reports/{closed.uid}")
    assert page.status_code == 200 and SECRET not in page_text(page)
    # A second run does nothing.
    again = app.test_cli_runner().invoke(args=["retention", "run"])
    assert "0 self-reports' content destroyed" in again.output, again.output
    shreds = [e for e in events_after(db, start) if e.action == "selfreport.destroy_content"]
    assert len(shreds) == 2


# 4. No merge into a closed case ----------------------------------------------------------------


def test_merging_into_a_closed_case_is_refused(client, db, world):
    old = closed_case(db, world, date(2019, 1, 2), local_today() - timedelta(days=800))
    report = submit_report(db, _unit(db, world, "SCH-A"))
    db.commit()
    agent = Visitor(client, db, world["focal_a"], lang="en")
    start = audit_head(db)
    r = agent.post(
        f"/self-reports/{report.uid}/merge",
        {"reference": old.reference, "version": report.version},
    )
    assert r.status_code == 302
    assert "This case is closed: nothing was added." in page_text(agent.get(r.headers["Location"]))
    db.expire_all()
    fresh = db.get(SelfReport, report.id)
    assert (fresh.case_id, fresh.status) == (None, "seen")  # opened by the page, not merged
    assert not [e for e in events_after(db, start) if e.action in ("note.add", "selfreport.merge")]
    assert report.id not in {d.report_id for d in receipts.due(db, local_today())}


# 5. A school's statistics never count a report routed to the office ----------------------------


def test_school_statistics_do_not_reveal_staff_named_reports(db, world):
    school = _unit(db, world, "SCH-A")
    submit_report(db, school, who_did="teacher_staff", announce=False)
    mine = submit_report(db, school, announce=False)
    mine.first_reply_on = local_today()
    db.commit()
    focal = db.get(User, world["focal_a"].id)
    assert inbox.waiting(db, focal).total == 1  # only the school's own
    today = local_today()
    at_school = report_tables.build(db, school, today - timedelta(days=1), today)
    assert at_school.table("self_reports").total() == 1
    assert at_school.timeliness["self_reports_not_answered"] == 0
    assert at_school.timeliness["self_reports_answered"] == 1
    office = report_tables.build(db, _unit(db, world, "D1"), today - timedelta(days=1), today)
    assert office.table("self_reports").total() == 2
    assert office.timeliness["self_reports_not_answered"] == 1


# 6. Escalation is announced even after an arrival the same day ----------------------------------


def test_escalation_is_announced_even_after_an_arrival_the_same_day(db, world):
    submit_report(db, _unit(db, world, "SCH-A"), who_did="teacher_staff")  # tells officer_d1
    late = submit_report(db, _unit(db, world, "SCH-B"))  # waits at school B, nobody opens it
    db.commit()
    escalated, notices = escalate_unseen(db, utcnow() + timedelta(hours=25))
    db.commit()
    db.expire_all()
    assert db.get(SelfReport, late.id).escalated_unit_id == world.units["D1"]
    assert escalated == 2 and notices >= 2
    officer = world["officer_d1"].id
    kinds = sorted(db.scalars(select(Notification.kind).where(Notification.user_id == officer)))
    assert kinds == ["self_report", "selfreport_escalated"]
    notice = db.scalar(
        select(Notification).where(
            Notification.user_id == officer, Notification.kind == "selfreport_escalated"
        )
    )
    subject, body = notifications.email_text(notice, "https://example.test", "en")
    assert "nobody opened in time" in body and "Trường" not in body + subject
    # Running it again tells nobody twice.
    assert escalate_unseen(db, utcnow() + timedelta(hours=25)) == (0, 0)


# 7. A reporter's new message is announced --------------------------------------------------------


def _message_notices(db) -> list[Notification]:
    db.expire_all()
    return list(db.scalars(select(Notification).where(Notification.kind == "self_report_message")))


def test_a_reporter_message_on_an_open_report_tells_its_handlers(db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"), announce=False)
    db.commit()
    follow.add_message(db, report, "Bạn ấy lại đánh em hôm nay.", [], address="10.9.0.2")
    follow.add_message(db, report, "Và hôm nay nữa.", [], address="10.9.0.2")  # the same day: once
    db.commit()
    notices = _message_notices(db)
    assert {n.user_id for n in notices} == {world["focal_a"].id, world["new_user"].id}
    assert all(n.case_id is None for n in notices)


def test_a_reporter_message_on_a_case_tells_its_handlers_not_the_excluded(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"), who_did="teacher_staff", announce=False)
    db.commit()
    case = _accept(client, db, world, report, "officer_d1")
    follow.add_message(
        db, db.get(SelfReport, report.id), "Thầy ấy lại doạ em.", [], address="10.9.0.2"
    )
    db.commit()
    notices = _message_notices(db)
    assert {n.user_id for n in notices} == {world["officer_d1"].id}  # the case's handler
    assert all(n.case_id == case.id for n in notices)
    subject, body = notifications.email_text(notices[0], "https://example.test", "en")
    assert "wrote a new message" in body and case.reference not in body + subject


# 8. The clock keeps the hour, not the second ------------------------------------------------------


def test_the_clock_of_a_report_rounds_the_receipt_up_to_the_hour():
    at = datetime(2024, 5, 6, 9, 41, 17, 123456, tzinfo=UTC)
    assert routing.due_at_receipt(True, at) == datetime(2024, 5, 6, 22, 0, tzinfo=UTC)
    assert routing.due_at_receipt(False, at) == datetime(2024, 5, 7, 10, 0, tzinfo=UTC)
    sharp = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    assert routing.due_at_receipt(True, sharp) == datetime(2024, 5, 6, 21, 0, tzinfo=UTC)


def test_the_case_does_not_keep_the_second_the_report_arrived(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"), danger=True)
    db.commit()
    case = _accept(client, db, world, report, "focal_a")
    due = case.intervention_due_at
    assert (due.minute, due.second, due.microsecond) == (0, 0, 0), due.isoformat()
