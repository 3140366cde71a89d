"""The reporter's load on the service (review r1, findings 5a-5c and 11): messages and their
photos are limited per report and day and per address; a report or message refused for a bad
photo keeps its slot; decoding a photo is bounded in pixels, memory and concurrency; a phone's
multi-picture JPEG (MPO) is a photo like any other."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from caseapp.errors import ValidationFailed
from caseapp.models import AuditEvent, SelfReportMessage, SelfReportPhoto
from caseapp.runtime import settings
from caseapp.services.selfreports import photos as photo_store
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
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def limits(app):
    """Change the self-report settings for one test."""
    original = app.extensions["caseapp.settings"]

    def change(**values):
        app.extensions["caseapp.settings"] = dataclasses.replace(original, **values)

    yield change
    app.extensions["caseapp.settings"] = original


def _filed(client, db, ip="10.80.0.1"):
    response = send_report(client, "SCH-A", ip=ip)
    assert response.status_code == 200
    return latest_report(db), code_of(response)


def _message(client, token, text, photos=(), ip="10.80.0.1"):
    return client.post(
        "/r/follow/message",
        data={
            "token": token,
            "message": text,
            "photos": [(io.BytesIO(p), f"{n}.jpg") for n, p in enumerate(photos)],
        },
        content_type="multipart/form-data",
        environ_base=env(ip),
    )


def _count(db, model, report) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model).where(model.report_id == report.id))


def _png(side: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (side, side), (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


# 5a: messages


def test_messages_and_photos_per_report_and_day_are_limited(client, db):
    report, code = _filed(client, db)
    token = token_of(open_report(client, code))
    photo = gps_jpeg((64, 64))
    cfg = settings()
    statuses = []
    for i in range(30):
        sent = _message(client, token, f"tin {i}", photos=[photo] * 3, ip=f"10.80.1.{i}")
        statuses.append(sent.status_code)
        token = token_of(sent)
    assert _count(db, SelfReportPhoto, report) == cfg.selfreport_message_photos_per_report_day
    refused = _message(client, token, "Ảnh thứ bảy", photos=[photo])
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "6 ảnh" in page and "Ảnh thứ bảy" in page  # the typed text stays in the form
    # Without photos the messages go on, up to the day's limit.
    sent_messages = _count(db, SelfReportMessage, report)
    while sent_messages < cfg.selfreport_messages_per_report_day:
        assert _message(client, token, "chữ thôi").status_code == 200
        sent_messages += 1
    events = db.scalar(select(func.count()).select_from(AuditEvent))
    refused = _message(client, token, "Tin thứ mười một")
    assert refused.status_code == 429
    assert "111" in refused.get_data(as_text=True)
    assert _count(db, SelfReportMessage, report) == cfg.selfreport_messages_per_report_day
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_messages_per_address_are_limited(client, db, limits):
    limits(selfreport_messages_per_address=3)
    tokens = []
    for i in range(2):
        _report, code = _filed(client, db, ip=f"10.81.0.{i}")
        tokens.append(token_of(open_report(client, code)))
    assert _message(client, tokens[0], "một", ip="10.81.9.9").status_code == 200
    assert _message(client, tokens[1], "hai", ip="10.81.9.9").status_code == 200
    assert _message(client, tokens[0], "ba", ip="10.81.9.9").status_code == 200
    refused = _message(client, tokens[1], "bốn", ip="10.81.9.9")
    assert refused.status_code == 429 and "kết nối" in refused.get_data(as_text=True)
    assert _message(client, tokens[1], "từ nơi khác", ip="10.81.9.10").status_code == 200


# 5b: a refused photo keeps the slot


def test_a_report_refused_for_a_bad_photo_keeps_its_slot(client, db, app):
    limit = app.extensions["caseapp.settings"].selfreport_reports_per_address
    good = _png(300)
    statuses = [
        send_report(client, "SCH-A", ip="10.44.0.1", photos=[good, b"GIF89a-no"]).status_code
        for _ in range(limit + 1)
    ]
    assert statuses == [400] * limit + [429], statuses
    # Reports without photos are refused before the slot is taken: they give nothing back
    # because they took nothing.
    assert send_report(client, "SCH-A", ip="10.44.0.2", what=[], details="").status_code == 400
    assert send_report(client, "SCH-A", ip="10.44.0.2").status_code == 200


def test_a_message_refused_for_a_bad_photo_keeps_its_slot(client, db, limits):
    limits(selfreport_messages_per_address=2)
    _report, code = _filed(client, db)
    token = token_of(open_report(client, code))
    for _ in range(2):
        refused = _message(client, token, "ảnh hỏng", photos=[b"not a picture"], ip="10.45.0.1")
        assert refused.status_code == 400
    assert _message(client, token, "chữ", ip="10.45.0.1").status_code == 429


# 5c: decoding cost


def test_a_huge_picture_in_a_small_file_is_refused_undecoded(db):
    data = _png(7070, "RGBA")  # 50 MP: under 200 KB of PNG
    assert len(data) < 1024 * 1024
    with pytest.raises(ValidationFailed) as refused:
        photo_store.clean_jpeg(data)
    assert "quá lớn" in refused.value.message  # "This photo is too large."
    assert 7070 * 7070 > photo_store.PIXELS_MAX >= 20_000_000


MEMORY_PROBE = r"""
import io, sys
sys.path.insert(0, sys.argv[3])
import flask_babel
from flask import Flask
from PIL import Image
from caseapp.errors import ValidationFailed
from caseapp.services.selfreports import photos
data = open(sys.argv[1], "rb").read()
app = Flask("probe"); flask_babel.Babel(app)
def status(field):  # kB; VmHWM is this process's peak (ru_maxrss keeps the parent's)
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
before = status("VmRSS")
with app.app_context():
    if sys.argv[2] == "full":
        print(len(Image.open(io.BytesIO(data)).convert("RGB").tobytes()), end=" ")
    else:
        try:
            print(len(photos.clean_jpeg(data)), end=" ")
        except ValidationFailed:
            print(0, end=" ")
print(max(0, status("VmHWM") - before) // 1024)
"""


def _memory_grown_mb(tmp_path, data: bytes, how: str = "clean") -> tuple[int, int]:
    """(bytes out, peak MB above the memory before) of cleaning ``data`` (or, with
    how="full", of decoding it in full) in a fresh process."""
    path = tmp_path / "photo"
    path.write_bytes(data)
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path), how, str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    size, grown = (int(x) for x in out.stdout.split())
    print(how, "bytes out", size, "memory grown MB", grown)
    return size, grown


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux /proc needed")
def test_cleaning_costs_little_memory(tmp_path):
    """The 50 MP PNG is refused before decoding; a 24 MP JPEG is decoded at half its scale
    (about a quarter of the memory of a full decode)."""
    png = _png(7070, "RGBA")
    size, grown = _memory_grown_mb(tmp_path, png)
    _full_size, full_grown = _memory_grown_mb(tmp_path, png, "full")
    assert size == 0 and grown < 30 and full_grown > 150, (grown, full_grown)
    jpeg = io.BytesIO()
    Image.new("RGB", (6000, 4000), (90, 40, 20)).save(jpeg, "JPEG")
    size, grown = _memory_grown_mb(tmp_path, jpeg.getvalue())
    _full_size, full_grown = _memory_grown_mb(tmp_path, jpeg.getvalue(), "full")
    assert size > 0 and grown < full_grown / 2, (grown, full_grown)


def test_a_large_jpeg_is_shrunk_to_the_side_limit(db):
    jpeg = io.BytesIO()
    Image.new("RGB", (4800, 3600), (90, 40, 20)).save(jpeg, "JPEG")
    with Image.open(io.BytesIO(photo_store.clean_jpeg(jpeg.getvalue()))) as img:
        assert img.size == (photo_store.SIDE_MAX, 1500)


def test_at_most_two_photos_are_decoded_at_once(app, monkeypatch):
    running = 0
    most = 0
    lock = threading.Lock()
    original = photo_store._decoded

    def slow(data, too_large):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return original(data, too_large)

    monkeypatch.setattr(photo_store, "_decoded", slow)
    errors = []

    def clean():
        with app.app_context():
            try:
                photo_store.clean_jpeg(gps_jpeg((32, 32)))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=clean) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert most == photo_store.DECODES_AT_ONCE == 2


# 11: MPO


def test_a_phone_mpo_photo_is_accepted_first_picture_only(client, db):
    out = io.BytesIO()
    first = Image.new("RGB", (40, 30), (200, 10, 10))
    first.save(out, "MPO", save_all=True, append_images=[Image.new("RGB", (40, 30), (0, 0, 255))])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    response = send_report(client, "SCH-A", photos=[out.getvalue()])
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    report = latest_report(db)
    photo = report.photos[-1]
    with open(settings().attachment_dir / photo.storage_name, "rb") as src:
        clear = b"".join(ReportSeal(report).open_photo(photo.uid, src))
    with Image.open(io.BytesIO(clear)) as img:
        assert img.format == "JPEG" and img.size == (40, 30)
        red, green, blue = img.convert("RGB").getpixel((20, 15))
        assert red > 150 and blue < 60  # the first picture, not the second
    assert os.path.getsize(settings().attachment_dir / photo.storage_name) < 10_000
