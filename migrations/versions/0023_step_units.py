"""The school of each step (a copy of its case's, kept by services/cases/step_units.py), and
the index of a school's follow-ups not done by due day in place of every school's: "my work"
reads the follow-ups of the next two weeks of its schools only (issue 16).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 16:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

FOLLOW_UPS = "done_on IS NULL AND kind = 'follow_up'"


def upgrade() -> None:
    op.add_column("case_steps", sa.Column("unit_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE case_steps SET unit_id = "
        "(SELECT cases.unit_id FROM cases WHERE cases.id = case_steps.case_id)"
    )
    op.drop_index("ix_case_steps_follow_ups_due", table_name="case_steps")
    op.create_index(
        "ix_case_steps_unit_follow_ups_due",
        "case_steps",
        ["unit_id", "due_on", "case_id"],
        postgresql_where=sa.text(FOLLOW_UPS),
        sqlite_where=sa.text(FOLLOW_UPS),
    )


def downgrade() -> None:
    op.drop_index("ix_case_steps_unit_follow_ups_due", table_name="case_steps")
    op.create_index(
        "ix_case_steps_follow_ups_due",
        "case_steps",
        ["due_on", "case_id"],
        postgresql_where=sa.text(FOLLOW_UPS),
        sqlite_where=sa.text(FOLLOW_UPS),
    )
    with op.batch_alter_table("case_steps") as batch_op:
        batch_op.drop_column("unit_id")
