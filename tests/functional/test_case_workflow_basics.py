"""Case basics under pressure: sequential references (also under concurrent intake), stale edits,
append-only notes, attachment limits, audited downloads, the two-party consent rule, repeat
alerts across spellings, refused intake input, and one audit event per change."""

from __future__ import annotations

import io
import json
import re
import secrets
import threading
import time
import unicodedata
from datetime import date, timedelta
from urllib.parse import quote

import pytest
from markupsafe import escape
from sqlalchemy import select

from caseapp import models
from caseapp.clock import local_today
from caseapp.models import AuditEvent, Case, CaseAttachment, CaseConsent, CaseCounter, CaseNote
from caseapp.models import cases as domain
from caseapp.runtime import keyring
from caseapp.services.audit import integrity as audit_integrity
from caseapp.services.cases import intake as cases
from caseapp.services.cases import records as case_records
from tests.factories import Visitor, make_unit, make_user, reason_of, stored_files
from tests.functional.admin_support import translated
from tests.functional.case_attack_support import (
    actions_after,
    audit_head,
    case_details,
    contains_canary,
    form_fields,
    narrative_of,
    page_text,
    row_counts,
)
from tests.functional.case_support import CANARY, intake_form

pytestmark = pytest.mark.usefixtures("clean_store")


# --- references -------------------------------------------------------------------------------


def _last(db, unit_id: int, year: int) -> int:
    return (
        db.scalar(
            select(CaseCounter.last_number).where(
                CaseCounter.unit_id == unit_id, CaseCounter.year == year
            )
        )
        or 0
    )


def test_references_are_sequential_per_school_and_year(app, db, world):
    a, b = Visitor(app, db, world["focal_a"]), Visitor(app, db, world["focal_b"])
    sch_a, sch_b = world.units["SCH-A"], world.units["SCH-B"]
    today = local_today()
    year, last_year = today.year, today.year - 1
    base_a, base_b, base_old = (
        _last(db, sch_a, year),
        _last(db, sch_b, year),
        _last(db, sch_a, last_year),
    )
    refs = [a.intake(db, sch_a).reference]
    # A refused intake takes no number.
    refused = a.post(
        "/cases/new", intake_form(sch_a, received_on=(today + timedelta(days=1)).isoformat())
    )
    assert refused.status_code == 400
    refs.append(a.intake(db, sch_a).reference)
    refs.append(b.intake(db, sch_b).reference)
    refs.append(a.intake(db, sch_a).reference)
    refs.append(a.intake(db, sch_a, received_on=date(last_year, 12, 31).isoformat()).reference)
    assert refs == [
        f"SCH-A-{year}-{base_a + 1:04d}",
        f"SCH-A-{year}-{base_a + 2:04d}",
        f"SCH-B-{year}-{base_b + 1:04d}",
        f"SCH-A-{year}-{base_a + 3:04d}",
        f"SCH-A-{last_year}-{base_old + 1:04d}",
    ]
    if base_a == base_b == 0:  # as in a clean run: every test rolls back
        assert refs[0] == f"SCH-A-{year}-0001" and refs[2] == f"SCH-B-{year}-0001"


@pytest.mark.postgres
def test_concurrent_intake_gets_unique_gap_free_references(app, database, world):
    """Eight intakes at one school at once, each in its own session and committed for real:
    a fresh unit tree, so no other test sees these cases."""
    if database.dialect != "postgresql":
        pytest.skip(
            "SQLite serialises every writer; the row lock on the counter is what "
            "PostgreSQL needs proven"
        )
    from caseapp.db import get_session

    threads, tag = 8, secrets.token_hex(3).upper()
    with app.app_context():
        s = get_session()
        root = make_unit(s, None, f"CC{tag}", "province")
        school = make_unit(s, root, f"CC{tag}-S", "school")
        person = make_user(s, keyring(), f"conc.{tag.lower()}", school, [("focal_point", school)])
        s.commit()
        unit_id = school.id
    errors: list[Exception] = []
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        try:
            with app.app_context():
                session = get_session()
                actor = session.get(models.User, person.id)
                unit = session.get(models.Unit, unit_id)
                content = cases.CaseContent(narrative=f"luồng {n}")
                barrier.wait(timeout=30)
                cases.create_case(
                    session, actor, unit, case_details(violence_types=["cyber"]), content
                )
                session.commit()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors, errors
    year = local_today().year
    with app.app_context():
        s = get_session()
        refs = s.scalars(select(Case.reference).where(Case.unit_id == unit_id)).all()
        assert sorted(refs) == [f"CC{tag}-S-{year}-{n:04d}" for n in range(1, threads + 1)]
        assert _last(s, unit_id, year) == threads
        report = audit_integrity.verify(s, keyring())
        assert report.ok, report.problem


# --- optimistic locking -----------------------------------------------------------------------


def test_a_stale_edit_is_a_conflict_and_can_be_resubmitted(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    url = f"/cases/{case.public_id}/edit"
    first, second = form_fields(focal.get(url), url), form_fields(focal.get(url), url)
    assert first["version"] == second["version"] == str(case.version)
    first["risk_level"] = "high"
    assert focal.post(url, first).status_code == 302
    second.update(received_via="phone", narrative="Lời kể của người sửa thứ hai")
    start = audit_head(db)
    r = focal.post(url, second)
    assert r.status_code == 409
    page = page_text(r)
    assert translated(app, "Risk level") in page  # the field the other person changed
    assert translated(app, "Where it happened") not in page  # and no field that did not
    assert actions_after(db, start) == []
    db.expire_all()
    saved = db.get(Case, case.id)
    assert (saved.risk_level, saved.received_via, saved.version) == ("high", "in_person", 2)
    assert narrative_of(saved) == f"{CANARY}-narrative"
    # Sending my version again from the conflict page replaces theirs.
    again = form_fields(r, url)
    assert again["version"] == "2"
    assert focal.post(url, again).status_code == 302
    db.expire_all()
    saved = db.get(Case, case.id)
    assert (saved.risk_level, saved.received_via, saved.version) == ("medium", "phone", 3)
    assert narrative_of(saved) == "Lời kể của người sửa thứ hai"


# --- notes --------------------------------------------------------------------------------------


def _notes(db, case) -> list[CaseNote]:
    db.expire_all()
    return list(
        db.scalars(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id))
    )


def test_notes_are_append_only(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    case, other = (focal.intake(db, world.units["SCH-A"]) for _ in range(2))
    base = f"/cases/{case.public_id}"
    assert focal.post(f"{base}/notes", {"body": "Ghi chú đầu tiên"}).status_code == 302
    (first,) = _notes(db, case)
    sealed = bytes(first.body)
    r = focal.post(f"{base}/notes", {"body": "Đính chính", "corrects_id": str(first.id)})
    assert r.status_code == 302
    first_again, correction = _notes(db, case)
    assert bytes(first_again.body) == sealed and correction.corrects_id == first.id
    page = page_text(focal.get(f"{base}/confidential"))
    assert "Ghi chú đầu tiên" in page and "Đính chính" in page
    assert translated(app, "corrects note %(id)d", id=first.id) in page
    # No route changes or removes a note.
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/cases"):
            assert not {"PUT", "PATCH", "DELETE"} & rule.methods, rule.rule
        if "note" in rule.rule or "note" in rule.endpoint:
            assert (rule.endpoint, rule.rule) == ("cases.add_note", "/cases/<public_id>/notes")
    counts = row_counts(db)
    one = f"{base}/notes/{first.id}"
    for method, url in [
        ("DELETE", f"{base}/notes"),
        ("PUT", f"{base}/notes"),
        ("PATCH", f"{base}/notes"),
        ("POST", one),
        ("POST", f"{one}/edit"),
        ("POST", f"{one}/delete"),
        ("GET", one),
    ]:
        r = focal.client.open(url, method=method, data={"csrf_token": focal.token(), "body": "x"})
        assert r.status_code in (404, 405), (method, url, r.status_code)
    # A correction may only point at a note of the same case.
    r = focal.post(
        f"/cases/{other.public_id}/notes", {"body": "Sai hồ sơ", "corrects_id": str(first.id)}
    )
    assert r.status_code == 302
    assert row_counts(db) == counts
    assert [bytes(n.body) for n in _notes(db, case)][0] == sealed and _notes(db, other) == []


# --- attachments ----------------------------------------------------------------------------

ACCEPTED = "This kind of file is not accepted. Use PDF, JPEG, PNG, WebP, HEIC, Word or plain text."
LIMITS = {  # content (or a size past the limit), file name, declared type, message
    "one byte too large": (1, "lon.txt", "text/plain", "The file is larger than %(n)d MB."),
    "wrong type": (b"MZ\x90\x00\x03", "cong-cu.exe", "application/x-msdownload", ACCEPTED),
    "html": (b"<script>alert(1)</script>", "trang.html", "text/html", ACCEPTED),
    "png that is not": (
        b"<html>not a png</html>",
        "anh.png",
        "image/png",
        "The file's content does not match its type.",
    ),
    "pdf that is not": (
        b"MZ\x90\x00 not a pdf",
        "bien-ban.pdf",
        "application/pdf",
        "The file's content does not match its type.",
    ),
    "empty": (b"", "rong.txt", "text/plain", "The file is empty."),
}


@pytest.mark.parametrize("name", list(LIMITS))
def test_attachment_limits_store_nothing(app, db, world, settings, name):
    content, filename, content_type, message = LIMITS[name]
    if isinstance(content, int):
        content = b"a" * (settings.attachment_max_bytes + content)
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    files, start = stored_files(settings), audit_head(db)
    r = focal.attach(case, content, filename, content_type, follow_redirects=True)
    assert r.status_code == 200
    expected = translated(app, message, n=settings.attachment_max_bytes // (1024 * 1024))
    assert expected in page_text(r)
    assert stored_files(settings) == files
    assert db.scalar(select(CaseAttachment.id).where(CaseAttachment.case_id == case.id)) is None
    assert "attachment.add" not in actions_after(db, start)


def test_a_download_is_audited_and_never_cached(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    content, name = b"%PDF-1.4\n% bien ban\n", "Biên bản họp lớp 7A; tập 1.pdf"
    assert focal.attach(case, content, name, "application/pdf").status_code == 302
    attachment = db.scalar(select(CaseAttachment).where(CaseAttachment.case_id == case.id))
    url = f"/cases/{case.public_id}/attachments/{attachment.uid}"
    start = audit_head(db)
    r = focal.get(url)
    assert r.status_code == 200 and r.data == content
    assert "no-store" in r.headers["Cache-Control"]
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and quote(name) in disposition
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    officer = Visitor(app, db, world["officer_d1"])
    r = officer.post(url, {"reason": "Đối chiếu biên bản"})
    assert r.status_code == 200 and r.data == content and "no-store" in r.headers["Cache-Control"]
    events = list(
        db.scalars(select(AuditEvent).where(AuditEvent.seq > start).order_by(AuditEvent.seq))
    )
    assert [(e.action, e.actor_name, e.object_id, e.object_ref) for e in events] == [
        ("attachment.download", "focal.a", str(attachment.id), case.reference),
        ("attachment.download", "officer.d1", str(attachment.id), case.reference),
    ]
    assert reason_of(db, events[1]) == "Đối chiếu biên bản"


# --- consent --------------------------------------------------------------------------------

CONSENT = {  # intake answers, whose consent counts for a referral
    "child of 12": (
        {"harmed_age_band": "11-14", "harmed_age_years": "12"},
        ("person_harmed", "guardian"),
    ),
    "adult": (
        {
            "child": None,
            "harmed_age_band": "18-24",
            "harmed_age_years": "19",
            "harmed_role": "teacher",
        },
        ("person_harmed",),
    ),
    "child of 5": ({"harmed_age_band": "0-5", "harmed_age_years": "5"}, ("guardian",)),
}


def _page_says_given(app, actor, case) -> bool:
    raw = actor.get(f"/cases/{case.public_id}").get_data(as_text=True)
    purpose = escape(translated(app, "Referral to services"))
    match = re.search(re.escape(str(purpose)) + r':\s*<strong class="(ok|bad)">', raw)
    assert match, "the case page shows no referral consent line"
    return match.group(1) == "ok"


@pytest.mark.parametrize("who", list(CONSENT))
def test_consent_for_a_referral(app, db, world, who):
    answers, required = CONSENT[who]
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"], **answers)
    base, today = f"/cases/{case.public_id}", local_today().isoformat()
    assert case_records.parties_required(case.harmed_people[0]) == required

    def give(party):
        r = focal.post(
            f"{base}/consents",
            {"party": party, "purpose": "referral", "given_on": today, "notice_given": "y"},
        )
        assert r.status_code == 302
        db.expire_all()

    def given() -> bool:
        by_service = case_records.has_consent(db, db.get(Case, case.id), "referral")
        assert _page_says_given(app, focal, case) == by_service
        return by_service

    for party in sorted(set(domain.CONSENT_PARTIES) - set(required)):
        give(party)  # consent of someone whose consent does not count here
        assert not given()
    for party in required[:-1]:
        give(party)
        assert not given()
    give(required[-1])
    assert given()
    consent = db.scalar(
        select(CaseConsent).where(CaseConsent.case_id == case.id, CaseConsent.party == required[0])
    )
    r = focal.post(
        f"{base}/consents/{consent.id}/withdraw", {"withdrawn_on": today, "confirm": "y"}
    )
    assert r.status_code == 302
    db.expire_all()
    assert not given()


def test_withdrawing_a_consent_asks_first(app, db, world):
    """The page's withdrawal form carries no date and no tick: sent as shown, or with a date
    but unticked, it withdraws nothing; the typed date and the tick withdraw it, audited now."""
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    base, today = f"/cases/{case.public_id}", local_today()
    r = focal.post(
        f"{base}/consents",
        {
            "party": "guardian",
            "purpose": "sharing",
            "given_on": str(today - timedelta(days=3)),
            "notice_given": "y",
        },
    )
    assert r.status_code == 302
    consent = db.scalar(select(CaseConsent).where(CaseConsent.case_id == case.id))
    action = f"{base}/consents/{consent.id}/withdraw"
    page = focal.get(base)
    shown = form_fields(page, action)
    assert shown.get("withdrawn_on", "") == "" and "confirm" not in shown
    raw = page.get_data(as_text=True)
    assert re.search(
        r'<input[^>]*type="checkbox"[^>]*name="confirm"|name="confirm"[^>]*'
        r'type="checkbox"',
        raw,
    )
    assert translated(app, "I confirm the withdrawal") in page_text(page)
    typed = (today - timedelta(days=1)).isoformat()
    seq = audit_head(db)
    for data in (shown, {**shown, "withdrawn_on": typed}, {**shown, "confirm": "y"}):
        r = focal.post(action, data)
        assert r.status_code == 302
        db.expire_all()
        assert db.get(CaseConsent, consent.id).withdrawn_on is None
    assert actions_after(db, seq) == []
    r = focal.post(action, {**shown, "withdrawn_on": typed, "confirm": "y"})
    assert r.status_code == 302
    db.expire_all()
    assert db.get(CaseConsent, consent.id).withdrawn_on == today - timedelta(days=1)
    assert actions_after(db, seq) == ["consent.withdraw"]
    event = db.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert abs(event.at.timestamp() - time.time()) < 300


# --- repeat alerts ----------------------------------------------------------------------------

REPEAT = (
    "The same name of an alleged perpetrator (accents ignored) appears in %(n)d other "
    "cases you can see."
)
SPELLINGS = [
    "tran van hung",
    "TRẦN VĂN HÙNG",
    "  Trần   Văn Hùng ",
    unicodedata.normalize("NFD", "Trần Văn Hùng"),
    "Trần văn hùng; Lê Văn Tám",
]


def _alert(app, actor, case) -> int:
    page = page_text(actor.get(f"/cases/{case.public_id}"))
    shown = [n for n in range(1, 6) if translated(app, REPEAT, n=n) in page]
    assert len(shown) <= 1
    return shown[0] if shown else 0


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_repeat_alerts_match_spellings_within_scope(app, db, world, spelling):
    a, c = Visitor(app, db, world["focal_a"]), Visitor(app, db, world["focal_c"])
    one = a.intake(
        db, world.units["SCH-A"], perpetrator_names="Trần Văn  Hùng", harmed_name="Lê Thị Mai"
    )
    a.intake(db, world.units["SCH-A"], perpetrator_names=spelling, harmed_name="Phạm Thị Lan")
    far = c.intake(
        db, world.units["SCH-C"], perpetrator_names="Trần Văn Hùng", harmed_name="Đỗ Thị Hoa"
    )
    unrelated = a.intake(
        db, world.units["SCH-A"], perpetrator_names="Nguyễn Văn Bình", harmed_name="Vũ Thị Hà"
    )
    officer_d1, officer_p = (Visitor(app, db, world[w]) for w in ("officer_d1", "officer_p"))
    assert _alert(app, a, one) == 1  # the other case at the school; SCH-C is not counted
    assert _alert(app, officer_d1, one) == 1
    assert _alert(app, officer_p, one) == 2  # the province sees the SCH-C case too
    assert _alert(app, c, far) == 0
    assert _alert(app, officer_p, far) == 2
    assert _alert(app, a, unrelated) == 0


# --- intake input -----------------------------------------------------------------------------

FORM_ERROR = "Some answers need your attention. Nothing was saved."
BAD_INTAKE = {  # answers, the message shown ({...}: a date or id filled in by the test)
    "overlong narrative": (
        {"narrative": "x" * (domain.CONFIDENTIAL_MAX["narrative"] + 1)},
        FORM_ERROR,
    ),
    "NUL in the narrative": ({"narrative": "a\x00b"}, FORM_ERROR),
    "control character in a name": ({"harmed_name": "Mai\x07"}, FORM_ERROR),
    "unknown choice": ({"received_via": "carrier_pigeon"}, FORM_ERROR),
    "unknown violence type": ({"violence_types": ["physical", "witchcraft"]}, FORM_ERROR),
    "no violence type": ({"violence_types": None}, FORM_ERROR),
    "too many perpetrators": ({"perpetrator_count": "51"}, FORM_ERROR),
    "another school": ({"unit_id": "{SCH-B}"}, FORM_ERROR),
    "future received date": (
        {"received_on": "{tomorrow}"},
        "The date received cannot be in the future.",
    ),
    "incident after received": (
        {"received_on": "{d5}", "incident_on": "{d2}"},
        "The incident cannot be after the date the case was received.",
    ),
    "age not matching the band": (
        {"harmed_age_years": "30"},
        "The age does not match the age band.",
    ),
    "a child in an adult band": (
        {"harmed_age_band": "25-59", "harmed_age_years": None},
        "A child is under 16: the age band does not match.",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INTAKE))
def test_bad_intake_input_is_refused_and_creates_nothing(app, db, world, name):
    overrides, message = BAD_INTAKE[name]
    today = local_today()
    values = {
        "tomorrow": today + timedelta(days=1),
        "d5": today - timedelta(days=5),
        "d2": today - timedelta(days=2),
        "SCH-B": world.units["SCH-B"],
    }
    form = intake_form(world.units["SCH-A"], received_on=today.isoformat())
    form.update(
        {
            k: (str(values[v[1:-1]]) if isinstance(v, str) and v.startswith("{") else v)
            for k, v in overrides.items()
        }
    )
    form = {k: v for k, v in form.items() if v is not None}
    focal = Visitor(app, db, world["focal_a"])
    assert focal.token()
    counts = row_counts(db)
    r = focal.post("/cases/new", form)
    assert r.status_code == 400
    assert translated(app, message) in page_text(r)
    assert row_counts(db) == counts


# --- one audit event per change ---------------------------------------------------------------

CONTENT_FIELDS = (*domain.CONFIDENTIAL_FIELDS, "informant_name", "informant_contact")


def test_every_change_writes_exactly_one_audit_event(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    assert focal.token()
    sch_a, today = world.units["SCH-A"], local_today().isoformat()

    def change(action: str, url: str, data: dict, table: str | None = None) -> AuditEvent:
        start, before = audit_head(db), row_counts(db)
        r = focal.client.post(url, data={"csrf_token": focal.token(), **data})
        assert r.status_code == 302, (action, r.status_code)
        db.expire_all()
        events = list(db.scalars(select(AuditEvent).where(AuditEvent.seq > start)))
        assert [e.action for e in events] == [action]
        if table:
            assert row_counts(db)[table] == before[table] + 1, table
        return events[0]

    created = change("case.create", "/cases/new", intake_form(sch_a, received_on=today), "cases")
    case = db.scalar(select(Case).where(Case.reference == created.object_ref))
    base = f"/cases/{case.public_id}"
    form = form_fields(focal.get(f"{base}/edit"), f"{base}/edit")
    form.update({name: f"{CANARY}-{name}-v2" for name in CONTENT_FIELDS}, risk_level="high")
    updated = change("case.update", f"{base}/edit", form)
    changes = json.loads(updated.changes)
    assert {name: changes.get(name) for name in CONTENT_FIELDS} == dict.fromkeys(
        CONTENT_FIELDS, "changed"
    )
    assert changes["risk_level"] == ["medium", "high"]
    for ev in (created, updated):
        assert not contains_canary(ev.changes) and CANARY not in ev.changes
    # Saving the form again unchanged is no change: no event.
    same = form_fields(focal.get(f"{base}/edit"), f"{base}/edit")
    start = audit_head(db)
    assert focal.post(f"{base}/edit", same).status_code == 302
    assert actions_after(db, start) == []
    events = [
        created,
        updated,
        change("note.add", f"{base}/notes", {"body": "Ghi chú"}, "case_notes"),
        change("note.add", f"{base}/notes", {"body": "Ghi chú thứ hai"}, "case_notes"),
        change(
            "attachment.add",
            f"{base}/attachments",
            {"file": (io.BytesIO(b"noi dung"), "a.txt", "text/plain")},
            "case_attachments",
        ),
        change(
            "consent.record",
            f"{base}/consents",
            {"party": "guardian", "purpose": "sharing", "given_on": today, "notice_given": "y"},
            "case_consents",
        ),
    ]
    consent = db.scalar(select(CaseConsent).where(CaseConsent.case_id == case.id))
    events.append(
        change(
            "consent.withdraw",
            f"{base}/consents/{consent.id}/withdraw",
            {"withdrawn_on": today, "confirm": "y"},
        )
    )
    events.append(
        change(
            "case.exclude",
            f"{base}/exclusions",
            {"person": str(world["officer_p"].id), "reason": "Có quan hệ họ hàng"},
            "case_exclusions",
        )
    )
    assert {e.object_ref for e in events} == {case.reference}
    assert all(e.actor_name == "focal.a" for e in events)
