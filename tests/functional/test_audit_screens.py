"""Auditor screens: scope, filters, detail, CSV export (itself audited), chain status."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from caseapp.models import AuditEvent, Unit
from caseapp.runtime import keyring
from tests.factories import make_user, sign_in_client


def _count(db, **where) -> int:
    stmt = select(func.count()).select_from(AuditEvent)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, key) == value)
    return db.scalar(stmt)


def test_auditor_sees_events_of_units_below_only(client, db, world):
    """An auditor at district D2 sees D2's events, none of D1's, none without a unit."""
    d1, d2 = db.get(Unit, world.units["D1"]), db.get(Unit, world.units["D2"])
    person = make_user(db, keyring(), "auditor.d2", d2, [("auditor", d2)])
    sign_in_client(client, db, person)
    html = client.get("/audit/events?action=user.create").get_data(as_text=True)
    assert "user.create" in html
    for path, status in ((d1.path, 404), (d2.path, 200), ("", 404)):
        seq = db.scalar(select(AuditEvent.seq).where(AuditEvent.unit_path.startswith(path)
                                                     if path else AuditEvent.unit_path == "")
                        .limit(1))
        if seq is None:
            from caseapp.services.audit import record

            seq = record(db, None, "test.event").seq
            db.flush()
        assert client.get(f"/audit/events/{seq}").status_code == status


def test_filters_and_detail(client, db, world):
    sign_in_client(client, db, world["auditor_p"])
    r = client.get("/audit/events?action=user.grant&actor=system")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "user.grant" in html
    seq = db.scalar(select(AuditEvent.seq).where(AuditEvent.action == "user.grant").limit(1))
    detail = client.get(f"/audit/events/{seq}").get_data(as_text=True)
    assert "user.grant" in detail
    assert client.get("/audit/events?unit=NOPE").status_code == 200
    assert "NOPE" in client.get("/audit/events?unit=NOPE").get_data(as_text=True)


def test_csv_export_is_audited_and_never_holds_secrets(client, db, world):
    sign_in_client(client, db, world["auditor_p"])
    before = _count(db, action="audit.export")
    r = client.get("/audit/events.csv?action=user.create")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    text = r.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(row["action"] == "user.create" for row in rows)
    assert "argon2" not in text
    assert _count(db, action="audit.export") == before + 1


@pytest.mark.parametrize("who", ["admin_p", "officer_p", "focal_a"])
def test_non_auditors_cannot_read_the_trail(client, db, world, who):
    sign_in_client(client, db, world[who])
    assert client.get("/audit/events").status_code == 403
    assert client.get("/audit/events.csv").status_code == 403


def test_verify_now_records_result(browser, client, db, world):
    sign_in_client(client, db, world["auditor_p"])
    r = browser.post("/audit/verify", token_from="/audit/status")
    assert r.status_code == 302
    last = db.scalar(select(AuditEvent).where(AuditEvent.action == "audit.verify")
                     .order_by(AuditEvent.seq.desc()).limit(1))
    assert last is not None and '"ok": true' in last.changes
    assert 'class="ok"' in client.get("/audit/status").get_data(as_text=True)
