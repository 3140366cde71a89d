"""Prometheus metrics at /metrics, behind a bearer token: requests and latency per endpoint,
and, read from the database when scraped, the audit trail's health and the open and overdue
cases per province. Labels are endpoint names, methods, statuses and province codes: never a
raw path (ids), a name or anything from a case.

Several gunicorn workers: set PROMETHEUS_MULTIPROC_DIR (a folder private to the service,
emptied at each start by gunicorn_hooks.on_starting) in the service's environment before it
starts; each worker then keeps its counters there and whichever worker answers /metrics adds
them all up. Unset, the counters are the answering process's own (one process, development).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from datetime import datetime

from flask import Blueprint, Flask, Response, abort, current_app, g, request, request_started
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from caseapp.access import PUBLIC, permission
from caseapp.db import open_session, utcnow
from caseapp.models import AuditCheckpoint, AuditEvent, Unit
from caseapp.models.reports import UnitCaseTally
from caseapp.services.audit.integrity import last_event
from caseapp.services.cases.monitoring import overdue_now
from caseapp.services.cases.tallies import overdue_day

log = logging.getLogger(__name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no route (404) or not this method (405): no endpoint to name

# A "_created" timestamp beside every counter and histogram would double the series for
# nothing an operator reads (multiprocess mode never has them).
disable_created_metrics()

REQUESTS = Counter(
    "caseapp_http_requests",
    "Requests answered, by Flask endpoint, method and status.",
    ("endpoint", "method", "status"),
)
LATENCY = Histogram(
    "caseapp_http_request_duration_seconds",
    "Time from the start of a request to its response (before streaming), by Flask endpoint.",
    ("endpoint",),
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

bp = Blueprint("observability", __name__)


@bp.get("/metrics")
@permission(PUBLIC)  # the bearer token is the check: Prometheus has no session
def metrics():
    if not _authorised():
        abort(404)  # as if there were no such page
    body = generate_latest(_Together([request_collector(), DatabaseCollector()]))
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _authorised() -> bool:
    token = current_app.extensions["caseapp.settings"].metrics_token
    if not token:
        return False
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def request_collector():
    """All workers' request metrics (multiprocess mode), else this process's registry."""
    return MultiProcessCollector(None) if multiprocess_dir() else REGISTRY


class _Together:
    """Several collectors read as one, for generate_latest."""

    def __init__(self, collectors: Iterable) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


class DatabaseCollector:
    """Gauges read at scrape time in a session of their own. A database that does not answer
    gives ``caseapp_database_up 0`` and nothing else, never a failed scrape."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "caseapp_database_up", "1 when the database answered this scrape's queries, else 0."
        )
        try:
            with open_session() as session:
                families = list(database_gauges(session, utcnow()))
        except Exception as exc:  # noqa: BLE001 - any failure: report the database as down
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families
        yield from replica_gauges()


def replica_gauges() -> Iterator[Metric]:
    """With a read replica (DATABASE_REPLICA_URL): whether it answered, whether it is a
    standby, and its lag in seconds (absent while it cannot be told). Nothing without one."""
    from caseapp.services.reports.replica import lag_of

    factory = current_app.extensions.get("caseapp.read_sessionmaker")
    if factory is None:
        return
    try:
        with factory() as session:
            lag = lag_of(session)
    except Exception as exc:  # noqa: BLE001 - any failure: report the replica as down
        log.warning("metrics: the read replica did not answer (%s)", type(exc).__name__)
        yield _gauge("caseapp_replica_up", "1 when the read replica answered, else 0.", 0)
        return
    yield _gauge("caseapp_replica_up", "1 when the read replica answered, else 0.", 1)
    yield _gauge(
        "caseapp_replica_standby",
        "1 when the read replica is a standby in recovery, else 0.",
        1 if lag.standby else 0,
    )
    if lag.seconds is not None:
        yield _gauge(
            "caseapp_replica_lag_seconds",
            "Seconds since the last transaction the read replica replayed was committed.",
            lag.seconds,
        )


def _age(now: datetime, at: datetime | None) -> float:
    """Seconds since ``at``; +Inf when it never happened, so an "older than" alert fires."""
    if at is None:
        return math.inf
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - at).total_seconds())


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def database_gauges(session: Session, now: datetime) -> Iterator[Metric]:
    head = session.execute(
        select(AuditEvent.seq, AuditEvent.at).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    yield _gauge(
        "caseapp_audit_head_seq",
        "Sequence number of the newest audit event.",
        head.seq if head else 0,
    )
    yield _gauge(
        "caseapp_audit_head_age_seconds",
        "Seconds since the newest audit event (+Inf: empty trail).",
        _age(now, head.at if head else None),
    )
    checkpoint_at = session.scalar(
        select(AuditCheckpoint.at).order_by(AuditCheckpoint.id.desc()).limit(1)
    )
    yield _gauge(
        "caseapp_audit_checkpoint_age_seconds",
        "Seconds since the last signed audit checkpoint (+Inf: none yet).",
        _age(now, checkpoint_at),
    )
    verified = last_event(session, "audit.verify")
    yield _gauge(
        "caseapp_audit_verify_age_seconds",
        "Seconds since the last recorded audit verify (+Inf: never run).",
        _age(now, verified.at if verified else None),
    )
    if verified is not None:
        ok = json.loads(verified.changes or "{}").get("ok") is True
        yield _gauge(
            "caseapp_audit_verify_ok",
            "1 if the last recorded audit verify found the chain intact, else 0.",
            1 if ok else 0,
        )
    open_cases = GaugeMetricFamily(
        "caseapp_cases_open", "Cases not closed, by province (unit code).", labels=("province",)
    )
    overdue = GaugeMetricFamily(
        "caseapp_cases_overdue",
        "Open cases past one of their clocks, by province (unit code).",
        labels=("province",),
    )
    for code, open_count, overdue_count in province_caseload(session, now):
        open_cases.add_metric([code], open_count)
        overdue.add_metric([code], overdue_count)
    yield open_cases
    yield overdue


def province_caseload(session: Session, now: datetime) -> list[tuple[str, int, int]]:
    """(province code, open cases, overdue cases) for every province, in one grouped query
    from the counts kept per unit (tallies: the monitoring page's): open cases from each
    unit's row, overdue cases as monitoring counts them at the present (``now``'s day), then
    each unit's counts go to the province whose path prefixes the unit's. Counting the open
    cases themselves at each scrape read every open case of every province (240-360 ms at
    1,000,000 cases, issue 16)."""
    per_unit = (
        select(
            Unit.path.label("path"),
            UnitCaseTally.open.label("open"),
            overdue_now(overdue_day(now)).label("overdue"),
        )
        .join(UnitCaseTally, UnitCaseTally.unit_id == Unit.id)
        .subquery()
    )
    province = aliased(Unit)
    rows = session.execute(
        select(
            province.code,
            func.coalesce(func.sum(per_unit.c.open), 0),
            func.coalesce(func.sum(per_unit.c.overdue), 0),
        )
        .select_from(province)
        .outerjoin(per_unit, per_unit.c.path.startswith(province.path))
        .where(province.kind == "province")
        .group_by(province.code)
        .order_by(province.code)
    ).all()
    return [(code, int(open_count), int(overdue_count)) for code, open_count, overdue_count in rows]


# --- counting requests --------------------------------------------------------------------------


def _start_clock(_sender, **_extra) -> None:
    # request_started comes before every before_request function, so a request the guard
    # (or the readiness gate) turns away is timed too.
    g.metrics_started = time.perf_counter()


def _count(response):
    _observe(response.status_code)
    return response


def _count_unanswered(exc) -> None:
    if exc is not None:
        _observe(500)


_broken = False


def _observe(status: int) -> None:
    global _broken
    if g.get("metrics_counted"):
        return
    g.metrics_counted = True
    endpoint = request.endpoint or UNMATCHED
    method = request.method if request.method in METHODS else "other"
    try:
        REQUESTS.labels(endpoint, method, str(status)).inc()
        started = g.get("metrics_started")
        if started is not None:
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - counting must never fail a request
        if not _broken:  # say it once per process, not once per request
            _broken = True
            log.error(
                "metrics: cannot count requests (%s: %s); is PROMETHEUS_MULTIPROC_DIR "
                "an existing folder the service may write?",
                type(exc).__name__,
                exc,
            )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    request_started.connect(_start_clock, app)
    app.after_request(_count)
    app.teardown_request(_count_unanswered)
