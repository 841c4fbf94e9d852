"""Pre-encoded C-FIND answers: a ``dimse`` column on ``patients`` and ``studies`` holding the
row's ``attrs`` as DIMSE elements (explicit VR little endian, ASCII values;
``services.identifiers.level_fragment``), from which a STUDY level C-FIND answer is assembled
without decoding any DICOM JSON (issue 18: answers of hundreds of matches).

Rows indexed before this revision are filled from their stored ``attrs``, a batch at a time;
a row whose ``attrs`` cannot be read stays NULL and is answered by the general route.
0001 creates the tables from the current schema, so on a new database the columns exist
already: only what is missing is added.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from dicomkit.archive.index import fill_fragments

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None
TABLES = ("patients", "studies")


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in TABLES:
        if "dimse" not in {c["name"] for c in inspector.get_columns(table)}:
            op.add_column(table, sa.Column("dimse", sa.LargeBinary, nullable=True))
        fill_fragments(bind, table)


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "dimse")
