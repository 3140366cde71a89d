"""A running service takes a rotated keyring without a restart (keys rotate runs beside it),
and never a keyring dropped in by mistake or a damaged file."""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import pytest

from caseapp import create_app, migrate
from caseapp.db import get_session
from caseapp.runtime import keyring
from caseapp.security.keyring import Keyring, load_keyring, new_key
from caseapp.services.keys import binding as key_binding
from caseapp.startup import ensure_ready


@pytest.fixture()
def running(settings, fresh_engine, tmp_path, monkeypatch):
    monkeypatch.setattr("caseapp.runtime.RELOAD_RETRY_SECONDS", 0.0)
    url = fresh_engine.url.render_as_string(hide_password=False)
    app = create_app(replace(settings, database_url=url, keyring_path=tmp_path / "ring.json"))
    migrate.upgrade(app.extensions["caseapp.engine"])
    ensure_ready(app)
    with app.app_context():
        keyring()  # the service has read its keyring once
    yield app, tmp_path / "ring.json"
    app.extensions["caseapp.engine"].dispose()


def _touch_later(path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_a_rotation_made_by_another_process_is_taken(running):
    app, path = running
    with app.app_context():
        old_wrap = keyring().active("wrap").id
    # What `flask keys rotate` does in its own process: save the new key, bind it, commit.
    other = load_keyring(path, create=False, strict_mode=False)
    other.add(new_key("wrap"))
    other.save()
    _touch_later(path)
    with app.app_context():
        s = get_session()
        key_binding.bind(s, other)
        s.commit()
    with app.app_context():
        ring = keyring()
        assert ring.active("wrap").id == other.active("wrap").id != old_wrap
        assert ring.get(old_wrap).secret  # still opens what the old key sealed


def test_a_rotation_not_yet_bound_waits_for_its_binding(running):
    app, path = running
    other = load_keyring(path, create=False, strict_mode=False)
    other.add(new_key("audit"))
    other.save()
    _touch_later(path)
    with app.app_context():
        assert keyring().active("audit").id != other.active("audit").id
        s = get_session()
        key_binding.bind(s, other)
        s.commit()
    with app.app_context():
        assert keyring().active("audit").id == other.active("audit").id


@pytest.mark.parametrize("damage", ["replaced", "garbled"])
def test_a_keyring_dropped_in_by_mistake_is_never_used(running, damage, caplog):
    app, path = running
    with app.app_context():
        before = {k.id for k in keyring().keys(purpose=None)}
    if damage == "replaced":
        Keyring.generate(path).save()
    else:
        path.write_text("{oops")
    _touch_later(path)
    with caplog.at_level(logging.ERROR), app.app_context():
        assert {k.id for k in keyring().keys(purpose=None)} == before
        keyring()  # asked again: the same refusal is logged once
    lines = [r for r in caplog.records if "still using the keys in memory" in r.getMessage()]
    assert len(lines) == 1


def test_its_own_rotation_is_kept_not_read_back(running):
    """A rotation made in this process (the keys CLI) saves the file: this process already
    holds what it wrote, so it keeps the very keyring it rotated instead of reading the file
    back into another object (a later change of that object would miss the one in use)."""
    from caseapp.services.keys import rotation

    app, path = running
    with app.app_context():
        ring = keyring()
        s = get_session()
        new = rotation.rotate(s, ring, "audit")
        s.commit()
        assert path.read_text(encoding="utf-8").count(new) == 1  # saved
        assert keyring() is ring and ring.active("audit").id == new


def test_a_keyring_put_in_place_is_judged_by_its_own_file(running, tmp_path, caplog):
    """Which file was seen last belongs to the keyring that read or wrote it, not to the app:
    a keyring put in place (as a test or a restore does) is not taken for a changed file,
    whatever file the one before it had seen."""
    app, _path = running
    with app.app_context():
        other = load_keyring(_path, create=False, strict_mode=False)
        other.path = tmp_path / "elsewhere.json"
        other.add(new_key("audit"))  # never bound: a reload of it would be refused
        other.save()
        app.extensions["caseapp.keyring"] = other
        with caplog.at_level(logging.INFO):
            assert keyring() is other
    # Not even tried: no reload, no refusal.
    assert not [r for r in caplog.records if "keyring" in r.getMessage()]
