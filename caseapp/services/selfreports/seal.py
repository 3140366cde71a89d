"""The key of one self-report and its receipt code.

Each report has its own data key, wrapped by the keyring as a case's is (associated data
self_reports|uid|data_key); it seals the details, the reporter's name and contact, every message
(self_reports|uid|message|<message uid>) and every photo (self_reports|uid|photo|<photo uid>)
of that report only. Accepting a report as a case re-seals what is carried over under the new
case's key (services/selfreports/handling.py); the messages stay under the report's key.

The receipt code (16 digits) is kept only as a keyed hash under a blind_index key of the
keyring: a copy of the database alone cannot find a report by its code, nor test guesses
offline. Every blind_index key of the keyring is tried, so rotating that key loses no code."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import BinaryIO

from caseapp.models.selfreports import RECEIPT_DIGITS, SelfReport
from caseapp.runtime import keyring
from caseapp.security import envelope
from caseapp.security.crypto import (
    associated_data,
    keyed_hash,
    seal_with_keyring,
    unseal_with_keyring,
)

TABLE = "self_reports"


def _key_ad(uid: str) -> bytes:
    return associated_data(TABLE, uid, "data_key")


def new_report_key(report: SelfReport) -> bytes:
    """A fresh data key for ``report`` (its uid set), wrapped into ``report.wrapped_key``."""
    key = envelope.new_data_key()
    report.wrapped_key = seal_with_keyring(keyring(), key, _key_ad(report.uid))
    return key


class ReportSeal:
    """Seals and opens the fields, messages and photos of one report under its own key.
    Opening is not audited here: the services that show content to a person audit the read."""

    def __init__(self, report: SelfReport, key: bytes | None = None) -> None:
        self._uid = report.uid
        if key is None:
            if report.wrapped_key is None:
                raise ValueError("the report has no key")
            key = unseal_with_keyring(keyring(), report.wrapped_key, _key_ad(report.uid))
        self._key = key

    def _ad(self, *parts: str) -> bytes:
        return associated_data(TABLE, self._uid, *parts)

    def seal(self, name: str, value: str) -> bytes | None:
        return envelope.seal_text(self._key, value, self._ad(name))

    def open(self, name: str, blob: bytes | None) -> str:
        return envelope.open_text(self._key, blob, self._ad(name))

    def seal_message(self, message_uid: str, body: str) -> bytes:
        sealed = envelope.seal_text(self._key, body, self._ad("message", message_uid))
        if sealed is None:
            raise ValueError("an empty message is not sealed")
        return sealed

    def open_message(self, message_uid: str, blob: bytes) -> str:
        return envelope.open_text(self._key, blob, self._ad("message", message_uid))

    def seal_photo(self, photo_uid: str, src: envelope.Readable, dst: BinaryIO, limit: int) -> int:
        return envelope.seal_file(self._key, src, dst, self._ad("photo", photo_uid), limit)

    def open_photo(self, photo_uid: str, src: BinaryIO) -> Iterator[bytes]:
        return envelope.open_file(self._key, src, self._ad("photo", photo_uid))


def new_receipt_code() -> str:
    """16 random digits (about 53 bits), never stored."""
    return f"{secrets.randbelow(10**RECEIPT_DIGITS):0{RECEIPT_DIGITS}d}"


def normalise_code(typed: str) -> str | None:
    """The digits of a typed code (spaces and dashes allowed), or None when it is not one."""
    digits = "".join(ch for ch in (typed or "") if ch not in " -\u00a0")
    if len(digits) != RECEIPT_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def receipt_hash(code: str) -> str:
    """The stored form of a new code (the active blind_index key)."""
    return keyed_hash(keyring().active("blind_index").secret, f"receipt|{code}")


def receipt_hashes(code: str) -> list[str]:
    """Every form the code may be stored in (each blind_index key of the keyring)."""
    return [keyed_hash(k.secret, f"receipt|{code}") for k in keyring().keys("blind_index")]


def grouped(code: str) -> str:
    """The code as shown once to the reporter: four groups of four digits."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))
