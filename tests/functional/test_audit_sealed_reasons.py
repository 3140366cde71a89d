"""Free text in the trail can be forgotten: every reason is sealed under its case's audit text
key (the chain over the sealed bytes), read through the service by auditors and those who handle
or oversee the case only, gone with the case's content while the trail still verifies; reasons
recorded in clear before are sealed by a recorded re-chain (audit seal-reasons)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import LargeBinary, String, Text, func, select, text, update

from caseapp.db import Base
from caseapp.models import AuditCheckpoint, AuditEvent, AuditTextKey, Case, User
from caseapp.runtime import keyring
from caseapp.security.audit_chain import chain_hash
from caseapp.services.audit import integrity, reseal, sealed_text
from caseapp.services.audit.trail import _event_dict, record
from caseapp.services.cases import content as case_content
from caseapp.services.cases import intake, records, workflow
from tests.factories import Visitor, reason_of

MOVE = "Bắt đầu xác minh thông tin từ gia đình em Nguyễn Thị Hoa"
READ = "Kiểm tra hồ sơ theo đơn của bà Trần Thị Lan"
EXCLUDE = "Ông Lê Văn Bình là chú ruột của em"
DESTROY = "Hết thời hạn lưu trữ theo quy định"
PHRASES = (MOVE, READ, EXCLUDE)


def _user(db, world, name) -> User:
    return db.get(User, world[name].id)


@pytest.fixture()
def case(app, db, world) -> Case:
    return Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])


def _reasoned(db, world, case) -> dict[str, AuditEvent]:
    """A transition, a confidential read and an exclusion, each with a distinctive reason."""
    focal, officer = _user(db, world, "focal_a"), _user(db, world, "officer_d1")
    workflow.transition(db, focal, case, "verifying", MOVE, case.version)
    db.commit()
    case_content.open_content(db, officer, case, READ)
    db.commit()
    records.exclude_person(db, focal, case, world["new_user"].id, EXCLUDE)
    db.commit()
    found = {}
    for action, phrase in (
        ("case.transition", MOVE),
        ("case.view_confidential", READ),
        ("case.exclude", EXCLUDE),
    ):
        found[phrase] = db.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.object_ref == case.reference)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    return found


def _scan(db, phrases) -> list[str]:
    """Every text and binary column of every table, read raw: where a phrase sits in clear."""
    hits = []
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.c if isinstance(c.type, String | Text | LargeBinary)]
        if not columns:
            continue
        for row in db.execute(select(*columns)):
            for column, value in zip(columns, row, strict=True):
                if value is None:
                    continue
                raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
                for phrase in phrases:
                    if phrase.encode("utf-8") in raw:
                        hits.append(f"{table.name}.{column.name}: {phrase}")
    return hits


def _verify(db):
    db.expire_all()
    return integrity.verify(db, keyring(), batch=5)


def _drop_triggers(db) -> None:
    """What an operator with database rights could do; rolled back with the test."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        db.execute(text("DROP TRIGGER audit_events_no_update"))
        db.execute(text("DROP TRIGGER audit_events_no_delete"))


def test_no_reason_is_stored_in_clear_anywhere(app, db, world, case):
    events = _reasoned(db, world, case)
    assert _scan(db, PHRASES) == []
    for phrase, event in events.items():
        assert event.reason.startswith("sealed:1:"), event.reason
        assert reason_of(db, event) == phrase
    key = db.scalar(select(AuditTextKey).where(AuditTextKey.case_id == case.id))
    assert key is not None and key.scope == f"case:{case.id}" and key.wrapped_key
    # All three under the case's key, never its content key.
    assert {sealed_text.parse(e.reason)[0] for e in events.values()} == {key.id}
    assert key.wrapped_key != case.wrapped_key
    assert _verify(db).ok


LIFT = "Em Hoa đã chuyển trường, ông Bình không còn liên quan"
REVIEW = "Đã hỏi cô Phạm Thị Mai, hiệu trưởng, về lần đọc này"
DECLINE = "Chưa đủ căn cứ theo lời kể của em Nguyễn Văn An"


def _lift_and_review(db, world, case):
    """An exclusion-lift request (its reason; a decision note) and an auditor's review note."""
    from caseapp.models import CaseExclusion
    from caseapp.services.accounts import approvals
    from caseapp.services.audit import attention

    exclusion = db.scalar(select(CaseExclusion).where(CaseExclusion.case_id == case.id))
    req = approvals.request_exclusion_lift(
        db, _user(db, world, "officer_d1"), case, exclusion.id, LIFT
    )
    db.commit()
    auditor = _user(db, world, "auditor_p")
    item = next(i for i in attention.items(db, auditor) if i.kind == "checkpoint")
    review = attention.mark_reviewed(db, auditor, item.key, REVIEW)
    db.commit()
    return req, review


def test_approval_reasons_and_review_notes_are_sealed_too(app, db, world, case):
    from caseapp.services.accounts import approvals
    from caseapp.services.audit import attention

    _reasoned(db, world, case)
    req, review = _lift_and_review(db, world, case)
    assert _scan(db, (*PHRASES, LIFT, REVIEW)) == []
    assert req.reason.startswith(sealed_text.PREFIX) and review.note.startswith(sealed_text.PREFIX)
    case_key = db.scalar(select(AuditTextKey).where(AuditTextKey.case_id == case.id))
    assert sealed_text.parse(req.reason)[0] == case_key.id  # the case's key
    assert approvals.text_of(req, "reason") == LIFT and attention.note_of(review) == REVIEW
    # The pages show them through the same function.
    auditor = Visitor(app, db, world["auditor_p"], lang="en")
    assert REVIEW in auditor.get("/audit/attention").get_data(as_text=True)
    # Its content destroyed, the case's lift reason no longer opens (the review note, under the
    # service key, still does).
    intake.destroy_content(db, _user(db, world, "officer_d1"), case, DESTROY)
    db.commit()
    db.expire_all()
    req = db.get(type(req), req.id)
    assert sealed_text.open_row_text(db, approvals.TABLE, "reason", req.reason) is None
    assert approvals.text_of(req, "reason") != LIFT
    assert attention.note_of(db.get(type(review), review.id)) == REVIEW
    assert _scan(db, (LIFT, REVIEW)) == []


def test_seal_reasons_seals_the_approval_and_review_texts_left_in_clear(app, db, world, case):
    """Rows written in clear before this release: sealed in place, once, recorded."""
    from caseapp.models import ApprovalRequest, AttentionReview
    from caseapp.services.accounts import approvals
    from caseapp.services.audit import attention

    _reasoned(db, world, case)
    req, review = _lift_and_review(db, world, case)
    db.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == req.id)
        .values(reason=LIFT, decision_note=DECLINE)
    )
    db.execute(update(AttentionReview).where(AttentionReview.id == review.id).values(note=REVIEW))
    db.commit()
    version = db.scalar(select(ApprovalRequest.version).where(ApprovalRequest.id == req.id))
    assert len(_scan(db, (LIFT, DECLINE, REVIEW))) == 3
    result = app.test_cli_runner().invoke(args=["audit", "seal-reasons"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert _scan(db, (LIFT, DECLINE, REVIEW)) == []
    req, review = db.get(ApprovalRequest, req.id), db.get(AttentionReview, review.id)
    assert approvals.text_of(req, "reason") == LIFT
    assert approvals.text_of(req, "decision_note") == DECLINE
    assert attention.note_of(review) == REVIEW and req.version == version
    recorded = db.scalars(select(AuditEvent).where(AuditEvent.action == reseal.TEXTS_ACTION)).all()
    assert len(recorded) == 1 and json.loads(recorded[0].changes) == {
        "approval_requests.decision_note": 1,
        "approval_requests.reason": 1,
        "attention_reviews.note": 1,
    }
    # Again: nothing changes, nothing is recorded.
    assert reseal.seal_clear_texts(db) == {}
    assert _verify(db).ok


def test_auditors_and_those_of_the_case_read_them_others_do_not(app, db, world, case):
    events = list(_reasoned(db, world, case).values())
    for reader in ("auditor_p", "focal_a", "officer_d1", "officer_p"):
        shown = sealed_text.reasons(db, events, _user(db, world, reader))
        assert sorted(shown.values()) == sorted(PHRASES), reader
    for outsider in ("focal_b", "focal_c", "admin_p", "nobody"):
        shown = sealed_text.reasons(db, events, _user(db, world, outsider))
        assert set(shown.values()) == {sealed_text.placeholder_sealed()}, outsider
    # Once excluded from the case, an officer above it no longer reads them.
    records.exclude_person(db, _user(db, world, "focal_a"), case, world["officer_d1"].id, "Lý do")
    db.commit()
    shown = sealed_text.reasons(db, events, _user(db, world, "officer_d1"))
    assert set(shown.values()) == {sealed_text.placeholder_sealed()}


def test_the_screens_show_them_to_whom_may_read_them(app, db, world, case):
    _reasoned(db, world, case)
    auditor = Visitor(app, db, world["auditor_p"], lang="en")
    page = auditor.get("/audit/events").get_data(as_text=True)
    assert all(p in page for p in PHRASES)
    assert "sealed:1:" not in page
    found = auditor.get("/audit/events", query_string={"reason": "tran thi lan"})
    assert READ in found.get_data(as_text=True) and MOVE not in found.get_data(as_text=True)
    csv = auditor.get("/audit/events.csv").get_data(as_text=True)
    assert all(p in csv for p in PHRASES) and "sealed:1:" not in csv
    focal = Visitor(app, db, world["focal_a"], lang="en")
    shown = focal.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert MOVE in shown and "sealed:1:" not in shown


def test_after_shredding_the_words_are_gone_and_the_trail_verifies(app, db, world, case):
    events = list(_reasoned(db, world, case).values())
    officer = _user(db, world, "officer_d1")
    intake.destroy_content(db, officer, case, DESTROY)
    db.commit()
    key = db.scalar(select(AuditTextKey).where(AuditTextKey.case_id == case.id))
    assert key.wrapped_key is None and key.destroyed_at is not None
    for event in events:
        db.refresh(event)
        assert reason_of(db, event) is None
    auditor = _user(db, world, "auditor_p")
    shown = sealed_text.reasons(db, events, auditor)
    assert set(shown.values()) == {sealed_text.placeholder_destroyed()}
    # The reason for destroying stays accountable (the service key), readable by auditors.
    destroyed = db.scalar(select(AuditEvent).where(AuditEvent.action == "case.destroy_content"))
    assert sealed_text.reason_text(db, destroyed, auditor) == DESTROY
    report = _verify(db)
    assert report.ok, report.problem
    # A later reason about the case is never sealed under a key made again for it.
    case_content.audit_read(db, officer, case, "Đọc lại sau khi hủy")
    db.commit()
    assert (
        db.scalar(
            select(func.count()).select_from(AuditTextKey).where(AuditTextKey.case_id == case.id)
        )
        == 1
    )
    assert _verify(db).ok


def test_a_sealed_reason_moved_to_another_event_neither_verifies_nor_opens(app, db, world, case):
    events = _reasoned(db, world, case)
    source, target = events[READ], events[EXCLUDE]
    _drop_triggers(db)
    db.execute(
        text("UPDATE audit_events SET reason = :r WHERE seq = :s"),
        {"r": source.reason, "s": target.seq},
    )
    report = _verify(db)
    assert not report.ok and report.bad_seq == target.seq
    moved = db.scalar(select(AuditEvent).where(AuditEvent.seq == target.seq))
    assert reason_of(db, moved) is None
    shown = sealed_text.reason_text(db, moved, _user(db, world, "auditor_p"))
    assert shown == sealed_text.placeholder_unreadable()


# Reasons recorded in clear before they were sealed ------------------------------------------


def _old_event(db, action: str, reason: str, case: Case | None = None) -> AuditEvent:
    """An event as record() wrote it before reasons were sealed: clear, correctly chained."""
    ev = record(
        db,
        None,
        action,
        unit=case.unit if case is not None else None,
        object_type="cases" if case is not None else "",
        object_id=str(case.id) if case is not None else "",
        object_ref=case.reference if case is not None else "",
    )
    ev.reason = reason
    ev.hash = chain_hash(keyring().get(ev.key_id).secret, ev.prev_hash, _event_dict(ev))
    db.info["audit_head"] = (ev.seq, ev.hash)
    db.flush()
    return ev


def _clear_count(db) -> int:
    return reseal.clear_reasons_left(db)


def _head(db):
    return db.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).one()


def test_seal_reasons_seals_the_old_ones_and_the_trail_still_verifies(
    app, db, world, case, tmp_path
):
    _old_event(db, "case.view_confidential", READ, case)
    _old_event(db, "user.disable", "Nghỉ việc từ tháng 9")
    db.commit()
    cp = integrity.checkpoint(db, None, keyring())
    db.commit()
    old_file = tmp_path / "checkpoint.json"
    integrity.export_checkpoint(cp, keyring(), old_file)
    cp_id, cp_seq, cp_hash = cp.id, cp.seq, cp.hash
    _old_event(db, "case.transition", MOVE, case)
    db.commit()
    assert _verify(db).ok and _clear_count(db) == 3
    assert _scan(db, (READ, MOVE)) != []

    result = app.test_cli_runner().invoke(args=["audit", "seal-reasons"])
    assert result.exit_code == 0, result.output
    assert "3 reasons sealed" in result.output
    db.expire_all()
    assert _clear_count(db) == 0 and _scan(db, (READ, MOVE, "Nghỉ việc")) == []
    report = _verify(db)
    assert report.ok, report.problem
    assert report.checkpoints >= 1
    sealed = db.scalar(select(AuditEvent).where(AuditEvent.action == reseal.ACTION))
    changes = json.loads(sealed.changes)
    assert changes["count"] == 3 and changes["checkpoints"][-1]["old_hash"] == cp_hash
    new_cp = db.get(AuditCheckpoint, cp_id)
    assert new_cp.hash == changes["checkpoints"][-1]["new_hash"] != cp_hash
    # Each old reason went under its case's key (the user's under the service key).
    moved = db.scalar(select(AuditEvent).where(AuditEvent.action == "case.transition"))
    case_key = db.scalar(select(AuditTextKey).where(AuditTextKey.case_id == case.id))
    assert sealed_text.parse(moved.reason)[0] == case_key.id
    assert reason_of(db, moved) == MOVE
    # The checkpoint kept off the server no longer verifies: the database's record of the
    # re-chain explains it but cannot excuse it (a distinct outcome, exit 4).
    held = integrity.verify_checkpoint_file(db, keyring(), integrity.read_checkpoint_file(old_file))
    assert not held.ok and held.kind == integrity.RECHAINED
    assert "re-chained by seal-reasons after this checkpoint, at seq" in held.problems[0][1]
    assert held.bad_seq == cp_seq
    cli = app.test_cli_runner().invoke(args=["audit", "verify", "--checkpoint", str(old_file)])
    assert cli.exit_code == 4, cli.output
    assert "replace this file with a checkpoint written after the re-chain" in cli.output
    # A fresh checkpoint written after the re-chain holds.
    fresh_file = tmp_path / "fresh.json"
    fresh = integrity.checkpoint(db, None, keyring())
    db.commit()
    integrity.export_checkpoint(fresh, keyring(), fresh_file)
    cli = app.test_cli_runner().invoke(args=["audit", "verify", "--checkpoint", str(fresh_file)])
    assert cli.exit_code == 0, cli.output

    # Twice: nothing changes.
    head = _head(db)
    again = app.test_cli_runner().invoke(args=["audit", "seal-reasons"])
    assert again.exit_code == 0 and "nothing to seal" in again.output
    assert _head(db) == head

    # Tampering after it is still detected, by the chain and against the old file.
    _drop_triggers(db)
    db.execute(text("UPDATE audit_events SET reason = 'x' WHERE seq = :s"), {"s": cp_seq - 1})
    assert not _verify(db).ok
    forged = integrity.read_checkpoint_file(old_file)
    forged["hash"] = "f" * 64
    assert not integrity.verify_checkpoint_file(db, keyring(), forged).ok


def test_seal_reasons_refuses_a_broken_trail_and_changes_nothing(app, db, world, case):
    first = _old_event(db, "case.view_confidential", READ, case)
    _old_event(db, "case.transition", MOVE, case)
    db.commit()
    _drop_triggers(db)
    db.execute(
        text("UPDATE audit_events SET reason = 'rewritten' WHERE seq = :s"), {"s": first.seq}
    )
    if db.get_bind().dialect.name == "sqlite":  # put the append-only triggers back
        db.execute(text(reseal._SQLITE_TRIGGERS["audit_events_no_update"]))
        db.execute(text(reseal._SQLITE_TRIGGERS["audit_events_no_delete"]))
    else:
        db.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
    db.commit()
    before = (_head(db), _clear_count(db), _scan(db, (MOVE,)))
    with pytest.raises(reseal.SealRefused):
        reseal.seal_reasons(db, keyring())
    db.rollback()
    assert (_head(db), _clear_count(db), _scan(db, (MOVE,))) == before
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == reseal.ACTION)) is None
    result = app.test_cli_runner().invoke(args=["audit", "seal-reasons"])
    assert result.exit_code == 1 and "refused" in result.output
    assert (_head(db), _clear_count(db)) == before[:2]


def test_seal_reasons_takes_the_audit_append_lock_before_the_table_lock(
    app, db, world, case, monkeypatch
):
    """The order record() takes them in (advisory lock, then the table): the other order would
    deadlock with an append running at the same time on PostgreSQL."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the advisory lock and ALTER TABLE are PostgreSQL's")
    from caseapp.services.audit.trail import ADVISORY_LOCK_KEY

    _old_event(db, "case.transition", MOVE, case)
    db.commit()
    db.info.pop("audit_head", None)
    held_first = []
    lift = reseal._lift_triggers

    def watched(session):
        held_first.append(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() "
                    "AND ((classid::bigint << 32) | objid::bigint) = :k"
                ),
                {"k": ADVISORY_LOCK_KEY},
            )
        )
        lift(session)

    monkeypatch.setattr(reseal, "_lift_triggers", watched)
    assert reseal.seal_reasons(db, keyring()) is not None
    assert held_first == [1]


def test_old_reasons_of_a_case_already_shredded_are_sealed_for_nobody(app, db, world, case):
    old = _old_event(db, "case.view_confidential", READ, case)
    db.commit()
    case.wrapped_key = None  # shredded before reasons were sealed (its key never existed)
    from caseapp.db import utcnow

    case.key_destroyed_at = utcnow()
    record(db, None, "case.destroy_content", case, unit=case.unit)
    db.commit()
    assert reseal.seal_reasons(db, keyring()) is not None
    db.commit()
    db.expire_all()
    event = db.scalar(select(AuditEvent).where(AuditEvent.seq == old.seq))
    assert _scan(db, (READ,)) == [] and reason_of(db, event) is None
    assert _verify(db).ok


def test_a_case_shredded_before_it_had_a_key_never_gets_a_live_one(app, db, world, case):
    """Shredded before this release (no audit text key yet): a later reason about it is sealed
    under the service key; the case's key is a destroyed placeholder, never a live key."""
    from caseapp.db import utcnow

    db.execute(  # shredded by an older release, which kept no audit text key
        update(Case)
        .where(Case.id == case.id)
        .values(wrapped_key=None, key_destroyed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.commit()
    db.expire_all()
    assert db.scalar(select(AuditTextKey).where(AuditTextKey.case_id == case.id)) is None
    event = record(
        db, None, "case.destroy_content", case, unit=case.unit, reason=DESTROY
    )  # about the case: its own key would be chosen
    db.commit()
    key = db.scalar(select(AuditTextKey).where(AuditTextKey.case_id == case.id))
    assert key is not None and key.wrapped_key is None and key.destroyed_at is not None
    service = db.scalar(select(AuditTextKey).where(AuditTextKey.scope == sealed_text.SERVICE))
    assert sealed_text.parse(event.reason)[0] == service.id
    assert reason_of(db, event) == DESTROY  # accountable: auditors still read it
    assert _scan(db, (DESTROY,)) == [] and _verify(db).ok


def test_a_wrapping_key_rotation_rewraps_the_audit_text_keys(app, db, world, case, ring):
    from caseapp.services.keys import rotation

    events = list(_reasoned(db, world, case).values())
    ring = keyring()  # the copy of the fixture, as the service reads it
    old = ring.active("wrap").id
    rotation.rotate(db, ring, "wrap")
    with pytest.raises(rotation.KeyInUse):
        rotation.retire(db, ring, old)  # the audit text keys still need it
    rotation.rewrap(db, ring)
    wrapped = db.scalars(
        select(AuditTextKey.wrapped_key).where(AuditTextKey.wrapped_key.is_not(None))
    ).all()
    assert wrapped and {rotation.sealed_key_id(w) for w in wrapped} == {ring.active("wrap").id}
    rotation.retire(db, ring, old)
    db.expire_all()
    assert sorted(reason_of(db, e) for e in events) == sorted(PHRASES)
    assert _verify(db).ok


def test_a_key_destroyed_while_a_rewrap_runs_is_not_resurrected(
    app, db, world, case, ring, monkeypatch
):
    """The rewrap read the key before the case's content (and its key) was destroyed: its
    write must not put the wrapped key back."""
    from caseapp.services.keys import rotation

    event = _reasoned(db, world, case)[MOVE]
    ring = keyring()
    rotation.rotate(db, ring, "wrap")
    db.commit()
    loaded = rotation._stale_audit_text_keys(db, ring)  # read before the destruction
    key = next(row for row in loaded if row.case_id == case.id)
    assert key.wrapped_key is not None
    # Destroyed meanwhile (as another transaction would): the loaded row still holds the bytes.
    db.execute(
        update(AuditTextKey)
        .where(AuditTextKey.id == key.id)
        .values(wrapped_key=None, destroyed_at=func.now())
        .execution_options(synchronize_session=False)
    )
    monkeypatch.setattr(rotation, "_stale_audit_text_keys", lambda _s, _k: loaded)
    rotation.rewrap(db, ring)
    db.commit()
    db.expire_all()
    row = db.get(AuditTextKey, key.id)
    assert row.wrapped_key is None and row.destroyed_at is not None
    assert reason_of(db, db.get(AuditEvent, event.seq)) is None
    assert not db.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.action == "keys.rewrap",
            AuditEvent.object_type == "audit_text_keys",
            AuditEvent.object_id == str(key.id),
        )
    )


@pytest.fixture()
def own_app(settings, fresh_engine, tmp_path):
    """The app on a database of its own, migrated to head (commands commit there)."""
    from dataclasses import replace

    from caseapp import create_app, migrate

    instance = tmp_path / "instance"
    application = create_app(
        replace(
            settings,
            database_url=fresh_engine.url.render_as_string(hide_password=False),
            instance_dir=instance,
            keyring_path=instance / "keyring.json",
            attachments_path=instance / "attachments",
        )
    )
    migrate.upgrade(application.extensions["caseapp.engine"])
    yield application
    application.extensions["caseapp.engine"].dispose()


def test_db_upgrade_seals_what_is_left_and_a_downgrade_keeps_the_keys(own_app):
    from caseapp.db import get_session
    from tests.factories import make_unit, make_user

    with own_app.test_request_context():
        s = get_session()
        province = make_unit(s, None, "PRV", "province")
        school = make_unit(s, province, "SCH", "school")
        make_user(s, keyring(), "focal.seal", school, [("focal_point", school)])
        s.commit()
        _old_event(s, "user.disable", "Nghỉ việc vì lý do gia đình")
        s.commit()
    runner = own_app.test_cli_runner()
    with own_app.app_context():
        upgraded = runner.invoke(args=["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        assert "1 audit reasons sealed" in upgraded.output
        s = get_session()
        assert reseal.clear_reasons_left(s) == 0 and _scan(s, ("Nghỉ việc",)) == []
        s.rollback()
        assert runner.invoke(args=["audit", "verify"]).exit_code == 0
        again = runner.invoke(args=["db", "upgrade"])
        assert again.exit_code == 0 and "sealed" not in again.output
        # Below 0015 the keys would go while the sealed reasons stay: refused.
        down = runner.invoke(args=["db", "downgrade", "0014"])
        assert down.exit_code != 0 and "audit_text_keys" in down.output, down.output


def test_a_forged_reseal_record_does_not_excuse_a_rewritten_history(app, db, world, tmp_path):
    """Whoever holds the keyring rewrites an event the off-server checkpoint signed, re-chains
    every hash after it and appends an audit.reasons_sealed event naming the file's hash as the
    old one: the chain verifies, but the file must not."""
    for i in range(3):
        record(db, None, "user.disable", reason=f"Nghỉ việc {i}")
    db.commit()
    cp = integrity.checkpoint(db, None, keyring())
    db.commit()
    path = tmp_path / "checkpoint.json"
    integrity.export_checkpoint(cp, keyring(), path)
    cp_seq, cp_hash = cp.seq, cp.hash

    # The rewrite: the first event says something else, every hash recomputed from it.
    reseal._lift_triggers(db)
    first = db.scalar(select(AuditEvent.seq).where(AuditEvent.action == "user.disable"))
    db.execute(text("UPDATE audit_events SET action = 'user.enable' WHERE seq = :s"), {"s": first})
    prev = db.scalar(select(AuditEvent.hash).where(AuditEvent.seq == first - 1)) or "0" * 64
    db.expire_all()
    hashes = {}
    events = db.scalars(select(AuditEvent).where(AuditEvent.seq >= first).order_by(AuditEvent.seq))
    for ev in events.all():
        data = {**_event_dict(ev), "prev_hash": prev}
        new = chain_hash(keyring().get(ev.key_id).secret, prev, data)
        hashes[ev.seq] = new
        db.execute(
            text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s"),
            {"p": prev, "h": new, "s": ev.seq},
        )
        prev = new
    reseal._resign(db, keyring(), first, hashes)  # the attacker signs them again too
    reseal._restore_triggers(db)
    db.expire_all()
    stored = hashes[cp_seq]
    db.info["audit_head"] = _head(db)
    record(
        db,
        None,
        reseal.ACTION,
        object_type="audit_events",
        changes={
            "count": 1,
            "first_seq": first,
            "old_head": {"seq": cp_seq, "hash": cp_hash},
            "new_head": {"seq": cp_seq, "hash": stored},
            "checkpoints": [{"seq": cp_seq, "old_hash": cp_hash, "new_hash": stored}],
        },
    )
    db.commit()
    assert _verify(db).ok  # the chain alone cannot tell

    held = integrity.verify_checkpoint_file(db, keyring(), integrity.read_checkpoint_file(path))
    assert not held.ok and held.kind == integrity.RECHAINED and held.bad_seq == cp_seq
    result = app.test_cli_runner().invoke(
        args=["audit", "verify", "--no-record", "--checkpoint", str(path)]
    )
    assert result.exit_code != 0, result.output
    assert "holds" not in result.output
    assert "compare that with your own records" in result.output
