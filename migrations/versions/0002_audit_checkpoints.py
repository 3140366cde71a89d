"""Audit checkpoints: signed chain heads, append-only like the audit events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 14:00:39
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # audit_events_append_only() was created by revision 0001.
        op.execute("CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE "
                   "ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")
        op.execute("CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON "
                   "audit_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION "
                   "audit_events_append_only()")
    else:
        op.execute("CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints "
                   "BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END")
        op.execute("CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints "
                   "BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_truncate ON audit_checkpoints")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_update_delete ON audit_checkpoints")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_delete")
    op.drop_table("audit_checkpoints")
