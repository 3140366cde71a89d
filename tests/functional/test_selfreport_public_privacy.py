"""The reporter's privacy and the page's weight: no cookie on any public answer, the headers,
under 50 KB, photos stripped of EXIF and GPS, nothing of the report in the logs, the receipt
image, the quick exit, the language in the address."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from flask import request_finished
from PIL import Image
from sqlalchemy import select

from caseapp.models import SelfReportPhoto
from caseapp.observability.logs import JsonFormatter
from caseapp.runtime import settings
from caseapp.services.selfreports.seal import ReportSeal
from tests.functional.selfreport_support import (
    code_of,
    env,
    gps_jpeg,
    latest_report,
    open_report,
    send_report,
    token_of,
)

pytestmark = pytest.mark.usefixtures("clean_store")
GETS = ["/r", "/r?q=truong", "/r/SCH-A", "/r/SCH-A?lang=en", "/r/follow", "/r/exit", "/r/NOPE"]


def _no_cookie(response) -> None:
    assert "Set-Cookie" not in response.headers, response.headers.get("Set-Cookie")


def test_no_public_answer_sets_a_cookie(client, db):
    for url in GETS:
        response = client.get(url, environ_base=env())
        _no_cookie(response)
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "X-Request-Id" not in response.headers
    receipt = send_report(client, "SCH-A")
    _no_cookie(receipt)
    _no_cookie(send_report(client, "SCH-A", who_hurt=""))  # refused
    _no_cookie(send_report(client, "SCH-A", website="x"))  # honeypot
    _no_cookie(client.post("/r/SCH-A", data={}))  # no token
    followed = open_report(client, code_of(receipt))
    _no_cookie(followed)
    _no_cookie(open_report(client, "0000000000000000"))
    _no_cookie(client.post("/r/follow/message", data={"token": token_of(followed), "message": "a"}))
    _no_cookie(client.post("/r/follow/message", data={"token": "bad", "message": "a"}))
    image = client.post(
        "/r/receipt.png",
        data={"token": token_of(receipt), "code": code_of(receipt), "school": "SCH-A"},
    )
    _no_cookie(image)


def test_the_school_page_weighs_under_50_kb_with_its_css(client, db, app):
    page = client.get("/r/SCH-A")
    html = page.get_data(as_text=True)
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert sheets == ["/static/intake.css"]
    css = b"".join(client.get(href).get_data() for href in sheets)
    assert len(page.get_data()) + len(css) < 50 * 1024
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert scripts == ["/static/intake-exit.js"]
    assert "<script>" not in html and "style=" not in html
    assert "http://" not in html and "https://" not in html  # no third-party asset
    for must in ("Thoát nhanh", "111", "Em có mã biên nhận", 'href="/r/exit"'):
        assert must in html


def test_the_form_posts_without_script_and_hides_the_honeypot(client, db):
    html = client.get("/r/SCH-A").get_data(as_text=True)
    assert 'method="post" action="/r/SCH-A"' in html
    honeypot = re.search(r'<div class="hp" aria-hidden="true">.*?</div>', html, re.S).group(0)
    assert 'tabindex="-1"' in honeypot and 'autocomplete="off"' in honeypot
    assert 'name="csrf_token"' not in html


def test_photos_lose_their_exif_and_gps(client, db):
    original = gps_jpeg()
    assert b"DistinctiveCameraMaker" in original and b"secret-comment-xyz" in original
    response = send_report(client, "SCH-A", photos=[original])
    assert response.status_code == 200
    report = latest_report(db)
    photo = db.scalar(select(SelfReportPhoto).where(SelfReportPhoto.report_id == report.id))
    sealed = (settings().attachment_dir / photo.storage_name).read_bytes()
    assert b"DistinctiveCameraMaker" not in sealed
    clear = b"".join(ReportSeal(report).open_photo(photo.uid, io.BytesIO(sealed)))
    assert b"DistinctiveCameraMaker" not in clear and b"secret-comment-xyz" not in clear
    with Image.open(io.BytesIO(clear)) as img:
        img.load()
        assert img.format == "JPEG" and img.size == (640, 480)
        assert len(img.getexif()) == 0 and not img.getexif().get_ifd(0x8825)
        assert "exif" not in img.info and "icc_profile" not in img.info
        assert "comment" not in img.info
    assert photo.size == len(clear) and photo.content_type == "image/jpeg"


def test_a_large_photo_is_shrunk_and_turned_upright(client, db):
    img = Image.new("RGB", (3000, 1000), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: shown upright it is 1000 x 3000
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes())
    assert send_report(client, "SCH-A", photos=[out.getvalue()]).status_code == 200
    report = latest_report(db)
    photo = report.photos[0]
    sealed = (settings().attachment_dir / photo.storage_name).read_bytes()
    clear = b"".join(ReportSeal(report).open_photo(photo.uid, io.BytesIO(sealed)))
    with Image.open(io.BytesIO(clear)) as shown:
        assert shown.size == (667, 2000)


@pytest.mark.parametrize(
    "payload",
    [
        b"%PDF-1.4 not a picture",
        b"\xff\xd8\xff\xe0 truncated jpeg",
        b"GIF89a" + b"\x00" * 10,
        b"x" * (8 * 1024 * 1024 + 1),
    ],
)
def test_a_file_that_is_no_photo_is_refused_and_nothing_stored(client, db, payload):
    before = latest_report(db)
    response = send_report(client, "SCH-A", photos=[payload])
    assert response.status_code in (400, 413)
    assert 'role="alert"' in response.get_data(as_text=True) or response.status_code == 413
    assert latest_report(db) is before or latest_report(db).id == before.id


def test_a_decompression_bomb_is_refused(client, db):
    out = io.BytesIO()
    Image.new("1", (12000, 12000)).save(out, "PNG")  # 144 megapixels, a small file
    response = send_report(client, "SCH-A", photos=[out.getvalue()])
    assert response.status_code == 400


def test_more_than_three_photos_are_refused(client, db):
    small = gps_jpeg((20, 20))
    response = send_report(client, "SCH-A", photos=[small] * 4)
    assert response.status_code == 400


def test_the_logs_hold_nothing_of_the_report(client, db, app):
    """Every line logged while the reports are sent and followed, formatted as production
    writes it (inside the request), names the rule, never the path, the school code, the
    address, the content or the code; and no request id."""
    secret = "Chuyện-Rất-Riêng-Q7Z"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)

    def one_line_per_request(sender, response, **_extra):
        sender.logger.info("answered %s", response.status_code)

    request_finished.connect(one_line_per_request, app)
    try:
        response = send_report(client, "SCH-A", details=secret, contact="0988-Q7Z-111")
        code = code_of(response)
        open_report(client, code)
        send_report(client, "SCH-A", who_hurt="", details=secret)  # refused
    finally:
        request_finished.disconnect(one_line_per_request, app)
        root.removeHandler(handler)
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 5
    for line in lines:
        for needle in (secret, "Q7Z", code, "SCH-A", "10.77.31.9", "Mozilla"):
            assert needle not in line, line
        entry = json.loads(line)
        if entry.get("endpoint", "").startswith("intake."):
            assert "request_id" not in entry
            assert entry["path"] in ("/r/<school_code>", "/r/follow")


def test_the_receipt_image(client, db):
    receipt = send_report(client, "SCH-A")
    data = {"token": token_of(receipt), "code": code_of(receipt), "school": "SCH-A"}
    image = client.post("/r/receipt.png", data=data)
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.headers["Content-Disposition"].startswith("attachment")
    assert image.headers["Cache-Control"] == "no-store"
    with Image.open(io.BytesIO(image.get_data())) as img:
        assert img.format == "PNG" and img.size[0] > 300
    assert client.post("/r/receipt.png", data={**data, "token": "bad"}).status_code == 404
    # The token names the code and school: fields posted beside it choose nothing.
    other = client.post(
        "/r/receipt.png", data={**data, "code": "1234567812345678", "school": "SCH-B"}
    )
    assert other.status_code == 200 and other.get_data() == image.get_data()


def test_the_quick_exit_page_is_neutral(client, db):
    page = client.get("/r/exit").get_data(as_text=True)
    lowered = page.lower()
    for word in ("báo cáo", "bạo lực", "111", "report", "intake-exit", "thoát"):
        assert word not in lowered
    script = client.get("/static/intake-exit.js").get_data(as_text=True)
    assert "location.replace" in script and "Escape" in script


def test_english_is_carried_in_links_and_forms(client, db):
    page = client.get("/r/SCH-A?lang=en").get_data(as_text=True)
    assert 'lang="en"' in page and "Quick exit" in page
    assert 'action="/r/SCH-A?lang=en"' in page and 'href="/r/follow?lang=en"' in page
    receipt = send_report(client, "SCH-A", lang="en")
    assert "Your report was sent" in receipt.get_data(as_text=True)
    assert "Thoát nhanh" in client.get("/r/SCH-A?lang=xx").get_data(as_text=True)
