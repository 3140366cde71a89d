"""Cases: clear metadata, sealed content, violence types, informants kept apart, append-only
notes, attachments, consents, exclusions, the blind name index and reference counters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 14:11:55.926734
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_counters',
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_case_counters_unit_id_units')),
    sa.PrimaryKeyConstraint('unit_id', 'year', name=op.f('pk_case_counters'))
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('incident_on', sa.Date(), nullable=True),
    sa.Column('incident_date_approximate', sa.Boolean(), nullable=False),
    sa.Column('received_via', sa.String(length=20), nullable=False),
    sa.Column('reporter_kind', sa.String(length=20), nullable=False),
    sa.Column('setting', sa.String(length=20), nullable=False),
    sa.Column('child', sa.Boolean(), nullable=False),
    sa.Column('harmed_sex', sa.String(length=15), nullable=False),
    sa.Column('harmed_age_band', sa.String(length=8), nullable=False),
    sa.Column('harmed_age_years', sa.Integer(), nullable=True),
    sa.Column('harmed_role', sa.String(length=10), nullable=False),
    sa.Column('harmed_disability', sa.String(length=8), nullable=False),
    sa.Column('harmed_ethnic_minority', sa.String(length=8), nullable=False),
    sa.Column('perpetrator_count', sa.Integer(), nullable=False),
    sa.Column('perpetrator_sex', sa.String(length=15), nullable=False),
    sa.Column('perpetrator_age_band', sa.String(length=8), nullable=False),
    sa.Column('perpetrator_relationship', sa.String(length=20), nullable=False),
    sa.Column('risk_level', sa.String(length=10), nullable=False),
    sa.Column('serious_risk_to_child', sa.Boolean(), nullable=False),
    sa.Column('intervention_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verification_due_on', sa.Date(), nullable=True),
    sa.Column('assigned_to_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('key_destroyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('harmed_name', sa.LargeBinary(), nullable=True),
    sa.Column('harmed_contact', sa.LargeBinary(), nullable=True),
    sa.Column('guardian_name', sa.LargeBinary(), nullable=True),
    sa.Column('guardian_contact', sa.LargeBinary(), nullable=True),
    sa.Column('perpetrator_names', sa.LargeBinary(), nullable=True),
    sa.Column('narrative', sa.LargeBinary(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['users.id'], name=op.f('fk_cases_assigned_to_id_users')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_cases_created_by_id_users')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_cases_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('public_id', name=op.f('uq_cases_public_id')),
    sa.UniqueConstraint('reference', name=op.f('uq_cases_reference')),
    sa.UniqueConstraint('unit_id', 'year', 'number', name=op.f('uq_cases_unit_id'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_risk_level'), ['risk_level'], unique=False)
        batch_op.create_index(batch_op.f('ix_cases_status'), ['status'], unique=False)
        batch_op.create_index('ix_cases_unit_received', ['unit_id', 'received_on'], unique=False)
        batch_op.create_index('ix_cases_unit_status', ['unit_id', 'status'], unique=False)

    op.create_table('case_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('filename', sa.LargeBinary(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('storage_name', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_attachments_case_id_cases')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_case_attachments_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_attachments')),
    sa.UniqueConstraint('storage_name', name=op.f('uq_case_attachments_storage_name')),
    sa.UniqueConstraint('uid', name=op.f('uq_case_attachments_uid'))
    )
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_attachments_case_id'), ['case_id'], unique=False)

    op.create_table('case_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('party', sa.String(length=20), nullable=False),
    sa.Column('purpose', sa.String(length=20), nullable=False),
    sa.Column('given_on', sa.Date(), nullable=False),
    sa.Column('withdrawn_on', sa.Date(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_consents_case_id_cases')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_case_consents_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_consents'))
    )
    with op.batch_alter_table('case_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_consents_case_id'), ['case_id'], unique=False)

    op.create_table('case_exclusions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_case_exclusions_added_by_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_exclusions_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_case_exclusions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_exclusions')),
    sa.UniqueConstraint('case_id', 'user_id', name=op.f('uq_case_exclusions_case_id'))
    )
    with op.batch_alter_table('case_exclusions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_exclusions_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_exclusions_user_id'), ['user_id'], unique=False)

    op.create_table('case_informants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.LargeBinary(), nullable=True),
    sa.Column('contact', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_informants_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_informants')),
    sa.UniqueConstraint('case_id', name=op.f('uq_case_informants_case_id')),
    sa.UniqueConstraint('uid', name=op.f('uq_case_informants_uid'))
    )
    op.create_table('case_name_index',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_name_index_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_name_index'))
    )
    with op.batch_alter_table('case_name_index', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_name_index_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_name_index_digest'), ['digest'], unique=False)

    op.create_table('case_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_case_notes_author_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_notes_case_id_cases')),
    sa.ForeignKeyConstraint(['corrects_id'], ['case_notes.id'], name=op.f('fk_case_notes_corrects_id_case_notes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_notes')),
    sa.UniqueConstraint('uid', name=op.f('uq_case_notes_uid'))
    )
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_notes_case_id'), ['case_id'], unique=False)

    op.create_table('case_violence_types',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_violence_types_case_id_cases')),
    sa.PrimaryKeyConstraint('case_id', 'type', name=op.f('pk_case_violence_types'))
    )
    with op.batch_alter_table('case_violence_types', schema=None) as batch_op:
        batch_op.create_index('ix_case_violence_types_type_case', ['type', 'case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('case_violence_types', schema=None) as batch_op:
        batch_op.drop_index('ix_case_violence_types_type_case')

    op.drop_table('case_violence_types')
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_notes_case_id'))

    op.drop_table('case_notes')
    with op.batch_alter_table('case_name_index', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_name_index_digest'))
        batch_op.drop_index(batch_op.f('ix_case_name_index_case_id'))

    op.drop_table('case_name_index')
    op.drop_table('case_informants')
    with op.batch_alter_table('case_exclusions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_exclusions_user_id'))
        batch_op.drop_index(batch_op.f('ix_case_exclusions_case_id'))

    op.drop_table('case_exclusions')
    with op.batch_alter_table('case_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_consents_case_id'))

    op.drop_table('case_consents')
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_attachments_case_id'))

    op.drop_table('case_attachments')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_unit_status')
        batch_op.drop_index('ix_cases_unit_received')
        batch_op.drop_index(batch_op.f('ix_cases_status'))
        batch_op.drop_index(batch_op.f('ix_cases_risk_level'))

    op.drop_table('cases')
    op.drop_table('case_counters')
