"""Helpers shared by the sign-in and session tests: the real screens, driven like a browser."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import urlsplit

from flask_babel import force_locale, gettext

from caseapp.security import totp
from tests.factories import Visitor

COOKIE = "caseapp_session"
GENERIC_FAILURE = "Sign-in failed. Check your user name, password and code, then try again."
TOO_MANY = "Too many failed attempts. Try again in %(n)d minutes."
ALERT_RE = re.compile(r'<p class="alert" role="alert">(.*?)</p>', re.S)


def translated(message: str, locale: str = "vi", **values) -> str:
    with force_locale(locale):
        return gettext(message, **values)


def alert(response) -> str | None:
    match = ALERT_RE.search(response.get_data(as_text=True))
    return html.unescape(match.group(1)).strip() if match else None


def steady_counter() -> int:
    """The current TOTP step, first waiting out a step about to end so a test never straddles
    a boundary between computing a code and the server checking it."""
    left = totp.STEP - time.time() % totp.STEP
    if left < 2:
        time.sleep(left + 0.05)
    return totp.current_counter()


def env(ip: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def password_step(client, username: str, password: str, ip: str = "127.0.0.1"):
    return Visitor(client, token_from="/login").post(
        "/login", {"username": username, "password": password}, **env(ip)
    )


def code_step(client, code: str, ip: str = "127.0.0.1"):
    return Visitor(client, token_from="/login").post(
        "/login/2fa", {"code": code}, token_from="/login/2fa", **env(ip)
    )


def full_sign_in(client, person, ip: str = "127.0.0.1", counter: int | None = None):
    """Password, then a TOTP code at ``counter`` (default: now); asserts it lands on /."""
    r = password_step(client, person.username, person.password, ip)
    assert lands_on(r, "/login/2fa"), r.status_code
    counter = steady_counter() if counter is None else counter
    r = code_step(client, totp.code_at(person.totp_secret, counter), ip)
    assert lands_on(r, "/"), (r.status_code, alert(r))
    return r


def cookie_value(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def session_token(client) -> str | None:
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def lands_on(response, path: str) -> bool:
    return response.status_code in (302, 303) and urlsplit(response.location).path == path
