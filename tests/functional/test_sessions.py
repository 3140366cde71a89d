"""Sessions (ASVS V7) and the browser-facing defences around them: server-side tokens renewed at
sign-in, timeouts, sign-out and revocation, CSRF, cookie flags, security headers, production
settings. Each attack is replayed for real and shown to fail with nothing changed."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from caseapp import create_app
from caseapp.access import PUBLIC, permission
from caseapp.db import utcnow
from caseapp.models import AuditEvent, Grant, User, UserSession
from caseapp.security import totp
from config import ConfigError, load_settings
from tests.factories import Visitor, sign_in_client
from tests.functional.signin_support import (
    COOKIE,
    GENERIC_FAILURE,
    alert,
    code_step,
    cookie_value,
    full_sign_in,
    lands_on,
    password_step,
    session_token,
    steady_counter,
    translated,
)

NEW_PASSWORD = "a brand new passphrase 77"


def live(db, user_id: int) -> list[UserSession]:
    return list(
        db.scalars(
            select(UserSession).where(
                UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
            )
        )
    )


def replay(app, value: str):
    """A second browser presenting a copied session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def signed_in(client) -> bool:
    r = client.get("/")
    assert r.status_code == 200 or lands_on(r, "/login"), r.status_code
    return r.status_code == 200


# --- a new token at each sign-in ----------------------------------------------------------------


def test_new_server_side_token_at_each_sign_in(app, client, db, world):
    person = world["focal_a"]
    client.get("/login")
    anonymous = cookie_value(client)
    r = password_step(client, person.username, person.password)
    assert lands_on(r, "/login/2fa")
    pending, pending_token = cookie_value(client), session_token(client)
    full_sign_in(app.test_client(), person)  # meanwhile the account signs in elsewhere too
    assert lands_on(code_step(client, totp.code_at(person.totp_secret, steady_counter() + 1)), "/")
    assert signed_in(client)
    final_token = session_token(client)
    assert final_token not in (None, pending_token)
    # Neither the cookie from before the password nor the one from before the code signs in.
    assert not signed_in(replay(app, anonymous))
    assert not signed_in(replay(app, pending))
    tokens = {s.token_hash for s in live(db, person.id)}
    assert len(tokens) == 2


# --- timeouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit", "reason"),
    [
        ("last_seen_at", "session_idle_seconds", "idle_timeout"),
        ("created_at", "session_absolute_seconds", "absolute_timeout"),
    ],
)
def test_session_timeouts(app, client, db, world, settings, field, limit, reason):
    person = world["focal_a"]
    full_sign_in(client, person)
    [record] = live(db, person.id)
    seconds = getattr(settings, limit)
    setattr(record, field, utcnow() - timedelta(seconds=seconds - 60))
    db.flush()
    assert signed_in(client)  # a minute before the limit: still on
    value = cookie_value(client)
    setattr(record, field, utcnow() - timedelta(seconds=seconds + 1))
    db.flush()
    assert not signed_in(client)
    db.refresh(record)
    assert record.revoked_at is not None and record.revoked_reason == reason
    record.last_seen_at = record.created_at = utcnow()  # "coming back" does not revive it
    db.flush()
    assert not signed_in(replay(app, value))


# --- sign-out and revocation -------------------------------------------------------------------


def test_logout_ends_the_session_server_side(app, client, db, world):
    person = world["focal_a"]
    full_sign_in(client, person)
    value = cookie_value(client)
    r = Visitor(client, token_from="/login").post("/logout", token_from="/")
    assert lands_on(r, "/login")
    assert not signed_in(client)
    assert not signed_in(replay(app, value))
    [record] = db.scalars(select(UserSession).where(UserSession.user_id == person.id))
    assert record.revoked_reason == "logout"
    assert (
        db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "auth.logout", AuditEvent.object_id == str(person.id))
        )
        == 1
    )


def test_password_change_ends_every_session(app, client, db, world):
    person = world["focal_a"]
    full_sign_in(client, person)
    second = app.test_client()
    sign_in_client(second, db, person)
    assert signed_in(second)
    value = cookie_value(client)
    r = Visitor(client, token_from="/login").post(
        "/account/password",
        {
            "current": person.password,
            "new": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
        token_from="/account/password",
    )
    assert lands_on(r, "/login")
    for c in (client, second, replay(app, value)):
        assert not signed_in(c)
    assert live(db, person.id) == []
    assert password_step(app.test_client(), person.username, person.password).status_code == 200
    assert lands_on(password_step(app.test_client(), person.username, NEW_PASSWORD), "/login/2fa")


ADMIN_ACTIONS = {  # each changes what the account may do, so its sessions must end
    "disable": ("/admin/users/{id}/disable", {"reason": "left the school"}),
    "revoke_grant": ("/admin/grants/{grant}/revoke", {"reason": "moved"}),
    # A grant and a sign-in reset take effect (and end the sessions) when a second
    # administrator approves what admin_d1 asked.
    "grant": ("/admin/approvals/{req}/approve", {"version": "1"}),
    "reset_sign_in": ("/admin/approvals/{req}/approve", {"version": "1"}),
}


def _asked(db, world, action) -> int | None:
    from caseapp.models import Unit
    from caseapp.services.accounts import approvals

    asker, person = db.get(User, world["admin_d1"].id), db.get(User, world["focal_a"].id)
    if action == "grant":
        unit = db.get(Unit, world.units["SCH-A"])
        req = approvals.request_grant(db, asker, person, "auditor", unit)
    elif action == "reset_sign_in":
        req = approvals.request_credential_reset(db, asker, person, "lost phone").request
    else:
        return None
    db.commit()
    return req.id


@pytest.mark.parametrize("action", [*ADMIN_ACTIONS, "sign_out_everywhere"])
def test_revocation_ends_every_session_of_the_user(app, client, db, world, action):
    person = world["focal_a"]
    mine = [app.test_client(), app.test_client()]
    full_sign_in(mine[0], person)
    sign_in_client(mine[1], db, person)
    assert all(signed_in(c) for c in mine)
    if action == "sign_out_everywhere":
        r = Visitor(mine[0], token_from="/login").post(
            "/account/sign-out-everywhere", token_from="/account/"
        )
        assert lands_on(r, "/login")
    else:
        req = _asked(db, world, action)
        sign_in_client(client, db, world["admin_p"])
        url, data = ADMIN_ACTIONS[action]
        grant = db.scalar(select(Grant.id).where(Grant.user_id == person.id))
        r = Visitor(client, token_from="/login").post(
            url.format(id=person.id, grant=grant, req=req), data, token_from="/admin/users"
        )
        if action == "reset_sign_in":  # shows the letter with part 2 of the code once
            assert r.status_code == 200
        elif action == "grant":
            assert lands_on(r, "/admin/approvals"), r.status_code
        else:
            assert lands_on(r, f"/admin/users/{person.id}"), r.status_code
        assert signed_in(client)  # the administrator's own session goes on
    assert not any(signed_in(c) for c in mine)
    assert live(db, person.id) == []


def test_disabled_user_cannot_sign_in(app, client, db, world):
    person, bystander = world["focal_a"], world["focal_b"]
    wrong = password_step(app.test_client(), bystander.username, "not the password")
    sign_in_client(client, db, world["admin_p"])
    r = Visitor(client, token_from="/login").post(
        f"/admin/users/{person.id}/disable", {"reason": "left"}, token_from="/admin/users"
    )
    assert lands_on(r, f"/admin/users/{person.id}")
    r = password_step(app.test_client(), person.username, person.password)
    assert r.status_code == 200
    assert alert(r) == alert(wrong) == translated(GENERIC_FAILURE)
    assert live(db, person.id) == []


# --- CSRF ---------------------------------------------------------------------------------------


def _state(db, world) -> tuple:
    person = world["focal_a"]
    user = db.get(User, person.id)
    db.refresh(user)
    grants = db.scalar(select(func.count()).select_from(Grant).where(Grant.user_id == person.id))
    events = db.scalar(select(func.count()).select_from(AuditEvent))
    sessions = db.scalars(select(UserSession)).all()
    verified = sum(1 for s in sessions if s.second_factor_at is not None)
    return (
        user.password_hash,
        user.active,
        user.totp_last_counter,
        grants,
        events,
        len(sessions),
        verified,
        len(live(db, person.id)),
    )


# who (and whether past the second factor), URL, form; None: a valid TOTP code
CSRF_CASES = {
    "password": (
        "focal_a",
        True,
        "/account/password",
        {
            "current": "correct horse battery staple 42",
            "new": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    ),
    "grant": ("admin_p", True, "/admin/users/{id}/grants", {"role": "admin", "unit_code": "PRV"}),
    "disable": ("admin_p", True, "/admin/users/{id}/disable", {"reason": "no reason"}),
    "sign_out_everywhere": ("focal_a", True, "/account/sign-out-everywhere", {}),
    "logout": ("focal_a", True, "/logout", {}),
    "second_factor": ("focal_a", False, "/login/2fa", None),
    "login": (
        None,
        False,
        "/login",
        {"username": "focal.a", "password": "correct horse battery staple 42"},
    ),
}


@pytest.mark.parametrize("token", ["missing", "garbage", "other_session"])
@pytest.mark.parametrize("case", list(CSRF_CASES))
def test_post_without_valid_csrf_token_is_refused(app, client, db, world, case, token):
    who, verified, url, data = CSRF_CASES[case]
    if who:
        sign_in_client(client, db, world[who], second_factor=verified)
    client.get("/login")  # the victim's browser has a session (and a CSRF secret) of its own
    person = world["focal_a"]
    data = (
        dict(data)
        if data is not None
        else {"code": totp.code_at(person.totp_secret, steady_counter())}
    )
    if token == "garbage":
        data["csrf_token"] = "IjAwMDAi.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb"
    elif token == "other_session":
        data["csrf_token"] = Visitor(app.test_client(), token_from="/login").token()
    before = _state(db, world)
    r = client.post(url.format(id=person.id), data=data)
    assert r.status_code == 400
    assert _state(db, world) == before
    if who and verified:
        assert signed_in(client)


# --- cookies and headers -----------------------------------------------------------------------


def test_session_cookie_flags_and_no_remember_me(app, client, db, world):
    person = world["focal_a"]
    set_cookies = []

    def collect(response):
        set_cookies.extend(response.headers.getlist("Set-Cookie"))
        return response

    collect(client.get("/login"))
    collect(password_step(client, person.username, person.password))
    collect(client.get("/login/2fa"))
    collect(code_step(client, totp.code_at(person.totp_secret, steady_counter())))
    collect(client.get("/"))
    assert set_cookies
    for header in set_cookies:
        parts = [p.strip().lower() for p in header.split(";")]
        assert parts[0].startswith(COOKIE + "="), header
        assert "httponly" in parts and "samesite=strict" in parts, header
        assert not any(p.startswith(("expires", "max-age")) for p in parts), header
    assert "remember" not in " ".join(set_cookies).lower()
    assert client.get_cookie(COOKIE) is not None
    assert client.get_cookie("remember_token") is None


def _response(kind, app, client, db, world, settings):
    if kind == "page":
        sign_in_client(client, db, world["focal_a"])
        return client.get("/")
    if kind == "login":
        return client.get("/login")
    if kind == "404":
        return client.get("/no/such/page")
    throwaway = create_app(settings)
    throwaway.config["PROPAGATE_EXCEPTIONS"] = False

    @throwaway.get("/boom")
    @permission(PUBLIC)
    def boom():
        raise RuntimeError("boom")

    try:
        return throwaway.test_client().get("/boom")
    finally:
        throwaway.extensions["caseapp.engine"].dispose()


@pytest.mark.parametrize(
    ("kind", "status"), [("page", 200), ("login", 200), ("404", 404), ("500", 500)]
)
def test_security_headers(app, client, db, world, settings, kind, status):
    r = _response(kind, app, client, db, world, settings)
    assert r.status_code == status
    csp = r.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "no-store" in r.headers["Cache-Control"]
    assert "RuntimeError" not in r.get_data(as_text=True)


# --- production settings -----------------------------------------------------------------------

PRODUCTION_ENV = {"DATABASE_URL": "postgresql://db/caseapp", "CASEAPP_KEYRING": "/etc/k.json"}


@pytest.mark.parametrize("secret", [None, "", "dev-" + "x" * 60, "short-secret"])
def test_production_refuses_missing_or_development_secret(secret):
    environ = dict(PRODUCTION_ENV)
    if secret is not None:
        environ["SECRET_KEY"] = secret
    with pytest.raises(ConfigError):
        load_settings("production", environ=environ)


def test_production_sets_secure_cookies_and_hsts(app, settings):
    prod = load_settings(
        "production",
        environ={
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": settings.database_url,
            "CASEAPP_KEYRING": str(settings.keyring_path),
            "CASEAPP_INSTANCE": str(settings.instance_dir),
            "CASEAPP_ATTACHMENTS": str(settings.attachment_dir),
        },
    )
    assert prod.secure_cookies and prod.hsts and not prod.debug
    config = prod.flask_config()
    assert config["SESSION_COOKIE_SECURE"] and config["SESSION_COOKIE_HTTPONLY"]
    assert config["SESSION_COOKIE_SAMESITE"] == "Strict"
    production_app = create_app(prod)
    try:
        r = production_app.test_client().get("/login", base_url="https://localhost")
    finally:
        production_app.extensions["caseapp.engine"].dispose()
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    [cookie] = r.headers.getlist("Set-Cookie")
    assert "secure" in [p.strip().lower() for p in cookie.split(";")]
