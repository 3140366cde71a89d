"""What every command that writes does first: refuse, in one line, a database that cannot be
reached, is not migrated, or does not go with the keyring."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click
from flask import current_app

from caseapp.startup import StartupRefused, ensure_ready


def ensure_writable(allow_unmigrated: bool = False) -> None:
    try:
        ensure_ready(
            # current_app is typed as Flask, not as the LocalProxy it is at run time.
            current_app._get_current_object(),  # type: ignore[attr-defined]
            allow_unmigrated=allow_unmigrated,
        )
    except StartupRefused as exc:
        raise click.ClickException(str(exc)) from None


def writes(command: Callable) -> Callable:
    """Decorate a command's function (under @click.command) that writes to the database."""

    @functools.wraps(command)
    def checked(*args, **kwargs):
        ensure_writable()
        return command(*args, **kwargs)

    return checked
