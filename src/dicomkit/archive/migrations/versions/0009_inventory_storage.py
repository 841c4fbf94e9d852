"""Inventory Storage (Supplement 223, PS3.4 GG and JJ): the ``inventory_instances`` table of
the Inventory SOP Instances the archive keeps (produced by Inventory Creation or received by
C-STORE), outside the patient tables since an Inventory has no Patient or Study.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from alembic import op

from dicomkit.archive.schema import INVENTORY_STORAGE_TABLES, metadata

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(bind=op.get_bind(), tables=list(INVENTORY_STORAGE_TABLES),
                        checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(bind=op.get_bind(), tables=list(INVENTORY_STORAGE_TABLES),
                      checkfirst=True)
