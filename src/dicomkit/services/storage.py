"""PS3.4 Annex B: the Storage Service Class, SCP side.

- :class:`StorageSCP`: the rules (PS3.4 B.2.3 statuses, per-AE permissions) on any
  :class:`InstanceStore`, the small interface archive/ implements
  (:class:`dicomkit.archive.scp.ArchiveStore`).
- :class:`StorageHandler`: a Storage SCP writing each instance to a folder
  (``dicomkit storescp``).
- :class:`Refused`: the sink of a C-STORE refused before its data set arrives.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from dicomkit.core.uid import registry, storage_sop_classes
from dicomkit.encoding.deflate import DeflateStreamError, InflateLimitError
from dicomkit.errors import DicomError, InvalidDicomError
from dicomkit.net.association import AcceptedContext, Association, DataSink
from dicomkit.net.dimse import Message, Status
from dicomkit.net.service import ServiceFailure, ServiceHandler, limit_comment
from dicomkit.net.storage import FileSink, StoredFile, meta_for, safe_uid_path
from dicomkit.net.uids import UNCOMPRESSED_TS, VERIFICATION
from dicomkit.services.access import AccessPolicy

log = logging.getLogger("dicomkit.services.storage")


def all_transfer_syntaxes() -> list[str]:
    """Uncompressed first (our preference), then every other registered transfer syntax."""
    others = [info.uid for info in registry().values()
              if info.type == "Transfer Syntax" and info.uid not in UNCOMPRESSED_TS
              and not info.retired]
    return list(UNCOMPRESSED_TS) + sorted(others)


class StorageHandler(ServiceHandler):
    """Accepts every Storage SOP Class in every transfer syntax; streams each data set to
    ``<folder>/<SOPInstanceUID>.dcm``. A success status is sent only after the file is
    fsynced and renamed into place (PS3.4 B.2.3)."""

    def __init__(self, folder: str, *, transfer_syntaxes: Sequence[str] | None = None,
                 on_stored: Callable[[StoredFile, Association], None] | None = None,
                 fsync: bool = True) -> None:
        self.folder = folder
        self.syntaxes = list(transfer_syntaxes or all_transfer_syntaxes())
        self.on_stored = on_stored
        self.fsync = fsync
        os.makedirs(folder, exist_ok=True)

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        table: dict[str, Sequence[str]] = {uid: self.syntaxes for uid in storage_sop_classes()}
        table[VERIFICATION] = UNCOMPRESSED_TS
        return table

    def path_for(self, message: Message) -> str:
        return safe_uid_path(self.folder, message.command.get("AffectedSOPInstanceUID"))

    def store_sink(self, association: Association, message: Message,
                   context: AcceptedContext) -> DataSink | None:
        try:
            path = self.path_for(message)
        except InvalidDicomError as exc:  # PS3.4 B.2.3: C000 Cannot understand
            return Refused(Status.CANNOT_UNDERSTAND, str(exc))
        command = message.command
        meta = meta_for(str(command.get("AffectedSOPClassUID")),
                        str(command.get("AffectedSOPInstanceUID")), context.transfer_syntax,
                        association.calling_ae)
        try:
            return FileSink(path, meta, context.transfer_syntax, fsync=self.fsync)
        except OSError as exc:  # PS3.4 B.2.3: A700 Refused: Out of Resources
            return Refused(Status.OUT_OF_RESOURCES, f"cannot write to {self.folder}: {exc}")

    async def store(self, association: Association, message: Message) -> int:
        result = message.data_result
        if isinstance(result, Refused):
            log.warning("[%s] C-STORE refused: %s", association.describe(), result.reason)
            return result.status
        if isinstance(result, BaseException):
            log.error("[%s] C-STORE failed: %s", association.describe(), result)
            return Status.OUT_OF_RESOURCES
        if not isinstance(result, StoredFile):
            return Status.CANNOT_UNDERSTAND
        log.info("[%s] stored %s", association.describe(), result.path)
        if self.on_stored is not None:
            self.on_stored(result, association)
        return Status.SUCCESS


@dataclass(frozen=True)
class Refused:
    """The sink of a C-STORE refused before its data set arrived: the data set is read off the
    wire and dropped, and what closing the sink gives the handler
    (:attr:`~dicomkit.net.dimse.Message.data_result`) is this refusal itself, with the status
    to answer (PS3.4 B.2.3) and the reason to log."""

    status: int
    reason: str

    def write(self, data: bytes | memoryview) -> None:
        return None

    def close(self) -> Refused:
        return self

    def abort(self) -> None:
        return None


class DataSetMismatch(InvalidDicomError):
    """The data set's SOP Class or Instance UID is not the one its C-STORE request announced
    (PS3.4 B.2.3: status A900, Data Set does not match SOP Class)."""


@dataclass(frozen=True)
class Stored:
    """One instance made durable and findable: its SOP Instance UID and what became of it
    (``added``, ``replaced``, ``ignored`` as a duplicate), for the log and the audit trail
    (:attr:`~dicomkit.net.dimse.Message.outcome` of the C-STORE request)."""

    sop_instance: str
    result: str


class InstanceStore(Protocol):
    """Where a Storage SCP keeps what it receives; archive/ implements it."""

    def sink(self, meta: bytes, transfer_syntax: str) -> DataSink:
        """Where the data set streams to as it arrives, after the Part 10 ``meta`` header;
        raises :class:`OSError` or :class:`~dicomkit.errors.DicomError` when nothing can take
        it."""
        ...

    async def commit(self, received: object, announced: tuple[str, str]) -> Stored:
        """Make what the sink received (its ``close()`` result) durable and findable;
        ``announced``: the SOP Class and Instance UID of the C-STORE request. Raises
        :class:`DataSetMismatch`, :class:`~dicomkit.encoding.deflate.InflateLimitError`,
        :class:`~dicomkit.encoding.deflate.DeflateStreamError`, :class:`OSError`,
        :class:`~dicomkit.errors.DicomError`, or whatever the store's own failures are."""
        ...

    def out_of_resources(self, exc: BaseException) -> bool:
        """Whether one of the store's own failures is a lack of resources (A700) rather than
        a processing failure (0110)."""
        ...


class StorageSCP:
    """PS3.4 Annex B on an :class:`InstanceStore`: a C-STORE the calling AE may not make is
    refused 0124H (Refused: Not Authorised, :mod:`dicomkit.services.access`) and its data set
    dropped; success (0000) is answered only once the store has the instance durably (B.2.3),
    and each failure has its status:

    =========================================  ==============================================
    failure                                    status (PS3.4 B.2.3, PS3.7 Annex C)
    =========================================  ==============================================
    not authorised                             0124 Refused: Not Authorised
    no sink (no space, a bad command)          A700 Refused: Out of Resources
    UIDs other than announced                  A900 Data Set does not match SOP Class
    deflated past the inflated size limit      A700, the limit in the Error Comment
    deflated stream truncated or corrupt       C000 Cannot understand
    the file cannot be written                 A700
    the data set cannot be parsed              C000
    the index is out of resources              A700
    any other failure of the index             0110 Processing Failure (as STOW-RS)
    =========================================  ==============================================
    """

    def __init__(self, store: InstanceStore, access: AccessPolicy | None = None) -> None:
        self.store = store
        self.access = access

    def sink(self, association: Association, message: Message,
             context: AcceptedContext) -> DataSink:
        """Where a C-STORE data set streams to (:meth:`ServiceHandler.store_sink`)."""
        if self.access is not None:
            refused = self.access.refusal(association.calling_ae, "store")
            if refused is not None:  # the data set is read off the wire and dropped
                return Refused(Status.NOT_AUTHORISED, refused)
        command = message.command
        try:
            meta = meta_for(str(command.get("AffectedSOPClassUID")),
                            str(command.get("AffectedSOPInstanceUID")), context.transfer_syntax,
                            association.calling_ae)
            return self.store.sink(meta, context.transfer_syntax)
        except (OSError, DicomError) as exc:
            return Refused(Status.OUT_OF_RESOURCES, str(exc))

    async def commit(self, association: Association, message: Message) -> int:
        """The C-STORE's status, once what the sink received is stored (or not)."""
        received = message.data_result
        where = association.describe()
        if isinstance(received, Refused):
            if received.status == Status.NOT_AUTHORISED:
                log.warning("[%s] C-STORE refused (0124): %s", where, received.reason)
            else:
                log.error("[%s] C-STORE refused: %s", where, received.reason)
            return received.status
        if isinstance(received, BaseException):
            log.error("[%s] C-STORE failed: %s", where, received)
            return Status.OUT_OF_RESOURCES
        command = message.command
        announced = (str(command.get("AffectedSOPClassUID") or ""),
                     str(command.get("AffectedSOPInstanceUID") or ""))
        try:
            done = await self.store.commit(received, announced)
        except DataSetMismatch as exc:
            log.error("[%s] C-STORE refused: %s", where, exc)
            # Error Comment: LO, 64 characters, no backslash (PS3.7 C.4.2, PS3.5 Table 6.2-1)
            raise ServiceFailure(Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS,
                                 str(exc).replace("\\", "/")[:64]) from exc
        except InflateLimitError as exc:
            log.error("[%s] C-STORE refused: %s", where, exc)
            raise ServiceFailure(Status.OUT_OF_RESOURCES, limit_comment(exc)) from exc
        except DeflateStreamError as exc:
            log.error("[%s] C-STORE refused: %s", where, exc)
            raise ServiceFailure(Status.CANNOT_UNDERSTAND,
                                 "the deflated data set is truncated or corrupt") from exc
        except OSError as exc:
            log.error("[%s] C-STORE not stored: %s", where, exc)
            return Status.OUT_OF_RESOURCES
        except DicomError as exc:
            log.error("[%s] C-STORE refused: %s", where, exc)
            return Status.CANNOT_UNDERSTAND
        except Exception as exc:  # noqa: BLE001 - the index failing is a processing failure
            if self.store.out_of_resources(exc):
                log.exception("[%s] C-STORE not stored, the index is out of resources", where)
                return Status.OUT_OF_RESOURCES
            log.exception("[%s] C-STORE index failure", where)
            return Status.PROCESSING_FAILURE
        log.info("[%s] stored %s (%s)", where, done.sop_instance, done.result)
        message.outcome = done  # for observers (services.audit)
        return Status.SUCCESS
