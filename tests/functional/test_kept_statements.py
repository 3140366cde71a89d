"""Statements built once and kept (caseapp.kept_statements): the store itself, and each use
of it serving exactly the statement that would be built now, whatever changed in between (a
grant, a unit's place, the units listed, the day)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseapp.clock import local_today
from caseapp.kept_statements import KeptStatements, person_key
from caseapp.models import Unit, User
from caseapp.security.authz import has_permission
from caseapp.services.accounts import sessions, users
from caseapp.services.cases import access, listing, monitoring
from caseapp.services.org.units import move_unit
from caseapp.services.privacy import requests as subject_requests


def test_the_store_builds_once_per_key_and_forgets_the_least_used():
    built: list[str] = []
    store: KeptStatements[str] = KeptStatements(2)

    def build(name):
        return lambda: built.append(name) or name

    assert store.get("a", build("a")) == "a"
    assert store.get("a", build("a again")) == "a"
    assert store.get("b", build("b")) == "b"
    assert store.get("a", build("a again")) == "a"  # a is now the most recent
    assert store.get("c", build("c")) == "c"  # b goes
    assert len(store) == 2
    assert store.get("a", build("a again")) == "a"
    assert store.get("b", build("b again")) == "b again"
    assert built == ["a", "b", "c", "b again"]
    store.clear()
    assert len(store) == 0


def _compiled(db, stmt) -> tuple[str, dict]:
    compiled = stmt.compile(dialect=db.get_bind().dialect)
    # Elsewhere than PostgreSQL the present is a parameter read at each run (db.present).
    return str(compiled), {k: v for k, v in compiled.params.items() if k != "present"}


def _same(db, kept: monitoring.WorkStatements, fresh: monitoring.WorkStatements) -> bool:
    pairs = [
        (kept.overdue, fresh.overdue),
        (kept.new, fresh.new),
        (kept.upcoming, fresh.upcoming),
        *zip(kept.today, fresh.today, strict=True),
    ]
    return all(_compiled(db, a) == _compiled(db, b) for a, b in pairs)


def _writers(db, world) -> list[User]:
    people = [db.get(User, person.id) for person in world.people.values()]
    return [user for user in people if has_permission(user, "case.write")]


def _all_kept_are_built_now(db, world) -> None:
    for user in _writers(db, world):
        db.refresh(user)
        kept = monitoring.work_statements(db, user)
        fresh = monitoring._work_statements(user, access.scope_unit_ids(db, user, "case.write"))
        assert _same(db, kept, fresh), user.username


def test_my_works_kept_statements_are_the_ones_built_now(db, world, monkeypatch):
    """For every person who writes cases, the statements my work runs are those built again
    after a grant is added, a school moves to another office, and the day turns."""
    monitoring._work.clear()
    for user in _writers(db, world):
        monitoring.my_work(db, user)
    kept_before = len(monitoring._work)
    _all_kept_are_built_now(db, world)
    assert len(monitoring._work) == kept_before  # nothing changed: nothing built again

    focal = db.get(User, world["focal_a"].id)
    users.grant_role(db, None, focal, "focal_point", db.get(Unit, world.units["SCH-B"]))
    school = db.get(Unit, world.units["SCH-A"])
    move_unit(db, None, school, db.get(Unit, world.units["D2"]), local_today(), school.version)
    db.flush()
    _all_kept_are_built_now(db, world)

    # A day later (the follow-ups' window, today's end): other statements.
    from caseapp import clock
    from caseapp.services.cases import deadlines

    tomorrow = clock.utcnow() + timedelta(days=1)
    monkeypatch.setattr(clock, "utcnow", lambda: tomorrow)
    monkeypatch.setattr(deadlines, "utcnow", lambda: tomorrow)
    before = _compiled(db, monitoring.work_statements(db, focal).upcoming)
    _all_kept_are_built_now(db, world)
    monkeypatch.undo()
    assert _compiled(db, monitoring.work_statements(db, focal).upcoming) != before


def test_a_revoked_grant_is_never_served_the_scope_it_had(db, world):
    """focal_b's statements are kept; once their grant is revoked, my work shows nothing
    (their scope is empty), not the school they had."""
    monitoring._work.clear()
    focal = db.get(User, world["focal_b"].id)
    kept = monitoring.work_statements(db, focal)
    for grant in list(focal.active_grants):
        users.revoke_grant(db, None, grant, "moved")
    db.flush()
    db.refresh(focal)
    assert monitoring.work_statements(db, focal) is not kept
    assert person_key(focal)[1] == ()


@pytest.mark.parametrize("name", ["focal_a", "officer_p"])
def test_the_sign_in_session_statement_is_built_once(db, world, name):
    """load_session runs one statement object for every token: the value is the token's
    hash, sent when it runs; an unknown token finds nothing."""
    user = db.get(User, world[name].id)
    token, record = sessions.open_session(db, user, "127.0.0.1", "test")
    db.flush()
    assert sessions.load_session(db, token) is record
    assert sessions.load_session(db, token + "x") is None
    assert sessions.load_session(db, "") is None


FILTERS = [
    listing.CaseFilter(),
    listing.CaseFilter(status="verifying", violence="sexual_harassment"),
    listing.CaseFilter(overdue=True),
    listing.CaseFilter(due="today"),
    listing.CaseFilter(due="fortnight", sort="received_asc"),
    listing.CaseFilter(urgent=True, sort="risk"),
    listing.CaseFilter(sort="reference"),
    listing.CaseFilter(reference="sch-a_%/"),
]


def _every_kept(db, world, monkeypatch, fresh: bool) -> list:
    """Every statement the screens take from a store, for every person, compiled: the list's
    count and page (first, next and previous pages) for each filter, the cursors' statement,
    the home counts, the units of the scope, the overdue requests about personal data, my
    work's lists, monitoring's schools, tallies, exclusions and trend (each level). Kept
    ones, or (``fresh``) each built again, the stores left aside."""
    taken: list = []
    keep = KeptStatements.get

    def get(store, key, build):
        found = build() if fresh else keep(store, key, build)
        if isinstance(found, monitoring.WorkStatements):
            taken.extend((found.overdue, found.new, found.upcoming, *found.today))
        else:
            taken.extend(found if isinstance(found, tuple) else (found,))
        return found

    monkeypatch.setattr(KeptStatements, "get", get)
    for person in world.people.values():
        user = db.get(User, person.id)
        db.refresh(user)
        for flt in FILTERS:
            for paged, backward in ((False, False), (True, False), (True, True)):
                listing._list_statements(user, flt, 20, paged, backward)
            listing._boundary(db, user, flt, "0" * 36)
        listing.attention_counts(db, user)
        subject_requests.overdue_requests(db, user)
        if has_permission(user, "case.write"):
            monitoring.my_work(db, user)
        if has_permission(user, "case.oversee"):
            unit = monitoring.default_unit(db, user)
            for level in (None, "primary"):
                monitoring.school_rows(db, user, unit, level)
                monitoring.monthly_trend(db, user, unit, level=level)
    monkeypatch.undo()
    return [_compiled(db, stmt) for stmt in taken]


def test_every_kept_statement_is_the_one_built_now(db, world, monkeypatch):
    """For every person, every kept statement of the case list, the home page, my work,
    monitoring, the scope's units and the overdue requests compiles to the SQL and values of
    one built again after grants change and a school moves: each key holds what its builder
    reads."""
    _every_kept(db, world, monkeypatch, fresh=False)
    focal = db.get(User, world["focal_a"].id)
    users.grant_role(db, None, focal, "focal_point", db.get(Unit, world.units["SCH-B"]))
    officer = db.get(User, world["officer_d1"].id)
    for grant in list(officer.active_grants):
        users.revoke_grant(db, None, grant, "moved")
    school = db.get(Unit, world.units["SCH-B"])
    move_unit(db, None, school, db.get(Unit, world.units["D2"]), local_today(), school.version)
    db.flush()
    kept = _every_kept(db, world, monkeypatch, fresh=False)
    assert len(kept) > 500
    assert kept == _every_kept(db, world, monkeypatch, fresh=True)
