"""The materials of an activity (leaflets, slides, posters): a title, and optionally the file.

Materials are not case content: they hold nothing about a person, so they are stored as they
are (not sealed under a case key) and a download is not audited; adding and removing one is."""

from __future__ import annotations

import io
import os
import zipfile
from typing import TYPE_CHECKING, BinaryIO

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from caseapp.errors import NotFound, ValidationFailed
from caseapp.models import Activity
from caseapp.models.equality import MATERIAL_BYTES_MAX, MATERIALS_MAX, ActivityMaterial
from caseapp.security.authz import covers
from caseapp.security.text import refused_characters
from caseapp.services.audit.trail import record
from caseapp.services.reports.activities import refuse_if_frozen

if TYPE_CHECKING:
    from caseapp.models import User

TITLE_MAX = 200
FILENAME_MAX = 200
OOXML = "application/vnd.openxmlformats-officedocument"
# The kinds of file accepted: by the name's ending, the type stored and how the content starts
# (for the Office formats, a ZIP holding the part that only that format has).
KINDS = {
    ".pdf": ("application/pdf", b"%PDF-", None),
    ".docx": (f"{OOXML}.wordprocessingml.document", b"PK\x03\x04", "word/document.xml"),
    ".pptx": (f"{OOXML}.presentationml.presentation", b"PK\x03\x04", "ppt/presentation.xml"),
    ".xlsx": (f"{OOXML}.spreadsheetml.sheet", b"PK\x03\x04", "xl/workbook.xml"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff", None),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff", None),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n", None),
}
ALLOWED_TYPES = frozenset(kind[0] for kind in KINDS.values())


def _can_change(user: User, activity: Activity) -> bool:
    return covers(user, "activity.write", activity.unit) or covers(
        user, "work.write", activity.unit
    )


def clean_filename(name: str | None) -> str:
    """The name as stored: its last path part, printable characters only (no newline or
    control character to break a header), trimmed."""
    name = os.path.basename((name or "").replace("\\", "/")).strip()
    return "".join(ch for ch in name if ch.isprintable()).strip()


def _content_type(filename: str, content: bytes) -> str:
    """The stored type of an upload, read from its name and checked against its content."""
    kind = KINDS.get(os.path.splitext(filename)[1].lower())
    if kind is None:
        raise ValidationFailed(
            _("This kind of file is not accepted. Use PDF, DOCX, PPTX, XLSX, JPEG or PNG.")
        )
    content_type, magic, part = kind
    if not content.startswith(magic):
        raise ValidationFailed(_("The file's content does not match its type."))
    if part is not None:
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            names = set()
        if part not in names:
            raise ValidationFailed(_("The file's content does not match its type."))
    return content_type


def add_material(
    session: Session,
    actor: User,
    activity: Activity,
    title: str,
    filename: str | None = None,
    stream: BinaryIO | None = None,
) -> ActivityMaterial:
    """Add a material to the activity: a title, and the file when one is given."""
    if not _can_change(actor, activity):
        raise NotFound()
    refuse_if_frozen(session, activity.unit, activity.held_on)
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX or refused_characters(title):
        raise ValidationFailed(
            _("A material needs a title of at most %(n)d characters.", n=TITLE_MAX)
        )
    count = session.scalar(
        select(func.count())
        .select_from(ActivityMaterial)
        .where(ActivityMaterial.activity_id == activity.id)
    )
    if (count or 0) >= MATERIALS_MAX:
        raise ValidationFailed(
            _("An activity has at most %(n)d materials. Remove one first.", n=MATERIALS_MAX)
        )
    material = ActivityMaterial(activity_id=activity.id, title=title, created_by_id=actor.id)
    content = stream.read(MATERIAL_BYTES_MAX + 1) if stream is not None else b""
    name = clean_filename(filename)
    if content or name:
        if len(content) > MATERIAL_BYTES_MAX:
            raise ValidationFailed(
                _("The file is larger than %(n)d MB.", n=MATERIAL_BYTES_MAX // (1024 * 1024))
            )
        if not content:
            raise ValidationFailed(_("The file is empty."))
        if not name or len(name) > FILENAME_MAX:
            raise ValidationFailed(
                _("The file needs a name of at most %(n)d characters.", n=FILENAME_MAX)
            )
        material.content_type = _content_type(name, content)
        material.filename = name
        material.content = content
        material.size = len(content)
    session.add(material)
    record(
        session,
        actor,
        "activity.material_add",
        material,
        unit=activity.unit,
        object_ref=str(activity.id),
        changes={
            "title": [None, title],
            "filename": [None, material.filename],
            "size": material.size,
            "content_type": material.content_type,
        },
    )
    return material


def _material(session: Session, material_id: int, *, with_content: bool = False):
    stmt = select(ActivityMaterial).where(ActivityMaterial.id == material_id)
    if with_content:
        stmt = stmt.options(undefer(ActivityMaterial.content))
    material = session.scalar(stmt)
    if material is None:
        raise NotFound()
    activity = session.get(Activity, material.activity_id)
    if activity is None:
        raise NotFound()
    return material, activity


def remove_material(session: Session, actor: User, material_id: int) -> Activity:
    """Remove a material (with its file); the activity it belonged to."""
    material, activity = _material(session, material_id)
    if not _can_change(actor, activity):
        raise NotFound()
    refuse_if_frozen(session, activity.unit, activity.held_on)
    record(
        session,
        actor,
        "activity.material_remove",
        material,
        unit=activity.unit,
        object_ref=str(activity.id),
        changes={"title": [material.title, None], "filename": [material.filename, None]},
    )
    session.delete(material)
    session.flush()
    return activity


def material_file(session: Session, user: User, material_id: int) -> tuple[str, str, bytes]:
    """(filename, content type, content) of a material's file, for a reader of reports
    covering the activity's unit; anyone else, or a material without a file: NotFound.
    Not audited: a material is a leaflet or slides, not case content."""
    material, activity = _material(session, material_id, with_content=True)
    if not covers(user, "report.read", activity.unit) or material.content is None:
        raise NotFound()
    content_type = material.content_type or ""
    if content_type not in ALLOWED_TYPES:
        content_type = "application/octet-stream"
    return material.filename or "tai-lieu", content_type, material.content
