"""Keyring binding: the key ids this database depends on, so that a service started with a
keyring that lacks one refuses before writing anything (a fresh keyring after a restore would
otherwise chain the next audit event under an unknown key and break the trail for ever).

Backfilled from what the data already names: audit events and checkpoints, the name index,
and the key id that leads every sealed TOTP secret and wrapped case key.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BATCH = 5000


def _sealed_ids(conn, table: str, column: str) -> set[str]:
    """Key ids leading sealed blobs (a length byte, then the id), read in keyset batches."""
    ids: set[str] = set()
    last = 0
    while True:
        rows = conn.execute(sa.text(
            f"SELECT id, {column} FROM {table} WHERE id > :last AND {column} IS NOT NULL "
            f"ORDER BY id LIMIT {BATCH}"), {"last": last}).all()
        if not rows:
            return ids
        for _id, blob in rows:
            blob = bytes(blob)
            ids.add(blob[1:1 + blob[0]].decode("ascii"))
        last = rows[-1][0]


def upgrade() -> None:
    table = op.create_table(
        'keyring_keys',
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('purpose', sa.String(length=20), nullable=False),
        sa.Column('bound_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key_id', name=op.f('pk_keyring_keys')),
    )
    conn = op.get_bind()
    found: dict[str, str] = {}
    for purpose, query in (
        ("audit", "SELECT DISTINCT key_id FROM audit_events"),
        ("signing", "SELECT DISTINCT key_id FROM audit_checkpoints"),
        ("blind_index", "SELECT DISTINCT key_id FROM case_name_index"),
    ):
        for (key_id,) in conn.execute(sa.text(query)):
            found[key_id] = purpose
    for table_name, column in (("users", "totp_secret"), ("cases", "wrapped_key"),
                               ("user_sessions", "pending_totp_secret")):
        for key_id in _sealed_ids(conn, table_name, column):
            found[key_id] = "wrap"
    if found:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        op.bulk_insert(table, [{"key_id": k, "purpose": p, "bound_at": now}
                               for k, p in sorted(found.items())])


def downgrade() -> None:
    op.drop_table('keyring_keys')
