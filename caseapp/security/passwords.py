"""Password hashing (argon2id with rehash on sign-in) and the password policy (ASVS V6)."""

from __future__ import annotations

import contextlib
import secrets
import unicodedata
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
# A stored hash starting with this is no hash: no password matches it (an account whose person
# has not yet set theirs with an enrolment code). argon2 hashes start with "$".
UNUSABLE_PREFIX = "!"
# Verified against for an unknown user name or an unusable hash, so that every failure costs one
# argon2 verification with the hasher's parameters (by hasher, as its parameters vary in tests).
_DUMMY_HASH: dict[str, str] = {}


def make_hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def normalise(password: str) -> str:
    # NFKC so that the same password typed on different keyboards hashes the same (ASVS 6.2).
    return unicodedata.normalize("NFKC", password)


def hash_password(hasher: PasswordHasher, password: str) -> str:
    return hasher.hash(normalise(password))


def unusable_hash() -> str:
    """A password hash no password matches (``!`` and a random token, unique per account):
    costs nothing to make, unlike hashing a random password with argon2."""
    return UNUSABLE_PREFIX + secrets.token_urlsafe(24)


def is_unusable(stored: str) -> bool:
    return (stored or "").startswith(UNUSABLE_PREFIX)


def dummy_hash(hasher: PasswordHasher) -> str:
    key = repr(hasher)
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hasher.hash("not-a-real-password-0000")
    return _DUMMY_HASH[key]


def verify_password(hasher: PasswordHasher, stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored``. An unusable hash (see unusable_hash) matches
    nothing but is answered after the same argon2 work as a real one (no timing tells it)."""
    if is_unusable(stored):
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            hasher.verify(dummy_hash(hasher), normalise(password))
        return False
    try:
        return hasher.verify(stored, normalise(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hasher: PasswordHasher, stored: str) -> bool:
    if is_unusable(stored):
        return False
    return hasher.check_needs_rehash(stored)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


def policy_problems(
    password: str, min_length: int, max_length: int, username: str = "", full_name: str = ""
) -> list[str]:
    """Untranslated problem codes; the form layer turns them into messages."""
    problems: list[str] = []
    value = normalise(password)
    if len(value) < min_length:
        problems.append("too_short")
    if len(value) > max_length:
        problems.append("too_long")
    lowered = value.lower()
    if lowered in common_passwords():
        problems.append("common")
    if username and username.lower() in lowered:
        problems.append("contains_username")
    # The person's name, spaces left out ("Nguyễn Văn An" in "nguyễnvănan2025"); parts alone
    # are too short to refuse (An, Mai).
    name = "".join(normalise(full_name).lower().split())
    if len(name) >= 6 and name in "".join(lowered.split()):
        problems.append("contains_name")
    if len(set(value)) < 4:
        problems.append("too_simple")
    return problems
