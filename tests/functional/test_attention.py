"""The auditor's attention list (issue 11, part 6): each rule fires on crafted events and stays
quiet on ordinary work; a review sticks and is audited; an auditor sees their units only and
nothing about themselves."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from caseapp.clock import local_today, zone
from caseapp.db import utcnow
from caseapp.errors import Forbidden
from caseapp.models import AuditCheckpoint, AuditEvent, Grant, Unit, User
from caseapp.models.approvals import AttentionReview
from caseapp.runtime import keyring
from caseapp.services.audit import attention, trail
from caseapp.services.audit.holidays import holidays
from caseapp.services.audit.trail import record
from tests.factories import Visitor, make_user, reason_of, sign_in_client, statements_sent

REF_A = "SCH-A-2026-0001"
REF_B = "SCH-B-2026-0001"
REF_C = "SCH-C-2026-0001"


@contextmanager
def stamped(monkeypatch, when: datetime):
    """Events recorded inside carry the time ``when`` (the chain hashes it like any other)."""
    with monkeypatch.context() as patch:
        patch.setattr(trail, "utcnow", lambda: when)
        yield


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone()).astimezone(UTC)


def user(db, world, name) -> User:
    return db.get(User, world[name].id)


def unit(db, world, code) -> Unit:
    return db.get(Unit, world.units[code])


def read(db, who: User, school: Unit, ref: str, action="case.view_confidential") -> AuditEvent:
    return record(
        db,
        who,
        action,
        unit=school,
        object_type="cases",
        object_id="1",
        object_ref=ref,
        reason="Kiểm tra hồ sơ",
    )


def of_kind(found, kind, who=None):
    return [i for i in found if i.kind == kind and (who is None or i.who == who)]


def _working_day() -> date:
    """The last day, today or before, whose 10:00 (Vietnam time) has passed and which is not a
    public holiday: reads then are ordinary by the clock."""
    day = local_today()
    while local(day, 10) > utcnow() or day in holidays(day.year):
        day -= timedelta(days=1)
    return day


def _working_hours_today() -> datetime:
    return local(_working_day(), 10)


# Volume ------------------------------------------------------------------------------------


def test_reads_above_the_ceiling_are_high(db, world, monkeypatch, app):
    officer = user(db, world, "officer_d1")
    school = unit(db, world, "SCH-A")
    ceiling = app.extensions["caseapp.settings"].attention_read_ceiling
    with stamped(monkeypatch, _working_hours_today()):
        seqs = [read(db, officer, school, f"SCH-A-2026-{n:04d}").seq for n in range(ceiling + 1)]
    db.flush()
    found = of_kind(attention.items(db, None), "ceiling", "officer.d1")
    assert len(found) == 1 and found[0].severity == "high"
    assert found[0].count == ceiling + 1 and found[0].seqs == seqs
    assert str(ceiling) in found[0].explanation


def test_reads_above_ones_own_norm_are_medium_and_ordinary_days_are_quiet(db, world, monkeypatch):
    officer, focal = user(db, world, "officer_d1"), user(db, world, "focal_a")
    school = unit(db, world, "SCH-A")
    today = _working_day()
    for back in (10, 20, 30, 40, 50):  # two reads on five days: a usual day is 2
        with stamped(monkeypatch, local(today - timedelta(days=back), 9)):
            for n in range(2):
                read(db, officer, school, f"SCH-A-2026-{n:04d}")
    with stamped(monkeypatch, _working_hours_today()):
        for n in range(12):
            read(db, officer, school, f"SCH-A-2026-{n:04d}")
        for _n in range(3):  # a focal point's ordinary day
            read(db, focal, school, REF_A)
    db.flush()
    found = attention.items(db, None)
    norm = of_kind(found, "norm", "officer.d1")
    assert len(norm) == 1 and norm[0].severity == "medium" and norm[0].count == 12
    assert "2.0" in norm[0].explanation
    assert not [i for i in found if i.who == "focal.a"]
    # The days of the norm lie before the window: nothing about them.
    assert len(of_kind(found, "norm")) == 1 and not of_kind(found, "ceiling")


# Another school, outside the workflow --------------------------------------------------------


def test_reading_another_schools_case_without_a_step_is_listed(db, world, monkeypatch):
    a, b = unit(db, world, "SCH-A"), unit(db, world, "SCH-B")
    person = make_user(db, keyring(), "cover.ab", a, [("focal_point", a), ("focal_point", b)])
    cover = db.get(User, person.id)
    with stamped(monkeypatch, _working_hours_today()):
        read(db, cover, a, REF_A)  # their own school: ordinary
        first = read(db, cover, b, REF_B).seq
        second = read(db, cover, b, REF_B).seq
        read(db, cover, b, "SCH-B-2026-0002")
        record(
            db, cover, "note.add", unit=b, object_type="case_notes", object_ref="SCH-B-2026-0002"
        )
    db.flush()
    found = of_kind(attention.items(db, None), "other_school")
    assert [(i.who, i.details["ref"], i.seqs) for i in found] == [
        ("cover.ab", REF_B, [first, second])
    ]
    assert found[0].details["unit"] == "SCH-B" and found[0].severity == "medium"
    assert found[0].events_filter["reference"] == REF_B


def test_an_officer_reading_below_their_own_unit_is_ordinary(db, world, monkeypatch):
    with stamped(monkeypatch, _working_hours_today()):
        read(db, user(db, world, "officer_d1"), unit(db, world, "SCH-B"), REF_B)
        read(db, user(db, world, "officer_p"), unit(db, world, "SCH-C"), REF_C)
    db.flush()
    assert not of_kind(attention.items(db, None), "other_school")


# Night and holidays ----------------------------------------------------------------------------


def test_reads_at_night_make_one_item_per_person_and_night(db, world, monkeypatch):
    officer = user(db, world, "officer_d1")
    school = unit(db, world, "SCH-A")
    night = _working_day() - timedelta(days=2)
    seqs = []
    for when in (local(night, 22, 30), local(night + timedelta(days=1), 1, 15)):
        with stamped(monkeypatch, when):
            seqs.append(read(db, officer, school, REF_A).seq)
    with stamped(monkeypatch, local(night, 21, 59)):
        read(db, officer, school, REF_A)  # before 22:00: ordinary
    with stamped(monkeypatch, local(night + timedelta(days=1), 6, 0)):
        read(db, officer, school, REF_A)  # 06:00: ordinary
    db.flush()
    found = of_kind(attention.items(db, None), "night")
    assert len(found) == 1 and found[0].seqs == seqs and found[0].who == "officer.d1"
    assert found[0].base == f"night:{officer.id}:{night.isoformat()}"
    # The key names the evidence too: two events, the last of them.
    assert found[0].key.startswith(f"{found[0].base}@2.{seqs[-1]}.")


def test_reads_on_a_public_holiday_are_listed(db, world, monkeypatch):
    today = local_today()
    past = sorted(
        d for y in (today.year - 1, today.year) for d in holidays(y) if d < today - timedelta(1)
    )
    holiday = past[-1]
    officer = user(db, world, "officer_d1")
    with stamped(monkeypatch, local(holiday, 10)):
        seq = read(db, officer, unit(db, world, "SCH-A"), REF_A).seq
    with stamped(monkeypatch, local(holiday + timedelta(days=1), 10)):
        if holiday + timedelta(days=1) not in holidays(holiday.year):
            read(db, officer, unit(db, world, "SCH-A"), REF_A)
    db.flush()
    found = of_kind(attention.items(db, None, since=holiday), "holiday")
    assert [i.seqs for i in found] == [[seq]] and found[0].severity == "low"
    assert holidays(holiday.year)[holiday] in found[0].explanation


def test_the_holiday_calendar_knows_tet_and_the_fixed_days():
    days = holidays(2026)
    assert days[date(2026, 2, 17)] == "Tết Nguyên đán"
    assert date(2026, 2, 16) in days and date(2026, 2, 19) in days
    assert days[date(2026, 4, 26)] == "Giỗ Tổ Hùng Vương"
    for fixed in ((1, 1), (4, 30), (5, 1), (9, 2)):
        assert date(2026, *fixed) in days
    assert date(2026, 3, 8) not in days


# After a change of access --------------------------------------------------------------------


def test_reads_soon_after_a_grant_by_a_person_are_listed(db, world, monkeypatch):
    admin, officer = user(db, world, "admin_p"), user(db, world, "officer_d2")
    d1 = unit(db, world, "D1")
    start = utcnow() - timedelta(hours=30)
    with stamped(monkeypatch, start):
        grant = record(
            db,
            admin,
            "user.grant",
            unit=d1,
            object_type="grants",
            changes={"user": "officer.d2", "role": "officer", "unit": "D1"},
        ).seq
    with stamped(monkeypatch, start + timedelta(hours=2)):
        soon = read(db, officer, unit(db, world, "SCH-A"), REF_A).seq
    with stamped(monkeypatch, start + timedelta(hours=26)):
        read(db, officer, unit(db, world, "SCH-A"), REF_A)  # a day later: ordinary
    db.flush()
    found = of_kind(attention.items(db, None), "after_change")
    assert [(i.who, i.seqs, i.count) for i in found] == [("officer.d2", [grant, soon], 1)]
    assert "24" in found[0].explanation


def test_grants_made_by_the_operator_are_set_up_not_a_signal(db, world, monkeypatch):
    d1 = unit(db, world, "D1")
    with stamped(monkeypatch, utcnow() - timedelta(hours=3)):
        record(db, None, "user.grant", unit=d1, changes={"user": "officer.d2"})
    read(db, user(db, world, "officer_d2"), unit(db, world, "SCH-A"), REF_A)
    db.flush()
    assert not of_kind(attention.items(db, None), "after_change")


# Pairs, resets, exclusions --------------------------------------------------------------------


@pytest.mark.parametrize("repeats, listed", [(2, False), (3, True)])
def test_the_same_pair_approving_repeatedly(db, world, repeats, listed):
    admin = user(db, world, "admin_p")
    d1 = unit(db, world, "D1")
    for n in range(repeats):
        record(
            db,
            admin,
            "approval.approve",
            unit=d1,
            object_type="approval_requests",
            object_id=str(n),
            changes={
                "kind": "grant",
                "requested_by": "admin.d1",
                "status": ["pending", "approved"],
            },
        )
    record(
        db,
        admin,
        "approval.approve",
        unit=d1,
        changes={"kind": "grant", "requested_by": "admin.d2"},
    )
    db.flush()
    found = of_kind(attention.items(db, None), "pair")
    assert [(i.details["requester"], i.who, i.count) for i in found] == (
        [("admin.d1", "admin.p", 3)] if listed else []
    )


def test_each_credential_reset_is_listed_low(db, world):
    ev = record(
        db,
        user(db, world, "admin_p"),
        "auth.credential_reset",
        unit=unit(db, world, "SCH-B"),
        object_type="users",
        object_id=str(world["focal_b"].id),
        object_ref="focal.b",
        changes={"user": "focal.b"},
    )
    db.flush()
    found = of_kind(attention.items(db, None), "reset")
    assert [(i.who, i.seqs, i.severity) for i in found] == [("focal.b", [ev.seq], "low")]
    assert "admin.p" in found[0].explanation


def _exclude(db, actor, school, ref, username, action="case.exclude") -> int:
    return record(
        db,
        actor,
        action,
        unit=school,
        object_type="case_exclusions",
        object_ref=ref,
        reason="Người thân của người bị tố cáo",
        changes={"user": username},
    ).seq


def test_a_read_while_excluded_is_always_high(db, world):
    officer_p, officer = user(db, world, "officer_p"), user(db, world, "officer_d1")
    school = unit(db, world, "SCH-A")
    read(db, officer, school, REF_A)  # before the exclusion: ordinary
    excluded = _exclude(db, officer_p, school, REF_A, "officer.d1")
    bad = read(db, officer, school, REF_A).seq
    read(db, officer, school, "SCH-A-2026-0002")  # another case: ordinary
    _exclude(db, officer_p, school, REF_A, "officer.d1", "case.exclusion_lift")
    read(db, officer, school, REF_A)  # after the lift: ordinary
    db.flush()
    found = of_kind(attention.items(db, None), "excluded")
    assert [(i.who, i.seqs, i.severity) for i in found] == [("officer.d1", [excluded, bad], "high")]
    assert REF_A in found[0].explanation


def test_reads_while_excluded_across_spans_and_people(db, world):
    """Excluded, lifted and excluded again; two people excluded from one case, one of them
    reading in each part: only the reads inside a span of the reader's own exclusion."""
    officer_p, officer = user(db, world, "officer_p"), user(db, world, "officer_d1")
    focal = user(db, world, "focal_a")
    school = unit(db, world, "SCH-A")
    first = _exclude(db, officer_p, school, REF_A, "officer.d1")
    _exclude(db, officer_p, school, REF_A, "focal.a")
    in_first = read(db, officer, school, REF_A).seq
    _exclude(db, officer_p, school, REF_A, "officer.d1", "case.exclusion_lift")
    read(db, officer, school, REF_A)  # lifted: ordinary
    by_focal = read(db, focal, school, REF_A).seq  # still excluded
    second = _exclude(db, officer_p, school, REF_A, "officer.d1")
    in_second = read(db, officer, school, REF_A).seq
    db.flush()
    found = of_kind(attention.items(db, None), "excluded")
    assert sorted((i.who, tuple(i.seqs)) for i in found) == sorted(
        [
            ("officer.d1", (first, in_first)),
            ("officer.d1", (second, in_second)),
            ("focal.a", (first + 1, by_focal)),
        ]
    )


def test_excluded_reads_cost_the_window_not_the_trail(db, world):
    """Exclusions build up with the cases: the rule reads the window's reads of excluded
    cases, not every exclusion of the trail with a statement for each (the same statements
    with five exclusions as with fifty)."""
    officer_p = user(db, world, "officer_p")
    school = unit(db, world, "SCH-A")
    engine = db.get_bind().engine

    def statements() -> int:
        db.flush()
        with statements_sent(engine) as sent:
            attention.items(db, None)
        return len(sent)

    officer = user(db, world, "officer_d1")
    for i in range(5):
        _exclude(db, officer_p, school, f"SCH-A-2020-{i:04d}", "officer.d1")
    read(db, officer, school, "SCH-A-2020-0000")  # one read while excluded, in the window
    read(db, officer, school, REF_A)  # and an ordinary one
    few = statements()
    assert len(of_kind(attention.items(db, None), "excluded")) == 1
    for i in range(5, 50):
        _exclude(db, officer_p, school, f"SCH-A-2020-{i:04d}", "officer.d1")
    assert statements() == few
    assert len(of_kind(attention.items(db, None), "excluded")) == 1


# Separation of duties and the chain ---------------------------------------------------------


def test_admin_with_a_content_role_is_high(db, world):
    """Granting both is refused now; an account holding both from before (or written around the
    service) is listed."""
    a = unit(db, world, "SCH-A")
    both = make_user(db, keyring(), "admin.and.focal", a, [("admin", a)])
    legacy = Grant(user_id=both.id, role="focal_point", unit_id=a.id)
    db.add(legacy)
    record(db, None, "user.grant", legacy, unit=a, changes={"user": both.username})
    db.flush()
    found = of_kind(attention.items(db, None), "separation")
    assert [(i.who, i.who_id, i.severity) for i in found] == [("admin.and.focal", both.id, "high")]
    assert len(found[0].seqs) == 2  # the two user.grant events


def _forged(db, seq: int, at: datetime) -> None:
    """An event written around record() (no chain), as a tamperer would."""
    db.add(
        AuditEvent(
            seq=seq,
            at=at,
            actor_name="system",
            action="test.event",
            prev_hash="0" * 64,
            key_id="k",
            hash="0" * 64,
        )
    )


def test_chain_gap_and_stale_checkpoint(db):
    from caseapp.services.audit import integrity

    found = attention.items(db, None)
    assert not of_kind(found, "gap")
    assert [i.details["hours"] for i in of_kind(found, "checkpoint")] == [None]
    integrity.checkpoint(db, None, keyring())
    db.flush()
    assert not of_kind(attention.items(db, None), "checkpoint")
    head = db.scalar(select(func.max(AuditEvent.seq)))
    db.add(
        AuditCheckpoint(
            at=utcnow() - timedelta(hours=30), seq=head, hash="0" * 64, key_id="k", signature="s"
        )
    )
    # An event beyond a missing one (written around record(), as a tamperer would).
    _forged(db, head + 2, utcnow())
    db.flush()
    found = attention.items(db, None)
    gaps = of_kind(found, "gap")
    assert [(i.details["first"], i.details["next"], i.severity) for i in gaps] == [
        (head + 1, head + 2, "high")
    ]
    # The newest checkpoint (the real one, minutes old) keeps the checkpoint item away.
    assert not of_kind(found, "checkpoint")


def test_a_gap_behind_an_event_dated_at_the_start_of_its_day_is_found(db):
    """The window's first event by time is not always its least by number: a self-reporter's
    events are dated at the start of their day, after the day's others by number. A gap
    between those others is still found (the window's first number is the least among its
    earliest events, read by time)."""
    head = db.scalar(select(func.max(AuditEvent.seq)))
    today = datetime.combine(local_today(), time(0), tzinfo=zone()).astimezone(UTC)
    for seq, at in ((head + 2, utcnow()), (head + 3, today)):  # head + 1 is missing
        _forged(db, seq, at)
    db.flush()
    gaps = of_kind(attention.items(db, None), "gap")
    assert [(i.details["first"], i.details["next"]) for i in gaps] == [(head + 1, head + 2)]


def test_a_checkpoint_older_than_25_hours_is_high(db):
    db.add(
        AuditCheckpoint(
            at=utcnow() - timedelta(hours=30), seq=1, hash="0" * 64, key_id="k", signature="s"
        )
    )
    db.flush()
    found = of_kind(attention.items(db, None), "checkpoint")
    assert [(i.details["hours"], i.severity) for i in found] == [(30, "high")]


# Scope, the page and reviews ----------------------------------------------------------------


def _some_items(db, world, monkeypatch):
    """A night read in D1 (SCH-A) and a reset of the province auditor's sign-in."""
    with stamped(monkeypatch, local(_working_day() - timedelta(days=1), 23)):
        read(db, user(db, world, "officer_d1"), unit(db, world, "SCH-A"), REF_A)
    record(
        db,
        user(db, world, "admin_p"),
        "auth.credential_reset",
        unit=unit(db, world, "PRV"),
        object_ref="auditor.p",
        changes={"user": "auditor.p"},
    )
    db.flush()


def test_scope_another_district_sees_nothing_and_nobody_sees_themselves(db, world, monkeypatch):
    _some_items(db, world, monkeypatch)
    d1, d2 = unit(db, world, "D1"), unit(db, world, "D2")
    auditor_d2 = db.get(User, make_user(db, keyring(), "auditor.d2", d2, [("auditor", d2)]).id)
    auditor_d1 = db.get(User, make_user(db, keyring(), "auditor.d1", d1, [("auditor", d1)]).id)
    db.flush()
    kinds = lambda who: {i.kind for i in attention.items(db, who)}  # noqa: E731
    assert kinds(auditor_d2) <= {"checkpoint"}
    assert "night" in kinds(auditor_d1) and "reset" not in kinds(auditor_d1)
    province = attention.items(db, user(db, world, "auditor_p"))
    assert of_kind(province, "night") and not of_kind(province, "reset")  # their own reset
    assert of_kind(attention.items(db, None), "reset")


def test_the_page_lists_and_a_review_sticks_and_is_audited(client, db, world, monkeypatch):
    _some_items(db, world, monkeypatch)
    db.commit()
    auditor = Visitor(client, db, world["auditor_p"])
    page = auditor.get("/audit/attention")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "officer.d1" in html and "/audit/events?" in html
    night = of_kind(attention.items(db, user(db, world, "auditor_p")), "night")[0]
    assert f'value="{night.key}"' in html
    before = db.scalar(select(func.max(AuditEvent.seq)))
    r = auditor.post(
        "/audit/attention/review",
        {"key": night.key, "note": "Đã hỏi: trực đêm theo yêu cầu", "since": ""},
        token_from="/audit/attention",
    )
    assert r.status_code == 302
    review = db.scalar(select(AttentionReview).where(AttentionReview.item_key == night.key))
    assert review is not None and review.reviewed_by_id == world["auditor_p"].id
    events = list(db.scalars(select(AuditEvent).where(AuditEvent.seq > before)))
    assert [e.action for e in events] == ["audit.attention_reviewed"]
    assert (
        night.key in events[0].changes
        and reason_of(db, events[0]) == "Đã hỏi: trực đêm theo yêu cầu"
    )
    html = auditor.get("/audit/attention").get_data(as_text=True)
    assert "Đã hỏi: trực đêm theo yêu cầu" in html and f'value="{night.key}"' not in html
    # Twice is refused; a key outside one's list is a 404; a review needs a note.
    again = auditor.post(
        "/audit/attention/review",
        {"key": night.key, "note": "lại", "since": ""},
        token_from="/audit/attention",
    )
    assert again.status_code == 302
    assert db.scalar(select(func.count()).select_from(AttentionReview)) == 1
    other = auditor.post(
        "/audit/attention/review",
        {"key": "night:999999:2020-01-01", "note": "x", "since": ""},
        token_from="/audit/attention",
    )
    assert other.status_code == 404
    empty = auditor.post(
        "/audit/attention/review",
        {"key": night.key, "note": "", "since": ""},
        token_from="/audit/attention",
    )
    assert empty.status_code == 302


def test_since_is_read_as_dd_mm_yyyy_or_iso(client, db, world):
    sign_in_client(client, db, world["auditor_p"])
    for since in ("01/11/2026", "2026-11-01"):
        r = client.get(f"/audit/attention?since={since}")
        assert r.status_code == 200 and "01/11/2026" in r.get_data(as_text=True)
    r = client.get("/audit/attention?since=31/02/2026&page=abc")
    assert r.status_code == 200 and 'role="alert"' in r.get_data(as_text=True)
    assert attention.parse_since("3/2/2026") == date(2026, 2, 3)


@pytest.mark.parametrize("who", ["admin_p", "officer_p", "focal_a"])
def test_only_auditors_open_the_page(client, db, world, who):
    sign_in_client(client, db, world[who])
    assert client.get("/audit/attention").status_code == 403


# A review covers what its reviewer saw ---------------------------------------------------------


def _auditor_at(db, world, code):
    """A new auditor at unit ``code``: (the person to sign in, the user)."""
    place = unit(db, world, code)
    person = make_user(db, keyring(), f"auditor.{code.lower()}", place, [("auditor", place)])
    db.flush()
    return person, db.get(User, person.id)


def _reviews_and_events(db):
    return (
        db.scalar(select(func.count()).select_from(AttentionReview)),
        db.scalar(select(func.max(AuditEvent.seq))),
    )


def test_a_district_auditor_cannot_review_the_chain_for_the_province(app, db, world):
    """(a) A district auditor sees the stale checkpoint but gets no form; a forged review is
    refused and writes nothing; it stays high and unreviewed for the province and the CLI."""
    person, auditor_d2 = _auditor_at(db, world, "D2")
    db.commit()
    checkpoint = of_kind(attention.items(db, auditor_d2), "checkpoint")[0]
    assert checkpoint.severity == "high"
    d2 = Visitor(app, db, person, lang="en")
    html = d2.get("/audit/attention").get_data(as_text=True)
    assert "No checkpoint of the audit trail has been signed." in html
    assert f'value="{checkpoint.key}"' not in html and 'name="key"' not in html
    before = _reviews_and_events(db)
    forged = d2.post(
        "/audit/attention/review",
        {"key": checkpoint.key, "note": "Đã xem", "since": ""},
        token_from="/audit/attention",
    )
    assert forged.status_code == 403
    db.expire_all()
    assert _reviews_and_events(db) == before
    assert not checkpoint.may_review
    with pytest.raises(Forbidden):
        attention.mark_reviewed(db, auditor_d2, checkpoint.key, "Đã xem")
    db.rollback()
    # A review row written by them anyway (as before this rule) does not count either.
    row = AttentionReview(item_key=checkpoint.key, reviewed_by_id=auditor_d2.id, note="x")
    db.add(row)
    record(db, auditor_d2, "audit.attention_reviewed", row, object_type="attention_reviews")
    db.commit()
    province = of_kind(attention.items(db, user(db, world, "auditor_p")), "checkpoint")
    assert province[0].may_review and not province[0].reviewed
    assert [i.kind for i in attention.unreviewed_high(attention.items(db, None))] == ["checkpoint"]
    # The province auditor reviews it (taking the row over; the trail keeps both notes).
    attention.mark_reviewed(db, user(db, world, "auditor_p"), checkpoint.key, "Đã ký lại")
    db.commit()
    assert not attention.unreviewed_high(attention.items(db, None))
    assert of_kind(attention.items(db, auditor_d2), "checkpoint")[0].reviewed


def test_a_review_covers_the_events_seen_not_a_wider_view_nor_newer_ones(
    client, app, db, world, monkeypatch
):
    """(b) A D1 auditor reviews a person's day of reads; the same person then reads in D2: the
    province's item (more reads) is not reviewed; a new read in D1 reopens the D1 item."""
    ceiling = app.extensions["caseapp.settings"].attention_read_ceiling
    officer = user(db, world, "officer_p")
    a, c = unit(db, world, "SCH-A"), unit(db, world, "SCH-C")
    person, auditor_d1 = _auditor_at(db, world, "D1")
    province = user(db, world, "auditor_p")
    night = _working_day() - timedelta(days=2)
    with stamped(monkeypatch, _working_hours_today()):
        for n in range(ceiling + 1):
            read(db, officer, a, f"SCH-A-2026-{n:04d}")
    with stamped(monkeypatch, local(night, 23)):
        read(db, officer, a, REF_A)
    db.commit()
    seen = {i.kind: i for i in attention.items(db, auditor_d1) if i.who == "officer.p"}
    assert seen["ceiling"].count == ceiling + 1 and seen["night"].count == 1
    d1 = Visitor(app, db, person)
    for item in seen.values():
        r = d1.post(
            "/audit/attention/review",
            {"key": item.key, "note": "Đã hỏi", "since": ""},
            token_from="/audit/attention",
        )
        assert r.status_code == 302
    db.expire_all()
    assert all(i.reviewed for i in attention.items(db, auditor_d1) if i.who == "officer.p")
    # (What stays high for them is the chain, which they see but do not review.)
    assert [i.kind for i in attention.unreviewed_high(attention.items(db, auditor_d1))] == [
        "checkpoint"
    ]
    # Then they read 200 cases in D2, and once more at night there.
    with stamped(monkeypatch, _working_hours_today() + timedelta(minutes=5)):
        for n in range(200):
            read(db, officer, c, f"SCH-C-2026-{n:04d}")
    with stamped(monkeypatch, local(night, 23, 30)):
        read(db, officer, c, REF_C)
    db.commit()
    # The D1 auditor's view is unchanged, and still reviewed.
    mine = {i.kind: i for i in attention.items(db, auditor_d1) if i.who == "officer.p"}
    assert {k: (i.count, i.reviewed) for k, i in mine.items()} == {
        "ceiling": (ceiling + 1, True),
        "night": (1, True),
    }
    # The province sees more than was reviewed: not reviewed, and the high one waits.
    wide = {i.kind: i for i in attention.items(db, province) if i.who == "officer.p"}
    assert wide["ceiling"].count == ceiling + 201 and wide["night"].count == 2
    assert not wide["ceiling"].reviewed and not wide["night"].reviewed
    assert wide["ceiling"].key in {
        i.key for i in attention.unreviewed_high(attention.items(db, province))
    }
    assert wide["ceiling"].key in {
        i.key for i in attention.unreviewed_high(attention.items(db, None))
    }
    page = Visitor(client, db, world["auditor_p"]).get("/audit/attention")
    html = page.get_data(as_text=True)
    assert f'value="{wide["ceiling"].key}"' in html and f'value="{wide["night"].key}"' in html
    assert "Đã hỏi" not in html  # another auditor's note about a narrower view is not shown
    # A new read in D1: the D1 item is open again, with their earlier review as history.
    with stamped(monkeypatch, _working_hours_today() + timedelta(minutes=10)):
        read(db, officer, a, REF_A)
    db.commit()
    again = of_kind(attention.items(db, auditor_d1), "ceiling", "officer.p")[0]
    assert again.count == ceiling + 2 and not again.reviewed
    assert [attention.note_of(r) for r in again.history] == ["Đã hỏi"]
    html = d1.get("/audit/attention").get_data(as_text=True)
    assert f'value="{again.key}"' in html
    assert html.count("Đã hỏi") == 2  # the night's review, and the day's earlier one
    # A review posted from the page as it was before is refused: nothing written.
    before = _reviews_and_events(db)
    stale = d1.post(
        "/audit/attention/review",
        {"key": seen["ceiling"].key, "note": "Cũ", "since": ""},
        token_from="/audit/attention",
    )
    assert stale.status_code == 302
    db.expire_all()
    assert _reviews_and_events(db) == before
