"""The initial index schema: patients, studies, series, instances.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

from dicomkit.archive.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The schema as of this revision. Later revisions change it with explicit op.* calls.
    metadata.create_all(bind=op.get_bind())


def downgrade() -> None:
    metadata.drop_all(bind=op.get_bind())
