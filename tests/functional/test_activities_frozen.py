"""Activities of a period whose report the unit submitted are frozen with the snapshot: not
changed, added or given materials any more, and an office's list of the period's activities
reads a submitted school's activities from its snapshot.

SCH-A submits six_month:2020 (01/11/2019-30/04/2020); annual:2020 (01/11/2019-31/10/2020)
stays open, so an activity of June 2020 is still editable."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, insert, select, update

from caseapp.errors import Conflict
from caseapp.models import Activity, AuditEvent
from caseapp.models.equality import ActivityMaterial
from caseapp.services.equality.activities import period_activities
from caseapp.services.reports import activities, activity_materials
from caseapp.services.reports import periods as reports
from caseapp.services.reports.activities import ActivityInput
from tests.factories import Visitor, complete_work_report
from tests.functional.report_support import unit, user

ACT = {
    "unit_code": "SCH-A",
    "held_on": "2020-03-10",
    "kind": "communication",
    "audience": "pupils",
    "title": "Tuyên truyền",
    "participants_female": "1",
    "participants_male": "1",
    "participants_other": "0",
    "campaign_key": "",
    "results": "",
    "version": "0",
}
FROZEN = "for the period holding 10/03/2020 was submitted: its activities can no longer change"


def _submit(app, db, world, focal: Visitor) -> None:
    with app.test_request_context():
        complete_work_report(
            db, world["focal_a"], unit(db, world, "SCH-A"), reports.period_by_key("six_month:2020")
        )
    db.commit()
    done = focal.submit(
        "/equality/submit", {"unit": "SCH-A", "period": "six_month:2020", "confirm": "y"}
    )
    assert done.status_code == 302, done.text
    db.expire_all()


def _activity(db, title: str = "Tuyên truyền") -> Activity:
    db.expire_all()
    return db.scalar(select(Activity).where(Activity.title == title))


def _state(db) -> tuple:
    db.expire_all()
    return (
        [
            (a.id, a.title, a.held_on, a.participants_female, a.version)
            for a in db.scalars(select(Activity).order_by(Activity.id))
        ],
        [
            (m.id, m.title)
            for m in db.scalars(select(ActivityMaterial).order_by(ActivityMaterial.id))
        ],
        db.scalar(select(func.count()).select_from(AuditEvent)),
    )


@pytest.fixture()
def focal(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en")


@pytest.fixture()
def submitted(app, db, world, focal) -> Activity:
    """SCH-A's activity of 10/03/2020 with one material, then its six-month report submitted."""
    assert focal.post("/reports/activities/new", ACT).status_code == 302
    made = _activity(db)
    activity_materials.add_material(db, user(db, world, "focal_a"), made, "Tờ rơi")
    db.commit()
    _submit(app, db, world, focal)
    return _activity(db)


def test_activities_of_a_submitted_period_are_frozen(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    assert focal.post("/reports/activities/new", ACT).status_code == 302
    with app.test_request_context():
        complete_work_report(
            db, world["focal_a"], unit(db, world, "SCH-A"), reports.period_by_key("six_month:2020")
        )
    db.commit()
    focal.submit("/equality/submit", {"unit": "SCH-A", "period": "six_month:2020", "confirm": "y"})
    db.expire_all()
    made = db.scalar(select(Activity).where(Activity.title == "Tuyên truyền"))
    r = focal.post(
        f"/reports/activities/{made.id}",
        {**ACT, "participants_female": "9000", "version": str(made.version)},
    )
    assert r.status_code in (400, 409)
    assert focal.post("/reports/activities/new", {**ACT, "title": "Sau khi nộp"}).status_code in (
        400,
        409,
    )


def test_a_change_or_an_addition_is_refused_with_a_clear_message(db, world, focal, submitted):
    before = _state(db)
    r = focal.post(
        f"/reports/activities/{submitted.id}",
        {**ACT, "participants_female": "9000", "version": str(submitted.version)},
    )
    assert r.status_code == 409 and FROZEN in r.get_data(as_text=True)
    r = focal.post("/reports/activities/new", {**ACT, "title": "Sau khi nộp"})
    assert r.status_code == 409 and FROZEN in r.get_data(as_text=True)
    # Moving it out of the submitted period does not free it either.
    r = focal.post(
        f"/reports/activities/{submitted.id}",
        {**ACT, "held_on": "2020-06-10", "version": str(submitted.version)},
    )
    assert r.status_code == 409
    assert _state(db) == before


def test_the_edit_page_says_it_is_frozen(db, focal, submitted):
    page = focal.get(f"/reports/activities/{submitted.id}").get_data(as_text=True)
    assert FROZEN in page
    assert ">Save</button>" not in page and "Add the material" not in page


def test_a_material_cannot_be_added_or_removed_after_submission(db, world, focal, submitted):
    before = _state(db)
    r = focal.post(
        f"/reports/activities/{submitted.id}/materials",
        {"material-title": "Slide mới"},
        multipart=True,
    )
    assert r.status_code == 302
    with pytest.raises(Conflict):
        activity_materials.add_material(db, user(db, world, "focal_a"), submitted, "Slide mới")
    db.rollback()
    material = db.scalar(select(ActivityMaterial).where(ActivityMaterial.title == "Tờ rơi"))
    assert focal.post(f"/reports/materials/{material.id}/remove").status_code == 409
    assert _state(db) == before


def test_an_activity_of_another_period_stays_editable(db, world, focal, submitted):
    june = {**ACT, "held_on": "2020-06-10", "title": "Tháng 6"}
    assert focal.post("/reports/activities/new", june).status_code == 302
    made = _activity(db, "Tháng 6")
    r = focal.post(
        f"/reports/activities/{made.id}",
        {**june, "participants_female": "7", "version": str(made.version)},
    )
    assert r.status_code == 302
    assert _activity(db, "Tháng 6").participants_female == 7
    # ...but it cannot be moved into the submitted period.
    made = _activity(db, "Tháng 6")
    before = _state(db)
    r = focal.post(
        f"/reports/activities/{made.id}",
        {**june, "held_on": "2020-03-10", "version": str(made.version)},
    )
    assert r.status_code == 409 and FROZEN in r.get_data(as_text=True)
    assert _state(db) == before
    # Another school of the same commune did not submit: its activities stay open.
    other = activities.create(
        db,
        user(db, world, "focal_b"),
        unit(db, world, "SCH-B"),
        ActivityInput(
            held_on=date(2020, 3, 10), kind="communication", audience="pupils", title="Trường B"
        ),
    )
    db.commit()
    assert other.id is not None


def test_the_commune_keeps_the_submitted_schools_frozen_numbers(db, world, focal, submitted):
    period = reports.period_by_key("six_month:2020")

    def commune() -> list[tuple]:
        db.expire_all()
        return [
            (a["unit"], a["title"], a["female"], a["materials"])
            for a in period_activities(db, unit(db, world, "D1"), period)
        ]

    frozen = [("SCH-A", "Tuyên truyền", 1, ["Tờ rơi"])]
    assert commune() == frozen
    focal.post(
        f"/reports/activities/{submitted.id}",
        {**ACT, "participants_female": "9000", "version": str(submitted.version)},
    )
    assert commune() == frozen
    # Changed behind the application's back: the snapshot's numbers still count.
    row = _activity(db)
    db.execute(update(Activity).where(Activity.id == row.id).values(participants_female=9000))
    db.execute(
        insert(Activity).values(
            unit_id=row.unit_id,
            created_by_id=row.created_by_id,
            held_on=date(2020, 4, 1),
            kind="communication",
            audience="pupils",
            title="Thêm trực tiếp",
        )
    )
    db.commit()
    assert commune() == frozen
    # A school that did not submit counts live, beside the frozen one.
    activities.create(
        db,
        user(db, world, "focal_b"),
        unit(db, world, "SCH-B"),
        ActivityInput(
            held_on=date(2020, 3, 1),
            kind="training",
            audience="pupils",
            title="Trường B",
            participants_female=4,
        ),
    )
    db.commit()
    assert commune() == [("SCH-B", "Trường B", 4, []), *frozen]
    # The school's own live list reads its rows as they are.
    own = period_activities(db, unit(db, world, "SCH-A"), period)
    assert sorted((a["title"], a["female"]) for a in own) == [
        ("Thêm trực tiếp", 0),
        ("Tuyên truyền", 9000),
    ]
