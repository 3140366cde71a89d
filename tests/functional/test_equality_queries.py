"""An office's pages of the period report make a fixed number of queries, however many schools
it has: the schools' figures and submissions are loaded together, not one school at a time."""

import json

import pytest

from caseapp.clock import local_today
from caseapp.models.equality import UnitStatistics
from caseapp.services.audit.trail import record
from caseapp.services.reports import rollups
from caseapp.services.reports.periods import period_by_key, periods_of
from tests.factories import Visitor, make_unit, statements_sent
from tests.functional.report_support import frozen_snapshot, unit, user
from tests.functional.test_gender_plan import plan_form

PERIOD = "six_month:2020"


def _count(app, fn):
    with statements_sent(app.extensions["caseapp.engine"]) as sent:
        fn()
    return len(sent)


@pytest.mark.parametrize(
    "path",
    [
        "/equality/statistics?unit=D2",
        f"/equality/statistics?unit=D2&period={PERIOD}",
        "/equality/plan?unit=D2",
        f"/equality/?unit=D2&period={PERIOD}",
        f"/equality/narrative?unit=D2&period={PERIOD}",
        f"/equality/document?unit=D2&period={PERIOD}&format=docx",
    ],
)
def test_office_pages_do_not_query_per_school(app, db, world, path):
    officer = Visitor(app, db, world["officer_d2"], lang="en")
    assert officer.post("/equality/plan", plan_form(unit_code="D2")).status_code == 302
    assert officer.get(path).status_code == 200
    few = _count(app, lambda: officer.get(path))
    d2 = unit(db, world, "D2")
    focal = user(db, world, "focal_a")
    year = local_today().year
    keys = {PERIOD} | {p.key for y in (year - 1, year, year + 1) for p in periods_of(y)}
    for i in range(40):
        school = make_unit(db, d2, f"SCH-X{i}", "school", f"Trường X{i}", valid_from=None)
        if i % 2 == 0:
            for key in keys:
                row = UnitStatistics(
                    unit_id=school.id,
                    period_key=key,
                    figures=json.dumps({"managers_female": 1, "managers_male": 2}),
                )
                db.add(row)
                db.flush()
                record(db, None, "statistics.save", row, unit=school)
        if i % 4 == 0:
            work = {"statistics": {"managers_female": 1}, "sections": {}}
            frozen_snapshot(db, school, period_by_key(PERIOD), {"work": work}, focal)
    db.commit()
    # The 40 new schools' report rollups, folded as `notify send-due` does every few minutes
    # (a page folds what is pending in its own transaction: work per change, not per school).
    rollups.refresh(db)
    db.commit()
    page = officer.get(path)
    assert page.status_code == 200
    assert _count(app, lambda: officer.get(path)) - few < 10
