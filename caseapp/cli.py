"""Flask commands: db upgrade/downgrade, create-user, seed-demo (DESIGN.md section 9)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from caseapp.db import get_engine, get_session

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


@click.command("create-user")
@click.option("--username", required=True)
@click.option("--full-name", required=True)
@click.option("--email", default="")
@click.option("--unit", "unit_code", required=True, help="Code of the unit the account works at.")
@click.option("--role", type=click.Choice(["admin", "officer", "focal_point", "auditor"]),
              default="admin", show_default=True)
@click.option("--new-unit-name", default=None,
              help="Create the unit as a top unit with this name when it does not exist yet.")
@click.option("--new-unit-kind", default="province", show_default=True)
@click.password_option("--password", help="Prompted (hidden) when not given.")
def create_user_cmd(username, full_name, email, unit_code, role, new_unit_name, new_unit_kind,
                    password) -> None:
    """Create an account with one role grant (the first administrator, say)."""
    from caseapp.errors import DomainError
    from caseapp.services import units, users

    session = get_session()
    unit = units.unit_by_code(session, unit_code)
    try:
        if unit is None:
            if not new_unit_name:
                raise click.UsageError(f"unknown unit {unit_code}; pass --new-unit-name to "
                                       "create it as a top unit")
            unit = units.create_unit(session, None, None, unit_code, new_unit_name,
                                     new_unit_kind)
        user, _temp = users.create_user(session, None, username, full_name, email, unit,
                                        password)
        users.grant_role(session, None, user, role, unit)
    except DomainError as exc:
        session.rollback()
        raise click.ClickException(exc.message or type(exc).__name__) from None
    session.commit()
    click.echo(f"created {user.username} ({role} at {unit.code}); the second factor is set up "
               "at first sign-in")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database holds units.")
@click.option("--cases", "case_count", default=300, show_default=True,
              help="How many demo cases to generate.")
def seed_demo_cmd(if_empty: bool, case_count: int) -> None:
    """Seed demo units and accounts; credentials go to instance/demo-credentials.json."""
    from caseapp.models import Unit
    from caseapp.services import demo

    session = get_session()
    if session.scalar(select(func.count()).select_from(Unit)):
        if if_empty:
            click.echo("database already holds data; demo seed skipped")
            return
        raise click.ClickException("the database already holds units; seed-demo needs an "
                                   "empty database")
    path = demo.seed(session, case_count)
    session.commit()
    click.echo(f"demo data seeded; accounts written to {path}")


audit_cli = AppGroup("audit", help="The audit trail: verify the chain, sign checkpoints.")


@audit_cli.command("verify")
@click.option("--batch", default=2000, show_default=True, help="Events read per query.")
@click.option("--no-record", is_flag=True, help="Do not append the result to the trail.")
def audit_verify(batch: int, no_record: bool) -> None:
    """Recompute the chain; exit 1 naming the first bad sequence number."""
    from caseapp.runtime import keyring
    from caseapp.services import audit_integrity

    session = get_session()
    report = audit_integrity.verify(session, keyring(), batch=batch)
    session.rollback()
    if not no_record:
        audit_integrity.record_verification(session, None, report)
        session.commit()
    if report.ok:
        click.echo(f"audit chain intact: {report.count} events, head {report.head_seq} "
                   f"{report.head_hash}, {report.checkpoints} checkpoints verified")
        return
    click.echo(f"audit chain BROKEN at seq {report.bad_seq}: {report.problem} "
               f"({report.count} events verified before it)", err=True)
    raise SystemExit(1)


@audit_cli.command("checkpoint")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the signed checkpoint to this file, to keep off the server.")
def audit_checkpoint(out: str | None) -> None:
    """Sign the head of the chain (Ed25519) so that a truncated tail is detected."""
    from pathlib import Path

    from caseapp.runtime import keyring
    from caseapp.services import audit_integrity

    session = get_session()
    cp = audit_integrity.checkpoint(session, None, keyring())
    session.commit()
    if out:
        audit_integrity.export_checkpoint(cp, keyring(), Path(out))
    click.echo(f"checkpoint signed at seq {cp.seq} {cp.hash}" + (f", written to {out}"
                                                                 if out else ""))


keys_cli = AppGroup("keys", help="The keyring: rotate and retire keys.")


@keys_cli.command("rotate")
@click.option("--purpose", type=click.Choice(["wrap", "audit", "signing"]), default="wrap",
              show_default=True, help="Which key to rotate.")
@click.option("--resume", is_flag=True,
              help="Add no key; finish rewrapping values left under an old key.")
def keys_rotate(purpose: str, resume: bool) -> None:
    """Add a new active key; for the wrapping key, rewrap every sealed value under it."""
    from caseapp.runtime import keyring
    from caseapp.services import keys

    session = get_session()
    ring = keyring()
    if not resume:
        key_id = keys.rotate(session, ring, purpose)
        click.echo(f"new active {purpose} key {key_id} (keyring saved to {ring.path})")
    if purpose == "wrap":
        total = keys.count_stale(session, ring)
        with click.progressbar(length=total, label="rewrapping") as bar:
            done = keys.rewrap(session, ring, progress=bar.update)
        click.echo(f"{done} sealed values rewrapped; none left under an old key")


@keys_cli.command("retire")
@click.argument("key_id")
def keys_retire(key_id: str) -> None:
    """Remove KEY_ID from the keyring; refused while anything still uses it."""
    from caseapp.runtime import keyring
    from caseapp.security.keyring import KeyringError
    from caseapp.services import keys

    try:
        keys.retire(get_session(), keyring(), key_id)
    except (keys.KeyInUse, KeyringError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key {key_id} retired")


cases_cli = AppGroup("cases", help="Case records: retention.")


@cases_cli.command("destroy-content")
@click.argument("reference")
@click.option("--reason", required=True, help="Why (retention rule, court order...).")
@click.confirmation_option(prompt="The case's names, narrative, notes and files become "
                           "unreadable forever, backups included. Continue?")
def cases_destroy_content(reference: str, reason: str) -> None:
    """Crypto-shred a case: destroy its data key; its statistics stay."""
    from caseapp.models import Case
    from caseapp.services import case_records, cases

    session = get_session()
    case = session.scalar(select(Case).where(Case.reference == reference.strip().upper()))
    if case is None:
        raise click.ClickException(f"no case {reference}")
    cases.destroy_content(session, None, case, reason)
    session.commit()
    removed = case_records.discard_case_files(session, case)
    click.echo(f"content of {case.reference} destroyed; {removed} sealed files removed")


notify_cli = AppGroup("notify", help="Notifications and reminders.")


@notify_cli.command("send-due")
def notify_send_due() -> None:
    """For cron: add a notice for every newly overdue case, then e-mail the notices not yet
    e-mailed. Idempotent: the same reminder is never sent twice."""
    from caseapp.services import notifications

    session = get_session()
    created = notifications.notify_overdue(session)
    session.commit()
    sent = notifications.send_pending_emails(session)
    session.commit()
    click.echo(f"{created} new notices; {sent} e-mails sent")


reports_cli = AppGroup("reports", help="Period reports.")


@reports_cli.command("export")
@click.option("--unit", "unit_code", required=True, help="Code of the unit.")
@click.option("--from", "date_from", required=True, type=click.DateTime(["%Y-%m-%d", "%d/%m/%Y"]))
@click.option("--to", "date_to", required=True, type=click.DateTime(["%Y-%m-%d", "%d/%m/%Y"]))
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv", "docx"]), default="xlsx",
              show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True))
def reports_export(unit_code, date_from, date_to, fmt, out) -> None:
    """Export a unit's report (small cells suppressed) to a file; audited."""
    from flask_babel import force_locale

    from caseapp.errors import DomainError
    from caseapp.services import reports
    from caseapp.services.units import unit_by_code

    session = get_session()
    unit = unit_by_code(session, unit_code)
    if unit is None:
        raise click.ClickException(f"unknown unit {unit_code}")
    with force_locale("vi"):
        try:
            content = reports.export(session, None, unit, date_from.date(), date_to.date(),
                                     fmt, "Báo cáo tình hình bạo lực, xâm hại trong trường học")
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
    with open(out, "wb") as handle:
        handle.write(content)
    session.commit()
    click.echo(f"{fmt} report of {unit.code} written to {out} ({len(content)} bytes)")


def init_app(app: Flask) -> None:
    app.cli.add_command(reports_cli)
    app.cli.add_command(notify_cli)
    app.cli.add_command(cases_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(create_user_cmd)
    app.cli.add_command(seed_demo_cmd)
