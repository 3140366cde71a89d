"""Backups: a consistent database dump, the sealed attachments and a manifest, in a private
folder (restore: backup_restore.py). Nothing is decrypted on the way: the dump holds sealed
values, the files are sealed."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from caseapp.db import utcnow
from caseapp.models import AuditCheckpoint, AuditEvent, Case, CaseAttachment, Unit, User
from caseapp.security.keyring import Keyring
from caseapp.services.audit.trail import record
from caseapp.services.backup.manifest import (
    ATTACHMENTS_DIR,
    CHUNK,
    DUMP_NAMES,
    STORAGE_NAME,
    FileEntry,
    Manifest,
    ManifestError,
    audit_head,
    is_fresh,
    read_manifest,
    schema_revision,
    sha256_file,
    write_manifest,
)
from caseapp.services.keys import binding as key_binding

# The db downgrade guard reads a backup's manifest and asks whether it is fresh, from here.
__all__ = [
    "BackupError",
    "Manifest",
    "ManifestError",
    "RestoreRefused",
    "is_fresh",
    "make_backup",
    "read_manifest",
]


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message is one line for the operator."""


class RestoreRefused(BackupError):
    """A restore refused before anything was written."""


@dataclass
class Snapshot:
    """What a dump holds, read in the dump's own snapshot."""

    revision: str
    head_seq: int
    head_hash: str
    key_ids: list[str]
    counts: dict[str, int]
    storage_names: list[str]
    bound: bool  # the key ids come from the database's binding table


def snapshot(session: Session, keyring: Keyring) -> Snapshot:
    """The manifest's figures, read from ``session`` (the dump's snapshot, or a restored
    database)."""
    bound = key_binding.has_binding_table(session)
    if bound:
        key_ids = key_binding.bound_key_ids(session)
    else:
        # A schema before the binding table: the keyring the service runs with goes with the
        # database, so every key it holds is asked of a restore (more than needed, never less).
        key_ids = sorted(key.id for key in keyring.keys(purpose=None))
    counts = {
        name: session.scalar(select(func.count()).select_from(model)) or 0
        for name, model in (
            ("units", Unit),
            ("users", User),
            ("cases", Case),
            ("audit_events", AuditEvent),
            ("audit_checkpoints", AuditCheckpoint),
            ("attachments", CaseAttachment),
        )
    }
    seq, head_hash = audit_head(session)
    names = list(session.scalars(select(CaseAttachment.storage_name).order_by(CaseAttachment.id)))
    return Snapshot(schema_revision(session), seq, head_hash, key_ids, counts, names, bound)


# Backup --------------------------------------------------------------------------------------


@dataclass
class BackupResult:
    directory: Path
    manifest: Manifest
    files_missing: int  # attachment rows without a file (destroyed content, or lost)

    def summary(self) -> str:
        m = self.manifest
        line = (
            f"backup written to {self.directory}: {m.engine} dump of "
            f"{m.database.bytes} bytes, {m.counts['cases']} cases, "
            f"{m.counts['attachment_files']} attachment files, audit head seq "
            f"{m.audit_head_seq}, schema {m.schema_revision}, {len(m.key_ids)} key ids "
            "(keep the keyring backed up apart from it)"
        )
        if self.files_missing:
            line += (
                f"; {self.files_missing} attachment rows have no file (destroyed content, "
                "or lost files)"
            )
        return line


def make_backup(
    session: Session, engine: Engine, keyring: Keyring, attachment_dir: Path, out: Path
) -> BackupResult:
    """Record the backup in the trail (committed), dump the database, copy the sealed files
    the dump refers to, then write the manifest."""
    dialect = engine.dialect.name
    if dialect not in DUMP_NAMES:
        raise BackupError(f"cannot back up a {dialect} database")
    created = _prepare_out(out, attachment_dir)
    try:
        # The copy is itself recorded, so the trail shows every full copy that was taken.
        binding = key_binding.bind(session, keyring)
        if binding.migrated and binding.missing:
            raise BackupError(binding.refusal(keyring.path))
        event = record(
            session,
            None,
            "system.backup",
            object_type="backup",
            changes={"directory": str(out.resolve()), "engine": dialect},
        )
        session.commit()
        dump = out / DUMP_NAMES[dialect]
        if dialect == "postgresql":
            snap = _dump_postgresql(engine, keyring, dump)
        else:
            snap = _dump_sqlite(engine, keyring, dump)
        # Files after the dump: an attachment's file is written (and renamed into place) before
        # its row commits and is never changed, so every file a row of the dump names is there
        # now, unless its case's content was destroyed since. Files of later rows are left out.
        files = _copy_attachments(snap.storage_names, attachment_dir, out / ATTACHMENTS_DIR)
        manifest = Manifest(
            created_at=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            engine=dialect,
            schema_revision=snap.revision,
            audit_head_seq=snap.head_seq,
            audit_head_hash=snap.head_hash,
            backup_event_seq=event.seq,
            key_ids=tuple(snap.key_ids),
            counts={**snap.counts, "attachment_files": len(files)},
            database=sha256_file(dump),
            attachments=files,
        )
        write_manifest(out, manifest)
    except SQLAlchemyError as exc:
        _discard(out, created)
        raise BackupError(f"the database answered with an error ({reason(exc)})") from None
    except BaseException:
        _discard(out, created)
        raise
    return BackupResult(out, manifest, len(set(snap.storage_names)) - len(files))


def _prepare_out(out: Path, attachment_dir: Path) -> bool:
    """The backup folder, new or empty, private to the service's user (0700)."""
    if out.resolve().is_relative_to(attachment_dir.resolve()):
        raise BackupError(f"{out} is inside the attachment folder: back up somewhere else")
    created = not out.exists()
    if not created and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty folder: back up into a new folder")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    (out / ATTACHMENTS_DIR).mkdir(mode=0o700)
    return created


def _discard(out: Path, created: bool) -> None:
    """Remove what an unfinished backup wrote (the folder was new or empty)."""
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    for entry in out.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink()


def _private_file(path: Path):
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def reason(exc: SQLAlchemyError) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__]
    return lines[0][:200]


def libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for pg_dump/pg_restore, and their environment: the password
    goes in PGPASSWORD, never on a command line (ps shows those) or in the manifest."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return plain.render_as_string(hide_password=False), env


def run_tool(tool: str, args: list[str], env: dict[str, str], stdout=None) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - pg_dump/pg_restore with arguments we build
            [tool, *args],
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            check=False,
        )
    except FileNotFoundError:
        raise BackupError(
            f"{tool} is not installed: install the PostgreSQL client tools of "
            "the server's major version"
        ) from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
        raise BackupError(f"{tool} failed: {lines[0][:300]}")


def _dump_postgresql(engine: Engine, keyring: Keyring, dump: Path) -> Snapshot:
    """pg_dump in a snapshot exported by this transaction: the manifest's audit head, counts
    and key ids are read in that very snapshot, so they describe exactly what the dump holds
    (events appended meanwhile are in neither)."""
    conninfo, env = libpq(engine.url)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            snapshot_id = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
            with Session(bind=conn) as session:
                snap = snapshot(session, keyring)
            with _private_file(dump) as handle:
                run_tool(
                    "pg_dump",
                    [
                        "--format=custom",
                        "--no-owner",
                        "--no-privileges",
                        f"--snapshot={snapshot_id}",
                        "--dbname",
                        conninfo,
                    ],
                    env,
                    stdout=handle,
                )
    return snap


def _read_only(path: Path) -> Engine:
    """An engine on a copy that must not change: read-only, and immutable so that SQLite
    makes no journal or lock file beside it."""
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))


def _dump_sqlite(engine: Engine, keyring: Keyring, dump: Path) -> Snapshot:
    """SQLite's online backup API (all pages in one step, under one read lock): a consistent
    copy; the manifest's figures are then read from the copy itself."""
    _private_file(dump).close()
    target = sqlite3.connect(dump)
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert source is not None  # an open pooled connection has its DBAPI connection
        source.backup(target)
    finally:
        raw.close()
        target.close()
    copy = _read_only(dump)
    try:
        with Session(bind=copy) as session:
            return snapshot(session, keyring)
    finally:
        copy.dispose()


def copy_sealed(source: Path, target: Path) -> FileEntry:
    """Copy a sealed file as it is (mode 0600), hashing it on the way."""
    import hashlib

    digest, size = hashlib.sha256(), 0
    with open(source, "rb") as src, _private_file(target) as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    return FileEntry(digest.hexdigest(), size)


def _copy_attachments(names: list[str], source: Path, target: Path) -> dict[str, FileEntry]:
    files: dict[str, FileEntry] = {}
    for name in names:
        if name in files or not STORAGE_NAME.fullmatch(name):
            continue
        if (source / name).is_file():
            files[name] = copy_sealed(source / name, target / name)
    return files
