"""security/spreadsheet.inert_row, the audit CSV's guard for many rows, makes every cell what
inert_text makes it: no cell can start a formula."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from caseapp.security.spreadsheet import FORMULA_START, inert_row, inert_text

CELLS = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.sampled_from(FORMULA_START).flatmap(lambda first: st.text().map(lambda t: first + t)),
    st.builds(datetime, st.integers(1900, 2100), st.integers(1, 12), st.integers(1, 28)),
)


@given(st.lists(CELLS, max_size=20))
def test_each_cell_is_what_inert_text_makes_it(values):
    assert inert_row(values) == [inert_text(v) for v in values]


def test_formulas_are_quoted_and_numbers_left_alone():
    assert inert_row(['=HYPERLINK("x")', "-2+3", -3, "-3", "2,5", None, "\tx", "ok"]) == [
        '\'=HYPERLINK("x")',
        "'-2+3",
        "-3",
        "-3",
        "2,5",
        "",
        "'\tx",
        "ok",
    ]
