"""Supplement 223 on the archive: Repository Query records and Inventory production.

- :class:`ArchiveRepository`: the index as a Repository Query SCP's
  :class:`~dicomkit.services.inventory.RepositoryData`: identifiers compiled by
  :mod:`dicomkit.archive.matching` (the one engine), matches a page at a time in the order of
  their level's key (the Record Key), with the storage attributes of PS3.4 Table C.6.4.1-1
  the index knows (Stored Instance Transfer Syntax UID, File Access URI, Study Update
  DateTime).
- :func:`produce`: an Inventory (PS3.3 A.88) of the Studies matching a Scope of Inventory,
  streamed from the index study page by study page, series by series, into a
  :class:`~dicomkit.iod.inventory.TreeWriter` (leaves written as they fill): memory is bounded
  by one leaf and the largest Study, not by the archive.
- :class:`ArchiveInventoryJobs`: Inventory Creation transactions kept in the index
  (``inventory_jobs``, migration 0007); :class:`InventoryWorker` produces them as background
  work of ``dicomkit serve``, looking at the job's state between studies (Pause, Cancel).
  The files of a completed inventory are kept under ``DATA/inventories/<Transaction UID>/``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

import dicomkit.durable as durable
from dicomkit.archive.index import Record
from dicomkit.archive.inventory_store import InventoryArchive
from dicomkit.archive.matching import CompiledQuery, QueryError, compile_query
from dicomkit.archive.outbox import Outbox, OwedMessage
from dicomkit.archive.schema import inventory_jobs, utc_now
from dicomkit.archive.schema import series as series_table
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.encoding.json import from_json, to_json
from dicomkit.encoding.writer import to_bytes
from dicomkit.iod.inventory import (
    DEFAULT_MAX_RECORDS,
    InventoryHeader,
    TreeWriter,
)
from dicomkit.services.inventory import (
    CANCELED,
    COMPLETE,
    FAILURE,
    PAUSED,
    PROCESSING,
    TERMINAL,
    InventoryCreationSCP,
    InventoryJob,
    RepositoryQuerySCP,
    RepositoryRecord,
    send_event,
    terminal_event,
)
from dicomkit.services.inventory_qr import InventoryQueryRetrieveSCP
from dicomkit.services.qr import IdentifierError

if TYPE_CHECKING:
    from dicomkit.archive.scp import ArchiveHandler

log = logging.getLogger("dicomkit.archive.inventory")

PAGE = 200  # studies per index page
# The attributes an Inventoried Studies / Series Sequence item carries from the index
# (PS3.3 C.38.1: selected Patient, Study and Series attributes of each inventoried entity).
STUDY_KEYS = ("00100010", "00100020", "00100021", "00100030", "00100040",  # patient
              "0020000D", "00080020", "00080030", "00080050", "00200010", "00081030",
              "00080090", "00080061", "00080062", "00201206", "00201208")
SERIES_KEYS = ("0020000E", "00080060", "00200011", "0008103E", "00080021", "00201209")


def _dt_value(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.strftime("%Y%m%d%H%M%S.%f%z")


def file_uri(archive: Archive, relative: str) -> str:
    """File Access URI (0008,0409) of a stored instance: its file as a ``file:`` URI."""
    return Path(archive.absolute(relative)).as_uri()


class ArchiveRepository:
    """The index as :class:`~dicomkit.services.inventory.RepositoryData`."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def compile(self, identifier: Dataset) -> CompiledQuery:
        try:
            return compile_query(identifier, "study")
        except QueryError as exc:
            raise IdentifierError(str(exc)) from exc

    def page(self, query: Any, after: int,
             limit: int) -> tuple[list[RepositoryRecord], int | None]:
        found = self.archive.index.records(query, after=after, limit=limit)
        return [RepositoryRecord(r.pk, r.attrs, self.repository(r)) for r in found.records], \
            found.last

    def repository(self, record: Record) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if record.path is not None:
            out["00080409"] = {"vr": "UR", "Value": [file_uri(self.archive, record.path)]}
            if record.transfer_syntax:
                out["0008040E"] = {"vr": "UI", "Value": [record.transfer_syntax]}
        if record.updated is not None:
            out["0008041F"] = {"vr": "DT", "Value": [_dt_value(record.updated)]}
        return out


# -- production ---------------------------------------------------------------------------------
def scope_query(scope: Dataset | None, level: str = "STUDY") -> CompiledQuery:
    """The Scope of Inventory (C.38.2) as a STUDY level query (PS3.4 KK.2.2.1.1: its keys are
    matched against the Studies as C.2.2.2 says)."""
    identifier = Dataset()
    if scope is not None:
        for element in scope:
            if element.tag in (0x00080005, 0x00080201):
                continue
            identifier.set(element.tag, element.value, element.VR)
    identifier.QueryRetrieveLevel = level
    identifier.NumberOfStudyRelatedSeries = None
    identifier.NumberOfStudyRelatedInstances = None
    return compile_query(identifier, "study")


def _pick(attrs: dict[str, Any], keys: tuple[str, ...]) -> Dataset:
    return from_json({k: attrs[k] for k in keys if k in attrs})


def study_records(archive: Archive, scope: Dataset | None) -> Iterator[Record]:
    """The Studies in scope, a page at a time, in key order."""
    query = scope_query(scope)
    after = 0
    while True:
        page = archive.index.records(query, after=after, limit=PAGE)
        yield from page.records
        if page.last is None:
            return
        after = page.last


def study_item(archive: Archive, record: Record, level: str, *, retrieve_ae: str,
               file_uris: bool) -> tuple[Dataset, int]:
    """One Inventoried Studies Sequence item and the records it holds."""
    item = _pick(record.attrs, STUDY_KEYS)
    item.ItemInventoryDateTime = _dt_value(dt.datetime.now(dt.UTC))
    item.RemovedFromOperationalUse = "N"
    if record.updated is not None:
        item.StudyUpdateDateTime = _dt_value(record.updated)
    if retrieve_ae:
        item.RetrieveAETitle = retrieve_ae
    item.InstanceAvailability = "ONLINE"
    records = 1
    if level != "STUDY":
        series_items = []
        identifier = Dataset()
        identifier.QueryRetrieveLevel = "SERIES"
        identifier.StudyInstanceUID = str(item.StudyInstanceUID)
        identifier.NumberOfSeriesRelatedInstances = None
        query = compile_query(identifier, "study")
        after = 0
        while True:
            page = archive.index.records(query, after=after, limit=PAGE)
            for series_record in page.records:
                series_item = _pick(series_record.attrs, SERIES_KEYS)
                series_item.RemovedFromOperationalUse = "N"
                records += 1
                if level == "INSTANCE":
                    rows = archive.index.instances_of([series_table.c.pk == series_record.pk])
                    instance_items = []
                    for row in rows:
                        instance = Dataset()
                        instance.SOPClassUID = row.sop_class
                        instance.SOPInstanceUID = row.sop_uid
                        instance.RemovedFromOperationalUse = "N"
                        if row.transfer_syntax:
                            instance.StoredInstanceTransferSyntaxUID = row.transfer_syntax
                        if file_uris:
                            instance.FileAccessURI = file_uri(archive, row.path)
                        instance_items.append(instance)
                    records += len(instance_items)
                    series_item.InventoriedInstancesSequence = instance_items
                series_items.append(series_item)
            if page.last is None:
                break
            after = page.last
        item.InventoriedSeriesSequence = series_items
    return item, records


class Stopped(Exception):
    """Production was paused or canceled (the job's state says which)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def produce(archive: Archive, header: InventoryHeader, sink: Callable[[Dataset], None], *,
            retrieve_ae: str = "", file_uris: bool = True,
            max_records: int = DEFAULT_MAX_RECORDS,
            carry_on: Callable[[], str] | None = None,
            progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Produce the inventory of ``header`` (its scope and level) into ``sink``; returns the
    root SOP Instance UID and the number of Study records. ``carry_on`` is asked between
    pages of studies and returns the job's state: anything but PROCESSING stops with
    :class:`Stopped`."""
    writer = TreeWriter(header, sink, max_records=max_records)
    count = 0
    for record in study_records(archive, header.scope):
        item, records = study_item(archive, record, header.level, retrieve_ae=retrieve_ae,
                                   file_uris=file_uris)
        writer.add(item, records)
        count += 1
        if count % PAGE == 0:
            if carry_on is not None:
                state = carry_on()
                if state != PROCESSING:
                    raise Stopped(state)
            if progress is not None:
                progress(count)
    return writer.finish(), count


class DirectorySink:
    """Writes each Inventory SOP Instance as ``<SOP Instance UID>.dcm`` in a folder, durably
    (a synced temporary file renamed into place, the folder synced: :mod:`dicomkit.durable`)."""

    def __init__(self, folder: str, *, fsync: bool = True) -> None:
        self.folder = folder
        self.fsync = fsync
        self.paths: list[str] = []
        os.makedirs(folder, exist_ok=True)

    def __call__(self, ds: Dataset) -> None:
        path = os.path.join(self.folder, f"{ds.SOPInstanceUID}.dcm")
        temporary = durable.write_temporary(self.folder, to_bytes(ds), fsync=self.fsync)
        durable.place(temporary, path, fsync=self.fsync, folders=[self.folder])
        self.paths.append(path)


def create_inventory(archive: Archive, out_dir: str, *, level: str = "STUDY",
                     scope: Dataset | None = None, purpose: str = "",
                     retrieve_ae: str = "", max_records: int = DEFAULT_MAX_RECORDS,
                     progress: Callable[[int], None] | None = None) -> tuple[str, list[str]]:
    """``dicomkit inventory create``: the inventory of the archive (or of ``scope``) written
    into ``out_dir``; the root's UID and the files written (the root last)."""
    header = InventoryHeader(level=level, scope=scope, purpose=purpose)
    sink = DirectorySink(out_dir)
    root, _count = produce(archive, header, sink, retrieve_ae=retrieve_ae,
                           max_records=max_records, progress=progress)
    return root, sink.paths


# -- Inventory Creation transactions -------------------------------------------------------------
EVENT_KIND = "inventory"  # outbox kind of the Inventory Creation N-EVENT-REPORTs (KK.2.3)


class ArchiveInventoryJobs:
    """Inventory Creation transactions in the index (:class:`InventoryJobs`). With ``outbox``,
    a job that reaches a terminal state (COMPLETE, FAILURE, CANCELED) owes its requestor the
    N-EVENT-REPORT of KK.2.3.2, in the same transaction as the state change, when the
    requestor is one of ``peers`` (the delivery loop sends it on a new association)."""

    def __init__(self, archive: Archive, *, outbox: Outbox | None = None,
                 peers: Mapping[str, tuple[str, int]] | None = None,
                 kick: Callable[[], None] | None = None) -> None:
        self.archive = archive
        self.engine = archive.index.engine
        self.outbox = outbox
        self.peers = peers if peers is not None else {}
        self.kick = kick

    def owe_event(self, connection: Any, transaction_uid: str) -> bool:
        """Owe the terminal event of a job to its requestor (inside ``connection``'s
        transaction); False when nothing is owed (no outbox, or the requestor is no peer)."""
        if self.outbox is None:
            return False
        row = connection.execute(select(inventory_jobs.c.requestor).where(
            inventory_jobs.c.transaction_uid == transaction_uid)).first()
        requestor = (row.requestor if row is not None else "").strip()
        if not requestor or requestor not in self.peers:
            return False
        self.outbox.add(EVENT_KIND, requestor, transaction_uid, {}, connection=connection)
        return True

    def _kick(self, owed: bool) -> None:
        if owed and self.kick is not None:
            self.kick()

    def check_scope(self, scope: Dataset | None) -> None:
        try:
            scope_query(scope)
        except QueryError as exc:
            raise IdentifierError(str(exc)) from exc

    def create(self, job: InventoryJob) -> bool:
        with self.engine.begin() as connection:
            known = connection.execute(select(inventory_jobs.c.pk).where(
                inventory_jobs.c.transaction_uid == job.transaction_uid)).first()
            if known is not None:
                return False
            connection.execute(inventory_jobs.insert().values(
                transaction_uid=job.transaction_uid, status=PROCESSING, level=job.level,
                scope=json.dumps(to_json(job.scope)) if job.scope is not None else "{}",
                purpose=job.purpose, requestor=job.requestor, worker="", created=utc_now(),
                updated=utc_now()))
        return True

    @staticmethod
    def _job(row: Any) -> InventoryJob:
        scope = json.loads(row.scope or "{}")
        return InventoryJob(row.transaction_uid, row.level, from_json(scope) if scope else None,
                            row.purpose, row.status, row.comment, row.requestor, row.root_uid,
                            int(row.studies or 0))

    def get(self, transaction_uid: str) -> InventoryJob | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(inventory_jobs).where(
                inventory_jobs.c.transaction_uid == transaction_uid)).first()
        return None if row is None else self._job(row)

    def state(self, transaction_uid: str) -> str:
        job = self.get(transaction_uid)
        return job.status if job is not None else CANCELED

    def transition(self, transaction_uid: str, moves: dict[str, str]) -> InventoryJob | None:
        owed = False
        with self.engine.begin() as connection:
            for source, target in moves.items():
                values: dict[str, Any] = {"status": target, "updated": utc_now()}
                if target == PROCESSING:
                    values["worker"] = ""  # resumed: any node may take it up again
                changed = connection.execute(inventory_jobs.update().where(
                    inventory_jobs.c.transaction_uid == transaction_uid,
                    inventory_jobs.c.status == source).values(**values))
                if changed.rowcount and target in TERMINAL:
                    owed = self.owe_event(connection, transaction_uid) or owed
        self._kick(owed)
        return self.get(transaction_uid)

    def claim(self, worker: str) -> InventoryJob | None:
        """A PROCESSING job nobody produces, now ours (a conditional update: one node wins)."""
        with self.engine.begin() as connection:
            rows = connection.execute(select(inventory_jobs.c.pk).where(
                inventory_jobs.c.status == PROCESSING, inventory_jobs.c.worker == "")
                .order_by(inventory_jobs.c.pk).limit(1)).all()
            for (pk,) in rows:
                taken = connection.execute(inventory_jobs.update().where(
                    inventory_jobs.c.pk == pk, inventory_jobs.c.worker == "")
                    .values(worker=worker, updated=utc_now()))
                if taken.rowcount == 1:
                    row = connection.execute(select(inventory_jobs).where(
                        inventory_jobs.c.pk == pk)).one()
                    return self._job(row)
        return None

    def finish(self, transaction_uid: str, status: str, *, comment: str = "",
               root_uid: str = "", folder: str = "", studies: int = 0) -> None:
        """The end of production (only from PROCESSING: a cancel that came first stands)."""
        owed = False
        with self.engine.begin() as connection:
            changed = connection.execute(inventory_jobs.update().where(
                inventory_jobs.c.transaction_uid == transaction_uid,
                inventory_jobs.c.status == PROCESSING).values(
                status=status, comment=comment[:1024], root_uid=root_uid, folder=folder,
                studies=studies, updated=utc_now()))
            if changed.rowcount:
                owed = self.owe_event(connection, transaction_uid)
        self._kick(owed)

    def release(self, transaction_uid: str) -> None:
        """Production stopped (paused): the worker lets the job go."""
        with self.engine.begin() as connection:
            connection.execute(inventory_jobs.update().where(
                inventory_jobs.c.transaction_uid == transaction_uid).values(
                worker="", updated=utc_now()))

    def folder(self, transaction_uid: str) -> str:
        return os.path.join(self.archive.data_dir, "inventories", transaction_uid)


class InventoryWorker:
    """Produces the kept Inventory Creation jobs, one at a time (background work of
    ``dicomkit serve``). A paused job is let go and produced again from the start when it
    is resumed; a canceled or failed one leaves no files."""

    def __init__(self, jobs: ArchiveInventoryJobs, *, ae_title: str, poll: float = 0.5,
                 max_records: int = DEFAULT_MAX_RECORDS,
                 kept: InventoryArchive | None = None) -> None:
        self.jobs = jobs
        # the kept Inventory SOP Instances (Inventory Storage): a completed inventory's files
        # are registered there before the job is COMPLETE
        self.kept = kept
        self.ae_title = ae_title
        self.poll = poll
        self.max_records = max_records
        self.name = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def work_once(self) -> bool:
        """Produce one claimed job; False when none was waiting (blocking)."""
        job = self.jobs.claim(self.name)
        if job is None:
            return False
        folder = self.jobs.folder(job.transaction_uid)
        if self.kept is not None:
            self.kept.forget(job.transaction_uid)
        shutil.rmtree(folder, ignore_errors=True)
        header = InventoryHeader(level=job.level, scope=job.scope,
                                 transaction_uid=job.transaction_uid, purpose=job.purpose)
        archive = self.jobs.archive
        sink = DirectorySink(folder, fsync=archive.fsync)
        try:
            root, count = produce(archive, header, sink,
                                  retrieve_ae=self.ae_title, max_records=self.max_records,
                                  carry_on=lambda: self.jobs.state(job.transaction_uid))
            if self.kept is not None:
                self.kept.register(sink.paths, job.transaction_uid)
        except Stopped as stop:
            shutil.rmtree(folder, ignore_errors=True)
            if stop.status == PAUSED:
                self.jobs.release(job.transaction_uid)
            log.info("inventory %s %s", job.transaction_uid, stop.status.lower())
            return True
        except Exception as exc:  # noqa: BLE001 - a failed production is the job's FAILURE
            log.exception("inventory %s failed", job.transaction_uid)
            if self.kept is not None:
                self.kept.forget(job.transaction_uid)
            shutil.rmtree(folder, ignore_errors=True)
            self.jobs.finish(job.transaction_uid, FAILURE,
                             comment=f"{type(exc).__name__}: {exc}")
            return True
        self.jobs.finish(job.transaction_uid, COMPLETE, root_uid=root, folder=folder,
                         studies=count)
        log.info("inventory %s complete: %d studies, root %s", job.transaction_uid, count,
                 root)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                worked = await asyncio.to_thread(self.work_once)
            except Exception:  # noqa: BLE001 - the index was unreachable: try again later
                log.exception("inventory worker")
                worked = False
            if not worked:
                try:
                    await asyncio.wait_for(stop.wait(), self.poll)
                except TimeoutError:
                    pass


class EventSender:
    """The outbox sender of kind ``inventory``: the terminal N-EVENT-REPORT of a job
    (:func:`~dicomkit.services.inventory.terminal_event`) to its requestor's peer address;
    raises when not delivered (the outbox retries)."""

    def __init__(self, jobs: ArchiveInventoryJobs, *, ae_title: str) -> None:
        self.jobs = jobs
        self.ae_title = ae_title

    async def send(self, message: OwedMessage) -> None:
        job = await asyncio.to_thread(self.jobs.get, message.reference)
        event = terminal_event(job, self.ae_title) if job is not None else None
        if event is None:
            log.info("inventory %s: no event owed any more", message.reference)
            return
        peer = self.jobs.peers.get(message.destination.strip())
        if peer is None:
            raise LookupError(f"no --peer named {message.destination!r}")
        event_type, information = event
        await send_event(event_type, information, host=peer[0], port=peer[1],
                         calling_ae=self.ae_title, called_ae=message.destination.strip())
        log.info("inventory %s: event %d sent to %s", message.reference, event_type,
                 message.destination)


def install(handler: ArchiveHandler, *, max_records: int = DEFAULT_MAX_RECORDS) -> InventoryWorker:
    """Plug Repository Query, Inventory Creation, Inventory Storage and Inventory
    FIND/MOVE/GET into an :class:`~dicomkit.archive.scp.ArchiveHandler`, with the worker as
    background work."""
    archive = handler.archive
    kept = InventoryArchive(archive, resources=handler.storage.store.out_of_resources)
    handler.add_service(InventoryQueryRetrieveSCP(kept, kept, ae_title=handler.ae_title,
                                                  access=handler.access,
                                                  transfer_syntaxes=handler.syntaxes))
    handler.add_service(RepositoryQuerySCP(ArchiveRepository(archive),
                                           ae_title=handler.ae_title, access=handler.access))
    jobs = ArchiveInventoryJobs(archive, outbox=handler.outbox, peers=handler.peers,
                                kick=handler.delivery.kick)
    handler.delivery.senders[EVENT_KIND] = EventSender(jobs, ae_title=handler.ae_title).send
    handler.add_service(InventoryCreationSCP(jobs, ae_title=handler.ae_title,
                                             access=handler.access))
    worker = InventoryWorker(jobs, ae_title=handler.ae_title, max_records=max_records,
                             kept=kept)
    handler.background.append(worker.run)
    return worker
