"""The archive's Modality Performed Procedure Step instances (PS3.4 F.7), kept in the index
(table ``mpps``): the :class:`~dicomkit.services.mpps.MppsRecords` store of
:class:`~dicomkit.services.mpps.MppsSCP`.

One rule, stated once here: an N-CREATE or N-SET is checked (:func:`check_create`,
:func:`apply_set`), kept, linked to its worklist step and queued for forwarding in **one**
database transaction, and only then acknowledged. A SIGKILL after the success response loses
nothing; one before it leaves no half-done change.

- :class:`MppsStore`: create, update, get, list.
- The worklist link (through :class:`dicomkit.archive.worklist.WorklistStore`, its
  ``find_steps`` and ``set_status`` called with this module's transaction, so the step status is
  written in one place): the Scheduled Step Attributes Sequence items name the Scheduled
  Procedure Steps (Accession Number, Requested Procedure ID, Scheduled Procedure Step ID; the Study
  Instance UID must agree when the step has one). Their status follows the MPPS: STARTED at
  N-CREATE, COMPLETED or DISCONTINUED at the final N-SET (PS3.4 F.7.2.1 note: the SCP may
  update the scheduling information), and their ``mpps_uid`` names it. An unscheduled MPPS
  (no Scheduled Procedure Step ID) links nothing.
- Forwarding (``forward_to``): every accepted N-CREATE and N-SET is owed to each of those AE
  titles in the outbox (same transaction) and sent by :class:`MppsForwarder`, in order per
  instance.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from dicomkit.archive.index import ArchiveIndex
from dicomkit.archive.outbox import Outbox, OwedMessage
from dicomkit.archive.schema import as_utc, mpps, utc_now
from dicomkit.archive.worklist import WorklistStore
from dicomkit.core.dataset import Dataset
from dicomkit.encoding.json import from_json, to_json_dict
from dicomkit.services.mpps import (
    COMPLETED,
    DISCONTINUED,
    DUPLICATE_SOP_INSTANCE,
    FINAL_STATES,
    IN_PROGRESS,
    MPPS_SOP_CLASS,
    NO_SUCH_SOP_INSTANCE,
    MppsError,
    apply_set,
    check_create,
)

log = logging.getLogger("dicomkit.archive.mpps")

# Scheduled Procedure Step Status (0040,0020) a worklist step takes as its MPPS goes
# (PS3.3 C.4.10 defined terms STARTED, COMPLETED, DISCONTINUED).
STEP_STATUS = {IN_PROGRESS: "STARTED", COMPLETED: "COMPLETED", DISCONTINUED: "DISCONTINUED"}

MPPS_KIND = "mpps"  # the outbox kind of forwarded N-CREATE / N-SET


@dataclass(frozen=True)
class MppsEntry:
    """One MPPS instance as the index keeps it. ``warning``: the warning status an accepted
    request answers with (0107H / 0116H), None when it is a plain success."""

    sop_uid: str
    status: str
    calling_ae: str
    station_ae: str
    modality: str
    patient_id: str
    patient_name: str
    study_uid: str
    accession_number: str
    start_date: str
    start_time: str
    created: dt.datetime | None
    updated: dt.datetime | None
    attrs: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    warning: MppsError | None = field(default=None, repr=False, compare=False)

    def dataset(self) -> Dataset:
        """The instance: its attributes, SOP Class and Instance UID, in ISO_IR 192."""
        ds = from_json(self.attrs)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID = MPPS_SOP_CLASS
        ds.SOPInstanceUID = self.sop_uid
        return ds

    def summary(self) -> dict[str, Any]:
        """The listing fields, JSON-ready (``dicomkit mpps ls --json``, ``GET /api/mpps``)."""
        return {"sop_uid": self.sop_uid, "status": self.status, "calling_ae": self.calling_ae,
                "station_ae": self.station_ae, "modality": self.modality,
                "patient_id": self.patient_id, "patient_name": self.patient_name,
                "study_uid": self.study_uid, "accession_number": self.accession_number,
                "start_date": self.start_date, "start_time": self.start_time,
                "created": self.created.isoformat() if self.created else None,
                "updated": self.updated.isoformat() if self.updated else None}


def _entry(row: Any, warning: MppsError | None = None) -> MppsEntry:
    return MppsEntry(row.sop_uid, row.status, row.calling_ae, row.station_ae, row.modality,
                     row.patient_id, row.patient_name, row.study_uid, row.accession_number,
                     row.start_date, row.start_time, as_utc(row.created), as_utc(row.updated),
                     json.loads(row.attrs or "{}"), warning)


def _text(ds: Dataset, keyword: str, limit: int) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()[:limit]


def _columns(ds: Dataset) -> dict[str, Any]:
    """The listing keys of a data set (table ``mpps``)."""
    steps = ds.get("ScheduledStepAttributesSequence") or []
    first = steps[0] if steps else Dataset()
    return {"status": _text(ds, "PerformedProcedureStepStatus", 16),
            "station_ae": _text(ds, "PerformedStationAETitle", 16),
            "modality": _text(ds, "Modality", 16),
            "patient_id": _text(ds, "PatientID", 64),
            "patient_name": _text(ds, "PatientName", 324),
            "study_uid": _text(first, "StudyInstanceUID", 64),
            "accession_number": _text(first, "AccessionNumber", 16),
            "start_date": _text(ds, "PerformedProcedureStepStartDate", 8),
            "start_time": _text(ds, "PerformedProcedureStepStartTime", 16)}


class MppsStore:
    """MPPS instances in the archive's index. ``outbox`` and ``forward_to``: the AE titles
    each accepted change is forwarded to (none by default)."""

    def __init__(self, index: ArchiveIndex, *, outbox: Outbox | None = None,
                 forward_to: Sequence[str] = (), worklist: WorklistStore | None = None
                 ) -> None:
        self.index = index
        self.outbox = outbox or Outbox(index)
        self.worklist = worklist or WorklistStore(index)
        self.forward_to: tuple[str, ...] = tuple(forward_to)

    # -- DIMSE -----------------------------------------------------------------------------------
    def create(self, sop_uid: str, data: Dataset, calling_ae: str) -> MppsEntry:
        """PS3.4 F.7.2.1.3: a new instance IN PROGRESS, its worklist steps STARTED. Raises
        :class:`MppsError` (0111H for a UID already known, else what :func:`check_create`
        raises)."""
        checked = check_create(data)
        attrs = to_json_dict(checked.data)
        now = utc_now()
        values = {"sop_uid": sop_uid, "calling_ae": calling_ae[:16], **_columns(checked.data),
                  "attrs": json.dumps(attrs, ensure_ascii=False), "created": now,
                  "updated": now}
        try:
            with self.index.engine.begin() as connection:
                if connection.execute(select(mpps.c.pk).where(mpps.c.sop_uid == sop_uid)
                                      ).first() is not None:
                    raise MppsError(DUPLICATE_SOP_INSTANCE,
                                    f"MPPS {sop_uid} exists already"[:64])
                connection.execute(mpps.insert().values(**values))
                self._link(connection, sop_uid, checked.data, IN_PROGRESS)
                self._forward(connection, sop_uid, "create", data)
        except IntegrityError as exc:  # the same UID created at once by another request
            raise MppsError(DUPLICATE_SOP_INSTANCE,
                            f"MPPS {sop_uid} exists already"[:64]) from exc
        return self._result(sop_uid, checked.warning)

    def update(self, sop_uid: str, data: Dataset) -> MppsEntry:
        """PS3.4 F.7.2.2.3: ``data`` merged into the instance (rules of :func:`apply_set`,
        checked on the row locked in this transaction); at COMPLETED or DISCONTINUED its
        worklist steps follow. Raises :class:`MppsError` (0112H for an unknown UID)."""
        now = utc_now()
        with self.index.engine.begin() as connection:
            row = self._locked(connection, sop_uid)
            if row is None:
                raise MppsError(NO_SUCH_SOP_INSTANCE, f"no MPPS {sop_uid}"[:64])
            current = from_json(json.loads(row.attrs or "{}"))
            checked = apply_set(current, data)
            connection.execute(update(mpps).where(mpps.c.sop_uid == sop_uid).values(
                **_columns(checked.data),
                attrs=json.dumps(to_json_dict(checked.data), ensure_ascii=False),
                updated=now))
            status = _text(checked.data, "PerformedProcedureStepStatus", 16)
            if status in FINAL_STATES:
                self._link(connection, sop_uid, checked.data, status)
            self._forward(connection, sop_uid, "set", data)
        return self._result(sop_uid, checked.warning)

    def _locked(self, connection: Any, sop_uid: str) -> Any:
        """The row, locked until the transaction ends (PostgreSQL: FOR UPDATE; SQLite: a no-op
        write first takes the database's write lock, so no other writer reads it stale)."""
        if self.index.is_sqlite:
            connection.execute(update(mpps).where(mpps.c.sop_uid == sop_uid)
                               .values(updated=mpps.c.updated))
            return connection.execute(select(mpps).where(mpps.c.sop_uid == sop_uid)).first()
        return connection.execute(select(mpps).where(mpps.c.sop_uid == sop_uid)
                                  .with_for_update()).first()

    def _result(self, sop_uid: str, warning: MppsError | None) -> MppsEntry:
        with self.index.engine.connect() as connection:
            row = connection.execute(select(mpps).where(mpps.c.sop_uid == sop_uid)).one()
        return _entry(row, warning)

    # -- worklist link -----------------------------------------------------------------------------
    def _link(self, connection: Any, sop_uid: str, data: Dataset, state: str) -> int:
        """Set the status (and ``mpps_uid``) of the worklist steps the Scheduled Step
        Attributes Sequence names, through the worklist store in the caller's transaction;
        returns how many."""
        status = STEP_STATUS[state]
        linked = 0
        for item in data.get("ScheduledStepAttributesSequence") or []:
            sps_id = _text(item, "ScheduledProcedureStepID", 16)
            if not sps_id:
                continue  # unscheduled (PS3.17 / IHE RAD SWF "unscheduled case")
            study = _text(item, "StudyInstanceUID", 64)
            for step in self.worklist.find_steps(
                    sps_id=sps_id, accession_number=_text(item, "AccessionNumber", 16),
                    requested_procedure_id=_text(item, "RequestedProcedureID", 16),
                    connection=connection):
                if step.study_uid and study and step.study_uid != study:
                    continue
                self.worklist.set_status(step.key, status, mpps_uid=sop_uid,
                                         connection=connection)
                linked += 1
        return linked

    # -- forwarding --------------------------------------------------------------------------------
    def _forward(self, connection: Any, sop_uid: str, operation: str, data: Dataset) -> None:
        for destination in self.forward_to:
            self.outbox.add(MPPS_KIND, destination, sop_uid,
                            {"operation": operation, "data": to_json_dict(data)},
                            connection=connection)

    # -- reading -------------------------------------------------------------------------------------
    def get(self, sop_uid: str) -> MppsEntry | None:
        with self.index.engine.connect() as connection:
            row = connection.execute(select(mpps).where(mpps.c.sop_uid == sop_uid)).first()
        return _entry(row) if row is not None else None

    def entries(self, *, status: str | None = None, date: str | None = None,
                station: str | None = None, limit: int | None = None) -> list[MppsEntry]:
        """Instances, most recently started first. ``date``: a start date YYYYMMDD or a range
        (``A-B``, ``A-``, ``-B``, PS3.4 C.2.2.2.5)."""
        query = select(mpps)
        if status:
            query = query.where(mpps.c.status == status.upper())
        if station:
            query = query.where(mpps.c.station_ae == station)
        if date:
            low, dash, high = date.partition("-")
            if not dash:
                query = query.where(mpps.c.start_date == low)
            else:
                if low:
                    query = query.where(mpps.c.start_date >= low)
                if high:
                    query = query.where(mpps.c.start_date <= high)
        query = query.order_by(mpps.c.start_date.desc(), mpps.c.start_time.desc(),
                               mpps.c.pk.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.index.engine.connect() as connection:
            return [_entry(row) for row in connection.execute(query)]


def check_date_range(text: str) -> str:
    """A start date filter (YYYYMMDD, or a range with '-'); ValueError naming it otherwise."""
    low, dash, high = text.partition("-")
    for part in (low, high):
        if part and not (len(part) == 8 and part.isdigit()):
            raise ValueError(f"date {text!r}: expected YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    if not (low or high):
        raise ValueError(f"date {text!r}: expected YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    return text if dash else low


class MppsForwarder:
    """Sends owed MPPS changes (outbox kind ``mpps``) to the peers: N-CREATE or N-SET on an
    association from ``ae_title`` to the destination AE title at its ``peers`` address. A
    change waits while an earlier one of the same instance to the same peer is owed (order per
    instance); an N-CREATE the peer answers 0111H (it has it: an earlier delivery whose
    acknowledgement was lost) counts as delivered."""

    def __init__(self, outbox: Outbox, peers: dict[str, tuple[str, int]],
                 ae_title: str) -> None:
        self.outbox = outbox
        self.peers = peers
        self.ae_title = ae_title

    async def send(self, message: OwedMessage) -> None:
        import asyncio

        from dicomkit.net.client import connect
        from dicomkit.net.dimse import Status
        from dicomkit.net.uids import UNCOMPRESSED_TS

        earlier = await asyncio.to_thread(self.outbox.messages, MPPS_KIND, message.reference,
                                          owed_only=True)
        if any(m.pk < message.pk and m.destination == message.destination for m in earlier):
            raise RuntimeError("an earlier change of this MPPS is still owed to "
                               f"{message.destination}")
        address = self.peers.get(message.destination)
        if address is None:
            raise RuntimeError(f"no peer {message.destination!r} (serve --peer NAME=HOST:PORT)")
        data = from_json(message.payload.get("data") or {})
        operation = message.payload.get("operation")
        async with connect(address[0], address[1], calling_aet=self.ae_title,
                           called_aet=message.destination,
                           contexts=[(MPPS_SOP_CLASS, UNCOMPRESSED_TS)]) as client:
            if operation == "create":
                status, _, _ = await client.n_create(MPPS_SOP_CLASS, message.reference, data)
                if status == DUPLICATE_SOP_INSTANCE:
                    return
            else:
                status, _, _ = await client.n_set(MPPS_SOP_CLASS, message.reference, data)
        if Status.category(status) not in ("Success", "Warning"):
            raise RuntimeError(f"{message.destination} answered N-"
                               f"{'CREATE' if operation == 'create' else 'SET'} "
                               f"with status 0x{status:04X}")
