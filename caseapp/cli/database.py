"""Flask commands: db upgrade/downgrade (Alembic), with the guards of a downgrade."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from caseapp.cli.common import ensure_writable
from caseapp.db import get_engine, get_session
from caseapp.runtime import settings

db_cli = AppGroup("db", help="Database schema migrations (Alembic).")

DESTROYS_DATA = "--i-understand-this-destroys-data"


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    from caseapp import migrate

    _refuse_unless_keyring_matches()
    try:
        migrate.upgrade(get_engine(), revision)
    except migrate.MigrationRefused as exc:
        raise click.ClickException(str(exc)) from None
    if revision == "head":
        ensure_writable()  # binds the keyring to the database before anything writes
    click.echo(f"database upgraded to {revision}")
    if revision == "head":
        _seal_clear_reasons()


def _seal_clear_reasons() -> None:
    """Reasons recorded in clear before they were sealed: sealed now (audit seal-reasons)."""
    from caseapp.runtime import keyring
    from caseapp.services.audit import reseal

    session = get_session()
    if reseal.seal_clear_texts(session):
        session.commit()
    if not reseal.clear_reasons_left(session):
        session.rollback()
        return
    try:
        report = reseal.seal_reasons(session, keyring())
    except reseal.SealRefused as exc:
        session.rollback()
        raise click.ClickException(
            f"the audit reasons could not be sealed: {exc}. Find out why with "
            "`flask --app wsgi audit verify`, then run `flask --app wsgi audit seal-reasons`"
        ) from None
    session.commit()
    if report is not None:
        click.echo(
            f"{report.count} audit reasons sealed; the trail was re-chained from seq "
            f"{report.first_seq} (audit.reasons_sealed records the old head and checkpoints). "
            "A checkpoint file kept off the server from before no longer verifies: write a "
            "fresh one now (`flask --app wsgi audit checkpoint --out FILE`)"
        )


def _refuse_unless_keyring_matches() -> None:
    """A migration writes too: refused on an unreachable database or a keyring that lacks a key
    the database uses (an unmigrated database is what this command is for)."""
    from flask import current_app

    from caseapp.startup import readiness

    # current_app is typed as Flask, not as the LocalProxy it is at run time.
    state = readiness(current_app._get_current_object())  # type: ignore[attr-defined]
    if not state.database or state.keyring == "mismatch":
        raise click.ClickException(state.problem)


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
@click.option(
    DESTROYS_DATA, "destroys_data", is_flag=True, help="Required in production, with --backup."
)
@click.option(
    "--backup",
    "backup_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="A backup taken just now (flask --app wsgi backup --out DIR); required in production.",
)
def db_downgrade(revision: str, destroys_data: bool, backup_dir: Path | None) -> None:
    """Migrate the database down to REVISION (default: one step; 'base' for empty).

    Refused on every environment when it would drop audited rows while the audit trail stays;
    refused in production unless given both --i-understand-this-destroys-data and a backup
    that holds the database as it is now."""
    from caseapp import migrate

    _refuse_unless_keyring_matches()
    if settings().env == "production":
        _require_fresh_backup(destroys_data, backup_dir)
    try:
        migrate.downgrade(get_engine(), revision)
    except migrate.MigrationRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"database downgraded to {revision}")


def _require_fresh_backup(destroys_data: bool, backup_dir: Path | None) -> None:
    """In production a downgrade goes ahead only knowingly and with a backup of the database
    as it is now (same schema revision, same audit head): anything older loses what came after
    it, and the trail that proves it."""
    if not destroys_data or backup_dir is None:
        raise click.ClickException(
            "db downgrade destroys data and is refused when CASEAPP_ENV=production; take a "
            f"backup (flask --app wsgi backup --out DIR) and pass {DESTROYS_DATA} --backup DIR"
        )
    from caseapp.services.backup.create import is_fresh, read_manifest

    try:
        manifest = read_manifest(backup_dir)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(
            f"the backup in {backup_dir} cannot be read ({exc}); take "
            "a new one with flask --app wsgi backup --out DIR"
        ) from None
    session = get_session()
    try:
        reason = is_fresh(session, manifest)
    finally:
        session.close()  # no read lock left on the database while it is migrated
    if reason is not None:
        raise click.ClickException(
            f"the backup in {backup_dir} is not fresh: {reason}; take a "
            "new one with flask --app wsgi backup --out DIR"
        )
