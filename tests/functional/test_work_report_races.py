"""Two submissions of one period report at once, and two first saves of a unit's statistics at
once (PostgreSQL only): one wins, the other is refused cleanly (409), never a 500; one snapshot."""

from __future__ import annotations

from sqlalchemy import select

from caseapp.models import ReportSnapshot, Unit
from caseapp.services.reports import periods as reports
from tests.factories import complete_work_report
from tests.functional.test_concurrency_races import (  # noqa: F401 - the fixtures
    _at_once,
    _client,
    _postgres_only,
    tree,
)

PERIOD = "six_month:2020"


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
