"""Flask command: retention run [--dry-run] (DESIGN.md section 9)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from caseapp.cli.common import writes
from caseapp.db import get_session

retention_cli = AppGroup("retention", help="Retention: shred what the schedule says is due.")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="List what is due; change nothing.")
@writes
def retention_run(dry_run: bool) -> None:
    """Crypto-shred the content of the closed cases that are due and discard the attachments
    that are due (never a case under a legal hold); expire the receipt codes of self-reports
    closed long enough ago; audited. Idempotent: run it daily."""
    from caseapp.clock import local_today
    from caseapp.services.privacy import receipts, retention

    session = get_session()
    today = local_today()
    found = retention.due(session, today)
    codes = receipts.due(session, today)
    for line in retention.schedule_lines(session):
        click.echo(f"rule {line.key}: {line.amount} {line.unit} ({line.basis})")
    cases = [d for d in found if d.kind == "case"]
    files = [d for d in found if d.kind == "attachment"]
    for item in cases:
        state = "HELD (legal hold, kept)" if item.held else "due"
        click.echo(
            f"case {item.reference} {item.unit_code} {item.rule} "
            f"{item.due_on.strftime('%d/%m/%Y')} {state}"
        )
    for item in files:
        state = "HELD (legal hold, kept)" if item.held else "due"
        click.echo(
            f"attachment #{item.attachment_id} of {item.reference} {item.unit_code} {item.rule} "
            f"{item.due_on.strftime('%d/%m/%Y')} {state}"
        )
    for code in codes:
        # The report's number only: nothing that could lead back to the reporter.
        what = {
            (True, False): "receipt code",
            (True, True): "receipt code and content",
            (False, True): "content",
        }[(code.code, code.content)]
        click.echo(
            f"{what} of self-report #{code.report_id} {code.unit_code} {receipts.RULE} "
            f"{code.due_on.strftime('%d/%m/%Y')} due"
        )
    held_cases = len({d.case_id for d in found if d.held})
    due_cases = sum(1 for d in cases if not d.held)
    due_files = sum(1 for d in files if not d.held)
    if dry_run:
        session.rollback()  # it only read
        click.echo(
            f"dry run: {due_cases} cases and {due_files} attachments due, {held_cases} held, "
            f"{sum(1 for c in codes if c.code)} receipt codes due, "
            f"{sum(1 for c in codes if c.content)} self-reports' content due; "
            "nothing was changed and no audit event was written"
        )
        return
    outcome = retention.run(session, today, found)
    expired = receipts.expire(session, codes)
    click.echo(
        f"{outcome.shredded} cases shredded ({outcome.files_removed} sealed files removed), "
        f"{outcome.attachments} attachments discarded, {outcome.held} held cases kept, "
        f"{expired.codes} receipt codes expired, "
        f"{expired.contents} self-reports' content destroyed ({expired.files} photo files removed)"
    )
