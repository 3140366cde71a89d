"""Restoring a backup into an empty database and attachment folder: everything that can be
checked is checked before anything is written; afterwards the trail and the counts are verified
against the manifest, and the restore is recorded so the restored chain continues visibly."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from caseapp.security.keyring import Keyring
from caseapp.services.audit.trail import record
from caseapp.services.backup.create import (
    BackupError,
    RestoreRefused,
    copy_sealed,
    libpq,
    reason,
    run_tool,
    snapshot,
)
from caseapp.services.keys import binding as key_binding

__all__ = ["BackupError", "RestoreRefused", "RestoreResult", "record_restore", "restore"]
from caseapp.services.backup.manifest import (
    ATTACHMENTS_DIR,
    Manifest,
    ManifestError,
    read_manifest,
    sha256_file,
)


@dataclass
class RestoreResult:
    source: Path
    manifest: Manifest
    differences: list[str] = field(default_factory=list)
    revision_behind: str = ""  # the code's head when the restored schema is older

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        m = self.manifest
        line = (
            f"restored {self.source} (made {m.created_at}): {m.counts['cases']} cases, "
            f"{m.counts['attachment_files']} attachment files, audit chain verified to seq "
            f"{m.audit_head_seq}, counts match the manifest"
        )
        if self.revision_behind:
            line += (
                f"; the schema is at {m.schema_revision}, the code needs "
                f"{self.revision_behind}: run flask --app wsgi db upgrade"
            )
        return line


def restore(engine: Engine, keyring: Keyring, attachment_dir: Path, source: Path) -> RestoreResult:
    """Check everything that can be checked before writing (RestoreRefused, nothing written),
    load the dump, copy the files, then verify the trail and the counts against the manifest.
    The caller records the restore (record_restore) when the result is ok."""
    try:
        manifest = read_manifest(source)
    except ManifestError as exc:
        raise RestoreRefused(str(exc)) from None
    dialect = engine.dialect.name
    if manifest.engine != dialect:
        raise RestoreRefused(
            f"the backup is of a {manifest.engine} database but DATABASE_URL "
            f"names a {dialect} one: restore into a {manifest.engine} database"
        )
    held = {key.id for key in keyring.keys(purpose=None)}
    missing = [key_id for key_id in manifest.key_ids if key_id not in held]
    if missing:
        raise RestoreRefused(
            f"the keyring {keyring.path} lacks {len(missing)} key(s) the "
            f"backed-up database uses ({', '.join(missing)}): use the keyring "
            "backed up with this database (nothing was written)"
        )
    _require_empty(engine, attachment_dir)
    head = _code_head(manifest.schema_revision)
    _check_files(source, manifest)

    if dialect == "postgresql":
        _load_postgresql(engine, source / manifest.database_file)
    else:
        _load_sqlite(engine, source / manifest.database_file)
    attachment_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    result = RestoreResult(source, manifest)
    for name, expected in manifest.attachments.items():
        copied = copy_sealed(source / ATTACHMENTS_DIR / name, attachment_dir / name)
        if copied != expected:
            result.differences.append(f"attachment {name} changed while it was copied")
    engine.dispose()  # connections opened before the load may have cached the empty schema
    files = sum(1 for path in attachment_dir.iterdir() if path.is_file())
    try:
        _compare(engine, keyring, manifest, files, result)
    except SQLAlchemyError as exc:
        result.differences.append(f"the restored database cannot be read ({reason(exc)})")
    if manifest.schema_revision != head:
        result.revision_behind = head
    return result


def _require_empty(engine: Engine, attachment_dir: Path) -> None:
    try:
        with engine.connect() as conn:
            objects = _schema_objects(conn)
    except SQLAlchemyError as exc:
        raise RestoreRefused(
            f"cannot open the target database ({reason(exc)}): check "
            "DATABASE_URL (nothing was written)"
        ) from None
    if objects:
        raise RestoreRefused(
            f"the target database is not empty ({objects} tables or other "
            "objects): restore into a new, empty database (nothing was written)"
        )
    if attachment_dir.exists() and any(attachment_dir.iterdir()):
        raise RestoreRefused(
            f"the attachment folder {attachment_dir} is not empty: restore "
            "into an empty folder (CASEAPP_ATTACHMENTS; nothing was written)"
        )


def _schema_objects(conn: Connection) -> int:
    if conn.dialect.name == "postgresql":
        return (
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
                    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
                )
            )
            or 0
        )
    return conn.scalar(text("SELECT count(*) FROM sqlite_master")) or 0


def _code_head(revision: str) -> str:
    """The code's migration head; refused when the backup's schema is one this code does not
    know (made by a newer version of the service)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from caseapp.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    for rev in filter(None, revision.split(",")):
        try:
            known = script.get_revision(rev) is not None
        except CommandError:
            known = False
        if not known:
            raise RestoreRefused(
                f"the backup's schema revision {rev} is unknown to this "
                "version of the service: restore with the version that made "
                "it (nothing was written)"
            )
    return ",".join(sorted(script.get_heads()))


def _check_files(source: Path, manifest: Manifest) -> None:
    """Every file is there, as the manifest hashed it, and nothing else is."""
    dump = source / manifest.database_file
    if not dump.is_file():
        raise RestoreRefused(f"the backup lacks its database dump {dump} (nothing was written)")
    if sha256_file(dump) != manifest.database:
        raise RestoreRefused(
            f"{dump} does not match its SHA-256 in the manifest: the backup "
            "is damaged or was altered (nothing was written)"
        )
    folder = source / ATTACHMENTS_DIR
    present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    extra = present - manifest.attachments.keys()
    if extra:
        raise RestoreRefused(
            f"{folder} holds {len(extra)} file(s) the manifest does not list (nothing was written)"
        )
    for name, expected in manifest.attachments.items():
        path = folder / name
        if not path.is_file() or sha256_file(path) != expected:
            raise RestoreRefused(
                f"attachment file {path} is missing or does not match its "
                "SHA-256 in the manifest: the backup is damaged or was altered "
                "(nothing was written)"
            )


def _load_postgresql(engine: Engine, dump: Path) -> None:
    """pg_restore in one transaction: a failure leaves the database as empty as it was. The
    append-only triggers are created after the data (pg_dump puts them in its post-data
    section), and COPY only inserts, which they allow anyway."""
    conninfo, env = libpq(engine.url)
    run_tool(
        "pg_restore",
        [
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            conninfo,
            str(dump),
        ],
        env,
    )


def _load_sqlite(engine: Engine, dump: Path) -> None:
    """The online backup API in reverse, into the configured file: a page copy (no trigger
    fires), and connections the service holds see the restored database at once."""
    path = engine.url.database
    if not path or path == ":memory:":
        raise RestoreRefused(
            "DATABASE_URL names an in-memory SQLite database: restore into a "
            "file (sqlite:///PATH; nothing was written)"
        )
    source = sqlite3.connect(dump.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
    raw = engine.raw_connection()
    try:
        target = raw.driver_connection
        assert target is not None  # an open pooled connection has its DBAPI connection
        source.backup(target)
    finally:
        raw.close()
        source.close()
    os.chmod(path, 0o600)


def _compare(
    engine: Engine, keyring: Keyring, manifest: Manifest, files: int, result: RestoreResult
) -> None:
    from caseapp.services.audit import integrity as audit_integrity

    with Session(bind=engine) as session:
        report = audit_integrity.verify(session, keyring)
        snap = snapshot(session, keyring)
    if not report.ok:
        result.differences.append(f"audit verify: seq {report.bad_seq}: {report.problem}")
    if (report.head_seq, report.head_hash) != (manifest.audit_head_seq, manifest.audit_head_hash):
        result.differences.append(
            f"audit head is seq {report.head_seq} {report.head_hash}, the manifest says seq "
            f"{manifest.audit_head_seq} {manifest.audit_head_hash}"
        )
    counts = {**snap.counts, "attachment_files": files}
    for name, expected in manifest.counts.items():
        if counts.get(name) != expected:
            result.differences.append(
                f"{name}: {counts.get(name)} restored, the manifest says {expected}"
            )
    if snap.revision != manifest.schema_revision:
        result.differences.append(
            f"schema revision {snap.revision}, the manifest says {manifest.schema_revision}"
        )
    if snap.bound and sorted(snap.key_ids) != sorted(manifest.key_ids):
        result.differences.append("the restored database's key ids differ from the manifest's")


def record_restore(session: Session, keyring: Keyring, result: RestoreResult) -> None:
    """After a verified restore: bind the keyring's newer keys, then record the restore, so the
    restored chain continues visibly. The caller commits."""
    key_binding.bind(session, keyring)
    m = result.manifest
    record(
        session,
        None,
        "system.restore",
        object_type="backup",
        changes={
            "source": str(result.source.resolve()),
            "backup_created_at": m.created_at,
            "audit_head_seq": m.audit_head_seq,
            "engine": m.engine,
        },
    )
