"""Legal holds on the case page (officers over the case only; the wrong unit learns nothing; no
CSRF, no change; a stale release is a conflict) and the retention page, scoped to the user's
units."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from caseapp.models import AuditEvent, Case, LegalHold, User
from caseapp.services.cases import intake as cases
from caseapp.services.privacy import retention
from tests.factories import Visitor
from tests.functional.case_attack_support import page_text
from tests.functional.retention_support import ADULT, closed_case

REASON = "Gia đình đang khiếu nại lên Thanh tra"


def _case(db, world, school="SCH-A"):
    return closed_case(
        db,
        world,
        date(2018, 2, 1),
        date(2018, 5, 10),
        school=school,
        **ADULT,
    )


def _holds(db, case) -> list[LegalHold]:
    db.expire_all()
    return list(db.scalars(select(LegalHold).where(LegalHold.case_id == case.id)))


def _events(db, action) -> int:
    return db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def test_an_officer_sets_and_releases_a_hold(client, db, world):
    case = _case(db, world)
    officer = Visitor(client, db, world["officer_d1"])
    done = officer.post(f"/cases/{case.public_id}/holds", {"reason": REASON})
    assert done.status_code == 302
    (hold,) = _holds(db, case)
    assert hold.released_at is None and hold.set_by_id == world["officer_d1"].id
    assert REASON.encode() not in (hold.reason or b"")  # sealed
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "case.hold_set"))
    assert event is not None and REASON not in (event.changes or "")
    assert "changed" in event.changes

    page = page_text(officer.get(f"/cases/{case.public_id}"))
    section = page[page.index('id="holds"') :].split("</section>")[0]
    assert db.get(User, world["officer_d1"].id).full_name in section
    assert REASON not in section  # who and when; the reason is read with the content
    opened = page_text(
        officer.post(f"/cases/{case.public_id}/confidential", {"reason": "Kiểm tra lệnh giữ"})
    )
    assert REASON in opened

    # The hold keeps the case from the run.
    assert [d.held for d in retention.due(db, date(2024, 1, 1)) if d.case_id == case.id] == [True]

    # A second hold while one is in force: refused, nothing new.
    officer.post(f"/cases/{case.public_id}/holds", {"reason": REASON})
    assert len(_holds(db, case)) == 1

    # A release with the version of another moment: conflict, still in force.
    stale = officer.post(
        f"/cases/{case.public_id}/holds/{hold.id}/release",
        {"reason": "Đã giải quyết xong", "version": str(hold.version + 7)},
    )
    assert stale.status_code == 409
    assert _holds(db, case)[0].released_at is None

    released = officer.post(
        f"/cases/{case.public_id}/holds/{hold.id}/release",
        {"reason": "Đã giải quyết xong", "version": str(hold.version)},
    )
    assert released.status_code == 302
    (hold,) = _holds(db, case)
    assert hold.released_at is not None and hold.release_reason
    assert _events(db, "case.hold_release") == 1


def test_a_focal_point_cannot_set_a_hold(client, db, world):
    case = _case(db, world)
    focal = Visitor(client, db, world["focal_a"])
    before = _events(db, "case.hold_set")
    refused = focal.post(f"/cases/{case.public_id}/holds", {"reason": REASON})
    assert refused.status_code == 302  # back to the case page, saying why
    assert _holds(db, case) == [] and _events(db, "case.hold_set") == before


def test_another_units_officer_gets_404_and_nothing_changes(client, db, world):
    case = _case(db, world)
    other = Visitor(client, db, world["officer_d2"])
    assert other.post(f"/cases/{case.public_id}/holds", {"reason": REASON}).status_code == 404
    assert _holds(db, case) == []


def test_no_csrf_token_no_hold(client, db, world):
    case = _case(db, world)
    officer = Visitor(client, db, world["officer_d1"])
    refused = officer.post(f"/cases/{case.public_id}/holds", {"reason": REASON}, csrf=False)
    assert refused.status_code == 400
    assert _holds(db, case) == []


def test_a_hold_needs_a_reason_and_content_to_hold(client, db, world):
    case = _case(db, world)
    officer = Visitor(client, db, world["officer_d1"])
    officer.post(f"/cases/{case.public_id}/holds", {"reason": ""})
    assert _holds(db, case) == []
    cases.destroy_content(db, None, db.get(Case, case.id), "Lệnh của tòa án")
    db.commit()
    officer.post(f"/cases/{case.public_id}/holds", {"reason": REASON})
    assert _holds(db, case) == []


def test_the_retention_page_lists_what_falls_due_in_the_users_units(client, db, world):
    mine = _case(db, world, "SCH-A")
    theirs = _case(db, world, "SCH-C")
    admin = Visitor(client, db, world["admin_d1"])
    page = page_text(admin.get("/privacy/retention"))
    assert "Luật Bảo vệ dữ liệu cá nhân" in page  # the basis beside each line
    assert mine.reference in page and theirs.reference not in page
    assert Visitor(client, db, world["focal_a"]).get("/privacy/retention").status_code in (
        403,
        404,
    )


def test_the_retention_page_marks_held_cases(client, db, world):
    from caseapp.services.cases import holds

    case = _case(db, world)
    holds.set_hold(db, db.get(User, world["officer_d1"].id), case, REASON)
    db.commit()
    page = page_text(Visitor(client, db, world["officer_p"]).get("/privacy/retention"))
    assert case.reference in page
    row = page[page.index(case.reference) :].split("</tr>")[0]
    assert "Held" in row or "Đang giữ" in row or "giữ" in row
