"""Flask commands: create-user, seed-demo."""

from __future__ import annotations

import click
from sqlalchemy import func, select

from caseapp.cli.common import ensure_writable, writes
from caseapp.db import get_session
from caseapp.runtime import settings


@click.command("create-user")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option("--email", default="")
@click.option("--unit", "unit_code", required=True, help="Code of the unit the account works at.")
@click.option(
    "--role",
    type=click.Choice(["admin", "officer", "focal_point", "auditor"]),
    default="admin",
    show_default=True,
)
@click.option(
    "--new-unit-name",
    default=None,
    help="Create the unit as a top unit with this name when it does not exist yet.",
)
@click.option("--new-unit-kind", default="province", show_default=True)
@click.password_option("--password", help="Prompted (hidden) when not given.")
@writes
def create_user_cmd(
    username, full_name, email, unit_code, role, new_unit_name, new_unit_kind, password
) -> None:
    """Create an account with one role grant (the first administrator, say)."""
    from caseapp.errors import DomainError
    from caseapp.services.accounts import users
    from caseapp.services.org import units

    session = get_session()
    unit = units.unit_by_code(session, unit_code)
    try:
        if unit is None:
            if not new_unit_name:
                raise click.UsageError(
                    f"unknown unit {unit_code}; pass --new-unit-name to create it as a top unit"
                )
            unit = units.create_unit(session, None, None, unit_code, new_unit_name, new_unit_kind)
        user, _temp = users.create_user(session, None, username, full_name, email, unit, password)
        users.grant_role(session, None, user, role, unit)
    except DomainError as exc:
        session.rollback()
        raise click.ClickException(exc.message or type(exc).__name__) from None
    session.commit()
    click.echo(
        f"created {user.username} ({role} at {unit.code}); the second factor is set up "
        "at first sign-in"
    )


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database holds units.")
@click.option(
    "--cases", "case_count", default=300, show_default=True, help="How many demo cases to generate."
)
def seed_demo_cmd(if_empty: bool, case_count: int) -> None:
    """Seed demo units and accounts; credentials go to instance/demo-credentials.json."""
    if settings().env == "production":
        raise click.ClickException(
            "seed-demo writes demo accounts with known passwords; it is "
            "refused when CASEAPP_ENV=production"
        )
    ensure_writable()
    from caseapp.demo import seed as demo
    from caseapp.models import Unit

    session = get_session()
    if session.scalar(select(func.count()).select_from(Unit)):
        if if_empty:
            click.echo("database already holds data; demo seed skipped")
            return
        raise click.ClickException(
            "the database already holds units; seed-demo needs an empty database"
        )
    path = demo.seed(session, case_count)
    session.commit()
    click.echo(f"demo data seeded; accounts written to {path}")
