"""Submitting a period report freezes its text and its figures together in the unit's hashed
snapshot; an incomplete report is refused with what it lacks; an office submits the text it
compiled from its schools only once it edited it; the province reads the communes' texts;
reports of periods before the re-organisation roll up through the old offices."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from caseapp.errors import Forbidden
from caseapp.models import AuditEvent, ReportSnapshot, Unit, User
from caseapp.services.equality import compile as compiling
from caseapp.services.equality import narrative
from caseapp.services.equality.sections import SECTIONS
from caseapp.services.reports import periods as reports
from tests.factories import Visitor, complete_work_report
from tests.functional.report_support import unit, user
from tests.functional.workflow_support import text_of

PERIOD = "six_month:2020"


def period(key: str = PERIOD) -> reports.Period:
    return reports.period_by_key(key)


def _snapshots(db) -> list[ReportSnapshot]:
    db.expire_all()
    return list(db.scalars(select(ReportSnapshot).order_by(ReportSnapshot.id)))


def _events(db, action) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _post_submit(visitor, code, key=PERIOD):
    return visitor.submit("/equality/submit", {"unit": code, "period": key, "confirm": "y"})


def _complete(app, db, world, code, who, text="Đã làm."):
    with app.test_request_context():
        complete_work_report(db, world[who], unit(db, world, code), period(), text=text)
    db.commit()


def test_an_incomplete_report_is_refused_with_what_it_lacks(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    with app.test_request_context():
        narrative.save_draft(
            db,
            user(db, world, "focal_a"),
            unit(db, world, "SCH-A"),
            period(),
            narrative.DraftInput(sections={"general": "Chỉ một phần."}, signer_title=""),
            0,
        )
    db.commit()
    out = _post_submit(focal, "SCH-A")
    assert out.status_code == 302
    assert "not complete" in out.text
    assert "Sections not written" in out.text and "Proposals and recommendations" in out.text
    assert "General assessment;" not in out.text  # written: not listed
    assert "signing title is empty" in out.text
    assert "statistics by sex of the period are not entered" in out.text
    assert _snapshots(db) == [] and _events(db, "report.submit") == []
    page = text_of(focal.get(f"/equality/?unit=SCH-A&period={PERIOD}"))
    assert "Before it can be submitted" in page and "Sections written: 1 of 9" in page


def test_the_confirm_box_and_csrf_are_needed(app, db, world):
    _complete(app, db, world, "SCH-A", "focal_a")
    focal = Visitor(app, db, world["focal_a"], lang="en")
    out = focal.submit("/equality/submit", {"unit": "SCH-A", "period": PERIOD})
    assert "Tick the box" in out.text
    out = focal.client.post(
        "/equality/submit", data={"unit": "SCH-A", "period": PERIOD, "confirm": "y"}
    )
    assert out.status_code == 400
    assert _snapshots(db) == []


def test_a_school_submits_its_text_and_figures_together(app, db, world):
    _complete(app, db, world, "SCH-A", "focal_a", text="Trường A tuyên truyền.")
    focal = Visitor(app, db, world["focal_a"], lang="en")
    assert "Submit to the unit above" in text_of(
        focal.get(f"/equality/?unit=SCH-A&period={PERIOD}")
    )
    out = _post_submit(focal, "SCH-A")
    assert "fingerprint" in out.text
    [snap] = _snapshots(db)
    assert snap.sha256 == hashlib.sha256(snap.data.encode("utf-8")).hexdigest()
    data = json.loads(snap.data)
    assert {t["key"] for t in data["tables"]} and data["unit"]["code"] == "SCH-A"
    work = data["work"]
    assert work["unit_code"] == "SCH-A" and work["period_key"] == PERIOD
    assert work["sections"]["general"] == "Trường A tuyên truyền. (general)"
    assert set(work["sections"]) == set(SECTIONS)
    [event] = _events(db, "report.submit")
    assert json.loads(event.changes) == {"period": PERIOD, "sha256": snap.sha256}
    # The text can no longer change; the snapshot page shows it.
    out = focal.submit(
        f"/equality/narrative?unit=SCH-A&period={PERIOD}",
        {"version": "1", "section_general": "Sửa sau khi nộp."},
    )
    assert out.status_code == 409
    page = text_of(focal.get(f"/reports/snapshots/{snap.id}"))
    assert "Trường A tuyên truyền. (general)" in page and "Intact" in page
    assert "already submitted" in _post_submit(focal, "SCH-A").text
    assert len(_snapshots(db)) == 1


def test_an_old_snapshot_without_text_stays_readable(app, db, world):
    school = unit(db, world, "SCH-A")
    with app.test_request_context():
        data = reports.report_tables.build(db, school, period().date_from, period().date_to)
        text = json.dumps(data.as_dict(), sort_keys=True)
    snap = ReportSnapshot(
        unit_id=school.id,
        period_key=PERIOD,
        date_from=period().date_from,
        date_to=period().date_to,
        due_on=period().due_on,
        data=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        submitted_by_id=world["focal_a"].id,
    )
    db.add(snap)
    from caseapp.services.audit.trail import record

    record(db, None, "report.submit", snap, unit=school)
    db.commit()
    page = Visitor(app, db, world["focal_a"], lang="en").get(f"/reports/snapshots/{snap.id}")
    assert page.status_code == 200 and "Text of the report" not in text_of(page)


def test_the_commune_compiles_edits_and_submits_upward(app, db, world):
    _complete(app, db, world, "SCH-A", "focal_a", text="Trường A tuyên truyền.")
    focal = Visitor(app, db, world["focal_a"], lang="en")
    _post_submit(focal, "SCH-A")
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    overview = text_of(officer.get(f"/equality/?unit=D1&period={PERIOD}"))
    assert "1 of 2 submitted" in overview
    assert "late: not submitted" in overview  # Trường B, years after the due date
    assert (
        officer.submit("/equality/narrative/compile", {"unit": "D1", "period": PERIOD}).status_code
        == 302
    )
    out = _post_submit(officer, "D1")
    assert "still as compiled" in out.text and "General assessment" in out.text
    assert [s.unit_id for s in _snapshots(db)] == [world.units["SCH-A"]]
    # The officer edits every section but one: refused, naming that one.
    d1, me = unit(db, world, "D1"), user(db, world, "officer_d1")
    with app.test_request_context():
        draft = narrative.draft_of(db, d1, period())
        compiled = narrative.sections_of(draft)
        edited = {k: f"Phòng tổng hợp: {v}" for k, v in compiled.items() if k != "proposals"}
        narrative.save_draft(
            db,
            me,
            d1,
            period(),
            narrative.DraftInput(sections=edited, signer_title="TRƯỞNG PHÒNG"),
            draft.version,
        )
    db.commit()
    out = _post_submit(officer, "D1")
    assert "Proposals and recommendations" in out.text and "General assessment" not in out.text
    with app.test_request_context():
        draft = narrative.draft_of(db, d1, period())
        narrative.save_draft(
            db,
            me,
            d1,
            period(),
            narrative.DraftInput(
                sections={"proposals": "Đề nghị của phòng."}, signer_title="TRƯỞNG PHÒNG"
            ),
            draft.version,
        )
    db.commit()
    out = _post_submit(officer, "D1")
    assert "fingerprint" in out.text, out.text
    snap = next(s for s in _snapshots(db) if s.unit_id == d1.id)
    work = json.loads(snap.data)["work"]
    assert work["sections"]["proposals"] == "Đề nghị của phòng."
    assert work["sections"]["general"].startswith("Phòng tổng hợp: Trường A:")
    assert work["signer_title"] == "TRƯỞNG PHÒNG"
    assert [s["code"] for s in work["sources"]] == ["SCH-A", "SCH-B"]
    assert reports.snapshot_intact(snap)
    # The province sees the commune's text beside its own.
    province = Visitor(app, db, world["officer_p"], lang="en")
    page = text_of(province.get(f"/equality/narrative?unit=PRV&period={PERIOD}"))
    assert "Đề nghị của phòng." in page and "Phòng Giáo dục D1" in page
    overview = text_of(province.get(f"/equality/?unit=PRV&period={PERIOD}"))
    assert "1 of 2 submitted" in overview


@pytest.mark.parametrize(("who", "code"), [("officer_d1", "SCH-A"), ("focal_a", "D1")])
def test_only_the_unit_s_own_people_submit(app, db, world, who, code):
    _complete(app, db, world, "SCH-A", "focal_a")
    out = _post_submit(Visitor(app, db, world[who], lang="en"), code)
    assert out.status_code in (403, 404)
    assert _snapshots(db) == [] and _events(db, "report.submit") == []


def test_an_excluded_officer_does_not_submit(app, db, world):
    """The commune's figures count a case the officer is excluded from: they cannot vouch for
    them (another officer submits)."""
    from caseapp.services.cases import records
    from tests.functional.report_support import CASES, new_case

    case = new_case(db, world, CASES[0])
    db.commit()
    with app.test_request_context():
        records.exclude(
            db, user(db, world, "focal_a"), case, world["officer_d1"].username, "Người thân"
        )
    db.commit()
    _complete(app, db, world, "D1", "officer_d1")
    out = _post_submit(Visitor(app, db, world["officer_d1"], lang="en"), "D1")
    assert out.status_code == 403
    with app.test_request_context(), pytest.raises(Forbidden):
        reports.submit(db, user(db, world, "officer_d1"), unit(db, world, "D1"), period())
    db.rollback()
    assert _snapshots(db) == [] and _events(db, "report.submit") == []


def test_reports_before_the_reform_roll_up_through_the_old_office(app, db, world):
    from tests.functional.reform_support import ROWS, legacy_world
    from tests.functional.test_reform_history import _apply

    key = "six_month:2025"
    legacy = legacy_world(db, world, with_cases=False)
    school = legacy.schools["LD-S1"]
    with app.test_request_context():
        complete_work_report(db, legacy.focal, school, period(key), text="Trường S1 báo cáo.")
        db.commit()
        reports.submit(db, db.get(User, legacy.focal.id), db.get(Unit, school.id), period(key))
        db.commit()
        _apply(db, None, ROWS)
        db.commit()
        district = db.get(Unit, legacy.district.id)
        commune = db.get(Unit, legacy.communes[0].id)
        assert district.valid_to is not None  # closed by the reform
        assert "LD-S1" in [s.unit.code for s in compiling.sources(db, district, period(key))]
        assert [s.unit.code for s in compiling.sources(db, commune, period(key))] == []
        province_officer = db.get(User, world["officer_p"].id)
        draft = compiling.compile_draft(db, province_officer, district, period(key))
        assert "Trường S1 báo cáo. (general)" in narrative.sections_of(draft)["general"]
        db.commit()
    officer = Visitor(app, db, world["officer_p"], lang="en")
    page = text_of(officer.get(f"/equality/?unit=LD&period={key}"))
    assert "Trường Tiểu học LD-S1" in page and "1 of 3 submitted" in page
    page = text_of(officer.get(f"/equality/?unit=CM-1&period={key}"))
    assert "Trường Tiểu học LD-S1" not in page
