"""Deny by default, proved by walking app.url_map: every endpoint declares a permission, and every
non-public route turns away the anonymous, the unverified and the unauthorised (403; 404 on a URL
that names an object, so that its existence does not leak).

The sweep grows by itself: a new route is checked the moment it is registered.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from caseapp.access import PENDING_SECOND_FACTOR, PUBLIC, PUBLIC_ENDPOINTS, declared_permission
from caseapp.db import Base
from caseapp.models import User
from caseapp.security.authz import has_permission
from caseapp.services.org import referrals as referral_service
from caseapp.services.org import units as unit_service
from tests.factories import Visitor
from tests.functional.admin_support import changed_tables, snapshot

METHODS = ("GET", "POST")
# Ordinary fields a form might look for; the guard must answer before any of them is read.
FORM = {"name": "Sweep", "reason": "sweep", "lang": "vi", "code": "000000"}


def _table_for(arg: str):
    """The table an integer URL argument points into: ``unit_id`` -> units, ``contact_id`` ->
    referral_contacts, ``seq`` -> the table whose primary key is called seq."""
    tables = Base.metadata.sorted_tables
    if arg.endswith("_id"):
        plural = arg[:-3] + "s"
        for table in tables:
            if table.name == plural or table.name.endswith("_" + plural):
                return table
    for table in tables:
        if [c.name for c in table.primary_key.columns] == [arg]:
            return table
    return None


def _existing_id(db, arg: str) -> int:
    table = _table_for(arg)
    if table is None:
        return 1
    pk = list(table.primary_key.columns)[0]
    return db.scalar(select(func.min(pk))) or 1


def _url(rule, db) -> str:
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg]
        values[arg] = _existing_id(db, arg) if isinstance(converter, IntegerConverter) else "x"
    return rule.build(values, append_unknown=False)[1]


def _guarded_routes(app, db):
    """(endpoint, method, url, permission, refusal) for every non-public rule and method."""
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        needed = declared_permission(app, rule.endpoint)
        if needed == PUBLIC:
            continue
        for method in METHODS:
            if method in rule.methods:
                refusal = 404 if rule.arguments else 403
                routes.append((rule.endpoint, method, _url(rule, db), needed, refusal))
    return routes


@pytest.fixture()
def routes(app, db, world):
    # Every integer argument must find a row; the seeded world has no referral contact yet.
    sch_a = db.get(unit_service.Unit, world.units["SCH-A"])
    referral_service.create_contact(db, None, sch_a, "Sweep hotline", "hotline", "111", "")
    db.commit()
    found = _guarded_routes(app, db)
    assert found, "no guarded route found: the sweep would prove nothing"
    return found


def _send(agent, method, url):
    return agent.get(url) if method == "GET" else agent.post(url, FORM)


def _location(response) -> str:
    return urlparse(response.headers.get("Location", "")).path


def test_every_endpoint_declares_a_permission(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} | set(app.view_functions)
    missing = sorted(e for e in endpoints if declared_permission(app, e) is None)
    assert not missing, f"endpoints without @permission(...): {missing}"


def test_public_endpoints_are_on_the_allow_list(app):
    public = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if declared_permission(app, rule.endpoint) == PUBLIC
    }
    assert public <= PUBLIC_ENDPOINTS, f"public but not allow-listed: {public - PUBLIC_ENDPOINTS}"


def test_anonymous_requests_go_to_login_and_change_nothing(client, db, routes):
    agent = Visitor(client)
    before = snapshot(db, skip=())
    wrong = []
    for endpoint, method, url, *_rest in routes:
        r = _send(agent, method, url)
        if r.status_code not in (302, 303) or _location(r) != "/login":
            wrong.append((endpoint, method, url, r.status_code, _location(r)))
    assert not wrong, f"anonymous requests not sent to /login: {wrong}"
    assert changed_tables(before, snapshot(db, skip=())) == []


@pytest.mark.parametrize(
    "person, target",
    [
        ("focal_a", "/login/2fa"),
        ("admin_p", "/login/2fa"),
        ("new_user", "/login/enrol"),
    ],
)
def test_without_second_factor_every_route_asks_for_it(client, db, world, routes, person, target):
    agent = Visitor(client, db, world[person], second_factor=False)
    before = snapshot(db)
    wrong = []
    for endpoint, method, url, needed, _refusal in routes:
        if needed == PENDING_SECOND_FACTOR:
            continue  # the second-factor screens themselves, and sign-out
        r = _send(agent, method, url)
        if r.status_code not in (302, 303) or _location(r) != target:
            wrong.append((endpoint, method, url, r.status_code, _location(r)))
    assert not wrong, f"routes reachable before the second factor: {wrong}"
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize(
    "person",
    [
        "nobody",
        "focal_a",
        "focal_c",
        "officer_d1",
        "officer_p",
        "auditor_p",
        "admin_d1",
        "admin_p",
    ],
)
def test_a_missing_permission_is_refused_and_changes_nothing(client, db, world, routes, person):
    user = db.get(User, world[person].id)
    lacking = [
        r for r in routes if r[3] != PENDING_SECOND_FACTOR and not has_permission(user, r[3])
    ]
    if person == "nobody":
        assert len(lacking) == len([r for r in routes if r[3] != PENDING_SECOND_FACTOR])
    agent = Visitor(client, db, world[person])
    before = snapshot(db)
    wrong = []
    for endpoint, method, url, needed, refusal in lacking:
        r = _send(agent, method, url)
        if r.status_code != refusal:
            wrong.append((endpoint, method, url, needed, r.status_code))
    assert not wrong, f"{person} reached routes it holds no permission for: {wrong}"
    assert changed_tables(before, snapshot(db)) == []
