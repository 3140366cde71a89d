"""Audit trail: an index on (object_type, object_id), so the events about one account (its
own page: sign-in resets, grants, edits) are read from the index, not by scanning the trail.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:30:00
"""

from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in a batch: on SQLite a batch could copy the table and lose its append-only triggers.
    op.create_index('ix_audit_events_object', 'audit_events', ['object_type', 'object_id'])


def downgrade() -> None:
    op.drop_index('ix_audit_events_object', table_name='audit_events')
