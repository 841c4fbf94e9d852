"""Workflow tables: worklist items (PS3.4 K), MPPS instances (F.7), the outbox of messages owed
to peers (Storage Commitment reports J.3.3, MPPS forwarding, Instance Availability
Notifications R) and when each study was last notified.

0001 creates the tables from the current schema, so on a new database they exist already:
only the missing ones (and their indexes) are created.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from alembic import op

from dicomkit.archive.schema import WORKFLOW_TABLES, metadata

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(bind=op.get_bind(), tables=list(WORKFLOW_TABLES), checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(bind=op.get_bind(), tables=list(WORKFLOW_TABLES), checkfirst=True)
