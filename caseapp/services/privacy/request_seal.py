"""The key of one request from a data subject: its own data key, wrapped by the keyring as a
case's is (associated data subject_requests|uid|data_key), sealing the names, contacts, details,
reasons and the export of that request only (associated data subject_requests|uid|field). It
never opens a case's content: what an export takes from a case comes through the one door
(services.cases.content.open_person)."""

from __future__ import annotations

import json

from caseapp.models.privacy import SubjectRequest
from caseapp.runtime import keyring
from caseapp.security import envelope
from caseapp.security.crypto import associated_data, seal_with_keyring, unseal_with_keyring

TABLE = "subject_requests"


def _key_ad(uid: str) -> bytes:
    return associated_data(TABLE, uid, "data_key")


def _field_ad(uid: str, name: str) -> bytes:
    return associated_data(TABLE, uid, name)


def new_request_key(request: SubjectRequest) -> bytes:
    """A fresh data key for ``request`` (its uid set), wrapped into ``request.wrapped_key``."""
    key = envelope.new_data_key()
    request.wrapped_key = seal_with_keyring(keyring(), key, _key_ad(request.uid))
    return key


class RequestSeal:
    """Seals and opens the fields of one request under its own key."""

    def __init__(self, request: SubjectRequest, key: bytes | None = None) -> None:
        self._uid = request.uid
        if key is None:
            if request.wrapped_key is None:
                raise ValueError("the request has no key")
            key = unseal_with_keyring(keyring(), request.wrapped_key, _key_ad(request.uid))
        self._key = key

    def seal(self, name: str, value: str) -> bytes | None:
        return envelope.seal_text(self._key, value, _field_ad(self._uid, name))

    def open(self, name: str, blob: bytes | None) -> str:
        return envelope.open_text(self._key, blob, _field_ad(self._uid, name))

    def seal_json(self, name: str, value: dict) -> bytes | None:
        return self.seal(name, json.dumps(value, ensure_ascii=False, sort_keys=True))

    def open_json(self, name: str, blob: bytes | None) -> dict:
        text = self.open(name, blob)
        return json.loads(text) if text else {}
