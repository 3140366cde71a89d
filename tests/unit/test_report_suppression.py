"""Small-cell suppression: small counts are hidden with complementary cells, so that no hidden
value can be worked out from the totals that stay shown."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseapp.services.reports.suppression import exact, suppress

T = 5  # the default threshold: counts 1-4 are small
N = None  # a hidden value, for readable expectations


def _sums(cells):
    return [sum(col) for col in zip(*cells, strict=True)]


def _hidden_cells(published):
    return {(r, c) for r, row in enumerate(published.cells) for c, v in enumerate(row) if v is None}


@pytest.mark.parametrize(
    ("cells", "hidden", "row_totals", "col_totals", "total"),
    [
        # One small cell: its row and column each get a complement, closing a rectangle.
        (
            [[3, 10, 40], [10, 11, 50], [30, 40, 60]],
            {(0, 0), (0, 1), (1, 0), (1, 1)},
            [53, 71, 130],
            [43, 61, 150],
            254,
        ),
        # The complement (8) sits in a row otherwise of zeros: that row's total would give it
        # away, so the total is hidden instead; the same for the 30 in the last row.
        ([[3, 20], [8, 0], [0, 30]], {(0, 0), (0, 1), (1, 0), (2, 1)}, [23, N, N], [11, 50], 61),
        # A small row total (1 + 2) is hidden, and a second row total with it, so the first
        # cannot be worked out from the grand total.
        (
            [[1, 2, 0], [20, 30, 40], [25, 35, 45]],
            {(0, 0), (0, 1), (1, 0), (1, 1)},
            [N, N, 105],
            [46, 67, 85],
            198,
        ),
        # A small column total (1 + 1) is hidden with a second one.
        ([[6, 1], [7, 1]], {(0, 0), (0, 1), (1, 0), (1, 1)}, [7, 8], [N, N], 15),
        # A small grand total is hidden too.
        ([[1, 2], [1, 0]], {(0, 0), (0, 1), (1, 0)}, [N, N], [N, N], N),
        # Nothing small: nothing hidden.
        ([[5, 0, 7], [0, 9, 12]], set(), [12, 21], [5, 9, 19], 33),
        ([[0, 0], [0, 0]], set(), [0, 0], [0, 0], 0),
    ],
)
def test_suppression_of_hand_checked_tables(cells, hidden, row_totals, col_totals, total):
    published = suppress(cells, _sums(cells), T)
    assert _hidden_cells(published) == hidden
    assert published.row_totals == row_totals
    assert published.col_totals == col_totals
    assert published.total == total
    for r, row in enumerate(published.cells):  # shown values are the true ones
        assert all(v in (None, cells[r][c]) for c, v in enumerate(row))
    _assert_lines_add_up(cells, published)


def test_a_lone_small_cell_is_not_given_away_by_the_grand_total():
    """One girl aged 11-14 and five boys aged 15-17: hiding the 1 and the totals of its row
    and column is not enough when the grand total (6) and the 5 stay shown."""
    cells = [[0] * 4 for _ in range(7)]
    cells[2][0], cells[3][1] = 1, 5
    published = suppress(cells, _sums(cells), T)
    shown = sum(v for row in published.cells for v in row if v is not None)
    assert published.cells[2][0] is None
    assert published.total is None or published.total - shown not in (1, 0)
    assert not _recoverable(cells, published)


def test_distinct_column_totals_are_protected_as_given():
    """Violence types: a case of two types counts in both rows but once in its column."""
    cells = [[3, 12], [9, 20], [2, 7]]
    col_totals = [11, 30]  # fewer than the sums (14, 39): some cases have two types
    published = suppress(cells, col_totals, T)
    assert published.cells[0][0] is None and published.cells[2][0] is None
    assert published.col_totals[0] in (11, None) and published.total == 41
    _assert_line_property(published)


@pytest.mark.parametrize(("threshold", "shown"), [(3, True), (5, False), (10, False)])
def test_the_threshold_is_a_parameter(threshold, shown):
    cells = [[3, 40], [50, 60]]
    published = suppress(cells, _sums(cells), threshold)
    assert (published.cells[0][0] == 3) is shown


def test_exact_hides_nothing():
    cells = [[1, 0, 2], [3, 4, 0]]
    published = exact(cells, _sums(cells))
    assert published.cells == cells
    assert published.row_totals == [3, 7]
    assert published.col_totals == [4, 4, 2]
    assert published.total == 10


# Properties -----------------------------------------------------------------------------


def _assert_line_property(published):
    """No hidden cell can be worked out from a single row or column: a line whose total is
    shown hides no cell or at least two; a shown value is 0 or not small."""
    for r, row in enumerate(published.cells):
        if published.row_totals[r] is not None:
            assert sum(v is None for v in row) != 1, (r, published)
    for c in range(len(published.col_totals)):
        if published.col_totals[c] is not None:
            assert sum(row[c] is None for row in published.cells) != 1, (c, published)
    values = (
        [v for row in published.cells for v in row]
        + published.row_totals
        + published.col_totals
        + [published.total]
    )
    assert all(v is None or v == 0 or v >= T for v in values), published


def _assert_lines_add_up(cells, published):
    for r, row in enumerate(published.cells):
        if None not in row and published.row_totals[r] is not None:
            assert sum(row) == published.row_totals[r] == sum(cells[r])
    for c, col in enumerate(zip(*published.cells, strict=True)):
        if None not in col and published.col_totals[c] is not None:
            assert sum(col) == published.col_totals[c]


def _recoverable(cells, published) -> list:
    """The hidden cells and hidden small totals that all the published figures together give
    away. The table with its totals, as an (R+1) x (C+1) grid whose every line sums to zero,
    is a bipartite graph (lines as nodes, hidden values as edges); a hidden value can be
    worked out exactly when its edge is a bridge (on no cycle)."""
    rows, cols = len(cells), len(cells[0])
    edges = [((r, c), ("row", r), ("col", c)) for r, c in _hidden_cells(published)]
    edges += [
        (("row total", r), ("row", r), ("col", cols))
        for r in range(rows)
        if published.row_totals[r] is None
    ]
    edges += [
        (("col total", c), ("row", rows), ("col", c))
        for c in range(cols)
        if published.col_totals[c] is None
    ]
    if published.total is None:
        edges.append((("total",), ("row", rows), ("col", cols)))

    def connected(a, b, without) -> bool:
        seen, todo = {a}, [a]
        while todo:
            node = todo.pop()
            for name, x, y in edges:
                if name == without or node not in (x, y):
                    continue
                other = y if node == x else x
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return b in seen

    value = {("row total", r): sum(cells[r]) for r in range(rows)}
    value |= {("col total", c): sum(row[c] for row in cells) for c in range(cols)}
    value[("total",)] = sum(map(sum, cells))
    # Sensitive: every hidden cell, and the totals hidden because they are small.
    secret = [
        name for name, _x, _y in edges if isinstance(name[0], int) or 0 < value.get(name, 0) < T
    ]
    return [name for name, x, y in edges if name in secret and not connected(x, y, name)]


counts = st.one_of(st.integers(0, 4), st.integers(0, 30))
tables = st.integers(2, 6).flatmap(
    lambda rows: st.integers(2, 5).flatmap(
        lambda cols: st.lists(
            st.lists(counts, min_size=cols, max_size=cols), min_size=rows, max_size=rows
        )
    )
)


@settings(max_examples=250, deadline=None)
@given(tables)
def test_no_hidden_value_can_be_recomputed(cells):
    published = suppress(cells, _sums(cells), T)
    assert {
        (r, c) for r, row in enumerate(cells) for c, v in enumerate(row) if 0 < v < T
    } <= _hidden_cells(published)
    _assert_line_property(published)
    _assert_lines_add_up(cells, published)
    assert not _recoverable(cells, published), published


@settings(max_examples=120, deadline=None)
@given(tables, st.data())
def test_distinct_totals_keep_the_line_property(cells, data):
    col_totals = [data.draw(st.integers(max(col), sum(col))) for col in zip(*cells, strict=True)]
    published = suppress(cells, col_totals, T)
    _assert_line_property(published)


def test_timeliness_from_few_cases_is_hidden_on_export(tmp_path, monkeypatch):
    from caseapp import create_app
    from caseapp.services.reports.view import shown_timeliness
    from config import load_settings

    monkeypatch.setenv("CASEAPP_INSTANCE", str(tmp_path))
    app = create_app(load_settings("testing", environ={"CASEAPP_INSTANCE": str(tmp_path)}))
    few = {
        "median_days_to_verification": 7.0,
        "median_days_to_closure": 60.0,
        "verified": 4,
        "verified_within_deadline": 3,
        "share_verified_within_deadline": 75.0,
        "closed": 2,
        "verification_days": 10,
    }
    many = {**few, "verified": 9, "verified_within_deadline": 6, "closed": 5}
    with app.app_context():
        assert shown_timeliness(few, suppressed=False)["median_days_to_verification"] == 7.0
        hidden = shown_timeliness(few, suppressed=True)
        assert hidden["hidden"] and hidden["median_days_to_verification"] is None
        assert hidden["share_verified_within_deadline"] is None
        assert hidden["median_days_to_closure"] is None and hidden["verified"] is None
        shown = shown_timeliness(many, suppressed=True)
        assert not shown["hidden"] and shown["median_days_to_closure"] == 60.0
        assert shown["share_verified_within_deadline"] == 75.0
