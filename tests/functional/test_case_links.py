"""The addresses the long lists build once per request (caseapp/cases/links.py) are url_for's
own, and the pages that use them link where url_for would."""

from __future__ import annotations

import uuid

import pytest
from flask import url_for

from caseapp.cases.links import case_href, case_list_href
from tests.factories import Visitor

ODD = ["ABC", "a b", "ç/é?&=#", "100%", "x+y"]


@pytest.mark.parametrize("script_root", ["", "/safe-schools"])
def test_the_addresses_are_url_fors(app, script_root):
    with app.test_request_context("/cases/", base_url=f"http://localhost{script_root}"):
        for public_id in [str(uuid.uuid4()), *ODD]:
            assert case_href(public_id) == url_for("cases.show", public_id=public_id)
        for args in [
            {},
            {"unit": "SCH-A"},
            {"unit": "SCH-A", "overdue": "y"},
            {"unit": "SCH A", "urgent": "y", "level": None},
            *({"unit": odd, "q": odd} for odd in ODD),
        ]:
            assert case_list_href(**args) == url_for("cases.index", **args)


def test_the_lists_link_to_each_case_and_school(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    made = focal.intake(db, world.units["SCH-A"])
    db.commit()
    listed = focal.get("/cases/").get_data(as_text=True)
    assert f'href="/cases/{made.public_id}"' in listed
    officer = Visitor(app, db, world["officer_d1"], lang="en")
    monitored = officer.get("/monitoring").get_data(as_text=True)
    assert 'href="/cases/?unit=SCH-A"' in monitored


def test_each_request_builds_its_own_routes(app):
    """Kept with the request, not the application context: two requests under one context
    (as a test or a command may run them) each get their own script root's addresses."""
    with app.app_context():
        for root in ("/one", "/two", ""):
            with app.test_request_context("/cases/", base_url=f"http://localhost{root}"):
                assert case_href("x") == f"{root}/cases/x"
                assert case_list_href(unit="A") == f"{root}/cases/?unit=A"
