"""Helpers shared by the access, input and audit tests of the admin screens."""

from __future__ import annotations

import html
from urllib.parse import urlencode

from flask_babel import force_locale, gettext
from sqlalchemy import func, inspect, select

from caseapp.db import Base
from caseapp.models import AuditEvent
from tests.factories import csrf_from, sign_in_client

# A URL no rule matches: its 404 page carries the language form, hence a CSRF token.
TOKEN_PAGE = "/__no_such_page__"
# Bookkeeping of sign-in sessions, touched by any request of a signed-in person.
BOOKKEEPING = frozenset({"user_sessions", "sign_in_throttles"})


class Agent:
    """A test client acting as one person (or anonymously), posting forms with a CSRF token."""

    def __init__(self, client, db=None, person=None, second_factor=True):
        self.client = client
        if person is not None:
            sign_in_client(client, db, person, second_factor)
        self._token = None

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = csrf_from(self.client.get(TOKEN_PAGE).get_data(as_text=True))
        return self._token

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, multipart=False, **kw):
        """A form post; ``multipart`` sends the fields as multipart/form-data. Both encode with
        surrogateescape, so "\udcff" goes out as the byte 0xFF: not UTF-8."""
        fields = {"csrf_token": self.token, **(data or {})}
        if multipart:
            body, content_type = _multipart(fields)
        else:
            body = urlencode(fields, encoding="utf-8", errors="surrogateescape")
            content_type = "application/x-www-form-urlencoded"
        return self.client.post(url, data=body, content_type=content_type, **kw)

    def use_language(self, lang: str) -> None:
        r = self.post("/language", {"lang": lang, "next": TOKEN_PAGE})
        assert r.status_code == 302


def _multipart(fields: dict) -> tuple[bytes, str]:
    boundary = "caseapp-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + str(value).encode("utf-8", "surrogateescape")
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def translated(app, message: str, lang: str = "vi", **params) -> str:
    """``message`` as the catalogue of ``lang`` renders it (English when not yet translated)."""
    with app.test_request_context(), force_locale(lang):
        return gettext(message, **params)


def snapshot(db, skip=BOOKKEEPING) -> dict:
    """Every row of every table (the seeded world is small): compared before and after."""
    db.expire_all()
    existing = set(inspect(db.connection()).get_table_names())  # models may run ahead of migrations
    state = {}
    for table in Base.metadata.sorted_tables:
        if table.name in skip or table.name not in existing:
            continue
        rows = db.execute(select(table)).all()
        state[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return state


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


def audit_head(db) -> int:
    return db.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0)))


def events_after(db, seq: int) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))
