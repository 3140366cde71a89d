"""Access to the per-application runtime objects (settings, keyring, password hasher)."""

from __future__ import annotations

import time

from argon2 import PasswordHasher
from flask import current_app, g, has_request_context
from sqlalchemy.exc import SQLAlchemyError

from caseapp.security.keyring import Keyring, KeyringError, load_keyring
from config import Settings

# A keyring file that changed but cannot be taken yet is tried again after this long.
RELOAD_RETRY_SECONDS = 2.0


def settings() -> Settings:
    return current_app.extensions["caseapp.settings"]


def keyring() -> Keyring:
    """The keyring, read again when its file changed: `keys rotate` run beside a running
    service saves a new key and rewraps values under it, which every worker must then be able
    to open without a restart. The new file is taken only when its active keys are bound to
    the database (a rotation binds its key), so a keyring dropped in by mistake is never used;
    until then, and when the file cannot be read, the keys in memory stay."""
    if has_request_context():
        # The file is looked at once per request (a stat each time adds up: intake asks for
        # keys a few times), unless the keyring in use was replaced meanwhile.
        held = current_app.extensions["caseapp.keyring"]
        if g.get("_caseapp_keyring") is held:
            return held
        g._caseapp_keyring = _current_keyring()
        return g._caseapp_keyring
    return _current_keyring()


def _current_keyring() -> Keyring:
    app = current_app
    ring: Keyring = app.extensions["caseapp.keyring"]
    if ring.path is None:
        return ring
    try:
        changed = ring.path.stat().st_mtime_ns
    except OSError:
        return ring
    if ring.file_mtime_ns is None:
        ring.file_mtime_ns = changed  # built in memory, then pointed at the file: first sight
    if changed == ring.file_mtime_ns:
        # Unchanged since this very object read or wrote it (its own rotation included).
        return ring
    now = time.monotonic()
    if (
        now - app.extensions.get("caseapp.keyring_tried", -RELOAD_RETRY_SECONDS)
        < RELOAD_RETRY_SECONDS
    ):
        return ring
    app.extensions["caseapp.keyring_tried"] = now
    fresh, problem = _reloaded(ring)
    if fresh is None:
        if app.extensions.get("caseapp.keyring_problem") != (changed, problem):
            app.logger.error("keyring file changed, still using the keys in memory: %s", problem)
            app.extensions["caseapp.keyring_problem"] = (changed, problem)
        return ring
    app.extensions["caseapp.keyring"] = fresh
    app.logger.info("keyring reloaded from %s", ring.path)
    return fresh


def _reloaded(ring: Keyring) -> tuple[Keyring | None, str]:
    from caseapp.db import open_session
    from caseapp.services.keys import binding as key_binding

    assert ring.path is not None
    try:
        fresh = load_keyring(ring.path, create=False, strict_mode=settings().env == "production")
    except KeyringError as exc:
        return None, str(exc)
    # A retired key leaves the file once nothing uses it; this process may keep it meanwhile.
    for key in ring.keys(purpose=None):
        fresh.restore(key)
    try:
        with open_session() as session:
            binding = key_binding.check(session, fresh)
    except SQLAlchemyError as exc:
        return None, f"the database could not be asked ({type(exc).__name__})"
    active = [k.id for k in fresh.keys(purpose=None) if k.active]
    unbound = sorted(set(active) & set(binding.unbound))
    if unbound:
        return None, (
            f"its active key(s) {', '.join(unbound)} are not bound to this database "
            "(not made by keys rotate here?)"
        )
    return fresh, ""


def hasher() -> PasswordHasher:
    return current_app.extensions["caseapp.hasher"]
