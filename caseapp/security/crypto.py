"""Authenticated encryption of small values bound to where they live (AES-256-GCM with AD)."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from caseapp.security.keyring import Keyring

FORMAT_VERSION = 1


class DecryptionError(Exception):
    """Ciphertext that is damaged, moved or sealed under an unknown key."""


def associated_data(*parts: object) -> bytes:
    return "|".join(str(p) for p in parts).encode("utf-8")


def seal(key: bytes, plaintext: bytes, ad: bytes) -> bytes:
    """version | nonce | ciphertext+tag."""
    nonce = os.urandom(12)
    return bytes([FORMAT_VERSION]) + nonce + AESGCM(key).encrypt(nonce, plaintext, ad)


def unseal(key: bytes, blob: bytes, ad: bytes) -> bytes:
    if not blob or blob[0] != FORMAT_VERSION or len(blob) < 1 + 12 + 16:
        raise DecryptionError("unknown ciphertext format")
    try:
        return AESGCM(key).decrypt(blob[1:13], blob[13:], ad)
    except InvalidTag:
        raise DecryptionError("ciphertext does not authenticate") from None


def seal_with_keyring(keyring: Keyring, plaintext: bytes, ad: bytes) -> bytes:
    """Seal under the active wrapping key; the key id travels with the blob."""
    key = keyring.active("wrap")
    kid = key.id.encode("ascii")
    return bytes([len(kid)]) + kid + seal(key.secret, plaintext, ad + b"|" + kid)


def unseal_with_keyring(keyring: Keyring, blob: bytes, ad: bytes) -> bytes:
    length = blob[0]
    kid = blob[1 : 1 + length]
    try:
        key = keyring.get(kid.decode("ascii"))
    except Exception as exc:
        raise DecryptionError("sealed under an unknown key") from exc
    return unseal(key.secret, blob[1 + length :], ad + b"|" + kid)


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
