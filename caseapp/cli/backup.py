"""Flask commands: backup, restore (DESIGN.md section 9)."""

from __future__ import annotations

from pathlib import Path

import click

from caseapp.cli.common import ensure_writable
from caseapp.db import get_engine, get_session

# Exit codes of restore: 0 restored and verified; 1 restored but the verification found a
# difference (left in place for inspection); 2 refused, nothing written.
EXIT_DIFFERS = 1
EXIT_REFUSED = 2


@click.command("backup")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (or empty) folder; made private to the service's user.",
)
def backup_cmd(out: Path) -> None:
    """Copy the database (a consistent dump), the sealed attachments and a manifest to OUT.
    Nothing is decrypted; the keyring is not included: keep its own backup apart."""
    from caseapp.runtime import keyring, settings
    from caseapp.services.backup import create as backup

    # It writes (the "system.backup" event), so the keyring must go with the database; an
    # older schema is fine: a backup before `db upgrade` is what an operator should take.
    ensure_writable(allow_unmigrated=True)
    try:
        result = backup.make_backup(
            get_session(), get_engine(), keyring(), settings().attachment_dir, out
        )
    except backup.BackupError as exc:
        raise click.ClickException(f"backup failed: {exc}") from None
    click.echo(result.summary())


@click.command("restore")
@click.argument("source", type=click.Path(file_okay=False, path_type=Path))
def restore_cmd(source: Path) -> None:
    """Restore the backup in SOURCE into the empty database of DATABASE_URL and the empty
    attachment folder, then verify the audit trail and the counts against its manifest."""
    from caseapp.runtime import keyring, settings
    from caseapp.services.backup import restore as backup

    try:
        result = backup.restore(get_engine(), keyring(), settings().attachment_dir, source)
    except backup.RestoreRefused as exc:
        click.echo(f"restore refused: {exc}", err=True)
        raise SystemExit(EXIT_REFUSED) from None
    except backup.BackupError as exc:
        click.echo(f"restore failed: {exc}", err=True)
        raise SystemExit(EXIT_DIFFERS) from None
    if not result.ok:
        for line in result.differences:
            click.echo(f"restore does not match the manifest: {line}", err=True)
        click.echo(
            "the restored database and files are left in place for inspection; the "
            "restore was not recorded in the trail",
            err=True,
        )
        raise SystemExit(EXIT_DIFFERS)
    session = get_session()
    backup.record_restore(session, keyring(), result)
    session.commit()
    click.echo(result.summary())
