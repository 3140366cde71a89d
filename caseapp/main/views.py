"""Home page, health check and language choice."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import text

from caseapp.access import PUBLIC, local_target, permission
from caseapp.db import get_session
from caseapp.forms import EmptyForm
from caseapp.security.authz import SIGNED_IN, has_permission
from caseapp.services import case_list

bp = Blueprint("main", __name__)


@bp.get("/")
@permission(SIGNED_IN)
def index():
    grants = sorted(current_user.active_grants, key=lambda g: (g.role, g.unit.path))
    counts = None
    if has_permission(current_user, "case.read"):
        counts = case_list.attention_counts(get_session(), current_user)
    return render_template("main/index.html", grants=grants, counts=counts)


@bp.get("/healthz")
@permission(PUBLIC)
def healthz():
    try:
        get_session().execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # noqa: BLE001 - any failure means the database is unreachable
        current_app.logger.exception("health check: database unreachable")
        database = "unavailable"
    status = 200 if database == "ok" else 503
    return {"status": "ok" if status == 200 else "degraded", "database": database}, status


@bp.post("/language")
@permission(PUBLIC)
def set_language():
    form = EmptyForm()
    lang = request.form.get("lang", "")
    if form.validate_on_submit() and lang in current_app.extensions["caseapp.settings"].locales:
        session["lang"] = lang
    return redirect(local_target(request.form.get("next")) or url_for("main.index"))
