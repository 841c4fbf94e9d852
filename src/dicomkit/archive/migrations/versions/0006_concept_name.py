"""The document's Concept Name as two indexed instance columns, ``concept_code`` and
``concept_scheme``: the Code Value and Coding Scheme Designator of the top level Concept Name
Code Sequence (0040,A043) item, an optional Composite Object Instance level key (PS3.4 Table
C.6-4) that QIDO-RS and C-FIND match in SQL (``ConceptNameCodeSequence.CodeValue=126000``
finds the TID 1500 Imaging Measurement Reports without reading every instance's metadata).

Rows indexed before this revision are filled from their stored DICOM JSON metadata
(``archive.records.concept_name_columns``, the rule ingest uses), a batch of rows at a time.
0001 creates the tables from the current schema, so on a new database the columns and the
index exist already: only what is missing is added.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import json

import sqlalchemy as sa
from alembic import op

from dicomkit.archive.records import concept_name_columns

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    present = {c["name"] for c in inspector.get_columns("instances")}
    if "concept_code" not in present:
        op.add_column("instances", sa.Column("concept_code", sa.String(64), nullable=False,
                                             server_default=""))
    if "concept_scheme" not in present:
        op.add_column("instances", sa.Column("concept_scheme", sa.String(16), nullable=False,
                                             server_default=""))
    op.execute("CREATE INDEX IF NOT EXISTS ix_instances_concept "
               "ON instances (concept_code, concept_scheme)")
    # Only instances with a Concept Name anywhere in their metadata can have one at the top.
    last = 0
    while True:
        rows = bind.execute(sa.text(
            "SELECT pk, metadata FROM instances WHERE pk > :last AND concept_code = '' "
            "AND metadata LIKE '%\"0040A043\"%' ORDER BY pk LIMIT :batch"),
            {"last": last, "batch": BATCH}).all()
        if not rows:
            break
        for pk, text in rows:
            last = pk
            try:
                metadata = json.loads(text or "{}")
            except ValueError:
                continue  # unreadable metadata: left for ``dicomkit archive reindex``
            columns = concept_name_columns(metadata if isinstance(metadata, dict) else {})
            if columns["concept_code"] or columns["concept_scheme"]:
                bind.execute(sa.text(
                    "UPDATE instances SET concept_code = :code, concept_scheme = :scheme "
                    "WHERE pk = :pk"),
                    {"code": columns["concept_code"], "scheme": columns["concept_scheme"],
                     "pk": pk})


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_instances_concept")
    # ALTER TABLE … DROP COLUMN works on SQLite 3.35+ and PostgreSQL (no batch table copy).
    op.execute("ALTER TABLE instances DROP COLUMN concept_code")
    op.execute("ALTER TABLE instances DROP COLUMN concept_scheme")
