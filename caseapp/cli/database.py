"""Flask commands: db upgrade/downgrade (Alembic)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from caseapp.db import get_engine

db_cli = AppGroup("db", help="Database schema migrations (Alembic).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    from caseapp import migrate

    migrate.upgrade(get_engine(), revision)
    click.echo(f"database upgraded to {revision}")


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (default: one step; 'base' for empty)."""
    from caseapp import migrate

    migrate.downgrade(get_engine(), revision)
    click.echo(f"database downgraded to {revision}")
