"""Auditor screens: scope, filters, detail, CSV export (itself audited), chain status."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from caseapp.models import AuditEvent, Unit, User
from caseapp.runtime import keyring
from caseapp.services.audit.trail import record
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
        seq = db.scalar(
            select(AuditEvent.seq)
            .where(AuditEvent.unit_path.startswith(path) if path else AuditEvent.unit_path == "")
            .limit(1)
        )
        if seq is None:
            from caseapp.services.audit.trail import record

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


def test_an_export_past_the_ceiling_is_refused_and_reads_nothing(app, client, db, world):
    """One download must end within a worker's time limit, so an export carries at most
    audit_export_max_events events: past it the auditor is sent back to the trail with the
    filters kept and told to narrow them; nothing is read and nothing recorded. At the ceiling
    the export is whole."""
    sign_in_client(client, db, world["auditor_p"])
    url = "/audit/events.csv?action=user.create&reference="
    text = client.get(url).get_data(as_text=True).lstrip("\ufeff")
    selected = len(list(csv.DictReader(io.StringIO(text))))
    assert selected > 1
    original = app.extensions["caseapp.settings"]
    try:
        app.extensions["caseapp.settings"] = dataclasses.replace(
            original, audit_export_max_events=selected - 1
        )
        head = db.scalar(select(func.max(AuditEvent.seq)))
        r = client.get(url)
        assert r.status_code == 302
        assert r.headers["Location"].endswith("/audit/events?action=user.create")
        assert db.scalar(select(func.max(AuditEvent.seq))) == head  # nothing recorded
        page = client.get(r.headers["Location"]).get_data(as_text=True)
        assert f"chọn hơn {selected - 1} sự kiện" in page  # Vietnamese first
        assert f"tối đa {selected - 1} sự kiện" in page  # said before, too
        app.extensions["caseapp.settings"] = dataclasses.replace(
            original, audit_export_max_events=selected
        )
        r = client.get(url)
        assert r.status_code == 200
        rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
        assert len(rows) == selected
        assert _count(db, action="audit.export") >= 2
    finally:
        app.extensions["caseapp.settings"] = original


@pytest.mark.parametrize("who", ["admin_p", "officer_p", "focal_a"])
def test_non_auditors_cannot_read_the_trail(client, db, world, who):
    sign_in_client(client, db, world[who])
    assert client.get("/audit/events").status_code == 403
    assert client.get("/audit/events.csv").status_code == 403


def test_verify_now_records_result(browser, client, db, world):
    sign_in_client(client, db, world["auditor_p"])
    r = browser.post("/audit/verify", token_from="/audit/status")
    assert r.status_code == 302
    last = db.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "audit.verify")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    assert last is not None and '"ok": true' in last.changes
    assert 'class="ok"' in client.get("/audit/status").get_data(as_text=True)


def test_verify_now_with_a_key_this_server_lacks_says_so_and_records_nothing(
    browser, client, db, world, monkeypatch
):
    """The web verification meets a key the keyring lacks (the request gate keeps a wrong
    keyring out, so this is the narrow case of one event's key): no BROKEN alarm, no event."""
    from caseapp.security.audit_chain import ChainReport
    from caseapp.services.audit import integrity as audit_integrity

    monkeypatch.setattr(
        audit_integrity,
        "verify",
        lambda *_a, **_k: ChainReport(count=4).fail(
            5, "cannot verify", missing_key="audit-19700101000000-000000"
        ),
    )
    sign_in_client(client, db, world["auditor_p"])
    before = _count(db, action="audit.verify")
    r = browser.post("/audit/verify", token_from="/audit/status", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "5" in page and "BROKEN" not in page and "MẤT TOÀN VẸN" not in page
    assert _count(db, action="audit.verify") == before


def test_one_account_cannot_both_administer_and_audit(app, db, world):
    """Separation of duties: granting auditor to an administrator (or the reverse) is
    refused with a clear message and changes nothing."""
    from caseapp.errors import ValidationFailed
    from caseapp.models import Grant, User
    from caseapp.services.accounts import approvals

    province = db.get(Unit, world.units["PRV"])
    district = db.get(Unit, world.units["D1"])
    for holder, role in ((world["admin_d1"], "auditor"), (world["auditor_p"], "admin")):
        person = db.get(User, holder.id)
        before = _count(db)
        grants = db.scalar(
            select(func.count()).select_from(Grant).where(Grant.user_id == person.id)
        )
        with app.test_request_context(), pytest.raises(ValidationFailed):
            approvals.request_grant(db, db.get(User, world["admin_p"].id), person, role, district)
        assert _count(db) == before
        assert (
            db.scalar(select(func.count()).select_from(Grant).where(Grant.user_id == person.id))
            == grants
        )
    assert province is not None


def test_an_auditor_never_sees_their_own_actions(client, db, world):
    """Even an account that held both roles before the rule (or any auditor) does not review
    itself: its own events are left out of the list, the detail and the export."""
    from caseapp.services.audit.trail import record

    auditor = db.get(Unit, world.units["PRV"])
    person = make_user(db, keyring(), "auditor.self", auditor, [("auditor", auditor)])
    from caseapp.models import User

    own = record(
        db,
        db.get(User, person.id),
        "user.disable",
        unit=auditor,
        object_type="users",
        object_id="1",
        object_ref="focal.b",
    )
    db.flush()
    sign_in_client(client, db, person)
    assert client.get(f"/audit/events/{own.seq}").status_code == 404
    listing = client.get("/audit/events?actor=auditor.self").get_data(as_text=True)
    assert f'href="/audit/events/{own.seq}"' not in listing
    other = db.scalar(select(AuditEvent.seq).where(AuditEvent.actor_name == "admin.p").limit(1))
    if other is not None:
        assert client.get(f"/audit/events/{other}").status_code == 200


def test_csv_times_carry_their_offset(client, db, world):
    import re

    sign_in_client(client, db, world["auditor_p"])
    text = client.get("/audit/events.csv?action=user.create").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows and all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", r["at"]) for r in rows
    )


def test_an_event_reads_in_words_with_its_codes_beside(client, db, world):
    """Field names and coded values in the reader's language, dates as dd/mm/yyyy, sealed
    fields as "changed"; the raw codes stay visible beside them for the record."""
    import html as html_lib

    from caseapp.services.audit.trail import record

    unit = db.get(Unit, world.units["SCH-A"])
    event = record(
        db,
        None,
        "case.update",
        unit=unit,
        object_type="cases",
        object_id="1",
        object_ref="SCH-A-2026-0001",
        changes={
            "risk_level": ["medium", "high"],
            "narrative": "changed",
            "incident_on": [None, "2026-11-20"],
        },
    )
    db.flush()
    sign_in_client(client, db, world["auditor_p"])
    with client.session_transaction() as sess:
        sess["lang"] = "en"
    page = html_lib.unescape(client.get(f"/audit/events/{event.seq}").get_data(as_text=True))
    for text in (
        "Risk level",
        "Medium",
        "High",
        "What happened",
        "changed",
        "20/11/2026",
        "Case edited",
        "Case SCH-A-2026-0001",
        "risk_level",
        "case.update",
    ):
        assert text in page, text
    assert "2026-11-20" not in page and "None" not in page


def test_the_list_shows_each_reason_and_filters_on_it(client, db, world):
    """An auditor reads why an officer opened a case without opening each event, and finds
    the events by a piece of their reason: any case, any accents, nothing spliced into SQL."""
    import html as html_lib

    from caseapp.services.audit.trail import record

    unit = db.get(Unit, world.units["SCH-A"])
    reasons = {
        "REF-REASON-1": "Xác minh theo đề nghị của Sở Giáo dục",
        "REF-REASON-2": "Kiểm tra định kỳ",
        "REF-REASON-3": "100% sure it's_fine",
    }
    for ref, reason in reasons.items():
        record(
            db,
            None,
            "case.view_confidential",
            unit=unit,
            object_type="cases",
            object_id="1",
            object_ref=ref,
            reason=reason,
        )
    db.flush()
    sign_in_client(client, db, world["auditor_p"])
    with client.session_transaction() as sess:
        sess["lang"] = "en"

    def found(query: str) -> tuple[int, set[str], str]:
        r = client.get(
            "/audit/events", query_string={"action": "case.view_confidential", "reason": query}
        )
        page = html_lib.unescape(r.get_data(as_text=True))
        return r.status_code, {ref for ref in reasons if ref in page}, page

    status, refs, page = found("")
    assert status == 200 and refs == set(reasons)
    assert "<th>Reason</th>" in page and 'data-label="Reason"' in page
    assert all(reason in page for reason in reasons.values())
    assert found("so giao duc")[1] == {"REF-REASON-1"}
    assert found("SỞ GIÁO")[1] == {"REF-REASON-1"}
    assert found("  kiem   TRA ")[1] == {"REF-REASON-2"}
    assert found("định")[1] == {"REF-REASON-2"}
    assert found("100%")[1] == {"REF-REASON-3"}
    assert found("s_fine")[1] == {"REF-REASON-3"}  # an underscore is no wildcard
    assert found("t'S_")[1] == {"REF-REASON-3"}
    assert found("%")[1] == {"REF-REASON-3"}
    assert found(".*")[1] == set()  # nor a dot, nor a star
    assert found("' OR 1=1 --")[1] == set()
    # A reason too long or holding control characters is refused like the other filters.
    for bad in ("x" * 101, "kiem\x00tra", "kiem\x1btra"):
        status, refs, page = found(bad)
        assert status == 200
        assert "Some filters are not valid; they were ignored." in page
    r = client.get("/audit/events.csv", query_string={"reason": "so giao duc"})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row["object_ref"] for row in rows] == ["REF-REASON-1"]
    # The export is audited without the words searched for: only that a reason was given.
    exported = db.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "audit.export")
        .order_by(AuditEvent.seq.desc())
    )
    assert json.loads(exported.changes)["filters"] == {"reason": "given"}
    assert "giao" not in (exported.changes or "") and "giao" not in (exported.reason or "")


def test_the_export_reads_each_event_of_its_selection_once_in_order(db, world):
    """export_batches walks the selection a batch at a time from the last number read: every
    event once, in order, across batch ends, as plain rows with their reasons opened."""
    from caseapp.services.audit import queries as audit_queries

    auditor = db.get(User, world["auditor_p"].id)
    selection = audit_queries.filtered_until_now(db, auditor, audit_queries.EventFilter())
    # An event recorded after the selection was made is not part of it (nor of its count).
    record(db, None, "user.update", unit=db.get(Unit, world.units["SCH-A"]), object_ref="late")
    db.flush()
    expected = list(
        db.scalars(selection.with_only_columns(AuditEvent.seq).order_by(AuditEvent.seq))
    )
    assert len(expected) > 7
    batches = list(audit_queries.export_batches(db, selection, batch=3))
    assert [len(b) for b in batches[:-1]] == [3] * (len(batches) - 1)
    rows = [row for batch in batches for row, _reason in batch]
    assert [row.seq for row in rows] == expected
    assert all(len(row) == len(audit_queries.EXPORT_COLUMNS) for row in rows)
    assert audit_queries.more_than(db, selection, len(expected) - 1)
    assert not audit_queries.more_than(db, selection, len(expected))
    assert "late" not in {row.object_ref for row in rows}


def test_an_exported_row_is_the_event_as_recorded(client, db, world):
    """The CSV's columns, in order, for one known event: its time in Vietnam time with the
    offset, its texts as recorded, a text that would start a formula made inert."""
    from caseapp.services.audit import queries as audit_queries

    record(
        db,
        None,
        "user.update",
        unit=db.get(Unit, world.units["SCH-A"]),
        object_type="users",
        object_ref="=HYPERLINK(1)",
        changes={"note": ["-", "+1"]},
    )
    db.commit()
    event = db.scalar(select(AuditEvent).where(AuditEvent.object_ref == "=HYPERLINK(1)"))
    sign_in_client(client, db, world["auditor_p"])
    text = client.get("/audit/events.csv?reference==HYPERLINK(1)").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == list(audit_queries.EXPORT_COLUMNS)
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
    expected = {
        "seq": str(event.seq),
        "at": at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).isoformat(timespec="seconds"),
        "action": "user.update",
        "object_type": "users",
        "object_ref": "'=HYPERLINK(1)",
        "changes": event.changes,
        "unit_path": event.unit_path,
        "actor_name": event.actor_name,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "key_id": event.key_id,
    }
    assert len(rows) == 2
    assert expected["at"].endswith("+07:00")
    assert {k: v for k, v in zip(rows[0], rows[1], strict=True) if k in expected} == expected


def test_the_trail_keeps_only_its_filters_in_links_and_refuses_to_export_bad_ones(
    client, db, world
):
    """Keys other than the filters' are dropped from the links the trail makes (url_for would
    take some as options of its own); an export with filters that are not valid exports
    nothing and records nothing."""
    sign_in_client(client, db, world["auditor_p"])
    odd = "?action=user.create&_method=POST&endpoint=x&_scheme=http&_external=1"
    page = client.get(f"/audit/events{odd}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="/audit/events.csv?action=user.create"' in html
    r = client.get(f"/audit/events.csv{odd}&date_from=2026-13-40")
    assert r.status_code == 302
    back = urlsplit(r.headers["Location"])
    assert back.path == "/audit/events"
    assert dict(parse_qsl(back.query)) == {"action": "user.create", "date_from": "2026-13-40"}
    head = db.scalar(select(func.max(AuditEvent.seq)))
    r = client.get("/audit/events.csv?date_from=notadate")
    assert r.status_code == 302 and db.scalar(select(func.max(AuditEvent.seq))) == head
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Chưa xuất tệp nào: hãy sửa bộ lọc trước." in page


def test_the_filter_offers_every_action_recorded_and_finds_a_person_who_left(client, db, world):
    """The actions the filter offers are every action recorded, each once, in order, read one
    after the other from the index (queries.known_actions): the same as reading every event,
    an action recorded once long ago included. A person's events are found by their name."""
    from caseapp.services.audit import queries
    from caseapp.services.audit.trail import record

    record(db, None, "zz.recorded_once")
    db.flush()
    everything = sorted(set(db.scalars(select(AuditEvent.action))))
    assert queries.known_actions(db) == everything and "zz.recorded_once" in everything
    sign_in_client(client, db, world["auditor_p"])
    html = client.get("/audit/events").get_data(as_text=True)
    assert 'value="zz.recorded_once"' in html
    found = client.get("/audit/events?actor=system&action=user.grant").get_data(as_text=True)
    assert "user.grant" in found


def test_no_action_is_offered_when_nothing_is_recorded(fresh_engine):
    from sqlalchemy.orm import Session

    from caseapp import migrate
    from caseapp.services.audit import queries

    migrate.upgrade(fresh_engine)
    with Session(fresh_engine) as session:
        assert queries.known_actions(session) == []
