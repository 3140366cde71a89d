"""Photos a reporter sends: checked, stripped of every metadata block (EXIF and its GPS
position, ICC profile, comments, XMP) by decoding and re-encoding the pixels only, then sealed
under the report's key into the attachment store.

Decoding is bounded: a picture of more than PIXELS_MAX pixels is refused before it is decoded,
a JPEG is decoded straight at the reduced scale it will be shown at (its DCT "draft"), and at
most DECODES_AT_ONCE pictures are decoded at the same time in one worker. The sealed file's
modification time is the start of the day, not the moment it was sent."""

from __future__ import annotations

import io
import os
import secrets
import tempfile
import threading
import uuid
import warnings
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from caseapp.clock import start_of_local_day
from caseapp.errors import ValidationFailed
from caseapp.models.selfreports import PHOTO_BYTES_MAX, PHOTOS_MAX, SelfReport, SelfReportPhoto
from caseapp.runtime import settings
from caseapp.services.selfreports.seal import ReportSeal

# Larger pictures are shrunk to this many pixels on their long side.
SIDE_MAX = 2000
# A picture of more pixels than this is refused before it is decoded (a small file can
# declare a huge picture: a decompression bomb). 24 MP holds any phone photo as saved by
# default (12-24 MP); a PNG of that size still costs about 100 MB to decode.
PIXELS_MAX = 24_000_000
JPEG_QUALITY = 85
# The readers tried (Image.open refuses any other format unread).
OPENED = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
# What they may find; MPO is the multi-picture JPEG many phone cameras write (Pillow's JPEG
# reader recognises it): its first picture is used.
FORMATS = (*OPENED, "MPO")
# Decoded at the reduced scale (1/2, 1/4, 1/8) nearest above the size they are shrunk to.
DRAFTED = ("JPEG", "MPO")
# Pictures decoded at once in one worker process (the others wait their turn).
DECODES_AT_ONCE = 2
_decoding = threading.BoundedSemaphore(DECODES_AT_ONCE)


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
    too_large = ValidationFailed(_("This photo is too large. Send a smaller photo."))
    try:
        with _decoding, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pixels = _decoded(data, too_large)
    except ValidationFailed:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise refused from None
    # A fresh image of the pixels alone: nothing of the original's info travels with it.
    clean = Image.new("RGB", pixels.size)
    clean.paste(pixels)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _decoded(data: bytes, too_large: ValidationFailed) -> Image.Image:
    """The first picture of the file, shrunk to at most SIDE_MAX px, upright, in RGB."""
    with Image.open(io.BytesIO(data), formats=OPENED) as img:
        if img.format not in FORMATS:
            raise UnidentifiedImageError()
        width, height = img.size
        if width < 1 or height < 1 or width * height > PIXELS_MAX:
            raise too_large
        if img.format in DRAFTED:
            scale = min(1.0, SIDE_MAX / max(width, height))
            img.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        img.load()
        picture: Image.Image = img
        if picture.mode not in ("RGB", "L"):
            # Shrinking a picture with transparency first copies it whole (premultiplied):
            # dropping the transparency and the decoded original costs less.
            picture = picture.convert("RGB")
            img.close()
        # Shrunk before it is turned upright: that copies the whole picture.
        picture.thumbnail((SIDE_MAX, SIDE_MAX))
        upright = ImageOps.exif_transpose(picture) or picture
        return upright.convert("RGB")


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
    day_start = start_of_local_day(sent_on).timestamp()
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
                # The file's times say the day, not the moment the reporter sent it.
                os.utime(store / photo.storage_name, (day_start, day_start))
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
