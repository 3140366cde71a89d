"""The conversation with a self-reporter on the school side, and what follows a report into its
case: a reply sealed under the report's key (the database holds no clear text), the exchange on
the case's confidential page (read audited with the case), a reply from there; an excluded
officer never sees the report, its messages or its place in the list; escalation of a report
nobody opened in time (fixed clock), from the periodic job and its own command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from caseapp.db import utcnow
from caseapp.models import Case, Notification, SelfReport, Unit, User
from caseapp.services.cases import records as case_records
from caseapp.services.selfreports import inbox
from caseapp.services.selfreports.escalation import escalate_unseen
from tests.factories import Visitor
from tests.functional.admin_support import audit_head, events_after
from tests.functional.case_attack_support import page_text
from tests.functional.selfreport_support import SECRET, reporter_message, submit_report
from tests.functional.test_selfreport_decisions import ACCEPT

REPLY = f"Thầy cô đã nhận được. {SECRET}-staff-reply"


def _unit(db, world, code: str) -> Unit:
    return db.get(Unit, world.units[code])


def _accepted(client, db, world, who="focal_a", **report_args) -> tuple[SelfReport, Case]:
    report = submit_report(db, _unit(db, world, "SCH-A"), **report_args)
    reporter_message(db, report, f"Em nhớ thêm chuyện này {SECRET}-reporter")
    db.commit()
    agent = Visitor(client, db, world[who])
    data = {**ACCEPT, "perpetrator_age_band": "25-59"}
    r = agent.post(f"/self-reports/{report.uid}/accept", {**data, "version": report.version})
    assert r.status_code == 302, page_text(r)[:2000]
    db.expire_all()
    report = db.get(SelfReport, report.id)
    return report, db.get(Case, report.case_id)


def test_a_reply_is_sealed_and_audited(client, db, world):
    report = submit_report(db, _unit(db, world, "SCH-A"))
    db.commit()
    agent = Visitor(client, db, world["focal_a"])
    start = audit_head(db)
    r = agent.post(f"/self-reports/{report.uid}/reply", {"body": REPLY, "version": 1})
    assert r.status_code == 302
    events = events_after(db, start)
    assert [e.action for e in events] == ["selfreport.reply"]
    assert SECRET not in events[0].changes
    db.expire_all()
    stored = db.execute(text("SELECT body FROM self_report_messages")).scalars().all()
    assert stored and all(SECRET.encode() not in bytes(b) for b in stored)
    assert db.get(SelfReport, report.id).first_reply_on is not None
    assert REPLY in page_text(agent.get(f"/self-reports/{report.uid}"))


def test_the_case_page_lists_the_conversation_and_audits_the_read(client, db, world):
    report, case = _accepted(client, db, world)
    agent = Visitor(client, db, world["focal_a"])
    start = audit_head(db)
    page = page_text(agent.get(f"/cases/{case.public_id}/confidential"))
    assert f"{SECRET}-reporter" in page
    actions = [e.action for e in events_after(db, start)]
    assert sorted(actions) == ["case.view_confidential", "selfreport.read"]
    # A reply from the case's page goes to the reporter and comes back to the case.
    r = agent.post(
        f"/self-reports/{report.uid}/reply", {"body": REPLY, "version": "0", "back": "case"}
    )
    assert r.status_code == 302
    assert f"/cases/{case.public_id}/confidential" in r.headers["Location"]
    assert REPLY in page_text(agent.get(f"/cases/{case.public_id}/confidential"))


def test_an_officer_reads_the_conversation_under_the_reason_given(client, db, world):
    _report, case = _accepted(client, db, world)
    agent = Visitor(client, db, world["officer_d1"])
    start = audit_head(db)
    r = agent.post(f"/cases/{case.public_id}/confidential", {"reason": "Kiểm tra hồ sơ tự báo cáo"})
    assert f"{SECRET}-reporter" in page_text(r)
    assert sorted(e.action for e in events_after(db, start)) == [
        "case.view_confidential",
        "selfreport.read",
    ]


def test_an_excluded_officer_never_sees_the_report(client, db, world):
    report, case = _accepted(client, db, world, who="officer_d1", who_did="teacher_staff")
    officer = db.get(User, world["officer_p"].id)
    case_records.exclude(db, officer, case, "officer.d1", "Người thân của giáo viên bị nêu tên")
    db.commit()
    agent = Visitor(client, db, world["officer_d1"])
    r = agent.get(f"/self-reports/{report.uid}")
    assert r.status_code == 404 and SECRET not in page_text(r)
    assert (
        agent.post(f"/self-reports/{report.uid}/reply", {"body": REPLY, "version": "0"}).status_code
        == 404
    )
    assert report.uid not in page_text(agent.get("/self-reports/?tab=decided"))
    excluded = db.get(User, world["officer_d1"].id)
    assert report.uid not in {r.uid for r in inbox.decided(db, excluded).rows}
    # Still seen by the officer above, who is not excluded.
    assert (
        Visitor(client, db, world["officer_p"]).get(f"/self-reports/{report.uid}").status_code
        == 200
    )


def test_escalation_after_the_clock_with_a_fixed_now(db, world):
    school = _unit(db, world, "SCH-B")
    late = submit_report(db, school)
    danger = submit_report(db, school, danger=True)
    opened = submit_report(db, school)
    opened.status, opened.seen_at = "seen", utcnow()  # opened in time: not escalated
    from caseapp.services.audit.trail import record

    record(db, None, "selfreport.read", opened, changes={})
    db.commit()
    officers = {world["officer_d1"].id}
    before = db.scalar(select(func.count()).select_from(Notification))

    assert escalate_unseen(db, utcnow() + timedelta(hours=11)) == (0, 0)
    escalated, notices = escalate_unseen(db, utcnow() + timedelta(hours=13))
    assert escalated == 1 and notices == 1  # the danger report: 12 hours
    escalated, _notices = escalate_unseen(db, utcnow() + timedelta(hours=25))
    assert escalated == 1  # the other one, told on the same day: no second notice of its kind
    assert escalate_unseen(db, utcnow() + timedelta(hours=48)) == (0, 0)  # once only
    db.commit()
    db.expire_all()
    for report in (late, danger):
        assert db.get(SelfReport, report.id).escalated_unit_id == world.units["D1"]
    assert db.get(SelfReport, opened.id).escalated_unit_id is None
    added = db.scalars(select(Notification).order_by(Notification.id.desc()).limit(3)).all()
    assert {n.user_id for n in added} >= officers
    assert db.scalar(select(func.count()).select_from(Notification)) > before


def test_escalation_runs_from_the_commands(app, db, world):
    report = submit_report(db, _unit(db, world, "SCH-C"))
    report_id = report.id
    db.commit()
    from caseapp.services.audit.trail import record

    report = db.get(SelfReport, report_id)
    report.due_at = utcnow() - timedelta(minutes=1)
    record(db, None, "selfreport.read", report, changes={})  # bookkeeping of the test itself
    db.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["selfreports", "escalate"])
    assert result.exit_code == 0 and "1 self-reports escalated" in result.output
    db.expire_all()
    assert db.get(SelfReport, report_id).escalated_unit_id == world.units["D2"]
    result = runner.invoke(args=["notify", "send-due"])
    assert result.exit_code == 0


@pytest.mark.parametrize("who", ["focal_a", "officer_d1"])
def test_a_closed_report_takes_no_more_replies(client, db, world, who):
    report = submit_report(db, _unit(db, world, "SCH-A"))
    db.commit()
    agent = Visitor(client, db, world[who])
    agent.post(f"/self-reports/{report.uid}/close", {"message": "Cảm ơn em.", "version": 1})
    r = agent.post(f"/self-reports/{report.uid}/reply", {"body": REPLY, "version": "0"})
    assert r.status_code == 302
    db.expire_all()
    assert len(db.get(SelfReport, report.id).messages) == 1


def test_the_case_timeline_shows_the_acceptance_the_replies_and_the_reads(client, db, world):
    report, case = _accepted(client, db, world)
    agent = Visitor(client, db, world["focal_a"])
    agent.post(f"/self-reports/{report.uid}/reply", {"body": REPLY, "version": "0"})
    agent.get(f"/self-reports/{report.uid}")
    page = page_text(agent.get(f"/cases/{case.public_id}"))
    for name in ("Đã tiếp nhận tự báo cáo thành vụ việc", "Đã gửi trả lời người tự báo cáo"):
        assert name in page
    assert "Đã đọc tự báo cáo" in page  # the report's page, opened once linked
    assert SECRET not in page  # the timeline names the actions, never the words


def test_the_reporters_answer_shows_in_the_case_timeline(client, db, world):
    """The reporter's message, sent with the code after the report became a case, is listed in
    the case's timeline as the replies are (the day only, and never its words)."""
    from caseapp.services.selfreports import follow

    report, case = _accepted(client, db, world)
    follow.add_message(db, report, f"Em trả lời cô {SECRET}-answer", [], address="10.9.0.1")
    db.commit()
    events = case_records.history(db, case)
    assert "selfreport.message_received" in [e.action for e in events]
    page = page_text(Visitor(client, db, world["focal_a"]).get(f"/cases/{case.public_id}"))
    assert "Nhận tin nhắn từ người tự báo cáo" in page
    assert SECRET not in page
