"""What operators see: JSON log lines tied to their request id, Prometheus metrics at
/metrics, and (gunicorn_hooks) gunicorn's access and error logs in JSON."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # Imported here, not at the top: deploy/gunicorn.conf.py imports gunicorn_hooks from this
    # package before PROMETHEUS_MULTIPROC_DIR may be set, and prometheus_client picks its
    # single- or multi-process mode once, when first imported.
    from caseapp.observability import logs, metrics

    logs.init_app(app)
    metrics.init_app(app)
