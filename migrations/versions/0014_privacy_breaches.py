"""Data protection (issue 15): the register of personal-data breaches and their actions; the
version of the notice shown when a consent was recorded.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 03:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "breaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=30), nullable=False),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("discovered_by", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("data_categories", sa.Text(), nullable=False),
        sa.Column("units_affected", sa.Text(), nullable=False),
        sa.Column("people_affected", sa.Integer(), nullable=True),
        sa.Column("contained_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("authority_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_people", sa.String(length=10), nullable=False),
        sa.Column("notify_people_reason", sa.Text(), nullable=False),
        sa.Column("people_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_ref", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_breaches_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_breaches_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaches")),
        sa.UniqueConstraint("reference", name=op.f("uq_breaches_reference")),
    )
    op.create_index(op.f("ix_breaches_unit_id"), "breaches", ["unit_id"], unique=False)
    op.create_table(
        "breach_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("breach_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["breach_id"], ["breaches.id"], name=op.f("fk_breach_actions_breach_id_breaches")
        ),
        sa.ForeignKeyConstraint(["by_id"], ["users.id"], name=op.f("fk_breach_actions_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_actions")),
    )
    op.create_index(
        op.f("ix_breach_actions_breach_id"), "breach_actions", ["breach_id"], unique=False
    )
    with op.batch_alter_table("case_consents") as batch_op:
        batch_op.add_column(sa.Column("notice_version", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_consents") as batch_op:
        batch_op.drop_column("notice_version")
    op.drop_index(op.f("ix_breach_actions_breach_id"), table_name="breach_actions")
    op.drop_table("breach_actions")
    op.drop_index(op.f("ix_breaches_unit_id"), table_name="breaches")
    op.drop_table("breaches")
