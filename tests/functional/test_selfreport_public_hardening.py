"""The public self-report pages against review r1's findings: every answer under /r (routed or
not) keeps the promises of the pages (no cookie, no request id, no path in a log line); three
photos fit one request; the reply token neither renews itself nor outlives the code; a wrong
and a blocked code run the same statements; other sites cannot post; the form token names its
school and the receipt token its code."""

from __future__ import annotations

import io
import logging
import os
import re
import time
import uuid

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from PIL import Image
from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.intake.forms import FORM_SALT, REPLY_SALT, REQUEST_BYTES_MAX
from caseapp.models import SelfReport, SelfReportMessage, Unit
from caseapp.models.selfreports import PHOTO_BYTES_MAX, PHOTOS_MAX
from caseapp.observability.gunicorn_hooks import is_reporter_path
from caseapp.observability.logs import JsonFormatter
from caseapp.public_paths import is_public_path
from caseapp.services.audit.trail import record
from caseapp.services.selfreports.seal import ReportSeal
from tests.factories import make_unit, squeezed, statements_sent
from tests.functional.selfreport_support import (
    code_of,
    env,
    latest_report,
    open_report,
    report_fields,
    send_report,
    token_of,
)
from tests.functional.test_selfreport_public_follow import _close

pytestmark = pytest.mark.usefixtures("clean_store")
STAFF_SECRET = "Cô-giáo-trả-lời-F2X"

# --- 1. every answer under /r, routed or not ---------------------------------------------------

ODD = [
    ("PUT", "/r/SCH-A"),
    ("DELETE", "/r/follow"),
    ("GET", "/r/receipt.png"),
    ("GET", "/r/follow/message"),
    ("GET", "/r/SCH-A/extra"),
    ("GET", "/r/"),
    ("HEAD", "/r/SCH-A"),
    ("OPTIONS", "/r/SCH-A"),
    ("GET", "/r/%00%ff"),
    ("GET", "/r/SCH-A%0d%0aX:y"),
    ("PATCH", "/r"),
]


@pytest.mark.parametrize(("method", "url"), ODD)
def test_odd_public_requests_leave_no_trace(client, db, method, url):
    response = client.open(url, method=method, environ_base=env())
    assert "Set-Cookie" not in response.headers, response.headers
    assert "X-Request-Id" not in response.headers
    assert response.headers["Referrer-Policy"] == "no-referrer"
    if method not in ("HEAD", "OPTIONS") and response.status_code >= 400:
        page = response.get_data(as_text=True)
        assert "csrf_token" not in page and "Thoát nhanh" in page  # the public error page


def test_a_doubled_slash_is_a_public_path_too(client, db):
    """ "//r/..." (which a browser may send as it is) keeps the same promises."""
    response = client.get("/", environ_overrides={"PATH_INFO": "//r/SCH-A/extra", **env()})
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers and "X-Request-Id" not in response.headers
    assert "Thoát nhanh" in response.get_data(as_text=True)


def test_a_staff_page_still_keeps_its_session(client, db):
    """The cookie-free rule is the /r paths' only: the sign-in page still sets its cookie."""
    page = client.get("/login")
    assert page.status_code == 200 and "Set-Cookie" in page.headers
    assert page.headers["Referrer-Policy"] == "same-origin" and "X-Request-Id" in page.headers


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/r", True),
        ("/r/", True),
        ("/r/SCH-A", True),
        ("//r/SCH-A", True),
        ("///r", True),
        ("/rx", False),
        ("/reports", False),
        ("/", False),
        ("", False),
    ],
)
def test_one_rule_names_the_public_paths(path, public):
    assert is_public_path(path) is public
    assert is_reporter_path(path) is public


def test_a_log_line_of_an_unrouted_public_path_holds_no_path(app, caplog):
    formatter = JsonFormatter()
    with app.test_request_context("/r/SCH-SECRET/extra?q=ten-truong"):
        line = formatter.format(logging.LogRecord("x", logging.ERROR, __file__, 1, "m", (), None))
    assert "SCH-SECRET" not in line and "ten-truong" not in line and "request_id" not in line


# --- 3. three photos fit; a too large request answers on the public page ----------------------


def _phone_photo(target: int) -> bytes:
    side = 1200
    while True:
        img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=95)
        if len(out.getvalue()) >= target:
            return out.getvalue()
        side += 400


def test_three_allowed_photos_fit_in_one_request(client, db, app):
    assert REQUEST_BYTES_MAX >= PHOTOS_MAX * PHOTO_BYTES_MAX > app.config["MAX_CONTENT_LENGTH"]
    photo = _phone_photo(4 * 1024 * 1024)
    assert len(photo) < PHOTO_BYTES_MAX
    response = send_report(client, "SCH-A", photos=[photo] * PHOTOS_MAX)
    assert response.status_code == 200, response.status_code
    assert len(code_of(response)) == 16
    assert len(latest_report(db).photos) == PHOTOS_MAX


def test_a_too_large_report_shows_the_public_page_with_a_way_back(client, db):
    big = b"\xff" * (REQUEST_BYTES_MAX + 10)
    response = client.post(
        "/r/SCH-A?lang=en",
        data={"token": "x", "photos": [(io.BytesIO(big), "a.jpg")]},
        content_type="multipart/form-data",
        environ_base=env(),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "Set-Cookie" not in response.headers and "X-Request-Id" not in response.headers
    assert "send fewer or smaller photos" in page
    assert 'href="/r/SCH-A?lang=en"' in page and "Quick exit" in page


# --- 6. the reply token --------------------------------------------------------------------------


def _filed(client, db):
    response = send_report(client, "SCH-A")
    assert response.status_code == 200
    return latest_report(db), code_of(response)


def _staff_reply(db, report, text):
    message = SelfReportMessage(
        uid=str(uuid.uuid4()),
        report_id=report.id,
        direction="staff",
        sent_on=local_today(),
        body=b"",
    )
    message.body = ReportSeal(report).seal_message(message.uid, text)
    db.add(message)
    record(db, None, "selfreport.reply", message, unit=report.routed_unit, changes={})
    db.commit()


def test_a_reply_token_dies_with_the_code(client, db):
    report, code = _filed(client, db)
    _staff_reply(db, report, STAFF_SECRET)
    token = token_of(open_report(client, code))
    _close(db, report, days_ago=400)
    assert STAFF_SECRET not in open_report(client, code, ip="10.1.1.1").get_data(as_text=True)
    for message in ("", "Em vẫn còn đây"):
        page = client.post("/r/follow/message", data={"token": token, "message": message})
        body = page.get_data(as_text=True)
        assert page.status_code == 400 and STAFF_SECRET not in body
        assert "open for too long" in body or "quá lâu" in body
        assert 'name="token"' not in body  # no token of any kind is handed out


def test_a_closed_report_refuses_a_message_without_the_conversation(client, db):
    report, code = _filed(client, db)
    _staff_reply(db, report, STAFF_SECRET)
    token = token_of(open_report(client, code))
    _close(db, report, days_ago=1)
    page = client.post("/r/follow/message", data={"token": token, "message": "Xin chào"})
    body = page.get_data(as_text=True)
    assert page.status_code == 400 and STAFF_SECRET not in body and 'name="token"' not in body
    db.expire_all()
    assert not [m for m in report.messages if m.direction == "reporter"]


def test_a_refused_message_keeps_the_same_token_and_hides_the_conversation(client, db):
    report, code = _filed(client, db)
    _staff_reply(db, report, STAFF_SECRET)
    token = token_of(open_report(client, code))
    again = client.post("/r/follow/message", data={"token": token, "message": " "})
    body = again.get_data(as_text=True)
    assert again.status_code == 400 and token_of(again) == token
    assert STAFF_SECRET not in body and 'role="alert"' in body and 'href="/r/follow"' in body
    sent = client.post("/r/follow/message", data={"token": token, "message": "Em ổn"})
    assert sent.status_code == 200 and token_of(sent) == token  # shown again, never re-signed


def test_an_old_token_is_not_renewed_by_a_refusal(client, db, app):
    report, _code = _filed(client, db)

    class OldSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 3500

    ser = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=REPLY_SALT)
    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=REPLY_SALT, signer=OldSigner)
    token = old.dumps({"r": report.uid})  # 58 minutes old
    again = client.post("/r/follow/message", data={"token": token, "message": " "})
    assert again.status_code == 400
    _p, t0 = ser.loads(token, return_timestamp=True)
    _p, t1 = ser.loads(token_of(again), return_timestamp=True)
    assert t1 == t0


# --- 7. a wrong code and a blocked one -----------------------------------------------------------


def _statements(app, fn):
    with statements_sent(app.extensions["caseapp.engine"]) as sent:
        body = fn().get_data()
    return [re.sub(r"sa_savepoint_\d+", "sa_savepoint", squeezed(s)) for s in sent], body


def test_a_blocked_guess_runs_what_a_wrong_one_runs(app, client, db):
    _report, code = _filed(client, db)
    limit = app.extensions["caseapp.settings"].selfreport_guesses_per_address
    wrong, wrong_page = _statements(
        app, lambda: open_report(client, "1111222233334444", "10.5.5.5")
    )
    garbage, garbage_page = _statements(app, lambda: open_report(client, "abc", "10.5.5.7"))
    for _ in range(limit):
        open_report(client, "1111222233334444", ip="10.5.5.6")
    blocked, blocked_page = _statements(
        app, lambda: open_report(client, "1111222233334444", "10.5.5.6")
    )
    right_blocked, right_page = _statements(app, lambda: open_report(client, code, "10.5.5.6"))
    assert wrong == garbage == blocked == right_blocked
    assert wrong_page == garbage_page == blocked_page == right_page
    assert b'role="alert"' in wrong_page


# --- 8. other sites' posts -----------------------------------------------------------------------

HOSTILE = [
    {"HTTP_SEC_FETCH_SITE": "cross-site"},
    {"HTTP_ORIGIN": "https://evil.example"},
    {"HTTP_ORIGIN": "https://evil.example", "HTTP_SEC_FETCH_SITE": "cross-site"},
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_cross_site_post_counts_nothing(app, client, db, hostile):
    report, code = _filed(client, db)
    limit = app.extensions["caseapp.settings"].selfreport_guesses_per_address
    for _ in range(limit + 2):
        refused = client.post("/r/follow", data={"code": "0"}, environ_base={**env(), **hostile})
        assert refused.status_code == 403 and "Set-Cookie" not in refused.headers
        assert 'role="alert"' in refused.get_data(as_text=True)
    assert "Đã nhận" in open_report(client, code).get_data(as_text=True)
    token = token_of(open_report(client, code))
    before = len(report.messages)
    posted = client.post(
        "/r/follow/message", data={"token": token, "message": "x"}, environ_base=hostile
    )
    db.expire_all()
    assert posted.status_code == 403 and len(report.messages) == before


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_cross_site_report_is_not_stored(client, db, hostile):
    page = client.get("/r/SCH-A", environ_base=env())
    count = db.scalar(select(func.count()).select_from(SelfReport))
    sent = client.post(
        "/r/SCH-A",
        data={"token": token_of(page), **report_fields()},
        environ_base={**env(), **hostile},
    )
    assert sent.status_code == 403
    assert db.scalar(select(func.count()).select_from(SelfReport)) == count


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_ORIGIN": "null"},  # what browsers send under Referrer-Policy: no-referrer
        {"HTTP_ORIGIN": "http://localhost", "HTTP_SEC_FETCH_SITE": "same-origin"},
        {"HTTP_SEC_FETCH_SITE": "none"},
    ],
)
def test_our_own_posts_pass(client, db, headers):
    response = send_report(client, "SCH-A")
    assert response.status_code == 200
    code = code_of(response)
    page = client.post("/r/follow", data={"code": code}, environ_base={**env(), **headers})
    assert page.status_code == 200 and "Đã nhận" in page.get_data(as_text=True)


# --- 9. the form token names its school ----------------------------------------------------------


def test_a_form_token_of_one_school_sends_nothing_to_another(client, db):
    token = token_of(client.get("/r/SCH-A", environ_base=env()))
    count = db.scalar(select(func.count()).select_from(SelfReport))
    refused = client.post(
        "/r/SCH-B", data={"token": token, **report_fields()}, environ_base=env("10.3.3.1")
    )
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400 and 'role="alert"' in body
    assert token_of(refused) != token  # the form again, with SCH-B's own token
    assert db.scalar(select(func.count()).select_from(SelfReport)) == count
    accepted = client.post(
        "/r/SCH-A", data={"token": token, **report_fields()}, environ_base=env("10.3.3.2")
    )
    assert accepted.status_code == 200 and len(code_of(accepted)) == 16


# --- 10. the receipt image draws only what its token names ------------------------------------


def test_the_receipt_image_needs_a_token_naming_the_code(client, db, app):
    nameless = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=FORM_SALT).dumps(
        {"k": "receipt"}
    )
    data = {"token": nameless, "code": "1234 5678 9012 3456", "school": "SCH-A"}
    assert client.post("/r/receipt.png", data=data).status_code == 404


def test_the_honeypot_token_names_its_own_code_only(client, db):
    page = client.get("/r/SCH-A", environ_base=env())
    fake = client.post(
        "/r/SCH-A", data={"token": token_of(page), "website": "x"}, environ_base=env()
    )
    assert fake.status_code == 200
    token = token_of(fake)
    own = client.post("/r/receipt.png", data={"token": token})
    chosen = client.post(
        "/r/receipt.png",
        data={"token": token, "code": "1234 5678 9012 3456", "school": "SCH-B"},
    )
    assert own.status_code == chosen.status_code == 200
    assert own.get_data() == chosen.get_data()  # the fields beside the token chose nothing


# --- the school search filters in the database ---------------------------------------------------


def test_the_school_search_filters_and_limits_in_sql(app, db):
    from caseapp.services.selfreports.intake import SEARCH_LIMIT, find_schools

    district = db.scalar(select(Unit).where(Unit.code == "D1"))
    for i in range(SEARCH_LIMIT + 5):
        make_unit(db, district, f"HX-{i:03d}", "school", f"Trường THCS Đặng Thị Ấu {i:03d}")
    db.flush()
    with statements_sent(app.extensions["caseapp.engine"]) as seen:
        found = find_schools(db, "DANG THỊ ẤU")
    assert len(found) == SEARCH_LIMIT and all("Ấu" in s.name for s in found)
    assert [s.code for s in found] == [f"HX-{i:03d}" for i in range(SEARCH_LIMIT)]  # by name
    assert len(seen) == 1 and "LIMIT" in seen[0].upper()  # one query, filtered and cut there
    assert [s.code for s in find_schools(db, "au 007")] == ["HX-007"]
    assert find_schools(db, "%%%%") == [] and find_schools(db, "__ __") == []
