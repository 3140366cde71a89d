"""Sign-in (ASVS V6): password, then TOTP or a recovery code; enrolment; throttling; rehashing;
hostile input. Every attack is tried for real through the screens and shown to change nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, update

from caseapp.models import AuditEvent, User, UserSession
from caseapp.security import passwords, totp
from caseapp.security.passwords import make_hasher
from tests.factories import Visitor
from tests.functional.signin_support import (
    GENERIC_FAILURE,
    TOO_MANY,
    alert,
    code_step,
    env,
    full_sign_in,
    lands_on,
    password_step,
    steady_counter,
    translated,
)

SECRET_RE = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')
RECOVERY_RE = re.compile(r"<code>([0-9A-F]{5}-[0-9A-F]{5})</code>")


def audit_count(db, action: str | None = None, object_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == str(object_id))
    return db.scalar(stmt)


def sessions_of(db, user_id: int) -> list[UserSession]:
    return list(db.scalars(select(UserSession).where(UserSession.user_id == user_id)))


def user_row(db, user_id: int) -> User:
    user = db.get(User, user_id)
    db.refresh(user)
    return user


# --- the happy path and what is reachable before the second factor ----------------------------


def test_full_sign_in_lands_on_home(client, db, world):
    person = world["focal_a"]
    assert lands_on(client.get("/"), "/login")
    full_sign_in(client, person)
    assert client.get("/").status_code == 200
    [record] = sessions_of(db, person.id)
    assert record.second_factor_at is not None and record.revoked_at is None
    assert audit_count(db, "auth.login", person.id) == 1


@pytest.mark.parametrize(
    ("who", "target"),
    [
        (None, "/login"),
        ("focal_a", "/login/2fa"),
        ("admin_p", "/login/2fa"),
        ("new_user", "/login/enrol"),
    ],
)
def test_only_public_and_pending_pages_before_second_factor(app, client, db, world, who, target):
    from caseapp.access import PENDING_SECOND_FACTOR, PUBLIC, declared_permission

    if who:
        person = world[who]
        r = password_step(client, person.username, person.password)
        assert lands_on(r, target)
    token = Visitor(client, token_from="/login").token()
    before = audit_count(db)
    tried = 0
    for rule in app.url_map.iter_rules():
        if declared_permission(app, rule.endpoint) in (PUBLIC, PENDING_SECOND_FACTOR):
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            if method == "GET":
                r = client.get(url)
            else:  # a valid CSRF token, so only the sign-in guard can stop it
                r = client.post(
                    url,
                    data={"csrf_token": token, "reason": "x", "role": "admin", "unit_code": "PRV"},
                )
            assert lands_on(r, target), (method, url, r.status_code)
            tried += 1
    assert tried > 10
    assert audit_count(db) == before
    if who:
        assert all(s.second_factor_at is None for s in sessions_of(db, world[who].id))


# --- TOTP ---------------------------------------------------------------------------------------


def _bad_codes(secret: bytes, counter: int) -> dict[str, str]:
    window = {totp.code_at(secret, c) for c in (counter - 1, counter, counter + 1)}
    wrong = next(f"{n:06d}" for n in range(0, 1000000, 111111) if f"{n:06d}" not in window)
    return {
        "wrong": wrong,
        "two_steps_old": totp.code_at(secret, counter - 2),
        "two_steps_ahead": totp.code_at(secret, counter + 2),
        "short": "12345",
        "letters": "abcdef",
        "recovery_shaped": "ABCDE-12345",
    }


@pytest.mark.parametrize(
    "kind", ["wrong", "two_steps_old", "two_steps_ahead", "short", "letters", "recovery_shaped"]
)
def test_bad_code_refused_with_generic_message(client, db, world, kind):
    person = world["focal_a"]
    assert lands_on(password_step(client, person.username, person.password), "/login/2fa")
    code = _bad_codes(person.totp_secret, steady_counter())[kind]
    r = code_step(client, code)
    assert r.status_code == 200
    assert alert(r) == translated(GENERIC_FAILURE)
    assert lands_on(client.get("/"), "/login/2fa")
    assert user_row(db, person.id).totp_last_counter == 0
    assert audit_count(db, "auth.second_factor_failed", person.id) == 1


@pytest.mark.parametrize("drift", [-1, 0, 1])
def test_one_step_of_clock_drift_accepted(client, db, world, drift):
    person = world["focal_b"]
    counter = steady_counter() + drift
    full_sign_in(client, person, counter=counter)
    assert user_row(db, person.id).totp_last_counter == counter


CODE_USED = (
    "This code has already been used. Wait for the next code in your authenticator "
    "app, then enter it."
)


def test_code_accepted_once_is_refused_when_replayed(app, client, db, world):
    """Signing in again within 30 s with the same code: refused, and (the password being
    right and the code genuine) the person is told to wait for the next code."""
    person = world["focal_a"]
    counter = steady_counter()
    full_sign_in(client, person, counter=counter)
    again = app.test_client()
    assert lands_on(password_step(again, person.username, person.password), "/login/2fa")
    r = code_step(again, totp.code_at(person.totp_secret, counter))
    assert r.status_code == 200 and alert(r) == translated(CODE_USED)
    assert alert(r) != translated(GENERIC_FAILURE)
    assert lands_on(again.get("/"), "/login/2fa")
    assert audit_count(db, "auth.second_factor_failed", person.id) == 1
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.second_factor_failed"))
    assert "code_already_used" in event.changes
    assert user_row(db, person.id).totp_last_counter == counter
    # The next code signs in.
    r = code_step(again, totp.code_at(person.totp_secret, counter + 1))
    assert lands_on(r, "/"), alert(r)


def test_code_older_than_last_accepted_is_refused(app, client, db, world):
    person = world["focal_a"]
    counter = steady_counter()
    full_sign_in(client, person, counter=counter + 1)
    other = app.test_client()
    assert lands_on(password_step(other, person.username, person.password), "/login/2fa")
    r = code_step(other, totp.code_at(person.totp_secret, counter))  # still inside the window
    assert r.status_code == 200 and alert(r) == translated(CODE_USED)
    assert user_row(db, person.id).totp_last_counter == counter + 1


def test_a_used_code_with_a_wrong_password_reveals_nothing(app, client, db, world):
    """The password step fails first, with the one generic message: nobody learns whether
    the code was genuine, nor whether the password was."""
    person = world["focal_a"]
    counter = steady_counter()
    full_sign_in(client, person, counter=counter)
    other = app.test_client()
    r = password_step(other, person.username, person.password + "x")
    assert r.status_code == 200 and alert(r) == translated(GENERIC_FAILURE)
    r = Visitor(other, token_from="/login").post(
        "/login/2fa", {"code": totp.code_at(person.totp_secret, counter)}, token_from="/login"
    )
    assert lands_on(r, "/login")  # no second step without the password
    assert translated(CODE_USED) not in other.get("/login").get_data(as_text=True)


def test_guessing_codes_locks_the_account(client, db, world, settings):
    person = world["focal_a"]
    assert lands_on(password_step(client, person.username, person.password), "/login/2fa")
    counter = steady_counter()
    wrong = _bad_codes(person.totp_secret, counter)["wrong"]
    for _ in range(settings.throttle_account_failures):
        assert alert(code_step(client, wrong)) == translated(GENERIC_FAILURE)
    r = code_step(client, totp.code_at(person.totp_secret, counter))  # right code, too late
    assert lands_on(r, "/login")
    assert lands_on(client.get("/"), "/login")
    [record] = sessions_of(db, person.id)
    assert record.second_factor_at is None and record.revoked_reason == "throttled"
    assert audit_count(db, "auth.locked", person.id) == 1


# --- enrolment and recovery codes -------------------------------------------------------------


def test_enrolment_then_recovery_code_works_exactly_once(app, client, db, world, settings):
    person = world["new_user"]
    assert audit_count(db, "auth.second_factor_enrolled", person.id) == 0
    assert lands_on(password_step(client, person.username, person.password), "/login/enrol")
    page = client.get("/login/enrol").get_data(as_text=True)
    assert "<svg" in page and "data:image" not in page
    key = SECRET_RE.search(page).group(1)
    secret = totp.from_base32(key)
    assert len(secret) == 20
    assert client.get("/login/enrol").get_data(as_text=True).count(key) == 1  # same offer
    # A phone user cannot scan their own screen: the key also opens the authenticator app.
    link = re.search(r'href="(otpauth://totp/[^"]+)"', page).group(1)
    assert "secret=" + key.replace(" ", "") in link.replace("&amp;", "&")

    r = Visitor(client, token_from="/login").post(
        "/login/enrol", {"code": totp.code_at(secret, steady_counter())}, token_from="/login/enrol"
    )
    assert r.status_code == 200
    codes = RECOVERY_RE.findall(r.get_data(as_text=True))
    assert len(set(codes)) == settings.recovery_code_count
    assert "no-store" in r.headers["Cache-Control"]
    assert client.get("/").status_code == 200
    for url in ("/login/enrol", "/account/"):  # shown once: nowhere afterwards
        shown = client.get(url).get_data(as_text=True)
        assert not any(code in shown for code in codes)
    assert audit_count(db, "auth.second_factor_enrolled", person.id) == 1

    first, second = app.test_client(), app.test_client()
    for c in (first, second):
        assert lands_on(password_step(c, person.username, person.password), "/login/2fa")
    assert lands_on(code_step(first, codes[0].lower()), "/")
    r = code_step(second, codes[0])
    assert r.status_code == 200 and alert(r) == translated(GENERIC_FAILURE)
    assert lands_on(second.get("/"), "/login/2fa")
    assert lands_on(code_step(second, codes[1]), "/")


def test_enrolment_with_wrong_code_enrols_nothing(client, db, world):
    person = world["new_user"]
    assert lands_on(password_step(client, person.username, person.password), "/login/enrol")
    secret = totp.from_base32(
        SECRET_RE.search(client.get("/login/enrol").get_data(as_text=True)).group(1)
    )
    wrong = _bad_codes(secret, steady_counter())["wrong"]
    r = Visitor(client, token_from="/login").post(
        "/login/enrol", {"code": wrong}, token_from="/login/enrol"
    )
    assert r.status_code == 200 and not RECOVERY_RE.search(r.get_data(as_text=True))
    assert user_row(db, person.id).totp_secret is None
    assert lands_on(client.get("/"), "/login/enrol")
    assert audit_count(db, "auth.second_factor_enrolled", person.id) == 0


# --- throttling -------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_account_locked_after_failures_others_unaffected(app, client, db, world, settings, locale):
    victim, bystander = world["focal_a"], world["focal_b"]
    if locale != "vi":
        Visitor(client, token_from="/login").post("/language", {"lang": locale, "next": "/login"})
    for _ in range(settings.throttle_account_failures):
        r = password_step(client, victim.username, "not the password at all", "10.0.0.1")
        assert r.status_code == 200 and alert(r) == translated(GENERIC_FAILURE, locale)
    r = password_step(client, victim.username, victim.password, "10.0.0.1")
    assert r.status_code == 429
    minutes = settings.throttle_lock_seconds // 60
    assert alert(r) == translated(TOO_MANY, locale, n=minutes)
    english = TOO_MANY % {"n": minutes}
    assert (alert(r) == english) is (locale == "en")  # Vietnamese really is translated
    assert sessions_of(db, victim.id) == []
    assert lands_on(client.get("/"), "/login")
    assert audit_count(db, "auth.locked", victim.id) == 1
    assert lands_on(
        password_step(app.test_client(), bystander.username, bystander.password, "10.0.0.2"),
        "/login/2fa",
    )


def test_unknown_names_fail_and_lock_exactly_like_real_ones(app, db, world, settings):
    real = world["focal_a"]
    seen = {}
    locks_before = audit_count(db, "auth.locked")  # other tests may have committed some
    for name, ip in ((real.username, "10.0.1.1"), ("no.such.person", "10.0.1.2")):
        c = app.test_client()
        steps = [
            password_step(c, name, "wrong password, sorry", ip)
            for _ in range(settings.throttle_account_failures + 1)
        ]
        seen[name] = [(r.status_code, alert(r)) for r in steps]
    assert seen[real.username] == seen["no.such.person"]
    assert [s for s, _ in seen[real.username]][-2:] == [200, 429]
    assert seen[real.username][0][1] == translated(GENERIC_FAILURE)
    assert audit_count(db, "auth.locked") == locks_before + 2
    # The unknown name stays locked even with the real password of someone else's account.
    r = password_step(app.test_client(), "no.such.person", real.password, "10.0.1.3")
    assert r.status_code == 429


def test_address_locked_after_failures_across_names(app, client, db, world, settings):
    browser = Visitor(client, token_from="/login")
    token = browser.token()
    for i in range(settings.throttle_address_failures):
        r = client.post(
            "/login",
            data={"username": f"guess.{i}", "password": "hunter2-guess", "csrf_token": token},
            **env("10.0.2.1"),
        )
        assert r.status_code == 200
    person = world["focal_a"]
    r = password_step(app.test_client(), person.username, person.password, "10.0.2.1")
    assert r.status_code == 429 and sessions_of(db, person.id) == []
    r = password_step(app.test_client(), person.username, person.password, "10.0.2.2")
    assert lands_on(r, "/login/2fa")


# --- password storage -------------------------------------------------------------------------


def test_password_rehashed_with_current_parameters_on_sign_in(app, client, db, world):
    person = world["focal_c"]
    old = passwords.hash_password(make_hasher(2, 16, 1), person.password)
    db.execute(update(User).where(User.id == person.id).values(password_hash=old))
    current = app.extensions["caseapp.hasher"]
    assert passwords.needs_rehash(current, old)
    assert lands_on(password_step(client, person.username, person.password), "/login/2fa")
    stored = user_row(db, person.id).password_hash
    assert stored != old and not passwords.needs_rehash(current, stored)
    assert passwords.verify_password(current, stored, person.password)


def test_wrong_password_does_not_rehash(client, db, world):
    person = world["focal_c"]
    old = passwords.hash_password(make_hasher(2, 16, 1), person.password)
    db.execute(update(User).where(User.id == person.id).values(password_hash=old))
    assert password_step(client, person.username, "a wrong password here").status_code == 200
    assert user_row(db, person.id).password_hash == old


# --- hostile input ----------------------------------------------------------------------------

BAD_INPUT = {
    "overlong_username": (b"u" * 10_000, b"correct horse battery staple 42"),
    "overlong_password": (b"focal.a", b"p" * 10_000),
    "invalid_utf8_password": (b"focal.a", b"correct horse battery staple 42\xff\xfe"),
    "nul_in_password": (b"focal.a", b"correct horse battery staple 42\x00"),
    "nul_password_prefix": (b"focal.a", b"\x00correct horse battery staple 42"),
    "nul_in_username": (b"focal.a\x00", b"correct horse battery staple 42"),
    "invalid_utf8_username": (b"focal.\xc3(", b"correct horse battery staple 42"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_hostile_input_gets_a_clear_answer_and_changes_nothing(client, db, world, case):
    from urllib.parse import quote_from_bytes

    person = world["focal_a"]
    hash_before = user_row(db, person.id).password_hash
    username, password = BAD_INPUT[case]
    token = Visitor(client, token_from="/login").token()
    body = (
        f"username={quote_from_bytes(username)}&password={quote_from_bytes(password)}"
        f"&csrf_token={token}"
    )
    r = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code in (200, 400), r.status_code
    page = r.get_data(as_text=True)
    assert alert(r) == translated(GENERIC_FAILURE) or 'class="error" role="alert"' in page
    assert sessions_of(db, person.id) == []
    assert lands_on(client.get("/"), "/login")
    assert user_row(db, person.id).password_hash == hash_before


@pytest.mark.postgres
@pytest.mark.parametrize("step", ["password", "second_factor"])
def test_a_burst_of_concurrent_guesses_is_counted_one_by_one(app, database, world, settings, step):
    """Twelve wrong attempts on one account at the same instant, each in its own session and
    committed for real (a fresh account and address, so no other test is locked out): exactly
    the limit is checked, one lock starts, every later attempt is refused without a check.
    Before the counters were locked, the whole burst was checked and the 2FA step could fail
    with a unique-constraint error when the counter row was first created."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite serialises every writer; the row locks are what PostgreSQL needs")
    import secrets
    import threading

    from caseapp.db import get_session
    from caseapp.errors import SignInFailed, SignInThrottled
    from caseapp.runtime import keyring
    from caseapp.services.accounts import auth, sessions
    from tests.factories import make_unit, make_user

    tag = secrets.token_hex(3)
    name, ip, attempts = f"burst.{tag}", f"10.{int(tag[:2], 16)}.{int(tag[2:4], 16)}.9", 12
    with app.app_context():
        s = get_session()
        # A unit of its own: this committed account shows in no other test's school.
        province = make_unit(s, None, f"B{tag.upper()}", "province")
        school = make_unit(s, province, f"B{tag.upper()}-S", "school")
        person = make_user(s, keyring(), name, school, [("focal_point", school)])
        user_id = person.id
        _token, user_session = sessions.open_session(s, s.get(User, user_id), "127.0.0.1", "t")
        s.commit()
        session_id = user_session.id
    outcomes: list[str] = []
    barrier = threading.Barrier(attempts)

    def attempt(n: int) -> None:
        with app.app_context():
            session = get_session()
            barrier.wait(timeout=30)
            try:
                if step == "password":
                    auth.check_password(session, name, f"not-the-password-{n}", ip, "t")
                else:
                    auth.check_second_factor(
                        session,
                        session.get(User, user_id),
                        session.get(UserSession, session_id),
                        "000000",
                        ip,
                    )
                outcomes.append("passed")
            except SignInFailed:
                outcomes.append("failed")
            except SignInThrottled:
                outcomes.append("throttled")
            except Exception as exc:  # noqa: BLE001 - recorded and asserted below
                outcomes.append(repr(exc))
            session.commit()

    workers = [threading.Thread(target=attempt, args=(n,)) for n in range(attempts)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    limit = settings.throttle_account_failures
    assert sorted(outcomes) == ["failed"] * limit + ["throttled"] * (attempts - limit)
    action = "auth.login_failed" if step == "password" else "auth.second_factor_failed"
    with app.app_context():
        s = get_session()
        events = s.execute(
            select(AuditEvent.action, func.count())
            .where(AuditEvent.object_ref == name)
            .group_by(AuditEvent.action)
        ).all()
        assert dict(events).get(action) == limit and dict(events).get("auth.locked") == 1


def test_recovery_codes_are_stored_keyed_and_old_plain_ones_still_work(app, client, db, world):
    """A copy of the database alone cannot be searched for recovery codes (2^40 each): they are
    stored as an HMAC under a keyring key. Codes issued before (plain SHA-256) still work once."""
    from caseapp.models import RecoveryCode
    from caseapp.services.accounts import auth

    person = world["focal_a"]
    user = db.get(User, person.id)
    with app.test_request_context():
        codes = auth.regenerate_recovery_codes(db, user)
    db.commit()
    stored = set(
        db.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == person.id))
    )
    assert not stored & {totp.recovery_hash(c) for c in codes}  # not the plain hash
    legacy = "ABCDE-12345"
    old_code = RecoveryCode(user_id=person.id, code_hash=totp.recovery_hash(legacy))
    db.add(old_code)
    from caseapp.services.audit.trail import record

    record(db, None, "auth.recovery_codes_renewed", old_code, unit=user.unit)
    db.commit()
    assert lands_on(password_step(client, person.username, person.password), "/login/2fa")
    assert lands_on(code_step(client, legacy), "/")
    other = app.test_client()
    assert lands_on(password_step(other, person.username, person.password), "/login/2fa")
    assert lands_on(code_step(other, codes[0]), "/")
