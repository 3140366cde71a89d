"""Intake, scoped reading and the audit of every confidential read."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from caseapp.models import AuditEvent
from tests.factories import sign_in_client
from tests.functional.case_support import CANARY, record_case


def test_focal_point_records_and_reads_a_case(client, browser, db, world):
    sign_in_client(client, db, world["focal_a"])
    case = record_case(browser, db, world.units["SCH-A"])
    assert re.fullmatch(rf"SCH-A-{date.today().year}-\d{{4}}", case.reference)
    assert CANARY.encode() not in (case.narrative or b"")
    page = client.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert case.reference in page and CANARY not in page
    content = client.get(f"/cases/{case.public_id}/confidential").get_data(as_text=True)
    assert f"{CANARY}-narrative" in content
    actions = list(db.scalars(select(AuditEvent.action).where(
        AuditEvent.object_ref == case.reference)))
    assert actions.count("case.create") == 1
    assert actions.count("case.view_confidential") == 1


def test_officer_needs_a_reason(client, browser, db, world):
    sign_in_client(client, db, world["focal_a"])
    case = record_case(browser, db, world.units["SCH-A"])
    officer = client.application.test_client()
    sign_in_client(officer, db, world["officer_d1"])
    from tests.factories import Browser

    ob = Browser(officer)
    page = officer.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert CANARY not in page
    assert officer.get(f"/cases/{case.public_id}/confidential").status_code == 302
    r = ob.post(f"/cases/{case.public_id}/confidential", {"reason": ""},
                token_from=f"/cases/{case.public_id}")
    assert r.status_code == 302
    r = ob.post(f"/cases/{case.public_id}/confidential",
                {"reason": "Kiểm tra tiến độ xác minh"}, token_from=f"/cases/{case.public_id}")
    assert r.status_code == 200 and f"{CANARY}-narrative" in r.get_data(as_text=True)
    ev = db.scalar(select(AuditEvent).where(AuditEvent.action == "case.view_confidential",
                                            AuditEvent.actor_name == "officer.d1"))
    assert ev.reason == "Kiểm tra tiến độ xác minh"


@pytest.mark.parametrize("who", ["focal_b", "focal_c", "officer_d2", "auditor_p", "admin_p",
                                 "admin_d1", "nobody"])
def test_outside_scope_is_404(client, browser, db, world, who):
    sign_in_client(client, db, world["focal_a"])
    case = record_case(browser, db, world.units["SCH-A"])
    other = client.application.test_client()
    sign_in_client(other, db, world[who])
    for url in (f"/cases/{case.public_id}", f"/cases/{case.public_id}/confidential",
                f"/cases/{case.public_id}/edit"):
        assert other.get(url).status_code == 404, url
