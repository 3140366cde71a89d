"""The public forms: reading what they send, and the signed tokens that replace Flask-WTF's
CSRF token there (which lives in the session, hence a cookie).

A form token is signed with the app's secret under its own salt and carries the moment the
form was shown: a form sent sooner than the minimum fill time was sent by a script, one older
than its maximum age is refused. The reply token of the follow page names the report (its uid,
never the receipt code) and lives a short while."""

from __future__ import annotations

import time
from enum import Enum

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.datastructures import FileStorage, ImmutableMultiDict

from caseapp.models.selfreports import PHOTO_BYTES_MAX, PHOTOS_MAX, WHAT_HAPPENED
from caseapp.runtime import settings
from caseapp.services.selfreports.intake import ReportInput
from caseapp.services.selfreports.photos import Upload

FORM_SALT = "caseapp.intake.form"
REPLY_SALT = "caseapp.intake.reply"
# The field a person never sees (and a script fills in).
HONEYPOT = "website"
# The largest request of the public pages: PHOTOS_MAX photos of PHOTO_BYTES_MAX and the form
# around them (the staff pages keep the app's MAX_CONTENT_LENGTH). nginx allows a little more.
REQUEST_BYTES_MAX = PHOTOS_MAX * PHOTO_BYTES_MAX + 1024 * 1024


class TokenCheck(Enum):
    OK = "ok"
    TOO_FAST = "too_fast"
    INVALID = "invalid"  # missing, forged, for another form, or too old


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def form_token(kind: str, **names: str) -> str:
    """A signed token for one form: its kind and what it was shown for (``school``: the
    school's code of a report form; ``code`` and ``school``: what a receipt image may draw)."""
    return str(_serializer(FORM_SALT).dumps({"k": kind, **names}))


def signed_form(token: str, kind: str, min_seconds: int = 0) -> tuple[TokenCheck, dict]:
    """How the token checks out, and what it names (empty unless OK or TOO_FAST)."""
    try:
        payload, signed_at = _serializer(FORM_SALT).loads(
            token or "",
            max_age=settings().selfreport_form_max_age_seconds,
            return_timestamp=True,
        )
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return TokenCheck.INVALID, {}
    if not isinstance(payload, dict) or payload.get("k") != kind:
        return TokenCheck.INVALID, {}
    if time.time() - signed_at.timestamp() < min_seconds:
        return TokenCheck.TOO_FAST, payload
    return TokenCheck.OK, payload


def check_form_token(
    token: str, kind: str, min_seconds: int = 0, *, school: str | None = None
) -> TokenCheck:
    """OK, TOO_FAST or INVALID; with ``school``, a token shown for another school is INVALID
    (a form fetched at school A sends nothing to school B)."""
    checked, payload = signed_form(token, kind, min_seconds)
    if checked is not TokenCheck.INVALID and school is not None and payload.get("school") != school:
        return TokenCheck.INVALID
    return checked


def reply_token(report_uid: str) -> str:
    return str(_serializer(REPLY_SALT).dumps({"r": report_uid}))


def report_of_reply_token(token: str) -> str | None:
    """The report uid a valid, unexpired reply token names, else None."""
    try:
        payload = _serializer(REPLY_SALT).loads(
            token or "", max_age=settings().selfreport_reply_max_age_seconds
        )
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    uid = payload.get("r") if isinstance(payload, dict) else None
    return uid if isinstance(uid, str) and len(uid) <= 36 else None


def _text(form: ImmutableMultiDict, name: str, limit: int = 20_000) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def report_input(form: ImmutableMultiDict) -> ReportInput:
    """The report form as sent (checked by the service). Texts past their limit by far are
    cut here so a huge field costs nothing; the service refuses the ones past their limit."""
    return ReportInput(
        who_hurt=_text(form, "who_hurt", 20),
        what=[w[:20] for w in form.getlist("what")[: len(WHAT_HAPPENED) + 5]],
        happened_when=_text(form, "when", 20),
        happened_where=_text(form, "where", 20),
        who_did=_text(form, "who_did", 20),
        danger=_text(form, "danger", 5),
        details=_text(form, "details"),
        name=_text(form, "name", 1000),
        contact=_text(form, "contact", 1000),
        ask_office=form.get("office") == "yes",
    )


def uploads(files: ImmutableMultiDict, name: str = "photos") -> list[Upload]:
    """The uploaded files (read into memory; one past the limit is kept one byte too long, so
    the service refuses it). Past PHOTOS_MAX + 1 files, the rest are not read."""
    found: list[Upload] = []
    for item in files.getlist(name)[: PHOTOS_MAX + 1]:
        if isinstance(item, FileStorage):
            found.append(Upload(item.stream.read(PHOTO_BYTES_MAX + 1)))
    return found
