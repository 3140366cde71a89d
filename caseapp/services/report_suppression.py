"""Small-cell suppression for reports leaving a unit: counts from 1 to threshold-1 read "<5",
and complementary cells are hidden too, so no hidden count can be worked out from a row or
column total."""

from __future__ import annotations

from dataclasses import dataclass

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

    def protect(line: list[tuple[int, int]], total_hidden: bool) -> bool:
        """If exactly one cell of a line is hidden and its total is shown, hide the smallest
        other non-zero cell, or, failing that, the total itself."""
        hidden_cells = [(r, c) for r, c in line if hidden[r][c]]
        if total_hidden or len(hidden_cells) != 1:
            return False
        candidates = sorted(((cells[r][c], r, c) for r, c in line
                             if not hidden[r][c] and cells[r][c] > 0))
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
    total = sum(col_totals)
    return Published(
        cells=[[HIDDEN if hidden[r][c] else cells[r][c] for c in range(cols)]
               for r in range(rows)],
        row_totals=[HIDDEN if row_hidden[r] else row_totals[r] for r in range(rows)],
        col_totals=[HIDDEN if col_hidden[c] else col_totals[c] for c in range(cols)],
        total=HIDDEN if _small(total, threshold) else total,
    )


def exact(cells: list[list[int]], col_totals: list[int]) -> Published:
    """The same shape with nothing hidden, for the unit's own officer on screen."""
    return Published(cells=[list(row) for row in cells], row_totals=[sum(r) for r in cells],
                     col_totals=list(col_totals), total=sum(col_totals))
