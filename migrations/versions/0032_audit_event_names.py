"""The accounts that exclusion and approval events name inside their changes, kept beside each
event (audit_event_names, written by trail.record from now on) and backfilled here: a person's
account history found those events by matching their user name in the text of every exclusion
and approval event of the trail, which grew with the archive (issue 16).

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 18:30:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

# As trail.NAMED_INSIDE and trail.NAME_KEYS were at this revision.
NAMED_INSIDE = (
    "case.exclude",
    "case.exclusion_lift",
    "approval.request",
    "approval.approve",
    "approval.reject",
    "approval.cancel",
)
NAME_KEYS = ("user", "subject")
BATCH = 5_000


def upgrade() -> None:
    names = op.create_table(
        "audit_event_names",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
    )
    # Append-only as the trail is (audit_events_append_only() is revision 0001's).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_event_names_no_update_delete BEFORE UPDATE OR DELETE ON "
            "audit_event_names FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_event_names_no_truncate BEFORE TRUNCATE ON audit_event_names "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_event_names_no_{verb.lower()} BEFORE {verb} ON "
                "audit_event_names BEGIN SELECT RAISE(ABORT, 'audit_event_names is "
                f"append-only: {verb} refused'); END"
            )
    events = sa.table(
        "audit_events",
        sa.column("seq", sa.BigInteger()),
        sa.column("action", sa.String()),
        sa.column("changes", sa.Text()),
    )
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(events.c.seq, events.c.changes)
            .where(events.c.action.in_(NAMED_INSIDE), events.c.seq > last)
            .order_by(events.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        kept = []
        for seq, raw in rows:
            try:
                changes = json.loads(raw or "{}")
            except ValueError:
                changes = {}
            if not isinstance(changes, dict):
                changes = {}
            found = {changes.get(key) for key in NAME_KEYS}
            kept += [{"username": n, "seq": seq} for n in found if isinstance(n, str) and n]
        if kept:
            bind.execute(names.insert(), kept)
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_table("audit_event_names")
