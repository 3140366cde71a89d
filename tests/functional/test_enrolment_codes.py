"""Enrolment codes (issue 11): credentials never pass through an administrator's hands.

A reset (or a new account) gives the person a one-time code in two halves, part 1 from the
person who asked and part 2 from the person who approved. The attack: an administrator tries to
sign in as the person with everything they have seen. Every refusal is tried through the real
screens and shown to change nothing; the person then sets their own password and authenticator.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from flask import render_template
from sqlalchemy import func, select

from caseapp.db import utcnow
from caseapp.models import AuditEvent, EnrolmentCode, Notification, User, UserSession
from caseapp.runtime import hasher
from caseapp.security import passwords, totp
from caseapp.services.accounts import enrolment, throttle
from caseapp.services.accounts import users as user_service
from caseapp.services.audit.trail import record
from tests.factories import Person, Visitor
from tests.functional.signin_support import (
    GENERIC_FAILURE,
    TOO_MANY,
    alert,
    env,
    full_sign_in,
    lands_on,
    password_step,
    steady_counter,
    translated,
)

PAGE = "/login/code"
NEW_PASSWORD = "a fresh sentence of my own 7"
CODE_FAILURE = (
    "The code was not accepted. Check your user name and both parts of the code, then try "
    "again. A code works only once, and only for 72 hours after part 2 was issued."
)
SECRET_RE = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')
RECOVERY_RE = re.compile(r"<code>([0-9A-F]{5}-[0-9A-F]{5})</code>")
ERRORS_RE = re.compile(r'<div class="alert" role="alert">\s*<ul>(.*?)</ul>', re.S)


# --- helpers ------------------------------------------------------------------------------------


def user_of(db, world, who: str) -> User:
    user = db.get(User, world[who].id)
    db.refresh(user)
    return user


def issue_code(db, world, who="focal_a", asker="admin_d1", approver="admin_p", purpose="reset"):
    """Both halves of a new code for ``who``: part 1 as ``asker`` sees it, part 2 as
    ``approver`` does."""
    person = user_of(db, world, who)
    first = enrolment.issue_first_half(db, user_of(db, world, asker), person, purpose)
    second = enrolment.release_second_half(db, user_of(db, world, approver), person)
    db.commit()
    return first, second


def use_code(client, username, first, second, password=NEW_PASSWORD, repeat=None, **kw):
    fields = {
        "username": username,
        "first_half": first,
        "second_half": second,
        "new_password": password,
        "repeat": password if repeat is None else repeat,
    }
    return Visitor(client, token_from=PAGE).post(PAGE, fields, **kw)


def messages(response) -> list[str]:
    match = ERRORS_RE.search(response.get_data(as_text=True))
    if not match:
        return []
    return [html.unescape(m).strip() for m in re.findall(r"<li>(.*?)</li>", match.group(1), re.S)]


def refused(response) -> bool:
    return response.status_code == 200 and messages(response) == [translated(CODE_FAILURE)]


def audit_count(db, action: str, username: str | None = None) -> int:
    stmt = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if username is not None:
        stmt = stmt.where(AuditEvent.object_ref == username)
    return db.scalar(stmt)


def state_of(db, user_id: int) -> tuple:
    """What a refused attempt must leave alone: the password, the codes, the sessions."""
    db.expire_all()
    user = db.get(User, user_id)
    codes = db.execute(
        select(EnrolmentCode.id, EnrolmentCode.used_at, EnrolmentCode.revoked_at)
        .where(EnrolmentCode.user_id == user_id)
        .order_by(EnrolmentCode.id)
    ).all()
    live = db.scalar(
        select(func.count())
        .select_from(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    )
    return user.password_hash, user.totp_secret, tuple(codes), live


def forgive(db, username: str) -> None:
    """Clear the account's failure count, so one test can try more than the lock allows."""
    throttle.clear_account(db, username)
    db.commit()


def enrol_authenticator(client) -> tuple[bytes, int, list[str]]:
    """On /login/enrol: read the offered key, confirm it with a code; the key, the step used
    and the recovery codes."""
    page = client.get("/login/enrol").get_data(as_text=True)
    secret = totp.from_base32(SECRET_RE.search(page).group(1))
    counter = steady_counter()
    r = Visitor(client, token_from="/login/enrol").post(
        "/login/enrol", {"code": totp.code_at(secret, counter)}
    )
    assert r.status_code == 200, r.status_code
    return secret, counter, RECOVERY_RE.findall(r.get_data(as_text=True))


# --- the attack: the administrator cannot become the person -------------------------------------


def test_admin_cannot_sign_in_as_the_person_with_anything_they_have_seen(app, db, world):
    person = world["focal_a"]
    asker, approver = app.test_client(), app.test_client()
    # Before the approval, the old password still works (nothing happened yet) ...
    first = enrolment.issue_first_half(
        db, user_of(db, world, "admin_d1"), user_of(db, world, "focal_a"), "reset"
    )
    db.commit()
    assert lands_on(password_step(asker, person.username, person.password), "/login/2fa")
    # ... and part 1 alone is not a code: there is no second half yet.
    assert refused(use_code(asker, person.username, first.code, first.code))
    second = enrolment.release_second_half(
        db, user_of(db, world, "admin_p"), user_of(db, world, "focal_a")
    )
    db.commit()
    assert first.code != second.code
    before = state_of(db, person.id)
    assert before[1] is None  # the old authenticator is gone
    assert before[3] == 0  # and every session ended

    forgive(db, person.username)
    fresh = app.test_client()
    # The old password (which an administrator may have known) no longer signs in, and no
    # temporary password exists: each half, and the two together, are not passwords.
    for guess in (
        person.password,
        first.code,
        second.code,
        first.code + second.code,
        f"{first.code} {second.code}",
    ):
        r = password_step(fresh, person.username, guess, ip="10.9.0.1")
        assert r.status_code == 200 and alert(r) == translated(GENERIC_FAILURE)
    forgive(db, person.username)
    # The asker holds part 1 only: with a made-up part 2, or part 1 twice, it is refused.
    made_up = "ABCD-EFGH" if first.code != "ABCD-EFGH" else "HGFE-DCBA"
    assert refused(use_code(asker, person.username, first.code, made_up, **env("10.9.0.2")))
    assert refused(use_code(asker, person.username, first.code, "", **env("10.9.0.2"))) is False
    # The approver holds part 2 only: alone, or in the other field, it is refused.
    assert refused(use_code(approver, person.username, made_up, second.code, **env("10.9.0.3")))
    assert refused(use_code(approver, person.username, second.code, first.code, **env("10.9.0.3")))
    assert state_of(db, person.id) == before
    assert audit_count(db, "auth.enrolment_failed", person.username) == 4
    assert audit_count(db, "auth.enrolment_used", person.username) == 0

    # Only someone holding both parts (the person) gets in, and to the authenticator step.
    r = use_code(app.test_client(), person.username, first.code, second.code, **env("10.9.0.4"))
    assert lands_on(r, "/login/enrol"), (r.status_code, messages(r))


def test_the_letters_carry_one_half_each_and_no_password(app, db, world):
    first, second = issue_code(db, world)
    with app.test_request_context("/"):
        page_one = render_template("admin/enrolment_letter.html", letters=[first], back_url="/x")
        both = render_template(
            "admin/enrolment_letter.html", letters=[first, second], back_url=None
        )
    assert first.code in page_one and second.code not in page_one
    assert "Person focal.a" in page_one and "focal.a" in page_one
    assert "http://" in page_one and "/login/code" in page_one
    assert 'href="/x"' in page_one
    assert both.count('class="card letter"') == 2
    assert second.expires_at is not None and first.expires_at is None
    assert second.expires_at - second.issued_at == enrolment.VALID_FOR
    # The admin's screens never learn the password: the stored hash matches no half.
    user = user_of(db, world, "focal_a")
    for guess in (first.code, second.code, first.code + second.code, world["focal_a"].password):
        assert not passwords.verify_password(hasher(), user.password_hash, guess)


# --- bound to one account, used once, 72 hours, the newest only -------------------------------


def test_the_code_is_bound_to_its_account(client, db, world):
    first, second = issue_code(db, world, who="focal_a")
    before_b = state_of(db, world["focal_b"].id)
    assert refused(use_code(client, world["focal_b"].username, first.code, second.code))
    assert state_of(db, world["focal_b"].id) == before_b
    r = use_code(client, world["focal_a"].username, first.code, second.code)
    assert lands_on(r, "/login/enrol")


def test_the_code_works_once_and_a_replay_changes_nothing(app, db, world):
    first, second = issue_code(db, world)
    person = world["focal_a"]
    r = use_code(app.test_client(), person.username, first.code, second.code)
    assert lands_on(r, "/login/enrol")
    after_first_use = state_of(db, person.id)
    r = use_code(
        app.test_client(), person.username, first.code, second.code, "another 9 words go here"
    )
    assert refused(r)
    assert state_of(db, person.id) == after_first_use
    assert audit_count(db, "auth.enrolment_used", person.username) == 1
    user = user_of(db, world, "focal_a")
    assert passwords.verify_password(hasher(), user.password_hash, NEW_PASSWORD)


@pytest.mark.parametrize(("hours", "works"), [(71.9, True), (72.01, False)])
def test_the_code_expires_72_hours_after_part_two(app, db, world, monkeypatch, hours, works):
    first, second = issue_code(db, world)
    later = utcnow() + timedelta(hours=hours)
    monkeypatch.setattr(enrolment, "utcnow", lambda: later)
    r = use_code(app.test_client(), world["focal_a"].username, first.code, second.code)
    if works:
        assert lands_on(r, "/login/enrol")
    else:
        assert refused(r)
        assert audit_count(db, "auth.enrolment_used", world["focal_a"].username) == 0


def test_a_newer_code_revokes_the_older_one(app, db, world):
    old_first, old_second = issue_code(db, world)
    new_first, new_second = issue_code(db, world, asker="admin_p", approver="admin_d1")
    person = world["focal_a"]
    assert refused(use_code(app.test_client(), person.username, old_first.code, old_second.code))
    assert refused(use_code(app.test_client(), person.username, old_first.code, new_second.code))
    r = use_code(app.test_client(), person.username, new_first.code, new_second.code)
    assert lands_on(r, "/login/enrol")


def test_a_half_is_typed_without_care_for_case_spaces_or_dashes(client, db, world):
    first, second = issue_code(db, world)
    sloppy_first = " " + first.code.lower().replace("-", " ") + " "
    sloppy_second = second.code.replace("-", "")
    r = use_code(client, world["focal_a"].username.upper(), sloppy_first, sloppy_second)
    assert lands_on(r, "/login/enrol")


def test_a_disabled_account_cannot_use_its_code(app, db, world):
    first, second = issue_code(db, world)
    person = user_of(db, world, "focal_a")
    person.active = False
    record(db, None, "user.disable", person, unit=person.unit)
    db.commit()
    before = state_of(db, person.id)
    assert refused(use_code(app.test_client(), person.username, first.code, second.code))
    assert state_of(db, person.id) == before


def test_unknown_names_are_refused_like_wrong_codes(app, db, world):
    first, second = issue_code(db, world)
    r = use_code(app.test_client(), "nobody.here", first.code, second.code)
    assert refused(r)
    event = db.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "auth.enrolment_failed")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    assert event.actor_id is None and event.object_id == ""


# --- throttling, password rules, CSRF ------------------------------------------------------------


def test_guessing_codes_locks_like_sign_in_and_keeps_the_code(app, db, world, settings):
    first, second = issue_code(db, world)
    person = world["focal_a"]
    wrong = "ZZZZ-ZZZZ" if second.code != "ZZZZ-ZZZZ" else "YYYY-YYYY"
    for i in range(settings.throttle_account_failures):
        r = use_code(app.test_client(), person.username, first.code, wrong, **env(f"10.8.0.{i}"))
        assert refused(r)
    # Locked: even the right code is turned away (from any address), the same way sign-in is.
    r = use_code(app.test_client(), person.username, first.code, second.code, **env("10.8.1.1"))
    assert r.status_code == 429
    minutes = -(-settings.throttle_lock_seconds // 60)
    assert messages(r) == [translated(TOO_MANY, n=minutes)]
    r = password_step(app.test_client(), person.username, person.password, ip="10.8.1.2")
    assert r.status_code == 429
    assert audit_count(db, "auth.locked", person.username) == 1
    assert audit_count(db, "auth.enrolment_used", person.username) == 0
    # After the lock the untouched code still works.
    later = utcnow() + timedelta(seconds=settings.throttle_lock_seconds + 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(throttle, "utcnow", lambda: later)
        r = use_code(app.test_client(), person.username, first.code, second.code, **env("10.8.1.3"))
    assert lands_on(r, "/login/enrol")


def test_a_password_that_breaks_the_rules_keeps_the_code_usable(app, db, world):
    first, second = issue_code(db, world)
    person = world["focal_a"]
    before = state_of(db, person.id)
    for bad in ("short", "focal.a focal.a focal.a", "aaaaaaaaaaaaaaaaaaaa"):
        r = use_code(app.test_client(), person.username, first.code, second.code, bad)
        assert r.status_code == 400
        said = messages(r)
        assert said[0] == translated("The new password does not meet the password rules.")
        assert len(said) >= 2  # and which rule
        assert state_of(db, person.id) == before
    r = use_code(
        app.test_client(), person.username, first.code, second.code, NEW_PASSWORD, "different 1"
    )
    assert r.status_code == 400 and state_of(db, person.id) == before
    assert audit_count(db, "auth.enrolment_failed", person.username) == 0
    r = use_code(app.test_client(), person.username, first.code, second.code)
    assert lands_on(r, "/login/enrol")


def test_a_post_without_csrf_is_refused_and_changes_nothing(client, db, world):
    first, second = issue_code(db, world)
    person = world["focal_a"]
    before = state_of(db, person.id)
    fields = {
        "username": person.username,
        "first_half": first.code,
        "second_half": second.code,
        "new_password": NEW_PASSWORD,
        "repeat": NEW_PASSWORD,
    }
    r = Visitor(client).post(PAGE, fields, csrf=False)
    assert r.status_code == 400
    assert state_of(db, person.id) == before
    r = Visitor(client).post(PAGE, {**fields, "csrf_token": "forged"}, csrf=False)
    assert r.status_code == 400
    assert state_of(db, person.id) == before


# --- the whole way in ------------------------------------------------------------------------


def test_success_sets_the_password_then_the_authenticator_then_a_full_sign_in(app, db, world):
    first, second = issue_code(db, world, purpose="new_account")
    person = world["focal_a"]
    browser = app.test_client()
    assert "/login/code" in browser.get("/login").get_data(as_text=True)  # linked from sign-in
    r = use_code(browser, person.username, first.code, second.code)
    assert lands_on(r, "/login/enrol")
    # The second factor is still to come: nothing else opens yet.
    assert lands_on(browser.get("/"), "/login/enrol")
    [code] = db.scalars(select(EnrolmentCode).where(EnrolmentCode.user_id == person.id))
    db.refresh(code)
    assert code.used_at is not None
    used = db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.enrolment_used"))
    assert used.actor_id == person.id and used.object_id == str(code.id)
    assert "new_password" not in used.changes and NEW_PASSWORD not in used.changes
    # The person and the officers above them are told.
    told = set(
        db.scalars(select(Notification.user_id).where(Notification.kind == "account.enrolled"))
    )
    assert {person.id, world["officer_d1"].id, world["officer_p"].id} <= told
    assert world["admin_d1"].id not in told

    secret, counter, recovery = enrol_authenticator(browser)
    assert len(recovery) > 0
    assert browser.get("/").status_code == 200
    Visitor(browser, token_from="/account/").post("/logout", {})
    assert lands_on(browser.get("/"), "/login")
    again = Person(person.id, person.username, NEW_PASSWORD, secret)
    full_sign_in(app.test_client(), again, counter=counter + 1)  # the next step's code
    # The old password is gone for good.
    r = password_step(app.test_client(), person.username, person.password, ip="10.7.0.1")
    assert alert(r) == translated(GENERIC_FAILURE)


def test_a_new_account_starts_with_a_code_not_a_password(app, db, world):
    """An account created without a password (as an administrator now does) cannot be signed
    in to until its code is used; then the person chooses their own."""
    unit = user_of(db, world, "focal_a").unit
    user, _none = user_service.create_user(db, None, "moi.nguoi", "Người Mới", "", unit)
    db.commit()
    first = enrolment.issue_first_half(db, user_of(db, world, "admin_d1"), user, "new_account")
    second = enrolment.release_second_half(db, user_of(db, world, "admin_p"), user)
    db.commit()
    for guess in (first.code, second.code, first.code + second.code):
        r = password_step(app.test_client(), "moi.nguoi", guess, ip="10.6.0.1")
        assert alert(r) == translated(GENERIC_FAILURE)
    r = use_code(app.test_client(), "moi.nguoi", first.code, second.code)
    assert lands_on(r, "/login/enrol")


def test_the_page_is_translated_and_labelled(client, db, world):
    for lang in ("vi", "en"):
        page = Visitor(client, lang=lang).get(PAGE).get_data(as_text=True)
        for name in ("username", "first_half", "second_half", "new_password", "repeat"):
            assert f'for="{name}"' in page, name
        assert page.count('autocomplete="new-password"') == 2
        assert 'aria-describedby="first_half-hint"' in page
        assert 'aria-describedby="second_half-hint"' in page


ODD_FIELDS = {
    "overlong_username": {"username": b"u" * 10_000},
    "nul_in_username": {"username": b"focal.a\x00"},
    "invalid_utf8_username": {"username": b"focal.\xc3("},
    "overlong_half": {"first_half": b"A" * 10_000},
    "nul_in_half": {"second_half": b"ABCD\x00EFGH"},
    "invalid_utf8_half": {"first_half": b"ABCD-\xff\xfeGH"},
    "overlong_password": {"new_password": b"p" * 10_000, "repeat": b"p" * 10_000},
    "nul_in_password": {"new_password": b"a long pass\x00 phrase 42", "repeat": b"x"},
}


@pytest.mark.parametrize("case", list(ODD_FIELDS))
def test_odd_input_gets_a_clear_answer_and_changes_nothing(client, db, world, case):
    from urllib.parse import quote_from_bytes

    first, second = issue_code(db, world)
    person = world["focal_a"]
    before = state_of(db, person.id)
    fields = {
        "username": b"focal.a",
        "first_half": first.code.encode(),
        "second_half": b"ZZZZ-ZZZZ",
        "new_password": NEW_PASSWORD.encode(),
        "repeat": NEW_PASSWORD.encode(),
        **ODD_FIELDS[case],
    }
    token = Visitor(client, token_from=PAGE).token()
    body = "&".join(f"{k}={quote_from_bytes(v)}" for k, v in fields.items())
    r = client.post(
        PAGE, data=f"{body}&csrf_token={token}", content_type="application/x-www-form-urlencoded"
    )
    assert r.status_code in (200, 400), r.status_code
    page = r.get_data(as_text=True)
    assert refused(r) or 'class="error" role="alert"' in page
    assert state_of(db, person.id) == before
    assert lands_on(client.get("/"), "/login")
