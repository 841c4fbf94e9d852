"""The archive's DIMSE SCP: Verification, Storage (PS3.4 Annex B) and Query/Retrieve
(PS3.4 Annex C: Patient Root and Study Root, C-FIND, C-MOVE, C-GET) bound to an
:class:`~dicomkit.archive.store.Archive` and its index. The service-class rules live in
:mod:`dicomkit.services`; this module is what ties them to the stored data."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Generator, Sequence
from typing import Any

from dicomkit.archive.matching import QueryError, compile_query
from dicomkit.archive.store import SPILL_BYTES, Archive, InstanceMismatch
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import storage_sop_classes
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.deflate import DeflateStreamError, InflateLimitError
from dicomkit.errors import DicomError
from dicomkit.net.association import AcceptedContext, Association, DataSink
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.service import RetrieveItem, ServiceFailure, ServiceHandler, limit_comment
from dicomkit.net.storage import TempFileSink, meta_for
from dicomkit.net.uids import UNCOMPRESSED_TS, VERIFICATION
from dicomkit.services.access import AccessPolicy
from dicomkit.services.identifiers import identifier_bytes, location_attributes
from dicomkit.services.qr import MODEL_OF, response_identifier
from dicomkit.services.storage import Refused, all_transfer_syntaxes

log = logging.getLogger("dicomkit.archive.scp")


class ArchiveSink:
    """A DataSink for one C-STORE data set into the archive. Data sets up to SPILL_BYTES are
    kept in memory and written, fsynced, renamed and indexed in one worker-thread step
    (``Archive.commit_bytes``): the event loop makes no file system call for them, and the
    header is parsed once, from memory. Larger ones spill to a temporary file in the archive
    as they arrive (``Archive.commit_file``)."""

    def __init__(self, archive: Archive, meta: bytes, transfer_syntax: str) -> None:
        self.archive = archive
        self.transfer_syntax = transfer_syntax
        self.buffer: bytearray | None = bytearray(meta)
        self.meta_size = len(meta)
        self.file: TempFileSink | None = None
        self.error: BaseException | None = None

    def write(self, data: bytes | memoryview) -> None:
        if self.file is not None:
            self.file.write(data)
            return
        if self.buffer is None:
            return
        self.buffer += data
        if len(self.buffer) > SPILL_BYTES:
            buffer, self.buffer = self.buffer, None
            try:
                self.file = TempFileSink(self.archive.files_dir, bytes(buffer[:self.meta_size]),
                                         self.transfer_syntax, self.archive.fsync)
            except OSError as exc:  # reported as a failure status when the data set ends
                self.error = exc
                return
            self.file.write(memoryview(buffer)[self.meta_size:])

    @property
    def data(self) -> bytes | None:
        """The whole Part 10 file when it was kept in memory."""
        return bytes(self.buffer) if self.buffer is not None else None

    def close(self) -> Any:
        if self.error is not None:
            return self.error
        if self.file is not None:
            result = self.file.close()
            return result if isinstance(result, BaseException) else self
        return self

    def abort(self) -> None:
        self.buffer = None
        if self.file is not None:
            self.file.abort()


class ArchiveHandler(ServiceHandler):
    """Verification, Storage and Query/Retrieve on an :class:`Archive`; with ``access``, each
    request is checked against the calling AE's permissions (:mod:`dicomkit.services.access`)
    and refused with 0124H "Refused: Not Authorised" when they do not cover it."""

    def __init__(self, archive: Archive, *, peers: dict[str, tuple[str, int]] | None = None,
                 transfer_syntaxes: Sequence[str] | None = None,
                 ae_title: str = "DICOMKIT", access: AccessPolicy | None = None) -> None:
        self.archive = archive
        self.access = access
        self.ae_title = ae_title  # Retrieve AE Title when an association names none
        self.peers = {k.strip(): v for k, v in (peers or {}).items()}
        self.syntaxes = list(transfer_syntaxes or all_transfer_syntaxes())
        self._storage = set(storage_sop_classes())

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        table: dict[str, Sequence[str]] = {uid: self.syntaxes for uid in self._storage}
        table[VERIFICATION] = UNCOMPRESSED_TS
        for uid in MODEL_OF:
            table[uid] = UNCOMPRESSED_TS
        return table

    def accepts_scp_role(self, abstract_syntax: str) -> bool:
        return abstract_syntax in self._storage

    def refusal(self, association: Association, operation: str,
                destination: str | None = None) -> str | None:
        """Why the calling AE may not do ``operation`` (to ``destination``), or None."""
        if self.access is None:
            return None
        calling = association.calling_ae.strip()
        if not self.access.allows(calling, operation):
            return f"{calling} may not {operation}"
        if destination is not None and not self.access.may_move_to(calling, destination):
            return f"{calling} may not move to {destination}"
        return None

    # -- storage ---------------------------------------------------------------------------------
    def store_sink(self, association: Association, message: Message,
                   context: AcceptedContext) -> DataSink | None:
        refused = self.refusal(association, "store")
        if refused is not None:  # the data set is read off the wire and dropped
            return Refused(Status.NOT_AUTHORISED, refused)
        command = message.command
        try:
            meta = meta_for(str(command.get("AffectedSOPClassUID")),
                            str(command.get("AffectedSOPInstanceUID")), context.transfer_syntax,
                            association.calling_ae)
            return ArchiveSink(self.archive, meta, context.transfer_syntax)
        except (OSError, DicomError) as exc:
            return Refused(Status.OUT_OF_RESOURCES, str(exc))

    async def store(self, association: Association, message: Message) -> int:
        sink = message.data_result
        if isinstance(sink, Refused):
            if sink.status == Status.NOT_AUTHORISED:
                log.warning("[%s] C-STORE refused (0124): %s", association.describe(),
                            sink.reason)
            else:
                log.error("[%s] C-STORE refused: %s", association.describe(), sink.reason)
            return sink.status
        if isinstance(sink, BaseException) or not isinstance(sink, ArchiveSink):
            log.error("[%s] C-STORE failed: %s", association.describe(), sink)
            return Status.OUT_OF_RESOURCES
        command = message.command
        announced = (str(command.get("AffectedSOPClassUID") or ""),
                     str(command.get("AffectedSOPInstanceUID") or ""))
        try:
            data = sink.data
            if data is not None:
                done = await asyncio.to_thread(self.archive.commit_bytes, data,
                                               sink.transfer_syntax, announced)
            else:
                assert sink.file is not None
                done = await asyncio.to_thread(self.archive.commit_file, sink.file.tmp_path,
                                               announced)
        except InstanceMismatch as exc:
            log.error("[%s] C-STORE refused: %s", association.describe(), exc)
            return Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
        except InflateLimitError as exc:
            # PS3.4 B.2.3: A700 Refused: Out of Resources, the limit in the Error Comment.
            log.error("[%s] C-STORE refused: %s", association.describe(), exc)
            raise ServiceFailure(Status.OUT_OF_RESOURCES, limit_comment(exc)) from exc
        except DeflateStreamError as exc:
            log.error("[%s] C-STORE refused: %s", association.describe(), exc)
            raise ServiceFailure(Status.CANNOT_UNDERSTAND,
                                 "the deflated data set is truncated or corrupt") from exc
        except OSError as exc:
            log.error("[%s] C-STORE not stored: %s", association.describe(), exc)
            return Status.OUT_OF_RESOURCES
        except DicomError as exc:
            log.error("[%s] C-STORE refused: %s", association.describe(), exc)
            return Status.CANNOT_UNDERSTAND
        except Exception as exc:  # noqa: BLE001 - the index failing is a processing failure
            if out_of_resources(exc):
                log.exception("[%s] C-STORE not stored, the index is out of resources",
                              association.describe())
                return Status.OUT_OF_RESOURCES
            # PS3.7 Annex C, PS3.4 B.2.3: 0110 Processing Failure, the status STOW-RS reports
            # for the same failure (web/stow.py); A700 is kept for resources (above).
            log.exception("[%s] C-STORE index failure", association.describe())
            return Status.PROCESSING_FAILURE
        log.info("[%s] stored %s (%s)", association.describe(), done.sop_uid, done.result.status)
        message.extra["stored"] = done.result.status  # added, replaced, ignored: for observers
        return Status.SUCCESS

    # -- query -----------------------------------------------------------------------------------
    def _compile(self, message: Message, identifier: Dataset) -> Any:
        sop_class = str(message.command.get("AffectedSOPClassUID") or "")
        model = MODEL_OF.get(sop_class, "study")
        try:
            return compile_query(identifier, model)
        except QueryError as exc:
            raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)) from exc

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[tuple[int, Dataset | bytes | None]]:
        self._authorise(association, "C-FIND", "query")
        query = self._compile(message, identifier)
        # Matches are streamed as the database returns them (PS3.4 C.4.1.2.3: a pending
        # response per match): a first small batch so the first response goes out early,
        # then larger ones; the cursor is closed as soon as the C-FIND ends or is cancelled.
        ts = ts_mod.for_uid(association.contexts[message.context_id].transfer_syntax)
        rows = _Rows(self.archive.index.search(query))
        # Retrieve AE Title: the title this association called us by (serve accepts only
        # its --aet), so a C-MOVE sent there reaches this archive.
        located = location_attributes(query.return_tags,
                                      association.called_ae.strip() or self.ae_title)
        size = FIRST_BATCH
        try:
            while True:
                batch = await asyncio.to_thread(rows.take, size)
                for n, attrs in enumerate(batch, 1):
                    if located:
                        attrs.update(located)
                    data = identifier_bytes(identifier, query.return_tags, attrs, query.level,
                                            ts)
                    yield Status.PENDING, data if data is not None else response_identifier(
                        identifier, query.return_tags, attrs, query.level)
                    if n % 16 == 0:
                        # Sending rarely blocks, so without this the reader would not see a
                        # C-CANCEL (PS3.4 C.4.1.3.1) before every match has gone out.
                        await asyncio.sleep(0)
                if len(batch) < size:
                    return
                size = BATCH
        finally:
            # Shielded: a C-FIND whose task is cancelled (association gone, shutdown) still
            # gives its database connection back, after any fetch still running in a thread.
            await asyncio.shield(asyncio.to_thread(rows.close))

    async def retrieve(self, association: Association, message: Message,
                       identifier: Dataset) -> AsyncIterator[Any]:
        """C-MOVE / C-GET (PS3.4 C.4.2.3, C.4.3.3): each matching instance as the index knows
        it (path, SOP Class and Instance UID, stored transfer syntax), so no file is opened
        before its own sub-operation and a missing one fails only that sub-operation."""

        is_move = message.command_field == CommandField.C_MOVE_RQ
        self._authorise(association, "C-MOVE" if is_move else "C-GET", "retrieve",
                        str(message.command.get("MoveDestination") or "") if is_move else None)
        query = self._compile(message, identifier)
        rows = await asyncio.to_thread(self.archive.index.instances_matching, query)
        for row in rows:
            yield RetrieveItem(self.archive.absolute(row.path), row.sop_class, row.sop_uid,
                               row.transfer_syntax or None)

    def move_destination(self, ae_title: str) -> tuple[str, int] | None:
        return self.peers.get(ae_title.strip())

    def _authorise(self, association: Association, request: str, operation: str,
                   destination: str | None = None) -> None:
        refused = self.refusal(association, operation, destination)
        if refused is not None:
            log.warning("[%s] %s refused (0124): %s", association.describe(), request, refused)
            raise ServiceFailure(Status.NOT_AUTHORISED, f"not authorised: {refused}")


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


FIRST_BATCH = 16  # matches fetched before the first pending response
BATCH = 256


class _Rows:
    """A search generator driven from worker threads, one step at a time: a close that
    comes while a fetch is running waits for it (a generator cannot be closed while it
    runs in another thread)."""

    def __init__(self, rows: Generator[dict[str, Any], None, None]) -> None:
        self.rows = rows
        self.lock = threading.Lock()

    def take(self, count: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(itertools.islice(self.rows, count))

    def close(self) -> None:
        with self.lock:
            self.rows.close()
