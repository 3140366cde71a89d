"""Flask commands: audit verify, audit checkpoint."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from caseapp.db import get_session

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
