"""Home page, health check and language choice."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user

from caseapp.access import PUBLIC, local_target, permission
from caseapp.db import get_session
from caseapp.forms import EmptyForm
from caseapp.main import bp
from caseapp.security.authz import SIGNED_IN, has_permission
from caseapp.services.audit.queries import audit_head_age
from caseapp.services.cases import listing as case_list
from caseapp.startup import readiness


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
    """200 when the service can serve: database reachable, schema current, keyring matching."""
    # current_app is typed as Flask, not as the LocalProxy it is at run time.
    state = readiness(current_app._get_current_object())  # type: ignore[attr-defined]
    if state.problem:
        current_app.logger.error("health check: %s", state.problem)
    return {
        "status": "ok" if state.ok else "unavailable",
        "database": "ok" if state.database else "unavailable",
        "migrations": "current" if state.migrated else "behind",
        "keyring": state.keyring,
    }, 200 if state.ok else 503


@bp.get("/readyz")
@permission(PUBLIC)
def readyz():
    """What an operator checks after a deploy or restore: no secret, no key id, no content."""
    # current_app is typed as Flask, not as the LocalProxy it is at run time.
    state = readiness(current_app._get_current_object())  # type: ignore[attr-defined]
    body: dict = {
        "status": "ready" if state.ok else "not ready",
        "database": "ok" if state.database else "unavailable",
        "migration": {"current": state.revision, "head": state.head, "ok": state.migrated},
        "keyring": state.keyring,
        "audit_head": None,
    }
    if state.database and state.migrated:
        body["audit_head"] = audit_head_age(get_session())
    return body, 200 if state.ok else 503


@bp.post("/language")
@permission(PUBLIC)
def set_language():
    form = EmptyForm()
    lang = request.form.get("lang", "")
    if form.validate_on_submit() and lang in current_app.extensions["caseapp.settings"].locales:
        session["lang"] = lang
    return redirect(local_target(request.form.get("next")) or url_for("main.index"))
