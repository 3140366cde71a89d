"""Flask commands: audit verify (optionally against a checkpoint file), audit checkpoint, audit
attention."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import AppGroup

from caseapp.db import get_session

audit_cli = AppGroup(
    "audit", help="The audit trail: verify the chain, sign checkpoints, list what to look at."
)


# Exit codes of audit verify: 0 intact, 1 broken (evidence against the trail), 2 the checkpoint
# file cannot be read (nothing verified), 3 cannot verify because the keyring lacks a key the
# trail uses (not evidence of tampering), 4 the checkpoint file predates a re-chain by
# seal-reasons (the trail says so; the operator checks and writes a fresh checkpoint).
EXIT_BROKEN = 1
EXIT_UNREADABLE = 2
EXIT_MISSING_KEY = 3
EXIT_RECHAINED = 4
KEYRING_ADVICE = "(use the keyring that goes with this database); this is not evidence of tampering"


@audit_cli.command("verify")
@click.option("--batch", default=1_000, show_default=True, help="Events read per query.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes verifying stretches of a long chain side by side "
    "[default: min(2, CPU count); one below 200,000 events].",
)
@click.option("--no-record", is_flag=True, help="Do not append the result to the trail.")
@click.option(
    "--checkpoint",
    "checkpoint_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also hold the trail against this signed checkpoint file (written by "
    "`audit checkpoint --out`, kept off the server).",
)
def audit_verify(
    batch: int, workers: int | None, no_record: bool, checkpoint_path: Path | None
) -> None:
    """Recompute the chain; exit 1 naming the first bad sequence number, 3 when the keyring
    lacks a key the trail uses."""
    from caseapp.runtime import keyring
    from caseapp.security.audit_chain import MISSING_KEY, TAMPERED
    from caseapp.services.audit import integrity as audit_integrity

    signed = None
    if checkpoint_path is not None:
        try:
            signed = audit_integrity.read_checkpoint_file(checkpoint_path)
        except audit_integrity.CheckpointFileError as exc:
            click.echo(f"audit verify: --checkpoint: {exc}", err=True)
            raise SystemExit(EXIT_UNREADABLE) from None
    session = get_session()
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    report = audit_integrity.verify(session, keyring(), batch=batch, workers=workers)
    held = None
    if signed is not None:
        held = audit_integrity.verify_checkpoint_file(session, keyring(), signed)
    session.rollback()
    recorded = not no_record and not audit_integrity.cannot_chain(report, held)
    if recorded:
        audit_integrity.record_verification(session, None, report, held)
        session.commit()

    if report.ok:
        click.echo(
            f"audit chain intact: {report.count} events, head {report.head_seq} "
            f"{report.head_hash}, {report.checkpoints} checkpoints verified"
        )
    elif report.kind == MISSING_KEY:
        click.echo(
            f"cannot verify from seq {report.bad_seq}: the trail uses key "
            f"{report.missing_key} which this keyring lacks {KEYRING_ADVICE} "
            f"({report.count} events verified before it)",
            err=True,
        )
    else:
        click.echo(
            f"audit chain BROKEN at seq {report.bad_seq}: {report.problem} "
            f"({report.count} events verified before it)",
            err=True,
        )
    if held is not None:
        if held.ok:
            click.echo(
                f"checkpoint file {checkpoint_path} holds: seq {held.seq} {held.hash} "
                f"signed {held.at} by {held.key_id}"
            )
        for note in held.notes:
            click.echo(f"checkpoint file {checkpoint_path}: {note}")
        for _kind, line in held.problems:
            click.echo(f"checkpoint file {checkpoint_path}: {line}", err=True)
    kinds = {report.kind} | ({held.kind} if held is not None else set())
    if not recorded and not no_record:
        click.echo(
            "the result was not added to the trail: this keyring lacks a key the trail uses",
            err=True,
        )
    if TAMPERED in kinds:
        raise SystemExit(EXIT_BROKEN)
    if audit_integrity.RECHAINED in kinds:
        raise SystemExit(EXIT_RECHAINED)
    if MISSING_KEY in kinds:
        raise SystemExit(EXIT_MISSING_KEY)


@audit_cli.command("seal-reasons")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Then sign a checkpoint of the new head and write it to this file (off the server).",
)
def audit_seal_reasons(out: str | None) -> None:
    """Seal the reasons the trail still holds in clear, in one transaction: verify the chain
    (refused if broken, nothing changed), seal, re-chain from the first one, sign the
    checkpoints again, record audit.reasons_sealed. Running it again changes nothing."""
    from caseapp.runtime import keyring
    from caseapp.services.audit import integrity as audit_integrity
    from caseapp.services.audit import reseal

    session = get_session()
    try:
        report = reseal.seal_reasons(session, keyring())
        texts = reseal.seal_clear_texts(session)
    except reseal.SealRefused as exc:
        session.rollback()
        click.echo(f"audit seal-reasons refused: {exc}", err=True)
        raise SystemExit(EXIT_BROKEN) from None
    if texts:
        session.commit()
        click.echo(
            "texts sealed in place: "
            + ", ".join(f"{count} {name}" for name, count in sorted(texts.items()))
        )
    if report is None:
        session.rollback()
        click.echo("no reason in clear: nothing to seal")
        return
    session.commit()
    click.echo(
        f"{report.count} reasons sealed; the trail was re-chained from seq {report.first_seq} "
        f"(old head {report.old_head[0]} {report.old_head[1]}, now {report.new_head[0]} "
        f"{report.new_head[1]}), {len(report.checkpoints)} checkpoints signed again"
    )
    if out:
        cp = audit_integrity.checkpoint(session, None, keyring())
        session.commit()
        audit_integrity.export_checkpoint(cp, keyring(), Path(out))
        click.echo(f"checkpoint signed at seq {cp.seq} {cp.hash}, written to {out}")


@audit_cli.command("checkpoint")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write the signed checkpoint to this file, to keep off the server.",
)
def audit_checkpoint(out: str | None) -> None:
    """Sign the head of the chain (Ed25519) so that a truncated tail is detected."""
    from caseapp.runtime import keyring
    from caseapp.services.audit import integrity as audit_integrity

    session = get_session()
    cp = audit_integrity.checkpoint(session, None, keyring())
    session.commit()
    if out:
        audit_integrity.export_checkpoint(cp, keyring(), Path(out))
    click.echo(
        f"checkpoint signed at seq {cp.seq} {cp.hash}" + (f", written to {out}" if out else "")
    )


@audit_cli.command("attention")
@click.option(
    "--since",
    default=None,
    metavar="DATE",
    help="First day to look at (YYYY-MM-DD or dd/mm/yyyy); default: 30 days ago.",
)
def audit_attention(since: str | None) -> None:
    """Print the unreviewed items of the attention list (one line each) and a summary; exit 1
    while a high item is unreviewed (for cron and mail). Only reads."""
    from caseapp.clock import zone
    from caseapp.errors import ValidationFailed
    from caseapp.services.audit import attention

    try:
        first = attention.parse_since(since) if since else attention.default_since()
    except ValidationFailed:
        raise click.BadParameter(
            "give the date as YYYY-MM-DD or dd/mm/yyyy", param_hint="--since"
        ) from None
    session = get_session()
    found = attention.items(session, None, first)
    session.rollback()
    waiting = [i for i in found if not i.reviewed]
    for item in waiting:
        when = item.at.astimezone(zone()).strftime("%d/%m/%Y %H:%M")
        seqs = ",".join(str(s) for s in item.seqs) or "-"
        click.echo(
            f"{item.severity.upper():<6} {when} {item.who} {item.kind}: {item.explanation} "
            f"[events {seqs}]"
        )
    counts = {s: sum(1 for i in waiting if i.severity == s) for s in attention.SEVERITIES}
    click.echo(
        f"{len(waiting)} unreviewed since {first.isoformat()} ({counts['high']} high, "
        f"{counts['medium']} medium, {counts['low']} low); {len(found) - len(waiting)} reviewed"
    )
    if counts["high"]:
        raise SystemExit(EXIT_BROKEN)
