"""A streamed response (the audit CSV) reads in a session of its own and gives its connection
back when the stream ends: before, the rows were read through the view's session after it was
closed, leaving a connection checked out in a transaction, and on SQLite every later write
failed with "database is locked" until the server restarted.

Runs on an app of its own over an SQLite file (the suite's app shares one test connection)."""

from __future__ import annotations

from sqlalchemy import func, select

from caseapp import create_app, migrate
from caseapp.db import get_session
from caseapp.models import AuditEvent
from caseapp.runtime import keyring
from config import load_settings
from tests.factories import make_unit, make_user, sign_in_client


def test_the_audit_csv_gives_its_connection_back(tmp_path, monkeypatch):
    monkeypatch.setenv("CASEAPP_INSTANCE", str(tmp_path))
    url = f"sqlite:///{tmp_path}/stream.sqlite3"
    app = create_app(
        load_settings(
            "testing", environ={"CASEAPP_TEST_DB": url, "CASEAPP_INSTANCE": str(tmp_path)}
        )
    )
    engine = app.extensions["caseapp.engine"]
    migrate.upgrade(engine)
    with app.app_context():
        session = get_session()
        province = make_unit(session, None, "PRV", "province")
        auditor = make_user(session, keyring(), "auditor.stream", province, [("auditor", province)])
        session.commit()
    client = app.test_client()
    with app.app_context():
        sign_in_client(client, get_session(), auditor)
        get_session().commit()
    response = client.get("/audit/events.csv")
    body = response.get_data(as_text=True)
    response.close()
    assert response.status_code == 200 and body.startswith("\ufeffseq,")
    assert engine.pool.checkedout() == 0
    with app.app_context():  # and a write goes through at once
        session = get_session()
        make_unit(session, None, "PRV2", "province")
        session.commit()
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "audit.export")
            )
            == 1
        )
    engine.dispose()
