"""Flask commands: cases destroy-content, cases refresh-clocks, notify send-due, selfreports
escalate, reports export."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from caseapp.cli.common import writes
from caseapp.db import get_read_session, get_session

cases_cli = AppGroup("cases", help="Case records: retention.")


@cases_cli.command("destroy-content")
@click.argument("reference")
@click.option("--reason", required=True, help="Why (retention rule, court order...).")
@click.confirmation_option(
    prompt="The case's names, narrative, notes and files become "
    "unreadable forever, backups included. Continue?"
)
@writes
def cases_destroy_content(reference: str, reason: str) -> None:
    """Crypto-shred a case: destroy its data key; its statistics stay. A case under a legal
    hold is refused: an officer releases the hold first (with a reason, audited)."""
    from caseapp.models import Case
    from caseapp.services.cases import holds
    from caseapp.services.cases import intake as cases
    from caseapp.services.cases import records as case_records

    session = get_session()
    case = session.scalar(
        select(Case).where(Case.reference == reference.strip().upper()).with_for_update()
    )
    if case is None:
        raise click.ClickException(f"no case {reference}")
    if case.key_destroyed_at is not None:  # a run interrupted before its files went
        session.rollback()
        removed = case_records.discard_case_files(session, case)
        click.echo(f"content of {case.reference} already destroyed; {removed} sealed files removed")
        return
    if holds.active_hold(session, case) is not None:
        session.rollback()
        raise click.ClickException(
            f"{case.reference} is under a legal hold: nothing was destroyed. An officer above "
            "the school must release the hold (with a reason) before its content can be destroyed."
        )
    cases.destroy_content(session, None, case, reason)
    session.commit()
    removed = case_records.discard_case_files(session, case)
    click.echo(f"content of {case.reference} destroyed; {removed} sealed files removed")


@cases_cli.command("refresh-clocks")
@writes
def cases_refresh_clocks() -> None:
    """Compute again the moment each case becomes overdue from its clocks and steps, then copy
    each case's school, day received, status and moment again onto its steps where they
    differ, and read each case's last closure again (after a bulk load that bypassed the
    service; every change made through the service keeps them by itself). Audited with the
    numbers of cases and steps corrected."""
    from caseapp.services.audit.trail import record
    from caseapp.services.cases import clocks, closures, step_copies

    session = get_session()
    fixed = clocks.refresh_all(session)
    steps = step_copies.refresh_all(session)
    closed = closures.refresh_all(session)
    record(
        session,
        None,
        "cases.clocks_refreshed",
        object_type="cases",
        changes={"corrected": fixed, "steps_corrected": steps, "closures_corrected": closed},
    )
    session.commit()
    click.echo(
        f"{fixed} cases had a stale overdue moment; {steps} steps had a stale copy of their "
        f"case's facts; {closed} cases a stale instant of closure; corrected"
    )


notify_cli = AppGroup("notify", help="Notifications and reminders.")


@notify_cli.command("send-due")
@writes
def notify_send_due() -> None:
    """For cron: forget the public pages' counters whose window is over, escalate the
    self-reports nobody opened in time, add a notice for every newly
    overdue case and for the period reports due in 14, 7 or 1 days, bring the report rollups
    up to date, then e-mail the notices not yet e-mailed. Idempotent: the same reminder is
    never sent twice."""
    from caseapp.services.cases import notifications
    from caseapp.services.equality import reminders
    from caseapp.services.reports import rollups
    from caseapp.services.selfreports import throttle
    from caseapp.services.selfreports.escalation import escalate_unseen

    session = get_session()
    # The public pages' counters whose window is over go even when nobody reports for a while.
    while throttle.purge_expired(session):
        pass
    created = escalate_unseen(session)[1]
    created += notifications.notify_overdue(session)
    created += reminders.notify_due_reports(session)
    # The report rollups of the changes made since the last run, for good (a report page
    # refreshes them only for itself).
    refreshed = rollups.refresh(session)
    session.commit()
    sent = notifications.send_pending_emails(session)
    session.commit()
    click.echo(
        f"{created} new notices; {sent} e-mails sent; "
        f"{refreshed} changes folded into the report rollups"
    )


selfreports_cli = AppGroup("selfreports", help="Self-reports from the public pages.")


@selfreports_cli.command("escalate")
@writes
def selfreports_escalate() -> None:
    """Hand every self-report nobody opened in time (24 hours, 12 when someone is in danger)
    to the unit above, and tell its handlers. Also run by ``notify send-due``."""
    from caseapp.services.selfreports.escalation import escalate_unseen

    session = get_session()
    escalated, notices = escalate_unseen(session)
    session.commit()
    click.echo(f"{escalated} self-reports escalated; {notices} new notices")


reports_cli = AppGroup("reports", help="Period reports.")


@reports_cli.command("export")
@click.option("--unit", "unit_code", required=True, help="Code of the unit.")
@click.option("--from", "date_from", required=True, type=click.DateTime(["%Y-%m-%d", "%d/%m/%Y"]))
@click.option("--to", "date_to", required=True, type=click.DateTime(["%Y-%m-%d", "%d/%m/%Y"]))
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "csv", "docx"]), default="xlsx", show_default=True
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True))
@writes
def reports_export(unit_code, date_from, date_to, fmt, out) -> None:
    """Export a unit's report (small cells suppressed) to a file; audited."""
    from flask_babel import force_locale

    from caseapp.errors import DomainError
    from caseapp.services.org.units import unit_by_code
    from caseapp.services.reports import periods as reports

    session = get_session()
    unit = unit_by_code(session, unit_code)
    if unit is None:
        raise click.ClickException(f"unknown unit {unit_code}")
    with force_locale("vi"):
        try:
            content = reports.export(
                session,
                None,
                unit,
                date_from.date(),
                date_to.date(),
                fmt,
                "Báo cáo tình hình bạo lực, xâm hại trong trường học",
                figures=get_read_session(),
            )
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
    with open(out, "wb") as handle:
        handle.write(content)
    session.commit()
    click.echo(f"{fmt} report of {unit.code} written to {out} ({len(content)} bytes)")
