"""The free text of audit events (reasons), sealed under a per-case audit text key.

A reason is stored in the event's column as a versioned token, ``sealed:1:<key id>:<base64url>``
(AES-256-GCM, associated data bound to the event's seq and field), so the hash chain, computed
over the column as stored, covers the sealed bytes: verifying the trail needs no text key, and
destroying a case's key with its content leaves a trail that verifies while its words are gone.

The key of a case ("case:<id>") is never the case's content key; events about no case use the
"service" key. A key is random, wrapped by the keyring's wrapping key (associated data
audit_text_keys|<scope>|key), and destroyed by clearing its wrapped bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session, joinedload

from caseapp.db import utcnow
from caseapp.models import AuditTextKey, Case, CaseExclusion
from caseapp.runtime import keyring
from caseapp.security.authz import scope_paths, within
from caseapp.security.crypto import (
    DecryptionError,
    associated_data,
    seal,
    seal_with_keyring,
    unseal,
    unseal_with_keyring,
)

if TYPE_CHECKING:
    from caseapp.models import AuditEvent, User

PREFIX = "sealed:1:"
SERVICE = "service"
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_CACHE = "audit_text_keys"  # session.info: {scope: (id, secret)} for sealing in this transaction


def scope_of(case_id: int | None) -> str:
    return f"case:{case_id}" if case_id else SERVICE


def is_sealed(value: str | None) -> bool:
    return bool(value) and str(value).startswith(PREFIX)


def _key_ad(scope: str) -> bytes:
    return associated_data("audit_text_keys", scope, "key")


def text_ad(seq: int, key_id: int, field: str = "reason") -> bytes:
    """Bound to the event (its seq), the field and the key: a token moved elsewhere fails."""
    return associated_data("audit_events", seq, field, key_id)


def _unwrap(row: AuditTextKey) -> bytes | None:
    if row.wrapped_key is None:
        return None
    return unseal_with_keyring(keyring(), row.wrapped_key, _key_ad(row.scope))


def _key_row(session: Session, scope: str, case_id: int | None) -> AuditTextKey:
    """The key of ``scope``, made on first need (callers hold the audit append lock)."""
    with session.no_autoflush:
        row = session.scalar(select(AuditTextKey).where(AuditTextKey.scope == scope))
    case = session.get(Case, case_id) if row is None and case_id is not None else None
    if row is None and case_id is not None and case is None:
        return _key_row(session, SERVICE, None)  # names no case this database holds
    if row is None and case is not None and case.key_destroyed_at is not None:
        # Shredded before its first text was sealed: a destroyed key stands in its place (the
        # caller falls back to the service key), never a live one for a shredded case.
        row = AuditTextKey(scope=scope, case_id=case_id, destroyed_at=utcnow())
        session.add(row)
        session.flush()
    if row is None:
        secret = os.urandom(32)
        row = AuditTextKey(
            scope=scope,
            case_id=case_id,
            wrapped_key=seal_with_keyring(keyring(), secret, _key_ad(scope)),
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
    return row


def sealing_key(session: Session, case_id: int | None) -> tuple[int, bytes]:
    """(key id, secret) to seal a new text of ``case_id``'s events (None: the service key).
    A case whose content was destroyed has no key any more: its later texts (such as the
    reason of the destruction itself) go under the service key, readable by auditors."""
    cache = session.info.setdefault(_CACHE, {})
    scope = scope_of(case_id)
    if scope in cache:
        return cache[scope]
    row = _key_row(session, scope, case_id)
    secret = _unwrap(row)
    if secret is None:
        return sealing_key(session, None)
    cache[scope] = (row.id, secret)
    return cache[scope]


def seal_text(session: Session, case_id: int | None, seq: int, text: str) -> str:
    """The token stored in place of ``text`` (an empty text stays empty)."""
    if not text:
        return ""
    key_id, secret = sealing_key(session, case_id)
    blob = seal(secret, text.encode("utf-8"), text_ad(seq, key_id))
    return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(blob).decode('ascii')}"


def parse(token: str) -> tuple[int, bytes] | None:
    """(key id, sealed bytes) of a token; None for anything else."""
    if not is_sealed(token):
        return None
    key_part, _sep, b64 = token[len(PREFIX) :].partition(":")
    if not key_part.isdigit() or not _BASE64URL.fullmatch(b64):
        return None
    try:
        return int(key_part), base64.urlsafe_b64decode(b64.encode("ascii"))
    except (ValueError, binascii.Error):
        return None


def forget_cached(session: Session) -> None:
    session.info.pop(_CACHE, None)


def destroy_case_key(session: Session, case: Case) -> None:
    """Forget the case's audit text key (with its content, in the same transaction)."""
    scope = scope_of(case.id)
    if session.get_bind().dialect.name == "postgresql":
        from caseapp.services.audit.trail import ADVISORY_LOCK_KEY

        # The lock under which record() makes keys: none is being made for this case now.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
    row = session.scalar(select(AuditTextKey).where(AuditTextKey.scope == scope))
    if row is None:
        # None yet: a destroyed one stands in its place, so that none is made later (a
        # concurrent first reason fails on the unique scope instead of outliving the content).
        session.add(AuditTextKey(scope=scope, case_id=case.id, destroyed_at=utcnow()))
    elif row.wrapped_key is not None:
        row.wrapped_key = None
        row.destroyed_at = utcnow()
    session.info.get(_CACHE, {}).pop(scope_of(case.id), None)


# Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    id: int
    case_id: int | None
    secret: bytes | None  # None: destroyed


def placeholder_sealed() -> str:
    return _("(reason sealed: only auditors and those who handle the case may read it)")


def placeholder_destroyed() -> str:
    return _("(reason destroyed with the case's content)")


def placeholder_unreadable() -> str:
    return _("(reason cannot be opened: it does not match its event)")


def is_placeholder(value: str) -> bool:
    """Whether ``value`` is what reasons() shows in place of a text it cannot show."""
    return value in (placeholder_sealed(), placeholder_destroyed(), placeholder_unreadable())


def _keys(session: Session, ids: set[int]) -> dict[int, _Key]:
    if not ids:
        return {}
    rows = session.scalars(select(AuditTextKey).where(AuditTextKey.id.in_(ids))).all()
    return {row.id: _opened(row) for row in rows}


def _opened(row: AuditTextKey) -> _Key:
    try:
        secret = _unwrap(row)
    except DecryptionError:
        secret = None
    return _Key(row.id, row.case_id, secret)


def _keys_for(
    session: Session, ids: set[int], viewer: User | None
) -> tuple[dict[int, _Key], dict[int, bool]]:
    """The keys named by a page of tokens and, in the same query, whether ``viewer`` may read
    the content of each key's case (not excluded from it, handling or overseeing it)."""
    if not ids:
        return {}, {}
    if viewer is None:
        return _keys(session, ids), {}
    from caseapp.services.cases.access import can_read_content

    excluded = (
        select(CaseExclusion.case_id)
        .where(CaseExclusion.case_id == Case.id, CaseExclusion.user_id == viewer.id)
        .exists()
    )
    rows = session.execute(
        select(AuditTextKey, Case, excluded)
        .outerjoin(Case, Case.id == AuditTextKey.case_id)
        .options(joinedload(Case.unit))
        .where(AuditTextKey.id.in_(ids))
    ).all()
    keys, cases = {}, {}
    for row, case, is_excluded in rows:
        keys[row.id] = _opened(row)
        if case is not None:
            cases[case.id] = not is_excluded and can_read_content(viewer, case)
    return keys, cases


def _may_read(viewer: User | None, audit_paths: list[str], event, case_ok: bool) -> bool:
    if viewer is None:
        return True  # the service itself (a command run by the operator holding the keyring)
    unit_path = event.unit_path or ""
    if unit_path and within(unit_path, audit_paths):
        return True
    if not unit_path and any(p.count("/") == 2 for p in audit_paths):
        return True  # events tied to no unit: auditors of a top unit (as queries.py)
    return case_ok


def reasons(
    session: Session, events: Iterable[AuditEvent | Row], viewer: User | None
) -> dict[int, str]:
    """{seq: the reason as ``viewer`` may read it} (``events``: the events, or rows with their
    seq, reason and unit_path): the clear text, or a placeholder (sealed
    for this viewer, destroyed with the case's content). One query for the keys and one for
    the cases of a whole page; ``viewer`` None is the service itself."""
    events = list(events)
    tokens = {ev.seq: parse(ev.reason or "") for ev in events}
    keys, cases = _keys_for(session, {t[0] for t in tokens.values() if t is not None}, viewer)
    audit_paths = scope_paths(viewer, "audit.read") if viewer is not None else []
    out: dict[int, str] = {}
    for ev in events:
        token = tokens[ev.seq]
        if token is None:
            out[ev.seq] = ev.reason or ""  # empty, or an event not yet migrated
            continue
        key = keys.get(token[0])
        if key is None:
            out[ev.seq] = placeholder_unreadable()
        elif not _may_read(viewer, audit_paths, ev, cases.get(key.case_id or 0, False)):
            out[ev.seq] = placeholder_sealed()
        elif key.secret is None:
            out[ev.seq] = placeholder_destroyed()
        else:
            try:
                out[ev.seq] = unseal(key.secret, token[1], text_ad(ev.seq, key.id)).decode("utf-8")
            except (DecryptionError, UnicodeDecodeError):
                out[ev.seq] = placeholder_unreadable()
    return out


def reason_text(session: Session, event: AuditEvent, viewer: User | None) -> str:
    return reasons(session, [event], viewer)[event.seq]


def open_reason(session: Session, event: AuditEvent) -> str | None:
    """The clear reason for the service's own use (None when it no longer opens)."""
    token = parse(event.reason or "")
    if token is None:
        return event.reason or ""
    key = _keys(session, {token[0]}).get(token[0])
    if key is None or key.secret is None:
        return None
    try:
        return unseal(key.secret, token[1], text_ad(event.seq, key.id)).decode("utf-8")
    except (DecryptionError, UnicodeDecodeError):
        return None


# Other free text under the same keys -------------------------------------------------------
# The reason and decision note of an approval request and the note of an auditor's review are
# sealed the same way, in their own Text columns. Their row id is not known when the text is
# first written, so the associated data binds the table, the field and the key.


def _row_ad(table: str, field: str, key_id: int) -> bytes:
    return associated_data(table, "text", field, key_id)


def seal_row_text(session: Session, case_id: int | None, table: str, field: str, value: str) -> str:
    """The token stored in place of ``value`` in ``table.field`` (an empty text stays empty):
    under the case's audit text key, else the service key."""
    if not value:
        return ""
    if session.get_bind().dialect.name == "postgresql":
        from caseapp.services.audit.trail import ADVISORY_LOCK_KEY

        # The lock under which keys are made (as record() takes it, first).
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
    key_id, secret = sealing_key(session, case_id)
    blob = seal(secret, value.encode("utf-8"), _row_ad(table, field, key_id))
    return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(blob).decode('ascii')}"


def _open_row(session: Session, table: str, field: str, value: str | None) -> str | None | bool:
    """The clear text; None when its key was destroyed; False when it does not open."""
    token = parse(value or "")
    if token is None:
        return False if is_sealed(value) else value or ""
    key = _keys(session, {token[0]}).get(token[0])
    if key is None:
        return False
    if key.secret is None:
        return None
    try:
        return unseal(key.secret, token[1], _row_ad(table, field, key.id)).decode("utf-8")
    except (DecryptionError, UnicodeDecodeError):
        return False


def open_row_text(session: Session, table: str, field: str, value: str | None) -> str | None:
    """For the service's own use: the clear text, None when it no longer opens."""
    opened = _open_row(session, table, field, value)
    return opened if isinstance(opened, str) else None


def row_text(session: Session, table: str, field: str, value: str | None) -> str:
    """As shown on a page: the clear text, or a placeholder when it no longer opens."""
    opened = _open_row(session, table, field, value)
    if opened is None:
        return _("(destroyed with the case's content)")
    if opened is False:
        return _("(cannot be opened: it does not match where it is stored)")
    return str(opened)
