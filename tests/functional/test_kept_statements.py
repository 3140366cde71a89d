"""Statements built once and kept (caseapp.kept_statements): the store itself, and each use
of it serving exactly the statement that would be built now, whatever changed in between (a
grant, a unit's place, the units listed, the day)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from caseapp.clock import local_today
from caseapp.kept_statements import KeptStatements, person_key
from caseapp.models import Unit, User
from caseapp.security.authz import has_permission
from caseapp.services import menu_counts
from caseapp.services.accounts import sessions, users
from caseapp.services.cases import access, listing, monitoring, records
from caseapp.services.org.units import move_unit
from caseapp.services.privacy import requests as subject_requests
from tests.factories import Visitor, signed_in_as


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
        (kept.together, fresh.together),
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
        units = access.scope_unit_ids(db, user, "case.write")
        postgresql = db.get_bind().dialect.name == "postgresql"
        fresh = monitoring._work_statements(user, units, local_today(), postgresql)
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
    work = monitoring.my_work(db, focal)
    assert [list(w.rows) for w in work.values()] == [[], [], [], []]


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


def _every_kept(db, world, monkeypatch, fresh: bool, tokens: dict | None = None) -> list:
    """Every statement the screens take from a store, for every person, compiled: the list's
    count and page (first, next and previous pages, for PostgreSQL and for SQLite) for each
    filter, the cursors' statement, the home counts, the units of the scope, the overdue
    requests about personal data (theirs and below each unit they monitor), my work's lists,
    monitoring's schools, tallies, exclusions and trend (each unit they may monitor, each
    level). Kept ones, or (``fresh``) each built again, the stores left aside. ``tokens``:
    each person read through their sign-in session (with their exclusions), not by id."""
    taken: list = []
    keep = KeptStatements.get

    def get(store, key, build):
        found = build() if fresh else keep(store, key, build)
        if isinstance(found, monitoring.WorkStatements):
            taken.extend((found.overdue, found.new, found.upcoming, *found.today))
        else:
            taken.extend(found if isinstance(found, tuple) else (found,))
        return found

    with monkeypatch.context() as patched:
        patched.setattr(KeptStatements, "get", get)
        for name, person in world.people.items():
            user = db.get(User, person.id)
            db.refresh(user)
            if tokens is not None:
                found = sessions.load_session(db, tokens[name])
                assert found is not None and found.user is user
            for flt in FILTERS:
                for paged, backward in ((False, False), (True, False), (True, True)):
                    for sqlite in (False, True):
                        listing._list_statements(user, flt, 20, paged, backward, sqlite)
                listing._boundary(db, user, flt, "0" * 36)
            listing.attention_counts(db, user)
            menu_counts.menu_counts(db, user, with_selfreports=True, with_approvals=True)
            subject_requests.overdue_requests(db, user)
            if has_permission(user, "case.write"):
                monitoring.my_work(db, user)
            if has_permission(user, "case.oversee"):
                top = monitoring.default_unit(db, user)
                for unit in (top, *monitoring.offices_below(db, top)):
                    subject_requests.overdue_count_below(db, user, unit)
                    for level in (None, "primary"):
                        monitoring.school_rows(db, user, unit, level)
                        monitoring.monthly_trend(db, user, unit, level=level)
    return [_compiled(db, stmt) for stmt in taken]


STORES = (
    menu_counts._statements,
    listing._lists,
    listing._cursors,
    listing._attention,
    access._units,
    monitoring._work,
    monitoring._monitoring,
    subject_requests._overdue,
)


def test_every_kept_statement_is_the_one_built_now(db, world, monkeypatch):
    """For every person, every kept statement of the case list, the home page, the menu's
    numbers, my work, monitoring, the scope's units and the overdue requests compiles to the
    SQL and values of one built again after grants change and a school moves, and again the
    next day: each key holds what its builder reads."""
    for store in STORES:
        # Room for all of them (the world's people ask for more than KEPT list statements):
        # each pass then serves what the one before kept.
        monkeypatch.setattr(store, "size", 100_000)
        store.clear()
    _every_kept(db, world, monkeypatch, fresh=False)
    assert all(len(store) for store in STORES)
    focal = db.get(User, world["focal_a"].id)
    users.grant_role(db, None, focal, "focal_point", db.get(Unit, world.units["SCH-B"]))
    officer = db.get(User, world["officer_d1"].id)
    for grant in list(officer.active_grants):
        users.revoke_grant(db, None, grant, "moved")
    school = db.get(Unit, world.units["SCH-B"])
    move_unit(db, None, school, db.get(Unit, world.units["D2"]), local_today(), school.version)
    db.flush()
    kept = _every_kept(db, world, monkeypatch, fresh=False)
    assert len(kept) > 1000
    assert kept == _every_kept(db, world, monkeypatch, fresh=True)

    # The next day ("due today", the follow-ups' window, the overdue requests, the trend's
    # months when the month turns): what was kept yesterday is not served.
    from caseapp import clock
    from caseapp.services.cases import deadlines
    from caseapp.services.privacy import requests

    tomorrow = clock.utcnow() + timedelta(days=1)
    for module in (clock, deadlines, requests):
        monkeypatch.setattr(module, "utcnow", lambda: tomorrow)
    assert _every_kept(db, world, monkeypatch, fresh=False) == _every_kept(
        db, world, monkeypatch, fresh=True
    )


def test_an_exclusion_made_after_a_statement_is_kept_is_obeyed(app, db, world):
    """officer_d1's list, home counts and monitoring are kept with a case of SCH-A in them;
    once they are excluded from it, the same kept statements leave it out."""
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    db.commit()
    officer = db.get(User, world["officer_d1"].id)
    district = db.get(Unit, world.units["D1"])

    def seen() -> tuple:
        page = listing.case_page(db, officer, listing.CaseFilter(), 50)
        rows = {r["unit"].code: r for r in monitoring.school_rows(db, officer, district)}
        return (
            case.id in {row.id for row in page.rows},
            page.total.n,
            listing.attention_counts(db, officer)["open"].n,
            rows["SCH-A"]["total"],
        )

    before = seen()
    assert before[0]
    kept = len(listing._lists), len(listing._attention), len(monitoring._monitoring)
    records.exclude(db, db.get(User, world["focal_a"].id), case, "officer.d1", "Người thân")
    db.commit()
    db.expire_all()
    officer = db.get(User, world["officer_d1"].id)
    assert seen() == (False, before[1] - 1, before[2] - 1, before[3] - 1)
    assert (len(listing._lists), len(listing._attention), len(monitoring._monitoring)) == kept


def test_people_of_one_scope_share_the_screens_statements_until_one_is_excluded(app, db, world):
    """Two focal points of school A, excluded from nothing, are served the same kept
    statements of the list and my work, which name no person (no lookup of exclusions), and
    read the same units; once one of them is excluded from a case, theirs leave that case out
    by its id and the other's still list it."""
    from caseapp.runtime import keyring
    from tests.factories import make_user

    case = Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])
    school = db.get(Unit, world.units["SCH-A"])
    second = make_user(db, keyring(), "focal.a2", school, [("focal_point", school)])
    first_user, second_user = signed_in_as(db, world["focal_a"]), signed_in_as(db, second)
    assert first_user.excluded_case_ids == second_user.excluded_case_ids == ()
    flt = listing.CaseFilter()
    shared = listing._list_statements(first_user, flt, 20, False, False)
    assert listing._list_statements(second_user, flt, 20, False, False) is shared
    work = monitoring.work_statements(db, first_user)
    assert monitoring.work_statements(db, second_user) is work
    for stmt in (*shared, work.together):
        assert "case_exclusions" not in _compiled(db, stmt)[0]
    assert access.scope_unit_ids(db, first_user) == access.scope_unit_ids(db, second_user)

    def listed(user) -> set[int]:
        return {row.id for row in listing.case_page(db, user, flt, 50).rows}

    assert case.id in listed(second_user)
    records.exclude(db, first_user, case, "focal.a2", "Người thân")
    db.flush()
    second_user = signed_in_as(db, second)
    assert second_user.excluded_case_ids == (case.id,)
    theirs = listing._list_statements(second_user, flt, 20, False, False)
    assert theirs is not shared
    assert "case_exclusions" not in _compiled(db, theirs[1])[0]
    assert case.id in listed(first_user)
    assert case.id not in listed(second_user)
    work = monitoring.my_work(db, second_user)
    assert case.id not in {row.id for w in work.values() for row in w.rows}
    assert case.id in {
        row.id for w in monitoring.my_work(db, first_user).values() for row in w.rows
    }


def test_each_request_reads_the_exclusions_again(app, db, world):
    """The officer's list, home and monitoring, kept with a case of school A in them: an
    exclusion committed between two requests hides it at the next request (the sign-in
    session's statement reads the exclusions at each request), and the exclusion lifted
    shows it again; their case page answers 404 meanwhile."""
    from caseapp.models import CaseExclusion
    from tests.functional.workflow_support import text_of

    case = Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])
    db.commit()
    officer = Visitor(app, db, world["officer_d1"], lang="en")

    def seen() -> tuple:
        listed = case.reference in text_of(officer.get("/cases/"))
        home = officer.get("/")
        monitoring_page = officer.get("/monitoring")
        shown = officer.get(f"/cases/{case.public_id}").status_code
        assert home.status_code == monitoring_page.status_code == 200
        return (
            listed,
            shown,
            *(
                re.sub(r'name="csrf_token" value="[^"]*"', "", text_of(page))
                for page in (home, monitoring_page)
            ),
        )

    before = seen()
    assert before[:2] == (True, 200)
    assert seen() == before  # kept statements served again: the same pages
    records.exclude(
        db, db.get(User, world["focal_a"].id), case, "officer.d1", "Người thân của học sinh"
    )
    db.commit()
    hidden = seen()
    assert hidden[:2] == (False, 404)
    assert hidden[2] != before[2] and hidden[3] != before[3]  # the counts lost the case
    db.execute(CaseExclusion.__table__.delete().where(CaseExclusion.case_id == case.id))
    db.commit()
    assert seen() == before


def test_every_kept_statement_of_people_signed_in_is_the_one_built_now(app, db, world, monkeypatch):
    """The same for every person read through their sign-in session (the cases they are
    excluded from written into the statements, people of one scope sharing them), after one
    is excluded from a case and another's exclusion is lifted."""
    from caseapp.models import CaseExclusion

    for store in STORES:
        monkeypatch.setattr(store, "size", 100_000)
        store.clear()
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case, other = (focal.intake(db, world.units["SCH-A"]) for _ in range(2))
    actor = db.get(User, world["focal_a"].id)
    records.exclude(db, actor, other, "officer.p", "Người thân")
    tokens = {}
    for name, person in world.people.items():
        tokens[name], _record = sessions.open_session(
            db, db.get(User, person.id), "127.0.0.1", "test"
        )
    db.flush()
    before = _every_kept(db, world, monkeypatch, fresh=False, tokens=tokens)
    assert before == _every_kept(db, world, monkeypatch, fresh=True, tokens=tokens)
    records.exclude(db, actor, case, "officer.d1", "Người thân")
    db.execute(CaseExclusion.__table__.delete().where(CaseExclusion.case_id == other.id))
    db.flush()
    kept = _every_kept(db, world, monkeypatch, fresh=False, tokens=tokens)
    assert kept != before
    assert kept == _every_kept(db, world, monkeypatch, fresh=True, tokens=tokens)


def test_the_exclusions_read_with_the_session_serve_until_its_transaction_ends(
    app, db, world, monkeypatch
):
    """After a commit or a rollback a person's screens ask the database again by id (a
    session kept longer than a request never serves a stale list); a person excluded from
    more cases than are written into a statement is asked by id from the start, and the
    case stays out of their list."""
    case = Visitor(app, db, world["focal_a"], lang="en").intake(db, world.units["SCH-A"])
    officer = signed_in_as(db, world["officer_d1"])
    assert officer.excluded_case_ids == ()
    db.commit()
    assert officer.excluded_case_ids is None
    officer = signed_in_as(db, world["officer_d1"])
    assert officer.excluded_case_ids == ()
    db.rollback()
    assert officer.excluded_case_ids is None

    records.exclude(db, db.get(User, world["focal_a"].id), case, "officer.d1", "Người thân")
    db.flush()
    assert signed_in_as(db, world["officer_d1"]).excluded_case_ids == (case.id,)
    monkeypatch.setattr(sessions, "EXCLUSIONS_WRITTEN_MAX", 0)
    officer = signed_in_as(db, world["officer_d1"])
    assert officer.excluded_case_ids is None
    page = listing.case_page(db, officer, listing.CaseFilter(), 50)
    assert case.id not in {row.id for row in page.rows}
    assert (
        "case_exclusions"
        in _compiled(
            db, listing._list_statements(officer, listing.CaseFilter(), 50, False, False)[1]
        )[0]
    )
