"""The write path of an intake (issue 16): what the session events add to the case's own
statements, and what holds when intakes run at once.

- An intake writes each per-school count with one ``INSERT ... ON CONFLICT DO UPDATE``, marks
  its school and month for the rollups, and asks nothing it already knows (no table lookup
  once the tables were found, no read-back of the case it inserted).
- On PostgreSQL the counts are written once the intake holds the audit chain's lock, and only
  the event and the commit come after them (the chain is held as briefly as before); a
  deferred block that fails writes nothing.
- On PostgreSQL: intakes at once at one school and at two lose no count, draw distinct
  references and leave one gap-free chain; an intake running while another transaction that
  already holds the audit chain changes a case of the same school waits for it instead of
  deadlocking (the chain's lock is taken before the school's count rows).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.db import get_session
from caseapp.models import AuditEvent, Case, Unit, User
from caseapp.models.reports import CaseRollupMark, UnitCaseTally, UnitMonthTally
from caseapp.runtime import keyring
from caseapp.services.audit import integrity as audit_integrity
from caseapp.services.audit.trail import changes_of, record
from caseapp.services.cases import tallies
from caseapp.services.cases.intake import CaseContent, create_case
from caseapp.services.reports import rollups
from tests.factories import make_unit, make_user, squeezed, statements_sent
from tests.functional.case_attack_support import case_details


def _intake(session, actor_id: int, unit_id: int, **details) -> Case:
    actor = session.get(User, actor_id)
    unit = session.get(Unit, unit_id)
    return create_case(
        session, actor, unit, case_details(**details), CaseContent(narrative="Một lời kể.")
    )


def test_an_intake_counts_and_marks_once_and_reads_nothing_back(db, world):
    school = world.units["SCH-B"]
    tallies.rebuild(db.connection())
    _intake(db, world["focal_b"].id, school)  # the tables are found once, then remembered
    db.commit()  # (a savepoint of the test's transaction) the next intake starts afresh
    with statements_sent(db.get_bind().engine) as sent:
        case = _intake(db, world["focal_b"].id, school)
        db.flush()
    seen = [squeezed(s) for s in sent]
    counts = [s for s in seen if "_tallies" in s]
    # One statement a table (all in one on PostgreSQL), each adding to the row in place.
    assert all(s.count("ON CONFLICT") == s.count("INSERT INTO") for s in counts), counts
    assert sum(s.count("INSERT INTO unit_case_tallies") for s in counts) == 1, counts
    assert sum(s.count("INSERT INTO unit_month_tallies") for s in counts) == 1, counts
    # The day the new case's clock runs out, and its month, too (its verification clock).
    assert sum(s.count("INSERT INTO unit_overdue_month_tallies") for s in counts) == 1, counts
    assert sum(s.count("INSERT INTO unit_overdue_day_tallies") for s in counts) == 1, counts
    postgres = db.get_bind().dialect.name == "postgresql"
    assert len(counts) == (1 if postgres else 4), counts
    if postgres:
        # The counts under the chain's lock, taken after the informant and the name index:
        # from the lock on, only the counts, the event and the commit.
        lock = next(i for i, s in enumerate(seen) if "pg_advisory_xact_lock" in s)
        assert seen.index(counts[0]) > lock
        assert max(i for i, s in enumerate(seen) if "INSERT INTO case_" in s) < lock
    assert not [s for s in seen if "pg_class" in s or "sqlite_master" in s], seen
    assert not [s for s in seen if s.startswith("SELECT cases.unit_id")], seen
    assert len([s for s in seen if s.startswith("INSERT INTO case_rollup_marks")]) == 1
    month = rollups.month_of(case.received_on)
    assert db.scalar(
        select(func.count())
        .select_from(CaseRollupMark)
        .where(CaseRollupMark.unit_id == school, CaseRollupMark.month == month)
    )
    conn = db.connection()
    assert tallies.stored(conn) == tallies.computed(conn)


# -- PostgreSQL: at once ----------------------------------------------------------------------


@pytest.fixture()
def own(app, database) -> dict:
    """Two schools of their own with a focal point each, committed (the intakes below commit
    for real: no other test counts these)."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite serialises every writer; intakes at once need PostgreSQL")
    tag = secrets.token_hex(3).upper()
    with app.app_context():
        session = get_session()
        province = make_unit(session, None, f"W{tag}", "province")
        district = make_unit(session, province, f"W{tag}-D", "commune")
        schools = [make_unit(session, district, f"W{tag}-S{i}", "school") for i in (1, 2)]
        focal = {
            school.id: make_user(
                session, keyring(), f"focal{i}.w{tag.lower()}", school, [("focal_point", school)]
            ).id
            for i, school in enumerate(schools)
        }
        session.commit()
        return {"schools": [school.id for school in schools], "focal": focal}


def _counts(session, unit_ids) -> dict:
    units = {
        u: (t.open, t.high_risk, t.unassigned, t.total) if t else None
        for u in unit_ids
        for t in [session.get(UnitCaseTally, u)]
    }
    months = {
        (r.unit_id, r.month): r.received
        for r in session.scalars(select(UnitMonthTally).where(UnitMonthTally.unit_id.in_(unit_ids)))
    }
    return {"units": units, "months": months}


def _record_update(session, case: Case) -> None:
    """The event of a change made to ``case`` here, recorded as a service records it."""
    record(session, None, "case.update", case, unit=case.unit, changes=changes_of(case))


def _run_at_once(app, jobs) -> list[Exception]:
    errors: list[Exception] = []
    barrier = threading.Barrier(len(jobs))

    def run(job) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                job(get_session())
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def _chain_ok(app) -> None:
    with app.app_context():
        session = get_session()
        report = audit_integrity.verify(session, keyring())
        assert report.ok, report.problem
        seqs = session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
        assert seqs == list(range(1, len(seqs) + 1))


def test_intakes_at_once_lose_no_count(app, own):
    """Six threads, four intakes each, at two schools: every case counted, in the school and
    the month of receipt, references distinct, the chain whole."""
    schools, focal = own["schools"], own["focal"]
    with app.app_context():
        session = get_session()
        before = _counts(session, schools)
    made: list[tuple[int, str]] = []

    def job_for(n: int):
        school = schools[n % 2]

        def job(session) -> None:
            for _ in range(4):
                case = _intake(session, focal[school], school, risk_level="high")
                session.commit()
                made.append((school, case.reference))

        return job

    errors = _run_at_once(app, [job_for(n) for n in range(6)])
    assert not errors, errors
    assert len(made) == 24 and len({ref for _s, ref in made}) == 24
    with app.app_context():
        session = get_session()
        after = _counts(session, schools)
        for school in schools:
            old = before["units"][school] or (0, 0, 0, 0)
            new = after["units"][school]
            assert new is not None
            assert (new[0] - old[0], new[1] - old[1], new[3] - old[3]) == (12, 12, 12)
        received = sum(after["months"].values()) - sum(before["months"].values())
        assert received == 24
        conn = session.connection()
        assert tallies.stored(conn) == tallies.computed(conn)
    _chain_ok(app)


def test_clocks_moved_at_once_lose_no_overdue_count(app, own):
    """Four threads each move the clocks of three cases of one school to the same day at once
    (the same row of the school's overdue days and months), with an intake beside them: every
    move counted once, the counts equal a fresh count, the chain whole."""
    school = own["schools"][0]
    focal = own["focal"][school]
    with app.app_context():
        session = get_session()
        ids = [_intake(session, focal, school, risk_level="low").id for _ in range(12)]
        session.commit()
    # A day well ahead: the same row for all, and no case left overdue in the shared database
    # (the reminders' tests count every overdue case there).
    day = local_today() + timedelta(days=40)

    def job_for(n: int):
        def job(session) -> None:
            for case_id in ids[n * 3 : n * 3 + 3]:
                target = session.get(Case, case_id)
                # Every clock the intake set moved to that day.
                target.intervention_due_at = None
                target.verification_due_on = target.support_due_on = day
                _record_update(session, target)
                session.commit()

        return job

    def intake(session) -> None:
        _intake(session, focal, school, risk_level="low")
        session.commit()

    errors = _run_at_once(app, [job_for(n) for n in range(4)] + [intake])
    assert not errors, errors
    with app.app_context():
        session = get_session()
        conn = session.connection()
        stored, computed = tallies.stored(conn), tallies.computed(conn)
        assert stored == computed
        # The day those clocks run out holds the twelve cases.
        assert stored[3][(school, day)] == 12
    _chain_ok(app)


def test_an_intake_waits_for_a_change_that_holds_the_chain(app, own):
    """A transaction records an event (it now holds the chain's lock), then changes a case of
    the school an intake is recording at. The intake waits for the chain before it touches the
    school's count rows, so the change goes through and both commit (before the lock order
    was fixed, the intake held the school's row and waited for the chain while the change
    waited for that row: PostgreSQL's deadlock detector ended one of them)."""
    school = own["schools"][0]
    focal = own["focal"][school]
    with app.app_context():
        session = get_session()
        case = _intake(session, focal, school, risk_level="low")
        session.commit()
        case_id = case.id
        before = _counts(session, [school])["units"][school]
    assert before is not None
    errors: list[Exception] = []
    holding = threading.Event()

    def change() -> None:
        try:
            with app.app_context():
                session = get_session()
                record(session, None, "test.hold_chain", reason="lock order")
                session.flush()
                holding.set()
                time.sleep(1.5)  # the intake reaches its first flush meanwhile
                target = session.get(Case, case_id)
                target.risk_level = "high"
                _record_update(session, target)
                session.commit()
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
            holding.set()

    def intake() -> None:
        try:
            holding.wait(10)
            with app.app_context():
                session = get_session()
                _intake(session, focal, school, risk_level="low")
                session.commit()
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=change), threading.Thread(target=intake)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with app.app_context():
        session = get_session()
        after = _counts(session, [school])["units"][school]
        assert after is not None
        # One more case, one more high-risk one (the change), both counted.
        assert (after[1] - before[1], after[3] - before[3]) == (1, 1)
    _chain_ok(app)


def test_a_deferred_block_that_fails_writes_no_count(db, world):
    """tallies.deferred: the counts of its flushes are written at its end, or not at all."""
    school = world.units["SCH-A"]
    tallies.rebuild(db.connection())
    before = tallies.stored(db.connection())
    with pytest.raises(RuntimeError), tallies.deferred(db):
        _intake(db, world["focal_a"].id, school)  # its flush, its counts pending
        raise RuntimeError("refused after the flush")
    assert tallies.DEFERRED not in db.info
    if db.get_bind().dialect.name == "postgresql":  # SQLite writes in the flush: no deferral
        assert tallies.stored(db.connection()) == before
    db.rollback()
