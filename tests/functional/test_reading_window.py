"""An officer who stated why they open a case keeps reading it for as long as an idle session
lasts (after adding a note, say) without stating it again; every read is still audited, with
the reason they gave. Nothing carries over to another case, another person or a later time."""

from __future__ import annotations

import time

from sqlalchemy import select

from caseapp.models import AuditEvent
from tests.factories import Visitor, clear_reasons
from tests.functional.case_attack_support import actions_after, audit_head
from tests.functional.case_support import CANARY

REASON = "Kiểm tra theo đề nghị của phụ huynh"


def _reads(db, case) -> list[str]:
    events = db.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action == "case.view_confidential",
            AuditEvent.object_ref == case.reference,
        )
        .order_by(AuditEvent.seq)
    )
    return clear_reasons(db, events)


def test_a_stated_reason_holds_for_the_session_and_every_read_is_audited(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    case, other = focal.intake(db, world.units["SCH-A"]), focal.intake(db, world.units["SCH-A"])
    officer = Visitor(app, db, world["officer_d1"])
    url = f"/cases/{case.public_id}/confidential"
    assert officer.get(url).status_code == 302  # no reason yet
    assert CANARY.encode() in officer.post(url, {"reason": REASON}).data
    start = audit_head(db)
    again = officer.get(url)
    assert again.status_code == 200 and CANARY.encode() in again.data
    assert actions_after(db, start) == ["case.view_confidential"]
    assert _reads(db, case)[-1] == REASON

    # A note added on the confidential page leads back to it.
    r = officer.post(f"/cases/{case.public_id}/notes", {"body": "Ghi chú của cán bộ"})
    assert r.status_code == 302 and r.headers["Location"].endswith(url)

    # Not another case, not another officer.
    assert officer.get(f"/cases/{other.public_id}/confidential").status_code == 302
    assert Visitor(app, db, world["officer_p"]).get(url).status_code == 302


def test_the_reason_lapses_with_the_idle_time(app, db, world, monkeypatch):
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    officer = Visitor(app, db, world["officer_d1"])
    url = f"/cases/{case.public_id}/confidential"
    assert officer.post(url, {"reason": REASON}).status_code == 200
    idle = app.extensions["caseapp.settings"].session_idle_seconds
    later = time.time() + idle + 1
    monkeypatch.setattr(time, "time", lambda: later)
    start = audit_head(db)
    r = officer.get(url)
    assert r.status_code == 302
    assert r.headers["Location"].split("#")[0].endswith(f"/cases/{case.public_id}")
    assert actions_after(db, start) == []


def test_a_run_of_reads_is_one_line_of_the_timeline(app, db, world):
    from tests.functional.workflow_support import text_of

    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    for _ in range(3):
        assert focal.get(f"/cases/{case.public_id}/confidential").status_code == 200
    page = text_of(focal.get(f"/cases/{case.public_id}"))
    import re

    timeline = re.sub(r"<[^>]+>", "", page[page.index("Timeline") :])
    assert timeline.count("Confidential content opened") == 1
    assert "Confidential content opened (3 times)" in timeline
    assert len(_reads(db, case)) == 3  # the trail keeps every read


def test_a_change_of_who_may_see_the_case_ends_the_reason(app, db, world):
    """Excluded, then let back in: the reason stated before is not carried over."""
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    officer = Visitor(app, db, world["officer_d1"])
    url = f"/cases/{case.public_id}/confidential"
    assert officer.post(url, {"reason": REASON}).status_code == 200
    assert (
        focal.post(
            f"/cases/{case.public_id}/exclusions",
            {"person": str(world["officer_d1"].id), "reason": "Người thân"},
        ).status_code
        == 302
    )
    assert officer.get(url).status_code == 404
    from caseapp.models import CaseExclusion

    [exclusion_id] = db.scalars(select(CaseExclusion.id).where(CaseExclusion.case_id == case.id))
    lift = f"/cases/{case.public_id}/exclusions/{exclusion_id}/lift"
    assert (
        Visitor(app, db, world["officer_p"]).post(lift, {"reason": "Nhầm người"}).status_code == 302
    )
    from caseapp.models import ApprovalRequest

    req = db.scalar(select(ApprovalRequest).where(ApprovalRequest.case_id == case.id))
    approve = f"/admin/approvals/{req.id}/approve"
    second = Visitor(app, db, world["admin_d1"])
    assert second.post(approve, {"version": str(req.version)}).status_code == 302
    start = audit_head(db)
    r = officer.get(url)
    assert r.status_code == 302 and actions_after(db, start) == []


def test_the_page_shown_again_after_a_note_is_not_a_line_of_its_own(app, db, world):
    import re

    from tests.functional.workflow_support import text_of

    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    for n in range(3):
        r = focal.post(f"/cases/{case.public_id}/notes", {"body": f"Ghi chú {n}"})
        assert r.status_code == 302
        assert focal.get(r.headers["Location"]).status_code == 200  # the page again
    page = text_of(focal.get(f"/cases/{case.public_id}"))
    timeline = re.sub(r"<[^>]+>", "", page[page.index("Timeline") :])
    assert timeline.count("Note added") == 3
    assert "Confidential content opened" not in timeline
    assert len(_reads(db, case)) == 3  # the trail keeps every read
