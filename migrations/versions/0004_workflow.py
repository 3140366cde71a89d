"""Workflow: case steps, transitions, notifications; support and closure fields on cases.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 14:20:15.755518
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=15), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('method', sa.String(length=20), nullable=True),
    sa.Column('finding', sa.String(length=20), nullable=True),
    sa.Column('service', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('consent_override', sa.Boolean(), nullable=False),
    sa.Column('situation', sa.String(length=10), nullable=True),
    sa.Column('next_on', sa.Date(), nullable=True),
    sa.Column('measure', sa.String(length=20), nullable=True),
    sa.Column('details', sa.LargeBinary(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_steps_case_id_cases')),
    sa.ForeignKeyConstraint(['contact_id'], ['referral_contacts.id'], name=op.f('fk_case_steps_contact_id_referral_contacts')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_case_steps_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_steps')),
    sa.UniqueConstraint('uid', name=op.f('uq_case_steps_uid'))
    )
    with op.batch_alter_table('case_steps', schema=None) as batch_op:
        batch_op.create_index('ix_case_steps_case_kind', ['case_id', 'kind'], unique=False)
        batch_op.create_index('ix_case_steps_open_due', ['done_on', 'due_on'], unique=False)

    op.create_table('case_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=False),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('closure_reason', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], name=op.f('fk_case_transitions_by_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_transitions_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_transitions'))
    )
    with op.batch_alter_table('case_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_transitions_case_id'), ['case_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('emailed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_notifications_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notifications_dedupe_key'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('support_due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('closure_requested_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closure_reason', sa.String(length=20), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_cases_closure_requested_by_id_users'), 'users', ['closure_requested_by_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cases_closure_requested_by_id_users'), type_='foreignkey')
        batch_op.drop_column('closure_reason')
        batch_op.drop_column('closure_requested_by_id')
        batch_op.drop_column('support_due_on')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_user_id'))

    op.drop_table('notifications')
    with op.batch_alter_table('case_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_transitions_case_id'))

    op.drop_table('case_transitions')
    with op.batch_alter_table('case_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_case_steps_open_due')
        batch_op.drop_index('ix_case_steps_case_kind')

    op.drop_table('case_steps')
