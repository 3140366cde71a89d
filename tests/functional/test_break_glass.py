"""Break-glass: when the only officer of the district above a school is excluded from a case, or
absent (their account disabled), the case is handled by the unit above: the province's officers
see it, open it (with a reason), approve its closure and are the ones reminded, exactly as the
district's officer would. The excluded officer sees nothing of it. When nobody would be left
above the school, the exclusion is refused (README: "If the only officer above a school is
excluded or absent")."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from caseapp.errors import NotFound, ValidationFailed
from caseapp.models import Grant, Notification, User
from caseapp.services.accounts import users
from caseapp.services.cases import content as case_content
from caseapp.services.cases import notifications, readers, records
from caseapp.services.cases.access import get_case
from tests.factories import Visitor
from tests.functional.workflow_support import move, reach

REASON = "Cán bộ huyện bị loại khỏi vụ việc này"


def _user(db, world, name) -> User:
    return db.get(User, world[name].id)


@pytest.fixture()
def case(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])


def _district_officer_gone(db, world, case, how: str) -> None:
    """officer_d1, the only officer of D1 (above SCH-A), is excluded from the case or absent."""
    d1 = _user(db, world, "officer_d1")
    if how == "excluded":
        records.exclude_person(db, _user(db, world, "focal_a"), case, d1.id, REASON)
    else:
        users.set_active(db, _user(db, world, "admin_d1"), d1, False, "Nghỉ dài hạn")
    db.commit()


@pytest.mark.parametrize("how", ["excluded", "absent"])
def test_the_province_officer_handles_the_case(app, db, world, case, how):
    _district_officer_gone(db, world, case, how)
    province = Visitor(app, db, world["officer_p"], lang="en")
    assert province.get(f"/cases/{case.public_id}").status_code == 200
    officer_p = _user(db, world, "officer_p")
    content = case_content.open_content(db, officer_p, case, REASON)
    assert content.reason == REASON
    # They approve the school's request to close it, as the district would have.
    reach(db, world, case, "closure_requested")
    move(db, world["officer_p"], case, "closed")
    assert case.status == "closed"
    # The access report names them among those who can open it, not the absent officer.
    names = {r.username for r in readers.who_can_read(db, _user(db, world, "focal_a"), case)}
    assert "officer.p" in names and "officer.d1" not in names


@pytest.mark.parametrize("how", ["excluded", "absent"])
def test_the_reminders_go_to_the_province(app, db, world, case, how):
    _district_officer_gone(db, world, case, how)
    assert notifications.notify_officers(db, case, "overdue", f"test:{case.id}") == 1
    told = set(
        db.scalars(
            select(Notification.user_id).where(
                Notification.case_id == case.id, Notification.kind == "overdue"
            )
        )
    )
    assert told == {world["officer_p"].id}


def test_the_excluded_officer_cannot_see_or_act(app, db, world, case):
    _district_officer_gone(db, world, case, "excluded")
    d1 = _user(db, world, "officer_d1")
    with pytest.raises(NotFound):
        get_case(db, d1, case.public_id)
    excluded = Visitor(app, db, world["officer_d1"], lang="en")
    assert excluded.get(f"/cases/{case.public_id}").status_code == 404
    assert excluded.get(f"/cases/{case.public_id}/access").status_code == 404
    assert (
        excluded.post(f"/cases/{case.public_id}/confidential", {"reason": REASON}).status_code
        == 404
    )
    assert excluded.post(f"/cases/{case.public_id}/notes", {"body": "x"}).status_code == 404


def test_nobody_left_above_the_school_means_the_exclusion_is_refused(app, db, world, case):
    """Without a province officer, officer_d1 is the only one above SCH-A: excluding them would
    leave the case with no officer, so it is refused until another is named."""
    province = db.scalar(
        select(Grant).where(Grant.user_id == world["officer_p"].id, Grant.revoked_at.is_(None))
    )
    users.revoke_grant(db, None, province, "test: no province officer")
    db.commit()
    with (
        app.test_request_context(),
        force_locale("en"),
        pytest.raises(ValidationFailed, match="At least one officer above the school"),
    ):
        records.exclude_person(
            db, _user(db, world, "focal_a"), case, world["officer_d1"].id, REASON
        )
