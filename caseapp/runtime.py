"""Access to the per-application runtime objects (settings, keyring, password hasher)."""

from __future__ import annotations

from argon2 import PasswordHasher
from flask import current_app

from caseapp.security.keyring import Keyring
from config import Settings


def settings() -> Settings:
    return current_app.extensions["caseapp.settings"]


def keyring() -> Keyring:
    return current_app.extensions["caseapp.keyring"]


def hasher() -> PasswordHasher:
    return current_app.extensions["caseapp.hasher"]
