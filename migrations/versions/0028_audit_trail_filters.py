"""The audit trail's screen by person, newest first, from an index: the events of one person
(actor_name) in the order of the chain (seq). A person who left long ago was found by reading
the whole trail back to their last event (7.3 s at 10,000,000 events, against 0.16 ms), and
the index on the name alone does not say their events are rare (the planner, counting on
50,000 of each of 200 people, read the trail backwards all the same: 2.7 s); both grew with
the archive (issue 16, bench/audit_trail.py). The price: some 70 bytes an event (696 MB at
10,000,000 events).

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
    op.create_index("ix_audit_events_actor_name_seq", "audit_events", ["actor_name", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor_name_seq", table_name="audit_events")
