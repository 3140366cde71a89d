"""The daily screens' statements sent with their values written in (prepared_statements.
written_in) reach PostgreSQL without a parameter, and with the same SQL at each visit: so
each is planned once per connection, not on every page. The present is PostgreSQL's now()
(db.present), not a value that changes at each run."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from caseapp.prepared_statements import WRITTEN_IN
from tests.factories import Visitor, squeezed, statements_sent

PAGES = {
    "officer_d1": [
        "/",
        "/monitoring",
        "/cases/",
        "/cases/?overdue=y",
        "/cases/?due=today",
        "/cases/?due=fortnight",
        "/cases/?violence=physical&status=new",
    ],
    "focal_a": ["/", "/work", "/cases/", "/cases/?due=today"],
}


def _written(app, visitor: Visitor, path: str) -> list[tuple[str, dict]]:
    sent: list[tuple[str, dict]] = []

    def seen(_conn, _cursor, statement, parameters, context, _many) -> None:
        if context is not None and context.execution_options.get(WRITTEN_IN):
            sent.append((statement, dict(parameters or {})))

    engine = app.extensions["caseapp.engine"]
    event.listen(engine, "after_cursor_execute", seen)
    try:
        assert visitor.get(path).status_code == 200, path
    finally:
        event.remove(engine, "after_cursor_execute", seen)
    return sent


@pytest.mark.parametrize("person", sorted(PAGES))
def test_each_visit_sends_the_same_statements_without_parameters(app, db, world, person):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans of prepared statements (SQLite plans each statement)")
    Visitor(app, db, world["focal_a"]).intake(db, world.units["SCH-A"])
    db.commit()
    visitor = Visitor(app, db, world[person], lang="en")
    for path in PAGES[person]:
        first = _written(app, visitor, path)
        again = _written(app, visitor, path)
        assert len(first) >= 2, (path, first)  # the menu's counts and the page's own
        assert first == again, path
        for statement, params in first:
            assert params == {}, (path, statement, params)
            assert "%(" not in statement, (path, statement)
        if "overdue" in path or "due=today" in path or path in ("/", "/work"):
            assert any("now()" in statement for statement, _ in first), path


def test_what_a_person_typed_stays_a_parameter(app, db, world):
    """A reference search (and a person's uid) is never written into the SQL, where a log of
    a failed statement would show it: those lists keep their parameters."""
    sent: list[tuple[str, str]] = []

    def seen(_conn, _cursor, statement, parameters, *_args) -> None:
        sent.append((statement, repr(parameters)))

    engine = app.extensions["caseapp.engine"]
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    event.listen(engine, "after_cursor_execute", seen)
    try:
        assert officer.get("/cases/?q=NGUYEN").status_code == 200
    finally:
        event.remove(engine, "after_cursor_execute", seen)
    assert not [statement for statement, _ in sent if "NGUYEN" in statement]
    assert [params for _, params in sent if "NGUYEN" in params]


# What a daily screen may still send with parameters: the kinds of violence of the list's
# cases (their ids differ from page to page: written in, each page would be a text of its own).
_PARAMETERS_ALLOWED = ("FROM case_violence_types WHERE case_violence_types.case_id IN",)


@pytest.mark.parametrize("person", sorted(PAGES))
def test_every_statement_of_the_screens_has_its_values_written_in(app, db, world, person):
    """Not only those sent with the option: every statement the daily screens send (the
    sign-in session's, the scope's units, the counts' planner settings...) reaches PostgreSQL
    without a parameter, but for the list's kinds of violence."""
    engine = app.extensions["caseapp.engine"]
    if engine.dialect.name != "postgresql":
        pytest.skip("values are written in on PostgreSQL only")
    visitor = Visitor(app, db, world[person])
    for path in PAGES[person]:
        assert visitor.get(path).status_code == 200, path  # the session touched, stores filled
    with statements_sent(engine) as as_sent:
        for path in PAGES[person]:
            assert visitor.get(path).status_code == 200, path
    sent = [squeezed(s) for s in as_sent]
    with_parameters = [
        s for s in sent if "%(" in s and not any(a in s for a in _PARAMETERS_ALLOWED)
    ]
    assert len(sent) > 3 * len(PAGES[person]) and not with_parameters, with_parameters
