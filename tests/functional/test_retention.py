"""Retention (issue 15 part 3): what falls due by the schedule's rules, the dry run that changes
nothing, the real run that shreds exactly what is due (never a held case) while the reports of
the period stay the same and the trail verifies, and a second run that does nothing."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import func, select

from caseapp.clock import local_today
from caseapp.errors import ValidationFailed
from caseapp.models import (
    AuditEvent,
    Case,
    CaseAttachment,
    CaseTransition,
    LegalPeriod,
    Unit,
    User,
)
from caseapp.runtime import keyring, settings
from caseapp.services.audit import integrity
from caseapp.services.cases import holds
from caseapp.services.cases import records as case_records
from caseapp.services.cases.people import PersonInput
from caseapp.services.privacy import retention
from caseapp.services.reports import tables as report_tables
from tests.functional.retention_support import ADULT, closed_case

FAR = date(2030, 1, 1)


def _due_by_reference(db, as_of, **kw) -> dict[str, retention.Due]:
    return {d.reference: d for d in retention.due(db, as_of, **kw) if d.kind == "case"}


def test_due_dates_follow_the_rules(db, world):
    adult = closed_case(
        db,
        world,
        date(2018, 2, 1),
        date(2018, 5, 10),
        **ADULT,
    )
    child = closed_case(db, world, date(2015, 3, 10), date(2015, 6, 1), harmed_age_years=12)
    no_age = closed_case(
        db, world, date(2014, 9, 1), date(2014, 12, 1), harmed_age_years=None
    )  # 11-14: counted as 11, the latest 18th birthday
    long_case = closed_case(
        db,
        world,
        date(2016, 1, 5),
        date(2022, 2, 1),
        harmed_age_band="15-17",
        harmed_age_years=15,
        child=True,
    )
    younger_too = closed_case(
        db,
        world,
        date(2010, 4, 1),
        date(2010, 6, 1),
        child=False,
        harmed_age_band="15-17",
        harmed_age_years=17,
        more_people=[
            PersonInput(
                position="harmed",
                sex="male",
                age_band="6-10",
                age_years=8,
                role="pupil",
                child=True,
                name="Lê Văn Nam",
            )
        ],
    )
    still_open = closed_case(db, world, date(2010, 1, 4), None)
    found = _due_by_reference(db, FAR)
    assert (found[adult.reference].rule, found[adult.reference].due_on) == (
        retention.ADULT,
        date(2023, 5, 10),
    )
    assert (found[child.reference].rule, found[child.reference].due_on) == (
        retention.CHILD,
        date(2026, 3, 10),
    )
    assert found[no_age.reference].due_on == date(2026, 9, 1)  # 18 by 01/09/2021, + 5
    assert found[long_case.reference].due_on == date(2027, 2, 1)  # closure + 5 is later
    assert (found[younger_too.reference].rule, found[younger_too.reference].due_on) == (
        retention.CHILD,
        date(2025, 4, 1),  # the child of 8 turns 18 by 01/04/2020
    )
    assert still_open.reference not in found
    assert all(d.unit_code == "SCH-A" and not d.held for d in found.values())

    # Not yet due on 01/02/2026; within a horizon of 40 days, the child's case is.
    early = _due_by_reference(db, date(2026, 2, 1))
    assert child.reference not in early and adult.reference in early
    assert child.reference in _due_by_reference(db, date(2026, 2, 1), horizon_days=40)
    assert _due_by_reference(db, date(2026, 3, 9)).get(child.reference) is None
    assert child.reference in _due_by_reference(db, date(2026, 3, 10))


def test_the_schedule_is_read_from_the_settings(db, world):
    made = closed_case(
        db,
        world,
        date(2018, 2, 1),
        date(2018, 5, 10),
        **ADULT,
    )
    line = db.get(LegalPeriod, retention.ADULT)
    line.amount = 10  # a lawyer's correction (the admin screen is audited; this is the effect)
    db.flush()
    assert _due_by_reference(db, date(2028, 5, 9)).get(made.reference) is None
    assert _due_by_reference(db, date(2028, 5, 10))[made.reference].due_on == date(2028, 5, 10)


def test_attachments_fall_due_two_years_after_closure(db, world, clean_store):
    made = closed_case(db, world, date(2023, 1, 2), date(2023, 3, 1))
    focal = db.get(User, world["focal_a"].id)
    attachment = case_records.add_attachment(
        db, focal, db.get(Case, made.id), "bien-ban.txt", "text/plain", io.BytesIO(b"abc")
    )
    db.commit()
    files = [d for d in retention.due(db, date(2025, 3, 1)) if d.kind == "attachment"]
    assert [(d.attachment_id, d.due_on, d.rule) for d in files] == [
        (attachment.id, date(2025, 3, 1), retention.ATTACHMENTS)
    ]
    assert not [d for d in retention.due(db, date(2025, 2, 28)) if d.kind == "attachment"]
    assert made.reference not in _due_by_reference(db, date(2025, 3, 1))  # content: 2028


def _world_of_three(db, world):
    """A due adult case with a file, a due case under a hold, a case closed last year."""
    due = closed_case(
        db,
        world,
        date(2018, 2, 1),
        date(2018, 5, 10),
        **ADULT,
    )
    focal = db.get(User, world["focal_a"].id)
    attachment = case_records.add_attachment(
        db, focal, db.get(Case, due.id), "bien-ban.txt", "text/plain", io.BytesIO(b"abc")
    )
    held = closed_case(
        db,
        world,
        date(2018, 3, 1),
        date(2018, 6, 1),
        child=False,
        harmed_age_band="18-24",
        harmed_age_years=20,
        harmed_role="other",
    )
    holds.set_hold(db, db.get(User, world["officer_d1"].id), held, "Đang có khiếu nại của gia đình")
    recent = closed_case(db, world, local_today().replace(month=1, day=5), None)
    db.commit()
    return due, attachment, held, recent


def _run(app, *args):
    return app.test_cli_runner().invoke(args=["retention", "run", *args])


def _count(db, action=None) -> int:
    stmt = select(func.count()).select_from(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return db.scalar(stmt)


@pytest.mark.usefixtures("clean_store")
def test_a_dry_run_lists_and_changes_nothing(app, db, world):
    due, attachment, held, recent = _world_of_three(db, world)
    before = _count(db)
    result = _run(app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"case {due.reference} SCH-A retention_case_adult 10/05/2023 due" in result.output
    assert f"case {held.reference} SCH-A retention_case_adult 01/06/2023 HELD" in result.output
    assert recent.reference not in result.output
    assert f"attachment #{attachment.id} of {due.reference}" in result.output
    assert "nothing was changed and no audit event was written" in result.output
    assert _count(db) == before
    db.expire_all()
    assert db.get(Case, due.id).key_destroyed_at is None
    assert db.get(CaseAttachment, attachment.id).discarded_at is None
    assert (settings().attachment_dir / attachment.storage_name).exists()


@pytest.mark.usefixtures("clean_store")
def test_a_real_run_shreds_exactly_what_is_due(app, db, world):
    due, attachment, held, recent = _world_of_three(db, world)
    school = db.get(Unit, world.units["SCH-A"])
    district = db.get(Unit, world.units["D1"])
    reports_before = [
        report_tables.build(db, u, date(2018, 1, 1), date(2018, 12, 31)) for u in (school, district)
    ]
    result = _run(app)
    assert result.exit_code == 0, result.output
    assert "1 cases shredded (1 sealed files removed), 0 attachments discarded, 1 held" in (
        result.output
    )
    db.expire_all()
    shredded = db.get(Case, due.id)
    assert shredded.key_destroyed_at is not None and shredded.wrapped_key is None
    assert db.get(Case, held.id).wrapped_key is not None
    assert db.get(Case, recent.id).wrapped_key is not None
    stored = db.get(CaseAttachment, attachment.id)
    assert stored.discarded_at is not None
    assert not (settings().attachment_dir / stored.storage_name).exists()
    destroyed = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.destroy_content")
    ).all()
    assert [e.object_ref for e in destroyed] == [due.reference]
    assert destroyed[0].actor_name == "system" or destroyed[0].actor_id is None
    # The shred marked its attachment discarded in its own event (not an attachment.discard).
    assert json.loads(destroyed[0].changes)["attachments_discarded"] == 1
    assert _count(db, "attachment.discard") == 0 and _count(db, "retention.run") == 1
    # The statistics of the period are the same: only the content went.
    reports_after = [
        report_tables.build(db, u, date(2018, 1, 1), date(2018, 12, 31)) for u in (school, district)
    ]
    assert reports_after == reports_before
    assert integrity.verify(db, keyring()).ok

    # Idempotent: nothing is left to do, and nothing is written.
    events = _count(db)
    again = _run(app)
    assert again.exit_code == 0 and "0 cases shredded" in again.output, again.output
    assert _count(db) == events


@pytest.mark.usefixtures("clean_store")
def test_a_released_hold_lets_the_next_run_shred(app, db, world):
    _due, _attachment, held, _recent = _world_of_three(db, world)
    hold = holds.active_hold(db, held)
    officer = db.get(User, world["officer_d1"].id)
    holds.release_hold(db, officer, held, hold.id, hold.version, "Khiếu nại đã được giải quyết")
    db.commit()
    assert _run(app).exit_code == 0
    db.expire_all()
    assert db.get(Case, held.id).key_destroyed_at is not None


@pytest.mark.usefixtures("clean_store")
def test_a_stale_instant_of_closure_shreds_nothing_until_repaired(app, db, world):
    """What falls due is listed by the case's kept instant of closure; shredding cannot be
    undone, so the run checks it against the transitions: a second closure written past the
    session (a bulk load) leaves the instant too early, and the case is not shredded until
    `cases refresh-clocks` has read it again; then it is no longer due."""
    case = closed_case(
        db,
        world,
        date(2018, 2, 1),
        date(2018, 5, 10),
        **ADULT,
    )
    # Closed again long after (reopened in between), written in SQL: the kept instant stays.
    db.execute(
        CaseTransition.__table__.insert().values(
            case_id=case.id,
            from_status="closure_requested",
            to_status="closed",
            at=datetime.combine(local_today(), time(5), tzinfo=UTC),
        )
    )
    db.commit()
    assert [d.case_id for d in retention.due(db, local_today())] == [case.id]  # by the stale one
    result = _run(app)
    assert result.exit_code == 0 and "0 cases shredded" in result.output, result.output
    db.expire_all()
    assert db.get(Case, case.id).wrapped_key is not None
    assert app.test_cli_runner().invoke(args=["cases", "refresh-clocks"]).exit_code == 0
    assert retention.due(db, local_today()) == []


def test_no_file_is_added_to_a_case_shredded_meanwhile(app, db, world):
    """An upload that loaded the case before its content was destroyed reads the key afresh
    under the case's lock: refused, nothing stored (the retention lists the attachments of
    unshredded cases only, so one added after the shredding would never be discarded)."""
    case = closed_case(db, world, date(2017, 9, 1), None)
    focal = db.get(User, world["focal_a"].id)
    stale = db.get(Case, case.id)
    db.execute(
        Case.__table__.update()
        .where(Case.id == case.id)
        .values(key_destroyed_at=datetime.now(UTC), wrapped_key=None)
    )
    with pytest.raises(ValidationFailed):
        case_records.add_attachment(
            db, focal, stale, "note.txt", "text/plain", io.BytesIO(b"some text")
        )
    assert db.scalar(select(func.count()).select_from(CaseAttachment)) == 0
    db.rollback()
