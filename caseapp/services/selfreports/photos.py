"""Photos a reporter sends: checked, stripped of every metadata block (EXIF and its GPS
position, ICC profile, comments, XMP) by decoding and re-encoding the pixels only, then sealed
under the report's key into the attachment store."""

from __future__ import annotations

import io
import os
import secrets
import tempfile
import uuid
import warnings
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from caseapp.errors import ValidationFailed
from caseapp.models.selfreports import PHOTO_BYTES_MAX, PHOTOS_MAX, SelfReport, SelfReportPhoto
from caseapp.runtime import settings
from caseapp.services.selfreports.seal import ReportSeal

# Larger pictures are shrunk to this many pixels on their long side.
SIDE_MAX = 2000
# A picture of more pixels than this is refused before it is decoded (a small file can
# declare a huge picture: a decompression bomb).
PIXELS_MAX = 50_000_000
JPEG_QUALITY = 85
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the view read it (the bytes stay in memory)."""

    data: bytes


def check_count(uploads: list[Upload]) -> list[Upload]:
    """The non-empty uploads, refused past PHOTOS_MAX."""
    given = [u for u in uploads if u.data]
    if len(given) > PHOTOS_MAX:
        raise ValidationFailed(_("You can send at most %(n)d photos.", n=PHOTOS_MAX))
    return given


def clean_jpeg(data: bytes) -> bytes:
    """The picture re-encoded as a JPEG holding pixels only, upright, at most SIDE_MAX px."""
    if len(data) > PHOTO_BYTES_MAX:
        raise ValidationFailed(
            _("A photo can be at most %(n)d MB.", n=PHOTO_BYTES_MAX // (1024 * 1024))
        )
    refused = ValidationFailed(_("One of the files is not a photo. Send JPEG or PNG photos."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format not in FORMATS:
                    raise refused
                width, height = img.size
                if width < 1 or height < 1 or width * height > PIXELS_MAX:
                    raise ValidationFailed(_("This photo is too large. Send a smaller photo."))
                img.load()
                upright = ImageOps.exif_transpose(img) or img
                pixels = upright.convert("RGB")
    except ValidationFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationFailed(_("This photo is too large. Send a smaller photo.")) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise refused from None
    pixels.thumbnail((SIDE_MAX, SIDE_MAX))
    # A fresh image of the pixels alone: nothing of the original's info travels with it.
    clean = Image.new("RGB", pixels.size)
    clean.paste(pixels)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def store_photos(
    report: SelfReport,
    seal: ReportSeal,
    cleaned: list[bytes],
    sent_on: date,
    message_id: int | None = None,
) -> list[SelfReportPhoto]:
    """Seal each cleaned JPEG into the attachment store; the rows, for the caller to attach to
    the report (not yet in the session). A file written before a later failure is removed."""
    store = settings().attachment_dir
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    made: list[SelfReportPhoto] = []
    try:
        for jpeg in cleaned:
            photo = SelfReportPhoto(
                uid=str(uuid.uuid4()),
                message_id=message_id,
                sent_on=sent_on,
                content_type="image/jpeg",
                size=len(jpeg),
                storage_name=secrets.token_hex(16),
            )
            fd, tmp = tempfile.mkstemp(dir=store, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as out:
                    seal.seal_photo(photo.uid, io.BytesIO(jpeg), out, PHOTO_BYTES_MAX)
                os.replace(tmp, store / photo.storage_name)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            made.append(photo)
    except BaseException:
        discard(made)
        raise
    return made


def discard(photos: list[SelfReportPhoto]) -> None:
    """Remove the sealed files of photos whose rows were not committed."""
    for photo in photos:
        path = settings().attachment_dir / photo.storage_name
        if path.exists():
            path.unlink()
