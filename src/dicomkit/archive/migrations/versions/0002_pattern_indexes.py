"""PostgreSQL: indexes that serve wild card matching (PS3.4 C.2.2.2.4) on the keys most often
searched with a trailing ``*``: Patient's Name, Patient ID, Accession Number.

A prefix ``LIKE 'SMITH%'`` can use a plain B-tree index only when the database collation is
"C"; under any other collation (C.UTF-8, en_US.UTF-8, the usual ones) PostgreSQL scans the
table. An index with the ``varchar_pattern_ops`` operator class compares byte-wise and serves
prefix matches under every collation. SQLite needs none: the index uses
``PRAGMA case_sensitive_like=ON`` to range-scan its plain indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PATTERN_INDEXES = (
    ("ix_patients_name_pattern", "patients", "patient_name"),
    ("ix_patients_id_pattern", "patients", "patient_id"),
    ("ix_studies_accession_pattern", "studies", "accession_number"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, column in PATTERN_INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column} varchar_pattern_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _table, _column in PATTERN_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
