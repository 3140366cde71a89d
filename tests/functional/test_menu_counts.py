"""The numbers on the menu's links (self-reports waiting, unread notices, approvals waiting):
for each person the counts their own services give, read in one statement per page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import insert, select, text

from caseapp.models import ApprovalRequest, Notification, Unit, User
from caseapp.security.authz import has_permission
from caseapp.services.accounts import approvals
from caseapp.services.cases import notifications
from caseapp.services.cases.notifications import unread_count
from caseapp.services.menu_counts import menu_counts
from caseapp.services.selfreports import inbox
from tests.factories import Visitor, statements_sent
from tests.functional.report_support import CASES, new_case
from tests.functional.selfreport_support import submit_report


def _something_waits(db, world) -> ApprovalRequest:
    """Reports at SCH-A (one naming staff, so at D1; their handlers get notices) and a grant
    asked by D1's administrator, which the province's administrator decides."""
    school = db.get(Unit, world.units["SCH-A"])
    submit_report(db, school)
    submit_report(db, school, who_did="teacher_staff", danger=True)
    asker, subject = db.get(User, world["admin_d1"].id), db.get(User, world["nobody"].id)
    made = approvals.request_grant(db, asker, subject, "focal_point", school, "x")
    assert isinstance(made, ApprovalRequest)
    db.commit()
    return made


def test_each_number_is_the_count_of_its_own_service(db, world):
    _something_waits(db, world)
    shown = {}
    for name in world.people:
        user = db.get(User, world[name].id)
        handles = has_permission(user, "selfreport.handle")
        decides = has_permission(user, "approval.decide")
        counts = menu_counts(db, user, with_selfreports=handles, with_approvals=decides)
        assert counts.unread_notices == unread_count(db, user), name
        assert counts.selfreports == (inbox.waiting(db, user) if handles else inbox.Waiting())
        assert counts.approvals == (approvals.waiting_count(db, user) if decides else 0), name
        shown[name] = (counts.selfreports.total, counts.unread_notices, counts.approvals)
    # The data make every number non-zero for someone, and zero for others.
    assert shown["officer_d1"][0] == 2 and shown["focal_a"][0] == 1
    assert shown["focal_a"][1] >= 1 and shown["admin_p"][2] == 1
    assert shown["focal_c"] == (0, 0, 0) and shown["admin_d1"][2] == 0


def test_a_page_reads_the_menus_numbers_in_one_statement(app, db, world):
    _something_waits(db, world)
    agent = Visitor(app, db, world["officer_d1"])
    engine = app.extensions["caseapp.engine"]
    with statements_sent(engine) as sent:
        page = agent.get("/cases/").get_data(as_text=True)
    menu = [s for s in sent if "FROM notifications" in s or "FROM self_reports" in s]
    assert len(menu) == 1, menu
    assert "FROM self_reports" in menu[0] and "FROM approval_requests" in menu[0]
    assert '<span class="badge" title="' in page
    if engine.dialect.name == "postgresql":
        # No parameter: PostgreSQL plans the prepared statement once per connection, not
        # once per page (the person's id and paths are written in, the present is now()).
        assert "%(" not in menu[0] and "now()" in menu[0], menu[0]
        assert f"notifications.user_id = {world['officer_d1'].id}" in menu[0]


def test_while_a_request_waits_the_menu_costs_its_decider_three_statements(app, db, world):
    """The approvals' number, when a request waits in reach, is the rule applied to the
    candidates: the candidates with their units (one statement), everyone who could decide
    (one), the units of an auditor grant asked for (only then). No person is loaded."""
    req = _something_waits(db, world)
    agent = Visitor(app, db, world["admin_p"])
    engine = app.extensions["caseapp.engine"]
    agent.get("/cases/")
    with statements_sent(engine) as sent:
        page = agent.get("/account/").get_data(as_text=True)
    about = [s for s in sent if "approval_requests" in s or "FROM grants" in s]
    assert len(about) == 3, sent  # the menu's counts, the candidates, the deciders
    assert not [s for s in sent if "FROM users" in s and "user_sessions" not in s], sent
    decider = db.get(User, world["admin_p"].id)
    assert [r.id for r in approvals.waiting_for(db, decider)] == [req.id]
    assert approvals.waiting_count(db, decider) == 1
    assert re.search(r'href="/admin/approvals"[^>]*>[^<]*<span class="badge"[^>]*>1<', page), page


def test_the_kept_statement_reads_what_is_there_now(db, world):
    """The statement is built once per person and grants and run again: a report or a
    request that arrives later is counted, a request that expires meanwhile is not (the
    present is read at each run: PostgreSQL's now(), elsewhere a parameter)."""
    from caseapp.services import menu_counts as kept

    kept._statements.clear()
    admin_p = db.get(User, world["admin_p"].id)
    officer = db.get(User, world["officer_d1"].id)
    assert menu_counts(db, admin_p, False, True).approvals == 0
    assert menu_counts(db, officer, True, True).selfreports.total == 0
    assert len(kept._statements) == 2
    asked = _something_waits(db, world)
    assert menu_counts(db, officer, True, True).selfreports.total == 2
    assert menu_counts(db, admin_p, False, True).approvals == 1
    assert len(kept._statements) == 2  # run again, not built again
    # The request's week has passed: the kept statement says so.
    asked.expires_at = approvals.utcnow() - approvals.timedelta(minutes=1)
    db.flush()
    assert menu_counts(db, admin_p, False, True).approvals == 0
    assert len(kept._statements) == 2


def test_a_grant_revoked_or_added_makes_another_statement(db, world):
    """The statement is kept per person and grants: once a grant is revoked, the counts are
    those of the scope left, never those of the scope the person had."""
    from caseapp.services import menu_counts as kept
    from caseapp.services.accounts import users

    _something_waits(db, world)
    kept._statements.clear()
    officer = db.get(User, world["officer_d1"].id)
    assert menu_counts(db, officer, True, True).selfreports.total == 2
    for grant in list(officer.active_grants):
        users.revoke_grant(db, None, grant, "moved")
    db.flush()
    db.refresh(officer)
    assert not has_permission(officer, "selfreport.handle")
    assert menu_counts(db, officer, True, True).selfreports == inbox.Waiting()
    assert menu_counts(db, officer, True, True).unread_notices == unread_count(db, officer)
    # Given a grant at one school of the office, the person sees that school's report only.
    users.grant_role(db, None, officer, "officer", db.get(Unit, world.units["SCH-A"]))
    db.flush()
    db.refresh(officer)
    waiting = menu_counts(db, officer, True, True).selfreports
    assert waiting == inbox.waiting(db, officer) and waiting.total == 1
    assert len(kept._statements) == 3


def test_people_with_the_same_grants_each_have_their_own(db, world):
    """focal_a and new_user hold the same grant (focal point of SCH-A): a notice to one is
    counted for that one only."""
    from caseapp.services import menu_counts as kept
    from caseapp.services.cases.notifications import add_notice

    kept._statements.clear()
    focal, twin = db.get(User, world["focal_a"].id), db.get(User, world["new_user"].id)
    before = {u.id: menu_counts(db, u, True, False).unread_notices for u in (focal, twin)}
    assert add_notice(db, focal, None, "test", "menu-twin")
    db.flush()
    assert menu_counts(db, focal, True, False).unread_notices == before[focal.id] + 1
    assert menu_counts(db, twin, True, False).unread_notices == before[twin.id]
    assert len(kept._statements) == 2


def test_a_grant_whose_unit_moves_follows_it(db, world):
    """The key holds each grant's place in the tree: once SCH-A moves to D2, an officer
    granted at SCH-A still counts its report (its path changed with it)."""
    from caseapp.clock import local_today
    from caseapp.services import menu_counts as kept
    from caseapp.services.accounts import users
    from caseapp.services.org.units import move_unit

    _something_waits(db, world)
    kept._statements.clear()
    officer = db.get(User, world["officer_d1"].id)
    for grant in list(officer.active_grants):
        users.revoke_grant(db, None, grant, "moved")
    school = db.get(Unit, world.units["SCH-A"])
    users.grant_role(db, None, officer, "officer", school)
    db.flush()
    db.refresh(officer)
    assert menu_counts(db, officer, True, True).selfreports.total == 1
    move_unit(db, None, school, db.get(Unit, world.units["D2"]), local_today(), school.version)
    db.flush()
    db.refresh(officer)
    assert menu_counts(db, officer, True, True).selfreports.total == 1
    assert menu_counts(db, officer, True, True).selfreports == inbox.waiting(db, officer)


def _without(params: dict, keys: tuple) -> dict:
    return {k: v for k, v in params.items() if k not in keys}


def test_a_kept_statement_is_the_one_built_now(db, world):
    """For every person, the kept statement compiles to the SQL and the values of one built
    again after the units changed (a school added, a school moved): the statement reads
    nothing in Python beyond the person's id and grants, which its key holds."""
    from caseapp.clock import local_today
    from caseapp.services import menu_counts as kept
    from caseapp.services.org.units import create_unit, move_unit

    kept._statements.clear()
    people = [db.get(User, person.id) for person in world.people.values()]
    for user in people:
        menu_counts(db, user, True, True)
    d1 = db.get(Unit, world.units["D1"])
    create_unit(db, None, d1, "SCH-NEW", "Trường mới", "school")
    school = db.get(Unit, world.units["SCH-B"])
    move_unit(db, None, school, db.get(Unit, world.units["D2"]), local_today(), school.version)
    db.flush()
    dialect = db.get_bind().dialect
    for user in people:
        db.refresh(user)
        stored = kept._kept_statement(user, True, True).compile(dialect=dialect)
        fresh = kept._statement(user, True, True).compile(dialect=dialect)
        assert str(stored) == str(fresh), user.username
        # Elsewhere than PostgreSQL the present is a parameter read at each run (db.present).
        moment = ("present",)
        assert _without(stored.params, moment) == _without(fresh.params, moment), user.username


def test_the_unread_notices_stop_at_99_plus_and_leave_out_cases_out_of_sight(app, db, world):
    """An officer above many schools gets a notice for each of their overdue cases: the menu
    counts them to a hundred and shows "99+" (it used to count them all on every page, 2.1 s
    with 150,000); notices about a case the person may no longer see are not counted."""
    officer = db.get(User, world["officer_d1"].id)
    visible = new_case(db, world, next(s for s in CASES if s.school == "SCH-A"))
    hidden = new_case(db, world, next(s for s in CASES if s.school == "SCH-C"))  # not in D1
    db.commit()
    seed = unread_count(db, officer)  # what the seed's and the cases' own events left
    assert seed < 10
    for i in range(98 - seed):
        notifications.add_notice(db, officer, visible, "overdue", f"test-visible:{i}")
    for i in range(5):
        notifications.add_notice(db, officer, hidden, "overdue", f"test-hidden:{i}")
    db.commit()
    agent = Visitor(app, db, world["officer_d1"])

    def badge() -> str:
        page = agent.get("/cases/").get_data(as_text=True)
        found = re.search(r'href="/notifications">[^<]*<span class="badge"[^>]*>([^<]+)<', page)
        assert found, page
        return found.group(1)

    assert unread_count(db, officer) == 98 and badge() == "98"  # the hidden five left out
    for i in range(2):
        notifications.add_notice(db, officer, visible, "overdue", f"test-more:{i}")
    db.commit()
    assert unread_count(db, officer) == notifications.UNREAD_SHOWN + 1
    assert badge() == "99+"
    notifications.mark_all_read(db, officer)
    db.commit()
    assert unread_count(db, officer) == 0


def test_the_notices_cases_are_looked_up_one_by_one_never_hashed_whole(db, world, database):
    """The case of each notice read is looked up in the cases the person may see, one index
    lookup per notice: PostgreSQL turned that test into a hash of every case the officer may
    see, built before the first notice is read (100,000 cases hashed, 32 ms on every page, to
    count a hundred notices). With many notices, statistics gathered, the plan must not."""
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL's planner (SQLite has no hashed subplans)")
    officer = db.get(User, world["officer_d1"].id)
    case = new_case(db, world, next(s for s in CASES if s.school == "SCH-A"))
    db.flush()
    db.execute(
        insert(Notification),
        [
            {"user_id": officer.id, "case_id": case.id, "kind": "overdue", "dedupe_key": f"t:{i}"}
            for i in range(3000)
        ],
    )
    db.execute(text("ANALYZE notifications"))
    db.execute(text("ANALYZE cases"))
    for stmt in (
        notifications.unread_count_query(officer),
        select(Notification).where(*notifications._shown_to(officer)).limit(100),
    ):
        compiled = stmt.compile(db.get_bind(), compile_kwargs={"literal_binds": True})
        plan = "\n".join(r[0] for r in db.execute(text(f"EXPLAIN {compiled}")))
        assert "hashed SubPlan" not in plan and "Hash Semi Join" not in plan, plan
        assert "SubPlan" in plan, plan  # the lookup, once per notice
    assert unread_count(db, officer) == notifications.UNREAD_SHOWN + 1
