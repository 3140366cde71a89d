"""The day each step's case was received (a copy of its case's, kept by
services/cases/step_copies.py), and the index of the steps not done by due day in the order of
those days: the case list's "due today" reads a page of steps in its own order instead of
every step due today (issue 16).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 05:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

OPEN = "done_on IS NULL"


def upgrade() -> None:
    op.add_column("case_steps", sa.Column("received_on", sa.Date(), nullable=True))
    op.execute(
        "UPDATE case_steps SET received_on = "
        "(SELECT cases.received_on FROM cases WHERE cases.id = case_steps.case_id)"
    )
    # Every step has its case's day: a step written past services/cases/step_copies.py (a
    # bulk load, a worker of the previous version) is refused instead of missing from the
    # pages of "due today" after the first.
    with op.batch_alter_table("case_steps") as batch_op:
        batch_op.alter_column("received_on", existing_type=sa.Date(), nullable=False)
    op.create_index(
        "ix_case_steps_due_open_received",
        "case_steps",
        ["due_on", "received_on", "case_id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_case_steps_due_open_received", table_name="case_steps")
    with op.batch_alter_table("case_steps") as batch_op:
        batch_op.drop_column("received_on")
