"""The yearly gender-equality plan of a unit: written by its focal point, approved by its head
(never by the person who saved it), read by the unit above and by no sibling; its targets beside
results worked out by hand from statistics and activities."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from caseapp.models import Activity, ApprovalRequest, Grant, Unit, User
from caseapp.models.equality import ActivityTarget, GenderPlan, UnitStatistics, WorkReportDraft
from caseapp.runtime import keyring
from caseapp.services.accounts import approvals
from caseapp.services.audit.trail import record
from caseapp.services.equality import plans
from caseapp.services.equality.plans import TargetInput
from caseapp.services.equality.work import WorkReport
from caseapp.services.reports.periods import periods_of
from tests.factories import Visitor, make_user
from tests.functional.admin_support import audit_head, changed_tables, events_after, snapshot
from tests.functional.report_support import unit, user
from tests.functional.workflow_support import text_of

TEXT = "Kế hoạch bình đẳng giới năm học: tăng tỷ lệ nữ cán bộ quản lý."


def _year() -> int:
    """The current plan year (read inside the application, whose periods are configured)."""
    return plans.current_year()


def plan_form(version="0", unit_code="SCH-A", year=None, **overrides) -> dict:
    data = {
        "unit": unit_code,
        "year": str(year or _year()),
        "version": str(version),
        "text": TEXT,
        "targets-0-title": "Tỷ lệ nữ cán bộ quản lý",
        "targets-0-measure": "women_managers_share",
        "targets-0-target_value": "40",
        "targets-1-title": "Học sinh được truyền thông",
        "targets-1-measure": "pupils_reached",
        "targets-1-target_value": "500",
        "targets-2-title": "",
        "targets-2-measure": "custom",
        "targets-2-target_value": "",
    }
    data.update(overrides)
    return data


def _head(db, world, name: str, code: str, *extra: str):
    """A new account holding the head role at ``code`` (and ``extra`` roles there)."""
    at = unit(db, world, code)
    person = make_user(db, keyring(), name, at, [(r, at) for r in ("head", *extra)])
    db.commit()
    return person


def _plan(db, code="SCH-A", year=None) -> GenderPlan | None:
    db.expire_all()
    return db.scalar(
        select(GenderPlan)
        .join(GenderPlan.unit)
        .where(Unit.code == code, GenderPlan.year == (year or _year()))
    )


def _plan_state(db) -> list:
    db.expire_all()
    return [
        (p.unit_id, p.year, p.text, p.status, p.approved_by_id, p.version, len(p.targets))
        for p in db.scalars(select(GenderPlan).order_by(GenderPlan.id))
    ]


def _actions(db, since: int) -> list[str]:
    return [e.action for e in events_after(db, since)]


@pytest.fixture()
def focal(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en")


def test_plan_year_counts_november_for_the_next_year(app, db):
    assert plans.plan_year(date(2025, 11, 1)) == 2026
    assert plans.plan_year(date(2025, 12, 31)) == 2026
    assert plans.plan_year(date(2026, 6, 1)) == 2026
    assert plans.plan_year(date(2026, 10, 31)) == 2026


def test_write_approve_and_edit_a_plan(app, db, world, focal):
    head = Visitor(app, db, _head(db, world, "head.a", "SCH-A"), lang="en")
    page = focal.get("/equality/plan")
    assert page.status_code == 200 and "No plan has been written" in text_of(page)
    start = audit_head(db)
    r = focal.post("/equality/plan", plan_form())
    assert r.status_code == 302, text_of(r)[:3000]
    found = _plan(db)
    assert (found.status, found.text, [t.title for t in found.targets]) == (
        "draft",
        TEXT,
        ["Tỷ lệ nữ cán bộ quản lý", "Học sinh được truyền thông"],
    )
    assert [t.target_value for t in found.targets] == [40, 500]
    [event] = events_after(db, start)
    changes = json.loads(event.changes)
    assert event.action == "plan.save" and changes["targets"] == 2
    assert TEXT not in event.changes  # what changed, never the text itself
    # The head sees the button and approves.
    assert "Approve the plan" in text_of(head.get("/equality/plan?unit=SCH-A"))
    start = audit_head(db)
    r = head.post(
        "/equality/plan/approve", {"unit": "SCH-A", "year": str(_year()), "version": found.version}
    )
    assert r.status_code == 302
    found = _plan(db)
    assert found.status == "approved" and found.approved_by_id == world_id(db, "head.a")
    assert _actions(db, start) == ["plan.approve"]
    page = text_of(focal.get("/equality/plan"))
    assert "Approved by" in page and "returns the plan to draft" in page
    # Editing the approved plan returns it to draft; target ids are kept by line.
    ids = [t.id for t in found.targets]
    r = focal.post("/equality/plan", plan_form(found.version, **{"targets-1-target_value": "600"}))
    assert r.status_code == 302
    found = _plan(db)
    assert (found.status, found.approved_by_id, found.approved_at) == ("draft", None, None)
    assert [t.id for t in found.targets] == ids and found.targets[1].target_value == 600
    # A line emptied of its title is removed.
    r = focal.post("/equality/plan", plan_form(found.version, **{"targets-1-title": ""}))
    assert r.status_code == 302
    assert [t.id for t in _plan(db).targets] == ids[:1]


def world_id(db, username: str) -> int:
    return db.scalar(select(User.id).where(User.username == username))


def test_the_author_cannot_approve_their_own_text(app, db, world):
    both = _head(db, world, "head.writer", "SCH-A", "focal_point")
    agent = Visitor(app, db, both, lang="en")
    assert agent.post("/equality/plan", plan_form()).status_code == 302
    found = _plan(db)
    before = _plan_state(db)
    r = agent.post(
        "/equality/plan/approve", {"unit": "SCH-A", "year": str(_year()), "version": found.version}
    )
    assert r.status_code == 400 and "another head of the unit" in text_of(r)
    assert _plan_state(db) == before


def test_an_empty_plan_cannot_be_approved(db, world):
    head = _head(db, world, "head.e", "SCH-A")
    sch_a, focal = unit(db, world, "SCH-A"), user(db, world, "focal_a")
    made = plans.save_plan(db, focal, sch_a, _year(), "", [], 0)
    db.commit()
    with pytest.raises(plans.ValidationFailed):
        plans.approve_plan(db, db.get(User, head.id), made, made.version)


@pytest.mark.parametrize("who", ["head_b", "focal_b", "officer_d2"])
def test_outsiders_get_404_and_change_nothing(app, db, world, focal, who):
    assert focal.post("/equality/plan", plan_form()).status_code == 302
    found = _plan(db)
    person = _head(db, world, "head.b", "SCH-B") if who == "head_b" else world[who]
    agent = Visitor(app, db, person, lang="en")
    before = snapshot(db)
    assert agent.get("/equality/plan?unit=SCH-A").status_code == 404
    if who == "head_b":
        r = agent.post(
            "/equality/plan/approve",
            {"unit": "SCH-A", "year": str(_year()), "version": found.version},
        )
    else:
        r = agent.post("/equality/plan", plan_form(found.version, text="Đã sửa"))
    assert r.status_code == 404
    assert changed_tables(before, snapshot(db)) == []


def test_a_stale_version_is_refused_and_changes_nothing(db, focal):
    assert focal.post("/equality/plan", plan_form()).status_code == 302
    before = _plan_state(db)
    r = focal.post("/equality/plan", plan_form("0", text="Bản cũ"))
    assert r.status_code == 409 and "Reload the page and try again" in text_of(r)
    assert "Bản cũ" in text_of(r)  # the form keeps what was typed
    assert _plan_state(db) == before


def test_a_post_without_csrf_is_refused(db, focal):
    before = snapshot(db)
    r = focal.post("/equality/plan", plan_form(), csrf=False)
    assert r.status_code == 400
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("targets-0-target_value", "150", "between 0 and 100"),
        ("targets-1-target_value", "-3", "Enter a number between 0 and"),
        ("targets-1-target_value", "abc", "Not a valid integer value"),
        ("targets-1-target_value", "", "between 0 and 10000000"),
        ("targets-1-measure", "happiness", "choose what the target measures"),
        ("targets-0-title", "x" * 301, "At most 300 characters"),
        ("text", "x" * 20_001, "At most 20000 characters"),
        ("unit", "SCH-B", None),
        ("year", "1999", None),
    ],
)
def test_bad_input_is_refused_and_keeps_what_was_typed(db, focal, field, value, message):
    before = _plan_state(db)
    r = focal.post("/equality/plan", plan_form(**{"text": "Giữ nguyên", field: value}))
    if message is None:
        assert r.status_code == 404
    else:
        assert r.status_code == 400 and message in text_of(r), text_of(r)[-3000:]
        if field != "text":
            assert "Giữ nguyên" in text_of(r)
    assert _plan_state(db) == before


def test_a_target_activities_count_towards_is_not_removed(db, world, focal):
    sch_a, me = unit(db, world, "SCH-A"), user(db, world, "focal_a")
    made = plans.save_plan(db, me, sch_a, _year(), TEXT, _targets(), 0)
    activity = _activity(db, me, sch_a, date(_year(), 3, 1), "communication", "pupils", 5, 5)
    _link(db, me, activity, made.targets[2])
    db.commit()
    before = _plan_state(db)
    r = focal.post("/equality/plan", plan_form(made.version))  # two lines: the third goes
    assert r.status_code == 400 and "cannot be removed" in text_of(r)
    assert _plan_state(db) == before


def test_the_unit_above_reads_it_and_a_sibling_office_does_not(app, db, world, focal):
    assert focal.post("/equality/plan", plan_form()).status_code == 302
    above = Visitor(app, db, world["officer_d1"], lang="en")
    page = text_of(above.get("/equality/plan?unit=SCH-A"))
    assert "Tỷ lệ nữ cán bộ quản lý" in page and "Draft" in page
    listing = text_of(above.get(f"/equality/plans?unit=D1&year={_year()}"))
    assert "Trường A" in listing and "Trường B" in listing and "No plan" in listing
    province_head = Visitor(app, db, _head(db, world, "head.d1", "D1"), lang="en")
    page = province_head.get("/equality/plan?unit=SCH-A")
    assert (
        page.status_code == 200 and TEXT in text_of(page) and "Edit the plan" not in text_of(page)
    )
    sibling = Visitor(app, db, world["officer_d2"], lang="en")
    assert sibling.get("/equality/plan?unit=SCH-A").status_code == 404
    assert sibling.get("/equality/plans?unit=D1").status_code == 404
    assert sibling.get("/equality/plan?unit=SCH-A&year=abcd").status_code == 404


# --- results worked out by hand ---------------------------------------------------------------


def _targets() -> list[TargetInput]:
    return [
        TargetInput("Nữ cán bộ quản lý", "women_managers_share", 40),
        TargetInput("Học sinh được truyền thông", "pupils_reached", 500),
        TargetInput("Hoạt động tổ chức", "activities_held", 4),
        TargetInput("Giáo viên được tập huấn", "staff_trained", 30),
        TargetInput("Phụ huynh tham gia", "custom", 100),
        TargetInput("Tất cả hoạt động", "activities_held", 2),
    ]


def _activity(db, me, at, held_on, kind, audience, female, male) -> Activity:
    made = Activity(
        unit=at,
        held_on=held_on,
        kind=kind,
        audience=audience,
        title=f"{kind} {audience}",
        participants_female=female,
        participants_male=male,
    )
    db.add(made)
    record(db, me, "activity.create", made, unit=at)
    return made


def _link(db, me, activity, target) -> None:
    link = ActivityTarget(activity_id=activity.id, target_id=target.id)
    db.add(link)
    record(db, me, "activity.update", activity, unit=activity.unit, covers=(link,))


def _results_world(db, world):
    sch_a, me = unit(db, world, "SCH-A"), user(db, world, "focal_a")
    annual = next(p for p in periods_of(2020) if p.kind == "annual")  # 2019-11-01..2020-10-31
    made = plans.save_plan(db, me, sch_a, 2020, TEXT, _targets(), 0)
    stats = UnitStatistics(
        unit=sch_a,
        period_key=annual.key,
        figures=json.dumps({"managers_female": 3, "managers_male": 7, "reached_female": 40}),
    )
    db.add(stats)
    record(db, None, "statistics.save", stats, unit=sch_a)
    linked = _activity(db, me, sch_a, date(2020, 3, 1), "communication", "pupils", 20, 25)
    _activity(db, me, sch_a, date(2020, 4, 1), "training", "teachers", 10, 5)
    _activity(db, me, sch_a, date(2020, 5, 1), "training", "staff", 2, 1)
    _activity(db, me, sch_a, date(2020, 5, 2), "training", "pupils", 50, 50)
    _activity(db, me, sch_a, date(2019, 10, 31), "training", "teachers", 99, 99)  # before
    _activity(db, me, unit(db, world, "SCH-B"), date(2020, 5, 1), "training", "staff", 7, 7)
    db.flush()
    _link(db, me, linked, made.targets[2])
    db.commit()
    return sch_a, annual, made


def test_target_results_from_statistics_and_activities(db, world):
    sch_a, annual, made = _results_world(db, world)
    got = plans.target_results(db, sch_a, annual, {str(made.targets[4].id): 80})
    assert [(r["title"], r["target"], r["result"]) for r in got] == [
        ("Nữ cán bộ quản lý", 40, 30),  # 3 / (3 + 7)
        ("Học sinh được truyền thông", 500, 40),  # the statistics' reached pupils (40 + 0)
        ("Hoạt động tổ chức", 4, 1),  # the one activity linked to it
        ("Giáo viên được tập huấn", 30, 18),  # trainings of teachers and staff: 15 + 3
        ("Phụ huynh tham gia", 100, 80),  # by hand
        ("Tất cả hoạt động", 2, 4),  # none linked: the unit's four activities of the period
    ]
    assert got[0]["id"] == made.targets[0].id and got[0]["measure"] == "women_managers_share"
    # Without statistics, pupils reached are the participants of activities for pupils.
    six = next(p for p in periods_of(2020) if p.kind == "six_month")  # 2019-11-01..2020-04-30
    got = plans.target_results(db, sch_a, six, {})
    assert [r["result"] for r in got] == [None, 45, 1, 15, None, 2]


def test_the_report_shows_the_plan_and_the_targets(db, world):
    sch_a, annual, made = _results_world(db, world)
    draft = WorkReportDraft(
        unit=sch_a,
        period_key=annual.key,
        target_results=json.dumps({str(made.targets[4].id): 75}),
    )
    db.add(draft)
    record(db, None, "work.save", draft, unit=sch_a)
    db.commit()
    report = WorkReport("SCH-A", "Trường A", "", "school", annual.key, *_dates(annual))
    plans.fill(db, sch_a, annual, report)
    assert report.plan == {"year": 2020, "text": TEXT, "approved": False, "approved_on": None}
    assert [r["result"] for r in report.targets] == [30, 40, 1, 18, 75, 4]
    other = WorkReport("SCH-B", "Trường B", "", "school", annual.key, *_dates(annual))
    plans.fill(db, unit(db, world, "SCH-B"), annual, other)
    assert other.plan is None and other.targets == []


def _dates(period) -> tuple:
    return period.date_from, period.date_to, period.due_on


# --- the head role through the four-eyes approval ---------------------------------------------


def test_the_head_role_is_granted_through_a_second_approval(app, db, world):
    subject = make_user(db, keyring(), "hieutruong.a", unit(db, world, "SCH-A"))
    db.commit()
    admin = Visitor(app, db, world["admin_d1"], lang="en")
    r = admin.post(
        f"/admin/users/{subject.id}/grants",
        {"role": "head", "unit_code": "SCH-A", "reason": "Hiệu trưởng mới"},
    )
    assert r.status_code == 302
    db.expire_all()
    held = select(Grant.role).where(Grant.user_id == subject.id, Grant.revoked_at.is_(None))
    assert list(db.scalars(held)) == []  # nothing until a second person approves
    asked = db.scalar(select(ApprovalRequest).where(ApprovalRequest.subject_user_id == subject.id))
    assert asked is not None and asked.status == "pending"
    assert not approvals.may_decide(db, user(db, world, "admin_d1"), asked)
    approver = user(db, world, "admin_p")
    assert approvals.may_decide(db, approver, asked)
    approvals.approve(db, approver, asked, "", asked.version)
    db.commit()
    assert list(db.scalars(held)) == ["head"]
    # The new head approves the school's plan.
    focal = Visitor(app, db, world["focal_a"], lang="en")
    assert focal.post("/equality/plan", plan_form()).status_code == 302
    head = Visitor(app, db, subject, lang="en")
    r = head.post(
        "/equality/plan/approve",
        {"unit": "SCH-A", "year": str(_year()), "version": str(_plan(db).version)},
    )
    assert r.status_code == 302 and _plan(db).status == "approved"
