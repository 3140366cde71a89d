"""Self-reports for the school-side tests, built directly as the public submit page stores them
(h1's intake does it through the page): a fresh key, sealed details, name and contact, the
receipt hash, the clock from receipt, one day-only ``selfreport.received`` event.

The public pages' helpers (fill the form as a browser would, read the receipt code off the page,
make photos, scan the database) come after them."""

from __future__ import annotations

import html
import io
import re
import secrets
import uuid
from datetime import date

from PIL import Image
from sqlalchemy import LargeBinary, String, Text, func, select

from caseapp.clock import local_today
from caseapp.db import Base
from caseapp.models import AuditEvent, Unit
from caseapp.models.selfreports import SelfReport, SelfReportMessage, SelfReportPhoto
from caseapp.runtime import settings
from caseapp.services.audit.trail import record
from caseapp.services.selfreports import routing, seal

SECRET = "SELFREPORT-CANARY-4d1e"
# The smallest JPEG a browser shows (1x1), as the photo pipeline would re-encode one.
TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e33"
    "3432ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
    "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2"
    "a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9"
    "eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)


def submit_report(
    db,
    school: Unit,
    *,
    who_did: str = "pupil",
    asked_office: bool = False,
    danger: bool = False,
    who_hurt: str = "me",
    what: str = "hit,words",
    happened_where: str = "in_school",
    details: str = f"Em bị bạn đánh ở sân trường {SECRET}",
    name: str = f"Bạn nhỏ {SECRET}-name",
    contact: str = f"{SECRET}-contact",
    announce: bool = True,
    received_on=None,
) -> SelfReport:
    """A report as the public page stores it; returns it (flushed, not committed)."""
    unit, route = routing.route_for(school, who_did, asked_office)
    report = SelfReport(
        uid=str(uuid.uuid4()),
        school_id=school.id,
        routed_unit_id=unit.id,
        route=route,
        status="new",
        received_on=received_on or local_today(),
        danger=danger,
        who_hurt=who_hurt,
        who_did=who_did,
        what=what,
        happened_when="this_week",
        happened_where=happened_where,
        due_at=routing.due_at_receipt(danger),
    )
    key = seal.new_report_key(report)
    sealer = seal.ReportSeal(report, key)
    report.details = sealer.seal("details", details)
    report.reporter_name = sealer.seal("reporter_name", name) if name else None
    report.reporter_contact = sealer.seal("reporter_contact", contact) if contact else None
    report.receipt_hash = seal.receipt_hash(seal.new_receipt_code())
    db.add(report)
    record(db, None, "selfreport.received", report, unit=unit, changes={}, day_only=True)
    db.flush()
    if announce:
        routing.announce(db, report)
    return report


def reporter_message(db, report: SelfReport, body: str) -> SelfReportMessage:
    """A message from the reporter (day only), as the follow-up page adds it."""
    message = SelfReportMessage(
        uid=str(uuid.uuid4()),
        report_id=report.id,
        direction="reporter",
        sent_on=local_today(),
    )
    message.body = seal.ReportSeal(report).seal_message(message.uid, body)
    db.add(message)
    record(
        db, None, "selfreport.message_received", message, changes={"body": "changed"}, day_only=True
    )
    return message


def add_photo(db, report: SelfReport, content: bytes = TINY_JPEG) -> SelfReportPhoto:
    """A (stripped, re-encoded) photo sealed into the attachment store under the report's key."""
    photo = SelfReportPhoto(
        uid=str(uuid.uuid4()),
        report_id=report.id,
        sent_on=local_today(),
        content_type="image/jpeg",
        size=len(content),
        storage_name=secrets.token_hex(16),
    )
    store = settings().attachment_dir
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(store / photo.storage_name, "wb") as out:
        seal.ReportSeal(report).seal_photo(photo.uid, io.BytesIO(content), out, 10**7)
    db.add(photo)
    record(
        db,
        None,
        "selfreport.message_received",
        photo,
        changes={"size": len(content)},
        day_only=True,
    )
    return photo


def events(db, action: str) -> int:
    db.expire_all()
    return db.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


# For the tests that count reports (reports, retention): no seal, no receipt code unless asked.
def add_self_report(
    db,
    school: Unit,
    received_on: date,
    status: str = "new",
    first_reply_on: date | None = None,
    closed_on: date | None = None,
    case_id: int | None = None,
    receipt_hash: str | None = None,
) -> SelfReport:
    report = SelfReport(
        uid=str(uuid.uuid4()),
        school_id=school.id,
        routed_unit_id=school.id,
        route="school",
        status=status,
        received_on=received_on,
        who_hurt="me",
        who_did="pupil",
        what="hit",
        happened_when="today",
        happened_where="in_school",
        wrapped_key=None,
        details=None,
        first_reply_on=first_reply_on,
        closed_on=closed_on,
        case_id=case_id,
        receipt_hash=receipt_hash,
    )
    db.add(report)
    db.flush()
    record(db, None, "selfreport.test_data", report, unit=school, day_only=True)
    return report


# The public pages (h1).
TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')
# The code as the receipt shows it once, in four groups of four digits.
CODE_RE = re.compile(r'<p class="code"[^>]*>(\d{4} \d{4} \d{4} \d{4})</p>')
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
    return found.group(1).replace(" ", "")


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
