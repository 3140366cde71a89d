"""The school side's list of self-reports and a report's page: who sees which report (where it
waits, the office above it, nobody else: 404), the order of the list, the audited read that
marks a report seen, the waiting counts, and the arrival notices (one per handler, unit and
day however many reports come)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from caseapp.models import Notification, Unit, User
from caseapp.services.selfreports import inbox
from tests.factories import Visitor
from tests.functional.admin_support import audit_head, events_after
from tests.functional.case_attack_support import page_text
from tests.functional.selfreport_support import SECRET, submit_report


def _unit(db, world, code: str) -> Unit:
    return db.get(Unit, world.units[code])


@pytest.fixture()
def reports(db, world):
    """A report routed to SCH-A, one naming staff (routed to D1), one at SCH-C."""
    made = {
        "school": submit_report(db, _unit(db, world, "SCH-A")),
        "staff": submit_report(db, _unit(db, world, "SCH-A"), who_did="teacher_staff"),
        "other": submit_report(db, _unit(db, world, "SCH-C")),
    }
    db.commit()
    return made


# who -> which reports they may open
MATRIX = {
    "focal_a": {"school"},
    "focal_b": set(),
    "focal_c": {"other"},
    "officer_d1": {"school", "staff"},
    "officer_d2": {"other"},
    "officer_p": {"school", "staff", "other"},
}


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_who_sees_which_report(client, db, world, reports, who):
    agent = Visitor(client, db, world[who])
    listing = page_text(agent.get("/self-reports/"))
    for name, report in reports.items():
        r = agent.get(f"/self-reports/{report.uid}")
        if name in MATRIX[who]:
            assert r.status_code == 200, (who, name)
            assert SECRET in page_text(r)
            assert report.uid in listing
        else:
            assert r.status_code == 404, (who, name)
            assert SECRET not in page_text(r)
            assert report.uid not in listing


@pytest.mark.parametrize("who", ["auditor_p", "admin_p", "nobody"])
def test_people_without_the_permission_are_refused(client, db, world, reports, who):
    agent = Visitor(client, db, world[who])
    assert agent.get("/self-reports/").status_code == 403
    assert agent.get(f"/self-reports/{reports['school'].uid}").status_code == 404


def test_a_staff_named_report_waits_at_the_office_not_the_school(db, world, reports):
    assert reports["staff"].routed_unit_id == world.units["D1"]
    assert reports["staff"].route == "staff_named"
    focal = db.get(User, world["focal_a"].id)
    assert reports["staff"].uid not in {r.uid for r in inbox.inbox(db, focal).rows}


def test_danger_first_then_the_oldest(db, world):
    from datetime import timedelta

    from caseapp.clock import local_today

    school = _unit(db, world, "SCH-B")
    old = submit_report(db, school, received_on=local_today() - timedelta(days=2))
    recent = submit_report(db, school)
    danger = submit_report(db, school, danger=True)
    db.commit()
    rows = inbox.inbox(db, db.get(User, world["focal_b"].id)).rows
    assert [r.uid for r in rows] == [danger.uid, old.uid, recent.uid]
    counts = inbox.waiting(db, db.get(User, world["focal_b"].id))
    assert (counts.total, counts.new, counts.danger) == (3, 3, 1)


def test_opening_is_one_audited_read_and_marks_it_seen(client, db, world, reports):
    report = reports["school"]
    agent = Visitor(client, db, world["focal_a"])
    start = audit_head(db)
    r = agent.get(f"/self-reports/{report.uid}")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    events = events_after(db, start)
    assert [e.action for e in events] == ["selfreport.read"]
    assert '"status": ["new", "seen"]' in events[0].changes
    assert SECRET not in events[0].changes
    db.expire_all()
    assert report.status == "seen" and report.seen_by_id == world["focal_a"].id
    # Read again: audited again, the first opening stays the first.
    agent.get(f"/self-reports/{report.uid}")
    assert [e.action for e in events_after(db, start)] == ["selfreport.read"] * 2
    db.expire_all()
    assert report.seen_by_id == world["focal_a"].id


def test_menu_home_and_my_work_show_the_count(client, db, world, reports):
    agent = Visitor(client, db, world["focal_a"])
    home = page_text(agent.get("/"))
    assert "Self-reports" in home or "Tự báo cáo" in home
    assert 'title="' in home and "badge" in home
    work = page_text(agent.get("/work"))
    assert "/self-reports/" in work


def test_an_odd_report_id_is_a_404(client, db, world):
    agent = Visitor(client, db, world["officer_p"])
    for uid in ("x", "1" * 36, "../../etc/passwd", "%00"):
        assert agent.get(f"/self-reports/{uid}").status_code == 404


def test_twenty_reports_page_each_handler_once(db, world):
    school = _unit(db, world, "SCH-B")
    before = db.scalar(select(func.count()).select_from(Notification))
    for _ in range(20):
        submit_report(db, school)
    db.commit()
    notices = list(
        db.scalars(
            select(Notification).where(Notification.kind == "self_report").order_by(Notification.id)
        )
    )
    assert db.scalar(select(func.count()).select_from(Notification)) - before == len(notices)
    assert [n.user_id for n in notices] == [world["focal_b"].id]
    assert all(n.case_id is None for n in notices)


def test_the_notice_names_nothing_and_leads_to_the_list(client, db, world):
    from caseapp.services.cases.notifications import email_text

    submit_report(db, _unit(db, world, "SCH-B"), danger=True)
    db.commit()
    notice = db.scalar(select(Notification).where(Notification.kind == "self_report_danger"))
    subject, body = email_text(notice, "https://example.test")
    assert "Trường B" not in subject + body and SECRET not in body
    assert "12" in body and f"/notifications/{notice.id}" in body
    agent = Visitor(client, db, world["focal_b"])
    page = page_text(agent.get("/notifications"))
    assert "nguy hiểm" in page or "danger" in page
    r = agent.get(f"/notifications/{notice.id}")
    assert r.status_code == 302 and r.headers["Location"].endswith("/self-reports/")
