"""Production behind a real TLS proxy: gunicorn with deploy/gunicorn.conf.py and the production
settings, nginx with the shipped site (deploy/nginx/caseapp.conf) on loopback, and Chromium.
A person signs in, records a case with a file, finds it in the list and signs out, and no form
post is refused; a post from another site, or without its token, is refused with the
translated message and changes nothing."""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from caseapp import create_app, migrate
from caseapp.clock import local_today
from caseapp.db import make_engine
from caseapp.security.keyring import Keyring
from config import load_settings
from tests.browser.conftest import TIMEOUT_MS, _unavailable, assert_accessible, sign_in
from tests.browser.production_stack import (
    HOST,
    ROOT,
    Nginx,
    Stack,
    free_port,
    make_certificate,
    new_secret,
    nginx_missing,
    production_environ,
    start_gunicorn,
    stop,
    wait_until_healthy,
)
from tests.browser.test_case_browser import _png
from tests.conftest import Database
from tests.factories import Person, make_unit, make_user

pytestmark = pytest.mark.browser

WORKERS = 2  # gunicorn's, in the production fixture
SCHOOL_CODE = "PX-SCH"
SCHOOL_NAME = "Trường THPT Sau Proxy"  # under the province: upper-secondary
CSRF_MESSAGE_ID = (
    "The form expired or was not sent from this site. Nothing was changed; please try again."
)


def _translated(msgid: str) -> str:
    """The Vietnamese text of ``msgid`` (Vietnamese is the default locale)."""
    from babel.messages.pofile import read_po

    path = ROOT / "caseapp" / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    message = catalog.get(msgid)
    assert message is not None and message.string, f"no Vietnamese text for {msgid!r}"
    return message.string


@dataclass
class Site:
    """What tests.browser.conftest.sign_in needs: the address and a fresh TOTP code."""

    url: str
    engine: object

    def totp_code(self, person: Person) -> str:
        from caseapp.security import totp

        with self.engine.connect() as conn:
            last = (
                conn.execute(
                    text("SELECT totp_last_counter FROM users WHERE id = :id"), {"id": person.id}
                ).scalar()
                or 0
            )
        counter = max(totp.current_counter(), last + 1)
        while counter > totp.current_counter() + 1:
            time.sleep(1)
        return totp.code_at(person.totp_secret, counter)


def _seed(database_url: str, keyring_path, instance) -> Person:
    """A school and its focal point, written by a testing app on the same database and keyring
    (the production app does not seed)."""
    from caseapp.db import get_session
    from caseapp.runtime import keyring

    settings = load_settings(
        "testing",
        environ={
            "CASEAPP_INSTANCE": str(instance),
            "CASEAPP_TEST_DB": database_url,
            "CASEAPP_KEYRING": str(keyring_path),
        },
    )
    app = create_app(settings)
    try:
        with app.app_context():
            s = get_session()
            province = make_unit(s, None, "PX-P", "province", "Sở Giáo dục tỉnh Proxy")
            school = make_unit(s, province, SCHOOL_CODE, "school", SCHOOL_NAME)
            person = make_user(s, keyring(), "focal.proxy", school, [("focal_point", school)])
            s.commit()
    finally:
        app.extensions["caseapp.engine"].dispose()
    return person


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """The service as an operator runs it (README, Production), on its own database."""
    reason = nginx_missing()
    if reason:
        _unavailable(reason)
    tmp = tmp_path_factory.mktemp("production")
    database = Database(tmp, "prod")
    database.create()
    engine = None
    processes = []
    try:
        keyring_path = tmp / "keyring.json"
        Keyring.generate(keyring_path).save()  # mode 0600
        attachments = tmp / "attachments"
        attachments.mkdir(mode=0o700)
        metrics = tmp / "metrics"
        metrics.mkdir(mode=0o700)
        engine = make_engine(database.url)
        migrate.upgrade(engine)
        person = _seed(database.url, keyring_path, tmp / "seed-instance")
        cert, key = make_certificate(tmp / "tls")

        app_port, https_port, http_port = free_port(), free_port(), free_port()
        metrics_token = new_secret(32)
        env = production_environ(
            CASEAPP_ENV="production",
            SECRET_KEY=new_secret(),
            DATABASE_URL=database.url,
            CASEAPP_KEYRING=str(keyring_path),
            CASEAPP_ATTACHMENTS=str(attachments),
            CASEAPP_INSTANCE=str(tmp / "instance"),
            CASEAPP_TRUSTED_PROXIES="1",
            CASEAPP_BASE_URL=f"https://{HOST}:{https_port}",
            CASEAPP_METRICS_TOKEN=metrics_token,
            CASEAPP_BIND=f"{HOST}:{app_port}",
            CASEAPP_WORKERS=str(WORKERS),
            PROMETHEUS_MULTIPROC_DIR=str(metrics),
        )
        gunicorn_log = tmp / "gunicorn.log"
        processes.append(start_gunicorn(env, gunicorn_log))
        nginx = Nginx(tmp / "nginx", https_port, http_port, f"{HOST}:{app_port}", cert, key)
        checked = nginx.check()
        assert checked.returncode == 0, checked.stderr
        processes.append(
            subprocess.Popen(
                nginx.command("-g", "daemon off;"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        stack = Stack(
            f"https://{HOST}:{https_port}",
            f"http://{HOST}:{http_port}",
            cert,
            attachments,
            database.url,
            metrics_token,
            gunicorn_log,
            nginx,
            processes,
            person,
            engine,
        )
        wait_until_healthy(stack)
        yield stack
    finally:
        for process in reversed(processes):
            stop(process)
        if engine is not None:
            engine.dispose()
        database.drop()


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608


def _fill_case(page, marker: str) -> None:
    form = page.locator("form.case-form")
    form.locator('select[name="unit_id"]').select_option(label=SCHOOL_NAME)
    form.locator('input[name="received_on"]').fill(local_today().isoformat())
    form.locator('select[name="received_via"]').select_option("in_person")
    form.locator('select[name="reporter_kind"]').select_option("person_harmed")
    form.locator('select[name="setting"]').select_option("in_school")
    form.locator('input[name="violence_types"][value="psychological"]').check()
    form.locator('select[name="risk_level"]').select_option("medium")
    form.locator('select[name="harmed_sex"]').select_option("male")
    form.locator('select[name="harmed_age_band"]').select_option("11-14")
    form.locator('select[name="harmed_role"]').select_option("pupil")
    form.locator('select[name="perpetrator_sex"]').select_option("male")
    form.locator('select[name="perpetrator_age_band"]').select_option("11-14")
    form.locator('select[name="perpetrator_relationship"]').select_option("pupil_peer")
    form.locator('textarea[name="narrative"]').fill(f"Em bị bạn cùng lớp đe doạ. {marker}")


def _form_fields(page) -> dict[str, str]:
    """The case form as the browser would send it (one value per name)."""
    pairs = page.evaluate(
        "() => Array.from(new FormData(document.querySelector('form.case-form')).entries())"
    )
    return dict(pairs)


def test_sign_in_record_a_case_and_sign_out_behind_the_tls_proxy(chromium, production):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    base = production.base
    engine = production.engine
    person = production.person
    csrf_message = _translated(CSRF_MESSAGE_ID)
    marker = f"PROXY-{uuid.uuid4().hex[:10]}"
    file_name = f"tin-nhan-{marker}.png"
    picture = _png()

    context = chromium.new_context(ignore_https_errors=True)
    context.set_default_timeout(TIMEOUT_MS)
    # What a client claims about itself must not reach the app: nginx sets both.
    context.set_extra_http_headers(
        {"X-Forwarded-For": "203.0.113.9", "X-Request-Id": "chosen-by-the-client"}
    )
    posts: list[tuple[str, int]] = []
    try:
        page = context.new_page()
        page.on(
            "response",
            lambda r: posts.append((r.url, r.status)) if r.request.method == "POST" else None,
        )

        sign_in(page, Site(base, engine), person)
        expect(page.locator('form[action="/logout"]')).to_have_count(1)

        # Record a case, as a person would reach the form.
        page.locator('nav a[href="/cases/"]').click()
        page.wait_for_url(f"{base}/cases/")
        page.locator('main a[href="/cases/new"]').click()
        page.wait_for_url(f"{base}/cases/new")
        assert_accessible(page, "the new-case form served by nginx and gunicorn")
        _fill_case(page, marker)
        page.locator('form.case-form button[type="submit"]').click()
        page.wait_for_url(re.compile(re.escape(f"{base}/cases/") + r"[0-9a-f-]{36}$"))
        found = re.search(
            rf"{SCHOOL_CODE}-{local_today().year}-\d{{4}}", page.locator("h1").inner_text()
        )
        assert found, page.locator("h1").inner_text()
        reference = found.group(0)
        case_path = page.url.removeprefix(base)

        # A file, through nginx's body limits, sealed into CASEAPP_ATTACHMENTS.
        page.locator(f'a[href="{case_path}/confidential"]').click()
        page.wait_for_url(f"{base}{case_path}/confidential")
        expect(page.locator("section.confidential")).to_contain_text(marker)
        upload = page.locator(f'form[action="{case_path}/attachments"]')
        upload.locator('input[type="file"]').set_input_files(
            {"name": file_name, "mimeType": "image/png", "buffer": picture}
        )
        upload.locator('button[type="submit"]').click()
        page.wait_for_url(f"{base}{case_path}/confidential")
        expect(page.locator(".flash-error")).to_have_count(0)
        expect(page.get_by_role("link", name=file_name)).to_have_count(1)
        stored = [p for p in production.attachments.rglob("*") if p.is_file()]
        assert len(stored) == 1, stored
        assert picture not in stored[0].read_bytes()

        # The case is in the list.
        page.locator('nav a[href="/cases/"]').click()
        page.wait_for_url(f"{base}/cases/")
        expect(page.locator("main").get_by_text(reference)).to_have_count(1)

        # The audit trail holds the address nginx saw and the request id it made.
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT ip, request_id FROM audit_events WHERE actor_id = :id"),
                {"id": person.id},
            ).all()
        assert rows
        assert {ip for ip, _ in rows} == {HOST}
        assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for _, rid in rows), rows

        # Posts the CSRF protection must refuse, with everything else valid: from another
        # site (a foreign Referer), and without the form's token.
        page.goto(f"{base}/cases/new")
        _fill_case(page, marker + "-forged")
        fields = _form_fields(page)
        assert fields.get("csrf_token")
        cases_before = _count(engine, "cases")
        forged = context.request.post(
            f"{base}/cases/new",
            form=fields,
            headers={"Referer": "https://evil.example/cases/new"},
            max_redirects=0,
        )
        assert forged.status == 400, forged.status
        assert csrf_message in forged.text()
        tokenless = {k: v for k, v in fields.items() if k != "csrf_token"}
        missing = context.request.post(
            f"{base}/cases/new",
            form=tokenless,
            headers={"Referer": f"{base}/cases/new"},
            max_redirects=0,
        )
        assert missing.status == 400, missing.status
        assert csrf_message in missing.text()
        assert _count(engine, "cases") == cases_before == 1

        # Sign out.
        page.goto(f"{base}/cases/")
        page.locator('form[action="/logout"] button[type="submit"]').click()
        page.wait_for_url(f"{base}/login")
        expect(page.locator('form[action="/logout"]')).to_have_count(0)
    except PlaywrightError as exc:
        # A refused post shows as a page that never arrives: say which post it was.
        raise AssertionError(
            f"{exc.message}\nform posts so far (url, status): {posts}\n{production.logs()}"
        ) from exc
    finally:
        context.close()

    # Sign-in (2), the case, the file and sign-out: every post went through.
    assert len(posts) >= 5, posts
    refused = [(url, status) for url, status in posts if status >= 400]
    assert not refused, f"form posts refused behind the proxy: {refused}\n{production.logs()}"


def _plain(
    stack: Stack, method: str, path: str, headers: dict | None = None, tls: bool = True
) -> http.client.HTTPResponse:
    host, port = (stack.base if tls else stack.http_base).rsplit("/", 1)[1].split(":")
    if tls:
        conn = http.client.HTTPSConnection(host, int(port), timeout=10, context=stack.tls_context())
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_the_proxy_redirects_limits_and_labels_requests(production):
    # Plain HTTP only redirects, to the configured name.
    response = _plain(production, "GET", "/login?x=1", tls=False)
    assert response.status == 301
    assert response.getheader("Location") == f"https://{HOST}/login?x=1"

    # TLS 1.2 is enough for an older phone (nothing older is offered: see the unit test).
    tls12 = production.tls_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    port = int(production.base.rsplit(":", 1)[1])
    with (
        socket.create_connection((HOST, port), timeout=10) as raw,
        tls12.wrap_socket(raw, server_hostname=HOST) as wrapped,
    ):
        assert wrapped.version() == "TLSv1.2"

    # The app's headers come through; nginx names no version and sets the request id.
    status, headers, _ = production.get("/login", {"X-Request-Id": "chosen-by-the-client"})
    assert status == 200
    assert headers["Server"] == "nginx"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"])
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert "max-age=" in headers["Strict-Transport-Security"]

    # An upload larger than the app accepts is refused by nginx before any of it is read.
    response = _plain(
        production,
        "POST",
        "/cases/x/attachments",
        {"Content-Length": str(12 * 1024 * 1024), "Content-Type": "application/octet-stream"},
    )
    assert response.status == 413

    # /metrics wants its token; with it, the workers' counters are added up
    # (PROMETHEUS_MULTIPROC_DIR, as systemd gives it).
    status, _, body = production.get("/metrics")
    assert status in (401, 403, 404), status
    assert "# HELP" not in body
    status, _, body = production.get(
        "/metrics", {"Authorization": f"Bearer {production.metrics_token}"}
    )
    assert status == 200, body[:500]
    assert re.search(
        r'^caseapp_http_requests_total\{[^}]*endpoint="auth.login"', body, flags=re.M
    ), body[:2000]


def _stalled_download(stack: Stack, path: str, cookie: str) -> tuple[ssl.SSLSocket, bytes]:
    """A GET of ``path`` from a phone that takes its time: a small receive window, the headers
    and the first bytes read, then nothing more until the caller reads again."""
    port = int(stack.base.rsplit(":", 1)[1])
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # before connecting
    raw.settimeout(10)
    raw.connect((HOST, port))
    phone = stack.tls_context().wrap_socket(raw, server_hostname=HOST)
    phone.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nCookie: {cookie}\r\n"
        "Connection: close\r\n\r\n".encode("ascii")
    )
    head = phone.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 "), head[:300]
    return phone, head


def _queued_with(port: int) -> int:
    """Bytes waiting in the kernel on the loopback connections to or from ``port`` (sent and not
    yet read, both ways), from /proc/net/tcp: data a worker wrote that nginx has not taken."""
    queued = seen = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if port in (int(local.split(":")[1], 16), int(remote.split(":")[1], 16)):
            tx, rx = queues.split(":")
            queued += int(tx, 16) + int(rx, 16)
            seen += 1
    assert seen, f"no socket of port {port} in /proc/net/tcp (not even gunicorn's listening one)"
    return queued


def _rest(phone: ssl.SSLSocket, first: bytes = b"") -> bytes:
    received = [first]
    while chunk := phone.recv(1 << 16):
        received.append(chunk)
    phone.close()
    return b"".join(received)


def test_a_download_to_a_slow_phone_does_not_hold_a_worker(chromium, production):
    """nginx takes a whole attachment (up to the app's 10 MiB) from the worker at once, in
    memory, and gives it to the phone at the phone's pace: as many slow downloads as there are
    workers leave the service answering, and each download arrives whole, none of it written to
    a temporary file by nginx."""
    from playwright.sync_api import expect

    base = production.base
    marker = f"SLOW-{uuid.uuid4().hex[:10]}"
    file_name = f"bien-ban-{marker}.png"
    content = _png() + os.urandom(10 * 1024 * 1024 - 64 * 1024)  # near the app's limit

    context = chromium.new_context(ignore_https_errors=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, Site(base, production.engine), production.person)
        page.goto(f"{base}/cases/new")
        _fill_case(page, marker)
        page.locator('form.case-form button[type="submit"]').click()
        page.wait_for_url(re.compile(re.escape(f"{base}/cases/") + r"[0-9a-f-]{36}$"))
        case_path = page.url.removeprefix(base)
        page.goto(f"{base}{case_path}/confidential")
        upload = page.locator(f'form[action="{case_path}/attachments"]')
        upload.locator('input[type="file"]').set_input_files(
            {"name": file_name, "mimeType": "image/png", "buffer": content}
        )
        upload.locator('button[type="submit"]').click()
        page.wait_for_url(f"{base}{case_path}/confidential")
        link = page.get_by_role("link", name=file_name)
        expect(link).to_have_count(1)
        path = link.get_attribute("href")
        assert path and path.startswith(f"{case_path}/attachments/"), path
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies(base))
    finally:
        context.close()

    phones = [_stalled_download(production, path, cookie) for _ in range(WORKERS)]
    try:
        # nginx has taken every answer whole from the workers, however little the phones read:
        # nothing waits between a worker and nginx (without the buffers, megabytes would, and
        # each worker would be stuck writing the rest).
        app_port = int(production.nginx.upstream.rsplit(":", 1)[1])
        deadline = time.monotonic() + 5
        while (queued := _queued_with(app_port)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert queued == 0, f"{queued} bytes still between the workers and nginx"
        # And the workers are free for everyone else.
        started = time.monotonic()
        status, _, body = production.get("/login")  # fails after 10 s if no worker is free
        assert status == 200, body[:300]
        assert time.monotonic() - started < 5, production.logs()
        # nginx unlinks a temp file as it opens it, so the folder cannot tell; its log does.
        log = production.nginx.error_log()
        assert "buffered to a temporary file" not in log, log[-2000:]
    finally:
        answers = [_rest(phone, head) for phone, head in phones]
    for answer in answers:
        head, _, received = answer.partition(b"\r\n\r\n")
        assert f"Content-Length: {len(content)}".encode() in head, head
        assert received == content
