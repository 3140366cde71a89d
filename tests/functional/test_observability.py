"""Operators can see: JSON log lines tied to the request id an error page shows, with nothing a
person typed; /metrics behind its token, counting every request by endpoint and reading the
audit trail and the caseload per province from the database; gunicorn's logs in JSON; counters
that add up across workers."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import sessionmaker

from caseapp import create_app
from caseapp.access import PUBLIC, permission
from caseapp.clock import local_today
from caseapp.models import AuditEvent, Case, Unit
from caseapp.observability import logs, metrics
from caseapp.runtime import keyring
from caseapp.security.audit_chain import ChainReport
from caseapp.services.audit import integrity as audit_integrity
from caseapp.services.cases import tallies
from caseapp.services.cases.deadlines import overdue_condition
from tests.factories import Visitor, make_unit

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-" + "k" * 32
SECRET = "CANARY-obs-5e1d"  # a search term, a password, a name: never in a log line
REQUEST_ID_ON_PAGE = re.compile(r"<code>([^<]+)</code>")


# --- logs ---------------------------------------------------------------------------------------


@pytest.fixture()
def json_app(app, settings):
    """An app with JSON logs on, and a route that fails."""
    installed = logs.json_handler() is None
    throwaway = create_app(replace(settings, log_json=True))
    throwaway.config["PROPAGATE_EXCEPTIONS"] = False

    @throwaway.get("/boom")
    @permission(PUBLIC)
    def boom():
        raise RuntimeError("boom")

    yield throwaway
    throwaway.extensions["caseapp.engine"].dispose()
    handler = logs.json_handler()
    if installed and handler is not None:
        logging.getLogger().removeHandler(handler)


def json_lines(captured: str) -> list[dict]:
    lines = [line for line in captured.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_a_server_error_logs_the_request_id_its_page_shows(json_app, capsys):
    capsys.readouterr()
    r = json_app.test_client().get(f"/boom?q={SECRET}")
    assert r.status_code == 500
    [shown] = REQUEST_ID_ON_PAGE.findall(r.get_data(as_text=True))
    assert r.headers["X-Request-Id"] == shown
    captured = capsys.readouterr().err
    assert SECRET not in captured
    lines = [line for line in json_lines(captured) if line.get("request_id") == shown]
    [failure] = [line for line in lines if line.get("exc_type")]
    assert failure["level"] == "ERROR" and failure["exc_type"] == "RuntimeError"
    assert failure["path"] == "/boom" and failure["method"] == "GET"
    assert failure["endpoint"] == "boom"
    assert "raise RuntimeError" in failure["traceback"]
    assert failure["time"].endswith("Z")
    assert [line["status"] for line in lines if "status" in line] == [500]


def test_a_form_post_logs_neither_its_values_nor_its_query_string(json_app, capsys):
    capsys.readouterr()
    # No CSRF token: the refusal is logged, with the request id its page shows.
    r = json_app.test_client().post(
        f"/login?next={SECRET}-next",
        data={"username": f"{SECRET}-user", "password": f"{SECRET}-password"},
    )
    assert r.status_code == 400
    [shown] = REQUEST_ID_ON_PAGE.findall(r.get_data(as_text=True))
    captured = capsys.readouterr().err
    assert SECRET not in captured
    [refusal] = json_lines(captured)
    assert refusal["level"] == "WARNING" and refusal["request_id"] == shown
    assert refusal["path"] == "/login" and refusal["endpoint"] == "auth.login"


def test_a_database_error_is_logged_without_the_row_values(db, world):
    """SQLAlchemy appends a statement's parameters to its errors, and PostgreSQL quotes the
    row in its DETAIL line: neither may reach a log line."""
    with pytest.raises(IntegrityError) as caught, db.begin_nested():
        db.execute(
            insert(Unit).values(
                code="PRV",
                name=f"{SECRET}-name",
                kind="province",
                path="/0/",
                valid_from=local_today(),
            )
        )
    # The engine hides the parameters (hide_parameters=True), but PostgreSQL's DETAIL line
    # still quotes the row in the exception's text: the formatter must drop it.
    record = logging.LogRecord(
        "caseapp",
        logging.ERROR,
        __file__,
        1,
        "insert failed",
        None,
        (IntegrityError, caught.value, caught.value.__traceback__),
    )
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["exc_type"] == "sqlalchemy.exc.IntegrityError"
    assert "INSERT INTO units" in line["traceback"]
    assert SECRET not in line["traceback"] and "(PRV)" not in line["traceback"]


def test_a_value_written_into_a_failed_statement_is_not_logged(db, world):
    """A statement sent with its plain values written in (prepared_statements.written_in)
    carries them in its text: the log line shows its quoted literals as '?'."""
    from sqlalchemy import text

    from caseapp.prepared_statements import written_in

    with pytest.raises(DBAPIError) as caught, db.begin_nested():
        db.execute(
            text("SELECT no_such_column FROM units WHERE code = :code AND name <> :who"),
            {"who": "NOTANUMBER", "code": "SECRETCODE"},
            execution_options=written_in,
        )
    message = logs.safe_message(caught.value)
    assert "NOTANUMBER" not in message and "SECRETCODE" not in message
    assert "FROM units WHERE code = " in message


def test_without_json_logs_no_handler_is_added(app, settings):
    before = list(logging.getLogger().handlers)
    throwaway = create_app(replace(settings, log_json=False))
    throwaway.extensions["caseapp.engine"].dispose()
    assert logging.getLogger().handlers == before


# --- /metrics -----------------------------------------------------------------------------------


@pytest.fixture()
def token(app):
    original = app.extensions["caseapp.settings"]
    app.extensions["caseapp.settings"] = replace(original, metrics_token=TOKEN)
    yield TOKEN
    app.extensions["caseapp.settings"] = original


def scrape(client) -> dict[tuple, float]:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert "no-store" in r.headers["Cache-Control"]
    values = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return values


def requests_of(values, endpoint, method, status) -> float:
    key = (
        "caseapp_http_requests_total",
        ("endpoint", endpoint),
        ("method", method),
        ("status", status),
    )
    return values.get(key, 0.0)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        TOKEN,
        f"Basic {TOKEN}",
        f"bearer{TOKEN}",
    ],
)
def test_metrics_is_not_found_without_the_token(client, token, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 404
    assert "caseapp_" not in r.get_data(as_text=True)


def test_metrics_is_not_found_when_no_token_is_configured(app, client):
    assert app.extensions["caseapp.settings"].metrics_token == ""
    for authorization in ("Bearer ", "Bearer", ""):
        assert client.get("/metrics", headers={"Authorization": authorization}).status_code == 404


def test_every_request_is_counted_by_endpoint_and_status(client, token):
    before = scrape(client)
    assert client.get("/login").status_code == 200
    assert client.get("/").status_code == 302  # turned away by the guard: counted all the same
    assert client.get(f"/no/such/page/{SECRET}").status_code == 404
    assert client.get("/static/favicon.svg").status_code == 200
    after = scrape(client)
    for endpoint, method, status in [
        ("auth.login", "GET", "200"),
        ("main.index", "GET", "302"),
        ("unmatched", "GET", "404"),
        ("static", "GET", "200"),
        ("observability.metrics", "GET", "200"),
    ]:
        assert (
            requests_of(after, endpoint, method, status)
            == requests_of(before, endpoint, method, status) + 1
        ), endpoint
    count = ("caseapp_http_request_duration_seconds_count", ("endpoint", "main.index"))
    assert after[count] == before.get(count, 0) + 1
    assert not any(SECRET in str(key) for key in after)  # raw paths are never labels


def test_the_audit_trail_gauges(client, db, token):
    audit_integrity.record_verification(db, None, ChainReport())
    audit_integrity.checkpoint(db, None, keyring())
    db.commit()
    values = scrape(client)
    head = db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    assert values[("caseapp_database_up",)] == 1
    assert values[("caseapp_audit_head_seq",)] == head
    assert 0 <= values[("caseapp_audit_head_age_seconds",)] < 60
    assert 0 <= values[("caseapp_audit_checkpoint_age_seconds",)] < 60
    assert 0 <= values[("caseapp_audit_verify_age_seconds",)] < 60
    assert values[("caseapp_audit_verify_ok",)] == 1
    audit_integrity.record_verification(db, None, ChainReport(bad_seq=3, problem="broken"))
    db.commit()
    assert scrape(client)[("caseapp_audit_verify_ok",)] == 0


def test_open_and_overdue_cases_per_province_match_a_count(app, client, db, world, token):
    today = local_today()
    focal = Visitor(app, db, world["focal_a"])
    made = [
        focal.intake(db, world.units["SCH-A"]),
        focal.intake(
            db, world.units["SCH-A"], received_on=(today - timedelta(days=20)).isoformat()
        ),
        focal.intake(
            db, world.units["SCH-A"], received_on=(today - timedelta(days=25)).isoformat()
        ),
        focal.intake(db, world.units["SCH-A"]),
    ]
    # A second province, holding one overdue case; a closed case counts nowhere.
    other = make_unit(db, None, "PRQ", "province")
    school = make_unit(db, make_unit(db, other, "DQ1", "commune"), "SCH-Q", "school")
    db.execute(update(Case).where(Case.id == made[2].id).values(unit_id=school.id))
    db.execute(update(Case).where(Case.id == made[3].id).values(status="closed"))
    # Written past the services (as a bulk load does): the counts kept per unit, which the
    # metrics read as monitoring does, are computed again.
    tallies.rebuild(db.connection())
    db.commit()
    values = scrape(client)
    overdue = set(db.scalars(select(Case.id).where(overdue_condition())))
    provinces = db.scalars(select(Unit).where(Unit.kind == "province")).all()
    assert {"PRV", "PRQ"} <= {p.code for p in provinces}
    for province in provinces:
        open_ids = set(
            db.scalars(
                select(Case.id)
                .join(Unit, Case.unit_id == Unit.id)
                .where(Unit.path.startswith(province.path), Case.status != "closed")
            )
        )
        labels = ("province", province.code)
        assert values[("caseapp_cases_open", labels)] == len(open_ids), province.code
        assert values[("caseapp_cases_overdue", labels)] == len(open_ids & overdue)
    assert values[("caseapp_cases_overdue", ("province", "PRQ"))] == 1
    assert values[("caseapp_cases_open", ("province", "PRQ"))] == 1
    assert not any("Trường" in str(key) or "Unit " in str(key) for key in values)


def test_a_database_that_does_not_answer_leaves_the_scrape_working(
    client, token, tmp_path, monkeypatch
):
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'nothing.sqlite3'}")
    monkeypatch.setattr(metrics, "open_session", sessionmaker(bind=engine))
    values = scrape(client)
    engine.dispose()
    assert values[("caseapp_database_up",)] == 0
    assert not any(key[0].startswith(("caseapp_audit", "caseapp_cases")) for key in values)
    assert requests_of(values, "auth.login", "GET", "200") >= 0  # request metrics still there


def test_the_metrics_endpoint_is_public_but_allow_listed(app):
    from caseapp.access import PUBLIC_ENDPOINTS, declared_permission

    assert declared_permission(app, "observability.metrics") == PUBLIC
    assert "observability.metrics" in PUBLIC_ENDPOINTS


# --- gunicorn and several workers ---------------------------------------------------------------


def run_python(script: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


WORKERS = """
import os, sys
from types import SimpleNamespace
from caseapp.observability import gunicorn_hooks
gunicorn_hooks.on_starting(None)
from caseapp.observability import metrics
from prometheus_client import generate_latest
pids = []
for n in range(3):
    pid = os.fork()
    if pid == 0:
        metrics.REQUESTS.labels("main.index", "GET", "200").inc(n + 1)
        metrics.LATENCY.labels("main.index").observe(0.2)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
    gunicorn_hooks.child_exit(None, SimpleNamespace(pid=pid))
sys.stdout.write(generate_latest(metrics.request_collector()).decode())
"""


def test_request_counters_add_up_across_worker_processes(tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_99999.db").write_bytes(b"left by the previous run")
    out = run_python(WORKERS, PROMETHEUS_MULTIPROC_DIR=str(folder)).stdout
    values = {
        (s.name, *sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }
    assert requests_of(values, "main.index", "GET", "200") == 1 + 2 + 3
    assert values[("caseapp_http_request_duration_seconds_count", ("endpoint", "main.index"))] == 3
    assert not (folder / "counter_99999.db").exists()


GUNICORN_LOGS = """
import datetime, logging
from types import SimpleNamespace
from gunicorn.config import Config
from caseapp.observability import gunicorn_hooks as hooks
cfg = Config()
cfg.set("accesslog", "-")
cfg.set("access_log_format", hooks.access_log_format)
cfg.set("logconfig_dict", hooks.logconfig_dict)
cfg.set("logger_class", hooks.logger_class)
logger = cfg.logger_class(cfg)
hostile = 'x" \\\\ \\n{"forged": 1}'
environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/cases/?q=SECRET", "PATH_INFO": "/cases/" + hostile,
           "QUERY_STRING": "q=SECRET", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7",
           "HTTP_USER_AGENT": "agent " + hostile}
response = SimpleNamespace(status="404 NOT FOUND", sent=321,
                           headers=[("X-Request-Id", "rid-" + hostile)])
logger.access(response, SimpleNamespace(headers=[]), environ,
              datetime.timedelta(seconds=1, microseconds=2500))
logger.error("Worker (pid:%s) was sent SIGKILL!", 4242)
logging.getLogger("caseapp").warning("from the app")
"""


REPORTER_LOG = """
import datetime
from types import SimpleNamespace
from gunicorn.config import Config
from caseapp.observability import gunicorn_hooks as hooks
cfg = Config()
cfg.set("accesslog", "-")
cfg.set("access_log_format", hooks.access_log_format)
cfg.set("logger_class", hooks.logger_class)
logger = cfg.logger_class(cfg)
for path in ("/r/SCHOOLCODE77", "/r", "/r/follow", "/reports/"):
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": path + "?x=1", "PATH_INFO": path,
               "QUERY_STRING": "x=1", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.9.8.7",
               "HTTP_USER_AGENT": "PhoneAgent/1", "HTTP_X_FORWARDED_FOR": "10.9.8.7",
               "HTTP_REFERER": "https://x/r/SCHOOLCODE77"}
    response = SimpleNamespace(status="200 OK", sent=10, headers=[("X-Request-Id", "rid")])
    request = SimpleNamespace(headers=[("X-Forwarded-For", "10.9.8.7")])
    logger.access(response, request, environ, datetime.timedelta(seconds=0))
"""


def test_gunicorn_logs_no_address_nor_path_of_the_self_report_pages():
    """A pupil's address, phone and school must not be in the access log (issue 14)."""
    done = run_python(REPORTER_LOG)
    *reporter, other = json_lines(done.stdout)
    assert len(reporter) == 3
    for line in reporter:
        assert line["path"] == "/r/…" and line["remote"] == "-" and line["user_agent"] == "-"
        assert line["status"] == 200 and line["request_id"] == "rid"
    head = "\n".join(done.stdout.splitlines()[:3])
    assert "10.9.8.7" not in head and "SCHOOLCODE77" not in head and "PhoneAgent" not in head
    assert "follow" not in head
    # Every other page is logged as before.
    assert other["path"] == "/reports/" and other["remote"] == "10.9.8.7"


def test_gunicorn_access_and_error_logs_are_json_lines():
    done = run_python(GUNICORN_LOGS.replace("SECRET", SECRET))
    hostile = 'x" \\ \n{"forged": 1}'
    [access] = json_lines(done.stdout)
    assert access["path"] == "/cases/" + hostile  # the path only: no query string
    assert SECRET not in done.stdout
    assert access["status"] == 404 and access["bytes"] == 321
    assert access["duration_us"] == 1_002_500 and access["method"] == "GET"
    assert access["request_id"] == "rid-" + hostile
    assert access["user_agent"] == "agent " + hostile and access["remote"] == "10.0.0.7"
    assert access["time"].endswith("Z")
    errors = json_lines(done.stderr)
    assert [(e["logger"], e["level"], e["message"]) for e in errors] == [
        ("gunicorn.error", "ERROR", "Worker (pid:4242) was sent SIGKILL!"),
        ("caseapp", "WARNING", "from the app"),
    ]


@pytest.mark.parametrize("given", ['abc"}forged', "x" * 65, "id with spaces", "ñ"])
def test_a_request_id_that_is_not_a_plain_token_is_replaced(client, given):
    r = client.get("/healthz", headers={"X-Request-Id": given})
    assert r.headers["X-Request-Id"] != given
    assert len(r.headers["X-Request-Id"]) == 16


def test_a_plain_request_id_from_a_trusted_proxy_is_kept(client, app, monkeypatch):
    from dataclasses import replace

    monkeypatch.setitem(
        app.extensions,
        "caseapp.settings",
        replace(app.extensions["caseapp.settings"], trusted_proxies=1),
    )
    r = client.get("/login", headers={"X-Request-Id": "nginx-3f2a.b_9"})
    assert r.headers["X-Request-Id"] == "nginx-3f2a.b_9"


def test_without_a_trusted_proxy_the_client_never_chooses_the_request_id(browser, client, db):
    """The id goes into the audit trail: a client could otherwise tie its events together
    or make them look like another request's."""
    r = browser.post(
        "/login",
        data={"username": "nobody.here", "password": "x" * 12},
        headers={"X-Request-Id": "chosen-by-the-client"},
    )
    assert r.status_code == 200
    assert r.headers["X-Request-Id"] != "chosen-by-the-client"
    from sqlalchemy import select

    from caseapp.models import AuditEvent

    last = db.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert last.action.startswith("auth.") and last.request_id == r.headers["X-Request-Id"]
