"""Envelope encryption of case content: one data key per case, wrapped by the active
key-encryption key; every value sealed with AES-256-GCM bound to its case, table, record and
field; files sealed in chunks so they can be streamed."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from caseapp.security.crypto import (
    DecryptionError,
    associated_data,
    keyed_hash,
    seal,
    seal_with_keyring,
    unseal,
    unseal_with_keyring,
)
from caseapp.security.keyring import Keyring

CHUNK = 64 * 1024
FILE_MAGIC = b"CAF1"


def new_data_key() -> bytes:
    return os.urandom(32)


def wrap_data_key(keyring: Keyring, data_key: bytes, case_public_id: str) -> bytes:
    return seal_with_keyring(
        keyring, data_key, associated_data("cases", case_public_id, "data_key")
    )


def unwrap_data_key(keyring: Keyring, wrapped: bytes | None, case_public_id: str) -> bytes:
    if wrapped is None:
        raise DecryptionError("the case's data key was destroyed")
    return unseal_with_keyring(
        keyring, wrapped, associated_data("cases", case_public_id, "data_key")
    )


def wrapping_key_id(wrapped: bytes) -> str:
    return wrapped[1 : 1 + wrapped[0]].decode("ascii")


def field_ad(case_public_id: str, table: str, record_id: str, field: str) -> bytes:
    return associated_data(case_public_id, table, record_id, field)


def seal_text(data_key: bytes, value: str | None, ad: bytes) -> bytes | None:
    if value is None or value == "":
        return None
    return seal(data_key, value.encode("utf-8"), ad)


def open_text(data_key: bytes, blob: bytes | None, ad: bytes) -> str:
    if blob is None:
        return ""
    return unseal(data_key, blob, ad).decode("utf-8")


class Readable(Protocol):
    """What seal_file reads from: an open binary file, or a stream with its head put back."""

    def read(self, n: int, /) -> bytes: ...


def seal_file(data_key: bytes, src: Readable, dst: BinaryIO, ad: bytes, limit: int) -> int:
    """Encrypt ``src`` into ``dst`` chunk by chunk; returns the plaintext size.

    Each chunk is sealed with its index and a last-chunk flag in the associated data, so
    reordering, dropping or truncating chunks fails to decrypt. Raises ValueError past ``limit``.
    """
    aead = AESGCM(data_key)
    dst.write(FILE_MAGIC)
    size = 0
    index = 0
    current = src.read(CHUNK)
    while True:
        following = src.read(CHUNK)
        size += len(current)
        if size > limit:
            raise ValueError("file too large")
        last = not following
        nonce = os.urandom(12)
        dst.write(nonce + aead.encrypt(nonce, current, ad + f"|{index}|{int(last)}".encode()))
        if last:
            return size
        current = following
        index += 1


def open_file(data_key: bytes, src: BinaryIO, ad: bytes) -> Iterator[bytes]:
    """Decrypt a file sealed by seal_file, yielding plaintext chunks."""
    if src.read(len(FILE_MAGIC)) != FILE_MAGIC:
        raise DecryptionError("not a sealed file")
    aead = AESGCM(data_key)
    block = 12 + CHUNK + 16
    index = 0
    current = src.read(block)
    while current:
        following = src.read(block)
        last = not following
        try:
            yield aead.decrypt(current[:12], current[12:], ad + f"|{index}|{int(last)}".encode())
        except InvalidTag:
            raise DecryptionError("file chunk does not authenticate") from None
        current = following
        index += 1
    if index == 0:
        raise DecryptionError("empty sealed file")


def normalise_name(name: str) -> str:
    """NFC, lower case, Vietnamese diacritics folded (đ -> d), spaces collapsed."""
    text = unicodedata.normalize("NFC", name or "").lower().replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(folded.split())


def name_digest(key: bytes, role: str, name: str) -> str | None:
    normalised = normalise_name(name)
    if not normalised:
        return None
    return keyed_hash(key, f"name|{role}|{normalised}")
