"""Races around the submission of a period report (PostgreSQL only): two submissions at once,
two first saves of a unit's statistics at once (one wins, the other is refused cleanly, 409,
never a 500; one snapshot), a save during a submission (it waits and is refused).

These tests commit for real, and snapshots and audit events can never be deleted: they run on
a database of their own, so no other test ever counts what they submitted."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from caseapp.db import get_session
from caseapp.models import ReportSnapshot, Unit, User
from caseapp.services.reports import periods as reports
from tests.factories import complete_work_report
from tests.functional.test_concurrency_races import (  # noqa: F401 - the fixtures
    _at_once,
    _client,
    _postgres_only,
    tree,
)

PERIOD = "six_month:2020"


@pytest.fixture(scope="module")
def app(settings, database, tmp_path_factory):
    """The app on a database of its own (created, migrated; dropped afterwards)."""
    from dataclasses import replace

    from caseapp import create_app, migrate
    from tests.conftest import Database, IsolatedClient

    if database.dialect != "postgresql":
        pytest.skip("SQLite serialises every writer; these races need PostgreSQL")
    own = Database(tmp_path_factory.mktemp("races-db"), "races")
    own.create()
    application = create_app(replace(settings, database_url=own.url))
    application.test_client_class = IsolatedClient
    application.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        migrate.upgrade(application.extensions["caseapp.engine"])
        yield application
    finally:
        application.extensions["caseapp.engine"].dispose()
        own.drop()


def period() -> reports.Period:
    return reports.period_by_key(PERIOD)


def test_two_submissions_at_once_end_in_one_snapshot_and_a_clean_refusal(app, tree):  # noqa: F811
    from caseapp.db import get_session
    from caseapp.models import User

    with app.app_context(), app.test_request_context():
        session = get_session()
        school = session.scalar(select(Unit).where(Unit.code == tree.school))
        complete_work_report(session, tree.focal, school, period())
        session.commit()
    results = {}
    clients = [_client(app, tree.focal.id, f"{tree.ip[:-1]}{n}") for n in (1, 2)]

    def post(n):
        client, token = clients[n]

        def go():
            r = client.post(
                "/equality/submit",
                data={"csrf_token": token, "unit": tree.school, "period": PERIOD, "confirm": "y"},
            )
            results[n] = r.status_code

        return go

    _at_once(post(0), post(1))
    with app.app_context():
        session = get_session()
        school = session.scalar(select(Unit).where(Unit.code == tree.school))
        snaps = session.scalars(
            select(ReportSnapshot).where(ReportSnapshot.unit_id == school.id)
        ).all()
        assert len(snaps) == 1
        assert User  # noqa
    assert sorted(results.values()) in ([302, 302], [302, 409]), results


def test_two_first_saves_of_statistics_at_once_end_in_a_conflict_not_a_500(app, tree):  # noqa: F811
    from caseapp.db import get_session
    from caseapp.models.equality import UnitStatistics
    from caseapp.services.equality import figures

    with app.app_context():
        session = get_session()
        school = session.scalar(select(Unit).where(Unit.code == tree.school))
        keys = figures.keys_for(school.level)
        school_id = school.id
    results = {}
    clients = [_client(app, tree.focal.id, f"{tree.ip[:-1]}{n}") for n in (3, 4)]
    url = f"/equality/statistics?unit={tree.school}&period={PERIOD}"

    def post(n):
        client, token = clients[n]

        def go():
            data = {
                "csrf_token": token,
                "version": "0",
                "source": "form",
                **dict.fromkeys(keys, "0"),
            }
            results[n] = client.post(url, data=data).status_code

        return go

    _at_once(post(0), post(1))
    with app.app_context():
        rows = (
            get_session()
            .scalars(select(UnitStatistics).where(UnitStatistics.unit_id == school_id))
            .all()
        )
        assert len(rows) == 1
    assert sorted(results.values()) in ([302, 302], [302, 409]), results


@pytest.mark.parametrize("part", ["statistics", "narrative"])
def test_a_save_during_a_submission_waits_and_is_refused(app, tree, part):  # noqa: F811
    """A school's figures or text saved while its report is being submitted: the save waits
    for the submission (the unit's row is held) and is then refused, so the live figures and
    text stay those that were frozen."""
    import json

    from caseapp.errors import Conflict
    from caseapp.models import ReportSnapshot
    from caseapp.services.equality import narrative, statistics
    from caseapp.services.org.units import unit_by_code
    from caseapp.services.reports.periods import period_by_key, submit
    from tests.factories import complete_work_report
    from tests.functional.test_unit_statistics import consistent

    with app.test_request_context():
        period = period_by_key("six_month:2020")
        session = get_session()
        school = unit_by_code(session, tree.school)
        complete_work_report(session, tree.focal, school, period)
        session.commit()
        school_id, version = school.id, statistics.statistics_of(session, school, period.key)
        version = version.version if version is not None else 0
        draft_version = narrative.draft_of(session, school, period).version
    submitting = threading.Event()
    outcome: dict[str, object] = {}

    def save():
        submitting.wait(5)
        with app.test_request_context():
            session = get_session()
            actor, unit = session.get(User, tree.focal.id), session.get(Unit, school_id)
            try:
                if part == "statistics":
                    statistics.save(
                        session, actor, unit, period, consistent(unit.level), (), version
                    )
                else:
                    narrative.save_draft(
                        session,
                        actor,
                        unit,
                        period,
                        narrative.DraftInput(sections={"general": "Sửa sau khi nộp."}),
                        draft_version,
                    )
                session.commit()
                outcome["save"] = "saved"
            except Conflict:
                session.rollback()
                outcome["save"] = "refused"

    worker = threading.Thread(target=save)
    worker.start()
    with app.test_request_context():
        session = get_session()
        actor, unit = session.get(User, tree.focal.id), session.get(Unit, school_id)
        submit(session, actor, unit, period)
        submitting.set()
        time.sleep(0.5)  # the save is now waiting for the unit's row
        session.commit()
    worker.join(10)
    assert outcome == {"save": "refused"}
    with app.test_request_context():
        session = get_session()
        unit = session.get(Unit, school_id)
        snap = session.scalar(
            select(ReportSnapshot).where(
                ReportSnapshot.unit_id == school_id, ReportSnapshot.period_key == period.key
            )
        )
        work = json.loads(snap.data)["work"]
        live = statistics.figures(statistics.statistics_of(session, unit, period.key))
        assert work["statistics"] == live
        assert work["sections"] == narrative.sections_of(narrative.draft_of(session, unit, period))
