"""Each case keeps the instant of its last transition to "closed" (services/cases/closures.py),
read by the retention lists instead of every closure of the archive grouped by case: on random
histories written through the session in any order, in one flush or several, the kept instant
is the latest closure; the repair command finds a stale one; the retention lists read no
transition."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from caseapp.models import AuditEvent, Case, CaseTransition
from caseapp.models import cases as domain
from caseapp.services.cases.closures import latest_closure
from caseapp.services.privacy import receipts, retention
from tests.factories import Visitor, statements_sent
from tests.functional.report_support import CASES, new_case
from tests.functional.workflow_support import move, reach

BASE = datetime(2025, 3, 1, 17, tzinfo=UTC)
histories = st.lists(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2),  # which case
            st.sampled_from(domain.STATUSES),
            st.integers(min_value=-5, max_value=400),  # days from BASE: any order
        ),
        max_size=5,
    ),
    min_size=1,
    max_size=3,
)


def _kept_is_latest(db, cases: list[Case]) -> None:
    for case in cases:
        kept = db.scalar(select(Case.closed_at).where(Case.id == case.id))
        assert kept == db.scalar(select(latest_closure(case.id))), case.reference
        assert case.closed_at == kept  # the session's object reads it again


@settings(
    max_examples=int(os.environ.get("CLOSED_AT_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(flushes=histories)
def test_the_kept_instant_is_the_latest_closure(db, world, flushes):
    nested = db.begin_nested()
    try:
        cases = [new_case(db, world, spec) for spec in CASES[:3]]
        db.flush()
        for flush in flushes:
            for which, status, days in flush:
                db.add(
                    CaseTransition(
                        case_id=cases[which].id,
                        from_status="new",
                        to_status=status,
                        at=BASE + timedelta(days=days, seconds=which),
                    )
                )
            db.flush()
            _kept_is_latest(db, cases)
    finally:
        nested.rollback()


def test_the_refresh_command_finds_a_stale_instant(app, db, world):
    case = new_case(db, world, CASES[0])
    db.commit()
    # A closure loaded past the services (a bulk load): the session's event never saw it.
    db.execute(
        CaseTransition.__table__.insert().values(
            case_id=case.id, from_status="new", to_status="closed", at=BASE
        )
    )
    db.commit()
    assert db.scalar(select(Case.closed_at).where(Case.id == case.id)) is None
    result = app.test_cli_runner().invoke(args=["cases", "refresh-clocks"])
    assert result.exit_code == 0, result.output
    assert "1 cases a stale instant of closure" in result.output
    kept = db.scalar(select(Case.closed_at).where(Case.id == case.id))
    assert kept is not None and kept.replace(tzinfo=UTC) == BASE  # SQLite gives it naive
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "cases.clocks_refreshed")
    ).one()
    assert json.loads(event.changes)["closures_corrected"] == 1


def test_the_retention_lists_read_no_transition(db, world):
    """What falls due is read from the closed cases not yet shredded by their instant
    (ix_cases_closed_kept): no statement groups the archive's closures any more."""
    engine = db.get_bind().engine
    today = datetime.now(UTC).date()
    with statements_sent(engine) as sent:
        retention.due(db, today, 30)
        receipts.due(db, today, 30)
    assert sent and not [s for s in sent if "case_transitions" in s], sent


def test_closed_reopened_and_closed_again_through_the_workflow(app, db, world):
    """Through the services as people do it: the case's instant is its closure, stays while it
    is reopened (a reopened case is not listed for retention), and moves to the second
    closure."""
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    reach(db, world, case, "reopened")
    first = db.scalar(select(latest_closure(case.id)))
    assert first is not None and case.closed_at == first
    for status in ("supporting", "monitoring"):
        move(db, world["focal_a"], case, status)
    move(db, world["focal_a"], case, "closure_requested", closure_reason="resolved")
    move(db, world["officer_p"], case, "closed")
    db.expire_all()
    second = db.scalar(select(latest_closure(case.id)))
    assert second is not None and second >= first and case.closed_at == second
