"""Partial indexes on open, urgent and new cases by unit, and transitions by status and time
(issue 16): home, my work and monitoring count and list open cases without reading the archive
of closed ones, and the closures of the last months without reading every transition.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 13:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

URGENT_PG = "status <> 'closed' AND (risk_level = 'immediate' OR serious_risk_to_child)"
URGENT_SQLITE = "status <> 'closed' AND (risk_level = 'immediate' OR serious_risk_to_child = 1)"


def upgrade() -> None:
    op.create_index(
        "ix_cases_unit_open",
        "cases",
        ["unit_id", "risk_level", "serious_risk_to_child", "assigned_to_id", "overdue_after", "id"],
        postgresql_where=sa.text("status <> 'closed'"),
        sqlite_where=sa.text("status <> 'closed'"),
    )
    op.create_index(
        "ix_cases_unit_urgent",
        "cases",
        ["unit_id", "id"],
        postgresql_where=sa.text(URGENT_PG),
        sqlite_where=sa.text(URGENT_SQLITE),
    )
    op.create_index(
        "ix_cases_unit_new",
        "cases",
        ["unit_id", "received_on"],
        postgresql_where=sa.text("status = 'new'"),
        sqlite_where=sa.text("status = 'new'"),
    )
    op.create_index("ix_case_transitions_to_status_at", "case_transitions", ["to_status", "at"])


def downgrade() -> None:
    op.drop_index("ix_case_transitions_to_status_at", table_name="case_transitions")
    for name in ("ix_cases_unit_new", "ix_cases_unit_urgent", "ix_cases_unit_open"):
        op.drop_index(name, table_name="cases")
