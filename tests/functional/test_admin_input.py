"""Bad input on every admin form: a clear message on the page, in the session's language
(Vietnamese), and not one row changed."""

from __future__ import annotations

import pytest

from caseapp.clock import local_today
from caseapp.models import ReferralContact, Unit, User
from caseapp.services.org import referrals as referral_service
from tests.factories import Visitor
from tests.functional.admin_support import changed_tables, page_text, snapshot, translated


def _today() -> str:
    """Today where the users are, read when a test runs (not when the module is imported: a
    run that passes midnight in Vietnam, 17:00 UTC, would send yesterday)."""
    return local_today().isoformat()


STALE = object()  # stands for "the version the page was loaded with, since changed by another"
NUL, BROKEN = "\x00", "\udcff"  # BROKEN goes out as the byte 0xFF: not UTF-8

AT_MOST = "At most %(max)d characters."
NOT_ALLOWED = "This field holds characters that are not allowed."
NO_UNIT = "No unit with the code %(code)s within your units."
UNIT_CODE_RULE = "A unit code has 2 to 20 capital letters, digits, - or _."
USER_NAME_RULE = "A user name has 3 to 64 lower-case letters, digits, . _ or -."
NOT_A_CHOICE = "Not a valid choice."
NOT_A_DATE = "Not a valid date value."
STALE_UNIT = "This unit was changed by someone else. Reload it and try again."
STALE_ACCOUNT = "This account was changed by someone else. Reload it and try again."
STALE_CONTACT = "This contact was changed by someone else. Reload it and try again."


def _forms(db, world, contact_id) -> dict[str, tuple[str, dict]]:
    """Every admin form: (URL, fields that would be accepted as they are)."""
    sch_a = db.get(Unit, world.units["SCH-A"])
    focal = db.get(User, world["focal_a"].id)
    contact = db.get(ReferralContact, contact_id)
    unit_url, user_url = f"/admin/units/{sch_a.id}", f"/admin/users/{focal.id}"
    return {
        "unit_new": (
            "/admin/units/new",
            {
                "parent_code": "D1",
                "code": "SCH-NEW",
                "name": "Trường Tiểu học Mới",
                "kind": "school",
            },
        ),
        "unit_edit": (
            unit_url,
            {"name": "Trường A (đổi tên)", "kind": "school", "version": sch_a.version},
        ),
        "unit_close": (f"{unit_url}/close", {"valid_to": _today(), "version": sch_a.version}),
        "unit_move": (
            f"{unit_url}/move",
            {"new_parent_code": "D2", "on": _today(), "version": sch_a.version},
        ),
        "user_new": (
            "/admin/users/new",
            {
                "username": "nguyen.van.a",
                "full_name": "Nguyễn Văn A",
                "email": "a@example.org",
                "unit_code": "SCH-A",
            },
        ),
        "user_edit": (
            user_url,
            {"full_name": "Trần Thị B", "email": "b@example.org", "version": focal.version},
        ),
        "grant": (f"{user_url}/grants", {"role": "officer", "unit_code": "D1"}),
        "disable": (f"{user_url}/disable", {"reason": "Đã chuyển trường"}),
        "revoke": (
            f"/admin/grants/{focal.active_grants[0].id}/revoke",
            {"reason": "Đã chuyển trường"},
        ),
        "contact_new": (
            "/admin/referrals/new",
            {
                "unit_code": "SCH-A",
                "name": "Công an xã",
                "kind": "police",
                "phone": "113",
                "address": "",
                "version": "0",
            },
        ),
        "contact_edit": (
            f"/admin/referrals/{contact.id}",
            {
                "unit_code": "SCH-A",
                "name": "Trạm y tế xã",
                "kind": "health_station",
                "phone": "0123 456",
                "address": "Thôn 1",
                "active": "y",
                "version": contact.version,
            },
        ),
    }


# (form, field, bad value, (message, its parameters))
CASES = [
    ("unit_new", "name", "x" * 201, (AT_MOST, {"max": 200})),
    ("unit_new", "name", f"Trường{NUL}", (NOT_ALLOWED, {})),
    ("unit_new", "name", f"Trường{BROKEN}", (NOT_ALLOWED, {})),
    ("unit_new", "code", "sch x", (UNIT_CODE_RULE, {})),
    ("unit_new", "code", " SCH-X", (UNIT_CODE_RULE, {})),
    ("unit_new", "code", f"SCH{NUL}X", (UNIT_CODE_RULE, {})),
    ("unit_new", "code", "X" * 21, (AT_MOST, {"max": 20})),
    ("unit_new", "code", "SCH-A", ("The unit code %(code)s is already used.", {"code": "SCH-A"})),
    ("unit_new", "code", "sch-a", ("The unit code %(code)s is already used.", {"code": "SCH-A"})),
    ("unit_new", "parent_code", "NOPE", (NO_UNIT, {"code": "NOPE"})),
    ("unit_new", "parent_code", NUL, (NO_UNIT, {"code": NUL})),
    ("unit_new", "parent_code", BROKEN, (NO_UNIT, {"code": "\ufffd"})),
    ("unit_new", "kind", "galaxy", (NOT_A_CHOICE, {})),
    ("unit_new", "valid_from", "2025-13-45", (NOT_A_DATE, {})),
    ("unit_edit", "name", "x" * 201, (AT_MOST, {"max": 200})),
    ("unit_edit", "name", f"A{NUL}", (NOT_ALLOWED, {})),
    ("unit_edit", "name", f"A{BROKEN}", (NOT_ALLOWED, {})),
    ("unit_edit", "kind", "galaxy", (NOT_A_CHOICE, {})),
    ("unit_edit", "version", STALE, (STALE_UNIT, {})),
    ("unit_close", "valid_to", "31/12/2025", ("Enter a date.", {})),
    ("unit_close", "version", STALE, (STALE_UNIT, {})),
    ("unit_move", "new_parent_code", "NOPE", (NO_UNIT, {"code": "NOPE"})),
    ("unit_move", "new_parent_code", NUL, (NO_UNIT, {"code": NUL})),
    ("unit_move", "version", STALE, (STALE_UNIT, {})),
    ("user_new", "username", "a" * 65, (AT_MOST, {"max": 64})),
    ("user_new", "username", "nguyen van a", (USER_NAME_RULE, {})),
    ("user_new", "username", f"ab{NUL}c", (USER_NAME_RULE, {})),
    ("user_new", "username", f"ab{BROKEN}c", (USER_NAME_RULE, {})),
    (
        "user_new",
        "username",
        "focal.a",
        ("The user name %(name)s is already taken.", {"name": "focal.a"}),
    ),
    (
        "user_new",
        "username",
        "FOCAL.A",
        ("The user name %(name)s is already taken.", {"name": "focal.a"}),
    ),
    ("user_new", "full_name", "x" * 121, (AT_MOST, {"max": 120})),
    ("user_new", "full_name", f"Nguyễn{NUL}", (NOT_ALLOWED, {})),
    ("user_new", "full_name", f"Nguyễn{BROKEN}", (NOT_ALLOWED, {})),
    ("user_new", "email", "not-an-address", ("The e-mail address is not valid.", {})),
    ("unit_new", "kind", "", ("Choose the kind of unit.", {})),  # no kind by default
    ("user_new", "unit_code", "NOPE", (NO_UNIT, {"code": "NOPE"})),
    ("user_new", "unit_code", "sch a", (NO_UNIT, {"code": "SCH A"})),
    ("user_edit", "full_name", "x" * 121, (AT_MOST, {"max": 120})),
    ("user_edit", "full_name", f"B{NUL}", (NOT_ALLOWED, {})),
    ("user_edit", "email", "b@", ("The e-mail address is not valid.", {})),
    ("user_edit", "version", STALE, (STALE_ACCOUNT, {})),
    ("grant", "role", "superuser", (NOT_A_CHOICE, {})),
    ("grant", "unit_code", "NOPE", (NO_UNIT, {"code": "NOPE"})),
    ("grant", "unit_code", NUL, (NO_UNIT, {"code": NUL})),
    ("disable", "reason", "", ("Please give a reason.", {})),
    ("disable", "reason", "x" * 501, (AT_MOST, {"max": 500})),
    ("disable", "reason", f"lý do{NUL}", (NOT_ALLOWED, {})),
    ("revoke", "reason", "x" * 501, (AT_MOST, {"max": 500})),
    ("revoke", "reason", f"lý do{BROKEN}", (NOT_ALLOWED, {})),
    ("contact_new", "name", "x" * 201, (AT_MOST, {"max": 200})),
    ("contact_new", "name", f"Công an{NUL}", (NOT_ALLOWED, {})),
    ("contact_new", "name", f"Công an{BROKEN}", (NOT_ALLOWED, {})),
    ("contact_new", "phone", "1" * 41, (AT_MOST, {"max": 40})),
    ("contact_new", "address", "x" * 501, (AT_MOST, {"max": 500})),
    ("contact_new", "kind", "spaceship", (NOT_A_CHOICE, {})),
    ("contact_new", "unit_code", "NOPE", (NO_UNIT, {"code": "NOPE"})),
    ("contact_edit", "address", f"Thôn{NUL}", (NOT_ALLOWED, {})),
    ("contact_edit", "version", STALE, (STALE_CONTACT, {})),
]


def _case_id(case) -> str:
    form, field, value, _message = case
    label = (
        "stale"
        if value is STALE
        else "nul"
        if NUL in value
        else "broken"
        if BROKEN in value
        else "overlong"
        if len(value) > 40
        else value
    )
    return f"{form}-{field}-{label or 'empty'}"


@pytest.fixture()
def admin(client, db, world):
    agent = Visitor(client, db, world["admin_p"])
    agent.use_language("vi")
    return agent


@pytest.fixture()
def forms(db, world):
    sch_a = db.get(Unit, world.units["SCH-A"])
    contact = referral_service.create_contact(
        db, None, sch_a, "Trạm y tế", "health_station", "0123", ""
    )
    db.commit()
    return lambda: _forms(db, world, contact.id)


@pytest.mark.parametrize(
    "form",
    [
        "unit_new",
        "unit_edit",
        "unit_close",
        "unit_move",
        "user_new",
        "user_edit",
        "grant",
        "disable",
        "revoke",
        "contact_new",
        "contact_edit",
    ],
)
def test_the_untouched_form_is_accepted(admin, db, forms, form):
    """The baseline: each case below differs from an accepted form by one field only."""
    url, fields = forms()[form]
    before = snapshot(db)
    r = admin.post(url, fields)
    assert r.status_code in (200, 302), page_text(r)
    assert changed_tables(before, snapshot(db))


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_is_refused_with_a_clear_message(app, admin, db, forms, case):
    form, field, value, (message, params) = case
    url, fields = forms()[form]
    if value is STALE:
        # Someone else saves first; this page still carries the version it was loaded with.
        assert admin.post(url, fields).status_code == 302
        fields = {**fields, **{k: "Tên khác" for k in ("name", "full_name") if k in fields}}
    else:
        fields = {**fields, field: value}
    before = snapshot(db)
    r = admin.post(url, fields, multipart=BROKEN in str(value))
    assert r.status_code == (409 if value is STALE else 400)
    page = page_text(r)
    assert 'lang="vi"' in page
    assert translated(app, message, "vi", **params) in page
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_message_follows_the_session_language(app, client, db, world, lang):
    agent = Visitor(client, db, world["admin_p"])
    agent.use_language(lang)
    r = agent.post(
        "/admin/units/new", {"parent_code": "D1", "code": "SCH-A", "name": "A", "kind": "school"}
    )
    page = page_text(r)
    assert f'lang="{lang}"' in page
    assert translated(app, "The unit code %(code)s is already used.", lang, code="SCH-A") in page


def test_vietnamese_is_the_default(app, client, db, world):
    r = Visitor(client, db, world["admin_p"]).post(
        "/admin/users/new", {"username": "focal.a", "full_name": "A", "unit_code": "SCH-A"}
    )
    page = page_text(r)
    assert 'lang="vi"' in page
    expected = translated(app, "The user name %(name)s is already taken.", name="focal.a")
    assert expected in page


def test_a_nul_in_the_account_search_is_harmless(admin):
    r = admin.get("/admin/users?q=focal%00")
    assert r.status_code == 200
    assert "focal.a" in page_text(r)
