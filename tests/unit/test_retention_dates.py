"""The retention schedule's date rules, by hand-computed dates (services/privacy/retention.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from caseapp.services.privacy import retention
from caseapp.services.privacy.retention import ADULT, CHILD, add_period, case_due_on, sub_period

FIVE = {CHILD: (5, "years"), ADULT: (5, "years"), retention.ATTACHMENTS: (2, "years")}


@pytest.mark.parametrize(
    ("day", "amount", "unit", "expected"),
    [
        (date(2020, 3, 15), 5, "years", date(2025, 3, 15)),
        (date(2024, 2, 29), 1, "years", date(2025, 3, 1)),  # no 29 Feb: later, never earlier
        (date(2024, 2, 29), 4, "years", date(2028, 2, 29)),
        (date(2024, 1, 31), 1, "months", date(2024, 3, 1)),
        (date(2020, 12, 15), 2, "months", date(2021, 2, 15)),
        (date(2020, 11, 30), 14, "months", date(2022, 1, 30)),
        (date(2020, 12, 31), 1, "calendar_days", date(2021, 1, 1)),
        (date(2020, 1, 1), 0, "years", date(2020, 1, 1)),
    ],
)
def test_adding_a_period(day, amount, unit, expected):
    assert add_period(day, amount, unit) == expected


def test_a_period_in_working_days_or_hours_is_refused():
    with pytest.raises(ValueError):
        add_period(date(2020, 1, 1), 2, "working_days")


@pytest.mark.parametrize(
    ("day", "amount", "unit"),
    [
        (date(2026, 3, 31), 1, "months"),
        (date(2026, 3, 1), 5, "years"),
        (date(2028, 2, 29), 5, "years"),
        (date(2026, 1, 31), 13, "months"),
        (date(2026, 6, 15), 30, "calendar_days"),
    ],
)
def test_the_bound_of_the_query_never_leaves_a_due_closure_out(day, amount, unit):
    """Every closure whose due date is ``day`` or earlier lies before the bound."""
    bound = sub_period(day, amount, unit)
    for back in range(0, 400):
        closed = date.fromordinal(day.toordinal() - back)
        if add_period(closed, amount, unit) <= day:
            assert closed <= bound, (closed, bound)


def test_an_adults_case_is_due_five_years_after_closure():
    assert case_due_on(FIVE, date(2018, 5, 10), date(2018, 2, 1), None) == (
        ADULT,
        date(2023, 5, 10),
    )


def test_a_childs_case_is_due_five_years_after_the_child_turns_18():
    # 12 on 10/03/2015: 18 by 10/03/2021 at the latest; plus 5 years.
    assert case_due_on(FIVE, date(2015, 6, 1), date(2015, 3, 10), 12) == (
        CHILD,
        date(2026, 3, 10),
    )


def test_a_childs_case_is_never_due_before_closure_plus_the_adult_period():
    # 15 on 05/01/2016: 18 + 5 years is 05/01/2024, but the case closed on 01/02/2022.
    assert case_due_on(FIVE, date(2022, 2, 1), date(2016, 1, 5), 15) == (
        CHILD,
        date(2027, 2, 1),
    )


def test_a_child_of_18_or_more_on_the_day_counts_from_that_day():
    assert retention.turns_adult(date(2020, 7, 1), 18) == date(2020, 7, 1)
    assert retention.turns_adult(date(2020, 7, 1), 0) == date(2038, 7, 1)


def test_closure_is_a_date_where_the_users_live():
    # 18:30 UTC on 31/12/2020 is already 01/01/2021 in Hanoi.
    assert retention.closure_day(datetime(2020, 12, 31, 18, 30, tzinfo=UTC)) == date(2021, 1, 1)


def test_a_naive_closure_instant_is_utc_whatever_the_hosts_time_zone(monkeypatch):
    # SQLite returns naive instants; they are UTC. A host in New York must not move the day.
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert retention.closure_day(datetime(2020, 12, 31, 18, 30)) == date(2021, 1, 1)
        assert retention.closure_day(datetime(2020, 12, 31, 16, 59)) == date(2020, 12, 31)
    finally:
        monkeypatch.undo()
        time.tzset()
