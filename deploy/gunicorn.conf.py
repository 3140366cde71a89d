"""gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Read from the environment (systemd's EnvironmentFile, or compose), each with a safe default:
CASEAPP_BIND (127.0.0.1:8000; nginx is the only client), CASEAPP_WORKERS (else WEB_CONCURRENCY,
else 2 x cores + 1, at most 8), FORWARDED_ALLOW_IPS (127.0.0.1,::1: the proxy on this host).
"""

from __future__ import annotations

import os

# gunicorn reads these names from this module: JSON access and error logs, and the upkeep of
# prometheus_client's shared folder (caseapp.observability.gunicorn_hooks).
from caseapp.observability import gunicorn_hooks
from caseapp.observability.gunicorn_hooks import (  # noqa: F401
    access_log_format,
    child_exit,
    logconfig_dict,
    logger_class,
)


def on_starting(server) -> None:
    """In the arbiter, before any worker: the settings, keyring and database are checked once,
    so a mistake stops gunicorn with its one line and exit 4 (were only the workers to find
    it, two of them failing at once can make gunicorn itself end in a traceback)."""
    from caseapp.startup import check_before_serving

    check_before_serving()
    gunicorn_hooks.on_starting(server)


def _default_workers() -> int:
    # Cores this process may run on (a container or a CPU quota may give fewer than the host has).
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    # Sync workers of ~105 MB each, more than cores: a request that waits (for a database on
    # another host, or for a slow client of the one answer bigger than nginx's 11 MiB of
    # buffers, the audit trail's CSV export) must not leave every other request queued behind
    # it. (Attachments and pages do not hold a worker: nginx takes them whole, in memory.) The
    # price, measured on 2 cores with PostgreSQL on the same machine by
    # bench/production_drill.py when every worker is busy: 5 workers recorded 156 cases a
    # second against 200 with 2 (GET /work: 112 against 126), because a worker waiting for a
    # core while it holds the audit chain's lock stalls every writer. A server whose peak
    # matters more can set CASEAPP_WORKERS to its cores. Past 8 the database is the limit.
    return min(2 * cores + 1, 8)


def _workers() -> int:
    value = os.environ.get("CASEAPP_WORKERS") or os.environ.get("WEB_CONCURRENCY")
    if not value:
        return _default_workers()
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"CASEAPP_WORKERS must be a whole number of 1 or more (it is {value!r})")
    return int(value)


bind = [os.environ.get("CASEAPP_BIND", "127.0.0.1:8000")]
workers = _workers()
# Sync workers: one request at a time each, so a slow request never holds a lock or a database
# session another request waits on. nginx buffers slow clients in front of them.
worker_class = "sync"
# Each worker loads the app itself (no preload): a worker that finds the configuration wrong
# (keyring, secret, database) exits with code 4 and the arbiter stops with "App failed to load"
# instead of serving; no database connection is ever shared across a fork.
preload_app = False
# A request that runs longer than this is killed and its worker replaced (nginx waits a little
# longer: proxy_read_timeout 75s in deploy/nginx/caseapp.conf).
timeout = 60
graceful_timeout = 30
# Recycle workers now and then so that slow growth never becomes an outage.
max_requests = 2000
max_requests_jitter = 200
# The control socket (gunicorn 25.1+) would be created under $HOME, which the service user
# cannot write and nobody needs: no socket at all. Older versions ignore the setting.
control_socket_disable = True
# X-Forwarded-Proto is believed only from the proxy on this host (the app's ProxyFix, enabled by
# CASEAPP_TRUSTED_PROXIES=1, takes the client address from X-Forwarded-For).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Files and sockets gunicorn makes are private to the service user (systemd sets UMask=0077
# too; this also holds when started by hand or in a container).
umask = 0o077
os.umask(0o077)
# Logs: gunicorn's access lines as JSON on stdout (with the request id nginx made, never a query
# string), its own messages and the app's as JSON on stderr: the journal, or `docker compose
# logs`. The hooks also empty PROMETHEUS_MULTIPROC_DIR at start and tell prometheus_client
# when a worker is gone.
accesslog = "-"  # without it gunicorn writes no access log at all
errorlog = "-"
loglevel = "info"
proc_name = "caseapp"
