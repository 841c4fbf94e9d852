"""PS3.4 Annex B: the Storage Service Class, SCP side, writing each instance to a folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dicomkit.core.uid import registry, storage_sop_classes
from dicomkit.errors import InvalidDicomError
from dicomkit.net.association import AcceptedContext, Association, DataSink
from dicomkit.net.dimse import Message, Status
from dicomkit.net.service import ServiceHandler
from dicomkit.net.storage import FileSink, StoredFile, meta_for, safe_uid_path
from dicomkit.net.uids import UNCOMPRESSED_TS, VERIFICATION

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
