"""Every table of the period report against hand counts (tests/functional/report_support.py)
for the province, a district and a school."""

from __future__ import annotations

from datetime import date

import pytest

from caseapp.services.reports import tables as report_tables
from tests.factories import selects, statements_sent
from tests.functional.report_support import PERIOD, build_period_data, unit

UNITS = ("PRV", "D1", "SCH-A", "D2")

# {table: {unit: {row: (female, male, other, not recorded)}}}; rows not listed are zeros.
# A1 F, A2 M, A3 F, A4 F (SCH-A); B1 M, B2 not recorded (SCH-B); C1 F, C2 M (SCH-C).
# One person harmed a case: the tables of cases have nothing under "several sexes" (checked
# below) and the tables of persons count as many persons harmed as there are cases.
EXPECTED = {
    "violence_by_sex": {
        "PRV": {
            "physical": (1, 2, 0, 1),
            "psychological": (2, 1, 0, 0),
            "sexual_harassment": (1, 0, 0, 0),
            "cyber": (0, 1, 0, 0),
            "neglect": (1, 0, 0, 0),
        },
        "D1": {
            "physical": (1, 1, 0, 1),
            "psychological": (2, 1, 0, 0),
            "sexual_harassment": (1, 0, 0, 0),
            "cyber": (0, 1, 0, 0),
        },
        "SCH-A": {
            "physical": (1, 1, 0, 0),
            "psychological": (2, 0, 0, 0),
            "sexual_harassment": (1, 0, 0, 0),
        },
        "D2": {"physical": (0, 1, 0, 0), "neglect": (1, 0, 0, 0)},
    },
    "age_by_sex": {
        "PRV": {
            "11-14": (1, 2, 0, 0),
            "15-17": (1, 1, 0, 0),
            "25-59": (1, 0, 0, 0),
            "6-10": (1, 0, 0, 1),
        },
        "D1": {
            "11-14": (1, 1, 0, 0),
            "15-17": (1, 1, 0, 0),
            "25-59": (1, 0, 0, 0),
            "6-10": (0, 0, 0, 1),
        },
        "SCH-A": {"11-14": (1, 1, 0, 0), "15-17": (1, 0, 0, 0), "25-59": (1, 0, 0, 0)},
        "D2": {"11-14": (0, 1, 0, 0), "6-10": (1, 0, 0, 0)},
    },
    "role_by_sex": {
        "PRV": {"pupil": (3, 3, 0, 1), "teacher": (1, 0, 0, 0)},
        "D1": {"pupil": (2, 2, 0, 1), "teacher": (1, 0, 0, 0)},
        "SCH-A": {"pupil": (2, 1, 0, 0), "teacher": (1, 0, 0, 0)},
        "D2": {"pupil": (1, 1, 0, 0)},
    },
    # Alleged perpetrators, one row each, by their sex: A1 two boys, A4 three women...
    "perpetrators_by_relationship_sex": {
        "PRV": {
            "pupil_peer": (0, 4, 2, 0),
            "teacher": (0, 1, 0, 0),
            "family_member": (4, 0, 0, 0),
            "stranger": (0, 1, 0, 0),
        },
        "D1": {
            "pupil_peer": (0, 3, 2, 0),
            "teacher": (0, 1, 0, 0),
            "family_member": (3, 0, 0, 0),
            "stranger": (0, 1, 0, 0),
        },
        "SCH-A": {
            "pupil_peer": (0, 3, 0, 0),
            "teacher": (0, 1, 0, 0),
            "family_member": (3, 0, 0, 0),
        },
        "D2": {"pupil_peer": (0, 1, 0, 0), "family_member": (1, 0, 0, 0)},
    },
    # A1, B1 closed in the period; A2 closed 01:00 on 1 July in Vietnam (18:00 UTC on 30
    # June): still in progress; A4, B2, C1 past their verification due date unverified
    # (C1 verified only in July); C2 due in July.
    "status_at_end": {
        "PRV": {"resolved": (1, 1, 0, 0), "in_progress": (1, 2, 0, 0), "overdue": (2, 0, 0, 1)},
        "D1": {"resolved": (1, 1, 0, 0), "in_progress": (1, 1, 0, 0), "overdue": (1, 0, 0, 1)},
        "SCH-A": {"resolved": (1, 0, 0, 0), "in_progress": (1, 1, 0, 0), "overdue": (1, 0, 0, 0)},
        "D2": {"in_progress": (0, 1, 0, 0), "overdue": (1, 0, 0, 0)},
    },
    "findings": {
        "PRV": {
            "substantiated": (1, 1, 0, 0),
            "not_substantiated": (0, 1, 0, 0),
            "inconclusive": (1, 0, 0, 0),
            "not_verified": (2, 1, 0, 1),
        },
        "D1": {
            "substantiated": (1, 1, 0, 0),
            "not_substantiated": (0, 1, 0, 0),
            "inconclusive": (1, 0, 0, 0),
            "not_verified": (1, 0, 0, 1),
        },
        "SCH-A": {
            "substantiated": (1, 0, 0, 0),
            "not_substantiated": (0, 1, 0, 0),
            "inconclusive": (1, 0, 0, 0),
            "not_verified": (1, 0, 0, 0),
        },
        "D2": {"not_verified": (1, 1, 0, 0)},
    },
    # Provided in the period: A1 counselling and safety plan, A2 counselling, A3's referral.
    "support_by_service": {
        **{
            code: {
                "counselling": (1, 1, 0, 0),
                "safety_plan": (1, 0, 0, 0),
                "referral": (1, 0, 0, 0),
            }
            for code in ("PRV", "D1", "SCH-A")
        },
        "D2": {},
    },
    "per_unit": {
        "PRV": {"D1": (3, 2, 0, 1), "D2": (1, 1, 0, 0)},
        "D1": {"SCH-A": (3, 1, 0, 0), "SCH-B": (0, 1, 0, 1)},
        "SCH-A": {"SCH-A": (3, 1, 0, 0)},
        "D2": {"SCH-C": (1, 1, 0, 0)},
    },
    # (activities, female, male, other participants)
    "activities": {
        "PRV": {
            "training": (2, 15, 17, 1),
            "communication": (1, 20, 15, 2),
            "action_month_june": (1, 30, 28, 0),
        },
        "D1": {"training": (2, 15, 17, 1), "communication": (1, 20, 15, 2)},
        "SCH-A": {"training": (2, 15, 17, 1)},
        "D2": {"action_month_june": (1, 30, 28, 0)},
    },
}
# Column totals that count each case once (a case in two rows is one case).
DISTINCT_TOTALS = {
    "violence_by_sex": {
        "PRV": (4, 3, 0, 1),
        "D1": (3, 2, 0, 1),
        "SCH-A": (3, 1, 0, 0),
        "D2": (1, 1, 0, 0),
    },
    "support_by_service": {
        "PRV": (2, 1, 0, 0),
        "D1": (2, 1, 0, 0),
        "SCH-A": (2, 1, 0, 0),
        "D2": (0, 0, 0, 0),
    },
}
# Days to the first finished verification: A1 2, A2 10, A3 20, B1 4 (C1's is after the end);
# to closure, in Vietnam days: A1 56 (6 January to 2 March), B1 64.
TIMELINESS = {
    "PRV": {
        "median_days_to_verification": 7.0,
        "median_days_to_closure": 60.0,
        "verified": 4,
        "verified_within_deadline": 3,
        "share_verified_within_deadline": 75.0,
    },
    "D1": {
        "median_days_to_verification": 7.0,
        "median_days_to_closure": 60.0,
        "verified": 4,
        "verified_within_deadline": 3,
        "share_verified_within_deadline": 75.0,
    },
    "SCH-A": {
        "median_days_to_verification": 10.0,
        "median_days_to_closure": 56.0,
        "verified": 3,
        "verified_within_deadline": 2,
        "share_verified_within_deadline": 66.7,
    },
    "D2": {
        "median_days_to_verification": None,
        "median_days_to_closure": None,
        "verified": 0,
        "verified_within_deadline": 0,
        "share_verified_within_deadline": None,
    },
}


@pytest.fixture()
def reports(db, world):
    build_period_data(db, world)
    return {code: report_tables.build(db, unit(db, world, code), *PERIOD) for code in UNITS}


def _counts(table) -> dict:
    """The table's non-zero rows, as {row: tuple of cells} (the sexes; the activities)."""
    cols = [c for c in table.cols if c != report_tables.MIXED]
    rows = {r: tuple(table.cell(r, c) for c in cols) for r in table.rows}
    return {r: v for r, v in rows.items() if any(v)}


@pytest.mark.parametrize("key", list(EXPECTED))
def test_each_table_matches_the_hand_counts(reports, key):
    got = {code: _counts(reports[code].table(key)) for code in UNITS}
    assert got == EXPECTED[key]
    for code in UNITS:
        table = reports[code].table(key)
        if table.counts == "cases":  # no case with persons harmed of several sexes here
            assert table.cols[-1] == report_tables.MIXED
            assert all(table.cell(r, report_tables.MIXED) == 0 for r in table.rows)
            assert table.col_total(report_tables.MIXED) == 0


def test_each_table_says_what_it_counts(reports):
    counts = {t.key: t.counts for t in reports["PRV"].tables}
    assert counts == {
        "violence_by_sex": "cases",
        "age_by_sex": "people",
        "role_by_sex": "people",
        "perpetrators_by_relationship_sex": "people",
        "status_at_end": "cases",
        "findings": "cases",
        "support_by_service": "cases",
        "per_unit": "cases",
        "activities": "activities",
        "cases_by_channel": "cases",
        "self_reports": "reports",
    }
    assert all(t["counts"] == counts[t["key"]] for t in reports["PRV"].as_dict()["tables"])


@pytest.mark.parametrize("key", list(DISTINCT_TOTALS))
def test_a_case_in_several_rows_counts_once_in_the_totals(reports, key):
    for code in UNITS:
        table = reports[code].table(key)
        sexes = report_tables.SEX_COLUMNS
        assert tuple(table.col_total(c) for c in sexes) == DISTINCT_TOTALS[key][code]
    # A1 (female) is physical and psychological: three female cells, two female cases.
    table = reports["SCH-A"].table("violence_by_sex")
    assert sum(table.cell(r, "female") for r in table.rows) == 4
    assert table.col_total("female") == 3
    assert table.as_dict()["distinct_totals"] is True


@pytest.mark.parametrize(
    ("code", "rows"), [("PRV", ["D1", "D2"]), ("D1", ["SCH-A", "SCH-B"]), ("SCH-A", ["SCH-A"])]
)
def test_per_unit_rows_are_the_units_directly_below(reports, code, rows):
    assert reports[code].table("per_unit").rows == rows


@pytest.mark.parametrize("code", UNITS)
def test_timeliness(reports, code):
    got = reports[code].timeliness
    assert {k: got[k] for k in TIMELINESS[code]} == TIMELINESS[code]
    assert got["verification_days"] == 10


@pytest.mark.parametrize("code", UNITS)
def test_column_totals_of_plain_tables_are_the_number_of_cases(reports, code):
    """Each case has one status, finding and unit, and here one person harmed with one age
    band and role: every such table adds up to the number of cases of the unit in the
    period (the tables of persons count the persons harmed, one a case here)."""
    cases = sum(DISTINCT_TOTALS["violence_by_sex"][code])
    for key in ("age_by_sex", "role_by_sex", "status_at_end", "findings", "per_unit"):
        assert reports[code].table(key).total() == cases, key


@pytest.mark.parametrize(
    ("date_from", "date_to", "expected"),
    [
        (date(2020, 7, 1), date(2020, 7, 31), {"rape": (1, 0, 0, 0)}),
        (date(2019, 12, 1), date(2019, 12, 31), {"physical": (0, 1, 0, 0)}),
        (date(2020, 6, 30), date(2020, 6, 30), {"physical": (0, 1, 0, 0)}),
        (date(2018, 1, 1), date(2018, 12, 31), {}),
    ],
)
def test_only_cases_received_in_the_period_count(db, world, date_from, date_to, expected):
    build_period_data(db, world)
    report = report_tables.build(db, unit(db, world, "PRV"), date_from, date_to)
    assert _counts(report.table("violence_by_sex")) == expected


@pytest.mark.parametrize("source", ["scan", "rollups"])
def test_the_report_is_a_fixed_number_of_queries(db, world, source):
    """SQL aggregates, not a loop over cases: as many statements with data as without (from
    the rollups once the changes are counted: the refresh reads the marked school-months)."""
    from caseapp.services.reports import rollups

    engine = db.get_bind().engine
    prv = unit(db, world, "PRV")
    rollups.refresh(db)  # the marks the seed's units left
    with statements_sent(engine) as sent:
        report_tables.build(db, prv, *PERIOD, source=source)
    empty = len(selects(sent))  # the queries, not the savepoints
    build_period_data(db, world)
    rollups.refresh(db)
    with statements_sent(engine) as sent:
        report_tables.build(db, prv, *PERIOD, source=source)
    assert len(selects(sent)) == empty
