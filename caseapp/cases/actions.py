"""The one shape of every small form posted on a case page: validate, call the service, commit
and say so, or roll back and say why; then back to the page."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash
from sqlalchemy.orm import Session

from caseapp.db import get_session
from caseapp.form_submit import carry_out


def form_errors(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def apply(
    form,
    change: Callable[[Session], object],
    done: str | Callable[[], str],
    failed: str,
    back: Callable[[], object],
    not_found_is_404: bool = False,
):
    """``change(db)`` calls one service; ``done`` is the success message (or makes it)."""
    db = get_session()
    if not form.validate_on_submit():
        flash(form_errors(form) or failed, "error")
        return _to_message(back())
    outcome = carry_out(lambda: change(db))
    if outcome.error is not None:
        if not_found_is_404 and outcome.status == 404:
            raise outcome.error
        flash(outcome.message or failed, "error")
        return _to_message(back())
    flash(done() if callable(done) else done, "success")
    return back()


def _to_message(response):
    """Back to the page, scrolled to the message saying what went wrong (not to the form's
    section further down, where the message would be out of sight)."""
    location = getattr(response, "location", None)
    if location:
        response.location = location.split("#", 1)[0] + "#messages"
    return response
