"""Per-school tallies for the monitoring page (issue 16): open, high-risk, unassigned and all
cases of each school, and cases received and closed per school and month, kept in the
transaction of every change (services/cases/tallies.py) and backfilled here; an index of the
follow-ups not done by due day for "my work".

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 13:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit_case_tallies",
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), primary_key=True),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.Column("high_risk", sa.Integer(), nullable=False),
        sa.Column("unassigned", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
    )
    op.create_table(
        "unit_month_tallies",
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), primary_key=True),
        sa.Column("month", sa.Integer(), primary_key=True),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_case_steps_follow_ups_due",
        "case_steps",
        ["due_on", "case_id"],
        postgresql_where=sa.text("done_on IS NULL AND kind = 'follow_up'"),
        sqlite_where=sa.text("done_on IS NULL AND kind = 'follow_up'"),
    )
    from caseapp.services.cases import tallies

    tallies.rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_case_steps_follow_ups_due", table_name="case_steps")
    op.drop_table("unit_month_tallies")
    op.drop_table("unit_case_tallies")
