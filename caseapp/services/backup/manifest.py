"""The manifest of a backup: what it holds and as of when (schema, audit head, key ids, counts,
a SHA-256 of every file), never a key, a secret or a password."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.orm import Session

from caseapp.models import AuditEvent

FORMAT = "caseapp-backup"
VERSION = 1
MANIFEST_NAME = "manifest.json"
ATTACHMENTS_DIR = "attachments"
DUMP_NAMES = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
COUNTS = (
    "units",
    "users",
    "cases",
    "audit_events",
    "audit_checkpoints",
    "attachments",
    "attachment_files",
)
# What an attachment's storage name looks like (secrets.token_hex): a plain file name, so a
# manifest or a database row can never point a copy outside its folder.
STORAGE_NAME = re.compile(r"[0-9A-Za-z_-]{1,128}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 1024 * 1024


class ManifestError(ValueError):
    """The manifest is missing, unreadable, of an unknown format, or malformed."""


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Manifest:
    created_at: str  # UTC, ISO 8601
    engine: str  # "postgresql" or "sqlite"
    schema_revision: str  # Alembic head(s) of the dumped database, comma-separated
    audit_head_seq: int  # as of the dump (read in the dump's own snapshot)
    audit_head_hash: str
    backup_event_seq: int  # the "system.backup" event recorded before the dump
    key_ids: tuple[str, ...]  # every key id the dumped database depends on
    counts: dict[str, int]
    database: FileEntry
    attachments: dict[str, FileEntry] = field(default_factory=dict)  # storage name -> file

    @property
    def database_file(self) -> str:
        return DUMP_NAMES[self.engine]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "created_at": self.created_at,
                "engine": self.engine,
                "schema_revision": self.schema_revision,
                "audit_head": {"seq": self.audit_head_seq, "hash": self.audit_head_hash},
                "backup_event_seq": self.backup_event_seq,
                "key_ids": list(self.key_ids),
                "counts": self.counts,
                "database": {
                    "file": self.database_file,
                    "sha256": self.database.sha256,
                    "bytes": self.database.bytes,
                },
                "attachments": {
                    name: {"sha256": f.sha256, "bytes": f.bytes}
                    for name, f in sorted(self.attachments.items())
                },
            },
            indent=2,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data = json.loads(text)
        except ValueError:
            raise ManifestError("the manifest is not valid JSON") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ManifestError("the manifest is not a caseapp backup manifest")
        if data.get("version") != VERSION:
            raise ManifestError(
                f"the manifest is of format version {data.get('version')!r}, "
                f"this service reads version {VERSION}"
            )
        try:
            engine = _text(data["engine"])
            if engine not in DUMP_NAMES:
                raise ValueError("engine")
            database = _file(data["database"])
            if data["database"].get("file") != DUMP_NAMES[engine]:
                raise ValueError("database.file")
            attachments = {}
            for name, entry in data["attachments"].items():
                if not STORAGE_NAME.fullmatch(name):
                    raise ValueError("attachment name")
                attachments[name] = _file(entry)
            counts = {name: _number(data["counts"][name]) for name in COUNTS}
            key_ids = data["key_ids"]
            if not isinstance(key_ids, list) or not all(isinstance(k, str) for k in key_ids):
                raise ValueError("key_ids")
            head_hash = _text(data["audit_head"]["hash"])
            if not _SHA256.fullmatch(head_hash):
                raise ValueError("audit_head.hash")
            return cls(
                created_at=_text(data["created_at"]),
                engine=engine,
                schema_revision=_text(data["schema_revision"]),
                audit_head_seq=_number(data["audit_head"]["seq"]),
                audit_head_hash=head_hash,
                backup_event_seq=_number(data["backup_event_seq"]),
                key_ids=tuple(key_ids),
                counts=counts,
                database=database,
                attachments=attachments,
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ManifestError(f"the manifest is malformed ({_what(exc)})") from None


def _text(value) -> str:
    if not isinstance(value, str):
        raise TypeError("text expected")
    return value


def _number(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("a whole number expected")
    return value


def _file(entry) -> FileEntry:
    sha = _text(entry["sha256"])
    if not _SHA256.fullmatch(sha):
        raise ValueError("sha256")
    return FileEntry(sha, _number(entry["bytes"]))


def _what(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"{exc.args[0]} missing"
    return str(exc) or type(exc).__name__


def read_manifest(path: Path) -> Manifest:
    """The manifest of the backup folder ``path`` (or of the manifest file itself)."""
    path = Path(path)
    file = path / MANIFEST_NAME if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            f"{file} does not exist: not a backup folder, or an unfinished backup"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{file} cannot be read ({type(exc).__name__})") from None
    try:
        return Manifest.from_json(text)
    except ManifestError as exc:
        raise ManifestError(f"{file}: {exc}") from None


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Written last and renamed into place: a folder with a manifest is a finished backup."""
    path = directory / MANIFEST_NAME
    tmp = directory / (MANIFEST_NAME + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(manifest.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def sha256_file(path: Path) -> FileEntry:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(digest.hexdigest(), size)


def schema_revision(session: Session) -> str:
    heads = MigrationContext.configure(session.connection()).get_current_heads()
    return ",".join(sorted(heads))


def audit_head(session: Session) -> tuple[int, str]:
    row = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, "0" * 64)


def is_fresh(session: Session, manifest: Manifest) -> str | None:
    """None when the backup holds the database as it is now (same engine, schema revision and
    audit head: nothing was written since), else one line saying why not."""
    engine = session.get_bind().dialect.name
    if manifest.engine != engine:
        return f"the backup is of a {manifest.engine} database, this one is {engine}"
    revision = schema_revision(session)
    if manifest.schema_revision != revision:
        return (
            f"the backup is of schema revision {manifest.schema_revision or 'none'}, the "
            f"database is at {revision or 'none'}"
        )
    seq, head_hash = audit_head(session)
    if manifest.audit_head_seq != seq:
        return (
            f"the backup's audit head is seq {manifest.audit_head_seq}, the database's is "
            f"seq {seq}: it was written to after the backup (made {manifest.created_at})"
        )
    if manifest.audit_head_hash != head_hash:
        return (
            f"the audit event at seq {seq} differs from the backup's: the backup is of "
            "another database"
        )
    return None
