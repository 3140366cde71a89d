"""The overdue cases of each school counted by the day their clock runs out (where the users
are) and by its month, kept in the transaction of every change that moves a clock
(services/cases/tallies.py, with cases.clocks) and backfilled here: monitoring sums the months
before this one, this month's days before today and counts today's cases, where it counted
every overdue case of each school up to 1,000 (issue 16).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit_overdue_month_tallies",
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), primary_key=True),
        sa.Column("month", sa.Integer(), primary_key=True),
        sa.Column("cases", sa.Integer(), nullable=False),
    )
    op.create_table(
        "unit_overdue_day_tallies",
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("cases", sa.Integer(), nullable=False),
    )
    from caseapp.services.cases import tallies

    tallies.rebuild_overdue(op.get_bind())


def downgrade() -> None:
    op.drop_table("unit_overdue_day_tallies")
    op.drop_table("unit_overdue_month_tallies")
