"""The keyring: key-encryption and other keys, each with an id and a purpose, one active each."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

PURPOSES = ("wrap", "blind_index", "audit", "signing")


class KeyringError(RuntimeError):
    pass


@dataclass(frozen=True)
class Key:
    id: str
    purpose: str
    secret: bytes
    active: bool
    created_at: str


def _new_secret(purpose: str) -> bytes:
    if purpose == "signing":
        return Ed25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )
    return secrets.token_bytes(32)


def new_key(purpose: str, active: bool = True) -> Key:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return Key(
        id=f"{purpose}-{stamp}-{secrets.token_hex(3)}",
        purpose=purpose,
        secret=_new_secret(purpose),
        active=active,
        created_at=datetime.now(UTC).isoformat(),
    )


class Keyring:
    def __init__(self, keys: list[Key], path: Path | None = None) -> None:
        self.path = path
        # The mtime of ``path`` when this object last read or wrote it: a later mtime means
        # another process changed the file (runtime.keyring then reads it again).
        self.file_mtime_ns: int | None = None
        self._keys = {k.id: k for k in keys}
        for purpose in PURPOSES:
            if not any(k.purpose == purpose and k.active for k in keys):
                raise KeyringError(f"keyring has no active {purpose} key")

    def get(self, key_id: str) -> Key:
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyringError(f"unknown key id {key_id}") from None

    def active(self, purpose: str) -> Key:
        return next(k for k in self._keys.values() if k.purpose == purpose and k.active)

    def keys(self, purpose: str | None = None) -> list[Key]:
        return [k for k in self._keys.values() if purpose is None or k.purpose == purpose]

    def add(self, key: Key) -> None:
        """Add a key and make it the active one of its purpose."""
        for k in list(self._keys.values()):
            if k.purpose == key.purpose and k.active:
                self._keys[k.id] = Key(k.id, k.purpose, k.secret, False, k.created_at)
        self._keys[key.id] = key

    def restore(self, key: Key) -> None:
        """Hold an old key again, inactive (it only opens what it sealed)."""
        self._keys.setdefault(key.id, Key(key.id, key.purpose, key.secret, False, key.created_at))

    def remove(self, key_id: str) -> None:
        key = self.get(key_id)
        if key.active:
            raise KeyringError("the active key cannot be retired")
        del self._keys[key_id]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": 1,
                "keys": [
                    {
                        "id": k.id,
                        "purpose": k.purpose,
                        "active": k.active,
                        "created_at": k.created_at,
                        "secret": base64.b64encode(k.secret).decode("ascii"),
                    }
                    for k in self._keys.values()
                ],
            },
            indent=2,
        )

    def save(self, path: Path | None = None) -> None:
        path = path or self.path
        if path is None:
            raise KeyringError("no keyring path")
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.to_json())
        os.replace(tmp, path)
        if path == self.path:
            self.file_mtime_ns = path.stat().st_mtime_ns

    @classmethod
    def generate(cls, path: Path | None = None) -> Keyring:
        return cls([new_key(p) for p in PURPOSES], path)

    @classmethod
    def from_json(cls, text: str, path: Path | None = None) -> Keyring:
        data = json.loads(text)
        keys = [
            Key(
                id=k["id"],
                purpose=k["purpose"],
                secret=base64.b64decode(k["secret"]),
                active=bool(k["active"]),
                created_at=k.get("created_at", ""),
            )
            for k in data["keys"]
        ]
        return cls(keys, path)


def load_keyring(path: Path, create: bool, strict_mode: bool) -> Keyring:
    """Read the keyring at ``path``; make one when ``create`` (development and testing only)."""
    if not path.exists():
        if not create:
            raise KeyringError(
                f"CASEAPP_KEYRING: the keyring file {path} does not exist; put "
                "the keyring of this database there (mode 0600), or make a new "
                "one only for a new, empty database"
            )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        keyring = Keyring.generate(path)
        keyring.save()
        return keyring
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 and strict_mode:
            raise KeyringError(
                f"CASEAPP_KEYRING: the keyring file {path} is readable by others "
                f"(mode {mode:o}); run chmod 600 {path}"
            )
        # Taken before the read: a file replaced in between is read again at the next look.
        seen = path.stat().st_mtime_ns
        keyring = Keyring.from_json(path.read_text(encoding="utf-8"), path)
        keyring.file_mtime_ns = seen
        return keyring
    except KeyringError as exc:
        if str(exc).startswith("CASEAPP_KEYRING"):
            raise
        raise KeyringError(
            f"CASEAPP_KEYRING: the keyring file {path} is incomplete ({exc}); "
            "restore it from the keyring backup"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyringError(
            f"CASEAPP_KEYRING: the keyring file {path} cannot be read "
            f"({getattr(exc, 'strerror', None) or exc}); check its owner and mode"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        # json.JSONDecodeError and binascii.Error are ValueErrors.
        kind = type(exc).__name__
        raise KeyringError(
            f"CASEAPP_KEYRING: the keyring file {path} is damaged ({kind}); "
            "restore it from the keyring backup"
        ) from None
