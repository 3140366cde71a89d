"""The receipt as a picture the reporter saves on their phone: the code in groups of four, the
school's name and the day. Drawn on request from the code the reporter posts; nothing kept."""

from __future__ import annotations

import io
import unicodedata
from datetime import date
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from caseapp.services.selfreports.seal import grouped

# A font with Vietnamese letters when the system has one; else Pillow's own font, with the
# diacritics folded (that font lacks them).
FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
WIDTH, HEIGHT = 900, 420


def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    for path in FONT_FILES:
        if Path(path).is_file():
            return ImageFont.truetype(path, size), True
    return ImageFont.load_default(size=size), False


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch) and ch.isascii())


def receipt_png(code: str, heading: str, school: str, day_label: str, day: date) -> bytes:
    """A PNG of the receipt. ``heading`` and ``day_label`` come translated from the caller."""
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    small, unicode_ok = _font(30)
    big, _ok = _font(64)

    def text(value: str) -> str:
        return value if unicode_ok else _ascii(value)

    draw.rectangle((8, 8, WIDTH - 9, HEIGHT - 9), outline="black", width=4)
    draw.text((40, 40), text(heading), fill="black", font=small)
    draw.text((40, 120), grouped(code), fill="black", font=big)
    draw.text((40, 250), text(school[:60]), fill="black", font=small)
    draw.text((40, 310), text(f"{day_label}: {day.strftime('%d/%m/%Y')}"), fill="black", font=small)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()
