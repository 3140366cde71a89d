"""An attachment's name comes from the uploader's client: whatever it holds, the download's
header stays well formed (a newline once made the download fail with a 500)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from caseapp.models import Case, User
from caseapp.services.cases import records as case_records
from tests.factories import Visitor

CONTENT = b"bien ban hop"


@pytest.mark.parametrize(
    "name",
    ["biên bản\nhọp.txt", "a\r\nSet-Cookie: x=1.txt", 'dấu "ngoặc" \\ và\ttab.txt', "\x00\x07.txt"],
)
def test_a_hostile_file_name_downloads_cleanly(app, db, world, clean_store, name):
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    with app.test_request_context():
        attachment = case_records.add_attachment(
            db,
            db.get(User, world["focal_a"].id),
            db.get(Case, case.id),
            name,
            "text/plain",
            io.BytesIO(CONTENT),
        )
    db.commit()
    uid = attachment.uid
    response = focal.get(f"/cases/{case.public_id}/attachments/{uid}")
    assert response.status_code == 200 and response.data == CONTENT
    header = response.headers["Content-Disposition"]
    assert header.startswith("attachment;")
    assert not any(ch in header for ch in "\r\n\x00\x07\t")
    assert "Set-Cookie" not in response.headers
    assert db.scalar(select(Case.id).where(Case.id == case.id))
