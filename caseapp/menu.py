"""The main menu, for the templates: its links as drawn for a person's permissions, and the
numbers beside some of them.

The links depend only on the permissions, the language and where the service is mounted, so
they are drawn once per such triple and kept per app (``main_menu``; the home page's links to
the other screens likewise, ``home_tiles``), instead of on every signed-in page (17
permission checks, 20 addresses, 20 translations: about 0.2 ms of the shell every such page
costs before its own work). The numbers are read once per page, in one
statement (services.menu_counts), the first time a template asks for any of them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, current_app, g, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from caseapp.security.authz import effective_grants, has_permission, permissions_for
from caseapp.services.cases.notifications import UNREAD_SHOWN
from caseapp.services.menu_counts import MenuCounts, menu_counts
from caseapp.services.selfreports.inbox import Waiting

# Drawn menus kept per app: one per set of permissions, language and script root met (a few
# dozen at most); past the limit the store starts again.
KEPT = 256
_lock = threading.Lock()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MenuLink:
    """A link of the main menu as drawn: ``opening`` is its item up to the end of its label
    (``<li><a href="...">Label``); ``badge`` names the number drawn after it, if any
    (``menu_badge``), with the badge's ``title``."""

    opening: Markup
    badge: str = ""
    title: str = ""


def _entries() -> tuple[tuple[tuple[str, ...], str, str, str, str], ...]:
    """The menu in its order: (the permissions of which any shows the link, none for everyone
    signed in; endpoint; label; badge; the badge's title)."""
    return (
        ((), "main.index", _("Home"), "", ""),
        (("case.write",), "dashboard.my_work", _("My work"), "", ""),
        (("case.read",), "cases.index", _("Cases"), "", ""),
        (
            ("selfreport.handle",),
            "selfreports.index",
            _("Self-reports"),
            "selfreports",
            _("Self-reports waiting"),
        ),
        (("case.oversee",), "dashboard.monitor", _("School monitoring"), "", ""),
        ((), "dashboard.notices", _("Notifications"), "notices", ""),
        (("report.read",), "reports.show", _("Reports"), "", ""),
        (("report.read",), "reports.activities", _("Activities"), "", ""),
        (("report.read",), "equality.overview", _("Gender-equality report"), "", ""),
        (("admin.units",), "admin.units", _("Units"), "", ""),
        (("admin.users",), "admin.users", _("Accounts"), "", ""),
        (
            ("approval.decide",),
            "admin.approvals_list",
            _("Approvals"),
            "approvals",
            _("Waiting for your decision"),
        ),
        (("referral.read",), "admin.referrals", _("Referral directory"), "", ""),
        (("audit.read",), "audit.events", _("Audit trail"), "", ""),
        (("audit.read",), "audit.attention", _("Attention"), "", ""),
        (("breach.manage", "breach.read"), "privacy.breaches", _("Data breaches"), "", ""),
        (
            ("request.manage",),
            "privacy.subject_requests",
            _("Requests about personal data"),
            "",
            "",
        ),
        (("privacy.settings",), "privacy.periods", _("Legal periods"), "", ""),
        (("privacy.settings",), "privacy.holidays", _("Holiday calendar"), "", ""),
        (("privacy.read",), "privacy.retention", _("Retention"), "", ""),
        ((), "account.index", _("My account"), "", ""),
    )


def _drawn(permissions: frozenset[str]) -> tuple[MenuLink, ...]:
    return tuple(
        MenuLink(Markup('<li><a href="{}">{}').format(url_for(endpoint), label), badge, title)
        for needed, endpoint, label, badge, title in _entries()
        if not needed or any(p in permissions for p in needed)
    )


def main_menu() -> tuple[MenuLink, ...]:
    """The links of the signed-in person's menu, drawn for their permissions in the page's
    language (what base.html showed link by link with has_permission)."""
    return _drawn_once("menu", _drawn)


def home_tiles() -> Markup:
    """The home page's links to the other screens (main/_tiles.html), drawn for the signed-in
    person's permissions in the page's language (what main/index.html showed tile by tile
    with has_permission)."""

    def draw(permissions: frozenset[str]) -> Markup:
        tiles = current_app.jinja_env.get_template("main/_tiles.html")
        # The template's own output, escaped by its autoescaping (.html): markup, not text.
        return Markup(tiles.render(permissions=permissions))  # noqa: S704

    return _drawn_once("home tiles", draw)


def _drawn_once(part: str, draw: Callable[[frozenset[str]], T]) -> T:
    """``draw(permissions)`` for the signed-in person's permissions, kept per app by part,
    permissions, language and script root: what is drawn depends on nothing else."""
    permissions = permissions_for(grant.role for grant in effective_grants(current_user))
    key = (part, permissions, str(get_locale()), request.script_root)
    kept: dict = current_app.extensions["caseapp.menu"]
    drawn = kept.get(key)
    if drawn is None:
        drawn = draw(permissions)
        with _lock:
            if len(kept) >= KEPT:
                kept.clear()
            kept[key] = drawn
    return drawn


def menu_badge(name: str) -> int | str:
    """The number drawn after a link whose ``badge`` is ``name`` (0: none is drawn); the
    unread notices stop at "99+" (notifications.UNREAD_SHOWN)."""
    if name == "selfreports":
        return selfreports_waiting().total
    if name == "notices":
        unread = unread_notices()
        return f"{UNREAD_SHOWN}+" if unread > UNREAD_SHOWN else unread
    if name == "approvals":
        return approvals_waiting()
    return 0


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
    app.extensions["caseapp.menu"] = {}
    app.jinja_env.globals.update(
        main_menu=main_menu,
        home_tiles=home_tiles,
        menu_badge=menu_badge,
        selfreports_waiting=selfreports_waiting,
        unread_notices=unread_notices,
        approvals_waiting=approvals_waiting,
    )
