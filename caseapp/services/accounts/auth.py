"""Sign-in: password, second factor (TOTP or a recovery code), enrolment, password change."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import NoReturn

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.errors import SignInFailed, SignInThrottled, ValidationFailed
from caseapp.models import RecoveryCode, User, UserSession
from caseapp.runtime import hasher, keyring, settings
from caseapp.security import passwords, totp
from caseapp.security.crypto import associated_data, seal_with_keyring, unseal_with_keyring
from caseapp.services.accounts import sessions, throttle
from caseapp.services.audit.trail import record


def normalise_username(value: str) -> str:
    return unicodedata.normalize("NFKC", value or "").strip().lower()[:200]


def _dummy_hash() -> str:
    """Verified against when the user name is unknown, so both paths cost one argon2
    verification."""
    return passwords.dummy_hash(hasher())


def _throttled(session: Session, username: str, ip: str) -> None:
    throttle.hold(session, username, ip)
    wait = throttle.seconds_locked(session, username, ip)
    if wait:
        raise SignInThrottled(wait)


class TemporaryPasswordWithdrawn(SignInFailed):
    """The password was right but is a temporary one an administrator was shown (set before
    enrolment codes existed): the person asks for a sign-in reset instead."""


class SecondFactorReused(SignInFailed):
    """The password was right and the TOTP code was genuine but already used (or older than
    one used): the person should wait for the next code. Only the second step raises it."""


def _fail(
    session: Session,
    user: User | None,
    username: str,
    ip: str,
    action: str,
    failure: type[SignInFailed] = SignInFailed,
    changes: dict | None = None,
) -> NoReturn:
    locked = throttle.register_failure(session, username, ip)
    record(
        session,
        None,
        action,
        unit=user.unit if user else None,
        changes=changes,
        object_type="users",
        object_id=str(user.id) if user else "",
        object_ref=user.username if user else "",
    )
    if locked:
        record(
            session,
            None,
            "auth.locked",
            unit=user.unit if user else None,
            object_type="users",
            object_id=str(user.id) if user else "",
            object_ref=user.username if user else "",
        )
    raise failure()


def check_password(
    session: Session, username: str, password: str, ip: str, user_agent: str
) -> tuple[User, str]:
    """First step. Returns the user and a new session token (second factor still pending).

    Raises SignInThrottled or SignInFailed; the caller commits in both cases so the failure
    counts are kept.
    """
    username = normalise_username(username)
    _throttled(session, username, ip)
    user = session.scalar(select(User).where(User.username == username))
    if len(password) > settings().password_max_length * 4:
        _fail(session, user, username, ip, "auth.login_failed")
    if user is None:
        passwords.verify_password(hasher(), _dummy_hash(), password)
        _fail(session, None, username, ip, "auth.login_failed")
    ok = passwords.verify_password(hasher(), user.password_hash, password)
    if not ok or not user.active:
        _fail(session, user, username, ip, "auth.login_failed")
    if user.must_change_password:
        # A temporary password from before enrolment codes: an administrator was shown it, so
        # it never opens the account (the right password only learns this; nothing is counted).
        record(
            session,
            None,
            "auth.login_failed",
            unit=user.unit,
            changes={"refused": "temporary_password_seen_by_an_administrator"},
            object_type="users",
            object_id=str(user.id),
            object_ref=user.username,
        )
        raise TemporaryPasswordWithdrawn()
    unit = user.unit  # a lazy load autoflushes: load it before the rehash below
    if passwords.needs_rehash(hasher(), user.password_hash):
        user.password_hash = passwords.hash_password(hasher(), password)
    token, _record = sessions.open_session(session, user, ip, user_agent)
    record(session, user, "auth.password_ok", user, unit=unit)
    return user, token


def _recovery_key() -> bytes:
    return keyring().active("blind_index").secret


def _totp_secret(user: User) -> bytes:
    if user.totp_secret is None:
        raise ValueError("the account has no second factor enrolled")
    return unseal_with_keyring(
        keyring(), user.totp_secret, associated_data("users", user.id, "totp_secret")
    )


def check_second_factor(
    session: Session, user: User, user_session: UserSession, code: str, ip: str
) -> str:
    """Second step: a TOTP code (never the same one twice) or an unused recovery code.

    Returns the session's new token: the one from the password step no longer works."""
    _throttled(session, user.username, ip)
    code = (code or "").strip()[:40]
    secret = _totp_secret(user)
    counter = totp.match_counter(secret, code, user.totp_last_counter)
    used_recovery = None
    if counter is None and len(code.replace("-", "").replace(" ", "")) == 10:
        used_recovery = session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.used_at.is_(None),
                RecoveryCode.code_hash.in_(
                    (totp.recovery_hash(code, _recovery_key()), totp.recovery_hash(code))
                ),
            )
        )
    if counter is None and used_recovery is None:
        # Reached only after the right password: saying that a genuine code was already used
        # tells nothing to someone who does not hold both the password and the phone.
        reused = totp.match_counter(secret, code, -1) is not None
        _fail(
            session,
            user,
            user.username,
            ip,
            "auth.second_factor_failed",
            SecondFactorReused if reused else SignInFailed,
            {"second_factor": "code_already_used"} if reused else None,
        )
    # Queries first: they autoflush, and the changes below are not audited until record().
    throttle.clear_account(session, user.username)
    unit = user.unit
    if counter is not None:
        user.totp_last_counter = counter
    covers: tuple = ()
    if used_recovery is not None:
        used_recovery.used_at = utcnow()
        covers = (used_recovery,)
    user_session.second_factor_at = utcnow()
    record(
        session,
        user,
        "auth.login",
        user,
        unit=unit,
        covers=covers,
        changes={"method": "recovery_code" if used_recovery else "totp"},
    )
    return sessions.renew_token(session, user_session)


def offer_enrolment(session: Session, user: User, user_session: UserSession) -> bytes:
    """The TOTP secret offered to ``user`` (kept sealed on the session until confirmed)."""
    ad = associated_data("user_sessions", user_session.id, "pending_totp_secret")
    if user_session.pending_totp_secret is not None:
        return unseal_with_keyring(keyring(), user_session.pending_totp_secret, ad)
    secret = totp.new_secret()
    user_session.pending_totp_secret = seal_with_keyring(keyring(), secret, ad)
    return secret


@dataclass
class Enrolment:
    recovery_codes: list[str]
    token: str  # the session's new token: the one from the password step no longer works


def confirm_enrolment(
    session: Session, user: User, user_session: UserSession, code: str, ip: str
) -> Enrolment:
    if user.has_second_factor:
        raise ValidationFailed(_("A second factor is already set up for this account."))
    _throttled(session, user.username, ip)
    secret = offer_enrolment(session, user, user_session)
    counter = totp.match_counter(secret, code or "", 0)
    if counter is None:
        throttle.register_failure(session, user.username, ip)
        raise ValidationFailed(
            _("That code is not right. Check the time on your phone and enter the current code.")
        )
    # Queries (and lazy loads) first: they autoflush, and the changes below are not yet audited.
    unit = user.unit
    codes = _new_recovery_codes(session, user)
    user.totp_secret = seal_with_keyring(
        keyring(), secret, associated_data("users", user.id, "totp_secret")
    )
    user.totp_enrolled_at = utcnow()
    user.totp_last_counter = counter
    user_session.pending_totp_secret = None
    user_session.second_factor_at = utcnow()
    record(session, user, "auth.second_factor_enrolled", user, unit=unit, covers=tuple(codes[1]))
    return Enrolment(recovery_codes=codes[0], token=sessions.renew_token(session, user_session))


def _new_recovery_codes(session: Session, user: User) -> tuple[list[str], list[RecoveryCode]]:
    old = list(session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)))
    for row in old:
        session.delete(row)
    plain = [totp.new_recovery_code() for _ in range(settings().recovery_code_count)]
    rows = [
        RecoveryCode(user_id=user.id, code_hash=totp.recovery_hash(c, _recovery_key()))
        for c in plain
    ]
    session.add_all(rows)
    return plain, rows + old


def regenerate_recovery_codes(session: Session, user: User) -> list[str]:
    # Load the unit first: a lazy load autoflushes, and the new codes are not yet covered.
    unit = user.unit
    plain, rows = _new_recovery_codes(session, user)
    record(
        session,
        user,
        "auth.recovery_codes_renewed",
        unit=unit,
        object_type="users",
        object_id=str(user.id),
        object_ref=user.username,
        covers=tuple(rows),
    )
    return plain


def remaining_recovery_codes(session: Session, user: User) -> int:
    return len(
        list(
            session.scalars(
                select(RecoveryCode.id).where(
                    RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
                )
            )
        )
    )


def password_problems(password: str, username: str, full_name: str = "") -> list[str]:
    cfg = settings()
    return passwords.policy_problems(
        password,
        cfg.password_min_length,
        cfg.password_max_length,
        username=username,
        full_name=full_name,
    )


class WrongCurrentPassword(ValidationFailed):
    """The current password was wrong; the failure counts towards the account's lock. The
    caller commits (to keep the count); ``locked`` means every session was ended."""

    def __init__(self, message: str, locked: bool) -> None:
        super().__init__(message)
        self.locked = locked


def change_password(session: Session, user: User, current: str, new: str, ip: str = "") -> int:
    """Change the user's own password; every session of theirs ends. Returns sessions ended.

    Wrong current passwords are throttled like sign-in failures, so a borrowed session cannot
    be used to guess the password: at the limit every session of the account ends."""
    throttle.hold(session, user.username, ip)
    if not passwords.verify_password(hasher(), user.password_hash, current):
        locked = throttle.register_failure(session, user.username, ip)
        record(
            session,
            user,
            "auth.password_change_failed",
            unit=user.unit,
            object_type="users",
            object_id=str(user.id),
            object_ref=user.username,
        )
        if locked:
            record(
                session,
                user,
                "auth.locked",
                unit=user.unit,
                object_type="users",
                object_id=str(user.id),
                object_ref=user.username,
            )
            sessions.revoke_all(session, user, user, "password_guessing")
        raise WrongCurrentPassword(_("The current password is not right."), locked)
    if password_problems(new, user.username, user.full_name):
        raise ValidationFailed(_("The new password does not meet the password rules."))
    if passwords.verify_password(hasher(), user.password_hash, new):
        raise ValidationFailed(_("The new password must differ from the current one."))
    unit = user.unit  # a lazy load autoflushes: load it before the change is made
    user.password_hash = passwords.hash_password(hasher(), new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    record(session, user, "auth.password_changed", user, unit=unit)
    return sessions.revoke_all(session, user, user, "password_changed")


def delete_recovery_codes(session: Session, user: User) -> list[RecoveryCode]:
    rows = list(session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)))
    for row in rows:
        session.delete(row)
    return rows


def sign_out(session: Session, user: User, user_session: UserSession) -> None:
    sessions.close_session(session, user_session, "logout")
    record(
        session,
        user,
        "auth.logout",
        unit=user.unit,
        object_type="users",
        object_id=str(user.id),
        object_ref=user.username,
    )


def sign_out_everywhere(session: Session, user: User) -> int:
    return sessions.revoke_all(session, user, user, "signed_out_everywhere")
