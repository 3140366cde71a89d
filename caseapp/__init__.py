"""The case service for safe schools: application factory."""

from __future__ import annotations

import io

from flask import Flask, g
from flask.wrappers import Request
from werkzeug.routing import IntegerConverter

from config import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app: bind extensions, blueprints, error handlers and CLI. No I/O beyond reading
    the keyring (and, in development, creating it)."""
    from caseapp import access, cli, db, i18n, menu, observability, startup
    from caseapp.errors import register_error_handlers
    from caseapp.extensions import csrf, login_manager
    from caseapp.security.keyring import load_keyring
    from caseapp.security.passwords import make_hasher
    from caseapp.services.accounts import sessions
    from caseapp.services.audit.trail import install_guard
    from caseapp.services.cases import clocks, closures, step_copies, tallies
    from caseapp.services.reports import rollups

    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    app.request_class = _InMemoryUploads
    # Ids in URLs fit the database's integers; larger numbers are simply not found (404).
    app.url_map.converters["int"] = _DatabaseId
    app.config.update(settings.flask_config())
    app.extensions["caseapp.settings"] = settings
    app.extensions["caseapp.keyring"] = load_keyring(
        settings.keyring_path,
        create=settings.env != "production",
        strict_mode=settings.env == "production",
    )
    app.extensions["caseapp.hasher"] = make_hasher(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )
    db.init_app(
        app,
        settings.database_url,
        settings.database_replica_url,
        prepared_statements=settings.prepared_statements,
    )
    install_guard()
    clocks.install()
    step_copies.install()
    closures.install()
    rollups.install()
    tallies.install()
    sessions.install()
    startup.init_app(app)  # before CSRF and the guard: nothing runs on a wrong keyring
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = None  # server-side sessions do this job
    login_manager.user_loader(_load_user)
    i18n.init_app(app)
    access.init_app(app)
    menu.init_app(app)
    observability.init_app(app)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Flask's documented way to add WSGI middleware is to replace the wsgi_app method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    app.after_request(_commit_session_bookkeeping)
    register_error_handlers(app)
    _register_blueprints(app)
    cli.init_app(app)
    return app


class _DatabaseId(IntegerConverter):
    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


class _InMemoryUploads(Request):
    """Uploads stay in memory (MAX_CONTENT_LENGTH bounds them): Werkzeug would spool any past
    500 KB to a temporary file in clear, and plaintext never reaches temp files (DESIGN 6)."""

    def _get_file_stream(
        self, total_content_length, content_type, filename=None, content_length=None
    ):
        return io.BytesIO()


def _load_user(token: str):
    from caseapp.db import get_session
    from caseapp.services.accounts.sessions import load_session

    record = load_session(get_session(), token)
    if record is None:
        return None
    user = record.user
    user.session_token = token
    user.session_record = record
    return user


def _commit_session_bookkeeping(response):
    """Keep the touch or expiry of the sign-in session, which no view commits."""
    db_session = g.get("db_session")
    if db_session is not None and db_session.info.pop("session_bookkeeping", False):
        db_session.commit()
    return response


def _register_blueprints(app: Flask) -> None:
    from caseapp.account import bp as account_bp
    from caseapp.admin import bp as admin_bp
    from caseapp.audit import bp as audit_bp
    from caseapp.auth import bp as auth_bp
    from caseapp.cases import bp as cases_bp
    from caseapp.dashboard import bp as dashboard_bp
    from caseapp.equality import bp as equality_bp
    from caseapp.extensions import csrf
    from caseapp.intake import bp as intake_bp
    from caseapp.main import bp as main_bp
    from caseapp.privacy import bp as privacy_bp
    from caseapp.reports import bp as reports_bp
    from caseapp.selfreports import bp as selfreports_bp

    for bp in (
        main_bp,
        auth_bp,
        account_bp,
        admin_bp,
        audit_bp,
        cases_bp,
        dashboard_bp,
        equality_bp,
        privacy_bp,
        reports_bp,
        selfreports_bp,
    ):
        app.register_blueprint(bp)
    # The public self-report pages keep no session (no cookie, so no CSRF token in one): their
    # forms carry a signed token of their own (caseapp/intake/forms.py).
    csrf.exempt(intake_bp)
    app.register_blueprint(intake_bp)
