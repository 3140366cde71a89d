"""The daily screens at scale (issue 16): counts that stop at a ceiling and say "more than",
case list pages read from where they start (keyset), my work and monitoring from the open
cases alone; scoping and exclusions hold on every one of these paths."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select, text

from caseapp.cases import views as case_views
from caseapp.clock import local_today
from caseapp.db import utcnow
from caseapp.models import Case, CaseStep, Unit, User
from caseapp.services.audit import trail
from caseapp.services.cases import clocks, listing, monitoring, records, tally
from caseapp.services.cases.listing import CaseFilter, case_page
from caseapp.services.cases.tally import Tally
from tests.factories import Visitor, squeezed, statements_sent
from tests.functional.case_attack_support import listed
from tests.functional.case_support import intake_form
from tests.functional.workflow_support import (
    add,
    done_follow_up,
    move,
    schedule_follow_up,
    text_of,
)


@pytest.fixture()
def focal(app, db, world):
    return Visitor(app, db, world["focal_a"], lang="en")


def _user(db, world, name) -> User:
    return db.get(User, world[name].id)


@pytest.fixture()
def cases(db, world, focal, app):
    """Five cases of school A on five days, two of school B (district 1), one of school C
    (district 2); the officer of district 1 excluded from the third case of school A."""
    today = local_today()
    a = [
        focal.intake(db, world.units["SCH-A"], received_on=today - timedelta(days=k))
        for k in range(5)
    ]
    b_visitor = Visitor(app, db, world["focal_b"], lang="en")
    b = [b_visitor.intake(db, world.units["SCH-B"], received_on=today) for _ in range(2)]
    c = Visitor(app, db, world["focal_c"], lang="en").intake(db, world.units["SCH-C"])
    records.exclude(db, _user(db, world, "focal_a"), a[2], "officer.d1", "Người thân")
    db.commit()
    return SimpleNamespace(a=a, b=b, c=c, excluded=a[2])


def _walk(db, officer, size: int, sort: str = "received_desc") -> tuple[list[str], list[str]]:
    """The references of every page, forward by "next" then back by "previous"."""
    flt = CaseFilter(sort=sort)
    page = case_page(db, officer, flt, size)
    forward, pages = [], [page]
    while True:
        forward += [c.reference for c in page.rows]
        if page.next is None:
            break
        page = case_page(db, officer, flt, size, after=page.next)
        pages.append(page)
    backward = [c.reference for c in page.rows]
    while page.previous is not None:
        page = case_page(db, officer, flt, size, before=page.previous)
        backward = [c.reference for c in page.rows] + backward
    assert page.first
    return forward, backward


@pytest.mark.parametrize("sort", sorted(listing.SORT_KEYS))
def test_keyset_pages_hold_scope_and_exclusions_at_every_depth(db, world, cases, sort):
    officer = _user(db, world, "officer_d1")
    whole = [c.reference for c in db.execute(listing.page_rows(officer, CaseFilter(sort=sort)))]
    forward, backward = _walk(db, officer, 2, sort)
    assert forward == backward == whole
    seen = set(forward)
    assert cases.excluded.reference not in seen and cases.c.reference not in seen
    assert {c.reference for c in cases.a + cases.b} - seen == {cases.excluded.reference}
    assert case_page(db, officer, CaseFilter(sort=sort), 2).total == Tally(6)


def test_a_cursor_out_of_sight_reveals_nothing(db, world, cases):
    officer = _user(db, world, "officer_d1")
    first = case_page(db, officer, CaseFilter(), 2)
    for hidden in (cases.excluded, cases.c):
        for cursor in ({"after": hidden.public_id}, {"before": hidden.public_id}):
            page = case_page(db, officer, CaseFilter(), 2, **cursor)
            assert [c.id for c in page.rows] == [c.id for c in first.rows]
            assert page.first


def test_the_list_pages_through_the_screen(app, db, world, cases, monkeypatch):
    """Next and previous links on the page itself, page after page, with the filters kept;
    the excluded case and the other district's never show."""
    monkeypatch.setattr(case_views, "settings", lambda: SimpleNamespace(page_size=2))
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    url, shown = "/cases/?sort=received_desc", []
    for _ in range(10):
        page = officer.get(url)
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert "6 cases." in body
        shown += [c.reference for c in cases.a + cases.b if c.reference in body]
        assert cases.excluded.reference not in body and cases.c.reference not in body
        nxt = next((part for part in body.split('href="')[1:] if 'rel="next"' in part), None)
        if nxt is None:
            break
        url = nxt.split('"', 1)[0].replace("&amp;", "&")
        assert "sort=received_desc" in url and "after=" in url
    assert sorted(shown) == sorted(c.reference for c in cases.a + cases.b if c != cases.excluded)
    assert 'rel="prev"' in body and "First page" in body


def test_counts_stop_at_the_ceiling_and_say_so(app, db, world, cases, monkeypatch):
    officer = _user(db, world, "officer_d1")
    assert listing.attention_counts(db, officer)["open"] == Tally(6)
    monkeypatch.setattr(tally, "CEILING", 4)
    assert listing.attention_counts(db, officer)["open"] == Tally(4, more=True)
    assert case_page(db, officer, CaseFilter(), 2).total == Tally(4, more=True)
    english = text_of(Visitor(app, db, world["officer_d1"], lang="en").get("/"))
    assert "more than 4" in english
    vietnamese = Visitor(app, db, world["officer_d1"], lang="vi")
    assert "hơn 4" in text_of(vietnamese.get("/"))
    assert "Hơn 4 vụ việc." in text_of(vietnamese.get("/cases/"))
    monkeypatch.setattr(tally, "CEILING", 6)
    assert listing.attention_counts(db, officer)["open"] == Tally(6)


def test_my_work_never_shows_a_case_its_reader_is_excluded_from(app, db, world, focal):
    today = local_today()
    late = focal.intake(db, world.units["SCH-A"], received_on=today - timedelta(days=15))
    due = focal.intake(db, world.units["SCH-A"])
    move(db, world["focal_a"], due, "verifying")
    add(db, world["focal_a"], due, "verification", method="interview", due_on=today)
    fresh = focal.intake(db, world.units["SCH-A"])
    db.commit()
    me = _user(db, world, "focal_a")
    work = monitoring.my_work(db, me)
    assert [c.id for c in work["overdue"].rows] == [late.id]
    assert [c.id for c in work["today"].rows] == [due.id]
    assert [c.id for c in work["new"].rows] == [fresh.id]
    officer = _user(db, world, "officer_d1")
    for case in (late, due, fresh):
        records.exclude(db, officer, db.get(Case, case.id), "focal.a", "Người thân")
    db.commit()
    db.expire_all()
    work = monitoring.my_work(db, _user(db, world, "focal_a"))
    assert [list(w.rows) for w in work.values()] == [[], [], [], []]
    page = text_of(focal.get("/work"))
    assert all(c.reference not in page for c in (late, due, fresh))


def test_monitoring_counts_all_cases_less_the_excluded_ones(db, world, cases):
    officer = _user(db, world, "officer_d1")
    district = db.get(Unit, world.units["D1"])
    rows = {r["unit"].code: r for r in monitoring.school_rows(db, officer, district)}
    assert (rows["SCH-A"]["total"], rows["SCH-A"]["open"]) == (4, 4)
    assert (rows["SCH-B"]["total"], rows["SCH-B"]["open"]) == (2, 2)
    province = _user(db, world, "officer_p")
    rows = {
        r["unit"].code: r
        for r in monitoring.school_rows(db, province, db.get(Unit, world.units["PRV"]))
    }
    assert rows["SCH-A"]["total"] == 5 and rows["SCH-C"]["total"] == 1


def test_the_monitoring_page_reads_the_excluded_cases_once(app, db, world, cases):
    """The page's figures are those of school_rows and monthly_trend, read separately; the
    cases the officer is excluded from are read once for both, the overseen unit is the unit
    of their grant (no statement of its own), and the schools' overdue cases come with their
    tallies."""
    officer = _user(db, world, "officer_d1")
    district = db.get(Unit, world.units["D1"])
    rows, trend = monitoring.overview(db, officer, district)
    assert rows == monitoring.school_rows(db, officer, district)
    assert trend == monitoring.monthly_trend(db, officer, district)
    assert sum(r["total"] for r in rows) == 6  # seven cases of D1, one hidden
    assert monitoring.default_unit(db, officer).id == district.id
    with statements_sent(app.extensions["caseapp.engine"]) as as_sent:
        page = Visitor(app, db, world["officer_d1"], lang="en").get("/monitoring")
    sent = [squeezed(s) for s in as_sent]
    assert page.status_code == 200 and "Trường A" in text_of(page)
    # By the ids the sign-in session's statement read with it (access.excluded_from).
    assert len([s for s in sent if "FROM case_exclusions" in s]) == 1, sent
    assert "FROM user_sessions" in next(s for s in sent if "FROM case_exclusions" in s)
    by_ids = re.compile(r"AND cases\.id IN \((\?|\d+(::INTEGER)?)\)$")
    assert len([s for s in sent if by_ids.search(s)]) == 1, sent
    assert not [s for s in sent if "FROM units WHERE units.path =" in s], sent
    schools = [s for s in sent if "JOIN unit_case_tallies ON" in s]
    assert len(schools) == 1, sent
    # The overdue cases come with them, from the overdue days and months: no statement of
    # their own.
    assert [s for s in sent if "unit_overdue_day_tallies" in s] == schools, sent
    assert "unit_overdue_month_tallies" in schools[0]


def test_a_reference_prefix_finds_what_it_starts_and_nothing_hidden(db, world, cases):
    officer = _user(db, world, "officer_d1")

    def found(q: str) -> set[str]:
        return {c.reference for c in case_page(db, officer, CaseFilter(reference=q), 50).rows}

    school_a = {c.reference for c in cases.a} - {cases.excluded.reference}
    assert found("SCH-A-") == found("sch-a") == school_a
    assert found("SCH-") == school_a | {c.reference for c in cases.b}
    assert found(cases.a[0].reference) == {cases.a[0].reference}
    assert found(cases.excluded.reference) == set() == found(cases.c.reference)
    assert found("SCH_A") == set() == found("SCH-%") == found("\U0010ffff")
    assert case_page(db, officer, CaseFilter(reference="SCH-A-"), 50).total == Tally(4)


def test_due_today_lists_every_step_due_today_with_or_without_a_clock(app, db, world, focal):
    """ "Due today" is read from the overdue moments falling today and from the steps without
    a clock (referral, discipline): a referral due today shows, as does a verification due
    today; a step due tomorrow, a step done and an overdue case do not (it is under Overdue)."""
    today = local_today()
    verifying = focal.intake(db, world.units["SCH-A"])
    move(db, world["focal_a"], verifying, "verifying")
    add(db, world["focal_a"], verifying, "verification", method="interview", due_on=today)
    referred, tomorrow, done, late = (focal.intake(db, world.units["SCH-A"]) for _ in range(4))
    # Written with Core (a test's shortcut past the services), then the moments recomputed.
    db.execute(
        CaseStep.__table__.insert(),
        [
            {
                "uid": str(uuid.uuid4()),
                "case_id": case.id,
                "unit_id": case.unit_id,
                "received_on": case.received_on,
                "case_status": case.status,
                "kind": kind,
                "due_on": due_on,
                "done_on": done_on,
                "version": 1,
            }
            for case, kind, due_on, done_on in (
                (referred, "referral", today, None),
                (tomorrow, "referral", today + timedelta(days=1), None),
                (done, "discipline", today, today),
                (late, "discipline", today, None),
            )
        ],
    )
    db.execute(
        Case.__table__.update()
        .where(Case.id.in_([c.id for c in (verifying, referred, tomorrow, done)]))
        .values(intervention_due_at=None, support_due_on=None, verification_due_on=None)
    )
    db.execute(
        Case.__table__.update()
        .where(Case.id == late.id)
        .values(verification_due_on=today - timedelta(days=20))
    )
    clocks.refresh_all(db)
    db.commit()
    work = monitoring.my_work(db, _user(db, world, "focal_a"))
    assert sorted(c.id for c in work["today"].rows) == sorted([verifying.id, referred.id])
    assert late.id in [c.id for c in work["overdue"].rows]
    page = text_of(focal.get("/work"))
    assert verifying.reference in page and referred.reference in page


def test_the_list_page_costs_the_same_statements_for_one_case_or_many(app, db, world, focal):
    """A page of the list reads only the columns its rows show, in a fixed number of
    statements: a row touching a column not loaded would add one per row (N+1)."""
    engine = db.get_bind()

    def page_statements() -> list[str]:
        with statements_sent(engine) as sent:
            assert focal.get("/cases/").status_code == 200
        return sent

    focal.intake(db, world.units["SCH-A"])
    db.commit()
    one = len(page_statements())
    for _ in range(4):
        focal.intake(db, world.units["SCH-A"])
    db.commit()
    db.expire_all()
    statements = page_statements()
    assert len(statements) == one
    assert not any("narrative" in s or "wrapped_key" in s for s in statements)


def test_counts_read_indexes_and_leave_the_planner_as_it_was(db, world, cases):
    """On PostgreSQL the counts plan without bitmap or sequential scans (they stop at the
    ceiling only when read from an index) and without parallel workers, and put the settings
    back after them, whatever they were; the figures are those of the plain count."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("planner settings are PostgreSQL's; SQLite reads the same indexes anyway")
    officer = _user(db, world, "officer_d1")
    names = ("enable_bitmapscan", "enable_seqscan", "max_parallel_workers_per_gather")

    def settings() -> tuple[str, ...]:
        return tuple(db.execute(text(f"SHOW {name}")).scalar_one() for name in names)

    db.execute(text("SET LOCAL max_parallel_workers_per_gather = 3"))
    before = settings()
    assert before == ("on", "on", "3")
    seen = []
    with tally.counting(db):
        seen.append(settings())
        counts = listing.attention_counts(db, officer)  # nested: shares the outer settings
        seen.append(settings())
    assert seen == [("off", "off", "0"), ("off", "off", "0")]
    assert settings() == before
    assert counts["open"] == Tally(6)
    assert case_page(db, officer, CaseFilter(status="new"), 2).total == Tally(6)
    assert case_page(db, officer, CaseFilter(due="fortnight"), 2).total == Tally(0)
    assert settings() == before
    # Outside counting(): the settings off, then the count, which puts them back as it runs
    # (one statement each: no third one after the count). What PostgreSQL plans the count
    # with is what the connection holds when the count is sent.
    sent: list[tuple[str, tuple[str, ...]]] = []

    def seen_at_send(_conn, cursor, statement, *_args) -> None:
        shown = tuple(cursor.connection.execute(f"SHOW {name}").fetchone()[0] for name in names)
        sent.append((" ".join(statement.split()), shown))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", seen_at_send)
    try:
        totals = [
            listing.attention_counts(db, officer)["open"],
            case_page(db, officer, CaseFilter(status="new"), 2).total,
            case_page(db, officer, CaseFilter(reference="SCH-A"), 2).total,  # typed: parameters
        ]
        after = settings()
    finally:
        event.remove(engine, "before_cursor_execute", seen_at_send)
    assert totals == [Tally(6), Tally(6), Tally(4)] and after == before
    counts_sent = [shown for statement, shown in sent if "FROM plans_back" in statement]
    assert counts_sent == [("off", "off", "0")] * 3, sent
    assert not [s for s, _ in sent if s.startswith("SELECT set_config")], sent


def test_steps_carry_their_case_school_and_follow_a_move(app, db, world, focal):
    """My work's follow-ups are read by the steps' copy of the school: a step written by a
    service gets its case's school; a case moved to another school (a correction) takes its
    steps along, and shows in that school's follow-ups, not in the first one's."""
    today = local_today()
    case = focal.intake(db, world.units["SCH-A"])
    move(db, world["focal_a"], case, "verifying")
    add(db, world["focal_a"], case, "verification", method="interview", due_on=today)
    db.execute(
        CaseStep.__table__.insert(),
        [
            {
                "uid": str(uuid.uuid4()),
                "case_id": case.id,
                "unit_id": world.units["SCH-A"],
                "received_on": case.received_on,
                "case_status": case.status,
                "case_overdue_after": case.overdue_after,
                "kind": "follow_up",
                "due_on": today + timedelta(days=3),
                "version": 1,
            }
        ],
    )
    db.commit()
    units = {s.unit_id for s in db.scalars(select(CaseStep).where(CaseStep.case_id == case.id))}
    assert units == {world.units["SCH-A"]}
    work = monitoring.my_work(db, _user(db, world, "focal_a"))
    assert [c.id for c, _due in work["upcoming"].rows] == [case.id]

    moved = db.get(Case, case.id)
    moved.unit_id = world.units["SCH-B"]
    trail.record(db, None, "case.update", moved, reason="test: moved to school B")
    db.commit()
    units = {s.unit_id for s in db.scalars(select(CaseStep).where(CaseStep.case_id == case.id))}
    assert units == {world.units["SCH-B"]}
    assert list(monitoring.my_work(db, _user(db, world, "focal_a"))["upcoming"].rows) == []
    work_b = monitoring.my_work(db, _user(db, world, "focal_b"))
    assert [c.id for c, _due in work_b["upcoming"].rows] == [case.id]


def _due_today(db, world, cases, due: list[Case]) -> None:
    """A verification due today for each case of ``due`` (by its school's focal point), a
    second step due today for the first case of school A, and one for school C's case (the
    other district)."""
    today = local_today()
    for case in due:
        person = world["focal_b"] if case in cases.b else world["focal_a"]
        move(db, person, case, "verifying")
        add(db, person, case, "verification", method="interview", due_on=today)
    schedule_follow_up(db, world["focal_a"], cases.a[0], due_on=today)
    move(db, world["focal_c"], cases.c, "verifying")
    add(db, world["focal_c"], cases.c, "verification", method="interview", due_on=today)
    db.commit()


def test_due_today_is_listed_from_the_steps_day_received_in_the_case_order(
    app, db, world, cases, focal
):
    """The case list's "due today" orders and pages by the joined step's copy of the day
    received (step_copies): the same order as the cases', each case once whatever its steps
    due today, never a case out of scope or excluded; a day received corrected on the edit
    form moves the case in that list, as its steps follow it."""
    today = local_today()
    due = [cases.a[0], cases.a[1], cases.a[3], cases.a[4], cases.excluded]
    _due_today(db, world, cases, due)
    officer = _user(db, world, "officer_d1")
    newest_first = [c.id for c in sorted(due[:4], key=lambda c: (c.received_on, c.id))][::-1]
    for sort, expected in (("received_desc", newest_first), ("received_asc", newest_first[::-1])):
        flt = CaseFilter(due="today", sort=sort)
        page = case_page(db, officer, flt, 50)
        assert [c.id for c in page.rows] == expected
        assert page.total == Tally(4)
        walked, page = [], case_page(db, officer, flt, 1)  # one case a page, both ways
        while True:
            walked += [c.id for c in page.rows]
            if page.next is None:
                break
            page = case_page(db, officer, flt, 1, after=page.next)
        assert walked == expected
        back = [c.id for c in page.rows]
        while page.previous is not None:
            page = case_page(db, officer, flt, 1, before=page.previous)
            back = [c.id for c in page.rows] + back
        assert back == expected
    for sort in set(listing.SORT_KEYS) - set(listing.STEP_SORT_KEYS):  # the cases' own keys
        page = case_page(db, officer, CaseFilter(due="today", sort=sort), 50)
        assert sorted(c.id for c in page.rows) == sorted(newest_first), sort
    # The oldest case, received again "today" by a correction, comes first.
    oldest = db.get(Case, newest_first[-1])
    form = intake_form(oldest.unit_id, received_on=today.isoformat(), version=str(oldest.version))
    assert focal.post(f"/cases/{oldest.public_id}/edit", form).status_code == 302
    db.expire_all()
    assert db.get(Case, oldest.id).received_on == today
    copies = set(db.scalars(select(CaseStep.received_on).where(CaseStep.case_id == oldest.id)))
    assert copies == {today}
    listed = case_page(db, officer, CaseFilter(due="today"), 50)
    assert [c.id for c in listed.rows][0] == oldest.id
    assert sorted(c.id for c in listed.rows) == sorted(newest_first)


def test_due_today_is_counted_from_the_steps_and_follows_every_change_of_its_case(
    app, db, world, cases
):
    """The case list's count of "due today" reads the steps alone (their copies of the case's
    school, status and moment): it counts what the list shows, each case once, never a case
    out of scope or excluded, and follows the case as its status changes, its clock runs out,
    it moves to a school out of scope or the officer is excluded from it."""
    _due_today(db, world, cases, [cases.a[0], cases.a[1], cases.a[3], cases.excluded, cases.b[0]])
    officer, focal_b = _user(db, world, "officer_d1"), _user(db, world, "focal_b")
    school_a = db.get(Unit, world.units["SCH-A"]).path

    def counted(person: User, unit_path: str = "") -> tuple[Tally, list[int]]:
        page = case_page(db, person, CaseFilter(due="today", unit_path=unit_path), 50)
        return page.total, sorted(c.id for c in page.rows)

    def ids(*chosen: Case) -> list[int]:
        return sorted(c.id for c in chosen)

    engine = db.get_bind()
    with statements_sent(engine) as sent:
        assert counted(officer) == (Tally(4), ids(cases.a[0], cases.a[1], cases.a[3], cases.b[0]))
    (count,) = [s for s in sent if "count(" in s]
    assert "FROM case_steps JOIN units" in squeezed(count) and " cases" not in count, count
    assert counted(officer, school_a) == (Tally(3), ids(cases.a[0], cases.a[1], cases.a[3]))
    assert counted(focal_b) == (Tally(1), ids(cases.b[0]))
    # Another filter with it: the count of the cases themselves, the same cases.
    both = case_page(db, officer, CaseFilter(due="today", status="verifying"), 50)
    assert both.total == Tally(4) and len(both.rows) == 4

    def change(case: Case, why: str, **values) -> None:
        changed = db.get(Case, case.id)
        for name, value in values.items():
            setattr(changed, name, value)
        trail.record(db, None, "case.update", changed, reason=f"test: {why}")
        db.commit()

    change(cases.a[1], "closure asked", status="closure_requested")
    assert counted(officer) == (Tally(3), ids(cases.a[0], cases.a[3], cases.b[0]))
    change(cases.a[3], "clock ran out", intervention_due_at=utcnow() - timedelta(hours=1))
    assert counted(officer) == (Tally(2), ids(cases.a[0], cases.b[0]))
    moved_out = {"unit_id": world.units["SCH-C"], "number": 900_000 + cases.b[0].id}
    change(cases.b[0], "moved out", **moved_out)
    assert counted(officer) == (Tally(1), ids(cases.a[0]))
    assert counted(focal_b) == (Tally(0), [])
    records.exclude(db, _user(db, world, "focal_a"), cases.a[0], "officer.d1", "Người thân")
    db.commit()
    assert counted(officer) == (Tally(0), [])
    # The focal point of school A still sees both (the other exclusion is the officer's).
    assert counted(_user(db, world, "focal_a")) == (Tally(2), ids(cases.a[0], cases.excluded))


def test_my_work_shows_the_first_rows_and_links_to_the_rest(app, db, world, focal, monkeypatch):
    """Each list of my work shows its first SHOWN rows and "more than SHOWN"; its "see all"
    link opens the case list filtered the same way, which lists every one of them (and no case
    of another list or another school)."""
    monkeypatch.setattr(monitoring, "SHOWN", 1)
    today = local_today()
    school = world.units["SCH-A"]
    overdue = [focal.intake(db, school, received_on=today - timedelta(days=15)) for _ in range(2)]
    due = [focal.intake(db, school) for _ in range(2)]
    for case in due:
        move(db, world["focal_a"], case, "verifying")
        add(db, world["focal_a"], case, "verification", method="interview", due_on=today)
        schedule_follow_up(db, world["focal_a"], case, due_on=today + timedelta(days=3))
    fresh = [focal.intake(db, school) for _ in range(2)]
    later = focal.intake(db, school)
    schedule_follow_up(db, world["focal_a"], later, due_on=today + timedelta(days=20))
    Visitor(app, db, world["focal_b"], lang="en").intake(db, world.units["SCH-B"])
    db.commit()

    work = monitoring.my_work(db, _user(db, world, "focal_a"))
    assert {name: (len(w.rows), w.count) for name, w in work.items()} == {
        name: (1, Tally(1, more=True)) for name in ("overdue", "today", "new", "upcoming")
    }
    html = focal.get("/work").get_data(as_text=True)
    assert text_of(focal.get("/work")).count("(more than 1)") == 4
    expected = {
        "/cases/?overdue=y&amp;sort=received_asc": overdue,
        "/cases/?due=today": due,
        "/cases/?status=new": fresh + [later],  # every new case (overdue ones too)
        "/cases/?due=fortnight&amp;sort=received_asc": due,
    }
    for href, cases in expected.items():
        assert f'href="{href}"' in html
        shown = listed(focal.get(href.replace("&amp;", "&")))
        assert shown == {c.reference for c in cases} | (
            {c.reference for c in overdue} if "status=new" in href else set()
        )
    # A page and its count read the follow-ups of the window differently (case by case, from
    # the steps): they agree.
    me = _user(db, world, "focal_a")
    for name in ("fortnight", "today"):
        page = case_page(db, me, CaseFilter(due=name), 50)
        assert {c.id for c in page.rows} == {c.id for c in due}
        assert page.total == Tally(len(due))
    # A case with two follow-ups in the window is counted (and listed) once.
    schedule_follow_up(db, world["focal_a"], due[0], due_on=today + timedelta(days=5))
    db.commit()
    page = case_page(db, me, CaseFilter(due="fortnight"), 50)
    assert [c.id for c in page.rows].count(due[0].id) == 1
    assert page.total == Tally(len(due))
    # Within the limit, the heading says how many and there is no link.
    monkeypatch.setattr(monitoring, "SHOWN", 10)
    html = focal.get("/work").get_data(as_text=True)
    assert "more than" not in html and "/cases/?due=" not in html
    assert "(2)" in text_of(focal.get("/work"))


def test_my_work_reads_its_lists_in_one_statement_each_in_its_order(app, db, world, focal):
    """The four lists of my work come in one statement (a UNION ALL, which keeps no order):
    each list holds the rows its own statement reads, in that statement's order."""
    today = local_today()
    school = world.units["SCH-A"]
    for days in (15, 20, 18, 0, 0, 2, 1):
        focal.intake(db, school, received_on=today - timedelta(days=days))
    for case, due in zip([focal.intake(db, school) for _ in range(3)], (5, 2, 9), strict=True):
        move(db, world["focal_a"], case, "verifying")
        add(db, world["focal_a"], case, "verification", method="interview", due_on=today)
        schedule_follow_up(db, world["focal_a"], case, due_on=today + timedelta(days=due))
    db.commit()
    me = _user(db, world, "focal_a")
    stmts = monitoring.work_statements(db, me)

    def ids(stmt) -> list[int]:
        return [row.id for row in db.execute(stmt)]

    work = monitoring.my_work(db, me)
    today_ids = {i for stmt in stmts.today for i in ids(stmt)}
    assert [c.id for c in work["overdue"].rows] == ids(stmts.overdue) != []
    assert [c.id for c in work["new"].rows] == ids(stmts.new) != []
    assert [c.id for c, _due in work["upcoming"].rows] == ids(stmts.upcoming) != []
    assert {c.id for c in work["today"].rows} == today_ids != set()
    assert [due for _c, due in work["upcoming"].rows] == sorted(
        today + timedelta(days=d) for d in (2, 5, 9)
    )
    engine = app.extensions["caseapp.engine"]
    with statements_sent(engine) as sent:
        assert focal.get("/work").status_code == 200
    # (The menu's count of unread notices, which stops at 100, is not a list.)
    lists = [
        s for s in sent if "FROM cases" in s and "LIMIT" in s and "FROM notifications" not in s
    ]
    assert len(lists) == 1 and lists[0].count("UNION ALL") == 3, lists
    if engine.dialect.name == "postgresql":
        # Planned as the counts are (no bitmap scan), then the settings put back as it runs.
        assert "JOIN plans_back ON true" in lists[0]
        assert db.execute(text("SHOW enable_bitmapscan")).scalar_one() == "on"


def test_the_follow_ups_count_walks_the_steps_within_scope_each_case_once(
    app, db, world, cases, monkeypatch
):
    """The count of "follow-ups in the next two weeks" reads the follow-ups by due day, not
    the cases (first_follow_up_of_case): it still counts each case once whatever its
    follow-ups, never a case out of scope or excluded, never a step done, of another kind or
    due outside the window, and it agrees with the page and stops at the ceiling."""
    today = local_today()
    focal_a, focal_b, focal_c = world["focal_a"], world["focal_b"], world["focal_c"]
    a0, a1, a3, a4 = cases.a[0], cases.a[1], cases.a[3], cases.a[4]
    for due_on in (today, today + timedelta(days=5), today + timedelta(days=14)):
        schedule_follow_up(db, focal_a, a0, due_on=due_on)  # three in the window: one case
    schedule_follow_up(db, focal_a, a1, due_on=today + timedelta(days=15))  # after it
    schedule_follow_up(db, focal_a, a1, due_on=today - timedelta(days=1))  # before it
    done_follow_up(db, focal_a, a3)  # due today, but done
    move(db, focal_a, a4, "verifying")
    add(db, focal_a, a4, "verification", method="interview", due_on=today + timedelta(days=2))
    schedule_follow_up(db, focal_a, cases.excluded, due_on=today + timedelta(days=1))
    schedule_follow_up(db, focal_c, cases.c, due_on=today + timedelta(days=1))  # district 2
    for case in cases.b:
        schedule_follow_up(db, focal_b, case, due_on=today + timedelta(days=2))
    db.commit()
    officer = _user(db, world, "officer_d1")
    flt = CaseFilter(due="fortnight")
    expected = {a0.id} | {c.id for c in cases.b}
    page = case_page(db, officer, flt, 50)
    assert {c.id for c in page.rows} == expected
    assert page.total == Tally(3)
    counted = listing.case_list(officer, flt, for_count=True).with_only_columns(Case.id)
    assert sorted(db.scalars(counted)) == sorted(expected)  # one row per case
    # The excluded case is one the district's officer would otherwise count.
    province = _user(db, world, "officer_p")
    assert case_page(db, province, flt, 50).total == Tally(5)
    monkeypatch.setattr(tally, "CEILING", 2)
    assert case_page(db, officer, flt, 50).total == Tally(2, more=True)


def test_the_schools_to_record_at_cost_no_statement_for_who_records_nowhere(db, world):
    """The case list's unit choices (access.intake_units): officers and auditors record no
    case, so none is listed and nothing is asked of the database; a focal point gets their
    school."""
    from caseapp.services.cases.access import intake_units

    people = {name: _user(db, world, name) for name in ("officer_d1", "auditor_p", "focal_a")}
    for person in people.values():  # as the sign-in session loads them
        assert all(g.unit.path for g in person.active_grants)
    with statements_sent(db.get_bind()) as sent:
        assert intake_units(db, people["officer_d1"]) == []
        assert intake_units(db, people["auditor_p"]) == []
        assert sent == []
        assert [u.code for u in intake_units(db, people["focal_a"])] == ["SCH-A"]
