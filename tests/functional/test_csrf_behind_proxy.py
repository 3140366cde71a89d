"""The production settings behind a TLS proxy (X-Forwarded-Proto: https): a browser's form post
carries a same-origin Referer (Referrer-Policy: same-origin) and passes Flask-WTF's HTTPS
check; a post with no Referer or another site's is refused with the translated message and
changes nothing."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import func, select

from caseapp import create_app
from caseapp.db import get_session
from caseapp.models import AuditEvent
from config import load_settings
from tests.factories import csrf_from

HOST = "truonghoc.example"
REFUSED_VI = "Biểu mẫu đã hết hạn hoặc không được gửi từ trang này."


@pytest.fixture()
def production_app(app, settings):
    prod = load_settings(
        "production",
        environ={
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": settings.database_url,
            "CASEAPP_KEYRING": str(settings.keyring_path),
            "CASEAPP_INSTANCE": str(settings.instance_dir),
            "CASEAPP_ATTACHMENTS": str(settings.attachment_dir),
            "CASEAPP_TRUSTED_PROXIES": "1",
        },
    )
    application = create_app(prod)
    yield application
    application.extensions["caseapp.engine"].dispose()


PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def _events(app) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(AuditEvent))


def _form(client) -> tuple[str, str]:
    page = client.get("/login", base_url=f"http://{HOST}", headers=PROXY)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "same-origin"
    return csrf_from(page.get_data(as_text=True)), page.headers["Referrer-Policy"]


@pytest.mark.parametrize("referer", [None, "https://evil.example/login", f"http://{HOST}/login"])
def test_post_without_a_same_origin_referer_is_refused_in_words(production_app, referer):
    client = production_app.test_client()
    token, _policy = _form(client)
    before = _events(production_app)
    headers = dict(PROXY)
    if referer:
        headers["Referer"] = referer
    r = client.post(
        "/login",
        base_url=f"http://{HOST}",
        headers=headers,
        data={"csrf_token": token, "username": "proxy.nobody", "password": "wrong"},
    )
    assert r.status_code == 400
    assert REFUSED_VI in r.get_data(as_text=True)
    assert _events(production_app) == before  # not even a failed sign-in was recorded


def test_post_with_the_referer_a_browser_sends_passes(production_app):
    client = production_app.test_client()
    token, _policy = _form(client)
    before = _events(production_app)
    r = client.post(
        "/login",
        base_url=f"http://{HOST}",
        headers={**PROXY, "Referer": f"https://{HOST}/login"},
        data={"csrf_token": token, "username": "proxy.nobody", "password": "wrong"},
    )
    assert r.status_code == 200  # the sign-in form again, with the generic failure message
    assert REFUSED_VI not in r.get_data(as_text=True)
    assert _events(production_app) == before + 1  # the failed attempt is audited
    # (an unknown name and an address of its own: no other test's throttle counts it)
