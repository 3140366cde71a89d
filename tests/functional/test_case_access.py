"""Who reaches a case: every /cases route in app.url_map (new ones join the sweep by themselves)
answers 404 to anyone outside the case's scope or excluded from it, and changes nothing; an officer
without a reason reads nothing; the case list shows only cases in scope and its filters work.

World: PRV > D1 (SCH-A, SCH-B), D2 (SCH-C).
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text, update

from caseapp.clock import local_today
from caseapp.models import Case, CaseAttachment, CaseConsent, CaseExclusion, Unit
from caseapp.runtime import keyring
from tests.factories import Visitor, make_user
from tests.functional.admin_support import changed_tables, snapshot, translated
from tests.functional.case_attack_support import (
    actions_after,
    audit_head,
    contains_canary,
    listed,
    page_text,
    row_counts,
)
from tests.functional.case_support import CANARY, intake_form

OUTSIDERS = ("focal_b", "focal_c", "officer_d2", "auditor_p", "admin_p", "admin_d1", "nobody")
KNOWN = {
    "cases.show",
    "cases.confidential",
    "cases.edit",
    "cases.add_note",
    "cases.add_attachment",
    "cases.download",
    "cases.add_consent",
    "cases.withdraw_consent",
    "cases.add_exclusion",
    "cases.lift_exclusion",
    "cases.add_person",
    "cases.edit_person",
    "cases.withdraw_person",
}
# The notice pages hold no case data: the same text for every signed-in person.
NOT_ON_A_CASE = {"cases.index", "cases.new", "cases.notice", "cases.notice_version"}
NO_UNIT = "No unit with the code %(code)s within your units."
FILE = f"{CANARY}-attached file".encode()


def case_routes(app) -> list[tuple]:
    """(rule, method) for every GET and POST of every rule on one case."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule.startswith("/cases/") and "public_id" in rule.arguments:
            found += [(rule, m) for m in ("GET", "POST") if m in rule.methods]
    return found


def _sub_id(db, rule, arg: str, case):
    """A real row of this case for a sub-resource argument: /cases/<p>/attachments/<uid> -> the
    uid of one of its attachments; an unknown collection gets an id that exists nowhere."""
    parts = rule.rule.split("/")
    segment = parts[next(i for i, p in enumerate(parts) if p.endswith(f"{arg}>")) - 1]
    table, column = f"case_{segment}", "uid" if arg == "uid" else "id"
    tables = inspect(db.connection()).get_table_names()
    value = None
    if table in tables:
        value = db.execute(
            text(f"SELECT {column} FROM {table} WHERE case_id = :c ORDER BY id"), {"c": case.id}
        ).scalar()
    if value is None:
        return str(uuid.uuid4()) if column == "uid" else 2_000_000_000
    return value


def case_url(db, rule, case) -> str:
    values = {
        a: case.public_id if a == "public_id" else _sub_id(db, rule, a, case)
        for a in rule.arguments
    }
    return rule.build(values, append_unknown=False)[1]


def _payload(world, case) -> dict:
    """Every field any case form reads, each filled so the form would pass in scope."""
    today = local_today().isoformat()
    return {
        **intake_form(world.units["SCH-A"], received_on=today),
        "version": str(case.version),
        "body": "Ghi chú thử",
        "reason": "Kiểm tra phạm vi truy cập",
        "person": str(world["focal_b"].id),
        "party": "guardian",
        "purpose": "referral",
        "given_on": today,
        "withdrawn_on": today,
        "confirm": "y",
        "kind": "support",
        "service": "counselling",
        "status": "planned",
        "target": "verifying",
        "details": "thử",
        "file": (io.BytesIO(b"matrix"), "matrix.txt", "text/plain"),
    }


@dataclass
class Scene:
    case: Case
    other: Case
    uid: str


@pytest.fixture()
def scene(app, db, world) -> Scene:
    """A case at SCH-A with a note, a file, a consent and a step; and a second case there."""
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    base = f"/cases/{case.public_id}"
    today = local_today().isoformat()
    for url, data in (
        (f"{base}/notes", {"body": f"{CANARY}-note"}),
        (
            f"{base}/consents",
            {
                "party": "person_harmed",
                "purpose": "referral",
                "given_on": today,
                "notice_given": "y",
            },
        ),
        (
            f"{base}/steps",
            {
                "kind": "support",
                "service": "counselling",
                "status": "planned",
                "details": f"{CANARY}-step",
            },
        ),
    ):
        assert focal.post(url, data).status_code == 302, url
    assert focal.attach(case, FILE, "bien-ban.txt", "text/plain").status_code == 302
    uid = db.scalar(select(CaseAttachment.uid).where(CaseAttachment.case_id == case.id))
    assert uid and db.scalar(select(CaseConsent.id).where(CaseConsent.case_id == case.id))
    assert (
        db.execute(
            text("SELECT count(*) FROM case_steps WHERE case_id = :c"), {"c": case.id}
        ).scalar()
        == 1
    )
    other = focal.intake(db, world.units["SCH-A"])
    db.expire_all()
    return Scene(case, other, uid)


def _sweep(db, world, actor, case) -> list:
    """Every route on ``case``, GET and POST; what did not answer 404 (or showed content)."""
    wrong = []
    for rule, method in case_routes(actor.client.application):
        url = case_url(db, rule, case)
        r = actor.get(url) if method == "GET" else actor.post(url, _payload(world, case))
        if r.status_code != 404 or contains_canary(r.data):
            wrong.append((rule.endpoint, method, url, r.status_code))
    return wrong


def test_the_sweep_covers_every_case_route(app):
    endpoints = {rule.endpoint for rule, _m in case_routes(app)}
    assert endpoints >= KNOWN
    # A /cases route not on one case must be looked at here before it joins the list below.
    elsewhere = {
        r.endpoint
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/cases") and "public_id" not in r.arguments
    }
    assert elsewhere <= NOT_ON_A_CASE, f"new /cases routes to cover: {elsewhere - NOT_ON_A_CASE}"


def test_in_scope_every_route_answers(app, db, world, scene):
    """The sweep is not blind: the same URLs and forms reach every route for the focal point."""
    from caseapp.access import declared_permission

    focal, officer = Visitor(app, db, world["focal_a"]), Visitor(app, db, world["officer_d1"])
    school = db.get(Unit, world.units["SCH-A"])
    third = make_user(db, keyring(), "focal.a3", school, [("focal_point", school)])
    db.commit()
    assert (
        focal.post(
            f"/cases/{scene.case.public_id}/exclusions",  # a row for the lift route
            {"person": str(third.id), "reason": "Người thân"},
        ).status_code
        == 302
    )
    reached = []
    for rule, method in case_routes(app):
        url = case_url(db, rule, scene.case)
        # Routes only an overseeing officer may use are reached by one.
        who = officer if declared_permission(app, rule.endpoint) == "case.oversee" else focal
        r = who.get(url) if method == "GET" else who.post(url, _payload(world, scene.case))
        reached.append((rule.endpoint, method, r.status_code))
    assert [x for x in reached if x[2] == 404 or x[2] >= 500] == []


@pytest.mark.parametrize("who", OUTSIDERS)
def test_outside_the_scope_every_route_is_404_and_nothing_changes(app, db, world, scene, who):
    actor = Visitor(app, db, world[who])
    assert actor.token()
    counts, before = row_counts(db), snapshot(db)
    assert _sweep(db, world, actor, scene.case) == []
    # Intake at a school that is not theirs is refused too.
    r = actor.post("/cases/new", _payload(world, scene.case))
    assert r.status_code in (400, 403), r.status_code
    r = actor.get("/cases/")
    assert r.status_code == 403 or not (listed(r) & {scene.case.reference, scene.other.reference})
    assert row_counts(db) == counts
    assert changed_tables(before, snapshot(db)) == []


@pytest.fixture()
def colleague(db, world):
    """A second focal point at SCH-A (the alleged perpetrator may be a colleague)."""
    school = db.get(Unit, world.units["SCH-A"])
    person = make_user(db, keyring(), "focal.a2", school, [("focal_point", school)])
    db.commit()
    return person


@pytest.mark.parametrize("who", ["officer_d1", "officer_p", "colleague"])
def test_an_excluded_person_gets_404_everywhere_and_loses_the_case_from_the_list(
    app, db, world, scene, colleague, who
):
    person = colleague if who == "colleague" else world[who]
    excluded = Visitor(app, db, person)
    assert scene.case.reference in listed(excluded.get("/cases/"))  # in scope until excluded
    focal = Visitor(app, db, world["focal_a"])
    r = focal.post(
        f"/cases/{scene.case.public_id}/exclusions",
        {"person": str(person.id), "reason": "Người thân của người bị tố cáo"},
    )
    assert r.status_code == 302
    assert db.scalar(
        select(CaseExclusion.id).where(
            CaseExclusion.case_id == scene.case.id, CaseExclusion.user_id == person.id
        )
    )
    counts, before = row_counts(db), snapshot(db)
    assert _sweep(db, world, excluded, scene.case) == []
    shown = listed(excluded.get("/cases/"))
    assert scene.case.reference not in shown and scene.other.reference in shown
    assert listed(excluded.get("/cases/", query_string={"q": scene.case.reference})) == set()
    assert row_counts(db) == counts
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize(
    "reason",
    ["", "abc", "     ", "a    ", "\x00\x01\x02\x03\x04\x05"],
    ids=["empty", "short", "spaces", "short-padded", "control"],
)
def test_an_officer_without_a_reason_reads_nothing(app, db, world, scene, reason):
    officer = Visitor(app, db, world["officer_d1"])
    base = f"/cases/{scene.case.public_id}"
    assert officer.token()
    start, counts = audit_head(db), row_counts(db)
    r = officer.get(f"{base}/confidential")
    assert r.status_code == 302 and r.headers["Location"].split("#")[0].endswith(base)
    responses = [
        officer.get(f"{base}/confidential", follow_redirects=True),
        officer.post(f"{base}/confidential", {"reason": reason}, follow_redirects=True),
        officer.get(f"{base}/attachments/{scene.uid}", follow_redirects=True),
        officer.post(f"{base}/attachments/{scene.uid}", {"reason": reason}, follow_redirects=True),
    ]
    for r in responses:
        assert r.status_code in (200, 400), r.status_code
        assert FILE not in r.data and not contains_canary(r.data)
        assert "attachment" not in r.headers.get("Content-Disposition", "")
    assert actions_after(db, start) == []
    assert row_counts(db) == counts


def test_an_officer_with_a_reason_reads_and_the_reading_is_audited(app, db, world, scene):
    officer = Visitor(app, db, world["officer_d1"])
    base = f"/cases/{scene.case.public_id}"
    start = audit_head(db)
    r = officer.post(f"{base}/confidential", {"reason": "Kiểm tra tiến độ hỗ trợ"})
    assert r.status_code == 200 and f"{CANARY}-narrative" in r.get_data(as_text=True)
    r = officer.post(f"{base}/attachments/{scene.uid}", {"reason": "Kiểm tra biên bản"})
    assert r.status_code == 200 and r.data == FILE
    assert actions_after(db, start) == ["case.view_confidential", "attachment.download"]


# --- the case list ---------------------------------------------------------------------------


@pytest.fixture()
def spread(app, db, world) -> dict[str, Case]:
    """a1, a2 at SCH-A (a2 received 20 days ago: overdue), b1 at SCH-B (verifying), c1 at SCH-C."""
    today = local_today()
    a, b, c = (Visitor(app, db, world[f"focal_{x}"]) for x in "abc")
    made = {
        "a1": a.intake(db, world.units["SCH-A"]),
        "a2": a.intake(
            db,
            world.units["SCH-A"],
            violence_types=["sexual_harassment"],
            risk_level="high",
            received_on=(today - timedelta(days=20)).isoformat(),
        ),
        "b1": b.intake(db, world.units["SCH-B"], violence_types=["cyber"], risk_level="low"),
        "c1": c.intake(
            db, world.units["SCH-C"], violence_types=["neglect"], risk_level="immediate"
        ),
    }
    db.execute(update(Case).where(Case.id == made["b1"].id).values(status="verifying"))
    db.expire_all()
    return made


def _in_scope(db, world, code: str) -> set[str]:
    """Every case in the database below the unit ``code``."""
    path = db.get(Unit, world.units[code]).path
    return set(
        db.scalars(
            select(Case.reference)
            .join(Unit, Case.unit_id == Unit.id)
            .where(Unit.path.startswith(path))
        )
    )


@pytest.mark.parametrize(
    "who, scope, mine",
    [
        ("focal_a", "SCH-A", {"a1", "a2"}),
        ("focal_b", "SCH-B", {"b1"}),
        ("focal_c", "SCH-C", {"c1"}),
        ("officer_d1", "D1", {"a1", "a2", "b1"}),
        ("officer_d2", "D2", {"c1"}),
        ("officer_p", "PRV", {"a1", "a2", "b1", "c1"}),
    ],
)
def test_the_list_shows_only_cases_in_scope(app, db, world, spread, who, scope, mine):
    shown = listed(Visitor(app, db, world[who]).get("/cases/"))
    assert shown == _in_scope(db, world, scope)
    assert {k for k, c in spread.items() if c.reference in shown} == mine


FILTERS = [
    ({"status": "verifying"}, {"b1"}),
    ({"status": "new"}, {"a1", "a2", "c1"}),
    ({"unit": "SCH-B"}, {"b1"}),
    ({"unit": "sch-b "}, {"b1"}),
    ({"unit": "D1"}, {"a1", "a2", "b1"}),
    ({"violence": "sexual_harassment"}, {"a2"}),
    ({"violence": "physical"}, {"a1"}),
    ({"risk": "high"}, {"a2"}),
    ({"risk": "immediate"}, {"c1"}),
    ({"received_from": "{d25}", "received_to": "{d15}"}, {"a2"}),
    ({"received_from": "{d15}"}, {"a1", "b1", "c1"}),
    ({"q": "SCH-A"}, {"a1", "a2"}),
    ({"q": "sch-b"}, {"b1"}),
    ({"q": "{a1}"}, {"a1"}),
    ({"q": "%"}, set()),
    ({"q": "SCH_A"}, set()),
    ({"overdue": "y"}, {"a2"}),
    ({"overdue": "y", "unit": "SCH-B"}, set()),
    ({"status": "new", "unit": "D1", "risk": "medium"}, {"a1"}),
]


@pytest.mark.parametrize(
    "params, expected",
    FILTERS,
    ids=["&".join(f"{k}={v}" for k, v in p.items()) for p, _e in FILTERS],
)
def test_the_list_filters(app, db, world, spread, params, expected):
    today = local_today()
    values = {
        "d25": (today - timedelta(days=25)).isoformat(),
        "d15": (today - timedelta(days=15)).isoformat(),
        "a1": spread["a1"].reference,
    }
    query = {k: v.format(**values) for k, v in params.items()}
    officer = Visitor(app, db, world["officer_p"])
    shown = listed(officer.get("/cases/", query_string=query))
    assert {k for k, c in spread.items() if c.reference in shown} == expected
    if not expected:
        assert shown == set()


@pytest.mark.parametrize(
    "who, code",
    [
        ("focal_a", "NOPE"),
        ("focal_a", "SCH-B"),
        ("focal_a", "D1"),
        ("officer_d1", "SCH-C"),
        ("officer_d1", "d2"),
        ("officer_d1", "PRV"),
        ("officer_d2", "SCH-A"),
        ("focal_c", "%"),
    ],
)
def test_an_unknown_or_foreign_unit_code_shows_a_translated_error(
    app, db, world, spread, who, code
):
    r = Visitor(app, db, world[who]).get("/cases/", query_string={"unit": code})
    message = translated(app, NO_UNIT, code=code.strip().upper())
    assert message != NO_UNIT.replace("%(code)s", code.strip().upper())  # it is translated
    assert message in page_text(r)
    assert listed(r) == set()


@pytest.mark.parametrize(
    "query",
    [
        {"q": "\x00"},
        {"q": "x" * 41},
        {"received_from": "tomorrow"},
        {"unit": "A\x00B"},
        {"status": "'; DROP TABLE cases; --"},
        {"due": "'; DROP TABLE cases; --"},
        {"due": "today", "unit": "SCH-B"},
    ],
)
def test_malformed_filters_never_widen_the_scope(app, db, world, spread, query):
    r = Visitor(app, db, world["focal_a"]).get("/cases/", query_string=query)
    assert listed(r) <= {spread["a1"].reference, spread["a2"].reference}
