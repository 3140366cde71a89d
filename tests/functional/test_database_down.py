"""The database goes away in the middle of a request (a restart, the network): the person gets
the service's own 503 page, in their language, with its request id and headers, rendered
without the database (gunicorn's bare page was what they saw)."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.factories import sign_in_client


class DatabaseGone(Exception):
    pass


@pytest.fixture()
def database_goes_away(app, monkeypatch):
    """From the moment the home page asks for its counts, every statement fails as a dead
    connection does."""
    engine = app.extensions["caseapp.engine"]
    state = {"down": False}

    def refuse(conn, cursor, statement, parameters, context, executemany):
        if state["down"]:
            raise OperationalError(statement, {}, DatabaseGone("server closed the connection"))

    def counts(*_args, **_kwargs):
        state["down"] = True
        raise OperationalError("SELECT ...", {}, DatabaseGone("terminating connection"))

    event.listen(engine, "before_cursor_execute", refuse)
    monkeypatch.setattr("caseapp.services.cases.listing.attention_counts", counts)
    yield state
    state["down"] = False
    event.remove(engine, "before_cursor_execute", refuse)


def test_a_request_that_loses_the_database_gets_the_503_page(
    client, db, world, database_goes_away, caplog
):
    sign_in_client(client, db, world["focal_a"])
    r = client.get("/")
    assert database_goes_away["down"]
    assert r.status_code == 503
    page = r.get_data(as_text=True)
    assert "Dịch vụ tạm thời không sẵn sàng" in page  # Vietnamese, the default language
    assert r.headers["X-Request-Id"] in page
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert r.headers["Cache-Control"] == "no-store"
    lines = [rec for rec in caplog.records if "database unavailable" in rec.getMessage()]
    assert len(lines) == 1 and "DatabaseGone" in lines[0].getMessage()
