"""Attacks on the narrative, its compilation and the submission of the period report, found
by review and shown to fail: a compile replacing a colleague's text saved meanwhile, a compiled
section "edited" by spaces only, an excluded officer or an old office reading a school's
submitted text through the side panel or the compiled draft, an officer above submitting a
commune's report, characters no document holds."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from caseapp.errors import ValidationFailed
from caseapp.models import ReportSnapshot
from caseapp.models.equality import WorkReportDraft
from caseapp.runtime import keyring
from caseapp.services.equality import compile as compiling
from caseapp.services.equality import narrative
from caseapp.services.equality.sections import SECTIONS
from caseapp.services.reports import periods as reports
from tests.factories import Visitor, complete_work_report, make_user
from tests.functional.report_support import unit, user
from tests.functional.test_work_report_narrative import _form
from tests.functional.workflow_support import text_of

PERIOD = "six_month:2020"
URL_D1 = f"/equality/narrative?unit=D1&period={PERIOD}"


def period() -> reports.Period:
    return reports.period_by_key(PERIOD)


def _school_submits(app, db, world, code, who, text):
    with app.test_request_context():
        complete_work_report(db, world[who], unit(db, world, code), period(), text=text)
        snap = reports.submit(db, user(db, world, who), unit(db, world, code), period())
    db.commit()
    return snap


def _draft(db, code, world) -> WorkReportDraft:
    db.expire_all()
    return db.scalar(
        select(WorkReportDraft).where(
            WorkReportDraft.unit_id == world.units[code], WorkReportDraft.period_key == PERIOD
        )
    )


# 1. Compile has no optimistic lock: a colleague's saved text is silently replaced -----------


def test_compile_does_not_replace_a_colleague_s_text_saved_meanwhile(app, db, world):
    _school_submits(app, db, world, "SCH-A", "focal_a", "Trường A.")
    d1 = unit(db, world, "D1")
    colleague = make_user(db, keyring(), "officer.d1b", d1, [("officer", d1)])
    db.commit()
    me = Visitor(app, db, world["officer_d1"], lang="en")
    # I open the page while the report is empty: the compile form sends replace=y by itself.
    page = me.get(URL_D1).get_data(as_text=True)
    assert '<input type="hidden" name="replace" value="y">' in page
    # Meanwhile my colleague writes the whole report and saves it.
    other = Visitor(app, db, colleague, lang="en")
    saved = other.post(URL_D1, _form(0, **{k: f"Đồng nghiệp viết ({k})" for k in SECTIONS}))
    assert saved.status_code == 302
    # I press "Start from the units' texts" on the page I loaded before.
    me.submit("/equality/narrative/compile", {"unit": "D1", "period": PERIOD, "replace": "y"})
    sections = json.loads(_draft(db, "D1", world).sections)
    assert sections["general"] == "Đồng nghiệp viết (general)", sections["general"][:80]


# 2. "Never sent without being edited": a trailing space counts as an edit -----------------


@pytest.mark.parametrize("touch", [lambda t: t + " ", lambda t: t + "\n", lambda t: " " + t])
def test_a_compiled_draft_touched_by_whitespace_only_is_not_submitted(app, db, world, touch):
    _school_submits(app, db, world, "SCH-A", "focal_a", "Trường A.")
    d1, officer = unit(db, world, "D1"), user(db, world, "officer_d1")
    with app.test_request_context():
        draft = compiling.compile_draft(db, officer, d1, period())
        db.commit()
        compiled = narrative.sections_of(draft)
        narrative.save_draft(
            db,
            officer,
            d1,
            period(),
            narrative.DraftInput(
                sections={k: touch(v) for k, v in compiled.items()}, signer_title="TRƯỞNG PHÒNG"
            ),
            draft.version,
        )
        db.commit()
        with pytest.raises(ValidationFailed):
            reports.submit(db, officer, d1, period())
    db.rollback()
    assert db.scalar(select(ReportSnapshot).where(ReportSnapshot.unit_id == d1.id)) is None


# 3. An officer excluded from a case at a school reads the school's frozen text ------------


def test_an_excluded_officer_does_not_read_the_school_s_submitted_text(app, db, world):
    from caseapp.services.cases import records
    from tests.functional.report_support import CASES, new_case

    case = new_case(db, world, CASES[2])  # SCH-A, sexual harassment, a girl of 15-17
    db.commit()
    with app.test_request_context():
        records.exclude(
            db, user(db, world, "focal_a"), case, world["officer_d1"].username, "Người thân"
        )
    db.commit()
    snap = _school_submits(
        app, db, world, "SCH-A", "focal_a", "Em Lan lớp 10A bị thầy giáo quấy rối."
    )
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    # The school's submitted report is not theirs to read...
    assert officer.get(f"/reports/snapshots/{snap.id}").status_code == 404
    assert officer.get(f"/equality/snapshots/{snap.id}/document").status_code == 404
    # ...but its text is, beside the commune's text boxes and in the compiled draft.
    page = text_of(officer.get(URL_D1))
    leaked = "Em Lan lớp 10A bị thầy giáo quấy rối." in page
    officer.submit("/equality/narrative/compile", {"unit": "D1", "period": PERIOD})
    draft = _draft(db, "D1", world)
    compiled = draft is not None and "Em Lan" in draft.sections
    assert not leaked and not compiled, (leaked, compiled)


# 4. A school that moved away: its whole-period text goes to its old office ----------------


def test_a_school_that_moved_away_is_not_read_by_its_old_office(app, db, world):
    from caseapp.services.org import units as unit_service

    school, d2 = unit(db, world, "SCH-A"), unit(db, world, "D2")
    unit_service.move_unit(db, None, school, d2, date(2020, 1, 15), school.version)
    db.commit()
    snap = _school_submits(
        app, db, world, "SCH-A", "focal_a", "Từ tháng 2, trường thuộc phòng D2: việc riêng."
    )
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    assert officer.get(f"/reports/snapshots/{snap.id}").status_code == 404
    page = text_of(officer.get(URL_D1))
    assert "việc riêng" not in page


# 6. The overview of an office: a query per submitted unit below ------------------------------


def test_the_province_does_not_submit_the_commune_s_report(app, db, world):
    _school_submits(app, db, world, "SCH-A", "focal_a", "Trường A.")
    with app.test_request_context():
        complete_work_report(db, world["officer_d1"], unit(db, world, "D1"), period())
    db.commit()
    province = Visitor(app, db, world["officer_p"], lang="en")
    assert "Submit to the unit above" not in text_of(
        province.get(f"/equality/?unit=D1&period={PERIOD}")
    )
    out = province.submit("/equality/submit", {"unit": "D1", "period": PERIOD, "confirm": "y"})
    assert out.status_code in (403, 404), out.text
    assert (
        db.scalar(select(ReportSnapshot).where(ReportSnapshot.unit_id == world.units["D1"])) is None
    )


# 8. A non-character (U+FFFF) passes the text check and breaks every DOCX it reaches ---------


def test_a_noncharacter_in_a_section_is_refused_or_the_document_still_opens(app, db, world):
    from caseapp.models.equality import UnitStatistics
    from caseapp.services.audit.trail import record
    from caseapp.services.equality import figures

    focal = Visitor(app, db, world["focal_a"], lang="en")
    url = f"/equality/narrative?unit=SCH-A&period={PERIOD}"
    out = focal.post(url, _form(0, **{k: f"Trường A \uffff ({k})" for k in SECTIONS}))
    if out.status_code == 400:
        return  # refused: fine
    assert out.status_code == 302
    with app.test_request_context():
        school = unit(db, world, "SCH-A")
        stats = UnitStatistics(
            unit_id=school.id,
            period_key=PERIOD,
            figures=json.dumps(dict.fromkeys(figures.keys_for(school.level), 0)),
            updated_by_id=world["focal_a"].id,
        )
        db.add(stats)
        record(db, None, "statistics.save", stats, unit=school, changes={"period": PERIOD})
        db.commit()
        snap = reports.submit(db, user(db, world, "focal_a"), school, period())
        db.commit()
    # The school's own submitted report, frozen forever:
    got = focal.get(f"/equality/snapshots/{snap.id}/document?format=docx")
    # The commune compiles it; its draft document:
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    officer.submit("/equality/narrative/compile", {"unit": "D1", "period": PERIOD})
    office = officer.get(f"/equality/document?unit=D1&period={PERIOD}&format=docx")
    assert (got.status_code, office.status_code) == (200, 200)
