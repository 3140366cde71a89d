"""The processing record and impact-assessment dossier: a DOCX that names every column of every
model, the key ages and the last verification and checkpoint as they are, read only by those
holding privacy.read within their units, audited once."""

from __future__ import annotations

import base64
import io
import json

import pytest
from docx import Document
from sqlalchemy import select

import caseapp.models  # noqa: F401
from caseapp.db import Base
from caseapp.models import AuditEvent
from caseapp.runtime import keyring
from caseapp.services.audit import integrity
from tests.factories import Visitor

URL = "/privacy/record.docx"


def _events(db) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.record_export")).all()
    )


def _text(data: bytes) -> str:
    doc = Document(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def test_the_dossier_lists_every_model_column(app, db, world):
    r = Visitor(app, db, world["officer_d1"], lang="en").get(f"{URL}?unit=D1")
    assert r.status_code == 200, r.data
    assert r.mimetype.endswith("wordprocessingml.document")
    assert 'filename="ho-so-xu-ly-du-lieu-D1-' in r.headers["Content-Disposition"]
    text = _text(r.data)
    assert "HỒ SƠ XỬ LÝ DỮ LIỆU CÁ NHÂN / ĐÁNH GIÁ TÁC ĐỘNG" in text
    cells = set(text.splitlines())
    missing = [
        f"{mapper.local_table.name}.{column.name}"
        for mapper in Base.registry.mappers
        for column in mapper.local_table.columns
        if f"{mapper.local_table.name}.{column.name}" not in cells
    ]
    assert not missing, missing
    for heading in ("The controller", "Recipients", "Retention", "Security measures in force"):
        assert heading in text
    assert "Phòng Giáo dục D1 (D1)" in text


def test_it_shows_key_ages_and_the_last_verify_and_checkpoint(app, db, world):
    officer = Visitor(app, db, world["officer_p"], lang="en")
    before = _text(officer.get(URL).data)
    assert "Last verification of the audit trail: never run" in before
    assert "No backup is recorded in the audit trail" in before
    for key in keyring().keys(purpose=None):
        assert key.id in before  # ids and ages, never a secret
    assert "argon2id" in before and "Smallest count shown outside the unit: 5" in before
    assert "E-mail notifications: off" in before

    integrity.record_verification(db, None, integrity.verify(db, keyring()))
    integrity.checkpoint(db, None, keyring())
    db.commit()
    after = _text(officer.get(URL).data)
    assert "Last verification of the audit trail: " in after
    line = next(x for x in after.splitlines() if x.startswith("- Last verification"))
    assert line.endswith(", passed") and "never" not in line
    checkpoint = next(x for x in after.splitlines() if x.startswith("- Last signed checkpoint"))
    assert checkpoint != "- Last signed checkpoint: —"
    for key in keyring().keys(purpose=None):
        assert base64.b64encode(key.secret).decode() not in after


def test_the_export_is_audited_once(app, db, world):
    r = Visitor(app, db, world["auditor_p"], lang="en").get(URL)
    assert r.status_code == 200, r.data
    [event] = _events(db)
    assert event.actor_name == "auditor.p" and event.object_ref == "PRV"
    assert json.loads(event.changes) == {"format": "docx"}


@pytest.mark.parametrize(
    ("who", "code"), [("officer_d2", "D1"), ("officer_d1", "PRV"), ("admin_d1", "NOPE")]
)
def test_a_unit_outside_one_s_scope_is_not_found(app, db, world, who, code):
    r = Visitor(app, db, world[who], lang="en").get(f"{URL}?unit={code}")
    assert r.status_code == 404 and _events(db) == []


@pytest.mark.parametrize("who", ["focal_a", "nobody"])
def test_those_without_privacy_read_are_refused(app, db, world, who):
    r = Visitor(app, db, world[who], lang="en").get(URL)
    assert r.status_code in (403, 404) and _events(db) == []


def test_the_account_page_links_to_it_for_those_who_may_read_it(app, db, world):
    page = Visitor(app, db, world["officer_d1"], lang="en").get("/account/")
    assert URL in page.get_data(as_text=True)
    page = Visitor(app, db, world["focal_a"], lang="en").get("/account/")
    assert URL not in page.get_data(as_text=True)


def test_recipients_name_the_referral_contacts_of_the_unit_and_above(app, db, world):
    from caseapp.models import Unit
    from caseapp.services.org.referrals import create_contact

    for code, name in (("PRV", "Công an tỉnh P"), ("D1", "Trạm y tế D1"), ("D2", "Trạm y tế D2")):
        unit = db.get(Unit, world.units[code])
        kind = "police" if code == "PRV" else "health_station"
        create_contact(db, None, unit, name, kind, "0123", "")
    db.commit()
    text = _text(Visitor(app, db, world["officer_d1"], lang="en").get(f"{URL}?unit=D1").data)
    assert "- Referral contact: Công an tỉnh P (Police)" in text
    assert "- Referral contact: Trạm y tế D1 (Health station)" in text
    assert "Trạm y tế D2" not in text


def test_the_last_backup_is_shown_when_one_was_taken(app, db, world):
    from caseapp.services.audit.trail import record

    record(db, None, "system.backup", object_type="backup", changes={"engine": "sqlite"})
    db.commit()
    text = _text(Visitor(app, db, world["admin_p"], lang="en").get(URL).data)
    assert "- Last backup: " in text and "No backup is recorded" not in text


def test_retention_reads_the_schedule_as_the_admin_keeps_it(app, db, world):
    from caseapp.models import LegalPeriod
    from caseapp.services.audit.trail import record

    line = db.get(LegalPeriod, "retention_case_adult")
    line.amount, line.basis = 7, "Điều 16 (sửa bởi luật sư)"
    record(db, None, "period.update", line)  # as the admin screen records it
    db.commit()
    text = _text(Visitor(app, db, world["admin_p"], lang="en").get(URL).data)
    lines = text.splitlines()
    row = lines.index("Content of an adult's case")
    assert lines[row + 1 : row + 3] == ["7 years", "Điều 16 (sửa bởi luật sư)"]
    assert "Content of a minor's case" in lines and "Attachments of a closed case" in lines
    assert "being added" not in text
