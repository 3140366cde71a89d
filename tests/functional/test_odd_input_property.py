"""Property: no odd value in a query parameter or a form field makes any route answer 500.

The routes come from app.url_map (a new one is covered the moment it is registered), each
requested by a person allowed on it, with ids that exist. The fields come from the forms: every
form the pages render (so a post differs from what a browser would send by the odd fields
only), the fields of every form class, and every query parameter the views read. Hypothesis
then puts huge or negative numbers, digits int() refuses, empty and very long strings, NUL
bytes, bytes that are not UTF-8, dates that do not exist, markup and formulas into one to
three of them at a time; every route is requested in every example.

CASEAPP_ODD_INPUT_EXAMPLES raises the number of examples for a longer hunt.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

import caseapp
from caseapp.access import PENDING_SECOND_FACTOR, PUBLIC, declared_permission
from caseapp.clock import local_today
from caseapp.forms import FlaskForm
from caseapp.models import AuditEvent, Case, CaseAttachment, Grant, Notification, Unit, User
from caseapp.runtime import keyring
from caseapp.security.authz import has_permission
from caseapp.services.accounts import approvals
from caseapp.services.cases import holds, notifications
from caseapp.services.cases import records as case_records
from caseapp.services.org import units
from caseapp.services.privacy import breaches, notices
from caseapp.services.reports import activities, activity_materials
from caseapp.services.reports import periods as reports
from tests.factories import TOKEN_PAGE, Visitor, complete_work_report, make_user, stored_files
from tests.functional.selfreport_support import add_photo, submit_report
from tests.functional.workflow_support import add, consent, referral_contact

EXAMPLES = int(os.environ.get("CASEAPP_ODD_INPUT_EXAMPLES", "10"))
# Who asks, by the permission a route declares: the first of these who holds it.
PEOPLE = ("focal_a", "officer_d1", "admin_p", "auditor_p", "head_a")

# Odd values by kind; each kind is drawn as often as the others.
NUMBERS = [
    "0",
    "-1",
    "-0",
    "+1",
    "1.5",
    "1e309",
    "NaN",
    "inf",
    "0x1f",
    "1_000",
    str(2**31),
    str(2**63),
    str(2**64),
    "9" * 25,
    "-" + "9" * 25,
]
DIGITS_INT_REFUSES = ["\u00b2", "\u00b3", "\u2460", "1\u00b2", "\u00b9\u2070"]  # isdigit() only
OTHER_DIGITS = ["\u0663", "\uff11\uff12", "\u07c1", "\u0e53"]  # int() reads these
TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\udcff",
    "x" * 10_000,
    "\U0001f642",
    "\u202eabc",
    "\r\n",
    "\t",
    "\ufffd",
    "\ufeff",
]
DATES = [
    "9999-12-31",
    "0001-01-01",
    "2024-02-30",
    "1944-12-31",
    "31/12/2025",
    "2025-1-1",
    "2025-12-31T00:00",
    "-2025-01-01",
]
MARKUP = [
    "../../etc/passwd",
    "%00",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "{{7*7}}",
    '=HYPERLINK("http://x","y")',
    "[]",
    "{}",
    "y",
    "on",
]
CODES = ["SCH-A", "sch-a", "PRV", "D1", "focal.a", "custom", "export", "csv"]
odd_values = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers(-(2**70), 2**70).map(str),
    st.from_regex(r"[0-9]{8,30}", fullmatch=True),
    st.sampled_from(DIGITS_INT_REFUSES),
    st.sampled_from(OTHER_DIGITS),
    st.sampled_from(TEXT),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from(DATES),
    st.sampled_from(MARKUP),
    st.sampled_from(CODES),
)


class _Forms(HTMLParser):
    """The forms of a page: (method, action path, {field: the value a browser would send})."""

    def __init__(self, page_path: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_path = page_path
        self.forms: list[tuple[str, str, dict[str, str]]] = []
        self.links: list[str] = []
        self._fields: dict[str, str] | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            self._fields = {}
            action = urlparse(a.get("action") or self.page_path).path or self.page_path
            self.forms.append(((a.get("method") or "get").upper(), action, self._fields))
        elif self._fields is None or not a.get("name"):
            return
        elif tag in ("input", "button"):
            kind = a.get("type", "text" if tag == "input" else "submit")
            if kind == "file" or (kind == "checkbox" and "checked" not in a):
                return  # a browser sends neither an unticked box nor (here) a file
            if kind == "radio" and "checked" not in a:
                self._fields.setdefault(a["name"], "")  # the field is known; its value, not yet
            else:
                self._fields[a["name"]] = a.get("value", "y" if kind == "checkbox" else "")
        elif tag == "select":
            self._select = a["name"]
            self._fields.setdefault(a["name"], "")
        elif (
            tag == "option"
            and self._select
            and a.get("value")
            and not self._fields.get(self._select)
        ):
            self._fields[self._select] = a["value"]
        elif tag == "textarea":
            self._textarea = a["name"]
            self._fields.setdefault(a["name"], "")

    def handle_data(self, data):
        if self._fields is not None and self._textarea:
            self._fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._fields = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _form_class_fields() -> set[str]:
    """The fields of every form class of the app."""
    names: set[str] = set()
    todo = [FlaskForm]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        for klass in cls.__mro__:
            names |= {k for k, v in vars(klass).items() if hasattr(v, "field_class")}
    return names


URL_FOR_OPTIONS = {"endpoint", "_method", "_external", "_scheme", "_anchor"}


def _query_names_in_source() -> set[str]:
    """Every query parameter a view reads by name."""
    pattern = re.compile(r"request\.args\.get\(\s*[\"'](\w+)[\"']")
    root = Path(caseapp.__file__).parent
    return {name for path in root.rglob("*.py") for name in pattern.findall(path.read_text())}


@dataclass
class Route:
    endpoint: str
    method: str
    url: str
    person: str | None  # None: anonymous
    second_factor: bool = True
    variants: list[dict[str, str]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # the fields of its own forms
    others: list[str] = field(default_factory=list)  # every other known field
    on_a_page: bool = False  # a page renders its form


def _send(visitor: Visitor, method: str, url: str, fields: dict[str, str]):
    """A request as ``visitor``, signed in afresh (a route may end the session); a GET sends the
    fields as its query string."""
    visitor.sign_in_again()
    if method == "GET":
        query = urlencode(fields, encoding="utf-8", errors="surrogateescape")
        return visitor.get(url, query_string=query)
    return visitor.post(url, fields)


def _objects(app, db, world) -> dict[str, object]:
    """A case with a step, a consent, an exclusion, an attachment and a notice; a referral
    contact, an activity, a submitted report; a school and an account for the admin forms to
    change without disturbing the people asking."""
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"], risk_level="immediate")
    consent(db, world["focal_a"], case, "person_harmed", "guardian")
    step = add(db, world["focal_a"], case, "follow_up", due_on=local_today() + timedelta(days=7))
    me = db.get(User, world["focal_a"].id)
    sch_a, d2 = db.get(Unit, world.units["SCH-A"]), db.get(Unit, world.units["D2"])
    case_records.exclude(db, me, case, "officer.p", "Người thân của người bị tố cáo")
    # A second exclusion whose lifting waits for approval (the first keeps its lift form).
    excluded = case_records.exclude(db, me, case, "no.grants", "Người thân của người bị tố cáo")
    asked = approvals.request_exclusion_lift(
        db, db.get(User, world["officer_d1"].id), case, excluded.id, "Nhầm người"
    )
    attachment = case_records.add_attachment(
        db, me, case, "bien-ban.pdf", "application/pdf", io.BytesIO(b"%PDF-1.4\n%odd input\n")
    )
    notifications.notify_handlers(db, case, "closure_returned", f"odd-{case.id}")
    contact = referral_contact(db, world, "D1")
    activity = activities.create(
        db,
        me,
        sch_a,
        activities.ActivityInput(
            held_on=local_today() - timedelta(days=3),
            kind="training",
            audience="pupils",
            title="Tập huấn",
            participants_female=3,
            participants_male=4,
        ),
    )
    material = activity_materials.add_material(
        db, me, activity, "Tờ rơi", "to-roi.pdf", io.BytesIO(b"%PDF-1.4\n%odd input\n")
    )
    annual = next(p for p in reports.periods_of(2020) if p.kind == "annual")
    complete_work_report(db, me, sch_a, annual)
    snapshot = reports.submit(db, me, sch_a, annual)
    breach = breaches.create(
        db,
        db.get(User, world["officer_d1"].id),
        db.get(Unit, world.units["D1"]),
        breaches.BreachInput(
            discovered_at=(local_today() - timedelta(days=2)).strftime("%d/%m/%Y 20:00"),
            discovered_by="Cán bộ CNTT",
            description="Mất máy tính xách tay.",
            data_categories=["identity"],
        ),
    )
    subject_request = _subject_request(db, me, sch_a)
    hold = holds.set_hold(
        db, db.get(User, world["officer_d1"].id), db.get(Case, case.id), "Gia đình khiếu nại"
    )
    school = units.create_unit(db, None, d2, "ODD-S", "Trường Thử", "school")
    target = db.get(User, world["focal_b"].id)
    self_report = submit_report(db, sch_a, danger=True)
    photo = add_photo(db, self_report)
    db.commit()
    db.expire_all()
    return {
        "public_id": case.public_id,
        "cases.complete_step": step.uid,
        "cases.download": db.get(CaseAttachment, attachment.id).uid,
        "cases.edit_person": db.get(Case, case.id).harmed_people[0].uid,
        "cases.withdraw_person": db.get(Case, case.id).perpetrators[0].uid,
        "consent_id": case_records.consents(db, case)[0].id,
        "exclusion_id": case_records.exclusions(db, case)[0].id,
        "notification_id": db.scalar(
            select(func.max(Notification.id)).where(Notification.user_id == me.id)
        ),
        "contact_id": contact.id,
        "activity_id": activity.id,
        "material_id": material.id,
        "snapshot_id": snapshot.id,
        "breach_id": breach.id,
        "subject_request_id": subject_request.id,
        "export_id": subject_request.exports[0].id,
        "hold_id": hold.id,
        "unit_id": school.id,
        "code": school.code,  # a school's poster
        "user_id": target.id,
        "request_id": asked.id,
        "grant_id": db.scalar(select(Grant.id).where(Grant.user_id == target.id)),
        "seq": db.scalar(select(func.max(AuditEvent.seq))),
        "school_code": "SCH-A",  # the public self-report page of a school
        "filename": "css/app.css",
        "notice_version": notices.NOTICE_VERSION,
        "report_uid": self_report.uid,
        "photo_uid": photo.uid,
    }


def _subject_request(db, me, school):
    """A guardian's access request about the case's person harmed, matched, its export
    prepared by the focal point (an officer reviews it)."""
    from caseapp.services.privacy import request_export, request_matches
    from caseapp.services.privacy import requests as subject_requests
    from tests.functional.case_support import CANARY
    from tests.functional.subject_request_support import FORM

    made = subject_requests.create(
        db,
        me,
        school,
        subject_requests.RequestInput(**{**FORM, "subject_name": f"Nguyễn Thị {CANARY}-harmed"}),
    )
    subject_requests.acknowledge(db, me, made, made.version)
    request_matches.search(db, me, made, made.version)
    for match in made.matches:
        request_matches.confirm(db, me, made, match.id, True)
    request_export.prepare(db, me, made, made.version)
    return made


def _with_head(db, world):
    """The world and a head of SCH-A (who alone approves a plan)."""
    sch_a = db.get(Unit, world.units["SCH-A"])
    head = make_user(db, keyring(), "head.odd", sch_a, [("head", sch_a)])
    db.commit()
    return dataclasses.replace(world, people={**world.people, "head_a": head})


def _who(app, db, world, endpoint: str) -> tuple[str | None, bool]:
    needed = declared_permission(app, endpoint)
    if needed == PUBLIC:
        return None, True
    if needed == PENDING_SECOND_FACTOR:
        return ("new_user" if endpoint == "auth.enrol" else "officer_d2"), False
    for person in PEOPLE:
        if has_permission(db.get(User, world[person].id), needed):
            return person, True
    raise AssertionError(f"no one in the seeded world may use {endpoint} ({needed})")


def _routes(app, db, world) -> list[Route]:
    objects = _objects(app, db, world)
    routes = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        values = {}
        for arg in rule.arguments:
            value = objects.get(rule.endpoint) if arg == "uid" else objects.get(arg)
            assert value is not None, f"no object for <{arg}> of {rule.rule}"
            if isinstance(rule._converters[arg], IntegerConverter):
                assert isinstance(value, int), (rule.rule, arg)
            values[arg] = value
        url = rule.build(values, append_unknown=False)[1]
        person, second_factor = _who(app, db, world, rule.endpoint)
        for method in ("GET", "POST"):
            if method in rule.methods:
                routes.append(Route(rule.endpoint, method, url, person, second_factor))
    return routes


def _harvest(routes: list[Route], callers: dict) -> None:
    """Fill each route's forms in from the pages: as its own person, and a case's page as the
    officer too (who sees the forms only an officer may use)."""
    found: dict[tuple[str, str], list[dict[str, str]]] = {}
    links: dict[str, set[str]] = {}
    pages = [(r.url, (r.person, r.second_factor)) for r in routes if r.method == "GET"]
    pages += [(TOKEN_PAGE, (None, True))]
    pages += [
        (r.url, ("officer_d1", True))
        for r in routes
        if r.method == "GET" and r.endpoint == "cases.show"
    ]
    for url, who in pages:
        response = _send(callers[who], "GET", url, {})
        if response.mimetype != "text/html":
            continue
        parser = _Forms(url)
        parser.feed(response.get_data(as_text=True))
        for method, action, fields in parser.forms:
            fields.pop("csrf_token", None)
            found.setdefault((method, action), []).append(fields)
        for href in parser.links:
            target = urlparse(href)
            links.setdefault(target.path, set()).update(k for k, _v in parse_qsl(target.query))
    every_form_field = _form_class_fields() | {"csrf_token"}
    # With them, the names url_for takes as options of its own: a page that copies its query
    # into its links must not hand them over (?_method=POST answered 500).
    query_names = _query_names_in_source() | URL_FOR_OPTIONS
    for route in routes:
        path = urlparse(route.url).path
        route.on_a_page = (route.method, path) in found
        route.variants = found.get((route.method, path)) or [{}]
        own = set().union(*route.variants)
        if route.method == "GET":
            own |= links.get(path, set())
        route.names = sorted(own)
        route.others = sorted((query_names | every_form_field) - own)


class Targets:
    """The routes and the people asking (a short repr: Hypothesis prints it on a failure)."""

    def __init__(self, routes: list[Route], callers: dict) -> None:
        self.routes, self.callers = routes, callers

    def __repr__(self) -> str:
        return f"<{len(self.routes)} routes>"


@pytest.fixture()
def targets(app, db, world):
    world = _with_head(db, world)
    config = app.extensions["caseapp.settings"]
    before = stored_files(config)
    routes = _routes(app, db, world)
    keys = {(r.person, r.second_factor) for r in routes} | {("officer_d1", True), (None, True)}
    callers = {
        (who, second_factor): Visitor(
            app, db, world[who] if who else None, second_factor=second_factor
        )
        for who, second_factor in keys
    }
    _harvest(routes, callers)
    yield Targets(routes, callers)
    for name in stored_files(config) - before:  # the attachment's sealed file
        (config.attachment_dir / name).unlink(missing_ok=True)


def _odd_fields(data, route: Route) -> dict[str, str]:
    fields = dict(data.draw(st.sampled_from(route.variants)))
    for _n in range(data.draw(st.integers(1, 3))):
        own = route.names and data.draw(st.integers(0, 9)) < 8
        name = data.draw(st.sampled_from(route.names if own else route.others))
        fields[name] = data.draw(odd_values)
    return fields


# No shrinking: every example requests every route (shrinking would replay them for minutes),
# and the failure lists each request that failed with the fields it sent.
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_odd_input_makes_a_route_fail(targets, data):
    routes, callers = targets.routes, targets.callers
    failed = []
    for route in routes:
        fields = _odd_fields(data, route)
        response = _send(
            callers[(route.person, route.second_factor)], route.method, route.url, fields
        )
        if response.status_code == 500:
            shown = {k: (v[:40] + "…" if len(v) > 40 else v) for k, v in fields.items()}
            failed.append((route.method, route.url, shown))
    assert not failed, failed


def test_every_route_is_covered(targets):
    """The sweep reaches every rule of the url_map, and finds the forms of the pages."""
    routes = targets.routes
    from flask import current_app

    rules = {
        (r.endpoint, m)
        for r in current_app.url_map.iter_rules()
        for m in ("GET", "POST")
        if m in r.methods
    }
    assert {(r.endpoint, r.method) for r in routes} == rules
    with_forms = {r.endpoint for r in routes if r.method == "POST" and r.on_a_page}
    for endpoint in (
        "cases.add_step",
        "cases.transition",
        "admin.unit",
        "admin.move_unit",
        "admin.grant",
        "reports.activity",
        "auth.login",
        "auth.enrolment_code",
        "main.set_language",
        "cases.lift_exclusion",
        "dashboard.open_notice",
        "audit.review_attention",
        "equality.save_plan",
        "equality.narrative",
        "privacy.update_breach",
        "privacy.add_action",
    ):
        assert endpoint in with_forms, endpoint
