"""Two indexes for the daily screens (issue 16): the steps by due day, done day and kind ("my
work" reads the cases due today from the overdue moment, ix_cases_unit_overdue_after, and the
steps without a clock, referral and discipline, not done due today from here, instead of every
step due today of the archive); the references in byte order on PostgreSQL
(varchar_pattern_ops), so that a reference search reads its prefix from an index; the cases by
school and status with their id (a capped count of a status and a kind of violence from the
index alone); the overdue moment by school with the id (the longest overdue first, in the
index's order, however many cases share one moment).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 15:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_cases_unit_overdue_after", table_name="cases")
    op.create_index(
        "ix_cases_unit_overdue_after",
        "cases",
        ["unit_id", "overdue_after", "id"],
        postgresql_where=sa.text("overdue_after IS NOT NULL"),
        sqlite_where=sa.text("overdue_after IS NOT NULL"),
    )
    op.drop_index("ix_cases_unit_status", table_name="cases")
    op.create_index("ix_cases_unit_status", "cases", ["unit_id", "status", "id"])
    op.create_index(
        "ix_case_steps_due_open_kind", "case_steps", ["due_on", "done_on", "kind", "case_id"]
    )
    op.create_index(
        "ix_cases_reference_prefix",
        "cases",
        ["reference"],
        postgresql_ops={"reference": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_cases_reference_prefix", table_name="cases")
    op.drop_index("ix_case_steps_due_open_kind", table_name="case_steps")
    op.drop_index("ix_cases_unit_status", table_name="cases")
    op.create_index("ix_cases_unit_status", "cases", ["unit_id", "status"])
    op.drop_index("ix_cases_unit_overdue_after", table_name="cases")
    op.create_index(
        "ix_cases_unit_overdue_after",
        "cases",
        ["unit_id", "overdue_after"],
        postgresql_where=sa.text("overdue_after IS NOT NULL"),
        sqlite_where=sa.text("overdue_after IS NOT NULL"),
    )
