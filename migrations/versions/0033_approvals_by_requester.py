"""A person's own approval requests ("Requests I asked for", newest first) are read from an index
by who asked and when: the page read every request ever made, decided or not, to find them; the
table keeps every request for as long as the service runs (issue 16).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 20:55:00
"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_approval_requests_requested_by",
        "approval_requests",
        ["requested_by_id", "requested_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_approval_requests_requested_by", table_name="approval_requests")
