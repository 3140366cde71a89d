"""Index case steps by case, then open/due: the overdue clock "a step still open past its
due date" is an EXISTS per case, which SQLite otherwise answers from ix_case_steps_open_due
by scanning every open past-due step of every case (quadratic in the number of cases).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 15:00:00.000000
"""

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_steps', schema=None) as batch_op:
        batch_op.create_index('ix_case_steps_case_open_due', ['case_id', 'done_on', 'due_on'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_case_steps_case_open_due')
