"""A person's notices from indexes that stop at what a page shows: newest first for the notices
page (its hundred), and the unread ones for the menu's number, which now stops at "99+". An
officer above many schools gets an overdue notice for each of their overdue cases (some 150,000
at 1,000,000 cases, issue 16): the number counted every one of them, with a look at its case,
on every page they opened (2.1 s a page), and the notices page sorted them all (5.8 s). The
index on the person alone goes: the first column of the new one serves its lookups.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 16:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_user_created", "notifications", ["user_id", "created_at", "id"]
    )
    op.create_index(
        "ix_notifications_user_unread",
        "notifications",
        ["user_id", "created_at", "id"],
        postgresql_where=sa.text("read_at IS NULL"),
        sqlite_where=sa.text("read_at IS NULL"),
    )
    op.drop_index("ix_notifications_user_id", table_name="notifications")


def downgrade() -> None:
    op.create_index("ix_notifications_user_id", "notifications", ["user_id"])
    op.drop_index("ix_notifications_user_unread", table_name="notifications")
    op.drop_index("ix_notifications_user_created", table_name="notifications")
