"""Case list: an index in the list's default order (received_on, id), so a page is read
from the index instead of sorting every case (bench/cases.py: 100k cases, full sort).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 15:30:41.382183
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_received_id', ['received_on', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_received_id')

