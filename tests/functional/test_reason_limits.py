"""The length limits of a stated reason are written once (caseapp.limits): the form's
validator, the service's check and the page's minlength/maxlength agree with them."""

from __future__ import annotations

import re

import pytest
from wtforms.validators import Length

from caseapp import limits
from caseapp.cases.forms import ReasonForm, TransitionForm
from caseapp.errors import DomainError
from caseapp.models import User
from caseapp.services.cases import content as case_content
from caseapp.services.cases import workflow as case_workflow
from tests.factories import Visitor


def _length(field) -> Length:
    return next(v for v in field.kwargs["validators"] if isinstance(v, Length))


@pytest.mark.parametrize("form", [ReasonForm, TransitionForm])
def test_the_form_validates_with_the_limits(form):
    length = _length(form.reason)
    assert (length.min, length.max) == (limits.REASON_MIN, limits.REASON_MAX)


def test_the_services_and_the_page_use_the_same_limits(app, db, world):
    focal = Visitor(app, db, world["focal_a"])
    case = focal.intake(db, world.units["SCH-A"])
    person = world["officer_d1"]

    page = Visitor(app, db, person).get(f"/cases/{case.public_id}").get_data(as_text=True)
    tag = re.search(r"<textarea[^>]*name=\"reason\"[^>]*>", page)
    assert tag is not None
    assert f'minlength="{limits.REASON_MIN}"' in tag.group(0)
    assert f'maxlength="{limits.REASON_MAX}"' in tag.group(0)

    officer = db.get(User, person.id)
    with app.test_request_context():  # each refusal comes before anything is written
        with pytest.raises(case_content.ReasonNeeded):
            case_content.open_content(db, officer, case, "x" * (limits.REASON_MIN - 1))
        for reason in ("x" * (limits.REASON_MIN - 1), "x" * (limits.REASON_MAX + 1)):
            with pytest.raises(DomainError):
                case_workflow.transition(db, officer, case, "assessing", reason, case.version)
        assert case_content.open_content(db, officer, case, "x" * limits.REASON_MIN) is not None
