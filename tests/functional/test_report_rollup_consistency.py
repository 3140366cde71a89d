"""Report rollups kept consistent: a submission keeps its unit lock to the snapshot (no commit
halfway), and a report read from the replica never sums rollups of another moment than the
cases it takes out (an excluded officer saw -1) nor misses changes not folded yet (review of
issue 16)."""

from __future__ import annotations

import pytest

from tests.functional.test_read_replica import (  # noqa: F401 - fixtures used by name
    ON_REPLICA,
    _total,
    _visitor,
    rdb,
    replica,
    replica_app,  # noqa: F811
)

WHOLE_MONTH = {"period": "custom", "date_from": "2017-09-01", "date_to": "2017-09-30"}


def test_replica_report_of_whole_months_gives_the_excluded_officer_what_he_may_see(
    replica_app,  # noqa: F811
    rdb,  # noqa: F811
):
    """The replica holds cases (and their rollup marks) whose rollups the primary has not
    refreshed yet there (as a standby does between a case's commit and the next refresh's
    replication). A whole-month report reads the replica's stale rollups but takes out the
    excluded case as it is *now* on the replica: the excluded officer's figure is not what
    the cases he may see give (here it goes below zero)."""
    officer_d1 = _visitor(replica_app, rdb, "officer_d1")
    page = officer_d1.get("/reports/", query_string={"unit": "SCH-A", **WHOLE_MONTH})
    assert page.status_code == 200
    seen = int(_total(page.get_data(as_text=True), "violence_by_sex"))
    assert seen >= 0, f"a negative count shown to the excluded officer: {seen}"
    assert seen == ON_REPLICA - 1


def test_replica_report_of_whole_months_counts_the_cases_the_replica_holds(
    replica_app,  # noqa: F811
    rdb,  # noqa: F811
):
    """Same replica: a whole-month report (rollups) does not count the cases the replica
    holds (their marks were replicated, the refresh ran on the primary and is not on the
    replica yet), while the same period as days (scan) does: the figures are older than the
    lag the page states, by as long as nobody opened a report."""
    officer_p = _visitor(replica_app, rdb, "officer_p")
    whole = officer_p.get("/reports/", query_string={"unit": "SCH-A", **WHOLE_MONTH})
    days = officer_p.get(
        "/reports/",
        query_string={
            "unit": "SCH-A",
            "period": "custom",
            "date_from": "2017-09-02",
            "date_to": "2017-09-30",
        },
    )
    assert whole.status_code == days.status_code == 200
    by_scan = int(_total(days.get_data(as_text=True), "violence_by_sex"))
    assert by_scan == ON_REPLICA
    assert int(_total(whole.get_data(as_text=True), "violence_by_sex")) == by_scan


def test_a_submission_holds_its_unit_lock_until_the_snapshot_is_written(app, db, world):
    """periods.submit() locks the unit (lock_unit: saves of the figures and text wait for the
    submission) and then builds the figures; for a period of whole months build() reads the
    rollups, whose refresh commits the caller's transaction when it "wrote nothing else" -
    which releases that lock before the snapshot is even added."""
    from sqlalchemy import event

    from caseapp.services.reports import periods as reports
    from tests.functional.report_support import unit, user
    from tests.functional.test_report_submission_exports import _complete, annual

    _complete(db, world)
    commits: list[int] = []

    def committed(_session) -> None:
        commits.append(1)  # from rollups.sums: writer.commit()

    event.listen(db, "after_commit", committed)
    try:
        reports.submit(db, user(db, world, "focal_a"), unit(db, world, "SCH-A"), annual())
    finally:
        event.remove(db, "after_commit", committed)
    assert commits == [], "submit() committed (and released the unit lock) part way"


@pytest.fixture(scope="module")
def races_app(settings, database, tmp_path_factory):
    """The app on a database of its own (snapshots are never deleted), PostgreSQL only."""
    from dataclasses import replace

    from caseapp import create_app, migrate
    from tests.conftest import Database, IsolatedClient

    if database.dialect != "postgresql":
        pytest.skip("SQLite serialises every writer; this race needs PostgreSQL")
    own = Database(tmp_path_factory.mktemp("rv-races-db"), "rvraces")
    own.create()
    application = create_app(replace(settings, database_url=own.url))
    application.test_client_class = IsolatedClient
    try:
        migrate.upgrade(application.extensions["caseapp.engine"])
        yield application
    finally:
        application.extensions["caseapp.engine"].dispose()
        own.drop()


def test_a_save_in_the_middle_of_a_submission_waits_and_is_refused(races_app, monkeypatch):
    """The consequence of the commit inside submit(): a save of the school's statistics made
    after the figures are built and before the snapshot is written (while the work report
    is gathered) no longer waits for the unit's row: it is accepted during the submission."""
    import threading

    from caseapp.db import get_session
    from caseapp.errors import Conflict
    from caseapp.models import Unit, User
    from caseapp.services.equality import statistics
    from caseapp.services.equality import work as equality_work
    from caseapp.services.org.units import unit_by_code
    from caseapp.services.reports.periods import period_by_key, submit
    from tests.factories import complete_work_report
    from tests.functional.test_concurrency_races import tree as make_tree
    from tests.functional.test_unit_statistics import consistent

    app = races_app
    tree = make_tree.__wrapped__(app)
    with app.test_request_context():
        period = period_by_key("six_month:2020")
        session = get_session()
        school = unit_by_code(session, tree.school)
        complete_work_report(session, tree.focal, school, period)
        session.commit()
        school_id = school.id
        version = statistics.statistics_of(session, school, period.key).version
    in_window, saved = threading.Event(), threading.Event()
    outcome: dict[str, str] = {}
    real_gather = equality_work.gather

    def gather(*args, **kwargs):
        in_window.set()
        saved.wait(3)  # a save that does not wait for the unit's row is done by now
        return real_gather(*args, **kwargs)

    monkeypatch.setattr(equality_work, "gather", gather)

    def save() -> None:
        in_window.wait(10)
        with app.test_request_context():
            s = get_session()
            actor, unit = s.get(User, tree.focal.id), s.get(Unit, school_id)
            try:
                statistics.save(s, actor, unit, period, consistent(unit.level), (), version)
                s.commit()
                outcome["save"] = "saved"
            except Conflict:
                s.rollback()
                outcome["save"] = "refused"
            finally:
                saved.set()

    worker = threading.Thread(target=save)
    worker.start()
    with app.test_request_context():
        session = get_session()
        actor, unit = session.get(User, tree.focal.id), session.get(Unit, school_id)
        submit(session, actor, unit, period)
        session.commit()
    worker.join(15)
    assert outcome == {"save": "refused"}
