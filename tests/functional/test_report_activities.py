"""The activity screens: record and edit training and communication activities (audited),
refuse bad input with a message and no change, and refuse a stale edit."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.models import Activity, AuditEvent
from caseapp.services.reports import activities
from caseapp.services.reports.activities import ActivityInput
from tests.factories import Visitor
from tests.functional.report_support import unit, user
from tests.functional.workflow_support import text_of

TITLE = "Tập huấn phòng chống bạo lực học đường"


def form(**overrides) -> dict:
    data = {
        "unit_code": "SCH-A",
        "held_on": "2020-03-10",
        "kind": "training",
        "audience": "pupils",
        "title": TITLE,
        "participants_female": "10",
        "participants_male": "12",
        "participants_other": "0",
        "version": "0",
    }
    data.update(overrides)
    return data


def _state(db) -> tuple:
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Activity)),
        db.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("activity.%"))
        ),
        [
            (a.title, a.held_on, a.participants_female, a.version)
            for a in db.scalars(select(Activity).order_by(Activity.id))
        ],
    )


def _existing(db, world, who="focal_a", code="SCH-A") -> Activity:
    found = activities.create(
        db,
        user(db, world, who),
        unit(db, world, code),
        ActivityInput(
            held_on=date(2020, 3, 10),
            kind="training",
            audience="pupils",
            title=TITLE,
            participants_female=10,
            participants_male=12,
        ),
    )
    db.commit()
    return found


@pytest.fixture()
def focal(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en")


def test_record_an_activity(db, world, focal):
    assert focal.get("/reports/activities/new").status_code == 200
    r = focal.post("/reports/activities/new", form(unit_code="sch-a"))
    assert r.status_code == 302 and r.headers["Location"].endswith("/reports/activities")
    db.expire_all()
    [activity] = db.scalars(select(Activity))
    assert (activity.unit.code, activity.held_on, activity.title) == (
        "SCH-A",
        date(2020, 3, 10),
        TITLE,
    )
    assert (
        activity.participants_female,
        activity.participants_male,
        activity.participants_other,
        activity.participants,
    ) == (10, 12, 0, 22)
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "activity.create"))
    assert event.actor_name == "focal.a" and event.object_id == str(activity.id)
    page = text_of(focal.get("/reports/activities"))
    assert TITLE in page and "1 activities." in page


def test_an_officer_records_one_for_the_district_office(app, db, world):
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    r = officer.post(
        "/reports/activities/new", form(unit_code="D1", kind="communication", audience="parents")
    )
    assert r.status_code == 302
    db.expire_all()
    assert [a.unit.code for a in db.scalars(select(Activity))] == ["D1"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("participants_female", "-1", "Enter a number between 0 and 100000."),
        ("participants_other", "100001", "Enter a number between 0 and 100000."),
        ("participants_male", "", "Enter a number (0 if none)."),
        ("held_on", "tomorrow", "An activity cannot be recorded before it is held."),
        ("unit_code", "ZZZ", "No unit with the code ZZZ within your units."),
        ("unit_code", "SCH-B", "No unit with the code SCH-B within your units."),
        ("unit_code", "D1", "No unit with the code D1 within your units."),
        ("title", "x" * 201, "At most 200 characters."),
        ("title", "  ", "Enter a title."),
        ("kind", "party", "Not a valid choice"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_no_change(db, focal, field, value, message):
    if value == "tomorrow":  # read when the test runs: a run may pass midnight in Vietnam
        value = (local_today() + timedelta(days=1)).isoformat()
    before = _state(db)
    r = focal.post("/reports/activities/new", form(**{field: value}))
    assert r.status_code == 400
    assert message in text_of(r)
    assert _state(db) == before


def test_edit_an_activity(db, world, focal):
    activity = _existing(db, world)
    page = focal.get(f"/reports/activities/{activity.id}")
    assert page.status_code == 200 and TITLE in text_of(page)
    r = focal.post(
        f"/reports/activities/{activity.id}",
        form(participants_female="11", title="Tập huấn (sửa)", version=str(activity.version)),
    )
    assert r.status_code == 302
    db.expire_all()
    assert (activity.participants_female, activity.title, activity.version) == (
        11,
        "Tập huấn (sửa)",
        2,
    )
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "activity.update"))
    changes = json.loads(event.changes)
    assert changes["participants_female"] == [10, 11]
    assert changes["title"] == [TITLE, "Tập huấn (sửa)"]


@pytest.mark.parametrize(
    ("field", "value", "message", "status"),
    [
        ("participants_male", "-5", "Enter a number between 0 and 100000.", 400),
        (
            "held_on",
            (local_today() + timedelta(days=3)).isoformat(),
            "An activity cannot be recorded before it is held.",
            400,
        ),
        ("title", "y" * 201, "At most 200 characters.", 400),
        ("version", "0", "This activity was changed by someone else.", 409),
    ],
)
def test_a_bad_or_stale_edit_changes_nothing(db, world, focal, field, value, message, status):
    activity = _existing(db, world)
    before = _state(db)
    data = form(version=str(activity.version), participants_female="99")
    r = focal.post(f"/reports/activities/{activity.id}", {**data, field: value})
    assert r.status_code == status
    assert message in text_of(r)
    assert _state(db) == before


def test_a_stale_version_after_another_edit_gets_409(app, db, world, focal):
    activity = _existing(db, world)
    old = str(activity.version)
    other = Visitor(
        app, db, world["officer_d1"], lang="en"
    )  # an officer of the district may edit it too
    assert (
        other.post(
            f"/reports/activities/{activity.id}", form(version=old, participants_other="3")
        ).status_code
        == 302
    )
    before = _state(db)
    r = focal.post(f"/reports/activities/{activity.id}", form(version=old))
    assert r.status_code == 409
    assert _state(db) == before


@pytest.mark.parametrize("who", ["focal_b", "focal_c", "officer_d2"])
def test_others_cannot_open_a_schools_activity(app, db, world, who):
    activity = _existing(db, world)
    stranger = Visitor(app, db, world[who], lang="en")
    assert stranger.get(f"/reports/activities/{activity.id}").status_code == 404
    before = _state(db)
    r = stranger.post(f"/reports/activities/{activity.id}", form(version="1"))
    assert r.status_code == 404
    assert _state(db) == before
    assert TITLE not in text_of(stranger.get("/reports/activities"))


@pytest.mark.parametrize("who", ["auditor_p", "admin_p"])
def test_roles_without_reports_cannot_use_the_activity_screens(app, db, world, who):
    person = Visitor(app, db, world[who], lang="en")
    for url in ("/reports/activities", "/reports/activities/new"):
        assert person.get(url).status_code == 403
