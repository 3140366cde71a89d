"""The self-report inbox's "decided" tab reads the reports decided in its last 90 days, latest
first, from an index by the moment of the decision: it read every report ever received to find
them (issue 16).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 16:25:00
"""

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_self_reports_decided_at", "self_reports", ["decided_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_self_reports_decided_at", table_name="self_reports")
