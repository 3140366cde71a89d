# ruff: noqa: E501, S108, S310, S323, SIM105
"""deploy/nginx/caseapp.conf on a real nginx: a request to /r that nginx refuses (a body past
client_max_body_size) or cannot pass on (the app not answering) leaves nothing in the error
log: no school code, no query, no client address (review r1). Needs nginx, openssl and
envsubst."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.browser.production_stack import free_port

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "caseapp.conf"
pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("nginx", "openssl", "envsubst")), reason="needs nginx"
)


def test_nginx_error_log_holds_no_reporter_address_or_path(tmp_path):
    d = tmp_path
    https = free_port()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            d / "k.pem",
            "-out",
            d / "c.pem",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    env = {
        "SERVER_NAME": "localhost",
        "HTTP_LISTEN": str(free_port()),
        "HTTPS_LISTEN": str(https),
        "UPSTREAM": f"127.0.0.1:{free_port()}",
        "LOG_DIR": str(d),
        "TLS_CERTIFICATE": str(d / "c.pem"),
        "TLS_CERTIFICATE_KEY": str(d / "k.pem"),
        "PATH": "/usr/bin:/bin",
    }
    names = "${SERVER_NAME} ${HTTP_LISTEN} ${HTTPS_LISTEN} ${UPSTREAM} ${LOG_DIR} ${TLS_CERTIFICATE} ${TLS_CERTIFICATE_KEY}"
    site = subprocess.run(
        ["envsubst", names],
        input=CONF.read_text(),
        env=env,
        text=True,
        capture_output=True,
        check=True,
    ).stdout
    (d / "site.conf").write_text(site)
    (d / "tmp").mkdir()
    (d / "nginx.conf").write_text(
        f"pid {d}/nginx.pid; error_log {d}/error.log; events {{}}\n"
        f"http {{ client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;"
        f" uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp; include {d}/site.conf; }}\n"
    )
    subprocess.run(
        ["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")], check=True
    )
    try:
        time.sleep(0.5)
        ctx = ssl._create_unverified_context()
        big = urllib.request.Request(
            f"https://localhost:{https}/r/SCH-SECRET?lang=en",
            data=b"\0" * 28_000_000,
            method="POST",
        )
        for req in (big, urllib.request.Request(f"https://localhost:{https}/r?q=ten-truong-em")):
            try:
                urllib.request.urlopen(req, context=ctx, timeout=10)
            except (urllib.error.HTTPError, urllib.error.URLError, ConnectionError):
                pass
        time.sleep(0.3)
    finally:
        subprocess.run(["nginx", "-p", str(d), "-c", str(d / "nginx.conf"), "-s", "stop"])
    log = (d / "error.log").read_text()
    print(log)
    for needle in ("SCH-SECRET", "ten-truong-em", "client: 127.0.0.1"):
        assert needle not in log, needle
