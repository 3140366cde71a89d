"""Helpers for the tests of the public self-report pages: fill the form as a browser would,
read the receipt code off the page, make photos, scan the database."""

from __future__ import annotations

import html
import io
import re

from PIL import Image
from sqlalchemy import LargeBinary, String, Text, select

from caseapp.db import Base
from caseapp.models import SelfReport

TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')
CODE_RE = re.compile(r'name="code" value="(\d{16})"')
ADDRESS = "10.77.31.9"
AGENT = "Mozilla/5.0 (Linux; Android 9; PhoneXYZ-Distinctive-UA-771)"


def env(ip: str = ADDRESS) -> dict:
    return {"REMOTE_ADDR": ip, "HTTP_USER_AGENT": AGENT}


def token_of(response) -> str:
    found = TOKEN_RE.search(response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:2000]
    return html.unescape(found.group(1))


def code_of(response) -> str:
    found = CODE_RE.search(response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)[:2000]
    return found.group(1)


def report_fields(**overrides) -> dict:
    """A complete, ordinary report (a pupil hit at school)."""
    fields = {
        "who_hurt": "me",
        "what": ["hit", "words"],
        "when": "this_week",
        "where": "in_school",
        "who_did": "pupil",
        "danger": "no",
        "details": "Bạn ấy đánh em ở sân trường.",
        "name": "",
        "contact": "",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def send_report(client, school_code: str, ip: str = ADDRESS, photos=(), lang="", **overrides):
    """GET the school's page (for its token), then POST the report; the POST's response."""
    query = f"?lang={lang}" if lang else ""
    page = client.get(f"/r/{school_code}{query}", environ_base=env(ip))
    assert page.status_code == 200, page.status_code
    data = {"token": token_of(page), **report_fields(**overrides)}
    if photos:
        data["photos"] = [(io.BytesIO(p), f"p{i}.jpg") for i, p in enumerate(photos)]
    return client.post(
        f"/r/{school_code}{query}",
        data=data,
        content_type="multipart/form-data",
        environ_base=env(ip),
    )


def latest_report(db) -> SelfReport | None:
    db.expire_all()
    return db.scalar(select(SelfReport).order_by(SelfReport.id.desc()).limit(1))


def open_report(client, code: str, ip: str = ADDRESS):
    return client.post("/r/follow", data={"code": code}, environ_base=env(ip))


def gps_jpeg(size=(640, 480)) -> bytes:
    """A JPEG carrying EXIF with a GPS position, a camera make and a comment."""
    img = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "DistinctiveCameraMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (21.0, 1.0, 30.0)
    gps[3] = "E"
    gps[4] = (105.0, 51.0, 12.0)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes(), comment=b"secret-comment-xyz")
    return out.getvalue()


def text_columns():
    """(table, column) of every text or binary column of every table."""
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String | Text | LargeBinary):
                yield table, column


def scan(db, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) wherever a needle appears in a text or binary column."""
    found = []
    for table, column in text_columns():
        for value in db.execute(select(column).where(column.is_not(None))).scalars():
            raw = value if isinstance(value, bytes) else str(value).encode()
            for needle in needles:
                if needle.encode() in raw:
                    found.append((table.name, column.name, needle))
    return found
