"""Domain exceptions, and the handlers that turn them (and HTTP errors) into pages."""

from __future__ import annotations

import contextlib

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from caseapp.public_paths import is_public_path, logged_path


class DomainError(Exception):
    status = 400

    def __init__(self, message: str = "", **details) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409


class InvalidTransition(DomainError):
    status = 409


class ValidationFailed(DomainError):
    status = 400


class SignInFailed(DomainError):
    """Any failed sign-in: wrong name, wrong password, disabled. One message for all."""

    status = 200


class SignInThrottled(DomainError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("throttled")
        self.retry_after = retry_after


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood. Nothing was changed.")),
        403: (_("Not allowed"), _("You do not have permission to do this.")),
        404: (_("Not found"), _("The page you asked for does not exist or is not yours to see.")),
        405: (_("Not allowed"), _("This action is not available here.")),
        409: (_("Conflict"), _("Someone else changed this in the meantime. Nothing was saved.")),
        413: (_("Too large"), _("The upload is larger than allowed.")),
        429: (_("Too many attempts"), _("Please wait a few minutes and try again.")),
        500: (_("Something went wrong"), _("An unexpected error happened. Nothing was saved.")),
        503: (
            _("Service unavailable"),
            _(
                "The service is not ready. Your administrator has "
                "been told; please try again later."
            ),
        ),
    }


def render_error(status: int, detail: str | None = None):
    title, text = _messages().get(status, _messages()[500])
    if request.accept_mimetypes.best == "application/json" or request.path.startswith("/api/"):
        return {"error": title, "status": status}, status
    if is_public_path(request.path):
        # A public self-report page, or an unrouted path under /r: its own plain page (no
        # staff menu, no form token that would need a cookie).
        if status == 413:
            text = _("The photos are too large: send fewer or smaller photos.")
        return render_template(
            "intake/error.html", status=status, title=title, text=detail or text
        ), status
    return render_template(
        "errors/error.html", status=status, title=title, text=detail or text
    ), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        from caseapp.db import get_session

        get_session().rollback()
        return render_error(exc.status if exc.status >= 400 else 400, exc.message or None)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        # Any refusal of the CSRF check (token missing or expired, Referer missing or from
        # another site on HTTPS) reads the same to the person, and is logged for operators.
        app.logger.warning(
            "CSRF check refused %s %s: %s",
            request.method,
            logged_path(request.path),
            exc.description,
        )
        return render_error(
            400,
            _(
                "The form expired or was not sent from this site. "
                "Nothing was changed; please try again."
            ),
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return render_error(exc.code or 500)

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError):
        # Two requests changed the same row at once (a sign-in finishing while the password
        # is changed elsewhere, two edits of one unit): the later one loses, cleanly.
        from caseapp.db import get_session

        app.logger.info(
            "concurrent change refused on %s %s: %s", request.method, logged_path(request.path), exc
        )
        get_session().rollback()
        return render_error(409)

    @app.errorhandler(OperationalError)
    def _database_unavailable(exc: OperationalError):
        # The database went away (a restart, the network): a 503 page rendered without it,
        # instead of gunicorn's bare page when rendering ours needed the database too.
        app.logger.error(
            "database unavailable on %s %s: %s",
            request.method,
            logged_path(request.path),
            type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
        )
        _without_database()
        return render_error(503)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        from caseapp.db import get_session

        app.logger.exception("unhandled error on %s %s", request.method, logged_path(request.path))
        try:
            get_session().rollback()
        except SQLAlchemyError:
            _without_database()
        return render_error(500)


def _without_database() -> None:
    """Let the error page render with nothing from the database: the request's session is
    dropped (nothing of it is committed afterwards) and the page is shown as to a visitor,
    since the signed-in person would be read again from the database."""
    from flask import g
    from flask_login import AnonymousUserMixin

    session = g.pop("db_session", None)
    if session is not None:
        session.info.pop("session_bookkeeping", None)
        with contextlib.suppress(SQLAlchemyError):  # the connection may be gone already
            session.close()
    g._login_user = AnonymousUserMixin()
