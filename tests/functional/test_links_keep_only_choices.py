"""The pages that copy their query into their links (the case list's pages, the report's
views and exports, the audit trail's pages and export) keep the choices and drop the names
url_for takes as options of its own: ``?_method=POST`` or ``?endpoint=x`` typed into the
address answered 500."""

from __future__ import annotations

import dataclasses
import re

import pytest

from tests.factories import Visitor

ODD = "_method=POST&endpoint=x&_scheme=http&_external=1&_anchor=top"


@pytest.mark.parametrize(
    ("who", "page", "choice"),
    [
        ("officer_d1", "/cases/", "sort=reference"),
        ("officer_d1", "/reports/", "unit=D1"),
        ("auditor_p", "/audit/events", "action=user.create"),
    ],
)
def test_a_typed_option_of_url_for_changes_nothing(app, db, world, who, page, choice):
    focal = Visitor(app, db, world["focal_a"])
    for _ in range(2):
        focal.intake(db, world.units["SCH-A"])
    visitor = Visitor(app, db, world[who])
    original = app.extensions["caseapp.settings"]
    # One row a page: every list has a next page, whose link keeps the choices.
    app.extensions["caseapp.settings"] = dataclasses.replace(original, page_size=1)
    try:
        plain = visitor.get(f"{page}?{choice}")
        odd = visitor.get(f"{page}?{choice}&{ODD}")
    finally:
        app.extensions["caseapp.settings"] = original
    assert plain.status_code == odd.status_code == 200
    html = odd.get_data(as_text=True)
    links = re.findall(r'href="([^"]*\?[^"]*)"', html)
    assert any(choice in link for link in links), links
    for name in ("_method", "endpoint", "_scheme", "_external", "_anchor", "http://"):
        assert not [link for link in links if name in link], (name, links)
