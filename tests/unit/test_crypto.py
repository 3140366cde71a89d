"""Sealed values are bound to where they live; the keyring refuses unsafe files in production."""

from __future__ import annotations

import os

import pytest

from caseapp.security.crypto import (
    DecryptionError,
    associated_data,
    seal,
    seal_with_keyring,
    unseal,
    unseal_with_keyring,
)
from caseapp.security.keyring import Keyring, KeyringError, load_keyring, new_key

KEY = os.urandom(32)


def test_round_trip_and_fresh_nonce():
    ad = associated_data("users", 7, "totp_secret")
    a, b = seal(KEY, b"secret", ad), seal(KEY, b"secret", ad)
    assert a != b
    assert unseal(KEY, a, ad) == b"secret"


@pytest.mark.parametrize(
    "other",
    [
        ("users", 8, "totp_secret"),  # another row
        ("users", 7, "email"),  # another field
        ("cases", 7, "totp_secret"),  # another table
    ],
)
def test_ciphertext_moved_elsewhere_fails(other):
    blob = seal(KEY, b"secret", associated_data("users", 7, "totp_secret"))
    with pytest.raises(DecryptionError):
        unseal(KEY, blob, associated_data(*other))


@pytest.mark.parametrize("position", [0, 1, 12, 13, -1])
def test_flipped_byte_fails(position):
    ad = associated_data("users", 7, "totp_secret")
    blob = bytearray(seal(KEY, b"secret", ad))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        unseal(KEY, bytes(blob), ad)


def test_keyring_rotation_keeps_old_values_readable(tmp_path):
    ring = Keyring.generate(tmp_path / "k.json")
    ad = associated_data("users", 1, "totp_secret")
    old_blob = seal_with_keyring(ring, b"x", ad)
    ring.add(new_key("wrap"))
    new_blob = seal_with_keyring(ring, b"y", ad)
    assert unseal_with_keyring(ring, old_blob, ad) == b"x"
    assert unseal_with_keyring(ring, new_blob, ad) == b"y"
    assert old_blob[1 : 1 + old_blob[0]] != new_blob[1 : 1 + new_blob[0]]
    ring.save()
    again = load_keyring(tmp_path / "k.json", create=False, strict_mode=True)
    assert unseal_with_keyring(again, new_blob, ad) == b"y"
    assert oct(os.stat(tmp_path / "k.json").st_mode & 0o777) == "0o600"


def test_production_refuses_a_readable_keyring(tmp_path):
    path = tmp_path / "k.json"
    Keyring.generate(path).save()
    os.chmod(path, 0o644)
    with pytest.raises(KeyringError, match="readable by others .mode 644.; run chmod 600"):
        load_keyring(path, create=False, strict_mode=True)
    with pytest.raises(KeyringError, match="does not exist"):
        load_keyring(tmp_path / "missing.json", create=False, strict_mode=True)


def test_active_key_cannot_be_removed(tmp_path):
    ring = Keyring.generate(tmp_path / "k.json")
    with pytest.raises(KeyringError):
        ring.remove(ring.active("wrap").id)
