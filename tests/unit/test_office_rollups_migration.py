"""Migration 0022 on a database already in use: the report rollups of the schools are summed
per office above each school (every unit of the row's path but the school), and the migration
goes down to 0021 again."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import inspect

from caseapp import migrate
from tests.unit.test_units_2026_migration import _seed

ROLLUPS = sa.table(
    "case_rollups",
    sa.column("unit_id", sa.Integer),
    sa.column("month", sa.Integer),
    sa.column("path", sa.String),
    sa.column("figure", sa.String),
    sa.column("row", sa.String),
    sa.column("col", sa.String),
    sa.column("since", sa.Integer),
    sa.column("n", sa.Integer),
)
M = 2025 * 12


def _row(unit_id, path, month, n, figure="cases", row="", col="female", since=None) -> dict:
    return {
        "unit_id": unit_id,
        "month": month,
        "path": path,
        "figure": figure,
        "row": row,
        "col": col,
        "since": month if since is None else since,
        "n": n,
    }


def test_0022_sums_the_school_rows_per_office_and_goes_down_again(fresh_engine):
    migrate.upgrade(fresh_engine, "0010")
    _seed(fresh_engine)
    migrate.upgrade(fresh_engine, "0021")
    with fresh_engine.begin() as connection:
        connection.execute(
            ROLLUPS.insert(),
            [
                _row(6, "/1/2/6/", M, 2),
                _row(7, "/1/2/7/", M, 3),
                _row(8, "/1/4/8/", M, 1),
                # School 15 moved from W (2) to D (5): its months before under W.
                _row(15, "/1/2/15/", M, 4),
                _row(15, "/1/5/15/", M + 1, 5),
                # A status that leaves its row: +1 then -1, summed to nothing for the office.
                _row(6, "/1/2/6/", M, 1, "status_at_end", "overdue", since=M + 2),
                _row(7, "/1/2/7/", M, -1, "status_at_end", "overdue", since=M + 2),
                # A case recorded at the ward itself: its own row, in the province's sums only.
                _row(2, "/1/2/", M, 6),
            ],
        )
    migrate.upgrade(fresh_engine, "0022")
    with fresh_engine.connect() as connection:
        sums = {
            (r.office_id, r.month, r.figure, r.row, r.col, r.since): r.n
            for r in connection.execute(sa.text("SELECT * FROM case_office_rollups"))
        }
    assert sums == {
        (1, M, "cases", "", "female", M): 2 + 3 + 1 + 4 + 6,
        (1, M + 1, "cases", "", "female", M + 1): 5,
        (2, M, "cases", "", "female", M): 2 + 3 + 4,
        (4, M, "cases", "", "female", M): 1,
        (5, M + 1, "cases", "", "female", M + 1): 5,
    }
    migrate.downgrade(fresh_engine, "0021")
    assert "case_office_rollups" not in inspect(fresh_engine).get_table_names()
    assert migrate.current_heads(fresh_engine) == {"0021"}
