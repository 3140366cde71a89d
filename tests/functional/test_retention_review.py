"""Retention, after review: an officer excluded from a case never sees it on the retention page
(the system's run still does); a person harmed aged 16 or 17 makes a minor's case; a legal hold
committed while the run was deciding stops the shredding; `cases destroy-content` refuses a
held case; a shredded case's attachments are marked discarded and never listed again."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from caseapp.models import AuditEvent, Case, CaseAttachment, User
from caseapp.runtime import keyring, settings
from caseapp.services.audit import integrity
from caseapp.services.cases import holds
from caseapp.services.cases import records as case_records
from caseapp.services.privacy import retention
from tests.factories import Visitor, squeezed, statements_sent
from tests.functional.case_attack_support import page_text
from tests.functional.retention_support import ADULT, closed_case

REASON = "Gia đình đang khiếu nại lên Thanh tra"
FAR = date(2030, 1, 1)


def _adult_case(db, world):
    return closed_case(
        db,
        world,
        date(2018, 2, 1),
        date(2018, 5, 10),
        **ADULT,
    )


def _with_file(db, world, case) -> CaseAttachment:
    focal = db.get(User, world["focal_a"].id)
    attachment = case_records.add_attachment(
        db, focal, db.get(Case, case.id), "bien-ban.txt", "text/plain", io.BytesIO(b"abc")
    )
    db.commit()
    return attachment


def _count(db, action=None) -> int:
    stmt = select(func.count()).select_from(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return db.scalar(stmt)


# 1. An excluded officer -----------------------------------------------------------------------


@pytest.mark.usefixtures("clean_store")
def test_an_excluded_officer_does_not_see_the_case_on_the_retention_page(app, client, db, world):
    case = _adult_case(db, world)
    attachment = _with_file(db, world, case)
    other = _adult_case(db, world)
    district = db.get(User, world["officer_d1"].id)
    case_records.exclude(db, district, db.get(Case, case.id), "officer.p", "Người thân của em")
    db.commit()

    excluded = db.get(User, world["officer_p"].id)
    listed = retention.due_soon(db, excluded)
    assert case.id not in {d.case_id for d in listed}
    assert attachment.id not in {d.attachment_id for d in listed}
    assert other.id in {d.case_id for d in listed}
    page = page_text(Visitor(client, db, world["officer_p"]).get("/privacy/retention"))
    assert case.reference not in page and other.reference in page

    # Whoever is not excluded still sees it; so does the system's run.
    assert case.reference in page_text(
        Visitor(client, db, world["officer_d1"]).get("/privacy/retention")
    )
    assert case.id in {d.case_id for d in retention.due(db, FAR)}
    dry = app.test_cli_runner().invoke(args=["retention", "run", "--dry-run"])
    assert f"case {case.reference} " in dry.output, dry.output


# 2. A minor of 16 or 17 -------------------------------------------------------------------------


def test_a_person_harmed_of_16_or_17_makes_a_minors_case(db, world):
    sixteen = closed_case(
        db,
        world,
        date(2015, 3, 10),
        date(2015, 6, 1),
        child=False,
        harmed_age_band="15-17",
        harmed_age_years=16,
    )
    band_only = closed_case(
        db,
        world,
        date(2015, 3, 10),
        date(2015, 6, 1),
        child=False,
        harmed_age_band="15-17",
        harmed_age_years=None,
    )
    found = {d.case_id: d for d in retention.due(db, FAR) if d.kind == "case"}
    # 18 by 10/03/2017 at the latest, + 5 years; never the adult rule's 01/06/2020.
    assert (found[sixteen.id].rule, found[sixteen.id].due_on) == (
        retention.CHILD,
        date(2022, 3, 10),
    )
    # No age: the band's lowest age, 15: 18 by 10/03/2018, + 5 years.
    assert (found[band_only.id].rule, found[band_only.id].due_on) == (
        retention.CHILD,
        date(2023, 3, 10),
    )
    # Not shredded on the adult rule's date.
    assert sixteen.id not in {d.case_id for d in retention.due(db, date(2022, 3, 9))}
    outcome = retention.run(db, date(2022, 3, 9))
    assert outcome.shredded == 0
    db.expire_all()
    assert db.get(Case, sixteen.id).key_destroyed_at is None
    assert db.get(Case, band_only.id).key_destroyed_at is None


# 4. A hold against the run ----------------------------------------------------------------------


def test_a_hold_committed_after_the_list_was_made_stops_the_shredding(db, world):
    case = _adult_case(db, world)
    found = retention.due(db, FAR)  # the run decided: due, not held
    assert [d.held for d in found if d.case_id == case.id] == [False]
    holds.set_hold(db, db.get(User, world["officer_d1"].id), db.get(Case, case.id), REASON)
    db.commit()
    before = _count(db, "case.destroy_content")
    outcome = retention.run(db, FAR, found)
    assert outcome.shredded == 0
    db.expire_all()
    assert db.get(Case, case.id).key_destroyed_at is None
    assert db.get(Case, case.id).wrapped_key is not None
    assert _count(db, "case.destroy_content") == before


def test_a_hold_on_a_case_shredded_meanwhile_is_refused(db, world):
    from caseapp.errors import ValidationFailed

    case = _adult_case(db, world)
    officer = db.get(User, world["officer_d1"].id)
    stale = db.get(Case, case.id)
    retention.run(db, FAR)
    with pytest.raises(ValidationFailed):
        holds.set_hold(db, officer, stale, REASON)
    db.rollback()
    assert holds.active_hold(db, stale) is None


def test_the_hold_and_the_run_lock_the_case_row_and_the_run_checks_holds_after(db, world, database):
    if database.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time and no row locks")
    case = _adult_case(db, world)
    engine = db.get_bind().engine
    with statements_sent(engine) as sent:
        holds.set_hold(db, db.get(User, world["officer_d1"].id), db.get(Case, case.id), REASON)
        db.rollback()
    with statements_sent(engine) as run_sent:
        retention.run(db, FAR, [d for d in retention.due(db, FAR) if d.case_id == case.id])
    hold_part = [squeezed(s).lower() for s in sent]
    run_part = [squeezed(s).lower() for s in run_sent]
    lock = next(i for i, s in enumerate(hold_part) if "from cases" in s and "for update" in s)
    assert any("insert into legal_holds" in s for s in hold_part[lock:])
    assert any("from legal_holds" in s for s in hold_part[lock:])  # re-checked under the lock
    run_lock = next(i for i, s in enumerate(run_part) if "from cases" in s and "for update" in s)
    assert "legal_holds" not in run_part[run_lock]  # a query of its own, after the lock
    assert any("from legal_holds" in s for s in run_part[run_lock + 1 :])


# 5. cases destroy-content ----------------------------------------------------------------------


def _destroy(app, reference):
    return app.test_cli_runner().invoke(
        args=["cases", "destroy-content", reference, "--reason", "Lệnh của tòa án", "--yes"]
    )


@pytest.mark.usefixtures("clean_store")
def test_destroy_content_refuses_a_case_under_a_legal_hold(app, db, world):
    case = _adult_case(db, world)
    attachment = _with_file(db, world, case)
    holds.set_hold(db, db.get(User, world["officer_d1"].id), db.get(Case, case.id), REASON)
    db.commit()
    before = _count(db)
    result = _destroy(app, case.reference)
    assert result.exit_code != 0
    assert "legal hold" in result.output and "nothing was destroyed" in result.output
    db.expire_all()
    kept = db.get(Case, case.id)
    assert kept.key_destroyed_at is None and kept.wrapped_key is not None
    assert db.get(CaseAttachment, attachment.id).discarded_at is None
    assert (settings().attachment_dir / attachment.storage_name).exists()
    assert _count(db) == before


# 6. A shredded case's attachments ----------------------------------------------------------------


@pytest.mark.usefixtures("clean_store")
def test_destroy_content_marks_the_attachments_discarded(app, db, world):
    case = _adult_case(db, world)
    attachment = _with_file(db, world, case)
    result = _destroy(app, case.reference)
    assert result.exit_code == 0, result.output
    assert "1 sealed files removed" in result.output
    db.expire_all()
    stored = db.get(CaseAttachment, attachment.id)
    assert stored.discarded_at is not None
    assert not (settings().attachment_dir / stored.storage_name).exists()
    assert attachment.id not in {d.attachment_id for d in retention.due(db, FAR)}
    destroyed = db.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "case.destroy_content", AuditEvent.object_ref == case.reference
        )
    )
    assert json.loads(destroyed.changes)["attachments_discarded"] == 1
    assert integrity.verify(db, keyring()).ok
    # Again: nothing more is destroyed, nothing is written.
    events = _count(db)
    again = _destroy(app, case.reference)
    assert again.exit_code == 0 and "already destroyed" in again.output, again.output
    assert _count(db) == events


@pytest.mark.usefixtures("clean_store")
def test_after_a_run_a_shredded_cases_attachments_are_no_longer_due(db, world):
    case = _adult_case(db, world)
    attachment = _with_file(db, world, case)
    # The content alone is due (say the admin made attachments last longer than content).
    found = [d for d in retention.due(db, FAR) if d.kind == "case"]
    outcome = retention.run(db, FAR, found)
    assert outcome.shredded == 1 and outcome.files_removed == 1
    db.expire_all()
    assert db.get(CaseAttachment, attachment.id).discarded_at is not None
    assert not [d for d in retention.due(db, FAR) if d.case_id == case.id]
    assert integrity.verify(db, keyring()).ok
