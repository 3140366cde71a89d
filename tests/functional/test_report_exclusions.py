"""Exclusion beats aggregates too: a person excluded from a case must not read it back from a
report (a one-day custom period would describe the case: its type, the sex and age of the
person harmed, the perpetrator's relationship, its status). Their reports leave it out; the
official snapshots and the combined report, which count every case, are closed to them."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from sqlalchemy import select

from caseapp.models import Unit, User
from caseapp.runtime import keyring
from caseapp.services.cases import records as case_records
from caseapp.services.cases.intake import CaseContent, CaseDetails, create_case
from caseapp.services.reports import periods as reports
from tests.factories import Visitor, complete_work_report, make_user

DAY = date(2018, 3, 15)
ONE_DAY = {
    "unit": "SCH-A",
    "period": "custom",
    "date_from": DAY.isoformat(),
    "date_to": DAY.isoformat(),
}


def _case(db, world):
    focal = db.get(User, world["focal_a"].id)
    details = CaseDetails(
        received_on=DAY,
        received_via="in_person",
        reporter_kind="peer",
        setting="in_school",
        violence_types=["sexual_harassment"],
        child=True,
        harmed_sex="female",
        harmed_age_band="11-14",
        harmed_role="pupil",
        perpetrator_sex="male",
        perpetrator_age_band="25-59",
        perpetrator_relationship="teacher",
        risk_level="high",
    )
    case = create_case(
        db,
        focal,
        db.get(Unit, world.units["SCH-A"]),
        details,
        CaseContent(harmed_name="Nguyễn Thị X", perpetrator_names="Trần Văn Y"),
    )
    db.commit()
    return case


def _nonzero(html: str, table_key: str) -> list[str]:
    section = re.search(rf'id="t-{table_key}".*?</section>', html, re.S)
    assert section, table_key
    cells = re.findall(r"<td>(?:<strong>)?([^<]*)(?:</strong>)?</td>", section.group(0))
    return [c for c in cells if c not in ("0", "")]


@pytest.fixture()
def colleague(db, world):
    school = db.get(Unit, world.units["SCH-A"])
    person = make_user(db, keyring(), "teacher.a2", school, [("focal_point", school)])
    db.commit()
    return person


@pytest.fixture()
def hidden_case(app, db, world, colleague):
    """A case at SCH-A; the colleague and officer_d1 are excluded from it."""
    case = _case(db, world)
    focal = db.get(User, world["focal_a"].id)
    with app.test_request_context():
        case_records.exclude(db, focal, case, colleague.username, "Người bị tố cáo")
        case_records.exclude(db, focal, case, world["officer_d1"].username, "Người thân")
    db.commit()
    return case


TABLES = ("violence_by_sex", "perpetrators_by_relationship_sex")


@pytest.mark.parametrize("who", ["colleague", "officer_d1"])
def test_an_excluded_person_s_report_leaves_the_case_out(
    app, db, world, colleague, hidden_case, who
):
    person = colleague if who == "colleague" else world[who]
    seen = Visitor(app, db, world["focal_a"]).get("/reports/", query_string=ONE_DAY)
    assert all(_nonzero(seen.get_data(as_text=True), t) for t in TABLES)  # it is there
    excluded = Visitor(app, db, person)
    page = excluded.get("/reports/", query_string=ONE_DAY)
    assert page.status_code == 200
    assert [_nonzero(page.get_data(as_text=True), t) for t in TABLES] == [[], []]
    export = excluded.get("/reports/export", query_string={**ONE_DAY, "format": "csv"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    numbers = [c for row in rows for c in row if re.fullmatch(r"<?\d+", c.strip())]
    shown = [r for r in rows if any(c.strip() not in ("0", "") for c in r if c in numbers)]
    assert numbers and shown == [], shown


def test_snapshots_and_the_combined_report_are_closed_to_an_excluded_person(
    app, db, world, colleague, hidden_case
):
    focal = db.get(User, world["focal_a"].id)
    with app.test_request_context():
        school, period = db.get(Unit, world.units["SCH-A"]), reports.period_by_key("annual:2018")
        complete_work_report(db, focal, school, period)
        snapshot = reports.submit(db, focal, school, period)
    db.commit()
    url = f"/reports/snapshots/{snapshot.id}"
    assert Visitor(app, db, world["focal_a"]).get(url).status_code == 200
    assert Visitor(app, db, world["officer_p"]).get(url).status_code == 200
    assert Visitor(app, db, colleague).get(url).status_code == 404
    assert Visitor(app, db, world["officer_d1"]).get(url).status_code == 404
    combined = {"unit": "D1", "period": "annual:2018"}
    assert (
        Visitor(app, db, world["officer_p"])
        .get("/reports/combined", query_string=combined)
        .status_code
        == 200
    )
    assert (
        Visitor(app, db, world["officer_d1"])
        .get("/reports/combined", query_string=combined)
        .status_code
        == 404
    )
    # Asked of the unit, not of the period's cases as they read today: a corrected date could
    # move the case out of a frozen snapshot's period and reopen it. Any year is closed.
    assert (
        Visitor(app, db, world["officer_d1"])
        .get("/reports/combined", query_string={"unit": "D1", "period": "annual:2019"})
        .status_code
        == 404
    )
    assert (
        Visitor(app, db, world["officer_d2"])
        .get("/reports/combined", query_string={"unit": "D2", "period": "annual:2018"})
        .status_code
        == 200
    )
    assert db.scalar(select(User.id).where(User.id == colleague.id))


def test_an_excluded_focal_point_does_not_submit_the_school_report(
    app, db, world, colleague, hidden_case
):
    """The official figures count a case the colleague may not see: they cannot vouch for
    them. Another focal point of the school submits."""
    from caseapp.errors import Forbidden
    from caseapp.models import ReportSnapshot

    with app.test_request_context():
        complete_work_report(
            db,
            world["focal_a"],
            db.get(Unit, world.units["SCH-A"]),
            reports.period_by_key("annual:2018"),
        )
    db.commit()
    page = (
        Visitor(app, db, colleague)
        .get("/equality/", query_string={"unit": "SCH-A", "period": "annual:2018"})
        .get_data(as_text=True)
    )
    assert 'action="/equality/submit"' not in page
    with app.test_request_context(), pytest.raises(Forbidden):
        reports.submit(
            db,
            db.get(User, colleague.id),
            db.get(Unit, world.units["SCH-A"]),
            reports.period_by_key("annual:2018"),
        )
    db.rollback()
    assert db.scalar(select(ReportSnapshot.id)) is None
    focal_page = (
        Visitor(app, db, world["focal_a"])
        .get("/equality/", query_string={"unit": "SCH-A", "period": "annual:2018"})
        .get_data(as_text=True)
    )
    assert 'action="/equality/submit"' in focal_page
