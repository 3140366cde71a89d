"""Flask commands: keys rotate, keys retire."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from caseapp.cli.common import writes
from caseapp.db import get_session

keys_cli = AppGroup("keys", help="The keyring: rotate and retire keys.")


@keys_cli.command("rotate")
@click.option(
    "--purpose",
    type=click.Choice(["wrap", "audit", "signing"]),
    default="wrap",
    show_default=True,
    help="Which key to rotate.",
)
@click.option(
    "--resume", is_flag=True, help="Add no key; finish rewrapping values left under an old key."
)
@writes
def keys_rotate(purpose: str, resume: bool) -> None:
    """Add a new active key; for the wrapping key, rewrap every sealed value under it."""
    from caseapp.runtime import keyring
    from caseapp.services.keys import rotation as keys

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
@writes
def keys_retire(key_id: str) -> None:
    """Remove KEY_ID from the keyring; refused while anything still uses it."""
    from caseapp.runtime import keyring
    from caseapp.security.keyring import KeyringError
    from caseapp.services.keys import rotation as keys

    try:
        keys.retire(get_session(), keyring(), key_id)
    except (keys.KeyInUse, KeyringError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key {key_id} retired")
    click.echo(
        "If the key was retired after a compromise, record a data breach within 72 hours: "
        f"/privacy/breaches/new?source=key_retirement&ref=key+{key_id}"
    )
