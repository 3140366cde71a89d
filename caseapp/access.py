"""Deny by default: the one guard every request passes, the permission declarations, headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask, abort, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Response
from flask_login import current_user, login_user

from caseapp import limits
from caseapp.observability.logs import request_id
from caseapp.public_paths import is_public_path
from caseapp.security.authz import ALL_PERMISSIONS, has_permission
from caseapp.services.audit.trail import AuditContext, audit_context

if TYPE_CHECKING:
    from caseapp.models import User

PUBLIC = "public"
# Reachable after the password step, before the second factor is verified.
PENDING_SECOND_FACTOR = "pending_second_factor"
DECLARED = "_caseapp_permission"

PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "auth.login",
        "auth.enrolment_code",
        "main.healthz",
        "main.readyz",
        "main.set_language",
        "observability.metrics",
        # The public self-report pages (caseapp/intake): no account, no cookie.
        "intake.find",
        "intake.exit_page",
        "intake.school",
        "intake.submit",
        "intake.receipt_image",
        "intake.follow_page",
        "intake.follow_code",
        "intake.follow_message",
    }
)


def local_target(value: object) -> str | None:
    """``value`` if it is a path on this site, else None: the only kind of redirect target
    taken from a request. Refuses other hosts however they are spelt (``//host``, ``/\\host``,
    a tab or newline that browsers drop, a scheme)."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2000:
        return None
    if "\\" in value or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return None
    return value


def permission(name: str) -> Callable:
    """Declare what a view needs; the guard enforces it before the view runs."""
    if name not in ALL_PERMISSIONS | {PUBLIC, PENDING_SECOND_FACTOR}:
        raise ValueError(f"unknown permission {name}")

    def decorate(view: Callable) -> Callable:
        setattr(view, DECLARED, name)
        return view

    return decorate


def declared_permission(app: Flask, endpoint: str) -> str | None:
    if endpoint == "static":
        return PUBLIC
    view = app.view_functions.get(endpoint)
    return getattr(view, DECLARED, None)


def client_ip() -> str:
    # Behind a proxy, ProxyFix (configured in wsgi) sets remote_addr from X-Forwarded-For.
    return (request.remote_addr or "")[:45]


def _guard():
    # Set when the request started (caseapp.observability.logs); kept, so the log lines, the
    # audit events and the error page of one request name the same id.
    if is_public_path(request.path):
        # Nothing may tie what a self-reporter does to their device or a log line: no address
        # and no request id, in the audit context or anywhere else.
        g.pop("request_id", None)
        g.audit_token = audit_context.set(AuditContext())
    else:
        g.request_id = g.get("request_id") or request_id()
        g.audit_token = audit_context.set(AuditContext(request_id=g.request_id, ip=client_ip()))
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404/405 handled by Flask
    from flask import current_app

    needed = declared_permission(current_app, endpoint)
    if needed is None:
        abort(403)  # an endpoint without a declaration is closed
    if needed == PUBLIC:
        return None
    if not current_user.is_authenticated:
        session["next"] = request.path if request.method == "GET" else None
        return redirect(url_for("auth.login"))
    record = current_user.session_record
    if record.second_factor_at is None:
        if needed == PENDING_SECOND_FACTOR:
            return None
        target = "auth.second_factor" if current_user.has_second_factor else "auth.enrol"
        return redirect(url_for(target))
    if current_user.must_change_password and endpoint not in (
        "account.change_password",
        "auth.logout",
    ):
        return redirect(url_for("account.change_password"))
    if needed == PENDING_SECOND_FACTOR:
        return None
    if not has_permission(current_user, needed):
        # On an object's URL, answer as if it did not exist: existence must not leak.
        abort(404 if request.view_args else 403)
    return None


def _teardown(_exc) -> None:
    token = g.pop("audit_token", None)
    if token is not None:
        audit_context.reset(token)


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _headers(response):
    from flask import current_app

    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h["X-Content-Type-Options"] = "nosniff"
    h["X-Frame-Options"] = "DENY"
    # Same-origin requests carry a Referer (Flask-WTF's check of HTTPS form posts needs it);
    # no other site ever learns an address of ours, a case URL least of all.
    h["Referrer-Policy"] = "no-referrer" if is_public_path(request.path) else "same-origin"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cross-Origin-Resource-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if current_app.extensions["caseapp.settings"].hsts:
        h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.endpoint != "static" or response.status_code >= 400:
        # Nothing a signed-in person sees may stay in a shared browser's cache; of the static
        # files only the files themselves are cached, never an error page in their place.
        h["Cache-Control"] = "no-store"
        h["Pragma"] = "no-cache"
    if getattr(g, "request_id", None) and not is_public_path(request.path):
        h["X-Request-Id"] = g.request_id
    return response


class NoCookieOnPublicPaths(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except that an answer under /r never writes (nor
    clears) the cookie, whatever touched the session while it was made: an error page, a
    template asking for a CSRF token, an extension. A pupil's phone keeps no trace of the
    public pages (issue 14)."""

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if is_public_path(request.path):
            return
        super().save_session(app, session, response)


def sign_in_session(user: User, token: str, record) -> None:
    """A fresh Flask session (new id) bound to the server-side session record."""
    # Kept across the new session: the language, and the page to return to after sign-in.
    kept = {key: session[key] for key in ("lang", "next") if session.get(key)}
    session.clear()
    session.update(kept)
    user.session_token = token
    user.session_record = record
    login_user(user, remember=False)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["has_permission"] = has_permission
    app.jinja_env.globals["limits"] = limits
    from caseapp.labels import labels

    def staff_labels() -> dict[str, Any]:
        # The public self-report pages use none of the staff screens' labels (some hundred
        # translated strings per page): a flood of them stays cheap. The names themselves are
        # shared and read-only (labels.shared_per_translations).
        return {} if is_public_path(request.path) else dict(labels())

    app.context_processor(staff_labels)
    app.session_interface = NoCookieOnPublicPaths()
    app.before_request(_guard)
    app.after_request(_headers)
    app.teardown_request(_teardown)
