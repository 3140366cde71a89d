"""The printable A4 poster of a school's self-report page (services/selfreports/posters.py)."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import force_locale
from flask_login import current_user
from markupsafe import Markup

from caseapp.access import permission
from caseapp.admin import bp
from caseapp.db import get_session
from caseapp.runtime import settings
from caseapp.services.selfreports import posters
from config import Settings


def public_address(code: str) -> str:
    """The school's public page as the service publishes it: under the configured base URL
    (the one e-mails use), else the address this page was reached by (behind the proxy: its
    host and scheme), never the development default. ``/r/<school code>`` is the contract."""
    base = settings().base_url
    if base == Settings.base_url:
        base = request.url_root
    return f"{base.rstrip('/')}/r/{code}"


@bp.get("/units/<code>/poster")
@permission(posters.POSTER)
def poster(code: str):
    school = posters.school_for_poster(get_session(), current_user, code)
    shown = posters.poster(school, public_address(school.code))
    # The poster speaks Vietnamese whatever language its printer reads the service in. The
    # template is rendered with autoescape: its output is already safe HTML.
    with force_locale("vi"):
        body = Markup(render_template("admin/_poster_body.html", poster=shown))  # noqa: S704
    return render_template("admin/poster.html", poster=shown, body=body)
