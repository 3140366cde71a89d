"""Who could read this case, and who did: on the case page of its focal points and officers,
the people who can open its content today (through which grant; an excluded person is not
among them) and every opening of it (who, when, with what reason), newest first, in a bounded
number of queries."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from caseapp.errors import Forbidden
from caseapp.models import AuditEvent, User
from caseapp.services.audit.trail import record
from caseapp.services.cases import content as case_content
from caseapp.services.cases import readers, records
from tests.factories import Visitor, selects, statements_sent

REASON = "Kiểm tra việc xử lý của trường"


def _user(db, world, name) -> User:
    return db.get(User, world[name].id)


@pytest.fixture()
def case(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])


def _text(visitor, url) -> str:
    r = visitor.get(url)
    assert r.status_code == 200, r.status_code
    return html.unescape(r.get_data(as_text=True))


def test_those_who_can_open_it_today_and_through_which_grant(app, db, world, case):
    focal = _user(db, world, "focal_a")
    rows = readers.who_can_read(db, focal, case)
    assert [(r.username, r.role, r.unit_name) for r in rows] == [
        ("focal.a", "focal_point", "Trường A"),
        ("not.enrolled", "focal_point", "Trường A"),
        ("officer.d1", "officer", "Phòng Giáo dục D1"),
        ("officer.p", "officer", "Sở Giáo dục tỉnh P"),
    ]
    records.exclude_person(db, focal, case, world["officer_d1"].id, "Người thân")
    db.commit()
    assert "officer.d1" not in {r.username for r in readers.who_can_read(db, focal, case)}


def test_who_opened_it_when_and_why_newest_first(app, db, world, case):
    focal, officer = _user(db, world, "focal_a"), _user(db, world, "officer_d1")
    case_content.open_content(db, focal, case)
    case_content.open_content(db, officer, case, REASON)
    db.commit()
    # Excluded afterwards: still among those who opened it, no longer among those who can.
    records.exclude_person(db, focal, case, officer.id, "Người thân")
    db.commit()
    shown, total = readers.latest_openings(db, focal, case)
    assert total == 2
    assert [(o.full_name, o.reason) for o in shown] == [
        (officer.full_name, REASON),
        (focal.full_name, ""),
    ]
    page = _text(Visitor(app, db, world["officer_p"], lang="en"), f"/cases/{case.public_id}")
    report = page[page.index("Who can open the content, and who did") :]
    report = report[: report.index("Timeline")]
    assert REASON in report and officer.full_name in report and focal.full_name in report
    assert "Can open it today" in report and "Person officer.p" in report
    can_open = report[: report.index("Opened by")]
    assert officer.full_name not in can_open


def test_only_those_who_may_read_its_content_get_the_report(app, db, world, case):
    for name in ("admin_p", "auditor_p", "focal_b"):
        with pytest.raises(Forbidden):
            readers.who_can_read(db, _user(db, world, name), case)
        with pytest.raises(Forbidden):
            readers.openings(_user(db, world, name), case)
        visitor = Visitor(app, db, world[name], lang="en")
        assert visitor.get(f"/cases/{case.public_id}/access").status_code == 404
    for name in ("focal_a", "officer_d1", "officer_p"):
        page = _text(Visitor(app, db, world[name], lang="en"), f"/cases/{case.public_id}")
        assert "Who can open the content, and who did" in page


def test_reading_the_report_is_not_an_opening(app, db, world, case):
    visitor = Visitor(app, db, world["officer_d1"], lang="en")
    before = db.scalar(select(func.max(AuditEvent.seq)))
    _text(visitor, f"/cases/{case.public_id}")
    _text(visitor, f"/cases/{case.public_id}/access")
    assert db.scalar(select(func.max(AuditEvent.seq))) == before


def _opened(db, person: User, case, times: int) -> None:
    for i in range(times):
        record(
            db,
            person,
            "case.view_confidential",
            unit=case.unit,
            object_type="cases",
            object_id=str(case.id),
            object_ref=case.reference,
            reason=f"{REASON} {i}",
        )
    db.commit()


def test_the_full_list_is_paginated_and_the_case_page_bounded(app, db, world, case):
    size = app.extensions["caseapp.settings"].page_size
    _opened(db, _user(db, world, "officer_p"), case, size + 2)
    visitor = Visitor(app, db, world["focal_a"], lang="en")
    page = _text(visitor, f"/cases/{case.public_id}")
    page = page[page.index('id="access-report"') : page.index("Timeline")]
    assert page.count(f"{REASON} ") == readers.SHOWN_ON_THE_CASE
    assert f"All {size + 2} openings" in page
    first = _text(visitor, f"/cases/{case.public_id}/access")
    second = _text(visitor, f"/cases/{case.public_id}/access?page=2")
    assert "Page 1 of 2" in first and first.count(f"{REASON} ") == size
    assert second.count(f"{REASON} ") == 2
    assert f"{REASON} {size + 1}<" in first  # newest first


def test_a_fixed_number_of_queries_however_many_read_it(app, db, world, case):
    engine = db.get_bind()
    focal = _user(db, world, "focal_a")
    _opened(db, _user(db, world, "officer_p"), case, 3)
    _opened(db, _user(db, world, "officer_d1"), case, 3)
    assert focal.active_grants and case.unit.path  # loaded: the grants decide, not the count
    with statements_sent(engine) as sent:
        readers.who_can_read(db, focal, case)
        readers.latest_openings(db, focal, case)
    statements = selects(sent)
    # Three for who can and who did, one for the audit text keys that open the reasons.
    assert len(statements) <= 4, statements
