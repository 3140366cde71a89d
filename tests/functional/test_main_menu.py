"""The main menu is drawn once per set of permissions, language and script root
(caseapp/menu.py) and kept: each person still sees the links of their own permissions, in their
own language, under the address the service is mounted at, whoever was served before them."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale, gettext
from flask_login import login_user

from caseapp import menu
from caseapp.models import User
from tests.factories import Visitor

LINK = re.compile(r'<li><a href="([^"]*)">([^<]*)')


def _menu_of(page: str) -> list[tuple[str, str]]:
    found = re.search(r'<nav aria-label="[^"]*">(.*?)</nav>', page, re.S)
    assert found, "no menu on the page"
    return LINK.findall(found.group(1))


# (person, links they see, links they must not see), by the English labels.
SEEN = [
    ("focal_a", {"Home", "My work", "Cases", "Self-reports", "My account"}, {"Units", "Accounts"}),
    ("officer_d1", {"School monitoring", "Reports", "Approvals"}, {"Units", "Audit trail"}),
    ("auditor_p", {"Audit trail", "Attention"}, {"My work", "Units"}),
    ("admin_p", {"Units", "Accounts", "Approvals"}, {"Cases", "My work", "Audit trail"}),
    ("nobody", {"Home", "Notifications", "My account"}, {"Cases", "Reports", "Units"}),
]


def test_each_person_sees_their_own_links_whoever_came_before(app, db, world):
    # Twice round, so that the second round is served from the kept menus.
    app.extensions["caseapp.menu"].clear()
    first: dict[str, list] = {}
    for _round in range(2):
        for name, shown, hidden in SEEN:
            links = _menu_of(Visitor(app, db, world[name], lang="en").get("/account/").text)
            labels = {label for _href, label in links}
            assert shown <= labels, (name, labels)
            assert not hidden & labels, (name, labels)
            assert first.setdefault(name, links) == links
    assert len({tuple(v) for v in first.values()}) == len(SEEN)


def test_the_links_are_in_the_pages_language(app, db, world):
    pages = {
        lang: _menu_of(Visitor(app, db, world["officer_d1"], lang=lang).get("/account/").text)
        for lang in ("en", "vi", "en")
    }
    with app.app_context(), force_locale("vi"):
        home = gettext("Home")
    assert home != "Home"
    assert pages["en"][0] == ("/", "Home")
    assert pages["vi"][0] == ("/", home)
    assert [href for href, _ in pages["vi"]] == [href for href, _ in pages["en"]]


@pytest.mark.parametrize("roots", [("", "/safe-schools"), ("/safe-schools", "")])
def test_the_links_follow_the_script_root(app, db, world, roots):
    app.extensions["caseapp.menu"].clear()
    user = db.get(User, world["officer_d1"].id)
    for root in roots:
        with app.test_request_context("/", base_url=f"http://localhost{root}"):
            login_user(user)
            hrefs = [
                re.search(r'href="([^"]*)"', str(link.opening)).group(1)  # type: ignore[union-attr]
                for link in menu.main_menu()
            ]
        assert hrefs[0] == f"{root}/"
        assert all(href.startswith(f"{root}/") for href in hrefs)


def test_the_numbers_are_drawn_beside_their_links(app, db, world):
    """The badges stay per page: a notice added after the menu was kept shows at once."""
    from caseapp.services.cases.notifications import add_notice

    focal = Visitor(app, db, world["focal_a"], lang="en")
    before = focal.get("/account/").text
    assert '<a href="/notifications">Notifications</a>' in before
    assert add_notice(db, db.get(User, world["focal_a"].id), None, "test", "menu-badge")
    db.commit()
    after = focal.get("/account/").text
    assert '<a href="/notifications">Notifications <span class="badge">1</span></a>' in after


def test_a_full_store_starts_again(app, db, world, monkeypatch):
    monkeypatch.setattr(menu, "KEPT", 2)
    kept = app.extensions["caseapp.menu"]
    kept.clear()
    for name in ("focal_a", "officer_d1", "admin_p"):
        Visitor(app, db, world[name], lang="en").get("/account/")
    assert len(kept) == 1  # the third found the store full and started it again


TILE = re.compile(r'<a class="tile" href="([^"]*)"><strong>([^<]*)</strong>')
# The home page's links to the other screens and the permission each needs (None: everyone).
TILES = {
    "/cases/": "case.read",
    "/admin/units": "admin.units",
    "/admin/users": "admin.users",
    "/admin/import": "admin.users",
    "/admin/referrals": "referral.read",
    "/audit/events": "audit.read",
    "/account/": None,
}


def test_each_person_sees_their_own_home_tiles_whoever_came_before(app, db, world):
    """The home page's links to the other screens are drawn once per permissions and language
    too (menu.home_tiles): each person's are those of their own permissions, in their
    language, the second time round as the first."""
    from caseapp.security.authz import has_permission

    app.extensions["caseapp.menu"].clear()
    first: dict[tuple[str, str], list] = {}
    for _round in range(2):
        for name in world.people:
            user = db.get(User, world[name].id)
            if name in ("new_user", "nobody"):
                continue  # not enrolled, no grant: no home page
            for lang in ("en", "vi"):
                page = Visitor(app, db, world[name], lang=lang).get("/").text
                section = page[page.rindex('<section class="tiles">') :]
                tiles = TILE.findall(section)
                expected = {
                    href
                    for href, needed in TILES.items()
                    if needed is None or has_permission(user, needed)
                }
                assert {href for href, _label in tiles} == expected, (name, lang, tiles)
                assert first.setdefault((name, lang), tiles) == tiles
    with app.app_context(), force_locale("vi"):
        mine = gettext("My account")
    assert ("/account/", mine) in first[("focal_a", "vi")]
    assert ("/account/", "My account") in first[("focal_a", "en")]
