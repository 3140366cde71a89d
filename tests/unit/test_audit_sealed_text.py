"""The sealed form of an audit reason: a versioned token, bound to its event, its field and its
key; anything else is not taken for one."""

from __future__ import annotations

import base64
import os

import pytest

from caseapp.security.crypto import DecryptionError, seal, unseal
from caseapp.services.audit.sealed_text import PREFIX, is_sealed, parse, scope_of, text_ad


def _token(key_id: int, blob: bytes) -> str:
    return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(blob).decode('ascii')}"


def test_a_token_carries_its_key_and_its_sealed_bytes():
    blob = seal(os.urandom(32), "Lý do".encode(), text_ad(7, 3))
    assert is_sealed(_token(3, blob)) and parse(_token(3, blob)) == (3, blob)


@pytest.mark.parametrize(
    "value",
    ["", "Lý do rõ ràng", "sealed:2:1:AAAA", "sealed:1:x:AAAA", "sealed:1:1:***", "sealed:1:"],
)
def test_anything_else_is_not_a_token(value):
    assert parse(value) is None


def test_sealed_for_one_event_field_and_key_only():
    key = os.urandom(32)
    blob = seal(key, "Ông Lê Văn Bình".encode(), text_ad(7, 3))
    assert unseal(key, blob, text_ad(7, 3)) == "Ông Lê Văn Bình".encode()
    for ad in (text_ad(8, 3), text_ad(7, 4), text_ad(7, 3, "changes")):
        with pytest.raises(DecryptionError):
            unseal(key, blob, ad)
    with pytest.raises(DecryptionError):
        unseal(os.urandom(32), blob, text_ad(7, 3))


def test_scopes():
    assert scope_of(12) == "case:12" and scope_of(None) == "service"
