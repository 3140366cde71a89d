"""The gender-equality work of a unit: yearly plans with targets, statistics by sex per period,
report drafts (narrative sections), and activities linked to a campaign and to targets, with
results and materials.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 02:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _edited_by(table: str) -> list:
    return [
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f(f"fk_{table}_updated_by_id_users")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f(f"fk_{table}_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "gender_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("authors", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["users.id"], name=op.f("fk_gender_plans_approved_by_id_users")
        ),
        sa.UniqueConstraint("unit_id", "year", name=op.f("uq_gender_plans_unit_id")),
        *_edited_by("gender_plans"),
    )
    op.create_table(
        "unit_statistics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=40), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("confirmed", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.UniqueConstraint("unit_id", "period_key", name=op.f("uq_unit_statistics_unit_id")),
        *_edited_by("unit_statistics"),
    )
    op.create_table(
        "work_report_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=40), nullable=False),
        sa.Column("sections", sa.Text(), nullable=False),
        sa.Column("compiled", sa.Text(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("signer_title", sa.String(length=120), nullable=False),
        sa.Column("signer_name", sa.String(length=120), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("target_results", sa.Text(), nullable=False),
        sa.UniqueConstraint(
            "unit_id", "period_key", name=op.f("uq_work_report_drafts_unit_id")
        ),
        *_edited_by("work_report_drafts"),
    )
    op.create_table(
        "activity_materials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_activity_materials_activity_id_activities"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_activity_materials_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_materials")),
    )
    op.create_index(
        op.f("ix_activity_materials_activity_id"),
        "activity_materials",
        ["activity_id"],
        unique=False,
    )
    op.create_table(
        "plan_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("measure", sa.String(length=30), nullable=False),
        sa.Column("target_value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["gender_plans.id"], name=op.f("fk_plan_targets_plan_id_gender_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_targets")),
        sa.UniqueConstraint("plan_id", "ordinal", name=op.f("uq_plan_targets_plan_id")),
    )
    op.create_table(
        "activity_targets",
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activities.id"],
            name=op.f("fk_activity_targets_activity_id_activities"),
        ),
        sa.ForeignKeyConstraint(
            ["target_id"], ["plan_targets.id"], name=op.f("fk_activity_targets_target_id_plan_targets")
        ),
        sa.PrimaryKeyConstraint("activity_id", "target_id", name=op.f("pk_activity_targets")),
    )
    op.create_index("ix_activity_targets_target", "activity_targets", ["target_id"], unique=False)
    with op.batch_alter_table("activities") as batch_op:
        batch_op.add_column(sa.Column("campaign_key", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("results", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("activities") as batch_op:
        batch_op.drop_column("results")
        batch_op.drop_column("campaign_key")
    op.drop_index("ix_activity_targets_target", table_name="activity_targets")
    op.drop_table("activity_targets")
    op.drop_table("plan_targets")
    op.drop_index(op.f("ix_activity_materials_activity_id"), table_name="activity_materials")
    op.drop_table("activity_materials")
    op.drop_table("work_report_drafts")
    op.drop_table("unit_statistics")
    op.drop_table("gender_plans")
