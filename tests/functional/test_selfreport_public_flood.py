"""A flood of reports from one address: a few are stored, the rest are turned away with a clear
page (stored nowhere, paging nobody), and a report from another address to another school
still arrives."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from caseapp.models import AuditEvent, Notification, SelfReport, Unit
from caseapp.services.selfreports.routing import handlers_at
from tests.functional.selfreport_support import env, report_fields, send_report, token_of

pytestmark = pytest.mark.usefixtures("clean_store")
FLOOD = 2000


def _counts(db) -> tuple[int, int, int]:
    db.expire_all()
    return tuple(
        db.scalar(select(func.count()).select_from(model))
        for model in (SelfReport, AuditEvent, Notification)
    )


def test_a_flood_from_one_address_leaves_other_reports_arriving(app, client, db, world):
    allowed = app.extensions["caseapp.settings"].selfreport_reports_per_address
    reports, events, notices = _counts(db)
    token = token_of(client.get("/r/SCH-A", environ_base=env("10.66.0.1")))
    data = {"token": token, **report_fields(details="Tin giả hàng loạt")}
    statuses: dict[int, int] = {}
    started = time.monotonic()
    for _ in range(FLOOD):
        response = client.post("/r/SCH-A", data=data, environ_base=env("10.66.0.1"))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    elapsed = time.monotonic() - started
    print(f"{FLOOD} posts in {elapsed:.1f} s ({1000 * elapsed / FLOOD:.1f} ms each)")
    assert statuses == {200: allowed, 429: FLOOD - allowed}
    after = _counts(db)
    assert after[0] == reports + allowed
    assert after[1] == events + allowed  # one event per stored report, none for the rest
    # The school's handlers were told once each for the day, not once per report.
    handlers = db.scalars(handlers_at(db.get(Unit, world.units["SCH-A"]))).all()
    assert 0 < after[2] - notices <= len(handlers)

    page = client.post("/r/SCH-A", data=data, environ_base=env("10.66.0.1"))
    assert page.status_code == 429 and "111" in page.get_data(as_text=True)

    elsewhere = send_report(client, "SCH-C", ip="10.66.0.2", details="Một báo cáo thật")
    assert elsewhere.status_code == 200
    db.expire_all()
    newest = db.scalar(select(SelfReport).order_by(SelfReport.id.desc()).limit(1))
    assert newest.school_id == world.units["SCH-C"]
    # The same school from another address too.
    assert send_report(client, "SCH-A", ip="10.66.0.3").status_code == 200


def test_an_ipv6_device_counts_by_its_network(app, client, db):
    allowed = app.extensions["caseapp.settings"].selfreport_reports_per_address
    for i in range(allowed):
        assert send_report(client, "SCH-B", ip=f"2001:db8:1:2::{i + 1}").status_code == 200
    # Another address of the same /64 network is the same device as far as we count.
    assert send_report(client, "SCH-B", ip="2001:db8:1:2::ffff").status_code == 429
    assert send_report(client, "SCH-B", ip="2001:db8:1:3::1").status_code == 200
