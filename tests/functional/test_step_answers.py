"""Finishing a step records only answers the person chose: every list of the finish forms and
the closure reason start at a prompt, and leaving one there saves nothing."""

from __future__ import annotations

import re

import pytest

from caseapp.clock import local_today
from caseapp.models import CaseStep
from tests.factories import Visitor
from tests.functional.workflow_support import state_of, text_of

PROMPTED = {"verification": "finding", "support": "status", "follow_up": "situation"}


@pytest.mark.parametrize("kind", list(PROMPTED))
def test_a_finish_form_left_at_its_prompt_saves_nothing(app, db, world, kind):
    focal = Visitor(app, db, world["focal_a"], lang="en")
    case = focal.intake(db, world.units["SCH-A"])
    fields = {
        "verification": {"method": "interview"},
        "support": {"service": "counselling", "status": "planned"},
        "follow_up": {"due_on": local_today().isoformat()},
    }[kind]
    assert "Step recorded." in focal.add_step(case, kind=kind, **fields).text
    db.expire_all()
    step = db.query(CaseStep).filter_by(case_id=case.id, kind=kind).one()
    page = text_of(focal.get(f"/cases/{case.public_id}"))
    select_html = re.search(
        rf'<select id="{PROMPTED[kind]}-{step.id}"[^>]*>(.*?)</select>', page, re.S
    ).group(1)
    assert re.match(r'\s*<option value="">', select_html)  # a prompt comes first
    before = state_of(db, case)
    out = focal.complete_step(case, step, done_on=local_today(), **{PROMPTED[kind]: ""})
    assert "Choose an answer in every list. Nothing was saved." in out.text
    assert state_of(db, case) == before
    db.expire_all()
    assert db.get(CaseStep, step.id).done_on is None
