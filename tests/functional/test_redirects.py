"""Redirect targets taken from a request stay on this site (ASVS V5 open redirects): the
language switch's ``next`` field and the page remembered before sign-in."""

from __future__ import annotations

import pytest

from caseapp.access import local_target
from tests.factories import Visitor
from tests.functional.signin_support import full_sign_in

FOREIGN = [
    "//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/ /evil.example",
    "evil.example",
    "",
]


@pytest.mark.parametrize("target", FOREIGN)
def test_foreign_targets_are_refused(target):
    assert local_target(target) is None


@pytest.mark.parametrize("target", ["/", "/cases/?status=new", "/reports/?unit=SCH-A"])
def test_local_targets_are_kept(target):
    assert local_target(target) == target


@pytest.mark.parametrize("target", FOREIGN)
def test_language_switch_never_leaves_the_site(client, target):
    response = Visitor(client, token_from="/login").post(
        "/language", {"lang": "en", "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_language_switch_returns_to_the_page(client):
    response = Visitor(client, token_from="/login").post(
        "/language", {"lang": "en", "next": "/login"}
    )
    assert response.headers["Location"] == "/login"


def test_page_remembered_before_sign_in_cannot_point_elsewhere(client, db, world):
    # The 404 page of "/%09/evil.example" carries that path in its language form; the guard
    # remembers it for after sign-in. Either way the user must land on this site.
    client.get("/%09/evil.example")
    with client.session_transaction() as sess:
        sess["next"] = "/\t/evil.example"
    response = full_sign_in(client, world["focal_a"])
    location = response.headers["Location"]
    assert location == "/" and "evil" not in location


def test_page_remembered_before_sign_in_is_where_sign_in_ends(client, db, world):
    assert client.get("/cases/").status_code == 302
    from caseapp.security import totp
    from tests.functional.signin_support import code_step, password_step, steady_counter

    person = world["focal_a"]
    password_step(client, person.username, person.password)
    response = code_step(client, totp.code_at(person.totp_secret, steady_counter()))
    assert response.headers["Location"] == "/cases/"


def test_the_language_form_returns_to_the_page_with_its_filters(app, db, world):
    from tests.factories import Visitor

    page = Visitor(app, db, world["focal_a"]).get("/cases/?status=new&sort=risk")
    assert 'name="next" value="/cases/?status=new&amp;sort=risk"' in page.get_data(as_text=True)
