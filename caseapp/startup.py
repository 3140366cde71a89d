"""Before serving or writing: the database answers, its schema is current, and the keyring
holds every key it uses. Each operator mistake is one line naming the setting and the fix."""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

from flask import Flask, current_app, request
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

# gunicorn treats a worker that exits with 4 as "App failed to load" and stops, instead of
# starting workers again and again.
EXIT_REFUSED = 4


class StartupRefused(RuntimeError):
    """The service must not run (or a command must not write) as configured."""


@dataclass
class Readiness:
    database: bool
    revision: str | None = None
    head: str | None = None
    keyring: str = "unknown"  # "ok", "mismatch" or "unknown" (no binding table yet)
    problem: str = ""

    @property
    def migrated(self) -> bool:
        return self.revision is not None and self.revision == self.head

    @property
    def ok(self) -> bool:
        return self.database and self.migrated and self.keyring == "ok"


def _url_for_people(app: Flask) -> str:
    url = make_url(app.extensions["caseapp.settings"].database_url)
    return url.render_as_string(hide_password=True)


@functools.cache
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from caseapp.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def readiness(app: Flask, bind: bool = False) -> Readiness:
    """Where the database and keyring stand (never raises). With ``bind``, a database that
    goes with the keyring is bound to its newer keys (and committed)."""
    from caseapp.db import open_session
    from caseapp.migrate import current_heads
    from caseapp.services.keys import binding as key_binding

    state = Readiness(database=False, head=head_revision())
    with app.app_context():
        try:
            heads = current_heads(app.extensions["caseapp.engine"])
            state.database = True
            state.revision = ",".join(sorted(heads)) or None
            with open_session() as session:
                binding = (key_binding.bind if bind else key_binding.check)(
                    session, app.extensions["caseapp.keyring"]
                )
                if bind and binding.ok:
                    session.commit()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
            if not state.database:
                state.problem = (
                    f"DATABASE_URL: cannot reach the database at "
                    f"{_url_for_people(app)} ({reason}); check that it runs and "
                    "the URL, user and password are right"
                )
            else:
                state.problem = f"the database answered with an error ({reason})"
            return state
    if binding.migrated:
        state.keyring = "ok" if binding.ok else "mismatch"
        if binding.missing:
            state.problem = binding.refusal(app.extensions["caseapp.settings"].keyring_path)
    if not state.problem and not state.migrated:
        state.problem = (
            f"the database is at revision {state.revision or 'none'}, the code "
            f"needs {state.head}: run flask --app wsgi db upgrade"
        )
    return state


def ensure_ready(app: Flask, allow_unmigrated: bool = False) -> Readiness:
    """Raise StartupRefused with one line unless the service may write; bind the keyring."""
    state = readiness(app, bind=True)
    if not state.database or state.keyring == "mismatch":
        raise StartupRefused(state.problem)
    if not state.migrated and not allow_unmigrated:
        raise StartupRefused(state.problem)
    return state


def refuse(line: str) -> None:
    print(f"caseapp: {line}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_REFUSED)


def build_app() -> Flask:
    """The app for wsgi.py: settings, keyring and database checked before the first request.
    Under `flask` commands only the configuration is checked here; each command that writes
    checks the database and keyring itself (`audit verify` must run with a wrong keyring)."""
    from caseapp import create_app
    from caseapp.security.keyring import KeyringError
    from config import ConfigError

    try:
        app = create_app()
    except (ConfigError, KeyringError) as exc:
        refuse(str(exc))
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        try:
            # An unmigrated database may start (so /healthz can say so, and requests answer
            # 503 until `db upgrade`); a wrong keyring or an unreachable database may not.
            state = ensure_ready(app, allow_unmigrated=True)
        except StartupRefused as exc:
            refuse(str(exc))
        if state.problem:
            app.logger.warning("%s", state.problem)
    return app


# Answer whatever the database's state: operators and load balancers must be able to ask.
UNGATED = frozenset({"static", "main.healthz", "main.readyz", "observability.metrics"})


def _gate():
    """Until this process has seen the database current and the keyring matching, answer 503
    (a development server started before `db upgrade`, or a database swapped under it)."""
    # current_app is typed as Flask, not as the LocalProxy it is at run time.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions.get("caseapp.ready") or request.endpoint in UNGATED:
        return None
    state = readiness(app, bind=True)
    if state.ok:
        app.extensions["caseapp.ready"] = True
        return None
    from caseapp.errors import render_error

    app.logger.error("%s", state.problem)
    return render_error(503)


def init_app(app: Flask) -> None:
    app.before_request(_gate)


def check_before_serving() -> None:
    """For a process manager's parent (gunicorn's arbiter): build the app once as a worker
    would, stop with one line and exit 4 on any mistake, and let go of the database."""
    app = build_app()
    app.extensions["caseapp.engine"].dispose()
