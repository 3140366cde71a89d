"""Small-cell suppression for reports leaving a unit: counts from 1 to threshold-1 read "<5",
and complementary cells are hidden too, so no hidden count can be worked out from a row or
column total."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

HIDDEN = None  # a suppressed value


@dataclass
class Published:
    """A table as published: each value an int, or None when suppressed."""

    cells: list[list[int | None]]
    row_totals: list[int | None]
    col_totals: list[int | None]
    total: int | None


def _small(value: int, threshold: int) -> bool:
    return 0 < value < threshold


def suppress(cells: list[list[int]], col_totals: list[int], threshold: int) -> Published:
    """Hide small cells and enough others that none can be recomputed from the margins.

    Row totals are sums of their cells; ``col_totals`` may count distinct cases (a case in
    two rows counts once), so they are taken as given and protected the same way.
    """
    rows, cols = len(cells), len(cells[0]) if cells else 0
    hidden = [[_small(cells[r][c], threshold) for c in range(cols)] for r in range(rows)]
    row_totals = [sum(row) for row in cells]
    row_hidden = [_small(t, threshold) for t in row_totals]
    col_hidden = [_small(t, threshold) for t in col_totals]
    total = sum(col_totals)
    grand_hidden = [_small(total, threshold)]  # a list, so the helper below can change it

    def protect(line: list[tuple[int, int]], total_hidden: bool) -> bool | None:
        """If exactly one cell of a line is hidden and its total is shown, hide the smallest
        other non-zero cell, or, failing that, the total itself."""
        hidden_cells = [(r, c) for r, c in line if hidden[r][c]]
        if total_hidden or len(hidden_cells) != 1:
            return False
        candidates = sorted(
            ((cells[r][c], r, c) for r, c in line if not hidden[r][c] and cells[r][c] > 0)
        )
        if candidates:
            _v, r, c = candidates[0]
            hidden[r][c] = True
            return True
        return None  # only zeros besides: the total must go

    changed = True
    while changed:
        changed = False
        for r in range(rows):
            result = protect([(r, c) for c in range(cols)], row_hidden[r])
            if result is None:
                row_hidden[r] = True
                changed = True
            elif result:
                changed = True
        for c in range(cols):
            result = protect([(r, c) for r in range(rows)], col_hidden[c])
            if result is None:
                col_hidden[c] = True
                changed = True
            elif result:
                changed = True
        # A hidden total with exactly one other total hidden in its margin is recomputable
        # from the grand total: hide one more margin in that case.
        for margin, values in ((row_hidden, row_totals), (col_hidden, col_totals)):
            if sum(margin) == 1:
                shown = sorted((v, i) for i, v in enumerate(values) if not margin[i] and v > 0)
                if shown:
                    margin[shown[0][1]] = True
                    changed = True
        # Lines one at a time are not enough: the grand total, or rows and columns together,
        # can still give a hidden cell away. Check the published equations exactly.
        if not changed:
            changed = _protect_from_equations(
                cells, col_totals, hidden, row_hidden, col_hidden, grand_hidden, threshold
            )
    return Published(
        cells=[[HIDDEN if hidden[r][c] else cells[r][c] for c in range(cols)] for r in range(rows)],
        row_totals=[HIDDEN if row_hidden[r] else row_totals[r] for r in range(rows)],
        col_totals=[HIDDEN if col_hidden[c] else col_totals[c] for c in range(cols)],
        total=HIDDEN if grand_hidden[0] else total,
    )


def _reduced(equations: list[list[int]]) -> list[list[Fraction]]:
    """The reduced row echelon form of the equations' coefficients, over the rationals."""
    rows = [[Fraction(v) for v in eq] for eq in equations]
    pivots = 0
    for col in range(len(rows[0]) if rows else 0):
        found = next((i for i in range(pivots, len(rows)) if rows[i][col] != 0), None)
        if found is None:
            continue
        rows[pivots], rows[found] = rows[found], rows[pivots]
        rows[pivots] = [v / rows[pivots][col] for v in rows[pivots]]
        for i in range(len(rows)):
            if i != pivots and rows[i][col] != 0:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[pivots], strict=True)]
        pivots += 1
    return rows[:pivots]


def _follows(reduced: list[list[Fraction]], target: list[int]) -> bool:
    """Whether the sum ``target`` of unknowns is a combination of the reduced equations, i.e.
    can be worked out from the published values."""
    rest = [Fraction(v) for v in target]
    for row in reduced:
        col = next(i for i, v in enumerate(row) if v != 0)
        if rest[col] != 0:
            factor = rest[col]
            rest = [a - factor * b for a, b in zip(rest, row, strict=True)]
    return not any(rest)


def _protect_from_equations(
    cells, col_totals, hidden, row_hidden, col_hidden, grand_hidden, threshold
) -> bool:
    """If the shown totals (rows, columns that are sums of their cells, the grand total when
    it is the sum of every cell) give away a hidden cell, or a small total that was hidden,
    hide one more value; returns whether anything was hidden."""
    rows, cols = len(cells), len(cells[0]) if cells else 0
    unknown = [(r, c) for r in range(rows) for c in range(cols) if hidden[r][c]]
    if not unknown:
        return False
    col_is_sum = [col_totals[c] == sum(row[c] for row in cells) for c in range(cols)]
    equations = _shown_equations(unknown, rows, cols, row_hidden, col_hidden, col_is_sum)
    grand_equation = not grand_hidden[0] and sum(col_totals) == sum(map(sum, cells))
    if grand_equation:
        equations.append([1] * len(unknown))
    if not equations:
        return False
    reduced = _reduced(equations)
    secrets = _secrets(cells, col_totals, unknown, row_hidden, col_hidden, col_is_sum, threshold)
    near = next((line for target, line in secrets if _follows(reduced, target)), None)
    if near is None:
        return False
    if _hide_smallest_cell(cells, hidden, near):
        return True
    if grand_equation:
        grand_hidden[0] = True
        return True
    _hide_smallest_total(cells, col_totals, row_hidden, col_hidden)
    return True


def _shown_equations(unknown, rows, cols, row_hidden, col_hidden, col_is_sum) -> list[list[int]]:
    """One equation over the hidden cells per shown row total and per shown column total that
    is the sum of its cells."""
    equations = [
        [1 if ur == r else 0 for ur, _uc in unknown] for r in range(rows) if not row_hidden[r]
    ]
    equations += [
        [1 if uc == c else 0 for _ur, uc in unknown]
        for c in range(cols)
        if not col_hidden[c] and col_is_sum[c]
    ]
    return equations


def _secrets(cells, col_totals, unknown, row_hidden, col_hidden, col_is_sum, threshold):
    """What must stay unknown: each hidden cell, and each hidden small total (with its line).
    Each with the cells whose hiding protects it best: its row and column, or its line."""
    rows, cols = len(cells), len(cells[0])
    secrets = [
        (
            [1 if u == (r, c) else 0 for u in unknown],
            [(r, k) for k in range(cols)] + [(k, c) for k in range(rows)],
        )
        for r, c in unknown
    ]
    secrets += [
        ([1 if ur == r else 0 for ur, _uc in unknown], [(r, k) for k in range(cols)])
        for r in range(rows)
        if row_hidden[r] and _small(sum(cells[r]), threshold)
    ]
    secrets += [
        ([1 if uc == c else 0 for _ur, uc in unknown], [(k, c) for k in range(rows)])
        for c in range(cols)
        if col_hidden[c] and col_is_sum[c] and _small(col_totals[c], threshold)
    ]
    return secrets


def _hide_smallest_cell(cells, hidden, near) -> bool:
    """Hide the smallest shown non-zero cell of ``near``, else of the whole table."""
    rows, cols = len(cells), len(cells[0])
    for line in (near, [(i, k) for i in range(rows) for k in range(cols)]):
        shown = sorted((cells[i][k], i, k) for i, k in line if not hidden[i][k] and cells[i][k])
        if shown:
            hidden[shown[0][1]][shown[0][2]] = True
            return True
    return False


def _hide_smallest_total(cells, col_totals, row_hidden, col_hidden) -> None:
    """No value left to hide but totals: the smallest total still shown (one is, or nothing
    could be worked out)."""
    rows, cols = len(cells), len(cells[0])
    margins = sorted(
        [(sum(cells[i]), row_hidden, i) for i in range(rows) if not row_hidden[i]]
        + [(col_totals[k], col_hidden, k) for k in range(cols) if not col_hidden[k]],
        key=lambda m: m[0],
    )
    _value, margin, i = margins[0]
    margin[i] = True


def exact(cells: list[list[int]], col_totals: list[int]) -> Published:
    """The same shape with nothing hidden, for the unit's own officer on screen."""
    return Published(
        cells=[list(row) for row in cells],
        row_totals=[sum(r) for r in cells],
        col_totals=list(col_totals),
        total=sum(col_totals),
    )
