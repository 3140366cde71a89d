"""Attacks on the gender-equality work found by review, each tried and shown to fail: a head
above a school approving the school's plan, an author approving their own text after a
colleague saved it back, an administrator holding the head role, and characters that no
document can hold frozen into a submitted report."""

from __future__ import annotations

from sqlalchemy import select

from caseapp.runtime import keyring
from tests.factories import Visitor, complete_work_report, make_user
from tests.functional.report_support import unit
from tests.functional.test_activities_frozen import ACT
from tests.functional.test_gender_plan import TEXT, _head, _plan, _year, plan_form


def test_a_head_of_an_office_does_not_approve_a_school_s_plan(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    assert focal.post("/equality/plan", plan_form()).status_code == 302
    found = _plan(db)
    office_head = Visitor(app, db, _head(db, world, "head.office", "D1"), lang="en")
    page = office_head.get(f"/equality/plan?unit=SCH-A&year={_year()}")
    assert page.status_code == 200 and b"/equality/plan/approve" not in page.data
    r = office_head.post(
        "/equality/plan/approve",
        {"unit": "SCH-A", "year": str(_year()), "version": found.version},
    )
    assert r.status_code == 404 and _plan(db).status == "draft"


def test_the_author_does_not_approve_after_a_colleague_saved_their_text_back(app, db, world):
    author = Visitor(app, db, _head(db, world, "head.author", "SCH-A", "focal_point"), lang="en")
    colleague = Visitor(app, db, world["focal_a"], lang="en")
    assert author.post("/equality/plan", plan_form()).status_code == 302
    assert colleague.post("/equality/plan", plan_form(_plan(db).version, text="x")).status_code
    assert colleague.post("/equality/plan", plan_form(_plan(db).version, text=TEXT)).status_code
    r = author.post(
        "/equality/plan/approve",
        {"unit": "SCH-A", "year": str(_year()), "version": _plan(db).version},
    )
    assert r.status_code == 400 and _plan(db).status == "draft"
    # Another head, who wrote nothing of it, approves; the next edit starts a new round.
    other = Visitor(app, db, _head(db, world, "head.other", "SCH-A"), lang="en")
    r = other.post(
        "/equality/plan/approve",
        {"unit": "SCH-A", "year": str(_year()), "version": _plan(db).version},
    )
    assert r.status_code == 302 and _plan(db).status == "approved"
    assert _plan(db).authors == "[]"


def test_an_administrator_is_never_also_a_head(app, db, world):
    import pytest

    from caseapp.errors import ValidationFailed
    from caseapp.models import Grant
    from caseapp.services.accounts.duties import separation_problem
    from caseapp.services.audit.trail import record

    assert separation_problem({"admin"}, "head") is not None
    assert separation_problem({"head"}, "admin") is not None
    at = unit(db, world, "PRV")
    with pytest.raises(ValidationFailed):
        make_user(db, keyring(), "admin.head", at, [("admin", at), ("head", at)])
    db.rollback()
    # An account that held both before the rule keeps only its administration.
    admin = make_user(db, keyring(), "admin.legacy", at, [("admin", at)])
    grant = Grant(user_id=admin.id, role="head", unit_id=at.id)
    db.add(grant)
    record(db, None, "user.grant", grant, unit=at)
    db.commit()
    visitor = Visitor(app, db, admin, lang="en")
    assert visitor.get("/equality/document?unit=SCH-A&format=docx").status_code in (403, 404)
    assert visitor.get("/equality/plan?unit=SCH-A").status_code in (403, 404)


def test_characters_no_document_holds_are_refused_and_scrubbed_from_old_snapshots(app, db, world):
    import json

    from caseapp.models import Activity, ReportSnapshot
    from caseapp.services.reports import periods as reports

    focal = Visitor(app, db, world["focal_a"], lang="en")
    refused = focal.post("/reports/activities/new", {**ACT, "title": "Tuyên truyền\ufffe"})
    assert refused.status_code == 400
    assert db.scalar(select(Activity).where(Activity.title.like("Tuyên truyền%"))) is None
    assert focal.post("/reports/activities/new", ACT).status_code == 302
    with app.test_request_context():
        complete_work_report(
            db, world["focal_a"], unit(db, world, "SCH-A"), reports.period_by_key("six_month:2020")
        )
    db.commit()
    focal.submit("/equality/submit", {"unit": "SCH-A", "period": "six_month:2020", "confirm": "y"})
    db.expire_all()
    snap = db.scalar(select(ReportSnapshot).where(ReportSnapshot.period_key == "six_month:2020"))
    assert snap is not None
    # A snapshot frozen before the rule, holding a character XML refuses, still renders.
    data = json.loads(snap.data)
    data["work"]["sections"]["general"] = "Đánh giá\uffff chung\x0b"
    snap.__dict__["data"] = json.dumps(data, ensure_ascii=False)  # as read back, not written
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    assert officer.get(f"/equality/snapshots/{snap.id}/document?format=docx").status_code == 200
    assert (
        officer.get("/equality/document?unit=D1&period=six_month:2020&format=xlsx").status_code
        == 200
    )


def test_scrubbed_removes_what_xml_refuses():
    from caseapp.security.text import refused_characters, scrubbed

    assert refused_characters("a\ufffeb") and refused_characters("a\x0bb")
    assert not refused_characters("Tiếng Việt\tvà\nemoji 😀")
    assert scrubbed({"k": ["a\ufffeb", ("c\uffff",)]}) == {"k": ["ab", ("c",)]}
