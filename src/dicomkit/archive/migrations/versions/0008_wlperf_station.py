"""Worklist items scheduled on several stations: ``worklist_items.station_ae`` holds a lone
``\\`` for every one of them (before: the titles joined by ``\\`` when they fitted in 16
characters, else the lone ``\\``).

The Modality Worklist query on a station (:mod:`dicomkit.archive.worklist_matching`) then
selects ``station_ae = 'CT1' OR station_ae = '\\'``, which SQLite and PostgreSQL answer from
the (station_ae, start_date) index, instead of ``… OR station_ae LIKE '%\\%'``, which made them
read every step of the day; the stored titles decide for the multi-station rows, as before.

The downgrade leaves the lone ``\\``: the earlier code finds those rows with its ``LIKE`` too.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ESCAPE '!': a backslash is a plain character in the pattern on both databases
    op.get_bind().execute(
        sa.text("UPDATE worklist_items SET station_ae = :lone "
                "WHERE station_ae LIKE :pattern ESCAPE '!' AND station_ae <> :lone"),
        {"lone": "\\", "pattern": "%\\%"})


def downgrade() -> None:
    pass
