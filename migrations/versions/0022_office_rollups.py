"""Report rollups summed per office (issue 16): the rows of case_rollups added up for every
office above the school, per month, so that a province's annual report reads a few thousand
rows instead of every school's; built here from the school rows, kept by the service.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_office_rollups",
        sa.Column("office_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("figure", sa.String(40), nullable=False),
        sa.Column("row", sa.String(40), nullable=False),
        sa.Column("col", sa.String(20), nullable=False),
        sa.Column("since", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("office_id", "month", "figure", "row", "col", "since"),
    )
    # The sums of the school rows already there, by the function the service uses.
    from caseapp.services.reports import rollups

    rollups.rebuild_offices(op.get_bind())


def downgrade() -> None:
    op.drop_table("case_office_rollups")
