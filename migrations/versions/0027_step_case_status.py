"""Each step's copies of its case's status and overdue moment (kept by
services/cases/step_copies.py and services/cases/clocks.py), and the index of the steps not
done by due day and case with the copies that decide "due today": the case list's count of
"due today" reads the steps alone, where it looked up the case of each step due today to test
its status and moment (issue 16: the line that grew with the archive).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 06:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

OPEN = "done_on IS NULL"


def upgrade() -> None:
    op.add_column("case_steps", sa.Column("case_status", sa.String(20), nullable=True))
    op.add_column(
        "case_steps", sa.Column("case_overdue_after", sa.DateTime(timezone=True), nullable=True)
    )
    if op.get_bind().dialect.name == "postgresql":
        # One join instead of two lookups of the case per step.
        op.execute(
            "UPDATE case_steps SET case_status = cases.status, "
            "case_overdue_after = cases.overdue_after "
            "FROM cases WHERE cases.id = case_steps.case_id"
        )
    else:
        op.execute(
            "UPDATE case_steps SET "
            "case_status = (SELECT cases.status FROM cases WHERE cases.id = case_steps.case_id), "
            "case_overdue_after = "
            "(SELECT cases.overdue_after FROM cases WHERE cases.id = case_steps.case_id)"
        )
    # Every step has its case's status: a step written past services/cases/step_copies.py (a
    # bulk load, a worker of the previous version) is refused instead of counted wrongly.
    with op.batch_alter_table("case_steps") as batch_op:
        batch_op.alter_column("case_status", existing_type=sa.String(20), nullable=False)
    op.create_index(
        "ix_case_steps_due_open_case",
        "case_steps",
        ["due_on", "case_id", "unit_id", "case_status", "case_overdue_after"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_case_steps_due_open_case", table_name="case_steps")
    with op.batch_alter_table("case_steps") as batch_op:
        batch_op.drop_column("case_overdue_after")
        batch_op.drop_column("case_status")
