"""The moment after which a case is overdue, kept on the case (issue 16): the daily screens read
an indexed column instead of every clock of every case.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("overdue_after", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_cases_unit_overdue_after",
        "cases",
        ["unit_id", "overdue_after"],
        postgresql_where=sa.text("overdue_after IS NOT NULL"),
        sqlite_where=sa.text("overdue_after IS NOT NULL"),
    )
    # Every existing case's moment, computed by the same function the service uses (in the
    # zone of the settings' default, Asia/Ho_Chi_Minh).
    from sqlalchemy.orm import Session

    from caseapp.services.cases import clocks

    clocks.refresh_all(Session(bind=op.get_bind()))


def downgrade() -> None:
    op.drop_index("ix_cases_unit_overdue_after", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("overdue_after")
