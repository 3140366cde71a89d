"""What deploy/gunicorn.conf.py takes from the service so that operators can see, in JSON:

    from caseapp.observability.gunicorn_hooks import (  # noqa: F401 - gunicorn reads these
        access_log_format, child_exit, logconfig_dict, logger_class, on_starting)

    accesslog = "-"  # required: without it gunicorn writes no access log at all

``access_log_format``
    One JSON object per request on stdout: time (UTC), remote address, method, path (never
    the query string, which may hold search terms), status, response bytes, duration in
    microseconds, the request id the app answered with (its X-Request-Id header, the one its
    error pages and JSON log lines show) and the user agent.
``logger_class``
    gunicorn's logger with every value JSON-escaped and the time in ISO 8601 UTC. gunicorn
    escapes only double quotes: a backslash or a newline in a path or user agent would
    otherwise break the line (or forge one). A request to the self-report pages (/r, /r/...)
    is logged as path "/r/…" with no remote address, user agent, referrer or request header:
    nothing in the log may tie a pupil's phone, or the time they wrote, to a school's page
    or a receipt code (issue 14).
``logconfig_dict``
    gunicorn's own messages (start, workers booting, exiting, timing out) and the app's log
    records as JSON lines on stderr (logs.JsonFormatter); the access lines, already JSON, on
    stdout. The app's own CASEAPP_LOG_JSON=1 (the production default) finds this handler and
    adds no second one.
``on_starting(server)``
    Empties PROMETHEUS_MULTIPROC_DIR of the previous run's files (creating the folder, mode
    0700, if it is missing) before any worker starts.
``child_exit(server, worker)``
    Tells prometheus_client that a worker is gone.

Metrics from several workers: give the service PROMETHEUS_MULTIPROC_DIR in its environment,
for example ``Environment=PROMETHEUS_MULTIPROC_DIR=/run/caseapp/prometheus`` with
``RuntimeDirectory=caseapp`` in the systemd unit. It must be set before Python starts (or at
the top of gunicorn.conf.py, before any import from caseapp): prometheus_client chooses its
mode when first imported, and a mismatch leaves each worker counting alone. This module
imports neither prometheus_client nor the app.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from gunicorn.glogging import Logger, SafeAtoms

from caseapp.public_paths import is_public_path

access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"status": %(s)s, "bytes": %(B)s, "duration_us": %(D)s, '
    '"request_id": "%({x-request-id}o)s", "user_agent": "%(a)s"}'
)


class JsonAtoms(SafeAtoms):
    """gunicorn's atoms with each text escaped for a JSON string (quotes, backslashes,
    control characters); numbers as they are, a missing value as null."""

    def __init__(self, atoms: dict) -> None:
        dict.__init__(self)
        for key, value in atoms.items():
            if isinstance(value, str):
                self[key] = json.dumps(value)[1:-1]
            elif value is None:
                self[key] = "null"
            else:
                self[key] = value


REPORTER_PATH = "/r/…"


def is_reporter_path(path: str) -> bool:
    """Whether a request path is one of the public self-report pages (/r, /r/<code>, ...),
    "//r/<code>" too (caseapp.public_paths)."""
    return is_public_path(path)


class JsonAccessLogger(Logger):
    atoms_wrapper_class = JsonAtoms

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        if not is_reporter_path(environ.get("PATH_INFO") or ""):
            return atoms
        # Request headers ({...}i) and the environ ({...}e) hold the address
        # (X-Forwarded-For, REMOTE_ADDR) and the full path: none of them; the response's
        # headers (the request id) stay.
        kept = {k: v for k, v in atoms.items() if not k.endswith(("}i", "}e"))}
        kept.update(
            h="-",
            u="-",
            r=f"{atoms.get('m')} {REPORTER_PATH} {atoms.get('H')}",
            U=REPORTER_PATH,
            q="",
            f="-",
            a="-",
        )
        return kept

    def now(self) -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


logger_class = JsonAccessLogger

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "caseapp.observability.logs.JsonFormatter"},
        "access": {"format": "%(message)s"},
    },
    "handlers": {
        "json_stderr": {"class": "caseapp.observability.logs.StderrHandler", "formatter": "json"},
        "access_stdout": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "stream": "ext://sys.stdout",
        },
    },
    # No level for gunicorn's loggers: --log-level (loglevel) keeps deciding.
    "root": {"level": "WARNING", "handlers": ["json_stderr"]},
    "loggers": {
        "gunicorn.error": {"handlers": ["json_stderr"], "propagate": False},
        "gunicorn.access": {"handlers": ["access_stdout"], "propagate": False},
    },
}


def _multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def on_starting(server) -> None:
    folder = _multiprocess_dir()
    if folder is None:
        return
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Counters of a previous run would be added to this one's (and a crashed run's files
    # may be half written).
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    if _multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
