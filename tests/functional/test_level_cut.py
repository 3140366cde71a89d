"""Reports and monitoring cut by school level: only the cases of schools of that level count;
an unknown level is a clear error, not a page of zeros."""

from __future__ import annotations

import re
from datetime import date

from caseapp.models import Unit, User
from caseapp.services.cases import monitoring
from caseapp.services.reports.tables import build
from tests.factories import make_unit, sign_in_client
from tests.functional.reform_support import legacy_world, new_case

SPAN = (date(2024, 11, 1), date(2025, 6, 30))


def _world(db, world):
    legacy = legacy_world(db, world)  # three primary schools, one case each before July 2025
    district = legacy.district
    upper = make_unit(
        db,
        district,
        "LD-THCS",
        "school",
        "Trường THCS Cũ",
        date(2020, 1, 1),
        level="lower_secondary",
    )
    legacy.schools["LD-THCS"] = upper
    from caseapp.services.accounts import users

    users.grant_role(db, None, legacy.focal, "focal_point", upper)
    new_case(db, legacy, "LD-THCS", date(2025, 2, 2))
    db.flush()
    return legacy


def test_reports_count_only_the_schools_of_the_level(db, world):
    legacy = _world(db, world)
    district = legacy.district
    assert build(db, district, *SPAN).table("per_unit").total() == 4
    assert build(db, district, *SPAN, level="primary").table("per_unit").total() == 3
    lower = build(db, district, *SPAN, level="lower_secondary")
    assert lower.table("per_unit").total() == 1
    assert lower.table("violence_by_sex").col_total("female") == 1
    assert build(db, district, *SPAN, level="upper_secondary").table("per_unit").total() == 0


def test_monitoring_counts_only_the_schools_of_the_level(db, world):
    legacy = _world(db, world)
    officer = db.get(User, world["officer_p"].id)
    province = db.get(Unit, world.units["PRV"])
    rows = monitoring.school_rows(db, officer, province, level="lower_secondary")
    assert [r["unit"].code for r in rows] == ["LD-THCS"] and rows[0]["total"] == 1
    every = monitoring.school_rows(db, officer, province)
    assert {"LD-S1", "LD-THCS", "SCH-A"} <= {r["unit"].code for r in every}
    assert legacy.district.code == "LD"


def test_an_unknown_level_is_refused_with_a_message(db, world, client):
    db.commit()
    sign_in_client(client, db, world["officer_p"])
    with client.session_transaction() as sess:
        sess["lang"] = "en"
    page = client.get("/reports/?level=kindergarten-ish", follow_redirects=True)
    assert page.status_code == 200
    assert "Unknown school level." in page.get_data(as_text=True)
    ok = client.get("/reports/?level=primary")
    assert ok.status_code == 200 and re.search(
        r'<option[^>]*selected[^>]*value="primary"', ok.get_data(as_text=True)
    )
    exported = client.get("/reports/export?format=csv&level=bogus")
    assert exported.status_code in (302, 303)
    watched = client.get("/monitoring?level=bogus")
    assert watched.status_code == 200 and "Unknown school level." in watched.get_data(as_text=True)
    assert client.get("/monitoring?level=primary").status_code == 200
