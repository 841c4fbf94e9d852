"""An index on ``studies.updated``: the Instance Availability Notification scan
(:mod:`dicomkit.archive.ian`, PS3.4 R) looks for the studies changed in a recent window, which
without it reads the whole studies table every few seconds.

0001 creates the tables from the current schema, so on a new database the index exists
already; ``IF NOT EXISTS`` (SQLite and PostgreSQL) makes the upgrade of an older one safe.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_studies_updated ON studies (updated)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_studies_updated")
