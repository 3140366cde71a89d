"""A person's own page (/account): their last sign-ins (when, from where, which browser), the
refused attempts, and every change to their account with who made it, except their exclusions
from cases (never shown to them: it would tip them off). An officer above the person reads the
changes (not the sign-ins), exclusions included as "excluded from a case"."""

from __future__ import annotations

import html

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from caseapp.models import AuditEvent, AuditEventName, Unit, User
from caseapp.services.accounts import approvals, auth, enrolment, history, users
from caseapp.services.audit.trail import record
from caseapp.services.cases import records
from tests.factories import Visitor
from tests.functional.signin_support import full_sign_in, password_step

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
EXCLUSION_REASON = "Người thân của người bị tố cáo"


def _user(db, world, name) -> User:
    return db.get(User, world[name].id)


def _described(app, db, me, viewer=None) -> list[history.Change]:
    """The changes to ``me``'s account as ``viewer`` (by default ``me``) reads them."""
    own = viewer is None
    with app.test_request_context(), force_locale("en"):
        return history.describe(db, viewer or me, list(db.scalars(history.changes_to(me, own=own))))


def _page(visitor, url="/account/") -> str:
    r = visitor.get(url)
    assert r.status_code == 200, r.status_code
    return html.unescape(r.get_data(as_text=True))


def test_the_last_sign_ins_and_refused_attempts_are_listed(app, db, world):
    person = world["focal_b"]
    client = app.test_client()
    r = password_step(client, person.username, "not the password", "203.0.113.9")
    assert r.status_code in (200, 400)
    client.environ_base["HTTP_USER_AGENT"] = FIREFOX
    full_sign_in(client, person, ip="198.51.100.7")
    with client.session_transaction() as sess:
        sess["lang"] = "en"
    page = html.unescape(client.get("/account/").get_data(as_text=True))
    assert "Your last sign-ins" in page
    assert "198.51.100.7" in page and "Firefox, Windows" in page
    assert "203.0.113.9" in page  # the refused attempt, with its address
    signed = history.recent_sign_ins(db, _user(db, world, "focal_b"))
    assert signed[0].ip == "198.51.100.7" and signed[0].browser == "Firefox, Windows"
    failures = history.recent_failures(db, _user(db, world, "focal_b"))
    assert [f.ip for f in failures] == ["203.0.113.9"]


@pytest.mark.parametrize(
    ("agent", "short"),
    [
        (FIREFOX, "Firefox, Windows"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "Safari, iOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0 Mobile Safari/537.36",
            "Chrome, Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "coc_coc_browser/128.0 Chrome/122.0 Safari/537.36",
            "Cốc Cốc, Windows",
        ),
        ("", "—"),
        ("curl/8.5.0", "curl/8.5.0"),
    ],
)
def test_a_browser_is_named_in_short(agent, short):
    assert history.browser_of(agent) == short


def test_every_change_to_the_account_is_listed_with_who_made_it(app, db, world):
    """Grant, revoke, a sign-in reset (both halves), new recovery codes: each is on the person's
    page with who made it. An exclusion from a case is not (it would tip them off); the officer
    above reads it, without the case, who excluded them or why."""
    admin = _user(db, world, "admin_d1")
    other_admin = _user(db, world, "admin_p")
    me = _user(db, world, "officer_d1")
    sch_b = db.get(Unit, world.units["SCH-B"])
    asked = approvals.request_grant(db, admin, me, "officer", sch_b, "Cover for a colleague")
    approvals.approve(db, other_admin, asked, "", asked.version)
    grant = next(g for g in me.active_grants if g.unit_id == sch_b.id)
    users.revoke_grant(db, admin, grant, "no longer needed")
    enrolment.issue_first_half(db, admin, me, "reset")
    enrolment.release_second_half(db, other_admin, me)
    db.commit()
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    records.exclude_person(db, _user(db, world, "focal_a"), case, me.id, EXCLUSION_REASON)
    unrelated = _user(db, world, "focal_b")
    users.grant_role(db, None, unrelated, "officer", sch_b)  # not about officer_d1
    db.commit()

    changes = _described(app, db, me)
    whats = [c.what for c in changes]
    assert "Excluded from a case" not in whats
    assert [w for w in whats if w != "Sessions ended"][:6] == [
        "Enrolment code completed (part 2); old sign-in ended",
        "Enrolment code issued (part 1)",
        "Role revoked",
        "Request approved",
        "Role granted",
        "Approval requested",
    ]
    by = {c.what: c.by for c in reversed(changes)}  # the newest of each
    assert by["Approval requested"] == admin.full_name
    assert by["Role granted"] == by["Request approved"] == other_admin.full_name
    assert by["Role revoked"] == admin.full_name
    assert by["Enrolment code completed (part 2); old sign-in ended"] == other_admin.full_name
    seen_above = _described(app, db, me, _user(db, world, "officer_p"))
    assert seen_above[0].what == "Excluded from a case" and seen_above[0].by == "(not shown)"
    granted = [c for c in changes if c.what == "Role granted"]
    assert granted[0].details == ["Officer at Trường B"]
    assert len(granted) == 2  # the seeded grant and this one, not focal_b's

    page = _page(Visitor(app, db, world["officer_d1"], lang="en"))
    assert "Changes to your account" in page and "Excluded from a case" not in page
    for secret in (case.reference, case.public_id, EXCLUSION_REASON, "Trường A", "focal.a"):
        assert secret not in page, secret
    assert admin.full_name in page and other_admin.full_name in page


def test_one_s_own_acts_read_you_and_reading_the_page_is_not_audited(app, db, world):
    me = _user(db, world, "focal_c")
    auth.regenerate_recovery_codes(db, me)
    db.commit()
    changes = _described(app, db, me)
    assert (changes[0].what, changes[0].by) == ("Recovery codes renewed", "you")
    visitor = Visitor(app, db, world["focal_c"], lang="en")
    before = db.scalar(select(func.max(AuditEvent.seq)))
    _page(visitor)
    assert db.scalar(select(func.max(AuditEvent.seq))) == before


def test_the_changes_are_paginated(app, db, world):
    me = _user(db, world, "focal_c")
    size = app.extensions["caseapp.settings"].page_size
    for _ in range(size + 3):
        record(
            db,
            None,
            "auth.sessions_revoked",
            unit=me.unit,
            object_type="users",
            object_id=str(me.id),
            object_ref=me.username,
            reason="test",
        )
    db.commit()
    visitor = Visitor(app, db, world["focal_c"], lang="en")
    first, second = _page(visitor), _page(visitor, "/account/?page=2")
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert first.count("Sessions ended") == size


def test_the_query_reads_indexes_not_the_whole_trail(app, db, world, database):
    """Each branch of "about this account" is an index lookup: no full scan of audit_events,
    and no matching of the person's name in the text of events (the exclusions and approvals
    that name them are found from audit_event_names)."""
    me = _user(db, world, "focal_a")
    stmt = history.changes_to(me).limit(50)
    compiled = stmt.compile(db.get_bind(), compile_kwargs={"literal_binds": True})
    if database.dialect == "sqlite":
        plan = " | ".join(
            str(row[-1]) for row in db.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        )
        assert "SEARCH audit_events USING COVERING INDEX ix_audit_events_object " in plan, plan
        assert "SEARCH audit_events USING INDEX ix_audit_events_object_ref " in plan, plan
        assert "SEARCH audit_event_names USING COVERING INDEX" in plan, plan
        assert "SCAN audit_events" not in plan.replace("SCAN audit_events USING", ""), plan
    else:
        db.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " | ".join(str(r[0]) for r in db.execute(text(f"EXPLAIN {compiled}")))
        assert "Seq Scan on audit_events" not in plan, plan
        assert "audit_event_names" in plan, plan
    assert '"user": ' not in str(compiled) and '"subject": ' not in str(compiled), compiled


def test_exclusions_and_their_lifting_are_found_by_the_names_kept_beside_them(app, db, world):
    """An exclusion's object is the case's exclusion row (gone once lifted) and an approval's
    the request: each event names the person inside its changes, and record() keeps that name
    beside it (audit_event_names), from which the history reads them, for that person only."""
    me = _user(db, world, "officer_d1")
    officer_p = _user(db, world, "officer_p")
    case = Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])
    exclusion = records.exclude_person(
        db, _user(db, world, "focal_a"), case, me.id, EXCLUSION_REASON
    )
    asked = approvals.request_exclusion_lift(db, officer_p, case, exclusion.id, "Nhầm người")
    approvals.approve(db, _user(db, world, "admin_p"), asked, "", asked.version)
    db.commit()
    named = db.execute(
        select(AuditEvent.action, AuditEventName.username)
        .join(AuditEventName, AuditEventName.seq == AuditEvent.seq)
        .where(AuditEvent.object_ref == case.reference)
        .order_by(AuditEvent.seq)
    ).all()
    assert named == [
        ("case.exclude", me.username),
        ("approval.request", me.username),
        ("case.exclusion_lift", me.username),
        ("approval.approve", me.username),
    ]
    above = [c.what for c in _described(app, db, me, officer_p)]
    assert above[:4] == [
        "Request approved",
        "An exclusion from a case was lifted",
        "Approval requested",
        "Excluded from a case",
    ]
    # Told once lifted, never of the exclusion nor of any step of the request.
    own = [c.what for c in _described(app, db, me)]
    assert "An exclusion from a case was lifted" in own
    for secret in ("Excluded from a case", "Approval requested", "Request approved"):
        assert secret not in own, secret
    # Nobody else's history holds them (who asked, who approved, who excluded).
    for other in (officer_p, _user(db, world, "admin_p"), _user(db, world, "focal_a")):
        whats = [c.what for c in _described(app, db, other, officer_p)]
        for named in ("Excluded from a case", "An exclusion from a case was lifted"):
            assert named not in whats, (other.username, named)


def test_a_name_kept_beside_another_event_does_not_pull_it_in(app, db, world):
    """Only the exclusion and approval events are found by the names kept beside them: a row
    written past the service naming someone beside a case's event does not bring the event
    into their history."""
    me = _user(db, world, "officer_d1")
    case = Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])
    created = db.scalar(
        select(AuditEvent.seq).where(
            AuditEvent.object_ref == case.reference, AuditEvent.action == "case.create"
        )
    )
    before = [c.what for c in _described(app, db, me, _user(db, world, "officer_p"))]
    db.add(AuditEventName(username=me.username, seq=created))
    db.flush()
    assert [c.what for c in _described(app, db, me, _user(db, world, "officer_p"))] == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event_names SET username = 'someone.else'",
        "DELETE FROM audit_event_names",
        "TRUNCATE audit_event_names",
    ],
)
def test_the_names_kept_beside_events_are_append_only(app, db, world, database, statement):
    """As the trail itself: hiding an exclusion from the officer above the person (or moving
    it to someone else's history) by rewriting the names is refused by the database."""
    if statement.startswith("TRUNCATE") and database.dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE statement (DELETE is refused instead)")
    case = Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])
    me = _user(db, world, "officer_d1")
    records.exclude_person(db, _user(db, world, "focal_a"), case, me.id, EXCLUSION_REASON)
    db.flush()
    kept = db.execute(select(AuditEventName.username, AuditEventName.seq)).all()
    assert (me.username,) in [(name,) for name, _seq in kept]
    nested = db.begin_nested()
    with pytest.raises(DatabaseError, match="append-only"):
        db.execute(text(statement))
    nested.rollback()
    assert db.execute(select(AuditEventName.username, AuditEventName.seq)).all() == kept


def test_an_officer_above_reads_the_changes_to_a_person_s_account(app, db, world):
    admin = _user(db, world, "admin_d1")
    person = _user(db, world, "focal_a")
    sch_b = db.get(Unit, world.units["SCH-B"])
    asked = approvals.request_grant(db, admin, person, "focal_point", sch_b, "Second school")
    approvals.approve(db, _user(db, world, "admin_p"), asked, "", asked.version)
    db.commit()
    page = _page(Visitor(app, db, world["officer_d1"], lang="en"), f"/account/people/{person.id}")
    assert f"Changes to the account of {person.full_name}" in page
    assert "Role granted" in page and "Approval requested" in page and admin.full_name in page
    assert "Your last sign-ins" not in page  # their sign-ins and addresses are theirs
    # Not above the person, not an officer, or oneself (that is /account/): nothing to see.
    for name, whose in [("officer_d2", person.id), ("focal_b", person.id), ("admin_d1", person.id)]:
        assert Visitor(app, db, world[name]).get(f"/account/people/{whose}").status_code == 404
    officer = world["officer_d1"]
    assert Visitor(app, db, officer).get(f"/account/people/{officer.id}").status_code == 404


def test_a_request_to_lift_an_exclusion_names_neither_the_case_nor_who_asked(app, db, world):
    """An approval about an exclusion carries the case in its object reference: it is found by
    the person named in it; never shown to them (it would tip them off), and shown to the
    officer above them without the case or the people involved."""
    me = _user(db, world, "officer_d1")
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    record(
        db,
        _user(db, world, "officer_p"),
        "approval.request",
        unit=case.unit,
        object_type="approval_requests",
        object_id="999",
        object_ref=case.reference,
        reason="Nhầm người",
        changes={"kind": "exclusion_lift", "subject": me.username, "case": case.reference},
    )
    db.commit()
    assert "Approval requested" not in [c.what for c in _described(app, db, me)]
    page = _page(Visitor(app, db, world["officer_d1"], lang="en"))
    for secret in ("Lifting an exclusion from a case", case.reference, "Nhầm người", "officer.p"):
        assert secret not in page, secret
    above = _described(app, db, me, _user(db, world, "officer_p"))
    [change] = [c for c in above if c.what == "Approval requested"]
    assert change.by == "(not shown)" and change.details == ["Lifting an exclusion from a case"]
    # Someone else named in an approval (here: who asked) does not get it on their page.
    other = _user(db, world, "officer_p")
    assert "Approval requested" not in [c.what for c in _described(app, db, other)]
