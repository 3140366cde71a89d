"""Reports and monitoring read from the read replica (DATABASE_REPLICA_URL): here a second
database, a copy of the primary's committed rows with cases of its own, so every figure tells
which database it came from. What those pages write (the export's audit event, the sign-in
session) still goes to the primary; scoping and exclusions hold on the replica's rows (the
exclusions as the primary holds them); the pages say where their figures come from."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from caseapp import create_app
from caseapp.db import Base, get_read_session, get_session, make_engine
from caseapp.models import AuditEvent, Case, CaseCounter, CaseExclusion, Unit, User
from caseapp.services.cases import records as case_records
from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case
from tests.conftest import Database, IsolatedClient
from tests.factories import Visitor

DAY = date(2017, 9, 12)  # a day no other test of the suite records cases on
ON_DAY = {"period": "custom", "date_from": DAY.isoformat(), "date_to": DAY.isoformat()}
ON_REPLICA = 7  # cases of SCH-A on DAY in the replica (one of them hidden from officer_d1)
ON_PRIMARY = 2  # and in the primary
METRICS_TOKEN = "m" * 40


def _details() -> CaseDetails:
    return CaseDetails(
        received_on=DAY,
        received_via="in_person",
        reporter_kind="teacher",
        setting="in_school",
        violence_types=["physical"],
        child=True,
        harmed_sex="female",
        harmed_age_band="11-14",
        harmed_role="pupil",
        perpetrator_sex="male",
        perpetrator_age_band="11-14",
        perpetrator_relationship="pupil_peer",
        risk_level="medium",
    )


def _add_cases(session: Session, world, count: int) -> list[Case]:
    focal = session.get(User, world["focal_a"].id)
    school = session.get(Unit, world.units["SCH-A"])
    return [
        create_case(session, focal, school, _details(), CaseContent(harmed_name=f"Người {n}"))
        for n in range(count)
    ]


def _copy_committed_rows(source_url: str, target_url: str) -> None:
    """The primary's committed rows into the replica, as streaming replication would have
    them (ids included), foreign keys and triggers off while copying."""
    source, target = create_engine(source_url), create_engine(target_url)
    with source.connect() as read, target.begin() as write:
        if target.dialect.name == "postgresql":
            write.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(Base.metadata.sorted_tables):
            write.execute(table.delete())
        for table in Base.metadata.sorted_tables:
            rows = [dict(row) for row in read.execute(select(table)).mappings()]
            if rows:
                write.execute(insert(table), rows)
        if target.dialect.name == "postgresql":
            for table in Base.metadata.sorted_tables:
                if "id" in table.c and table.c.id.autoincrement in (True, "auto"):
                    write.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )
    source.dispose()
    target.dispose()


# The replica's own cases take ids from here on: never one the primary holds or gives while
# the tests run (their exclusions are mirrored onto the primary with their ids: rdb).
REPLICA_CASE_IDS = 900_000_000


def _cases_numbered_apart(engine) -> None:
    """PostgreSQL: the primary's sequence of case ids runs ahead of its largest committed id
    (every test's rolled-back cases took a number), so the replica's own cases, numbered
    after the largest id copied, could take ids the primary already holds. SQLite numbers
    each table's rows after its largest: both databases then agree up to the copy."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('cases', 'id'), {REPLICA_CASE_IDS})")
            )


@pytest.fixture(scope="module")
def replica(app, settings, tmp_path_factory):
    """The second database: migrated, the primary's rows copied, then cases of its own (one
    of them excluded for officer_d1), committed. Dropped afterwards."""
    from caseapp import migrate

    world = app.extensions["caseapp.world"]
    second = Database(tmp_path_factory.mktemp("replica-db"), "replica")
    second.create()
    engine = make_engine(second.url)
    try:
        migrate.upgrade(engine)
        _copy_committed_rows(settings.database_url, second.url)
        _cases_numbered_apart(engine)
        with app.test_request_context(), Session(engine, expire_on_commit=False) as session:
            cases = _add_cases(session, world, ON_REPLICA)
            focal = session.get(User, world["focal_a"].id)
            case_records.exclude(
                session, focal, cases[0], world["officer_d1"].username, "Người thân"
            )
            session.commit()
        yield second, engine
    finally:
        engine.dispose()
        second.drop()


@pytest.fixture(scope="module")
def replica_app(app, settings, replica):
    """The app on the run's primary database with the second one as its read replica."""
    second, _engine = replica
    application = create_app(
        replace(settings, database_replica_url=second.url, metrics_token=METRICS_TOKEN)
    )
    application.test_client_class = IsolatedClient
    application.config["PROPAGATE_EXCEPTIONS"] = False
    application.extensions["caseapp.world"] = app.extensions["caseapp.world"]
    yield application
    application.extensions["caseapp.engine"].dispose()
    application.extensions["caseapp.replica_engine"].dispose()


def _mirror_exclusions(replica_engine, connection) -> None:
    """The exclusions of the replica's own cases, with those cases, on the primary (in the
    test's transaction): a streaming replica holds only the primary's rows, and the screens
    read a person's exclusions from the primary with their sign-in session
    (services/cases/access.py), so an exclusion the primary lacks would be one lifted there
    already. (What the replica copied from the primary, committed exclusions included, is
    there already.)"""
    exclusions, cases, counters = (
        CaseExclusion.__table__,
        Case.__table__,
        CaseCounter.__table__,
    )
    on_primary = set(connection.scalars(select(cases.c.id)))
    with replica_engine.connect() as read:
        found = [
            dict(row)
            for row in read.execute(
                select(cases).where(cases.c.id.in_(select(exclusions.c.case_id)))
            ).mappings()
            if row["id"] not in on_primary
        ]
        ids = [row["id"] for row in found]
        rows = [
            dict(row)
            for row in read.execute(
                select(exclusions).where(exclusions.c.case_id.in_(ids))
            ).mappings()
        ]
        # Their schools' numbers too: the primary's next cases there take the next ones.
        numbered = [dict(row) for row in read.execute(select(counters)).mappings()]
    connection.execute(counters.delete())
    connection.execute(insert(counters), numbered)
    connection.execute(insert(cases), found)
    # Their own ids on the primary (the primary's own exclusions may hold the replica's).
    connection.execute(
        insert(exclusions), [{k: v for k, v in row.items() if k != "id"} for row in rows]
    )


@pytest.fixture()
def rdb(replica_app, replica):
    """The replica app's primary session on a connection rolled back after the test (as the
    db fixture does for the app), holding the replica's exclusions; the replica is read as
    committed."""
    from sqlalchemy.orm import sessionmaker

    engine = replica_app.extensions["caseapp.engine"]
    connection = engine.connect()
    outer = connection.begin()
    _mirror_exclusions(replica[1], connection)
    original = replica_app.extensions["caseapp.sessionmaker"]
    replica_app.extensions["caseapp.sessionmaker"] = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    ctx = replica_app.app_context()
    ctx.push()
    replica_app.extensions["caseapp.test_ctx"] = ctx
    session = get_session()
    try:
        with replica_app.test_request_context():
            _add_cases(session, replica_app.extensions["caseapp.world"], ON_PRIMARY)
            session.commit()
        yield session
    finally:
        replica_app.extensions.pop("caseapp.test_ctx", None)
        ctx.pop()
        replica_app.extensions["caseapp.sessionmaker"] = original
        outer.rollback()
        connection.close()


def _visitor(replica_app, rdb, name: str) -> Visitor:
    return Visitor(replica_app, rdb, replica_app.extensions["caseapp.world"][name])


def _total(html: str, table_key: str) -> str:
    """The grand total (last cell of the last row) of a report table on the page."""
    section = re.search(rf'id="t-{table_key}".*?</section>', html, re.S)
    assert section, table_key
    cells = re.findall(r"<td[^>]*>(?:<strong>)?([^<]*)(?:</strong>)?</td>", section.group(0))
    return cells[-1]


def _csv_total(body: str) -> str:
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    totals = [row for row in rows if row and row[0] in ("Tổng số", "Total")]
    return totals[0][-1]


def _school_row(html: str, name: str) -> list[str]:
    row = re.search(
        rf"<tr[^>]*>\s*<td class=\"name\"><a [^>]*>{name}</a></td>(.*?)</tr>", html, re.S
    )
    assert row, name
    return re.findall(r"<td>(?:<a [^>]*>)?(?:<strong[^>]*>)?(\d+)", row.group(1))


def _audit_exports(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "report.export")
    )


def test_the_report_page_counts_the_replica_s_cases_and_says_so(replica_app, rdb):
    officer_p = _visitor(replica_app, rdb, "officer_p")
    page = officer_p.get("/reports/", query_string={"unit": "SCH-A", **ON_DAY})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _total(html, "violence_by_sex") == str(ON_REPLICA)  # not ON_PRIMARY
    assert 'class="hint replica-lag"' in html  # a copy that is no standby: no warning
    # Exclusions hold on the replica's rows: officer_d1 does not count the case hidden from him.
    officer_d1 = _visitor(replica_app, rdb, "officer_d1")
    own = officer_d1.get("/reports/", query_string={"unit": "SCH-A", **ON_DAY})
    assert _total(own.get_data(as_text=True), "violence_by_sex") == str(ON_REPLICA - 1)


def test_an_export_reads_the_replica_and_is_audited_on_the_primary(replica_app, rdb, replica):
    _second, replica_engine = replica
    with Session(replica_engine) as on_replica:
        replica_events = _audit_exports(on_replica)
    before = _audit_exports(rdb)
    officer_p = _visitor(replica_app, rdb, "officer_p")
    export = officer_p.get(
        "/reports/export", query_string={"unit": "SCH-A", "format": "csv", **ON_DAY}
    )
    assert export.status_code == 200
    assert _csv_total(export.get_data(as_text=True)) == str(ON_REPLICA)
    assert _audit_exports(rdb) == before + 1
    event = rdb.scalar(select(AuditEvent).where(AuditEvent.action == "report.export"))
    assert (
        event is not None
        and event.actor_id == replica_app.extensions["caseapp.world"]["officer_p"].id
    )
    with Session(replica_engine) as on_replica:
        assert _audit_exports(on_replica) == replica_events  # nothing was written there


def test_monitoring_counts_the_replica_s_cases(replica_app, rdb):
    officer_d1 = _visitor(replica_app, rdb, "officer_d1")
    page = officer_d1.get("/monitoring", query_string={"unit": "D1"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # open, overdue, high risk, without a handler, all: the replica's cases, less the excluded.
    row = _school_row(html, "Trường A")
    assert row[0] == row[-1] == str(ON_REPLICA - 1)
    assert "replica-lag" in html
    officer_p = _visitor(replica_app, rdb, "officer_p")
    row = _school_row(officer_p.get("/monitoring").get_data(as_text=True), "Trường A")
    assert row[-1] == str(ON_REPLICA)


def test_scoping_holds_through_the_replica(replica_app, rdb):
    officer_d2 = _visitor(replica_app, rdb, "officer_d2")
    assert officer_d2.get("/reports/", query_string={"unit": "SCH-A", **ON_DAY}).status_code == 404
    assert (
        officer_d2.get(
            "/reports/export", query_string={"unit": "SCH-A", "format": "csv", **ON_DAY}
        ).status_code
        == 404
    )
    assert officer_d2.get("/reports/combined", query_string={"unit": "D1"}).status_code == 404
    page = officer_d2.get("/monitoring", query_string={"unit": "D1"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'class="alert" role="alert"' in html  # a form error
    assert "Trường A" not in html and "Trường C" in html


def test_a_write_through_the_read_session_fails(replica_app, rdb):
    with replica_app.app_context():
        read = get_read_session()
        assert read is not get_session()
        with pytest.raises(DBAPIError):
            read.execute(text("UPDATE units SET name = 'x' WHERE id = :id"), {"id": 1})
        read.rollback()


def test_without_a_replica_the_pages_read_the_primary_and_say_nothing(app, db, world):
    with app.app_context():
        assert get_read_session() is get_session()
    _add_cases(db, world, ON_PRIMARY)
    db.commit()
    page = Visitor(app, db, world["officer_p"]).get(
        "/reports/", query_string={"unit": "SCH-A", **ON_DAY}
    )
    html = page.get_data(as_text=True)
    assert _total(html, "violence_by_sex") == str(ON_PRIMARY)
    assert "replica-lag" not in html


@pytest.mark.parametrize(
    ("standby", "seconds", "late", "words"),
    [
        (False, None, False, "not a standby"),
        (True, 3.4, False, "about 3 seconds behind"),
        (True, 1, False, "about 1 second behind"),
        (True, 600, True, "about 10 minutes behind"),
        (True, None, True, "cannot be told"),
    ],
)
def test_the_lag_line(app, standby, seconds, late, words):
    from flask import render_template_string
    from flask_babel import force_locale

    from caseapp.services.reports.replica import ReplicaLag

    lag = ReplicaLag(standby=standby, seconds=seconds, warn_seconds=300)
    assert lag.late is late
    with app.test_request_context(), force_locale("en"):
        html = render_template_string('{% include "reports/_replica.html" %}', replica=lag)
    assert words in html
    assert ('class="alert replica-lag"' in html) is late


def test_metrics_show_the_replica(replica_app, rdb):
    body = (
        replica_app.test_client()
        .get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        .get_data(as_text=True)
    )
    assert "caseapp_replica_up 1.0" in body
    assert "caseapp_replica_standby 0.0" in body  # a plain second database
    assert "caseapp_replica_lag_seconds" not in body  # no lag to tell


def test_health_does_not_depend_on_the_replica(settings, database, tmp_path):
    """A replica that does not answer: /healthz still answers for the primary."""
    if database.dialect == "postgresql":
        gone = Database(tmp_path, "gone").url  # a database never created
    else:
        gone = f"sqlite:///{tmp_path / 'no-such-folder' / 'replica.sqlite3'}"
    application = create_app(replace(settings, database_replica_url=gone))
    try:
        answer = application.test_client().get("/healthz")
        assert answer.status_code == 200, answer.get_data(as_text=True)
    finally:
        application.extensions["caseapp.engine"].dispose()
        application.extensions["caseapp.replica_engine"].dispose()


def _excluded_on_the_primary_only(replica_app, rdb, replica, name: str) -> None:
    """One more of the replica's cases of SCH-A copied to the primary, and ``name`` excluded
    from it there only: committed on the primary, not received by the replica yet (its lag)."""
    _second, replica_engine = replica
    cases = Case.__table__
    on_primary = set(rdb.scalars(select(cases.c.id)))
    with replica_engine.connect() as read:
        hidden = set(read.scalars(select(CaseExclusion.__table__.c.case_id)))
        row = next(
            dict(found)
            for found in read.execute(
                select(cases)
                .where(cases.c.unit_id == replica_app.extensions["caseapp.world"].units["SCH-A"])
                .order_by(cases.c.id)
            ).mappings()
            if found["id"] not in on_primary | hidden
        )
    rdb.execute(insert(cases), [row])
    person = replica_app.extensions["caseapp.world"][name]
    rdb.execute(insert(CaseExclusion.__table__), [{"case_id": row["id"], "user_id": person.id}])
    rdb.commit()


@pytest.mark.parametrize("listed", [True, False])
def test_an_exclusion_the_replica_has_not_received_yet_already_holds(
    replica_app, rdb, replica, monkeypatch, listed
):
    """An exclusion committed on the primary that the replica has not received yet (its lag)
    hides the case from monitoring at once: a person's exclusions are read with their
    sign-in session, from the primary, or from the primary then when that session does not
    list them (past its limit)."""
    if not listed:
        from caseapp.services.accounts import sessions

        monkeypatch.setattr(sessions, "EXCLUSIONS_WRITTEN_MAX", 0)
    _excluded_on_the_primary_only(replica_app, rdb, replica, "officer_d1")
    page = _visitor(replica_app, rdb, "officer_d1").get("/monitoring", query_string={"unit": "D1"})
    assert _school_row(page.get_data(as_text=True), "Trường A")[-1] == str(ON_REPLICA - 2)


@pytest.mark.parametrize("listed", [True, False])
def test_an_exclusion_the_replica_has_not_received_yet_already_holds_on_reports(
    replica_app, rdb, replica, monkeypatch, listed
):
    """The same on the report page and its export, read from the replica: the case the
    primary says the person is excluded from is not counted, before the replica knows it;
    also for a person whose exclusions the sign-in session does not list (past its limit):
    the report asks the primary (services/reports/exclusions.py)."""
    if not listed:
        from caseapp.services.accounts import sessions

        monkeypatch.setattr(sessions, "EXCLUSIONS_WRITTEN_MAX", 0)
    officer_p = _visitor(replica_app, rdb, "officer_p")
    assert officer_p.get("/reports/combined", query_string={"unit": "D1"}).status_code == 200
    _excluded_on_the_primary_only(replica_app, rdb, replica, "officer_p")
    page = officer_p.get("/reports/", query_string={"unit": "SCH-A", **ON_DAY})
    assert _total(page.get_data(as_text=True), "violence_by_sex") == str(ON_REPLICA - 1)
    export = officer_p.get(
        "/reports/export", query_string={"unit": "SCH-A", "format": "csv", **ON_DAY}
    )
    assert _csv_total(export.get_data(as_text=True)) == str(ON_REPLICA - 1)
    # The combined report of the office counts every case: not for them any more.
    assert officer_p.get("/reports/combined", query_string={"unit": "D1"}).status_code == 404
    # Others still count it: the exclusion is the person's.
    officer_d1 = _visitor(replica_app, rdb, "officer_d1")
    own = officer_d1.get("/reports/", query_string={"unit": "SCH-A", **ON_DAY})
    assert _total(own.get_data(as_text=True), "violence_by_sex") == str(ON_REPLICA - 1)
