"""The numbers on the menu's links, for the templates: read once per page, in one statement
(services.menu_counts), the first time a template asks for any of them."""

from __future__ import annotations

from flask import Flask, g
from flask_login import current_user

from caseapp.security.authz import has_permission
from caseapp.services.menu_counts import MenuCounts, menu_counts
from caseapp.services.selfreports.inbox import Waiting


def _counts() -> MenuCounts:
    if not current_user.is_authenticated:
        return MenuCounts()
    if "menu_counts" not in g:
        from caseapp.db import get_session

        # The links base.html shows these numbers on, and no other count.
        g.menu_counts = menu_counts(
            get_session(),
            current_user,
            with_selfreports=has_permission(current_user, "selfreport.handle"),
            with_approvals=has_permission(current_user, "approval.decide"),
        )
    return g.menu_counts


def selfreports_waiting() -> Waiting:
    """The number beside the "Self-reports" link (the home page and My work show it too)."""
    return _counts().selfreports


def unread_notices() -> int:
    """Unread notifications of the signed-in person."""
    return _counts().unread_notices


def approvals_waiting() -> int:
    """The number on the "Approvals" link."""
    return _counts().approvals


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        selfreports_waiting=selfreports_waiting,
        unread_notices=unread_notices,
        approvals_waiting=approvals_waiting,
    )
