"""Activities with their action month (campaign), the targets of their unit's plan, results
and materials; the action months in figures; the period's activities of a work report.

Dates are in 2025: june:2025 is 01/06-30/06/2025, gender:2025 is 15/11-15/12/2025; an activity
of June 2025 belongs to the plan of 2025 (annual period 01/11/2024-31/10/2025), one of
20/11/2025 to the plan of 2026."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from caseapp.models import Activity, AuditEvent
from caseapp.models.equality import (
    MATERIAL_BYTES_MAX,
    MATERIALS_MAX,
    ActivityMaterial,
    ActivityTarget,
    GenderPlan,
    PlanTarget,
)
from caseapp.services.audit.trail import record
from caseapp.services.equality.activities import period_activities
from caseapp.services.equality.plans import plan_year
from caseapp.services.reports import activities, activity_materials
from caseapp.services.reports.activities import ActivityInput
from caseapp.services.reports.periods import periods_of
from tests.factories import Visitor
from tests.functional.report_support import unit, user
from tests.functional.workflow_support import text_of

PDF = b"%PDF-1.4\n%leaflet\n1 0 obj<<>>endobj\n"
HTML = b"<!doctype html><html><script>alert(1)</script></html>"


def form(**overrides) -> dict:
    data = {
        "unit_code": "SCH-A",
        "held_on": "2025-06-10",
        "kind": "communication",
        "audience": "pupils",
        "title": "Truyền thông phòng chống bạo lực gia đình",
        "participants_female": "10",
        "participants_male": "12",
        "participants_other": "1",
        "campaign_key": "",
        "results": "",
        "version": "0",
    }
    data.update(overrides)
    return data


def _plan(db, world, code: str, year: int, titles: list[str]) -> list[int]:
    """A plan of the unit for the year with its targets (as h1's screen would save it)."""
    plan = GenderPlan(unit_id=world.units[code], year=year, text="Kế hoạch", status="approved")
    plan.targets = [
        PlanTarget(ordinal=i, title=title, measure="custom", target_value=10)
        for i, title in enumerate(titles, 1)
    ]
    db.add(plan)
    record(db, None, "plan.update", plan, covers=tuple(plan.targets))
    db.commit()
    return [t.id for t in plan.targets]


def _made(db, world, code="SCH-A", who="focal_a", **values) -> Activity:
    data = {
        "held_on": date(2025, 6, 10),
        "kind": "communication",
        "audience": "pupils",
        "title": "Hoạt động",
        **values,
    }
    made = activities.create(db, user(db, world, who), unit(db, world, code), ActivityInput(**data))
    db.commit()
    return made


def _state(db) -> tuple:
    db.expire_all()
    return (
        [
            (a.id, a.title, a.campaign_key, a.results, a.version)
            for a in db.scalars(select(Activity).order_by(Activity.id))
        ],
        sorted((t.activity_id, t.target_id) for t in db.scalars(select(ActivityTarget))),
        [(m.id, m.title, m.filename) for m in db.scalars(select(ActivityMaterial))],
        db.scalar(select(func.count()).select_from(AuditEvent)),
    )


def _changes(db, action: str) -> dict:
    db.expire_all()
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq.desc())
    ).first()
    return json.loads(event.changes)


@pytest.fixture()
def focal(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en")


# --- action months ------------------------------------------------------------------------


def test_a_campaign_must_hold_the_activity_date(db, focal):
    before = _state(db)
    r = focal.post("/reports/activities/new", form(held_on="2025-07-03", campaign_key="june:2025"))
    assert r.status_code == 400
    assert (
        "The activity was held on 03/07/2025, outside the June action month "
        "(01/06 - 30/06/2025)." in text_of(r)
    )
    assert 'value="2025-07-03"' in text_of(r)  # what was typed is kept
    assert _state(db) == before


@pytest.mark.parametrize("key", ["june:1999", "june", "party:2025", "gender:2025x"])
def test_an_unknown_campaign_is_refused(db, focal, key):
    before = _state(db)
    r = focal.post("/reports/activities/new", form(campaign_key=key))
    assert r.status_code == 400
    assert "Choose an action month from the list." in text_of(r) or "outside" in text_of(r)
    assert _state(db) == before


def test_a_chosen_campaign_is_kept_and_audited(db, focal):
    r = focal.post("/reports/activities/new", form(campaign_key="june:2025", results="Tốt"))
    assert r.status_code == 302
    db.expire_all()
    [made] = db.scalars(select(Activity))
    assert (made.campaign_key, made.results) == ("june:2025", "Tốt")
    changes = _changes(db, "activity.create")
    assert changes["campaign_key"] == [None, "june:2025"]
    assert changes["results"] == "changed"  # never the text itself
    assert "Tốt" not in json.dumps(changes, ensure_ascii=False)


@pytest.mark.parametrize(
    ("kind", "held_on", "expected"),
    [
        ("action_month_june", "2025-06-10", "june:2025"),
        ("action_month_gender", "2025-11-20", "gender:2025"),
        ("action_month_gender", "2025-12-15", "gender:2025"),
        ("action_month_june", "2025-07-01", None),  # outside its month: left without one
        ("training", "2025-06-10", None),
    ],
)
def test_an_action_month_activity_gets_its_campaign(db, focal, kind, held_on, expected):
    r = focal.post("/reports/activities/new", form(kind=kind, held_on=held_on))
    assert r.status_code == 302
    db.expire_all()
    [made] = db.scalars(select(Activity))
    assert made.campaign_key == expected


def test_an_action_month_activity_cannot_join_the_other_month(db, focal):
    before = _state(db)
    r = focal.post(
        "/reports/activities/new",
        form(kind="action_month_june", held_on="2025-11-20", campaign_key="gender:2025"),
    )
    assert r.status_code == 400
    assert "An activity of this kind belongs to the June action month" in text_of(r)
    assert _state(db) == before


def test_an_edit_outside_the_campaign_changes_nothing(db, world, focal):
    made = _made(db, world, campaign_key="june:2025")
    before = _state(db)
    r = focal.post(
        f"/reports/activities/{made.id}",
        form(held_on="2025-07-03", campaign_key="june:2025", version=str(made.version)),
    )
    assert r.status_code == 400
    assert "outside the June action month" in text_of(r)
    assert _state(db) == before


def test_results_too_long_or_with_control_characters_are_refused(db, focal):
    before = _state(db)
    r = focal.post("/reports/activities/new", form(results="x" * 5001))
    assert r.status_code == 400 and "At most 5000 characters." in text_of(r)
    r = focal.post("/reports/activities/new", form(results="a\x07b"))
    assert r.status_code == 400 and "characters that are not allowed" in text_of(r)
    assert _state(db) == before


# --- targets of the plan ------------------------------------------------------------------


def test_plan_year_of_a_day(db):
    assert plan_year(date(2025, 6, 10)) == 2025
    assert plan_year(date(2025, 10, 31)) == 2025
    assert plan_year(date(2025, 11, 1)) == 2026
    assert plan_year(date(2025, 12, 31)) == 2026


def test_the_form_lists_the_plan_targets_and_links_them(db, world, focal):
    own = _plan(db, world, "SCH-A", 2025, ["50 % học sinh được truyền thông", "Tập huấn GV"])
    r = focal.post("/reports/activities/new", form(target_ids=[str(own[1]), str(own[0])]))
    assert r.status_code == 302
    db.expire_all()
    [made] = db.scalars(select(Activity))
    assert sorted(t.target_id for t in made.targets) == sorted(own)
    assert _changes(db, "activity.create")["targets"] == [[], sorted(own)]
    page = text_of(focal.get(f"/reports/activities/{made.id}"))
    assert "Tập huấn GV" in page and "checked" in page


def test_a_target_of_another_schools_plan_is_refused(db, world, focal):
    own = _plan(db, world, "SCH-A", 2025, ["Mục tiêu A"])
    other = _plan(db, world, "SCH-B", 2025, ["Mục tiêu B"])
    before = _state(db)
    r = focal.post("/reports/activities/new", form(target_ids=[str(own[0]), str(other[0])]))
    assert r.status_code == 400
    assert "A chosen target is not a target of the plan of Trường A for 2025." in text_of(r)
    assert _state(db) == before
    # and on an edit: the activity keeps its targets
    made = _made(db, world, target_ids=own)
    before = _state(db)
    r = focal.post(
        f"/reports/activities/{made.id}",
        form(target_ids=[str(other[0])], version=str(made.version)),
    )
    assert r.status_code == 400
    assert _state(db) == before


def test_a_target_of_another_year_is_refused(db, world, focal):
    next_year = _plan(db, world, "SCH-A", 2026, ["Mục tiêu 2026"])
    before = _state(db)
    r = focal.post("/reports/activities/new", form(target_ids=[str(next_year[0])]))
    assert r.status_code == 400 and "for 2025" in text_of(r)
    assert _state(db) == before
    r = focal.post(
        "/reports/activities/new",
        form(held_on="2025-11-20", target_ids=[str(next_year[0])]),
    )
    assert r.status_code == 302


def test_changing_only_the_targets_is_audited_and_moves_the_version(db, world, focal):
    own = _plan(db, world, "SCH-A", 2025, ["Một", "Hai"])
    made = _made(db, world, target_ids=[own[0]], results="Kết quả")
    old = made.version
    r = focal.post(
        f"/reports/activities/{made.id}",
        form(
            title="Hoạt động",
            participants_female="0",
            participants_male="0",
            participants_other="0",
            results="Kết quả",
            target_ids=[str(own[1])],
            version=str(old),
        ),
    )
    assert r.status_code == 302
    changes = _changes(db, "activity.update")
    assert changes["targets"] == [[own[0]], [own[1]]]
    assert "results" not in changes
    db.expire_all()
    again = db.get(Activity, made.id)
    assert [t.target_id for t in again.targets] == [own[1]]
    assert again.version == old + 1
    # the old version is now stale
    before = _state(db)
    r = focal.post(
        f"/reports/activities/{made.id}", form(target_ids=[str(own[0])], version=str(old))
    )
    assert r.status_code == 409 and "Reload it and try again." in text_of(r)
    assert _state(db) == before


# --- materials ----------------------------------------------------------------------------


def _upload(visitor, activity_id: int, content: bytes | None, name="to-roi.pdf", title="Tờ rơi"):
    data = {"material-title": title}
    if content is not None:
        data["material-file"] = (io.BytesIO(content), name, "application/pdf")
    return visitor.post(f"/reports/activities/{activity_id}/materials", data, follow_redirects=True)


def test_a_pdf_material_is_added_and_downloaded_by_a_reader_above(app, db, world, focal):
    made = _made(db, world)
    r = _upload(focal, made.id, PDF, name="../../tờ rơi.pdf")
    assert r.status_code == 200 and "Material added." in text_of(r)
    db.expire_all()
    [material] = db.scalars(select(ActivityMaterial))
    assert (material.title, material.filename, material.content_type, material.size) == (
        "Tờ rơi",
        "tờ rơi.pdf",
        "application/pdf",
        len(PDF),
    )
    changes = _changes(db, "activity.material_add")
    assert changes["filename"] == [None, "tờ rơi.pdf"] and changes["size"] == len(PDF)
    assert "tờ rơi.pdf" in text_of(r)  # listed on the activity's page

    events = db.scalar(select(func.count()).select_from(AuditEvent))
    reader = Visitor(app, db, world["officer_p"], lang="en")
    got = reader.get(f"/reports/materials/{material.id}")
    assert got.status_code == 200 and got.data == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    disposition = got.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="t_ r_i.pdf"')
    assert "filename*=UTF-8''t%E1%BB%9D%20r%C6%A1i.pdf" in disposition
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == events  # not audited

    for who in ("focal_b", "officer_d2", "auditor_p"):
        stranger = Visitor(app, db, world[who], lang="en")
        assert stranger.get(f"/reports/materials/{material.id}").status_code in (403, 404)
    assert (
        Visitor(app, db, world["focal_b"]).get(f"/reports/materials/{material.id}").status_code
        == 404
    )


def test_a_title_only_material(db, world, focal):
    made = _made(db, world)
    r = _upload(focal, made.id, None, title="Áp phích tại cổng trường")
    assert "Material added." in text_of(r)
    db.expire_all()
    [material] = db.scalars(select(ActivityMaterial))
    assert (material.filename, material.content_type, material.size) == (None, None, 0)
    assert focal.get(f"/reports/materials/{material.id}").status_code == 404  # no file


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (HTML, "to-roi.pdf", "The file's content does not match its type."),
        (b"PK\x03\x04not really a zip", "slides.pptx", "The file's content does not match"),
        (PDF, "to-roi.html", "This kind of file is not accepted."),
        (PDF, "to-roi.exe", "This kind of file is not accepted."),
        (b"%PDF-" + b"0" * MATERIAL_BYTES_MAX, "lon.pdf", "The file is larger than 5 MB."),
    ],
)
def test_a_bad_file_is_refused(db, world, focal, content, name, message):
    made = _made(db, world)
    before = _state(db)
    r = _upload(focal, made.id, content, name=name)
    assert message in text_of(r)
    assert _state(db) == before


def test_office_files_are_recognised_by_their_content(db, world):
    import zipfile

    made = _made(db, world)
    for name, part in (("a.docx", "word/document.xml"), ("b.xlsx", "xl/workbook.xml")):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(part, "<x/>")
        activity_materials.add_material(
            db, user(db, world, "focal_a"), made, name, name, io.BytesIO(buffer.getvalue())
        )
    db.commit()
    types = [m.content_type for m in db.scalars(select(ActivityMaterial))]
    assert types == [
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ]


def test_the_eleventh_material_is_refused(db, world, focal):
    made = _made(db, world)
    me = user(db, world, "focal_a")
    for n in range(MATERIALS_MAX):
        activity_materials.add_material(db, me, made, f"Tài liệu {n}")
    db.commit()
    before = _state(db)
    r = _upload(focal, made.id, PDF)
    assert "An activity has at most 10 materials." in text_of(r)
    assert _state(db) == before


def test_another_school_cannot_add_or_remove_a_material(app, db, world):
    made = _made(db, world)
    material = activity_materials.add_material(db, user(db, world, "focal_a"), made, "Tờ rơi")
    db.commit()
    stranger = Visitor(app, db, world["focal_b"], lang="en")
    before = _state(db)
    assert _upload(stranger, made.id, PDF).status_code == 404
    r = stranger.post(f"/reports/materials/{material.id}/remove")
    assert r.status_code == 404
    assert _state(db) == before


def test_removing_a_material_is_audited(db, world, focal):
    made = _made(db, world)
    material_id = activity_materials.add_material(
        db, user(db, world, "focal_a"), made, "Tờ rơi", "a.pdf", io.BytesIO(PDF)
    ).id
    db.commit()
    before = _state(db)
    r = focal.post(f"/reports/materials/{material_id}/remove", csrf=False)
    assert r.status_code == 400
    assert _state(db) == before  # no CSRF token: nothing removed
    r = focal.post(f"/reports/materials/{material_id}/remove")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/reports/activities/{made.id}")
    db.expire_all()
    assert db.scalars(select(ActivityMaterial)).all() == []
    assert _changes(db, "activity.material_remove") == {
        "title": ["Tờ rơi", None],
        "filename": ["a.pdf", None],
    }


def test_a_stored_type_outside_the_list_is_served_as_octet_stream(app, db, world):
    made = _made(db, world)
    odd = ActivityMaterial(
        activity_id=made.id,
        title="Cũ",
        filename="x.html",
        content_type="text/html",
        content=HTML,
        size=len(HTML),
    )
    db.add(odd)
    record(db, None, "activity.material_add", odd)
    db.commit()
    got = Visitor(app, db, world["officer_d1"]).get(f"/reports/materials/{odd.id}")
    assert got.status_code == 200
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Disposition"].startswith("attachment;")


# --- lists and figures --------------------------------------------------------------------


def _campaign_world(db, world) -> None:
    """By hand: june:2025 has SCH-A (10/12/1), SCH-B (5/3/0) under D1 and SCH-C (100/0/0)
    under D2; gender:2025 has SCH-A (7/8/0); one training outside any month in SCH-A."""
    _made(
        db,
        world,
        "SCH-A",
        kind="action_month_june",
        participants_female=10,
        participants_male=12,
        participants_other=1,
        title="Tháng 6 A",
    )
    _made(
        db,
        world,
        "SCH-B",
        "focal_b",
        campaign_key="june:2025",
        participants_female=5,
        participants_male=3,
        title="Tháng 6 B",
    )
    _made(
        db,
        world,
        "SCH-C",
        "focal_c",
        campaign_key="june:2025",
        participants_female=100,
        title="Tháng 6 C",
    )
    _made(
        db,
        world,
        "SCH-A",
        held_on=date(2025, 11, 20),
        kind="action_month_gender",
        participants_female=7,
        participants_male=8,
        title="Tháng bình đẳng A",
        results="Nâng cao nhận thức",
    )
    _made(
        db,
        world,
        "SCH-A",
        kind="training",
        held_on=date(2025, 3, 1),
        participants_female=50,
        title="Tập huấn A",
    )


def _figures(page: str) -> list[str]:
    import re

    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", page, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]


def test_the_campaign_summary_by_hand(app, db, world):
    _campaign_world(db, world)
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    r = officer.get("/reports/campaigns?year=2025&unit=D1")
    assert r.status_code == 200
    june, gender = _figures(text_of(r))
    assert june.endswith("June 2025 2 15 15 1")
    assert gender.endswith("15/11 - 15/12/2025 1 7 8 0")
    province = Visitor(app, db, world["officer_p"], lang="en")
    june, _gender = _figures(text_of(province.get("/reports/campaigns?year=2025&unit=PRV")))
    assert june.endswith("June 2025 3 115 15 1")
    # a school sees its own only; another unit's code is not found
    focal_b = Visitor(app, db, world["focal_b"], lang="en")
    june, _gender = _figures(text_of(focal_b.get("/reports/campaigns?year=2025")))
    assert june.endswith("June 2025 1 5 3 0")
    assert focal_b.get("/reports/campaigns?year=2025&unit=SCH-A").status_code == 404
    assert officer.get("/reports/campaigns?year=1800").status_code == 400


def test_the_list_filters_by_campaign_and_shows_results(app, db, world):
    _campaign_world(db, world)
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    page = text_of(officer.get("/reports/activities?campaign=gender:2025"))
    assert "Tháng bình đẳng A" in page and "Nâng cao nhận thức" in page
    assert "Tháng 6 A" not in page and "1 activities." in page
    page = text_of(officer.get("/reports/activities?campaign=june:2025"))
    assert "Tháng 6 A" in page and "Tháng 6 B" in page and "Tháng 6 C" not in page
    assert officer.get("/reports/activities?campaign=party:x").status_code == 400


def test_period_activities_of_a_commune_hold_its_schools(db, world):
    own = _plan(db, world, "SCH-A", 2025, ["Mục tiêu A"])
    _campaign_world(db, world)
    first = _made(db, world, "SCH-A", held_on=date(2025, 6, 1), title="Có tài liệu", target_ids=own)
    activity_materials.add_material(db, user(db, world, "focal_a"), first, "Slide")
    _made(db, world, "D1", "officer_d1", title="Phòng tổ chức", held_on=date(2025, 4, 2))
    db.commit()
    annual = next(p for p in periods_of(2025) if p.kind == "annual")  # 01/11/2024-31/10/2025
    found = period_activities(db, unit(db, world, "D1"), annual)
    assert [(a["held_on"], a["unit"], a["title"]) for a in found] == [
        ("2025-03-01", "SCH-A", "Tập huấn A"),
        ("2025-04-02", "D1", "Phòng tổ chức"),
        ("2025-06-01", "SCH-A", "Có tài liệu"),
        ("2025-06-10", "SCH-A", "Tháng 6 A"),
        ("2025-06-10", "SCH-B", "Tháng 6 B"),
    ]  # not SCH-C (D2), not the gender month (next period)
    with_material = found[2]
    assert with_material["materials"] == ["Slide"] and with_material["target_ids"] == own
    assert with_material["campaign"] is None  # a communication activity: none chosen
    june = found[3]
    assert (june["campaign"], june["female"], june["male"], june["other"]) == (
        "june:2025",
        10,
        12,
        1,
    )
    assert june["campaign_name"] and june["unit_name"] == "Trường A"
    school = period_activities(db, unit(db, world, "SCH-B"), annual)
    assert [a["title"] for a in school] == ["Tháng 6 B"]


def test_period_activities_follow_a_school_that_moved(db, world):
    """SCH-B moves from D1 to D2 on 01/05/2025: its March activity counts under D1, its June
    activity under D2."""
    from caseapp.models import Unit
    from caseapp.services.org.units import move_unit

    _made(db, world, "SCH-B", "focal_b", held_on=date(2025, 3, 5), title="Trước khi chuyển")
    _made(db, world, "SCH-B", "focal_b", held_on=date(2025, 6, 5), title="Sau khi chuyển")
    school = db.get(Unit, world.units["SCH-B"])
    move_unit(db, None, school, db.get(Unit, world.units["D2"]), date(2025, 5, 1), school.version)
    db.commit()
    annual = next(p for p in periods_of(2025) if p.kind == "annual")
    d1 = [a["title"] for a in period_activities(db, unit(db, world, "D1"), annual)]
    d2 = [a["title"] for a in period_activities(db, unit(db, world, "D2"), annual)]
    assert d1 == ["Trước khi chuyển"] and d2 == ["Sau khi chuyển"]
