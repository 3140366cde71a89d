"""The password policy, through the screen that changes one's own password and through the
create-user command: a refused password is named in Vietnamese and changes nothing."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from caseapp.models import AuditEvent, User
from tests.factories import Visitor
from tests.functional.admin_support import translated

MAX = 128  # settings.password_max_length (testing preset)
MIN = 12
ERRORS_RE = re.compile(r'<div class="alert" role="alert">\s*<ul>(.*?)</ul>', re.S)
ITEM_RE = re.compile(r"<li>(.*?)</li>", re.S)

# name -> (new password for focal.a, the rule it breaks, its parameters)
BAD = {
    "too short": ("Ngắn-q7#", "At least %(n)d characters.", {"n": MIN}),
    "common": ("password1234", "Not a commonly used password.", {}),
    "common, other case": ("MatKhau12345", "Not a commonly used password.", {}),
    "over the maximum": (("Dài-9x" * 30)[: MAX + 1], "At most %(n)d characters.", {"n": MAX}),
    "contains the user name": ("my focal.a passphrase 77", "Not containing your user name.", {}),
    "contains it in capitals": ("xx FOCAL.A yy zz 1234", "Not containing your user name.", {}),
}


def _errors(response) -> list[str]:
    match = ERRORS_RE.search(response.get_data(as_text=True))
    return [html.unescape(m).strip() for m in ITEM_RE.findall(match.group(1))] if match else []


def _state(db, user_id: int) -> tuple:
    db.expire_all()
    user = db.get(User, user_id)
    events = db.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.action.in_(("auth.password_changed", "auth.sessions_revoked")),
            AuditEvent.object_id == str(user_id),
        )
    )
    return user.password_hash, user.password_changed_at, user.must_change_password, events


@pytest.mark.parametrize("name", list(BAD))
def test_a_password_breaking_a_rule_is_refused_in_vietnamese(app, db, world, name):
    new, rule, params = BAD[name]
    person = world["focal_a"]
    me = Visitor(app, db, person, lang="vi")
    before = _state(db, person.id)
    r = me.post("/account/password", {"current": person.password, "new": new, "confirm": new})
    assert r.status_code == 400
    assert _errors(r) == [translated(app, rule, **params)]
    assert _errors(r)[0] != rule % params  # really Vietnamese, not the English source
    assert _state(db, person.id) == before
    assert me.get("/account/").status_code == 200  # the session was not ended


def test_a_password_holding_one_s_name_is_refused(app, db, world):
    """focal.a is called "Person focal.a": the name, spaces left out, in any case."""
    person = world["focal_a"]
    me = Visitor(app, db, person, lang="vi")
    before = _state(db, person.id)
    new = "x PERSON Focal.A 2026 y"
    r = me.post("/account/password", {"current": person.password, "new": new, "confirm": new})
    assert r.status_code == 400
    assert translated(app, "Not containing your name.") in _errors(r)
    assert _state(db, person.id) == before


def test_a_password_within_the_rules_is_accepted(app, db, world):
    """The same form with a good password (of exactly the maximum length) changes it: the
    refusals above are the policy's, not a form that never works."""
    person = world["focal_a"]
    me = Visitor(app, db, person, lang="vi")
    before = _state(db, person.id)
    new = ("Dài-9x" * 30)[:MAX]
    r = me.post("/account/password", {"current": person.password, "new": new, "confirm": new})
    assert r.status_code == 302, _errors(r)
    after = _state(db, person.id)
    assert after[0] != before[0] and after[3] == before[3] + 2


CLI_BAD = {
    "too short": "Ngắn-q7#",
    "common": "password1234",
    "over the maximum": ("Dài-9x" * 30)[: MAX + 1],
    "contains the user name": "my new.person secret 77",
}


@pytest.mark.parametrize("name", list(CLI_BAD))
def test_create_user_refuses_a_password_breaking_a_rule(app, db, name):
    runner = app.test_cli_runner()
    before = db.scalar(select(func.count()).select_from(AuditEvent))
    result = runner.invoke(
        args=[
            "create-user",
            "--username",
            "new.person",
            "--full-name",
            "Người Mới",
            "--unit",
            "SCH-A",
            "--role",
            "focal_point",
            "--password",
            CLI_BAD[name],
        ]
    )
    assert result.exit_code != 0
    assert translated(app, "The password does not meet the password rules.") in result.output
    db.expire_all()
    assert db.scalar(select(User).where(User.username == "new.person")) is None
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_a_mismatch_does_not_hide_the_rules_the_password_breaks(app, db, world):
    person = world["focal_a"]
    me = Visitor(app, db, person, lang="vi")
    before = _state(db, person.id)
    r = me.post(
        "/account/password",
        {"current": person.password, "new": "Ngắn-q7#", "confirm": "something else"},
    )
    assert r.status_code == 400
    assert translated(app, "At least %(n)d characters.", n=MIN) in _errors(r)
    assert _state(db, person.id) == before


def test_a_wrong_current_password_is_refused_and_still_counted(app, db, world):
    """The refusal is kept, not rolled back: it counts towards the account's lock and is in
    the trail (carry_out's ``keep``)."""
    person = world["focal_a"]
    me = Visitor(app, db, person, lang="vi")
    new = "a long enough passphrase 4711"
    r = me.post("/account/password", {"current": "not the password 0", "new": new, "confirm": new})
    assert r.status_code == 400
    assert translated(app, "The current password is not right.") in html.unescape(
        r.get_data(as_text=True)
    )
    db.expire_all()
    assert (
        db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "auth.password_change_failed",
                AuditEvent.object_id == str(person.id),
            )
        )
        == 1
    )
    assert me.get("/account/").status_code == 200  # one failure does not end the session
