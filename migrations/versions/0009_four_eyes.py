"""Four-eyes: approval requests, two-half enrolment codes, reviews of attention items.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 21:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'approval_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('subject_user_id', sa.Integer(), nullable=True),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision_note', sa.Text(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_approval_requests_case_id_cases')),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'],
                                name=op.f('fk_approval_requests_decided_by_id_users')),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'],
                                name=op.f('fk_approval_requests_requested_by_id_users')),
        sa.ForeignKeyConstraint(['subject_user_id'], ['users.id'],
                                name=op.f('fk_approval_requests_subject_user_id_users')),
        sa.ForeignKeyConstraint(['unit_id'], ['units.id'],
                                name=op.f('fk_approval_requests_unit_id_units')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_requests')),
    )
    with op.batch_alter_table('approval_requests', schema=None) as batch_op:
        batch_op.create_index('ix_approval_requests_status_unit', ['status', 'unit_id'])
        batch_op.create_index(batch_op.f('ix_approval_requests_unit_id'), ['unit_id'])
        batch_op.create_index(batch_op.f('ix_approval_requests_subject_user_id'),
                              ['subject_user_id'])
        batch_op.create_index(batch_op.f('ix_approval_requests_case_id'), ['case_id'])

    op.create_table(
        'enrolment_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=20), nullable=False),
        sa.Column('approval_id', sa.Integer(), nullable=True),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('first_hash', sa.String(length=64), nullable=False),
        sa.Column('second_hash', sa.String(length=64), nullable=True),
        sa.Column('issued_by_id', sa.Integer(), nullable=True),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('released_by_id', sa.Integer(), nullable=True),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['approval_id'], ['approval_requests.id'],
                                name=op.f('fk_enrolment_codes_approval_id_approval_requests')),
        sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'],
                                name=op.f('fk_enrolment_codes_issued_by_id_users')),
        sa.ForeignKeyConstraint(['released_by_id'], ['users.id'],
                                name=op.f('fk_enrolment_codes_released_by_id_users')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_enrolment_codes_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment_codes')),
    )
    with op.batch_alter_table('enrolment_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolment_codes_user_id'), ['user_id'])

    op.create_table(
        'attention_reviews',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_key', sa.String(length=160), nullable=False),
        sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
        sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['reviewed_by_id'], ['users.id'],
                                name=op.f('fk_attention_reviews_reviewed_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attention_reviews')),
        sa.UniqueConstraint('item_key', name=op.f('uq_attention_reviews_item_key')),
    )


def downgrade() -> None:
    op.drop_table('attention_reviews')
    with op.batch_alter_table('enrolment_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolment_codes_user_id'))
    op.drop_table('enrolment_codes')
    with op.batch_alter_table('approval_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_requests_case_id'))
        batch_op.drop_index(batch_op.f('ix_approval_requests_subject_user_id'))
        batch_op.drop_index(batch_op.f('ix_approval_requests_unit_id'))
        batch_op.drop_index('ix_approval_requests_status_unit')
    op.drop_table('approval_requests')
