"""Units of 2026: a school's level and ownership, a commune's local type (commune, ward, special
zone); the first parent-history row of each unit marked as answering for the days before it.

The values of units already recorded are guessed from their names (the rules are copied here:
a migration must not import code that changes later). A history row still open is given its
unit's path of today (a move used not to update the rows of the units below the moved one).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:45:00
"""

import unicodedata

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_LEVEL_RULES = (
    ('boarding_ethnic', ('dân tộc nội trú', 'dân tộc bán trú', 'ptdtnt', 'ptdtbt')),
    ('multi_level', ('liên cấp', 'th&thcs', 'th và thcs', 'thcs&thpt', 'thcs và thpt')),
    ('preschool', ('mầm non', 'mẫu giáo', 'nhà trẻ')),
    ('continuing_education', ('thường xuyên', 'gdtx', 'gdnn')),
    ('upper_secondary', ('thpt', 'trung học phổ thông')),
    ('lower_secondary', ('thcs', 'trung học cơ sở')),
    ('primary', ('tiểu học',)),
)


def _traits(kind: str, name: str) -> dict:
    folded = unicodedata.normalize('NFC', name).lower()
    if kind == 'school':
        level = next(
            (lvl for lvl, words in _LEVEL_RULES if any(w in folded for w in words)), 'multi_level'
        )
        private = any(w in folded for w in ('tư thục', 'dân lập', 'quốc tế'))
        return {'level': level, 'ownership': 'private' if private else 'public', 'local_type': None}
    if kind == 'commune':
        local = 'ward' if 'phường' in folded else 'special_zone' if 'đặc khu' in folded else 'commune'
        return {'level': None, 'ownership': None, 'local_type': local}
    return {'level': None, 'ownership': None, 'local_type': None}


def upgrade() -> None:
    op.add_column('units', sa.Column('level', sa.String(length=24), nullable=True))
    op.add_column('units', sa.Column('ownership', sa.String(length=10), nullable=True))
    op.add_column('units', sa.Column('local_type', sa.String(length=15), nullable=True))
    op.add_column(
        'unit_parent_history',
        sa.Column('opened', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    conn = op.get_bind()
    units = sa.table(
        'units',
        sa.column('id', sa.Integer),
        sa.column('kind', sa.String),
        sa.column('name', sa.String),
        sa.column('level', sa.String),
        sa.column('ownership', sa.String),
        sa.column('local_type', sa.String),
    )
    rows = conn.execute(
        sa.select(units.c.id, units.c.kind, units.c.name).where(
            units.c.kind.in_(('school', 'commune'))
        )
    ).all()
    for unit_id, kind, name in rows:
        conn.execute(units.update().where(units.c.id == unit_id).values(**_traits(kind, name)))
    conn.execute(
        sa.text(
            'UPDATE unit_parent_history SET opened = true WHERE id IN '
            '(SELECT MIN(id) FROM unit_parent_history GROUP BY unit_id)'
        )
    )
    conn.execute(
        sa.text(
            'UPDATE unit_parent_history SET path = '
            '(SELECT path FROM units WHERE units.id = unit_parent_history.unit_id) '
            'WHERE valid_to IS NULL'
        )
    )


def downgrade() -> None:
    with op.batch_alter_table('unit_parent_history') as batch:
        batch.drop_column('opened')
    with op.batch_alter_table('units') as batch:
        batch.drop_column('local_type')
        batch.drop_column('ownership')
        batch.drop_column('level')
