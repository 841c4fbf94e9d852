"""Inventory Creation transactions (Supplement 223, PS3.4 KK.2): the ``inventory_jobs`` table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from alembic import op

from dicomkit.archive.schema import INVENTORY_TABLES, metadata

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(bind=op.get_bind(), tables=list(INVENTORY_TABLES), checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(bind=op.get_bind(), tables=list(INVENTORY_TABLES), checkfirst=True)
