"""The restore drill, on the engine of the run: a database with cases and sealed attachments is
backed up (twice, with a signed checkpoint file between), restored into an empty database and
folder with the same keyring, and verified: counts, audit trail, the checkpoint file, and an
attachment that decrypts to the same bytes. Then what must be refused before anything is
written (wrong keyring, a target that is not empty, a damaged backup), a restore from an older
backup caught by the newer checkpoint, and a keyring lacking a key told apart from tampering."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import stat
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DatabaseError

from caseapp import create_app, migrate
from caseapp.db import get_session
from caseapp.models import AuditEvent, Case, CaseAttachment, User
from caseapp.runtime import keyring
from caseapp.security.keyring import Keyring, new_key
from caseapp.services.backup import create as backup
from caseapp.services.backup.manifest import ManifestError, read_manifest
from caseapp.services.cases import content as case_content
from caseapp.services.cases import intake as cases
from caseapp.services.cases import records as case_records
from tests.conftest import Database
from tests.factories import make_unit, make_user
from tests.functional.case_attack_support import case_details

FILES = {  # what each case's attachment holds (plain text, sealed on the way in)
    "first": b"Bien ban lam viec voi gia dinh, lan 1.\n" * 40,
    "second": b"Anh chup tin nhan (mo ta).\n" * 7,
    "third": b"Ke hoach ho tro sau khi xac minh.\n" * 3,
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _invoke(app, *args: str):
    """As `flask --app wsgi ...`: each command in an application context of its own."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def _make_app(settings, db: Database, home: Path, keyring_path: Path):
    return create_app(
        replace(
            settings,
            database_url=db.url,
            instance_dir=home,
            keyring_path=keyring_path,
            attachments_path=home / "attachments",
        )
    )


def _add_case(app, label: str) -> tuple[str, str]:
    """A case at the drill's school with one sealed attachment: (public id, attachment uid)."""
    with app.app_context():
        s = get_session()
        focal = s.scalar(select(User).where(User.username == "focal.drill"))
        case = cases.create_case(
            s,
            focal,
            focal.unit,
            case_details(),
            cases.CaseContent(harmed_name=f"Nguyen Thi {label}", narrative=f"narrative {label}"),
        )
        attachment = case_records.add_attachment(
            s, focal, case, f"{label}.txt", "text/plain", io.BytesIO(FILES[label])
        )
        s.commit()
        return case.public_id, attachment.uid


def _table_names(app) -> list[str]:
    with app.app_context():
        return inspect(get_session().connection()).get_table_names()


def _count_events(app) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(AuditEvent))


@dataclass
class Drill:
    root: Path
    source: object
    target: object
    keyring_path: Path
    old: Path  # a backup taken before the third case
    new: Path  # the backup restored into target
    checkpoint: Path  # signed between the two backups
    attachments: dict[str, tuple[str, str]]  # label -> (case public id, attachment uid)
    restored: object  # the result of the restore command


class Targets:
    """Empty databases (and app homes) for restores, dropped at the end."""

    def __init__(self, settings, root: Path) -> None:
        self.settings, self.root = settings, root
        self.databases: list[Database] = []
        self.apps: list = []

    def new(self, label: str, keyring_path: Path):
        name = f"{label}{len(self.databases)}"
        db = Database(self.root, name)
        db.create()
        self.databases.append(db)
        app = _make_app(self.settings, db, self.root / f"{name}-home", keyring_path)
        self.apps.append(app)
        return app

    def close(self) -> None:
        for app in self.apps:
            app.extensions["caseapp.engine"].dispose()
        for db in self.databases:
            db.drop()


@pytest.fixture(scope="module")
def drill(settings, database, tmp_path_factory):
    root = tmp_path_factory.mktemp("drill")
    targets = Targets(settings, root)
    try:
        yield _run_drill(targets, root)
    finally:
        targets.close()


def _run_drill(targets: Targets, root: Path) -> Drill:
    keyring_path = root / "source-keyring.json"
    source = targets.new("source", keyring_path)  # the keyring is made on first use
    migrate.upgrade(source.extensions["caseapp.engine"])
    with source.app_context():
        s = get_session()
        province = make_unit(s, None, "DRL", "province", "So Giao duc (drill)")
        district = make_unit(s, province, "DRL-D", "commune")  # no new district office (2025)
        school = make_unit(s, district, "DRL-S", "school")
        make_user(s, keyring(), "focal.drill", school, [("focal_point", school)])
        s.commit()
    attachments = {label: _add_case(source, label) for label in ("first", "second")}
    old = root / "backup-old"
    assert (r := _invoke(source, "backup", "--out", str(old))).exit_code == 0, r.output
    attachments["third"] = _add_case(source, "third")
    checkpoint = root / "checkpoint.json"
    assert (r := _invoke(source, "audit", "checkpoint", "--out", str(checkpoint))).exit_code == 0
    new = root / "backup-new"
    assert (r := _invoke(source, "backup", "--out", str(new))).exit_code == 0, r.output

    target = targets.new("target", keyring_path)
    restored = _invoke(target, "restore", str(new))
    return Drill(root, source, target, keyring_path, old, new, checkpoint, attachments, restored)


@pytest.fixture()
def targets(settings, drill, tmp_path):
    made = Targets(settings, tmp_path)
    try:
        yield made
    finally:
        made.close()


# The backup ----------------------------------------------------------------------------------


def test_backup_folder_is_private_and_the_manifest_holds_no_secret(drill):
    manifest = read_manifest(drill.new)
    assert _mode(drill.new) == 0o700 and _mode(drill.new / "attachments") == 0o700
    files = [p for p in drill.new.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"manifest.json", manifest.database_file}
    assert all(_mode(p) == 0o600 for p in files), [(p, oct(_mode(p))) for p in files]

    text = (drill.new / "manifest.json").read_text()
    ring = Keyring.from_json(drill.keyring_path.read_text())
    for key in ring.keys(purpose=None):
        assert base64.b64encode(key.secret).decode() not in text
        assert key.secret.hex() not in text
    assert "secret" not in text and "password" not in text.lower()
    assert "://" not in text  # no database URL, with or without a password
    assert sorted(manifest.key_ids) == sorted(k.id for k in ring.keys(purpose=None))

    assert manifest.engine == drill.source.extensions["caseapp.engine"].dialect.name
    assert manifest.counts["cases"] == 3 and manifest.counts["attachments"] == 3
    assert manifest.counts["attachment_files"] == 3 == len(manifest.attachments)
    assert manifest.counts["users"] == 1 and manifest.counts["units"] == 3
    assert manifest.counts["audit_events"] == manifest.audit_head_seq
    # The backup is itself in the trail, inside the dump, just before the head.
    with drill.source.app_context():
        event = get_session().scalar(
            select(AuditEvent).where(AuditEvent.seq == manifest.backup_event_seq)
        )
        assert event.action == "system.backup" and event.actor_name == "system"
        assert json.loads(event.changes)["directory"] == str(drill.new.resolve())
    assert manifest.backup_event_seq <= manifest.audit_head_seq
    # The older backup holds two cases, and the trail as it was then.
    old = read_manifest(drill.old / "manifest.json")
    assert old.counts["cases"] == 2 and old.audit_head_seq < manifest.audit_head_seq


def test_freshness_for_the_downgrade_guard(drill):
    with drill.source.app_context():
        s = get_session()
        assert backup.is_fresh(s, read_manifest(drill.new)) is None
        reason = backup.is_fresh(s, read_manifest(drill.old))
        assert reason and "written to after the backup" in reason


def test_backup_refuses_a_folder_that_is_not_empty(drill, tmp_path):
    (tmp_path / "something").write_text("x")
    before = _count_events(drill.source)
    result = _invoke(drill.source, "backup", "--out", str(tmp_path))
    assert result.exit_code == 1 and "not an empty folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["something"]
    assert _count_events(drill.source) == before  # not recorded either


def test_backup_with_a_keyring_that_does_not_go_with_the_database_is_refused(drill, tmp_path):
    settings = drill.source.extensions["caseapp.settings"]
    app = create_app(replace(settings, keyring_path=tmp_path / "fresh-keyring.json"))
    try:
        before = _count_events(app)
        result = _invoke(app, "backup", "--out", str(tmp_path / "never"))
        assert result.exit_code == 1 and "does not go with this database" in result.output
        assert not (tmp_path / "never").exists() and _count_events(app) == before
    finally:
        app.extensions["caseapp.engine"].dispose()


@pytest.mark.parametrize(
    "content",
    [
        "",
        "{not json",
        '{"format": "caseapp-backup", "version": 99}',
        '{"format": "caseapp-backup", "version": 1}',
    ],
)
def test_read_manifest_refuses_a_missing_or_corrupt_manifest(tmp_path, content):
    if content:
        (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ManifestError) as caught:
        read_manifest(tmp_path)
    assert "manifest.json" in str(caught.value) and "\n" not in str(caught.value)


# The restore ---------------------------------------------------------------------------------


def test_restore_drill_restores_and_verifies_everything(drill):
    result = drill.restored
    assert result.exit_code == 0, result.output
    assert "restored" in result.output and "counts match" in result.output
    manifest = read_manifest(drill.new)
    with drill.target.app_context():
        s = get_session()
        assert s.scalar(select(func.count()).select_from(Case)) == 3
        assert s.scalar(select(func.count()).select_from(CaseAttachment)) == 3
        last = s.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
        # The restore is recorded after the backup's head, so the chain continues visibly.
        assert last.action == "system.restore" and last.seq == manifest.audit_head_seq + 1
    folder = drill.target.extensions["caseapp.settings"].attachment_dir
    assert sorted(p.name for p in folder.iterdir()) == sorted(manifest.attachments)
    assert all(_mode(p) == 0o600 for p in folder.iterdir())
    url = drill.target.extensions["caseapp.engine"].url
    if url.get_backend_name() == "sqlite":
        assert _mode(Path(url.database)) == 0o600

    verified = _invoke(drill.target, "audit", "verify", "--no-record")
    assert verified.exit_code == 0, verified.output
    held = _invoke(
        drill.target, "audit", "verify", "--no-record", "--checkpoint", str(drill.checkpoint)
    )
    assert held.exit_code == 0, held.output
    assert "checkpoint file" in held.output and "holds" in held.output

    # A restored attachment opens to the bytes that were uploaded (same keyring, same key).
    public_id, uid = drill.attachments["second"]
    with drill.target.app_context():
        s = get_session()
        focal = s.scalar(select(User).where(User.username == "focal.drill"))
        case = s.scalar(select(Case).where(Case.public_id == public_id))
        name, _type, size, chunks = case_content.open_attachment(s, focal, case, uid)
        assert (name, b"".join(chunks)) == ("second.txt", FILES["second"])
        assert size == len(FILES["second"])
        s.rollback()


def test_the_restored_trail_is_still_append_only(drill):
    """The dump's data went in before its triggers (PostgreSQL: post-data; SQLite: a page
    copy); they are there afterwards and refuse to rewrite the trail."""
    with drill.target.extensions["caseapp.engine"].connect() as conn:
        for statement in (
            "UPDATE audit_events SET reason = 'x'",
            "DELETE FROM audit_events",
            "DELETE FROM audit_checkpoints",
        ):
            with pytest.raises(DatabaseError, match="append-only"), conn.begin():
                conn.execute(text(statement))


def _nothing_written(app) -> None:
    assert _table_names(app) == []
    folder = app.extensions["caseapp.settings"].attachment_dir
    assert not folder.exists() or not any(folder.iterdir())


def test_restore_with_a_wrong_keyring_is_refused_before_anything_is_written(drill, targets):
    fresh = targets.new("wrongkeys", targets.root / "fresh-keyring.json")
    result = _invoke(fresh, "restore", str(drill.new))
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and line.startswith("restore refused:")
    for key_id in read_manifest(drill.new).key_ids:
        assert key_id in line
    assert "keyring backed up with this database" in line
    _nothing_written(fresh)


def test_restore_into_a_database_that_is_not_empty_is_refused(drill, targets):
    busy = targets.new("busy", drill.keyring_path)
    migrate.upgrade(busy.extensions["caseapp.engine"])
    before = _count_events(busy)
    result = _invoke(busy, "restore", str(drill.new))
    assert result.exit_code == 2 and "not empty" in result.output, result.output
    assert _count_events(busy) == before
    assert not busy.extensions["caseapp.settings"].attachment_dir.exists()


def test_restore_into_an_attachment_folder_that_holds_files_is_refused(drill, targets):
    app = targets.new("files", drill.keyring_path)
    folder = app.extensions["caseapp.settings"].attachment_dir
    folder.mkdir(parents=True)
    (folder / "left-over").write_bytes(b"x")
    result = _invoke(app, "restore", str(drill.new))
    assert result.exit_code == 2 and "attachment folder" in result.output, result.output
    assert _table_names(app) == [] and [p.name for p in folder.iterdir()] == ["left-over"]


@pytest.mark.parametrize("damage", ["dump", "attachment", "manifest"])
def test_a_damaged_backup_is_refused(drill, targets, damage):
    copy = targets.root / "damaged"
    shutil.copytree(drill.new, copy)
    manifest = read_manifest(copy)
    if damage == "dump":
        path = copy / manifest.database_file
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit of one byte
        path.write_bytes(bytes(data))
        expected = "SHA-256"
    elif damage == "attachment":
        path = copy / "attachments" / next(iter(manifest.attachments))
        path.write_bytes(path.read_bytes()[:-1])
        expected = "SHA-256"
    else:
        (copy / "manifest.json").write_text("{}")
        expected = "not a caseapp backup manifest"
    app = targets.new("damaged", drill.keyring_path)
    result = _invoke(app, "restore", str(copy))
    assert result.exit_code == 2 and expected in result.output, result.output
    _nothing_written(app)


def test_a_backup_of_the_other_engine_is_refused(drill, targets):
    copy = targets.root / "other-engine"
    shutil.copytree(drill.new, copy)
    data = json.loads((copy / "manifest.json").read_text())
    names = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
    other = "sqlite" if data["engine"] == "postgresql" else "postgresql"
    (copy / names[data["engine"]]).rename(copy / names[other])
    data["engine"], data["database"]["file"] = other, names[other]
    (copy / "manifest.json").write_text(json.dumps(data))
    app = targets.new("engine", drill.keyring_path)
    result = _invoke(app, "restore", str(copy))
    assert result.exit_code == 2, result.output
    assert f"the backup is of a {other} database" in result.output
    _nothing_written(app)


def test_a_restore_that_differs_from_its_manifest_exits_1_and_is_not_recorded(drill, targets):
    copy = targets.root / "miscounted"
    shutil.copytree(drill.new, copy)
    data = json.loads((copy / "manifest.json").read_text())
    data["counts"]["cases"] += 1
    (copy / "manifest.json").write_text(json.dumps(data))
    app = targets.new("miscounted", drill.keyring_path)
    result = _invoke(app, "restore", str(copy))
    assert result.exit_code == 1, result.output
    assert "cases: 3 restored, the manifest says 4" in result.output
    assert "not recorded" in result.output
    assert _count_events(app) == data["audit_head"]["seq"]  # no system.restore


def test_restore_from_an_older_backup_is_caught_by_a_newer_checkpoint(drill, targets):
    app = targets.new("older", drill.keyring_path)
    restored = _invoke(app, "restore", str(drill.old))
    assert restored.exit_code == 0, restored.output
    # The restored trail is intact on its own: only the checkpoint kept off the server knows
    # that events are missing.
    assert _invoke(app, "audit", "verify", "--no-record").exit_code == 0
    result = _invoke(app, "audit", "verify", "--checkpoint", str(drill.checkpoint))
    assert result.exit_code == 1, result.output
    signed = json.loads(drill.checkpoint.read_text())["seq"]
    head = read_manifest(drill.old).audit_head_seq + 1  # and the restore's own event
    assert (
        f"the trail ends at seq {head} but the checkpoint signed seq {signed}: events are "
        "missing (restored from an older backup, or truncated)"
    ) in result.output


# A keyring that lacks a key is not tampering ---------------------------------------------------


def _keyring_without(drill, purpose: str, path: Path) -> str:
    """The drill's keyring with the key of ``purpose`` replaced by a new one: the id removed."""
    ring = Keyring.from_json(drill.keyring_path.read_text())
    old = ring.active(purpose).id
    ring.add(new_key(purpose))
    ring.remove(old)
    ring.save(path)
    return old


def test_a_keyring_lacking_the_audit_key_exits_3_and_appends_nothing(drill, targets):
    lacking = _keyring_without(drill, "audit", targets.root / "no-audit-key.json")
    settings = drill.target.extensions["caseapp.settings"]
    app = create_app(replace(settings, keyring_path=targets.root / "no-audit-key.json"))
    try:
        before = _count_events(app)
        result = _invoke(app, "audit", "verify")
        assert result.exit_code == 3, result.output
        assert (
            f"cannot verify from seq 1: the trail uses key {lacking} which this keyring "
            "lacks (use the keyring that goes with this database); this is not evidence "
            "of tampering"
        ) in result.output
        assert "BROKEN" not in result.output
        assert _count_events(app) == before  # no audit.verify appended under a stray chain
    finally:
        app.extensions["caseapp.engine"].dispose()


def test_a_keyring_lacking_the_signing_key_exits_3_for_checkpoints(drill, targets):
    lacking = _keyring_without(drill, "signing", targets.root / "no-signing-key.json")
    settings = drill.target.extensions["caseapp.settings"]
    app = create_app(replace(settings, keyring_path=targets.root / "no-signing-key.json"))
    try:
        before = _count_events(app)
        result = _invoke(app, "audit", "verify", "--checkpoint", str(drill.checkpoint))
        assert result.exit_code == 3, result.output
        assert f"the trail uses key {lacking} which this keyring lacks" in result.output
        assert (
            f"cannot confirm the checkpoint's signer: it is signed by key {lacking} which "
            "this keyring lacks"
        ) in result.output
        assert "not evidence of tampering" in result.output and "BROKEN" not in result.output
        assert _count_events(app) == before
    finally:
        app.extensions["caseapp.engine"].dispose()
