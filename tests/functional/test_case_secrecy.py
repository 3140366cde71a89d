"""Confidential content never leaves its envelope: a canary written into every confidential field
is found nowhere it should not be; moved, damaged or orphaned ciphertext does not decrypt; key
rotation keeps everything readable; destroying a case's key shreds its content only."""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from caseapp.errors import ValidationFailed
from caseapp.models import (
    AuditEvent,
    Case,
    CaseAttachment,
    CaseNote,
    CaseViolenceType,
    Unit,
    User,
)
from caseapp.runtime import keyring
from caseapp.security import envelope
from caseapp.security.crypto import DecryptionError
from caseapp.services.cases import content as case_content
from caseapp.services.cases import intake as cases
from caseapp.services.cases import records as case_records
from tests.factories import Visitor, stored_files
from tests.functional.case_attack_support import (
    audit_head,
    case_details,
    contains_canary,
    database_hits,
    form_fields,
)
from tests.functional.case_support import CANARY

FILE_CONTENT = f"{CANARY}-file-content ".encode() * 40


# Sealed files written by a test are removed afterwards (their rows are rolled back).
pytestmark = pytest.mark.usefixtures("clean_store")


@dataclass
class Flow:
    case: Case
    start_seq: int
    new_files: set[str]
    pages: dict[str, str]


@pytest.fixture()
def flow(app, db, world, settings) -> Flow:
    """A case whose every confidential field, note, file and file name holds the canary, edited,
    read by its focal point and (with a reason) by an officer, its file downloaded."""
    start, files = audit_head(db), stored_files(settings)
    focal = Visitor(app, db, world["focal_a"])
    # Immediate danger: officers are notified too, and the notices are scanned with the rest.
    case = focal.intake(db, world.units["SCH-A"], risk_level="immediate")
    base = f"/cases/{case.public_id}"
    edit = form_fields(focal.get(f"{base}/edit"), f"{base}/edit")
    edit.update(narrative=f"{CANARY}-narrative-v2")
    assert focal.post(f"{base}/edit", edit).status_code == 302
    harmed = f"{base}/persons/{case.harmed_people[0].uid}/edit"
    person = form_fields(focal.get(harmed), harmed)
    person.update(contact=f"{CANARY}-contact-v2")
    assert focal.post(harmed, person).status_code == 302
    assert focal.post(f"{base}/notes", {"body": f"{CANARY}-note"}).status_code == 302
    first = db.scalar(select(CaseNote.id).where(CaseNote.case_id == case.id))
    assert (
        focal.post(
            f"{base}/notes", {"body": f"{CANARY}-correction", "corrects_id": str(first)}
        ).status_code
        == 302
    )
    assert (
        focal.post(
            f"{base}/steps",
            {
                "kind": "support",
                "service": "counselling",
                "status": "planned",
                "details": f"{CANARY}-step",
            },
        ).status_code
        == 302
    )
    assert focal.attach(case, FILE_CONTENT, f"{CANARY}-file.txt", "text/plain").status_code == 302
    uid = db.scalar(select(CaseAttachment.uid).where(CaseAttachment.case_id == case.id))
    assert uid, "the upload was not stored"
    page = focal.get(f"{base}/confidential").get_data(as_text=True)
    for part in (
        "narrative-v2",
        "harmed",
        "gcontact",
        "perp",
        "informant",
        "note",
        "step",
        "file.txt",
    ):
        assert f"{CANARY}-{part}" in page, part  # the content is there for those who may read it
    assert focal.get(f"{base}/attachments/{uid}").data == FILE_CONTENT
    officer = Visitor(app, db, world["officer_d1"])
    r = officer.post(f"{base}/confidential", {"reason": "Theo dõi tiến độ xác minh"})
    assert r.status_code == 200 and f"{CANARY}-narrative-v2" in r.get_data(as_text=True)
    pages = {}
    for who, actor in (
        ("focal_a", focal),
        ("officer_d1", officer),
        ("officer_p", Visitor(app, db, world["officer_p"])),
    ):
        for label, url in (
            ("case", base),
            ("list", "/cases/"),
            ("search", f"/cases/?q={case.reference}&unit=SCH-A"),
        ):
            r = actor.get(url)
            assert r.status_code == 200, (who, url)
            pages[f"{who} {label}"] = r.get_data(as_text=True)
    db.expire_all()
    return Flow(case, start, stored_files(settings) - files, pages)


def test_the_scan_finds_a_planted_canary(db, world):
    """The database scan is not blind: clear text or bytes holding the canary are found."""
    nested = db.begin_nested()
    db.execute(
        text("UPDATE units SET name = :v WHERE id = :i"),
        {"v": f"Trường {CANARY.lower()}", "i": world.units["SCH-A"]},
    )
    db.execute(
        text("UPDATE users SET totp_secret = :v WHERE id = :i"),
        {"v": b"\x00" + CANARY.encode(), "i": world["focal_a"].id},
    )
    assert {"units.name", "users.totp_secret"} <= set(database_hits(db))
    nested.rollback()


def test_no_table_holds_the_canary(flow, db):
    notices = db.execute(
        text("SELECT count(*) FROM notifications WHERE case_id = :c"), {"c": flow.case.id}
    ).scalar()
    assert notices, "the urgent case notified no officer: the scan would miss the notices"
    assert database_hits(db) == []


@pytest.mark.usefixtures("spill")  # set up before the flow writes
def test_the_database_file_does_not_hold_the_canary(flow, db, database):
    if database.dialect != "sqlite":
        pytest.skip(
            "PostgreSQL: the column scan of test_no_table_holds_the_canary reads the "
            "server's rows; its files are not ours to read"
        )
    path = Path(make_url(database.url).database)
    raw = b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
    # The transaction's rows did reach the file: the scan below looks at the right bytes.
    for sealed in (flow.case.narrative, flow.case.people[0].name, flow.case.wrapped_key):
        assert sealed in raw
    assert not contains_canary(raw)


def test_the_attachment_store_does_not_hold_the_canary(flow, settings):
    assert flow.new_files, "the upload wrote no file"
    for name in stored_files(settings):
        path = settings.attachment_dir / name
        assert not contains_canary(name), name
        if path.is_file():
            assert not contains_canary(path.read_bytes()), name


@pytest.mark.usefixtures("debug_logs")  # set up before the flow's connection opens
def test_the_logs_do_not_hold_the_canary(caplog, flow):
    records = caplog.get_records("setup") + caplog.get_records("call")
    formatter = logging.Formatter()
    logged = "\n".join(formatter.format(rec) + repr(rec.args) for rec in records)
    assert "INSERT INTO cases" in logged, "statement logging was not captured"
    assert not contains_canary(logged)


def test_the_audit_rows_do_not_hold_the_canary(flow, db):
    events = list(db.scalars(select(AuditEvent).where(AuditEvent.seq > flow.start_seq)))
    actions = {e.action for e in events}
    assert {
        "case.create",
        "case.update",
        "note.add",
        "step.add",
        "attachment.add",
        "case.view_confidential",
        "attachment.download",
    } <= actions
    for ev in events:
        for column in AuditEvent.__table__.columns:
            assert not contains_canary(getattr(ev, column.key)), (ev.action, column.key)


def test_the_case_page_and_list_do_not_show_the_canary(flow):
    for label, page in flow.pages.items():
        assert flow.case.reference in page, label
        assert not contains_canary(page), label


def test_a_large_upload_never_reaches_a_temporary_file_in_clear(
    app, db, world, settings, monkeypatch
):
    """Past 500 KB Werkzeug spools an upload to a temporary file; the app keeps it in memory,
    and its own temporary file (in the store) holds only ciphertext."""
    made = []

    def refuse(*_a, **_k):
        raise AssertionError("an upload was spooled to a temporary file")

    def in_store_only(*a, **k):
        made.append(k.get("dir"))
        return real_mkstemp(*a, **k)

    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", in_store_only)
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    content = FILE_CONTENT * (700 * 1024 // len(FILE_CONTENT))
    assert focal.attach(case, content, "anh-chup.txt", "text/plain").status_code == 302
    stored = db.scalar(select(CaseAttachment).where(CaseAttachment.case_id == case.id))
    assert stored is not None and stored.size == len(content)
    assert made and {Path(d) for d in made} == {settings.attachment_dir}


# --- moved, damaged and orphaned ciphertext -------------------------------------------------


def _content(tag: str) -> cases.CaseContent:
    return cases.CaseContent(
        **{
            name: f"{CANARY}-{tag}-{name}"
            for name in (
                "harmed_name",
                "harmed_contact",
                "guardian_name",
                "guardian_contact",
                "perpetrator_names",
                "narrative",
                "informant_name",
                "informant_contact",
            )
        }
    )


@dataclass
class Sealed:
    user: User
    cases: list[Case]
    notes: list[CaseNote]  # two on the first case
    attachments: list[CaseAttachment]  # two on the first case
    contents: dict


@pytest.fixture()
def sealed(db, world) -> Sealed:
    """Two cases at SCH-A made through the services; the first with two notes and two files."""
    user = db.get(User, world["focal_a"].id)
    school = db.get(Unit, world.units["SCH-A"])
    made, contents = [], {}
    for tag in ("one", "two"):
        case = cases.create_case(db, user, school, case_details(), _content(tag))
        made.append(case)
        contents[case.id] = _content(tag)
    first = made[0]
    notes = [case_records.add_note(db, user, first, f"{CANARY}-note-{i}") for i in (1, 2)]
    files = [
        case_records.add_attachment(
            db, user, first, f"{CANARY}-{i}.txt", "text/plain", io.BytesIO(bytes([65 + i]) * 70_000)
        )
        for i in (1, 2)
    ]
    assert case_content.open_content(db, user, first).narrative == f"{CANARY}-one-narrative"
    db.commit()  # a savepoint of the test's transaction; the next audit event reads the head anew
    return Sealed(user, made, notes, files, contents)


def _value(db, table, column, row_id):
    return db.execute(text(f"SELECT {column} FROM {table} WHERE id = :i"), {"i": row_id}).scalar()


def _set(db, table, column, row_id, value) -> None:
    db.execute(text(f"UPDATE {table} SET {column} = :v WHERE id = :i"), {"v": value, "i": row_id})
    db.expire_all()


def _informant(db, case) -> int:
    return db.execute(
        text("SELECT id FROM case_informants WHERE case_id = :c"), {"c": case.id}
    ).scalar()


def _read_content(db, s):
    case_content.open_content(db, s.user, s.cases[0])


def _read_notes(db, s):
    return case_content.open_content(db, s.user, s.cases[0]).notes


def _read_names(db, s):
    return case_content.open_content(db, s.user, s.cases[0]).files


def _read_file(db, s, which=1):
    *_, chunks = case_content.open_attachment(db, s.user, s.cases[0], s.attachments[which].uid)
    b"".join(chunks)


def _row(db, s: Sealed, key: str) -> int:
    """case0, inf1, note0, att1...: the id of that row of the sealed fixture."""
    kind, i = key[:-1], int(key[-1])
    if kind == "inf":
        return _informant(db, s.cases[i])
    if kind == "per":  # the person harmed of that case
        return db.execute(
            text("SELECT id FROM case_persons WHERE case_id = :c AND position = 'harmed'"),
            {"c": s.cases[i].id},
        ).scalar()
    return {"case": s.cases, "note": s.notes, "att": s.attachments}[kind][i].id


MOVES = {  # table, column, source row, source column, destination row, reader
    "to another field": ("case_persons", "name", "per0", "contact", "per0", _read_content),
    "person of another case": ("case_persons", "name", "per1", "name", "per0", _read_content),
    "to another case": ("cases", "narrative", "case1", "narrative", "case0", _read_content),
    "with its data key": ("cases", "wrapped_key", "case1", "wrapped_key", "case0", _read_content),
    "informant field": ("case_informants", "name", "inf0", "contact", "inf0", _read_content),
    "informant of another case": ("case_informants", "name", "inf1", "name", "inf0", _read_content),
    "note to another note": ("case_notes", "body", "note0", "body", "note1", _read_notes),
    "file name to another file": (
        "case_attachments",
        "filename",
        "att0",
        "filename",
        "att1",
        _read_names,
    ),
}


@pytest.mark.parametrize("move", list(MOVES))
def test_ciphertext_moved_elsewhere_does_not_decrypt(db, sealed, move):
    table, column, source, source_column, target, reader = MOVES[move]
    value = _value(db, table, source_column, _row(db, sealed, source))
    _set(db, table, column, _row(db, sealed, target), value)
    with pytest.raises(DecryptionError):
        reader(db, sealed)


def test_a_sealed_file_copied_over_another_does_not_decrypt(db, sealed, settings):
    one, two = (settings.attachment_dir / a.storage_name for a in sealed.attachments)
    two.write_bytes(one.read_bytes())
    with pytest.raises(DecryptionError):
        _read_file(db, sealed)


FLIPS = [  # (table, column, byte position, reader)
    ("cases", "narrative", 0, _read_content),  # format version
    ("cases", "narrative", 5, _read_content),  # nonce
    ("cases", "narrative", 20, _read_content),  # ciphertext
    ("cases", "narrative", -1, _read_content),  # tag
    ("cases", "wrapped_key", 0, _read_content),  # key id length
    ("cases", "wrapped_key", 3, _read_content),  # key id
    ("cases", "wrapped_key", 40, _read_content),
    ("cases", "wrapped_key", -1, _read_content),
    ("case_notes", "body", 30, _read_notes),
    ("case_attachments", "filename", -3, _read_names),
]


@pytest.mark.parametrize(
    "table, column, position, reader", FLIPS, ids=[f"{t}.{c}[{p}]" for t, c, p, _r in FLIPS]
)
def test_a_flipped_byte_in_a_sealed_value_fails(db, sealed, table, column, position, reader):
    row = _row(db, sealed, {"cases": "case0", "case_notes": "note0"}.get(table, "att0"))
    blob = bytearray(_value(db, table, column, row))
    blob[position] ^= 0x01
    _set(db, table, column, row, bytes(blob))
    with pytest.raises(DecryptionError):
        reader(db, sealed)


BLOCK = 12 + envelope.CHUNK + 16
FILE_DAMAGE = {
    "magic": lambda b: b[:0] + bytes([b[0] ^ 1]) + b[1:],
    "nonce": lambda b: b[:6] + bytes([b[6] ^ 1]) + b[7:],
    "ciphertext": lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:],
    "tag": lambda b: b[:-1] + bytes([b[-1] ^ 1]),
    "last chunk dropped": lambda b: b[: 4 + BLOCK],
    "tail cut": lambda b: b[:-5],
    "bytes appended": lambda b: b + b"\x00" * 40,
    "chunks swapped": lambda b: b[:4] + b[4 + BLOCK :] + b[4 : 4 + BLOCK],
}


@pytest.mark.parametrize("damage", list(FILE_DAMAGE))
def test_a_damaged_stored_file_fails(db, sealed, settings, damage):
    path = settings.attachment_dir / sealed.attachments[1].storage_name
    path.write_bytes(FILE_DAMAGE[damage](path.read_bytes()))
    with pytest.raises(DecryptionError):
        _read_file(db, sealed)


# --- rotation and crypto-shredding ----------------------------------------------------------


def _everything_decrypts(db, s: Sealed) -> None:
    db.expire_all()
    for case in s.cases:
        content = case_content.open_content(db, s.user, case)
        assert content.as_fields() == s.contents[case.id]
    bodies = [n.body for n in case_content.open_content(db, s.user, s.cases[0]).notes]
    assert bodies == [f"{CANARY}-note-1", f"{CANARY}-note-2"]
    names = [name for _a, name in case_content.open_content(db, s.user, s.cases[0]).files]
    assert names == [f"{CANARY}-1.txt", f"{CANARY}-2.txt"]
    for i, attachment in enumerate(s.attachments, start=1):
        *_, chunks = case_content.open_attachment(db, s.user, s.cases[0], attachment.uid)
        assert b"".join(chunks) == bytes([65 + i]) * 70_000


@pytest.mark.usefixtures("ring")  # a copy of the keyring that the rotation may change
def test_after_rotation_everything_decrypts_and_no_key_uses_the_old_id(app, db, sealed):
    old = keyring().active("wrap").id
    narratives = {c.id: bytes(c.narrative) for c in sealed.cases}
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    new = keyring().active("wrap").id
    assert new != old
    db.expire_all()
    wrapped = db.scalars(select(Case.wrapped_key).where(Case.wrapped_key.is_not(None))).all()
    assert wrapped and {envelope.wrapping_key_id(w) for w in wrapped} == {new}
    # Only the data keys were rewrapped: the content's ciphertext is untouched.
    assert {c.id: bytes(c.narrative) for c in sealed.cases} == narratives
    _everything_decrypts(db, sealed)
    # Nothing still needs the old key: retired, everything still opens.
    assert runner.invoke(args=["keys", "retire", old]).exit_code == 0
    _everything_decrypts(db, sealed)


def test_destroying_the_key_shreds_content_but_keeps_statistics(app, db, world, sealed):
    target = sealed.cases[0]
    cases.destroy_content(db, None, target, "Hết thời hạn lưu trữ")
    db.commit()
    db.expire_all()
    assert _value(db, "cases", "wrapped_key", target.id) is None
    with pytest.raises(DecryptionError):
        case_content.data_key(target)  # the key is gone: nothing sealed under it can be opened
    with pytest.raises(ValidationFailed):
        case_content.open_content(db, sealed.user, target)
    for reader in (_read_notes, _read_names):
        with pytest.raises(ValidationFailed):  # said before anything is decrypted
            reader(db, sealed)
    with pytest.raises(ValidationFailed):
        _read_file(db, sealed)
    # The other case is untouched.
    assert (
        case_content.open_content(db, sealed.user, sealed.cases[1]).as_fields()
        == sealed.contents[sealed.cases[1].id]
    )
    # The clear metadata stays queryable for statistics.
    found = db.scalars(
        select(Case.id)
        .join(CaseViolenceType, CaseViolenceType.case_id == Case.id)
        .where(
            Case.status == "new",
            CaseViolenceType.type == "physical",
            Case.harmed_sex_group == "female",
            Case.child.is_(True),
            Case.unit_id == world.units["SCH-A"],
        )
    ).all()
    assert target.id in found
    focal = Visitor(app, db, world["focal_a"])
    listed = focal.get("/cases/?violence=physical&unit=SCH-A").get_data(as_text=True)
    assert target.reference in listed
    page = focal.get(f"/cases/{target.public_id}")
    assert page.status_code == 200 and target.reference in page.get_data(as_text=True)
    for url in (f"/cases/{target.public_id}/confidential", f"/cases/{target.public_id}/edit"):
        r = focal.get(url)
        assert r.status_code in (302, 400, 403), (url, r.status_code)
        assert not contains_canary(r.get_data(as_text=True)), url
