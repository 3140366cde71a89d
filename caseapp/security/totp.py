"""Time-based one-time passwords (RFC 6238) with drift of one step and replay protection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

STEP = 30
DIGITS = 6


def new_secret() -> bytes:
    return secrets.token_bytes(20)


def to_base32(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def from_base32(text: str) -> bytes:
    text = text.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _totp(secret: bytes) -> TOTP:
    # SHA-1 is what authenticator apps implement for RFC 6238; HMAC-SHA1 remains sound here.
    return TOTP(secret, DIGITS, SHA1(), STEP, enforce_key_length=False)  # noqa: S303


def code_at(secret: bytes, counter: int) -> str:
    return _totp(secret).generate(counter * STEP).decode("ascii")


def current_counter(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP)


def match_counter(
    secret: bytes, code: str, last_counter: int, now: float | None = None
) -> int | None:
    """The time step the code belongs to, if it is valid and newer than ``last_counter``.

    A code accepted once can never be accepted again, nor can any older code.
    """
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    counter = current_counter(now)
    for candidate in (counter - 1, counter, counter + 1):
        if candidate <= last_counter:
            continue
        if hmac.compare_digest(code_at(secret, candidate), code):
            return candidate
    return None


def provisioning_uri(secret: bytes, account: str, issuer: str) -> str:
    return _totp(secret).get_provisioning_uri(account, issuer)


def new_recovery_code() -> str:
    raw = secrets.token_hex(5).upper()  # 40 bits, single use, throttled like passwords
    return f"{raw[:5]}-{raw[5:]}"


def _normalised(code: str) -> str:
    return code.strip().replace("-", "").replace(" ", "").upper()


def recovery_hash(code: str, key: bytes | None = None) -> str:
    """How a recovery code is stored: an HMAC under a keyring key, so a copy of the database
    alone does not let anyone try the 2^40 codes offline. Without a key: the plain SHA-256 of
    codes issued before keyed hashing (still accepted until they are used or renewed)."""
    data = _normalised(code).encode("ascii", "ignore")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, b"recovery|" + data, hashlib.sha256).hexdigest()
