"""One-time enrolment codes: how a person gets (back) into their account without any secret
passing through an administrator's hands.

A code has two halves. The first is issued to the person who asks (a new account, a reset) and
the second to the person who approves it, each on a printed letter or read out in person, so
nobody who handled the code holds all of it. Only keyed hashes (the keyring's blind-index key)
are stored: a copy of the database alone cannot test a guess. The code is bound to one account,
valid 72 hours from its second half, and used once (``redeem``, the page /login/code), to set
the person's own password; the authenticator is then enrolled as at any first sign-in."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.errors import Forbidden, SignInFailed, SignInThrottled, ValidationFailed
from caseapp.models import ApprovalRequest, EnrolmentCode, User
from caseapp.runtime import hasher, keyring, settings
from caseapp.security import passwords
from caseapp.services.accounts import auth, notices, sessions, throttle
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
    unit: str = ""  # the account's unit, "name (code)"


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
    note: dict | None = None,
) -> Letter:
    """Start a code for ``user``: the first half, for ``actor`` to hand over. Earlier unused
    codes of the account stop working. Audited as ``auth.enrolment_issued`` (with ``note``,
    where the request comes from: an import's batch and line)."""
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
        changes={"user": user.username, "purpose": purpose, "part": 1, **(note or {})},
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
        unit=_unit_text(unit),
    )


def _unit_text(unit) -> str:
    return f"{unit.name} ({unit.code})" if unit is not None else ""


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
        raise Forbidden(
            _(
                "Part 2 of an enrolment code goes to someone other than the person who "
                "received part 1."
            )
        )
    half = new_half()
    removed = auth.delete_recovery_codes(session, user)
    now = utcnow()
    code.second_hash = _digest(code.key_id, user.id, 2, half)
    code.released_by_id = approver.id if approver is not None else None
    code.released_at = now
    code.expires_at = now + VALID_FOR
    # No password at all (an unusable hash, no argon2 work): until the code is used, no
    # password signs in.
    user.password_hash = passwords.unusable_hash()
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
        unit=_unit_text(unit),
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


class PasswordRefused(ValidationFailed):
    """The code was right but the new password breaks the password rules (``problems``, the
    keys of auth.password_problems). Nothing changed: the code can still be used."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(_("The new password does not meet the password rules."))
        self.problems = problems


def _refuse(session: Session, user: User | None, username: str, ip: str, why: str) -> NoReturn:
    """One failure, whatever went wrong: counted towards the sign-in lock of the name and the
    address, audited (``why`` for the auditor only), answered with one generic message."""
    locked = throttle.register_failure(session, username, ip)
    unit = user.unit if user is not None else None
    for action in (
        ("auth.enrolment_failed", "auth.locked") if locked else ("auth.enrolment_failed",)
    ):
        record(
            session,
            None,
            action,
            unit=unit,
            changes={"reason": why} if action == "auth.enrolment_failed" else None,
            object_type="users",
            object_id=str(user.id) if user is not None else "",
            object_ref=user.username if user is not None else "",
        )
    raise SignInFailed()


def redeem(
    session: Session,
    username: str,
    first_half: str,
    second_half: str,
    new_password: str,
    repeat: str | None = None,
    ip: str = "",
    user_agent: str = "",
) -> tuple[User, str]:
    """The person's first sign-in with both halves of their code: they choose their own
    password; the code is used up and a session opens with the second factor still to be
    enrolled. Returns the user and the new session's token.

    Throttled like sign-in (the same counters per name and address). An unknown name, a wrong
    half, a code expired, used, revoked or never completed, a disabled account: all raise
    SignInFailed, counted and audited as ``auth.enrolment_failed``; the caller commits so the
    count is kept. A new password that breaks the rules raises PasswordRefused (roll back:
    the code stays usable); two different passwords, ValidationFailed."""
    username = auth.normalise_username(username)
    if repeat is not None and repeat != new_password:
        raise ValidationFailed(_("The two new passwords differ."))
    throttle.hold(session, username, ip)
    wait = throttle.seconds_locked(session, username, ip)
    if wait:
        raise SignInThrottled(wait)
    user = session.scalar(select(User).where(User.username == username))
    if len(new_password) > settings().password_max_length * 4:
        _refuse(session, user, username, ip, "password_too_long")
    if user is None:
        # The same keyed hashes as for a real account, so an unknown name answers as fast.
        _equalise(first_half, second_half)
        _refuse(session, None, username, ip, "unknown_user")
    code = usable_code(session, user, first_half, second_half)
    if code is None:
        _refuse(session, user, username, ip, "no_matching_code")
    if not user.active:
        _refuse(session, user, username, ip, "inactive")
    problems = auth.password_problems(new_password, user.username, user.full_name)
    if problems:
        raise PasswordRefused(problems)
    # Lazy loads and queries first: they autoflush, and the changes below are not yet audited.
    unit = user.unit
    removed = auth.delete_recovery_codes(session, user)
    now = utcnow()
    user.password_hash = passwords.hash_password(hasher(), new_password)
    user.password_changed_at = now
    user.must_change_password = False
    # Released codes already ended the authenticator; one enrolled meanwhile ends too: the
    # person enrols their own next.
    user.totp_secret = None
    user.totp_enrolled_at = None
    user.totp_last_counter = 0
    code.used_at = now
    record(
        session,
        user,
        "auth.enrolment_used",
        code,
        unit=unit,
        object_ref=user.username,
        changes={"user": user.username, "purpose": code.purpose},
        covers=(user, *removed),
    )
    notices.tell(session, user, "account.enrolled")
    token, _session_row = sessions.open_session(session, user, ip, user_agent)
    return user, token


def _equalise(first: str, second: str) -> None:
    key = keyring().active("blind_index")
    _digest(key.id, 0, 1, first)
    _digest(key.id, 0, 2, second)


def state(session: Session, user: User) -> EnrolmentCode | None:
    """The account's latest code that is neither used nor revoked (for the admin screens:
    issued, waiting for its second half, or valid until a time), or None."""
    return session.scalar(_open_codes(user).order_by(EnrolmentCode.id.desc()).limit(1))


__all__ = [
    "ALPHABET",
    "Letter",
    "PasswordRefused",
    "VALID_FOR",
    "issue_first_half",
    "normalise_half",
    "redeem",
    "release_second_half",
    "revoke",
    "state",
    "usable_code",
]
