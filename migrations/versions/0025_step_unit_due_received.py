"""The index of each school's steps not done by due day, in the order of the days their cases
were received (the steps' copies of both, services/cases/step_copies.py): my work's "due
today" reads the school's first rows and stops, where it read every case of the school whose
clock ends today and every step due today of the archive to sort them (issue 16).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

OPEN = "done_on IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_case_steps_unit_due_open_received",
        "case_steps",
        ["unit_id", "due_on", "received_on", "case_id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_case_steps_unit_due_open_received", table_name="case_steps")
