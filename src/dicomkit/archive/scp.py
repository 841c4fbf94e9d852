"""The archive's DIMSE SCP: Verification, Storage (PS3.4 Annex B) and Query/Retrieve (PS3.4
Annex C: Patient Root and Study Root, C-FIND, C-MOVE, C-GET) on an
:class:`~dicomkit.archive.store.Archive` and its index.

The service-class rules are :class:`dicomkit.services.storage.StorageSCP` and
:class:`dicomkit.services.qr.QueryRetrieveSCP`; this module gives them the stored data through
the interfaces they define: :class:`ArchiveStore` (an
:class:`~dicomkit.services.storage.InstanceStore`: C-STORE data sets into files and the index)
and :class:`ArchiveData` (a :class:`~dicomkit.services.qr.QueryRetrieveData`: identifiers
compiled to SQL by :mod:`dicomkit.archive.matching`), and :class:`ArchiveHandler` binds both
to the association server.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dicomkit.archive import inventory
from dicomkit.archive.commitment import ArchiveCommitment
from dicomkit.archive.matching import CompiledQuery, QueryError, compile_query
from dicomkit.archive.mpps import MPPS_KIND, MppsForwarder, MppsStore
from dicomkit.archive.outbox import Delivery, Outbox
from dicomkit.archive.store import Archive, InstanceMismatch, SpoolSink
from dicomkit.archive.worklist import WorklistStore
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import storage_sop_classes
from dicomkit.errors import DicomError
from dicomkit.net.association import AcceptedContext, Association, DataSink
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.service import (
    FindAnswer,
    NResponse,
    Retrievable,
    RetrieveItem,
    ServiceFailure,
    ServiceHandler,
)
from dicomkit.net.uids import UNCOMPRESSED_TS, VERIFICATION
from dicomkit.services.access import AccessPolicy
from dicomkit.services.identifiers import AnswerPlan
from dicomkit.services.mpps import MppsSCP
from dicomkit.services.qr import MODEL_OF, IdentifierError, QueryRetrieveSCP
from dicomkit.services.storage import DataSetMismatch, StorageSCP, Stored, all_transfer_syntaxes
from dicomkit.services.worklist import WorklistIdentifierError, WorklistSCP

if TYPE_CHECKING:  # imported by dicomkit serve only when a peer is de-identifying
    from dicomkit.archive.deid_export import DeidExport

log = logging.getLogger("dicomkit.archive.scp")


class ArchiveSink(SpoolSink):
    """A DataSink for one C-STORE data set into the archive, on a :class:`dicomkit.durable.Spool`
    that starts with the File Meta Information. Data sets up to SPILL_BYTES are kept in memory
    and written, fsynced, renamed and indexed in one worker-thread step
    (``Archive.commit_bytes``): the event loop makes no file system call for them, and the
    header is parsed once, from memory. Larger ones spill to a temporary file in the archive
    as they arrive (``Archive.commit_file``)."""

    def __init__(self, archive: Archive, meta: bytes, transfer_syntax: str) -> None:
        super().__init__(archive.files_dir, meta, transfer_syntax, archive.fsync)
        self.archive = archive


class ArchiveStore:
    """The archive as a Storage SCP's :class:`~dicomkit.services.storage.InstanceStore`."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def sink(self, meta: bytes, transfer_syntax: str) -> ArchiveSink:
        return ArchiveSink(self.archive, meta, transfer_syntax)

    async def commit(self, received: object, announced: tuple[str, str]) -> Stored:
        """Write, fsync, rename and index in a worker thread: ``Archive.commit_bytes`` for a
        data set kept in memory, ``Archive.commit_file`` for one spilled to a file."""
        if not isinstance(received, ArchiveSink):
            raise OSError(f"no data set received: {received!r}")
        try:
            data = received.received
            if isinstance(data, bytes):
                done = await asyncio.to_thread(self.archive.commit_bytes, data,
                                               received.transfer_syntax, announced)
            else:
                assert data is not None
                done = await asyncio.to_thread(self.archive.commit_file, data, announced)
        except InstanceMismatch as exc:
            raise DataSetMismatch(str(exc)) from exc
        return Stored(done.sop_uid, done.result.status)

    def out_of_resources(self, exc: BaseException) -> bool:
        return out_of_resources(exc)


def out_of_resources(exc: BaseException) -> bool:
    """A failure of the index that is a lack of resources (C-STORE A700, PS3.4 B.2.3), not a
    processing failure: memory, SQLite "database or disk is full", PostgreSQL SQLSTATE class
    53 (Insufficient Resources: disk full, out of memory, too many connections)."""
    if isinstance(exc, (MemoryError, OSError)):
        return True
    orig = getattr(exc, "orig", None)  # a SQLAlchemy DBAPIError wraps the driver's error
    if isinstance(orig, (MemoryError, OSError)):
        return True
    sqlstate = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
    if sqlstate.startswith("53"):
        return True
    if orig is not None and type(orig).__module__.startswith("sqlite3"):
        return "full" in str(orig).lower() or "out of memory" in str(orig).lower()
    return False


@dataclass(frozen=True)
class ArchiveQuery:
    """An identifier compiled to SQL on the archive's index
    (a :class:`~dicomkit.services.qr.Query`)."""

    archive: Archive
    compiled: CompiledQuery

    @property
    def level(self) -> str:
        return self.compiled.level

    @property
    def return_tags(self) -> list[int]:
        return self.compiled.return_tags

    def matches(self, plan: AnswerPlan | None = None) -> SearchCursor:
        return SearchCursor(self.archive.index.answers(self.compiled, plan))

    def instances(self) -> list[RetrieveItem]:
        """Each matching instance as the index knows it (path, SOP Class and Instance UID,
        stored transfer syntax), series by series in ingest order."""
        return [RetrieveItem(self.archive.absolute(row.path), row.sop_class, row.sop_uid,
                             row.transfer_syntax or None)
                for row in self.archive.index.instances_matching(self.compiled)]


class ArchiveData:
    """The archive's index as a Query/Retrieve SCP's
    :class:`~dicomkit.services.qr.QueryRetrieveData`."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def compile(self, identifier: Dataset, model: str) -> ArchiveQuery:
        try:
            return ArchiveQuery(self.archive, compile_query(identifier, model))
        except QueryError as exc:
            raise IdentifierError(str(exc)) from exc


class SearchCursor:
    """A search generator driven from worker threads (:class:`~dicomkit.services.qr.Matches`), one step at a time: a close that
    comes while a fetch is running waits for it (a generator cannot be closed while it
    runs in another thread)."""

    def __init__(self, rows: Generator[Any, None, None]) -> None:
        self.rows = rows
        self.lock = threading.Lock()

    def take(self, count: int) -> list[Any]:
        with self.lock:
            return list(itertools.islice(self.rows, count))

    def close(self) -> None:
        with self.lock:
            self.rows.close()


class ArchiveWorklist:
    """The index's worklist items as a Modality Worklist SCP's
    :class:`~dicomkit.services.worklist.WorklistData`."""

    def __init__(self, store: WorklistStore) -> None:
        self.store = store

    def matches(self, identifier: Dataset) -> SearchCursor:
        try:
            query = self.store.compile(identifier)
        except (QueryError, ValueError, DicomError) as exc:  # a value that does not decode
            raise WorklistIdentifierError(str(exc)) from exc
        return SearchCursor(self.store.matches(query))


class ArchiveHandler(ServiceHandler):
    """Verification, Storage and Query/Retrieve on an :class:`Archive`; with ``access``, each
    request is checked against the calling AE's permissions (:mod:`dicomkit.services.access`)
    and refused with 0124H "Refused: Not Authorised" when they do not cover it. ``peers``: the
    C-MOVE destinations (AE title: host and port)."""

    def __init__(self, archive: Archive, *, peers: dict[str, tuple[str, int]] | None = None,
                 transfer_syntaxes: Sequence[str] | None = None,
                 ae_title: str = "DICOMKIT", access: AccessPolicy | None = None) -> None:
        self.archive = archive
        self.access = access
        self.peers = {k.strip(): v for k, v in (peers or {}).items()}
        self.syntaxes = list(transfer_syntaxes or all_transfer_syntaxes())
        self.storage = StorageSCP(ArchiveStore(archive), access)
        self.query_retrieve = QueryRetrieveSCP(ArchiveData(archive), ae_title=ae_title,
                                               access=access)
        self.storage_classes = frozenset(storage_sop_classes())
        # Further services plugged in by SOP class (Modality Worklist, MPPS, Storage
        # Commitment, ...): each a ServiceHandler of its own, see add_service.
        self.services: dict[str, ServiceHandler] = {}
        # Work that runs while the server does (deliveries owed to peers, notifications):
        # coroutine functions taking the event that is set at shutdown.
        self.background: list[Callable[[asyncio.Event], Awaitable[None]]] = []
        # Messages owed to peers (commitment reports, MPPS forwarding, availability
        # notifications): kept in the index, sent by one Delivery loop; a service adds its
        # sender with ``handler.delivery.senders[kind] = coroutine_function``.
        self.ae_title = ae_title
        self.outbox = Outbox(archive.index)
        self.delivery = Delivery(self.outbox)
        self.background.append(self.delivery.run)
        # Modality Worklist (PS3.4 K.6.1): the items in the index, offered while SCHEDULED,
        # ARRIVED or READY.
        self.worklist = WorklistStore(archive.index)
        self.add_service(WorklistSCP(ArchiveWorklist(self.worklist), access=access))
        # MPPS (PS3.4 F.7): N-CREATE / N-SET kept in the index; forwarded to mpps.forward_to
        self.mpps = MppsStore(archive.index, outbox=self.outbox, worklist=self.worklist)
        self.add_service(MppsSCP(self.mpps, access=access))
        self.delivery.senders[MPPS_KIND] = MppsForwarder(self.outbox, self.peers, ae_title).send
        # Storage Commitment Push Model SCP (PS3.4 J): reports owed in the outbox.
        self.commitment = ArchiveCommitment(archive, self.outbox, self.delivery,
                                            peers=self.peers, ae_title=ae_title,
                                            access=access)
        self.add_service(self.commitment)
        self.delivery.senders["commitment"] = self.commitment.send
        self.background.append(self.commitment.resume)
        # Supplement 223: Repository Query (PS3.4 C.6.4) and Inventory Creation (KK.2), the
        # inventories produced by background work.
        self.inventory = inventory.install(self)
        # De-identify on export (archive/deid_export.py): set by dicomkit serve.
        self.deid_export: DeidExport | None = None

    def add_service(self, service: ServiceHandler) -> None:
        """Plug in a service: the SOP classes of its ``abstract_syntaxes`` are offered, and
        requests on them (C-FIND, DIMSE-N) go to its ``find`` / ``n_service``."""
        for uid in service.abstract_syntaxes():
            self.services[uid] = service

    async def run_background(self, stop: asyncio.Event) -> None:
        """Run the background work until ``stop`` is set (``dicomkit serve`` starts it)."""
        if self.background:
            await asyncio.gather(*(work(stop) for work in self.background))

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        table: dict[str, Sequence[str]] = {uid: self.syntaxes for uid in self.storage_classes}
        table[VERIFICATION] = UNCOMPRESSED_TS
        for uid in MODEL_OF:
            table[uid] = UNCOMPRESSED_TS
        for service in dict.fromkeys(self.services.values()):
            table.update(service.abstract_syntaxes())
        return table

    def accepts_scp_role(self, abstract_syntax: str) -> bool:
        service = self.services.get(abstract_syntax)
        if service is not None:
            return service.accepts_scp_role(abstract_syntax)
        return abstract_syntax in self.storage_classes

    def _service_of(self, message: Message) -> ServiceHandler | None:
        return self.services.get(str(message.command.get("AffectedSOPClassUID") or ""))

    def store_sink(self, association: Association, message: Message,
                   context: AcceptedContext) -> DataSink | None:
        # A storage SOP class a plugged service keeps itself (Inventory Storage: no Patient
        # or Study, archive/inventory_store.py)
        service = self._service_of(message)
        if service is not None:
            return service.store_sink(association, message, context)
        return self.storage.sink(association, message, context)

    async def store(self, association: Association, message: Message) -> int:
        service = self._service_of(message)
        if service is not None:
            return await service.store(association, message)
        return await self.storage.commit(association, message)

    def find(self, association: Association, message: Message,
             identifier: Dataset) -> AsyncIterator[FindAnswer]:
        service = self.services.get(str(message.command.get("AffectedSOPClassUID") or ""))
        if service is not None:
            return service.find(association, message, identifier)
        return self.query_retrieve.find(association, message, identifier)

    def interim_status(self, message: Message, status: int) -> bool:
        service = self.services.get(str(message.command.get("AffectedSOPClassUID") or ""))
        return service is not None and service.interim_status(message, status)

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> tuple[int, Dataset | None] | NResponse:
        command = message.command
        sop_class = str(command.get("RequestedSOPClassUID")
                        or command.get("AffectedSOPClassUID") or "")
        service = self.services.get(sop_class)
        if service is None:
            # A SOP class of a Meta SOP Class travels on the meta class's context (PS3.4
            # H.3: Basic Film Session on Basic Grayscale Print Management Meta): the context's
            # abstract syntax names the service, which checks the class belongs to it.
            context = association.contexts.get(message.context_id)
            if context is not None:
                service = self.services.get(context.abstract_syntax)
        if service is None:
            return await super().n_service(association, message, data)
        return await service.n_service(association, message, data)

    def retrieve(self, association: Association, message: Message,
                 identifier: Dataset) -> AsyncIterator[Retrievable]:
        if message.command_field == CommandField.C_MOVE_RQ:
            receiver = str(message.command.get("MoveDestination") or "")
        else:
            receiver = association.calling_ae
        peer = self.deid_export.peer(receiver) if self.deid_export is not None else None
        service = self._service_of(message)
        if service is not None:  # Inventory MOVE / GET (PS3.4 JJ)
            if peer is not None:
                # an Inventory lists patients' names and IDs: a de-identifying peer gets none
                return refused(ServiceFailure(
                    Status.NOT_AUTHORISED, "Inventories are not sent to a de-identifying peer"))
            return service.retrieve(association, message, identifier)
        found = self.query_retrieve.retrieve(association, message, identifier)
        # De-identify on export: a C-MOVE to, or a C-GET by, a de-identifying peer gets the
        # de-identified copies (archive/deid_export.py).
        if peer is None or self.deid_export is None:
            return found
        return self.deid_export.convert(peer, found)

    def move_destination(self, ae_title: str) -> tuple[str, int] | None:
        return self.peers.get(ae_title.strip())


async def refused(failure: ServiceFailure) -> AsyncIterator[Retrievable]:
    """A retrieve that fails as a whole with ``failure`` (raised when it is first iterated)."""
    raise failure
    yield  # an async generator
