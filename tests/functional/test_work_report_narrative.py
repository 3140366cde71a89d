"""The narrative of a unit's period report: saved under an optimistic lock, audited without its
text, refused for another school, kept on screen when refused; an office compiles its units'
texts and sees them beside its own."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from caseapp.errors import Conflict, NotFound, ValidationFailed
from caseapp.models import AuditEvent
from caseapp.models.equality import SECTION_MAX, WorkReportDraft
from caseapp.services.equality import compile as compiling
from caseapp.services.equality import narrative
from caseapp.services.equality.sections import SECTIONS
from caseapp.services.equality.work import gather
from caseapp.services.reports import periods as reports
from tests.factories import Visitor, complete_work_report
from tests.functional.report_support import unit, user
from tests.functional.workflow_support import text_of

PERIOD = "six_month:2020"


def period() -> reports.Period:
    return reports.period_by_key(PERIOD)


def _drafts(db) -> list[WorkReportDraft]:
    db.expire_all()
    return list(db.scalars(select(WorkReportDraft)))


def _events(db, action) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _form(version, **sections) -> dict:
    data = {
        "version": str(version),
        "number": "12/BC-THA",
        "signer_title": "HIỆU TRƯỞNG",
        "signer_name": "Nguyễn Thị Hoa",
        "recipients": "- Như trên;\n- Lưu: VT.",
    }
    for key in SECTIONS:
        data[f"section_{key}"] = sections.get(key, "")
    return data


URL = f"/equality/narrative?unit=SCH-A&period={PERIOD}"


def test_a_new_draft_has_the_defaults_of_its_unit(app, db, world):
    """In Vietnamese (the document's language) whoever writes first."""
    from flask_babel import force_locale, gettext

    with app.test_request_context():
        with force_locale("en"):
            school = narrative.draft_of(db, unit(db, world, "SCH-A"), period())
            office = narrative.draft_of(db, unit(db, world, "D1"), period())
        with force_locale("vi"):
            assert school.signer_title == gettext("HEAD OF THE SCHOOL")  # HIỆU TRƯỞNG
            assert office.signer_title == gettext("HEAD OF THE UNIT")  # THỦ TRƯỞNG ĐƠN VỊ
            assert school.recipients.splitlines() == [
                gettext("- As above;"),  # - Như trên;
                gettext("- %(unit)s (to report);", unit="Phòng Giáo dục D1"),
                gettext("- Archive: office."),  # - Lưu: VT.
            ]
    assert school.id is None and _drafts(db) == []


def test_the_focal_point_saves_and_edits_the_text(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    page = text_of(focal.get(URL))
    assert "General assessment" in page and "How the unit carried out" in page
    out = focal.submit(
        URL, _form(0, general="Năm nay trường đã làm tốt.", proposals="Thêm kinh phí.")
    )
    assert out.status_code == 302
    [draft] = _drafts(db)
    assert json.loads(draft.sections)["general"] == "Năm nay trường đã làm tốt."
    assert draft.number == "12/BC-THA" and draft.signer_name == "Nguyễn Thị Hoa"
    [event] = _events(db, "work.save")
    changes = json.loads(event.changes)
    assert changes["sections"] == ["general", "proposals"]
    assert "Năm nay" not in event.changes  # never the text
    out = focal.submit(URL, _form(draft.version, general="Sửa lại.", proposals="Thêm kinh phí."))
    assert out.status_code == 302
    [draft] = _drafts(db)
    assert json.loads(draft.sections)["general"] == "Sửa lại." and draft.version == 2
    assert json.loads(_events(db, "work.save")[-1].changes)["sections"] == ["general"]
    with app.test_request_context():
        report = gather(db, unit(db, world, "SCH-A"), period())
    assert report.sections["general"] == "Sửa lại." and report.number == "12/BC-THA"
    assert report.recipients == ["- Như trên;", "- Lưu: VT."]


def test_a_stale_version_is_refused_and_nothing_changes(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    focal.submit(URL, _form(0, general="Lần đầu."))
    out = focal.submit(URL, _form(0, general="Viết đè lên."))
    assert out.status_code == 409
    assert "Reload" in out.text and "Viết đè lên." in out.text  # the typed text is kept
    [draft] = _drafts(db)
    assert json.loads(draft.sections)["general"] == "Lần đầu."
    assert len(_events(db, "work.save")) == 1


def test_too_long_or_odd_text_is_refused_and_kept(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    out = focal.submit(URL, _form(0, general="x" * (SECTION_MAX + 1)))
    assert out.status_code == 400 and "longer than" in out.text
    out = focal.submit(URL, _form(0, general="Có ký tự lạ \x07 ở đây"))
    assert out.status_code == 400 and "not allowed" in out.text and "Có ký tự lạ" in out.text
    assert _drafts(db) == [] and _events(db, "work.save") == []


@pytest.mark.parametrize("who", ["focal_b", "officer_d2"])
def test_another_unit_s_report_is_not_found(app, db, world, who):
    out = Visitor(app, db, world[who], lang="en").submit(URL, _form(0, general="Chen vào."))
    assert out.status_code == 404
    assert Visitor(app, db, world[who]).get(URL).status_code == 404
    assert _drafts(db) == [] and _events(db, "work.save") == []
    with app.test_request_context(), pytest.raises(NotFound):
        narrative.save_draft(
            db,
            user(db, world, who),
            unit(db, world, "SCH-A"),
            period(),
            narrative.DraftInput(sections={"general": "x"}),
            0,
        )


def test_missing_csrf_is_refused(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    out = focal.client.post(URL, data=_form(0, general="Không có mã."))
    assert out.status_code == 400
    assert _drafts(db) == []


def test_the_service_refuses_a_stale_version(app, db, world):
    focal, school = user(db, world, "focal_a"), unit(db, world, "SCH-A")
    with app.test_request_context():
        narrative.save_draft(db, focal, school, period(), narrative.DraftInput(), 0)
        db.commit()
        with pytest.raises(Conflict):
            narrative.save_draft(db, focal, school, period(), narrative.DraftInput(), 5)
        with pytest.raises(ValidationFailed):
            narrative.save_draft(
                db, focal, school, period(), narrative.DraftInput(target_results={"1": -1}), 1
            )


def _school_submits(app, db, world, code, who, text):
    with app.test_request_context():
        complete_work_report(db, world[who], unit(db, world, code), period(), text=text)
        snap = reports.submit(db, user(db, world, who), unit(db, world, code), period())
    db.commit()
    return snap


def test_an_office_compiles_its_schools_texts(app, db, world):
    _school_submits(app, db, world, "SCH-A", "focal_a", "Trường A đã tuyên truyền.")
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    page = text_of(officer.get(f"/equality/narrative?unit=D1&period={PERIOD}"))
    assert "Start from the units' texts" in page and "Trường A đã tuyên truyền." in page
    out = officer.submit("/equality/narrative/compile", {"unit": "D1", "period": PERIOD})
    assert out.status_code == 302, out.text
    [draft] = [d for d in _drafts(db) if d.unit_id == world.units["D1"]]
    sections = json.loads(draft.sections)
    assert sections["general"].startswith("Trường A:\nTrường A đã tuyên truyền. (general)")
    assert "Trường B" in sections["general"]  # named as not submitted
    assert set(json.loads(draft.compiled)) == set(SECTIONS)
    [event] = _events(db, "work.compile")
    assert json.loads(event.changes) == {
        "period": PERIOD,
        "units": ["SCH-A"],
        "missing": ["SCH-B"],
    }
    with app.test_request_context():
        assert len(compiling.unedited(draft)) == len(SECTIONS)


def test_compiling_over_text_needs_the_box_ticked(app, db, world):
    _school_submits(app, db, world, "SCH-A", "focal_a", "Trường A.")
    d1, officer = unit(db, world, "D1"), user(db, world, "officer_d1")
    with app.test_request_context():
        narrative.save_draft(
            db, officer, d1, period(), narrative.DraftInput(sections={"general": "Của tôi"}), 0
        )
        db.commit()
        with pytest.raises(ValidationFailed):
            compiling.compile_draft(db, officer, d1, period(), replace=False)
        db.rollback()
        [mine] = [d for d in _drafts(db) if d.unit_id == d1.id]
        assert json.loads(mine.sections)["general"] == "Của tôi"
        with pytest.raises(NotFound):
            compiling.compile_draft(db, user(db, world, "officer_d2"), d1, period())
        with pytest.raises(ValidationFailed):
            compiling.compile_draft(
                db, user(db, world, "focal_a"), unit(db, world, "SCH-A"), period()
            )


def test_results_of_custom_targets_are_saved(app, db, world):
    from caseapp.models.equality import GenderPlan, PlanTarget
    from caseapp.services.audit.trail import record

    school = unit(db, world, "SCH-A")
    plan = GenderPlan(unit_id=school.id, year=period().date_to.year, text="Kế hoạch")
    plan.targets.append(
        PlanTarget(ordinal=1, title="Số buổi sinh hoạt chuyên đề", measure="custom", target_value=4)
    )
    db.add(plan)
    record(db, None, "plan.save", plan, unit=school, covers=tuple(plan.targets))
    db.commit()
    [target] = plan.targets
    focal = Visitor(app, db, world["focal_a"], lang="en")
    page = text_of(focal.get(URL))
    assert "Số buổi sinh hoạt chuyên đề" in page
    out = focal.submit(URL, {**_form(0, general="Có."), f"result_{target.id}": "abc"})
    assert out.status_code == 400 and "A result must be a number" in out.text
    assert _drafts(db) == []
    out = focal.submit(URL, {**_form(0, general="Có."), f"result_{target.id}": "3"})
    assert out.status_code == 302
    [draft] = _drafts(db)
    assert json.loads(draft.target_results) == {str(target.id): 3}
    assert "target_results" in json.loads(_events(db, "work.save")[0].changes)["fields"]
