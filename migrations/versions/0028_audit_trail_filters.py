"""The audit trail's screen by person and by action, newest first, from an index each: the
events of one person (actor_name) and of one action, each in the order of the chain (seq).
A person who left long ago was found by reading the whole trail back to their last event, and
the actions the filter offers by reading every event's entry; both grew with the archive
(issue 16, bench/audit_trail.py). The index on the action alone is replaced by the index on
the action and the event's number, which answers what it answered.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 13:30:00
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_action_seq", "audit_events", ["action", "seq"])
    op.drop_index("ix_audit_events_action", table_name="audit_events")
    op.create_index("ix_audit_events_actor_name_seq", "audit_events", ["actor_name", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor_name_seq", table_name="audit_events")
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.drop_index("ix_audit_events_action_seq", table_name="audit_events")
