"""Factory functions and helpers shared by the tests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from caseapp.db import utcnow
from caseapp.models import User, UserSession
from caseapp.security import totp
from caseapp.security.crypto import associated_data, seal_with_keyring
from caseapp.services.accounts import users
from caseapp.services.accounts.sessions import _hash
from caseapp.services.audit.trail import record
from caseapp.services.org import units

PASSWORD = "correct horse battery staple 42"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Person:
    """A seeded account and what a test needs to sign in as it."""

    id: int
    username: str
    password: str
    totp_secret: bytes


def make_unit(session, parent, code, kind, name=None):
    return units.create_unit(session, None, parent, code, name or f"Unit {code}", kind)


def make_user(
    session, keyring, username, unit, grants=(), password=PASSWORD, enrolled=True
) -> Person:
    user, _ = users.create_user(session, None, username, f"Person {username}", "", unit, password)
    secret = totp.new_secret()
    if enrolled:
        user.totp_secret = seal_with_keyring(
            keyring, secret, associated_data("users", user.id, "totp_secret")
        )
        user.totp_enrolled_at = utcnow()
        record(session, None, "auth.second_factor_enrolled", user, unit=unit)
    for role, grant_unit in grants:
        users.grant_role(session, None, user, role, grant_unit)
    return Person(user.id, user.username, password, secret)


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf token on the page"
    return match.group(1)


class Browser:
    """A test client that fetches a CSRF token before each form post, like a browser would."""

    def __init__(self, client):
        self.client = client

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def token(self, url="/login") -> str:
        return csrf_from(self.client.get(url).get_data(as_text=True))

    def post(self, url, data=None, csrf=True, token_from="/login", **kw):
        data = dict(data or {})
        if csrf and "csrf_token" not in data:
            data["csrf_token"] = self.token(token_from)
        return self.client.post(url, data=data, **kw)


def next_code(secret: bytes, last_counter: int = 0) -> str:
    """A valid code newer than ``last_counter`` (within the +/-1 step window)."""
    counter = max(totp.current_counter(), last_counter + 1)
    return totp.code_at(secret, counter)


def open_session_for(session, user_id: int, second_factor=True) -> str:
    """A server-side session, as after a full sign-in; returns the token for the cookie."""
    import secrets

    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_hash(token),
            user_id=user_id,
            second_factor_at=utcnow() if second_factor else None,
        )
    )
    session.flush()
    return token


def sign_in_client(client, session, person: Person | int, second_factor=True) -> str:
    """Make ``client`` signed in as ``person`` without replaying the sign-in screens."""
    user_id = person if isinstance(person, int) else person.id
    token = open_session_for(session, user_id, second_factor)
    with client.session_transaction() as sess:
        sess["_user_id"] = token
        sess["_fresh"] = True
    return token


def get_user(session, username) -> User:
    from sqlalchemy import select

    return session.scalar(select(User).where(User.username == username))
