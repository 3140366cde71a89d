"""Reports: activities and submitted report snapshots (append-only, like the audit trail).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 14:26:06.166964
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=25), nullable=False),
    sa.Column('audience', sa.String(length=15), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('participants_female', sa.Integer(), nullable=False),
    sa.Column('participants_male', sa.Integer(), nullable=False),
    sa.Column('participants_other', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_activities_created_by_id_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_activities_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_unit_held', ['unit_id', 'held_on'], unique=False)

    op.create_table('report_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('period_key', sa.String(length=40), nullable=False),
    sa.Column('date_from', sa.Date(), nullable=False),
    sa.Column('date_to', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_report_snapshots_submitted_by_id_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_report_snapshots_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_snapshots')),
    sa.UniqueConstraint('unit_id', 'period_key', name=op.f('uq_report_snapshots_unit_id'))
    )
    with op.batch_alter_table('report_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_snapshots_unit_id'), ['unit_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # audit_events_append_only() was created by revision 0001.
        op.execute("CREATE TRIGGER report_snapshots_no_update_delete BEFORE UPDATE OR DELETE "
                   "ON report_snapshots FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")
        op.execute("CREATE TRIGGER report_snapshots_no_truncate BEFORE TRUNCATE ON "
                   "report_snapshots FOR EACH STATEMENT EXECUTE FUNCTION "
                   "audit_events_append_only()")
    else:
        op.execute("CREATE TRIGGER report_snapshots_no_update BEFORE UPDATE ON report_snapshots "
                   "BEGIN SELECT RAISE(ABORT, 'report_snapshots is append-only'); END")
        op.execute("CREATE TRIGGER report_snapshots_no_delete BEFORE DELETE ON report_snapshots "
                   "BEGIN SELECT RAISE(ABORT, 'report_snapshots is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS report_snapshots_no_truncate ON report_snapshots")
        op.execute("DROP TRIGGER IF EXISTS report_snapshots_no_update_delete ON report_snapshots")
    else:
        op.execute("DROP TRIGGER IF EXISTS report_snapshots_no_update")
        op.execute("DROP TRIGGER IF EXISTS report_snapshots_no_delete")
    with op.batch_alter_table('report_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_snapshots_unit_id'))

    op.drop_table('report_snapshots')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_unit_held')

    op.drop_table('activities')
