"""The index schema: one table per Query/Retrieve level (PS3.4 C.6.1.1, C.6.2.1).

Indexed keys are columns (a person name one column per component group, PS3.5 §6.2.1, so
PS3.4 C.2.2.2 matching can address each group); each row also keeps its level's attributes as DICOM JSON (``attrs``)
and each instance its whole metadata with bulk data left out (``metadata``), so return keys and
DICOMweb metadata never need the files. The same schema serves SQLite and PostgreSQL; alembic
migrations under ``migrations/`` create and evolve it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.sql import FromClause

metadata = MetaData()


def utc_now() -> dt.datetime:
    """The moment to store in a ``DateTime(timezone=True)`` column: now, in UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A ``DateTime(timezone=True)`` value read back, always aware: SQLite gives back naive
    datetimes, and they were stored in UTC (:func:`utc_now`)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value

patients = Table(
    "patients", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("patient_id", String(64), nullable=False, default=""),
    Column("issuer", String(64), nullable=False, default=""),
    Column("patient_name", String(324), nullable=False, default=""),  # alphabetic group
    Column("patient_name_ideographic", String(324), nullable=False, default="",
           server_default=""),
    Column("patient_name_phonetic", String(324), nullable=False, default="", server_default=""),
    Column("birth_date", String(8), nullable=False, default=""),
    Column("sex", String(16), nullable=False, default=""),
    Column("attrs", Text, nullable=False, default="{}"),
    # ``attrs`` pre-encoded for C-FIND answers (services.identifiers.level_fragment); NULL:
    # not yet (a row written before 0010 and not backfilled), the general route answers.
    Column("dimse", LargeBinary, nullable=True),
    UniqueConstraint("patient_id", "issuer", name="uq_patient"),
)

studies = Table(
    "studies", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("patient_pk", Integer, ForeignKey("patients.pk", ondelete="CASCADE"), nullable=False),
    Column("study_uid", String(64), nullable=False, unique=True),
    Column("study_date", String(8), nullable=False, default=""),
    Column("study_time", String(16), nullable=False, default=""),
    Column("accession_number", String(16), nullable=False, default=""),
    Column("study_id", String(16), nullable=False, default=""),
    Column("study_description", String(64), nullable=False, default=""),
    Column("referring_physician", String(324), nullable=False, default=""),  # alphabetic
    Column("referring_physician_ideographic", String(324), nullable=False, default="",
           server_default=""),
    Column("referring_physician_phonetic", String(324), nullable=False, default="",
           server_default=""),
    Column("modalities", String(256), nullable=False, default=""),  # "\CT\MR\" for LIKE
    Column("sop_classes", Text, nullable=False, default=""),
    Column("attrs", Text, nullable=False, default="{}"),
    Column("dimse", LargeBinary, nullable=True),  # as patients.dimse
    Column("created", DateTime(timezone=True)),
    Column("updated", DateTime(timezone=True)),
)

series = Table(
    "series", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("study_pk", Integer, ForeignKey("studies.pk", ondelete="CASCADE"), nullable=False),
    Column("series_uid", String(64), nullable=False, unique=True),
    Column("modality", String(16), nullable=False, default=""),
    Column("series_number", Integer),
    Column("series_description", String(64), nullable=False, default=""),
    Column("body_part", String(16), nullable=False, default=""),
    Column("institution", String(64), nullable=False, default=""),
    Column("station_name", String(16), nullable=False, default=""),
    Column("series_date", String(8), nullable=False, default=""),
    Column("attrs", Text, nullable=False, default="{}"),
)

instances = Table(
    "instances", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("series_pk", Integer, ForeignKey("series.pk", ondelete="CASCADE"), nullable=False),
    Column("sop_uid", String(64), nullable=False, unique=True),
    Column("sop_class", String(64), nullable=False, default=""),
    Column("instance_number", Integer),
    Column("transfer_syntax", String(64), nullable=False, default=""),
    Column("path", String(512), nullable=False),
    Column("size", BigInteger, nullable=False, default=0),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", DateTime(timezone=True)),
    # The document's root Concept Name Code Sequence (0040,A043) item, Code Value and Coding
    # Scheme Designator (SR, KOS, Encapsulated documents: PS3.3 C.17.3, C.24.2): an optional
    # Composite Object Instance level key (PS3.4 Table C.6-4) matched in SQL (migration 0006).
    Column("concept_code", String(64), nullable=False, default="", server_default=""),
    Column("concept_scheme", String(16), nullable=False, default="", server_default=""),
)

Index("ix_patients_name", patients.c.patient_name)
Index("ix_patients_name_ideographic", patients.c.patient_name_ideographic)
Index("ix_patients_name_phonetic", patients.c.patient_name_phonetic)
Index("ix_studies_patient", studies.c.patient_pk)
Index("ix_studies_date", studies.c.study_date)
Index("ix_studies_accession", studies.c.accession_number)
Index("ix_studies_updated", studies.c.updated)  # migration 0005: the IAN scan
Index("ix_series_study", series.c.study_pk)
Index("ix_series_modality", series.c.modality)
Index("ix_instances_series", instances.c.series_pk)
Index("ix_instances_concept", instances.c.concept_code, instances.c.concept_scheme)  # 0006


# The hierarchy bottom up (PS3.4 C.6.1.1: patient > study > series > instance), each table with
# the condition of its foreign key that joins it to the table above: the one join graph of the
# index.
HIERARCHY: tuple[tuple[Table, Any], ...] = (
    (instances, instances.c.series_pk == series.c.pk),
    (series, series.c.study_pk == studies.c.pk),
    (studies, studies.c.patient_pk == patients.c.pk),
    (patients, None),
)


def lineage(table: Table) -> list[Table]:
    """``table`` and the tables above it, bottom up."""
    tables = [t for t, _on in HIERARCHY]
    return tables[tables.index(table):]


def joined(table: Table, levels_above: int) -> FromClause:
    """``table`` joined with the ``levels_above`` tables above it (0: the table alone)."""
    first = [t for t, _on in HIERARCHY].index(table)
    result: FromClause = table
    for below in range(first, first + levels_above):
        result = result.join(HIERARCHY[below + 1][0], HIERARCHY[below][1])
    return result


# -- workflow (PS3.4 Annexes K, F, J, R): migration 0004 -----------------------------------------

# One row per Scheduled Procedure Step (PS3.4 K.6.1: a Modality Worklist C-FIND answers one
# response per step) with its Requested Procedure, Imaging Service Request, Patient and Visit
# attributes in ``attrs`` (DICOM JSON, the step as the only item of its Scheduled Procedure
# Step Sequence). The matching keys of K.6.1.2.2 are columns; person names one per group.
worklist_items = Table(
    "worklist_items", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("sps_id", String(16), nullable=False, default=""),
    Column("requested_procedure_id", String(16), nullable=False, default=""),
    Column("accession_number", String(16), nullable=False, default=""),
    Column("study_uid", String(64), nullable=False, default=""),
    Column("patient_id", String(64), nullable=False, default=""),
    Column("issuer", String(64), nullable=False, default=""),
    Column("patient_name", String(324), nullable=False, default=""),
    Column("patient_name_ideographic", String(324), nullable=False, default=""),
    Column("patient_name_phonetic", String(324), nullable=False, default=""),
    Column("birth_date", String(8), nullable=False, default=""),
    Column("sex", String(16), nullable=False, default=""),
    Column("modality", String(16), nullable=False, default=""),
    Column("station_ae", String(16), nullable=False, default=""),
    Column("station_name", String(16), nullable=False, default=""),
    Column("start_date", String(8), nullable=False, default=""),
    Column("start_time", String(16), nullable=False, default=""),
    Column("performing_physician", String(324), nullable=False, default=""),
    Column("performing_physician_ideographic", String(324), nullable=False, default=""),
    Column("performing_physician_phonetic", String(324), nullable=False, default=""),
    # SCHEDULED, ARRIVED, READY (offered), STARTED, COMPLETED, DISCONTINUED, CANCELLED
    Column("status", String(16), nullable=False, default="SCHEDULED"),
    Column("mpps_uid", String(64), nullable=False, default=""),  # the step's MPPS, once begun
    Column("attrs", Text, nullable=False, default="{}"),
    Column("created", DateTime(timezone=True)),
    Column("updated", DateTime(timezone=True)),
    UniqueConstraint("accession_number", "requested_procedure_id", "sps_id",
                     name="uq_worklist_step"),
)

# Modality Performed Procedure Step SOP Instances (PS3.4 F.7): the whole data set as DICOM
# JSON, its state (IN PROGRESS, COMPLETED, DISCONTINUED) and keys for listing.
mpps = Table(
    "mpps", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("sop_uid", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False, default="IN PROGRESS"),
    Column("calling_ae", String(16), nullable=False, default=""),
    Column("station_ae", String(16), nullable=False, default=""),
    Column("modality", String(16), nullable=False, default=""),
    Column("patient_id", String(64), nullable=False, default=""),
    Column("patient_name", String(324), nullable=False, default=""),
    Column("study_uid", String(64), nullable=False, default=""),
    Column("accession_number", String(16), nullable=False, default=""),
    Column("start_date", String(8), nullable=False, default=""),
    Column("start_time", String(16), nullable=False, default=""),
    Column("attrs", Text, nullable=False, default="{}"),
    Column("created", DateTime(timezone=True)),
    Column("updated", DateTime(timezone=True)),
)

# Messages the archive owes a peer, kept until delivered (a restart loses none): Storage
# Commitment reports (PS3.4 J.3.3), MPPS forwarding (F.7), Instance Availability Notifications
# (R). ``kind`` names the sender, ``destination`` the peer (its AE title, looked up in the
# configured peers), ``reference`` the transaction / MPPS / study UID, ``payload`` JSON.
outbox = Table(
    "outbox", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("destination", String(64), nullable=False, default=""),
    Column("reference", String(64), nullable=False, default=""),
    Column("payload", Text, nullable=False, default="{}"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", DateTime(timezone=True)),
    Column("last_error", Text, nullable=False, default=""),
    Column("created", DateTime(timezone=True)),
    Column("delivered", DateTime(timezone=True)),  # NULL while owed
)

# When each study's Instance Availability Notification was last sent (PS3.4 R): a study is
# notified again when instances arrive after that.
study_notifications = Table(
    "study_notifications", metadata,
    Column("study_uid", String(64), primary_key=True),
    Column("notified", DateTime(timezone=True), nullable=False),
)

Index("ix_worklist_station_date", worklist_items.c.station_ae, worklist_items.c.start_date)
Index("ix_worklist_date", worklist_items.c.start_date)
Index("ix_worklist_patient", worklist_items.c.patient_id)
Index("ix_worklist_accession", worklist_items.c.accession_number)
Index("ix_worklist_status", worklist_items.c.status)
Index("ix_worklist_study", worklist_items.c.study_uid)
Index("ix_mpps_status", mpps.c.status)
Index("ix_outbox_owed", outbox.c.delivered, outbox.c.next_attempt)
Index("ix_outbox_reference", outbox.c.reference)

WORKFLOW_TABLES = (worklist_items, mpps, outbox, study_notifications)

# -- inventories (Supplement 223, PS3.4 KK.2): migration 0007 ------------------------------------

# One row per Inventory Creation transaction: the request (level, scope as DICOM JSON), its
# production state (PS3.4 KK.2.1.1: PROCESSING, PAUSED, COMPLETE, FAILURE, CANCELED), who
# produces it (``worker``, claimed by a conditional update so several serve nodes never both
# do) and, once COMPLETE, the root Inventory SOP Instance and where its files are.
inventory_jobs = Table(
    "inventory_jobs", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("transaction_uid", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False, default="PROCESSING"),
    Column("level", String(16), nullable=False, default="STUDY"),
    Column("scope", Text, nullable=False, default="{}"),
    Column("purpose", Text, nullable=False, default=""),
    Column("comment", Text, nullable=False, default=""),
    Column("requestor", String(16), nullable=False, default=""),
    Column("worker", String(64), nullable=False, default=""),
    Column("root_uid", String(64), nullable=False, default=""),
    Column("folder", String(512), nullable=False, default=""),
    Column("studies", Integer, nullable=False, default=0),
    Column("created", DateTime(timezone=True)),
    Column("updated", DateTime(timezone=True)),
)
Index("ix_inventory_jobs_status", inventory_jobs.c.status)

INVENTORY_TABLES = (inventory_jobs,)

# Inventory SOP Instances the archive keeps (Inventory Storage, PS3.4 GG; produced by Inventory
# Creation or received by C-STORE): an Inventory has no Patient or Study (PS3.3 A.88), so it is
# kept here, not in the patient tables. ``path`` is relative to the data folder; ``attrs`` the
# Inventory IE attributes as DICOM JSON (the Inventoried Studies and Incorporated Inventory
# Instance Sequences left out) that the Inventory Q/R C-FIND (PS3.4 JJ) answers from.
inventory_instances = Table(
    "inventory_instances", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("sop_uid", String(64), nullable=False, unique=True),
    Column("sop_class", String(64), nullable=False),
    Column("transfer_syntax", String(64), nullable=False, default=""),
    Column("path", String(1024), nullable=False),
    Column("size", BigInteger, nullable=False, default=0),
    Column("transaction_uid", String(64), nullable=False, default=""),
    Column("source", String(16), nullable=False, default="received"),
    Column("attrs", Text, nullable=False, default="{}"),
    Column("created", DateTime(timezone=True)),
)
Index("ix_inventory_instances_transaction", inventory_instances.c.transaction_uid)

INVENTORY_STORAGE_TABLES = (inventory_instances,)
