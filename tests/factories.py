"""Factory functions and helpers shared by the tests."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

from flask.testing import FlaskClient
from sqlalchemy import event

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


def make_unit(session, parent, code, kind, name=None, valid_from=None, **traits):
    """A unit made by the system; ``traits``: level, ownership, local_type (else guessed)."""
    return units.create_unit(
        session,
        None,
        parent,
        code,
        name or f"Unit {code}",
        kind,
        valid_from,
        units.UnitTraits(**traits),
    )


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


# A URL no rule matches: its 404 page carries the language form, hence a CSRF token.
TOKEN_PAGE = "/__no_such_page__"
REASON = "Lý do hợp lệ cho bước này"


class Visitor:
    """A person using the service through a test client, as a browser would: signed in as
    ``person`` (or anonymous), reading pages in ``lang`` (default: the service's), posting forms
    with a CSRF token. ``client`` is a test client, or the app to open one of its own (its own
    cookies). The token is fetched once from a 404 page, or from ``token_from`` before each
    post (as the sign-in screens need)."""

    def __init__(
        self,
        client,
        db=None,
        person=None,
        *,
        second_factor: bool = True,
        lang: str | None = None,
        token_from: str | None = None,
    ) -> None:
        self.client = client if isinstance(client, FlaskClient) else client.test_client()
        self.person, self.db, self.second_factor = person, db, second_factor
        self.token_from = token_from
        if person is not None:
            sign_in_client(self.client, db, person, second_factor)
        if lang is not None:
            with self.client.session_transaction() as sess:
                sess["lang"] = lang
        self._token: str | None = None

    def sign_in_again(self) -> None:
        """A new session for the same person (a route may have ended the last one); a session
        that lost its CSRF token has it fetched again."""
        if self.person is None:
            return
        sign_in_client(self.client, self.db, self.person, self.second_factor)
        with self.client.session_transaction() as sess:
            if "csrf_token" not in sess:
                self._token = None

    def token(self, url: str | None = None) -> str:
        """A CSRF token from the page at ``url`` or ``token_from`` (fetched now), else the one
        kept from a 404 page."""
        url = url or self.token_from
        if url is not None:
            return csrf_from(self.client.get(url).get_data(as_text=True))
        if self._token is None:
            self._token = csrf_from(self.client.get(TOKEN_PAGE).get_data(as_text=True))
        return self._token

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, *, csrf=True, token_from=None, multipart=False, **kw):
        """A form post; fields that are None are left out. Text fields are encoded with
        surrogateescape, so "\udcff" goes out as the byte 0xFF: not UTF-8; ``multipart`` sends
        them as multipart/form-data. Fields with a file go as Flask's test client sends them."""
        fields = {k: v for k, v in (data or {}).items() if v is not None}
        if csrf and "csrf_token" not in fields:
            fields = {"csrf_token": self.token(token_from or self.token_from), **fields}
        if any(isinstance(v, tuple) or hasattr(v, "read") for v in fields.values()):
            return self.client.post(url, data=fields, **kw)
        if multipart:
            body, content_type = _multipart(fields)
        else:
            body = urlencode(fields, doseq=True, encoding="utf-8", errors="surrogateescape")
            content_type = "application/x-www-form-urlencoded"
        return self.client.post(url, data=body, content_type=content_type, **kw)

    def use_language(self, lang: str) -> None:
        r = self.post("/language", {"lang": lang, "next": TOKEN_PAGE})
        assert r.status_code == 302

    def intake(self, db, unit_id: int, received_on: date | str | None = None, **overrides):
        """Record a case through the intake form; returns the stored case."""
        from sqlalchemy import select

        from caseapp.clock import local_today
        from caseapp.models import Case
        from tests.functional.case_support import intake_form

        received = received_on or local_today()
        form = intake_form(
            unit_id,
            received_on=received if isinstance(received, str) else received.isoformat(),
            **overrides,
        )
        r = self.post("/cases/new", form)
        assert r.status_code == 302, r.get_data(as_text=True)[:3000]
        public_id = r.headers["Location"].rsplit("/", 1)[-1]
        with self.client.session_transaction() as sess:
            sess.pop("_flashes", None)  # "Case ... recorded." would show on the next page
        db.expire_all()
        return db.scalar(select(Case).where(Case.public_id == public_id))

    def attach(self, case, content: bytes, filename: str, content_type: str, **kw):
        return self.post(
            f"/cases/{case.public_id}/attachments",
            {"file": (io.BytesIO(content), filename, content_type)},
            **kw,
        )

    def submit(self, url, data) -> Outcome:
        """POST a form of the case page; the messages it flashes, without rendering the page
        the redirect leads to."""
        r = self.post(url, data)
        if r.status_code != 302:
            return Outcome(r.status_code, html.unescape(r.get_data(as_text=True)))
        with self.client.session_transaction() as sess:
            flashes = sess.pop("_flashes", [])
        return Outcome(r.status_code, " ".join(message for _, message in flashes))

    def transition(
        self,
        case,
        target: str,
        reason: str = REASON,
        version=None,
        closure_reason: str | None = None,
    ) -> Outcome:
        data = {
            "target": target,
            "reason": reason,
            "closure_reason": closure_reason,
            "version": str(case.version if version is None else version),
        }
        return self.submit(f"/cases/{case.public_id}/transition", data)

    def add_step(self, case, **fields) -> Outcome:
        data = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()}
        return self.submit(f"/cases/{case.public_id}/steps", data)

    def complete_step(self, case, step, **fields) -> Outcome:
        data = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()}
        data.setdefault("version", str(step.version))
        return self.submit(f"/cases/{case.public_id}/steps/{step.uid}/complete", data)


@dataclass
class Outcome:
    """The answer to a form post: 302 with the flashed messages, or an error page's text."""

    status_code: int
    text: str


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


def signed_in_as(session, person: Person | User) -> User:
    """``person`` as the service reads them at a request: through their sign-in session, with
    the cases they are excluded from (User.excluded_case_ids, until the transaction ends)."""
    from caseapp.services.accounts.sessions import load_session

    found = load_session(session, open_session_for(session, person.id))
    assert found is not None
    return found.user


def get_user(session, username) -> User:
    from sqlalchemy import select

    return session.scalar(select(User).where(User.username == username))


def stored_files(settings) -> set[str]:
    """Every file in the attachment store, temporary uploads included."""
    store: Path = settings.attachment_dir
    return {str(p.relative_to(store)) for p in store.rglob("*")} if store.exists() else set()


def complete_work_report(session, actor, unit, period, text: str = "Đã thực hiện.") -> None:
    """Make ``unit``'s gender-equality report of ``period`` complete enough to submit: its
    statistics by sex (a school) and every narrative section, written as ``actor``."""
    import json

    from caseapp.models import Unit
    from caseapp.models.equality import UnitStatistics
    from caseapp.services.audit.trail import record
    from caseapp.services.equality import figures, narrative
    from caseapp.services.equality.sections import SECTIONS

    actor = session.get(User, actor.id)
    unit = session.get(Unit, unit.id)
    if unit.kind == "school":
        stats = UnitStatistics(
            unit_id=unit.id,
            period_key=period.key,
            figures=json.dumps(dict.fromkeys(figures.keys_for(unit.level), 0)),
            updated_by_id=actor.id,
        )
        session.add(stats)
        record(session, actor, "statistics.save", stats, unit=unit, changes={"period": period.key})
    draft = narrative.draft_of(session, unit, period)
    narrative.save_draft(
        session,
        actor,
        unit,
        period,
        narrative.DraftInput(
            sections={key: f"{text} ({key})" for key in SECTIONS},
            signer_title=draft.signer_title,
            recipients=draft.recipients,
        ),
        draft.version,
    )
    session.flush()


def reason_of(session, event) -> str | None:
    """An audit event's reason in clear, opened through the service (it is sealed in the
    database); None once it no longer opens (its case's content destroyed)."""
    from caseapp.services.audit.sealed_text import open_reason

    return open_reason(session, event)


def clear_reasons(session, events) -> list[str | None]:
    return [reason_of(session, e) for e in events]


@contextmanager
def statements_sent(engine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` sends to the database inside the block, in order, as the
    cursor got it (a page that loads a row at a time shows as one more statement a row)."""
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def selects(statements: list[str]) -> list[str]:
    """The queries among ``statements`` (not the savepoints, the writes or the settings)."""
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def squeezed(statement: str) -> str:
    """``statement`` on one line, each run of white space one blank."""
    return " ".join(statement.split())
