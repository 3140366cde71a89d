"""Discipline measures as today's rules set them: for pupils those of Circular 19/2025 by
school level (a primary pupil only a reminder or an apology; a secondary pupil a reminder, a
criticism or a written self-criticism), for teachers and staff those of the civil-service
rules. The step form offers only those for the case's school, and the service refuses any
other (nothing saved); the measures of older steps stay valid."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from caseapp.clock import local_today
from caseapp.errors import ValidationFailed
from caseapp.models import AuditEvent, CaseStep, Unit, User
from caseapp.models.steps import DISCIPLINE_MEASURES
from caseapp.runtime import keyring
from caseapp.services.cases import intake as cases
from caseapp.services.cases import steps as step_service
from caseapp.services.cases.discipline import allowed_measures
from caseapp.services.cases.steps import StepInput
from tests.factories import Visitor, make_unit, make_user
from tests.functional.admin_support import changed_tables, page_text, snapshot
from tests.functional.case_attack_support import case_details

STAFF = ("reprimand", "warning", "salary_reduction", "demotion", "removal", "dismissal", "other")


@pytest.mark.parametrize(
    ("subject", "level", "allowed"),
    [
        ("pupil", "primary", ("reminder", "apology")),
        ("pupil", "lower_secondary", ("reminder", "criticism", "self_criticism")),
        ("pupil", "upper_secondary", ("reminder", "criticism", "self_criticism")),
        ("pupil", "multi_level", ("reminder", "apology", "criticism", "self_criticism")),
        ("pupil", None, ("reminder", "apology", "criticism", "self_criticism")),
        ("pupil", "preschool", ()),  # the circular does not apply to young children
        ("pupil_peer", "primary", ("reminder", "apology")),  # a perpetrator's relationship
        ("staff", "primary", STAFF),
        ("teacher", "upper_secondary", STAFF),
        ("school_staff", None, STAFF),
        ("other", "primary", ("other",)),
        (None, "primary", ("other",)),
    ],
)
def test_allowed_measures(subject, level, allowed):
    assert allowed_measures(subject, level) == allowed


def test_the_measures_of_older_steps_stay_valid():
    old = ("reminder", "criticism", "self_criticism", "reprimand", "warning")
    assert set(old) | {"salary_reduction", "dismissal", "other"} <= set(DISCIPLINE_MEASURES)


@pytest.fixture()
def primary(db, world):
    """A primary school under D1 with its focal point, and one case there."""
    school = make_unit(
        db, db.get(Unit, world.units["D1"]), "X-TH", "school", "Trường Tiểu học Hoa Sen"
    )
    person = make_user(db, keyring(), "focal.th", school, [("focal_point", school)])
    # The perpetrator is recorded as "other": the step's choice of rules decides.
    case = cases.create_case(
        db,
        db.get(User, person.id),
        school,
        case_details(perpetrator_relationship="other"),
        cases.CaseContent(harmed_name="An"),
    )
    db.commit()
    return {"school": school, "person": person, "case": case}


@pytest.mark.parametrize(
    ("relationship", "subject", "measure"),
    [("pupil_peer", "staff", "warning"), ("teacher", "pupil", "reminder")],
)
def test_the_rules_follow_the_perpetrator_as_recorded(db, world, relationship, subject, measure):
    """A pupil cannot be given a staff measure by choosing the staff rules, nor a teacher a
    pupil's reminder: the perpetrator's recorded relationship decides; nothing is saved."""
    school = db.get(Unit, world.units["SCH-A"])
    person = db.get(User, world["focal_a"].id)
    case = cases.create_case(
        db, person, school, case_details(perpetrator_relationship=relationship), cases.CaseContent()
    )
    db.commit()
    before = snapshot(db)
    with pytest.raises(ValidationFailed):
        _discipline(db, world["focal_a"], case, subject, measure)
    db.rollback()
    assert changed_tables(before, snapshot(db)) == []
    step = _discipline(
        db, world["focal_a"], case, discipline_subject(relationship), measure_for(relationship)
    )
    assert step.measure == measure_for(relationship)


def discipline_subject(relationship: str) -> str:
    return "pupil" if relationship == "pupil_peer" else "staff"


def measure_for(relationship: str) -> str:
    return "reminder" if relationship == "pupil_peer" else "warning"


def _discipline(db, person, case, subject, measure):
    step = step_service.add_step(
        db,
        db.get(User, person.id),
        case,
        StepInput(kind="discipline", subject=subject, measure=measure, done_on=local_today()),
    )
    db.commit()
    return step


@pytest.mark.parametrize(
    ("subject", "measure"),
    [
        ("pupil", "criticism"),
        ("pupil", "self_criticism"),
        ("pupil", "dismissal"),
        ("staff", "apology"),
        ("other", "reminder"),
        (None, "reminder"),
        ("pupil", None),
        ("parent", "other"),
    ],
)
def test_a_measure_the_rules_do_not_allow_is_refused(db, world, primary, subject, measure):
    assert primary["school"].level == "primary"
    before = snapshot(db)
    with pytest.raises(ValidationFailed):
        _discipline(db, primary["person"], primary["case"], subject, measure)
    db.rollback()
    assert changed_tables(before, snapshot(db)) == []


@pytest.mark.parametrize(
    ("subject", "measure"),
    [("pupil", "reminder"), ("pupil", "apology"), ("staff", "warning"), ("other", "other")],
)
def test_a_measure_the_rules_allow_is_recorded_with_its_subject(
    db, world, primary, subject, measure
):
    step = _discipline(db, primary["person"], primary["case"], subject, measure)
    assert step.measure == measure
    event = db.scalar(
        select(AuditEvent).where(AuditEvent.action == "step.add").order_by(AuditEvent.seq.desc())
    )
    changes = json.loads(event.changes)
    assert changes["subject"] == subject and changes["measure"] == [None, measure]


def test_a_secondary_pupil_may_be_criticised(db, world):
    """SCH-A is a multi-level school: its pupils may be primary or secondary pupils."""
    case = cases.create_case(
        db,
        db.get(User, world["focal_a"].id),
        db.get(Unit, world.units["SCH-A"]),
        case_details(),
        cases.CaseContent(harmed_name="Bình"),
    )
    db.commit()
    assert _discipline(db, world["focal_a"], case, "pupil", "criticism").measure == "criticism"


def test_the_form_offers_only_the_allowed_measures(client, db, world, primary):
    visitor = Visitor(client, db, primary["person"], lang="en")
    page = page_text(visitor.get(f"/cases/{primary['case'].public_id}"))
    form = page[
        page.index('name="measure"') : page.index("</select>", page.index('name="measure"'))
    ]
    assert '<optgroup label="A pupil">' in form
    pupils = form[form.index('label="A pupil"') : form.index("</optgroup>")]
    assert 'value="apology"' in pupils and 'value="reminder"' in pupils
    assert 'value="criticism"' not in pupils and 'value="self_criticism"' not in form
    assert 'value="dismissal"' in form  # for teachers and staff


def test_the_step_form_posts_the_subject(client, db, world, primary):
    visitor = Visitor(client, db, primary["person"], lang="en")
    url = f"/cases/{primary['case'].public_id}/steps"
    fields = {"kind": "discipline", "done_on": local_today().isoformat(), "details": ""}
    r = visitor.post(url, {**fields, "subject": "pupil", "measure": "criticism"})
    assert r.status_code == 302
    db.expire_all()
    count = select(CaseStep).where(CaseStep.case_id == primary["case"].id)
    assert db.scalars(count).all() == []
    r = visitor.post(url, {**fields, "subject": "pupil", "measure": "apology"})
    assert r.status_code == 302
    db.expire_all()
    assert [s.measure for s in db.scalars(count)] == ["apology"]
