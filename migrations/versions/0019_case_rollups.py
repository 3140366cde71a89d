"""Report rollups per school and month (issue 16): the annual report of a province is summed
from them instead of reading every case of the year; marks name the school-months to
recompute, written with every change they count.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_rollups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("figure", sa.String(40), nullable=False),
        sa.Column("row", sa.String(40), nullable=False),
        sa.Column("col", sa.String(20), nullable=False),
        sa.Column("since", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    op.create_index("ix_case_rollups_month_unit", "case_rollups", ["month", "unit_id"])
    op.create_index("ix_case_rollups_unit_month", "case_rollups", ["unit_id", "month"])
    op.create_index(
        "ix_case_rollups_figure_month",
        "case_rollups",
        ["figure", "month", "path", "col", "since", "n"],
    )
    op.create_table(
        "case_rollup_marks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=True),
    )
    # The rollups of every existing case, by the function the service uses.
    from sqlalchemy.orm import Session

    from caseapp.services.reports import rollups

    rollups.rebuild_all(Session(bind=op.get_bind()))


def downgrade() -> None:
    op.drop_table("case_rollup_marks")
    op.drop_index("ix_case_rollups_figure_month", table_name="case_rollups")
    op.drop_index("ix_case_rollups_unit_month", table_name="case_rollups")
    op.drop_index("ix_case_rollups_month_unit", table_name="case_rollups")
    op.drop_table("case_rollups")
