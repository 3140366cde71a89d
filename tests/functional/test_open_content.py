"""content.open_content: one service call that checks, audits and decrypts everything the
confidential page shows, and keeps an officer's stated reason in force (issue 10, section 1)."""

from __future__ import annotations

import pytest

from caseapp.errors import Forbidden
from caseapp.models import Case, User
from caseapp.services.cases import content as case_content
from tests.factories import Visitor
from tests.functional.case_attack_support import actions_after, audit_head
from tests.functional.case_support import CANARY

REASON = "Kiểm tra theo đề nghị của phụ huynh"


@pytest.fixture()
def case(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    made = focal.intake(db, world.units["SCH-A"])
    assert focal.post(f"/cases/{made.public_id}/notes", {"body": "Ghi chú một"}).status_code == 302
    assert focal.attach(made, b"hello", "ho-so.txt", "text/plain").status_code == 302
    db.expire_all()
    return db.get(Case, made.id)


def _user(db, world, name) -> User:
    return db.get(User, world[name].id)


def test_one_call_opens_what_the_page_needs_and_audits_the_read_once(db, world, case):
    start = audit_head(db)
    content = case_content.open_content(db, _user(db, world, "focal_a"), case)
    db.flush()
    assert actions_after(db, start) == ["case.view_confidential"]
    assert CANARY in content.narrative
    assert [n.body for n in content.notes] == ["Ghi chú một"]
    assert [name for _a, name in content.files] == ["ho-so.txt"]
    assert set(content.step_details) == {s.id for s in content.steps}
    assert content.reason == "" and content.readings == {}


@pytest.mark.parametrize("reason", [None, "", "   ", "abc"])
def test_an_officer_without_a_reason_reads_nothing_and_nothing_is_audited(db, world, case, reason):
    start = audit_head(db)
    with pytest.raises(case_content.ReasonNeeded):
        case_content.open_content(db, _user(db, world, "officer_d1"), case, reason)
    db.flush()
    assert actions_after(db, start) == []


def test_a_stated_reason_stays_in_force_without_being_extended(db, world, case):
    officer = _user(db, world, "officer_d1")
    first = case_content.open_content(db, officer, case, REASON)
    assert first.reason == REASON and list(first.readings) == [case.public_id]
    db.flush()
    start = audit_head(db)
    again = case_content.open_content(db, officer, case, None, first.readings)
    db.flush()
    assert actions_after(db, start) == ["case.view_confidential"]
    assert again.reason == REASON and again.readings == first.readings
    # Someone else's readings are not theirs.
    with pytest.raises(case_content.ReasonNeeded):
        case_content.open_content(db, _user(db, world, "officer_p"), case, None, first.readings)


@pytest.mark.parametrize("person", ["focal_c", "auditor_p", "admin_d1"])
def test_people_without_content_access_are_refused_before_anything_is_read(db, world, case, person):
    start = audit_head(db)
    with pytest.raises(Forbidden):
        case_content.open_content(db, _user(db, world, person), case, REASON)
    db.flush()
    assert actions_after(db, start) == []
