"""One-time enrolment codes: how a person gets (back) into their account without any secret
passing through an administrator's hands.

A code has two halves. The first is issued to the person who asks (a new account, a reset) and
the second to the person who approves it, each on a printed letter or read out in person, so
nobody who handled the code holds all of it. Only keyed hashes (the keyring's blind-index key)
are stored: a copy of the database alone cannot test a guess. The code is bound to one account,
valid 72 hours from its second half, and used once, to set the person's own password; the
authenticator is then enrolled as at any first sign-in."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import ApprovalRequest, EnrolmentCode, User
from caseapp.runtime import hasher, keyring
from caseapp.security import passwords
from caseapp.services.accounts import auth, sessions
from caseapp.services.audit.trail import record

# 32 symbols without 0, O, 1 and I (read alike): a half is 8 of them (40 bits), the whole
# code 80 bits.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
HALF_LENGTH = 8
VALID_FOR = timedelta(hours=72)


@dataclass(frozen=True)
class Letter:
    """What one printed letter carries: whose account, which half, the half itself."""

    full_name: str
    username: str
    part: int  # 1 or 2
    code: str  # "ABCD-EFGH"
    issued_by: str
    issued_at: datetime
    expires_at: datetime | None  # known once the second half exists


def new_half() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(HALF_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_half(text: str) -> str:
    """A half as typed: case, spaces and dashes do not matter."""
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())[:40]


def _digest(key_id: str, user_id: int, part: int, half: str) -> str:
    secret = keyring().get(key_id).secret
    message = f"enrolment:{user_id}:{part}:{normalise_half(half)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _open_codes(user: User):
    return select(EnrolmentCode).where(
        EnrolmentCode.user_id == user.id,
        EnrolmentCode.used_at.is_(None),
        EnrolmentCode.revoked_at.is_(None),
    )


def revoke(session: Session, user: User) -> int:
    """Revoke every unused code of ``user`` (a new one replaces it, or the request ended)."""
    codes = list(session.scalars(_open_codes(user)))
    for code in codes:
        code.revoked_at = utcnow()
    return len(codes)


def issue_first_half(
    session: Session,
    actor: User | None,
    user: User,
    purpose: str,
    approval: ApprovalRequest | None = None,
) -> Letter:
    """Start a code for ``user``: the first half, for ``actor`` to hand over. Earlier unused
    codes of the account stop working. Audited as ``auth.enrolment_issued``."""
    if purpose not in ("new_account", "reset"):
        raise ValueError(purpose)
    unit = user.unit  # lazy loads autoflush: before the changes below
    replaced = list(session.scalars(_open_codes(user)))
    for old in replaced:
        old.revoked_at = utcnow()
    half = new_half()
    key = keyring().active("blind_index")
    code = EnrolmentCode(
        user_id=user.id,
        purpose=purpose,
        approval_id=approval.id if approval is not None else None,
        key_id=key.id,
        first_hash="",
        issued_by_id=actor.id if actor is not None else None,
    )
    session.add(code)
    code.first_hash = _digest(key.id, user.id, 1, half)
    record(
        session,
        actor,
        "auth.enrolment_issued",
        code,
        unit=unit,
        object_ref=user.username,
        changes={"user": user.username, "purpose": purpose, "part": 1},
        covers=tuple(replaced),
    )
    return Letter(
        full_name=user.full_name,
        username=user.username,
        part=1,
        code=half,
        issued_by=actor.full_name if actor is not None else "",
        issued_at=utcnow(),
        expires_at=None,
    )


def release_second_half(session: Session, approver: User | None, user: User) -> Letter:
    """Complete the account's open code with its second half, for ``approver`` to hand over,
    and end the credentials the person had: their password no longer works, their
    authenticator and recovery codes are gone and every session ends. Valid 72 hours."""
    unit = user.unit
    code = session.scalar(
        _open_codes(user)
        .where(EnrolmentCode.second_hash.is_(None))
        .order_by(EnrolmentCode.id.desc())
        .limit(1)
    )
    if code is None:
        raise LookupError("no open enrolment code to complete")
    if approver is not None and approver.id == code.issued_by_id:
        raise PermissionError("the second half goes to someone other than the first")
    half = new_half()
    removed = auth.delete_recovery_codes(session, user)
    now = utcnow()
    code.second_hash = _digest(code.key_id, user.id, 2, half)
    code.released_by_id = approver.id if approver is not None else None
    code.released_at = now
    code.expires_at = now + VALID_FOR
    # A password nobody was ever shown: until the code is used, no password signs in.
    user.password_hash = passwords.hash_password(hasher(), secrets.token_urlsafe(32))
    user.password_changed_at = now
    user.must_change_password = False
    user.totp_secret = None
    user.totp_enrolled_at = None
    user.totp_last_counter = 0
    record(
        session,
        approver,
        "auth.enrolment_released",
        code,
        unit=unit,
        object_ref=user.username,
        changes={"user": user.username, "purpose": code.purpose, "part": 2},
        covers=(user, *removed),
    )
    sessions.revoke_all(session, approver, user, "credentials_reset")
    return Letter(
        full_name=user.full_name,
        username=user.username,
        part=2,
        code=half,
        issued_by=approver.full_name if approver is not None else "",
        issued_at=now,
        expires_at=code.expires_at,
    )


def usable_code(session: Session, user: User, first: str, second: str) -> EnrolmentCode | None:
    """The account's open, complete, unexpired code whose two halves match, if any. Both
    halves are always compared (no early exit telling which one was wrong)."""
    now = utcnow()
    candidates = session.scalars(
        _open_codes(user).where(
            EnrolmentCode.second_hash.is_not(None), EnrolmentCode.expires_at > now
        )
    )
    for code in candidates:
        ok_first = hmac.compare_digest(code.first_hash, _digest(code.key_id, user.id, 1, first))
        ok_second = hmac.compare_digest(
            code.second_hash or "", _digest(code.key_id, user.id, 2, second)
        )
        if ok_first and ok_second:
            return code
    return None


def state(session: Session, user: User) -> EnrolmentCode | None:
    """The account's latest code that is neither used nor revoked (for the admin screens:
    issued, waiting for its second half, or valid until a time), or None."""
    return session.scalar(_open_codes(user).order_by(EnrolmentCode.id.desc()).limit(1))


__all__ = [
    "ALPHABET",
    "Letter",
    "VALID_FOR",
    "issue_first_half",
    "normalise_half",
    "release_second_half",
    "revoke",
    "state",
    "usable_code",
]
