"""An attachment whose sealed file is gone from the attachment folder (a database restored
without the folder, say): a clear 404 page and one error line for the operators with ids only,
never a dropped connection or a 500 half-way through a streamed body; nothing is audited as
downloaded, since nothing was."""

from __future__ import annotations

import html
import io
import logging

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from caseapp.models import AuditEvent, Case, CaseAttachment, User
from caseapp.services.cases import content as case_content
from caseapp.services.cases import records as case_records
from tests.factories import Visitor

CONTENT = b"bien ban hop phu huynh"
FILE_NAME = "biên bản họp phụ huynh.txt"
MISSING = (
    "The file of this attachment is missing from the server. Your administrator has been "
    "told; nothing else is affected."
)


def _attached(app, db, world) -> tuple[Visitor, Case, CaseAttachment]:
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    with app.test_request_context():
        attachment = case_records.add_attachment(
            db,
            db.get(User, world["focal_a"].id),
            db.get(Case, case.id),
            FILE_NAME,
            "text/plain",
            io.BytesIO(CONTENT),
        )
    db.commit()
    return focal, case, attachment


def _downloads(db) -> int:
    return db.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "attachment.download")
    )


def _text(app, message: str) -> str:
    with app.test_request_context(), force_locale("vi"):
        return gettext(message)


def test_the_file_is_there_and_downloads(app, db, world, clean_store):
    focal, case, attachment = _attached(app, db, world)
    before = _downloads(db)
    response = focal.get(f"/cases/{case.public_id}/attachments/{attachment.uid}")
    assert response.status_code == 200 and response.data == CONTENT
    assert _downloads(db) == before + 1


@pytest.mark.parametrize("how", ["deleted", "not a file"])
@pytest.mark.parametrize("who", ["focal_a", "officer_d1"])
@pytest.mark.usefixtures("clean_store")
def test_a_missing_file_is_a_clear_404_and_one_error_line(
    app, db, world, settings, caplog, how, who
):
    focal, case, attachment = _attached(app, db, world)
    path = settings.attachment_dir / attachment.storage_name
    path.unlink()
    if how == "not a file":
        path.mkdir()  # there, but it cannot be read as a file
    url = f"/cases/{case.public_id}/attachments/{attachment.uid}"
    before = _downloads(db)
    caplog.set_level(logging.ERROR)
    try:
        if who == "focal_a":  # the handler downloads with a GET
            response = focal.get(url)
        else:  # an officer above the school states a reason
            response = Visitor(app, db, world[who]).post(url, {"reason": "kiểm tra hồ sơ vụ việc"})
    finally:
        if path.is_dir():
            path.rmdir()

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    page = html.unescape(response.get_data(as_text=True))
    assert _text(app, MISSING) in page
    request_id = response.headers["X-Request-Id"]
    assert request_id in page  # the id the person can quote is the one in the log
    assert f"/cases/{case.public_id}" in page  # a way back to the case
    assert "no-store" in response.headers.get("Cache-Control", "")

    lines = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    line = lines[0].getMessage()
    assert f"attachment {attachment.id} " in line and f"case {case.id}," in line
    assert attachment.storage_name in line and request_id in line
    for secret in (FILE_NAME, "biên bản", case.public_id):
        assert secret not in line

    # Nothing was read, so nothing is audited as downloaded; the rest of the case is intact.
    db.expire_all()
    assert _downloads(db) == before
    assert db.get(CaseAttachment, attachment.id) is not None
    assert focal.get(f"/cases/{case.public_id}").status_code == 200


def test_the_service_refuses_before_auditing_or_decrypting(app, db, world, settings, clean_store):
    _focal, case, attachment = _attached(app, db, world)
    (settings.attachment_dir / attachment.storage_name).unlink()
    before = _downloads(db)
    with app.test_request_context(), pytest.raises(case_content.AttachmentFileMissing) as caught:
        case_content.open_attachment(
            db, db.get(User, world["focal_a"].id), db.get(Case, case.id), attachment.uid
        )
    assert caught.value.status == 404
    assert (caught.value.attachment_id, caught.value.case_id, caught.value.storage_name) == (
        attachment.id,
        case.id,
        attachment.storage_name,
    )
    assert FILE_NAME not in str(caught.value)
    db.flush()
    assert _downloads(db) == before
