"""Log records as one JSON object per line on stderr, tied to their request by its id, and
holding nothing a person typed: no form values, query strings, cookies or headers."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType

from flask import Flask, current_app, g, has_request_context, request, request_started
from flask.logging import default_handler
from sqlalchemy.exc import StatementError

from caseapp.public_paths import is_public_path

MESSAGE_MAX = 2000
TRACEBACK_MAX = 20000


class JsonFormatter(logging.Formatter):
    """time (UTC), level, logger, message, process; inside a request its id, method, path
    (never the query string) and endpoint; ``status`` when the caller passes it in ``extra``;
    for an exception its type and traceback, with database errors stripped of row values."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage()[:MESSAGE_MAX],
            "pid": record.process,
        }
        entry.update(request_fields())
        status = getattr(record, "status", None)
        if status is not None:
            entry["status"] = status
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            entry["exc_type"] = qualified_name(type(exc))
            entry["traceback"] = exception_text(exc)[-TRACEBACK_MAX:]
        elif record.stack_info:
            entry["stack"] = record.stack_info[-TRACEBACK_MAX:]
        return json.dumps(entry, default=str)


def request_fields() -> dict[str, object]:
    if not has_request_context():
        return {}
    if is_public_path(request.path):
        # A self-report page (or an unrouted path under /r): its rule ("/r/<school_code>"),
        # not the path, and no request id.
        return {
            "method": request.method[:16],
            "path": request.url_rule.rule if request.url_rule is not None else "/r",
            "endpoint": request.endpoint,
        }
    return {
        "request_id": g.get("request_id"),
        "method": request.method[:16],
        "path": request.path[:500],
        "endpoint": request.endpoint,
    }


def qualified_name(kind: type) -> str:
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def exception_text(exc: BaseException) -> str:
    """The traceback as Python prints it (chained exceptions first), except that each
    exception's text goes through ``safe_message``."""
    blocks: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        blocks.append(_block(current, current.__traceback__))
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return "\n\nwhich led to:\n\n".join(reversed(blocks))


def _block(exc: BaseException, tb: TracebackType | None) -> str:
    frames = "".join(traceback.format_tb(tb)) if tb is not None else ""
    return (
        f"Traceback (most recent call last):\n{frames}{qualified_name(type(exc))}: "
        f"{safe_message(exc)}"
    )


# A quoted literal of a statement (a value written into its SQL: prepared_statements.written_in).
_QUOTED = re.compile(r"'(?:[^']|'')*'")


def safe_message(exc: BaseException) -> str:
    """An exception's text without the values a database error quotes: SQLAlchemy appends the
    statement's parameters, PostgreSQL's DETAIL line repeats the offending row's values (a
    user name in a unique violation), and a statement may carry values written in its text
    (its quoted literals are shown as '?')."""
    if isinstance(exc, StatementError):
        if exc.orig is not None:
            head = f"({qualified_name(type(exc.orig))}) {safe_message(exc.orig)}"
        else:
            head = str(exc.args[0]) if exc.args else ""
        statement = _QUOTED.sub("'?'", exc.statement or "")
        return f"{head[:MESSAGE_MAX]} [SQL: {statement[:MESSAGE_MAX]}]"
    diag = getattr(exc, "diag", None)
    sqlstate = getattr(exc, "sqlstate", None)
    if diag is not None and sqlstate is not None:  # psycopg
        # A data exception's text (class 22) quotes the input it could not read.
        parts = [] if sqlstate.startswith("22") else [diag.message_primary or ""]
        parts.append(f"sqlstate {sqlstate}")
        for label in ("table_name", "constraint_name", "column_name"):
            value = getattr(diag, label, None)
            if value:
                parts.append(f"{label.split('_')[0]} {value}")
        return "; ".join(part for part in parts if part)
    return str(exc)[:MESSAGE_MAX]


def _not_a_request_line(record: logging.LogRecord) -> bool:
    # The development server logs each request line with its query string; gunicorn's access
    # log (JSON, path only) is the request log.
    return not (record.name == "werkzeug" and record.levelno < logging.WARNING)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test's capture, gunicorn's redirect),
    never to a stream that has since been closed."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(_not_a_request_line)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def json_handler() -> logging.Handler | None:
    """The root logger's JSON handler, once installed (by init_app or gunicorn's logconfig)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return handler
    return None


def _server_error_line(response):
    """Every answer of 500 or more leaves one line with its request id, whatever caused it."""
    if response.status_code >= 500:
        current_app.logger.error(
            "request answered %s", response.status_code, extra={"status": response.status_code}
        )
    return response


def _assign_request_id(_sender, **_extra) -> None:
    """The request's id before anything else runs. The guard (caseapp.access) sets it again,
    the same way, once the readiness gate and the CSRF check have passed; a request one of
    them turns away keeps this one, on its error page and its log line alike."""
    if not is_public_path(request.path):
        g.request_id = request_id()


def request_id() -> str:
    """The proxy's X-Request-Id when a trusted proxy is configured (CASEAPP_TRUSTED_PROXIES)
    and the id is a plain token (letters, digits, . _ -; up to 64), else a new random one: a
    client never chooses the id the audit trail stores, nor breaks or forges a log line."""
    if not current_app.extensions["caseapp.settings"].trusted_proxies:
        return secrets.token_hex(8)
    given = request.headers.get("X-Request-Id", "")
    if 0 < len(given) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in given):
        return given
    return secrets.token_hex(8)


def init_app(app: Flask) -> None:
    request_started.connect(_assign_request_id, app)
    if not app.extensions["caseapp.settings"].log_json:
        return  # Flask's default logging
    if json_handler() is None:
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        logging.getLogger().addHandler(handler)
    app.logger.removeHandler(default_handler)
    if app.logger.level == logging.NOTSET:
        app.logger.setLevel(logging.INFO)
    app.after_request(_server_error_line)
