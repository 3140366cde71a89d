"""What the case timeline shows of the people who acted: their full names, as the notes do,
with the user name on hover."""

from __future__ import annotations

import re

from caseapp.models import User
from tests.factories import Visitor
from tests.functional.workflow_support import text_of


def test_the_timeline_names_people_by_full_name_with_the_user_name_on_hover(app, db, world):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    person = db.get(User, world["focal_a"].id)
    page = text_of(focal.get(f"/cases/{case.public_id}"))
    timeline = page[page.index("Timeline") :]
    entries = re.findall(r'<span class="person" title="([^"]*)">([^<]*)</span>', timeline)
    assert entries, timeline
    assert set(entries) == {(person.username, person.full_name)}
    shown = re.sub(r"<[^>]+>", "", timeline)
    assert person.full_name in shown
    assert person.username not in shown.replace(person.full_name, "")
