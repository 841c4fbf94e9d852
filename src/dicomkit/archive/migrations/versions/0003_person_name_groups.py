"""Person names one column per component group (PS3.5 §6.2.1: alphabetic, ideographic,
phonetic), so PS3.4 C.2.2.2.1 / C.2.2.2.4 matching can address each group in SQL: a key
``Yamada*`` matches the alphabetic group of ``Yamada^Tarou=山田^太郎=やまだ^たろう``, a key
``=山田*`` its ideographic group.

``patients.patient_name`` and ``studies.referring_physician`` keep the alphabetic group;
``*_ideographic`` and ``*_phonetic`` are added. Rows indexed before this revision hold the
whole ``A=I=P`` value in the old column: it is split here. (Their level attributes have no
Specific Character Set yet; an answer whose values need one is sent in ISO_IR 192 until
``dicomkit archive reindex`` rewrites them.)

0001 creates the tables from the current schema, so on a new database the columns are there
already: only the missing ones are added.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GROUPED = (("patients", "patient_name"), ("studies", "referring_physician"))
PLAIN_INDEXES = (
    ("ix_patients_name_ideographic", "patients", "patient_name_ideographic"),
    ("ix_patients_name_phonetic", "patients", "patient_name_phonetic"),
)
PATTERN_INDEXES = (  # as 0002: prefix LIKE on PostgreSQL under any collation
    ("ix_patients_name_ideographic_pattern", "patients", "patient_name_ideographic"),
    ("ix_patients_name_phonetic_pattern", "patients", "patient_name_phonetic"),
)


def _split(value: str) -> list[str]:
    groups = value.split("=")[:3]
    return [group.strip()[:324] for group in groups + [""] * (3 - len(groups))]


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table, column in GROUPED:
        present = {c["name"] for c in inspector.get_columns(table)}
        for suffix in ("_ideographic", "_phonetic"):
            if column + suffix not in present:
                op.add_column(table, sa.Column(column + suffix, sa.String(324),
                                               nullable=False, server_default=""))
        rows = bind.execute(sa.text(
            f"SELECT pk, {column} FROM {table} WHERE {column} LIKE '%=%'")).all()
        for pk, value in rows:
            alphabetic, ideographic, phonetic = _split(value)
            bind.execute(sa.text(
                f"UPDATE {table} SET {column} = :a, {column}_ideographic = :i, "
                f"{column}_phonetic = :p WHERE pk = :pk"),
                {"a": alphabetic, "i": ideographic, "p": phonetic, "pk": pk})
    indexes = {i["name"] for i in inspector.get_indexes("patients")}
    for name, table, column in PLAIN_INDEXES:
        if name not in indexes:
            op.create_index(name, table, [column])
    if bind.dialect.name == "postgresql":
        for name, table, column in PATTERN_INDEXES:
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                       f"({column} varchar_pattern_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, _table, _column in PATTERN_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    for name, table, _column in PLAIN_INDEXES:
        op.drop_index(name, table_name=table)
    for table, column in GROUPED:
        bind.execute(sa.text(
            f"UPDATE {table} SET {column} = {column} || '=' || {column}_ideographic || '=' "
            f"|| {column}_phonetic WHERE {column}_ideographic <> '' OR {column}_phonetic <> ''"))
        # Not a batch (table copy) on SQLite: dropping the old patients table would cascade
        # to the studies. ALTER TABLE … DROP COLUMN works on SQLite 3.35+ and PostgreSQL.
        for suffix in ("_ideographic", "_phonetic"):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}{suffix}")
