"""Supplement 223 services, SCP side: the Repository Query SOP Class (PS3.4 C.6.4) and the
Inventory Creation SOP Class (PS3.4 KK.2), independent of where the data lives.

- :class:`RepositoryQuerySCP`: C-FIND on the Study Root model at the STUDY, SERIES and IMAGE
  levels with the additional keys of Table C.6.4.1-1: Record Key (0008,041B) returned for
  each match in key order, Prior Record Key (0008,041C) to resume after one (A710 when it is
  not one of ours), Maximum Number of Records (0008,0429) and the SCP's own limit ending the
  responses with B001 "Matching reached response limit", Removed from Operational Use
  (0008,0405), and the storage attributes the data gives (:class:`RepositoryData`): Stored
  Instance Transfer Syntax UID, File Access URI, Study Update DateTime; Retrieve AE Title and
  Instance Availability as for any C-FIND.
- :class:`InventoryCreationSCP`: N-ACTION on the well-known Storage Management SOP Instance
  (KK.1.3.2) with the Action Types of Table KK.2-1 (Initiate 11, Request Status 12, Cancel 13,
  Pause 14, Resume 15), the production states of KK.2.1.1 as a transition table
  (:data:`TRANSITIONS`), kept by :class:`InventoryJobs` (archive/ keeps them in its index and
  produces the inventory as background work). The status of a transaction is the Action Reply
  of Request Status and, as an extension, the answer to an N-GET whose Requested SOP
  Instance UID is the Transaction UID (the attributes of the Inventory Creation Module,
  PS3.3 C.38.3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import UID, registered
from dicomkit.errors import DicomError
from dicomkit.net.association import Association, Timeouts
from dicomkit.net.client import connect
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.service import NResponse, ServiceFailure, ServiceHandler
from dicomkit.net.uids import UNCOMPRESSED_TS
from dicomkit.services.access import AccessPolicy, authorise
from dicomkit.services.identifiers import location_attributes
from dicomkit.services.qr import IdentifierError, response_identifier

log = logging.getLogger("dicomkit.services.inventory")

REPOSITORY_QUERY = registered("RepositoryQuery")
INVENTORY_CREATION = registered("InventoryCreation")
STORAGE_MANAGEMENT_INSTANCE = registered("StorageManagementInstance")  # KK.1.3.2
INVENTORY_STORAGE = registered("InventoryStorage")

# -- Repository Query (C.6.4) -------------------------------------------------------------------
RECORD_KEY = 0x0008041B
PRIOR_RECORD_KEY = 0x0008041C
MAXIMUM_NUMBER_OF_RECORDS = 0x00080429
REMOVED_FROM_OPERATIONAL_USE = 0x00080405
RESPONSE_LIMIT_REACHED = 0xB001  # C.6.4: "Matching reached response limit"
INVALID_PRIOR_RECORD_KEY = 0xA710
# Table C.6.4.1-1 keys this SCP answers from its own records (never matched in SQL).
REPOSITORY_KEYS = frozenset({
    RECORD_KEY, PRIOR_RECORD_KEY, MAXIMUM_NUMBER_OF_RECORDS, REMOVED_FROM_OPERATIONAL_USE,
    0x00080406,  # Reason for Removal Code Sequence
    0x00080407,  # Stored Instance Base URI
    0x00080408,  # Folder Access URI
    0x00080409,  # File Access URI
    0x0008040A, 0x0008040B, 0x0008040C, 0x0008040D,  # container file attributes
    0x0008040E,  # Stored Instance Transfer Syntax UID
    0x0008041D, 0x0008041E,  # Metadata / Updated Metadata Sequence
    0x0008041F,  # Study Update DateTime
})
LEVELS = ("STUDY", "SERIES", "IMAGE")
DEFAULT_MAX_RECORDS = 10_000
PAGE = 500


@dataclass
class RepositoryRecord:
    """One match: the key of its record (its order), its attributes as DICOM JSON, and the
    repository attributes (Table C.6.4.1-1) the data can tell about it, as DICOM JSON."""

    key: int
    attrs: dict[str, Any]
    repository: dict[str, Any]


class RepositoryQuery(Protocol):
    @property
    def level(self) -> str: ...

    @property
    def return_tags(self) -> list[int]: ...


class RepositoryData(Protocol):
    """What a Repository Query SCP needs of the stored data (calls block: worker threads)."""

    def compile(self, identifier: Dataset) -> RepositoryQuery:
        """A Study Root identifier (the repository keys removed) as a query; raises
        :class:`~dicomkit.services.qr.IdentifierError`."""
        ...

    def page(self, query: RepositoryQuery, after: int,
             limit: int) -> tuple[list[RepositoryRecord], int | None]:
        """The matches with a record key above ``after`` in key order, at most ``limit``
        scanned, and the last key scanned (None: nothing left)."""
        ...


def record_key(key: int) -> bytes:
    """Record Key (0008,041B), OB: the record's key as 8 bytes, big endian (its order)."""
    return key.to_bytes(8, "big")


def parse_record_key(value: Any) -> int:
    """The key of a Prior Record Key (0008,041C); ValueError when it is not one of ours."""
    if isinstance(value, memoryview):
        value = bytes(value)
    if not isinstance(value, (bytes, bytearray)) or len(value) != 8:
        raise ValueError("a Record Key of this SCP is 8 bytes")
    return int.from_bytes(value, "big")


def _text(value: Any) -> str:
    return str(value).strip("\0 ") if isinstance(value, str) else ""


class RepositoryQuerySCP(ServiceHandler):
    """The Repository Query SOP Class as an SCP (PS3.4 C.6.4). ``max_records``: the SCP's
    limit on pending responses per C-FIND (C.6.4.1: a smaller Maximum Number of Records from
    the SCU wins); with ``access`` the calling AE needs "query"."""

    def __init__(self, data: RepositoryData, *, ae_title: str = "DICOMKIT",
                 access: AccessPolicy | None = None,
                 max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self.data = data
        self.ae_title = ae_title
        self.access = access
        self.max_records = max_records

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {REPOSITORY_QUERY: UNCOMPRESSED_TS}

    def interim_status(self, message: Message, status: int) -> bool:
        """B001 ends the pending responses; the final Success follows (C.6.4)."""
        return status == RESPONSE_LIMIT_REACHED

    def limits(self, identifier: Dataset) -> tuple[int, int]:
        """(records after which to start, most records to answer) from Prior Record Key and
        Maximum Number of Records."""
        after = 0
        prior = identifier.get("PriorRecordKey") if PRIOR_RECORD_KEY in identifier else None
        if prior:
            try:
                after = parse_record_key(prior)
            except ValueError as exc:
                raise ServiceFailure(INVALID_PRIOR_RECORD_KEY,
                                     f"Prior Record Key: {exc}") from exc
        limit = self.max_records
        if MAXIMUM_NUMBER_OF_RECORDS in identifier:
            wanted = identifier.get("MaximumNumberOfRecords")
            if isinstance(wanted, int) and wanted > 0:
                limit = min(limit, wanted)
        return after, limit

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[tuple[int, Dataset | bytes | None]]:
        authorise(self.access, association, "query", "Repository Query C-FIND")
        level = _text(identifier.get("QueryRetrieveLevel")).upper()
        if level not in LEVELS:
            raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS,
                                 f"Repository Query level {level!r} is not one of "
                                 f"{', '.join(LEVELS)}")
        after, limit = self.limits(identifier)
        removed = _text(identifier.get("RemovedFromOperationalUse")) \
            if REMOVED_FROM_OPERATIONAL_USE in identifier else ""
        matching = Dataset()
        for element in identifier:
            if element.tag not in REPOSITORY_KEYS:
                matching.set(element.tag, element.value, element.VR)
        try:
            query = await asyncio.to_thread(self.data.compile, matching)
        except (IdentifierError, DicomError, ValueError) as exc:
            raise ServiceFailure(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS, str(exc)) from exc
        if removed and removed != "N":
            return  # C.6.4.1: this repository keeps no entity removed from operational use
        wanted = [element.tag for element in identifier
                  if element.tag in REPOSITORY_KEYS and element.tag not in
                  (PRIOR_RECORD_KEY, MAXIMUM_NUMBER_OF_RECORDS)]
        tags = [*query.return_tags, *wanted]
        located = location_attributes(tags, association.called_ae.strip() or self.ae_title)
        sent = 0
        while True:
            records, last = await asyncio.to_thread(self.data.page, query, after, PAGE)
            for record in records:
                if sent >= limit:
                    yield RESPONSE_LIMIT_REACHED, None
                    return
                attrs = record.attrs
                attrs.update(located)
                attrs.update(record.repository)
                attrs[f"{RECORD_KEY:08X}"] = {"vr": "OB", "InlineBinary": _b64(
                    record_key(record.key))}
                attrs[f"{REMOVED_FROM_OPERATIONAL_USE:08X}"] = {"vr": "CS", "Value": ["N"]}
                yield Status.PENDING, response_identifier(identifier, tags, attrs, query.level)
                sent += 1
            if last is None:
                return
            after = last
            await asyncio.sleep(0)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


# -- Inventory Creation (KK.2) ------------------------------------------------------------------
INITIATE, REQUEST_STATUS, CANCEL, PAUSE, RESUME = 11, 12, 13, 14, 15  # Table KK.2-1
PROCESSING, COMPLETE, FAILURE, CANCELED, PAUSED = (
    "PROCESSING", "COMPLETE", "FAILURE", "CANCELED", "PAUSED")  # KK.2.1.1
TERMINAL = frozenset({COMPLETE, FAILURE, CANCELED})
TRANSITIONS: dict[int, dict[str, str]] = {
    # KK.2.1.1 (Figure KK.2-1): the N-ACTIONs that change the state, from -> to.
    CANCEL: {PROCESSING: CANCELED, PAUSED: CANCELED},
    PAUSE: {PROCESSING: PAUSED},
    RESUME: {PAUSED: PROCESSING},
}
INVENTORY_LEVELS = ("STUDY", "SERIES", "INSTANCE")
ATTRIBUTE_LIST_WARNING = 0xB010
NO_SUCH_ACTION = 0x0123
NO_SUCH_SOP_INSTANCE = 0x0112
MISSING_ATTRIBUTE = 0x0120
INVALID_ATTRIBUTE_VALUE = 0x0106


@dataclass
class InventoryJob:
    """One Inventory Creation transaction as kept: the request and how far it got."""

    transaction_uid: str
    level: str
    scope: Dataset | None = None
    purpose: str = ""
    status: str = PROCESSING
    comment: str = ""
    requestor: str = ""
    root_uid: str = ""
    studies: int = 0

    def status_dataset(self, retrieve_ae: str = "") -> Dataset:
        """The Inventory Creation Module attributes of its status (PS3.3 C.38.3)."""
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.TransactionUID = self.transaction_uid
        ds.TransactionStatus = self.status
        if self.comment:
            ds.TransactionStatusComment = self.comment
        ds.InventoryLevel = self.level
        ds.InventoryPurpose = self.purpose
        ds.ScopeOfInventorySequence = [self.scope] if self.scope is not None and \
            len(self.scope) else []
        if self.status == COMPLETE and self.root_uid:
            ds.ReferencedSOPClassUID = INVENTORY_STORAGE
            ds.ReferencedSOPInstanceUID = self.root_uid
            if retrieve_ae:
                ds.RetrieveAETitle = retrieve_ae
        return ds


class InventoryJobs(Protocol):
    """Where Inventory Creation transactions are kept and produced (calls block)."""

    def check_scope(self, scope: Dataset | None) -> None:
        """Raise :class:`~dicomkit.services.qr.IdentifierError` for keys that cannot be
        matched."""
        ...

    def create(self, job: InventoryJob) -> bool:
        """Keep a new PROCESSING job; False when its Transaction UID is already known."""
        ...

    def get(self, transaction_uid: str) -> InventoryJob | None: ...

    def transition(self, transaction_uid: str, moves: dict[str, str]) -> InventoryJob | None:
        """Change the state by ``moves`` (from -> to) if the current one is among them; the
        job as it is after (None: unknown)."""
        ...


def _uid_of(data: Dataset, keyword: str) -> str:
    if keyword not in data:
        raise ServiceFailure(MISSING_ATTRIBUTE, f"no {keyword}")
    text = _text(data.get(keyword))
    if not text or not UID(text).is_valid:
        raise ServiceFailure(INVALID_ATTRIBUTE_VALUE, f"{keyword} is not a UID")
    return text


def parse_initiate(data: Dataset | None, requestor: str = "") -> InventoryJob:
    """The Initiate Action Information checked (Table KK.2-1, KK.2.2.3): Transaction UID,
    Inventory Level one of STUDY/SERIES/INSTANCE (else 0212H Mistyped argument), a Scope of
    Inventory Sequence of at most one item without Extended Matching Mechanisms (none is
    supported: 0212H)."""
    if data is None:
        raise ServiceFailure(MISSING_ATTRIBUTE, "no Action Information (data set)")
    try:
        transaction = _uid_of(data, "TransactionUID")
        level = _text(data.get("InventoryLevel")).upper()
        if level not in INVENTORY_LEVELS:
            raise ServiceFailure(Status.MISTYPED_ARGUMENT,
                                 f"Inventory Level {level!r} is not supported")
        items = data.get("ScopeOfInventorySequence") or []
        if len(items) > 1:
            raise ServiceFailure(INVALID_ATTRIBUTE_VALUE,
                                 "Scope of Inventory Sequence has more than one item")
        scope = items[0] if items else None
        if scope is not None and scope.get("ExtendedMatchingMechanisms"):
            raise ServiceFailure(Status.MISTYPED_ARGUMENT,
                                 "no Extended Matching Mechanism is supported")
        purpose = data.get("InventoryPurpose")
        return InventoryJob(transaction, level, scope,
                            purpose if isinstance(purpose, str) else "",
                            requestor=requestor.strip())
    except (DicomError, TypeError) as exc:
        raise ServiceFailure(INVALID_ATTRIBUTE_VALUE,
                             f"unreadable Action Information: {exc}") from exc


class InventoryCreationSCP(ServiceHandler):
    """The Inventory Creation SOP Class as an SCP (PS3.4 KK.2). An Initiate is answered
    Success once the job is kept; production is the keeper's (archive/: background work).
    With ``access`` the calling AE needs "query" (an inventory tells what is held)."""

    def __init__(self, jobs: InventoryJobs, *, ae_title: str = "DICOMKIT",
                 access: AccessPolicy | None = None) -> None:
        self.jobs = jobs
        self.ae_title = ae_title
        self.access = access

    def abstract_syntaxes(self) -> dict[str, Sequence[str]]:
        return {INVENTORY_CREATION: UNCOMPRESSED_TS}

    async def n_service(self, association: Association, message: Message,
                        data: Dataset | None) -> NResponse:
        authorise(self.access, association, "query", "Inventory Creation")
        command = message.command
        instance = _text(command.get("RequestedSOPInstanceUID"))
        if message.command_field == CommandField.N_GET_RQ:
            return await self.status_of(instance, NResponse(Status.SUCCESS))
        if message.command_field != CommandField.N_ACTION_RQ:
            raise ServiceFailure(Status.UNRECOGNIZED_OPERATION,
                                 "Inventory Creation takes N-ACTION (and N-GET of a status)")
        if instance != STORAGE_MANAGEMENT_INSTANCE:
            raise ServiceFailure(NO_SUCH_SOP_INSTANCE, "Requested SOP Instance is not the "
                                 "well-known Storage Management SOP Instance")
        action = command.get("ActionTypeID")
        fields = {"ActionTypeID": action, "AffectedSOPInstanceUID": STORAGE_MANAGEMENT_INSTANCE}
        if action == INITIATE:
            job = parse_initiate(data, association.calling_ae)
            try:
                await asyncio.to_thread(self.jobs.check_scope, job.scope)
            except (IdentifierError, DicomError, ValueError) as exc:
                raise ServiceFailure(Status.MISTYPED_ARGUMENT,
                                     f"Scope of Inventory: {exc}"[:64]) from exc
            if not await asyncio.to_thread(self.jobs.create, job):
                raise ServiceFailure(Status.DUPLICATE_INVOCATION,
                                     "Transaction UID already used")
            log.info("[%s] inventory %s (%s) initiated", association.describe(),
                     job.transaction_uid, job.level)
            return NResponse(Status.SUCCESS, None, fields)
        if data is None:
            raise ServiceFailure(MISSING_ATTRIBUTE, "no Action Information (data set)")
        transaction = _uid_of(data, "TransactionUID")
        if action == REQUEST_STATUS:
            return await self.status_of(transaction, NResponse(Status.SUCCESS, None, fields))
        moves = TRANSITIONS.get(int(action) if isinstance(action, int) else -1)
        if moves is None:
            raise ServiceFailure(NO_SUCH_ACTION, f"Action Type ID {action} (11-15 are defined)")
        changed: InventoryJob | None = await asyncio.to_thread(self.jobs.transition,
                                                               transaction, moves)
        if changed is None:
            raise ServiceFailure(Status.PROCESSING_FAILURE, "unknown Transaction UID")
        return NResponse(Status.SUCCESS, changed.status_dataset(self.ae_title), fields)

    async def status_of(self, transaction: str, response: NResponse) -> NResponse:
        job = await asyncio.to_thread(self.jobs.get, transaction)
        if job is None:
            raise ServiceFailure(NO_SUCH_SOP_INSTANCE, "unknown Transaction UID")
        response.data = job.status_dataset(self.ae_title)
        return response


# -- Inventory Creation notifications (KK.2.3) ----------------------------------------------------
EVENT_TERMINATED_WITH_INSTANCES = 11  # Table KK.2-2
EVENT_INVENTORY_STATUS = 12
EVENT_TERMINATED_WITHOUT_INSTANCES = 13


class EventNotDelivered(Exception):
    """The requestor did not take an Inventory Creation N-EVENT-REPORT."""


def terminal_event(job: InventoryJob, retrieve_ae: str = "") -> tuple[int, Dataset] | None:
    """The N-EVENT-REPORT a job in a terminal state is owed (KK.2.3.2): Inventory Terminated
    with Instances (11) for a COMPLETE one with its root (Referenced SOP Class/Instance UID,
    Retrieve AE Title, Total Number of Study Records), Terminated without Instances (13) for
    FAILURE and CANCELED; None while it is not terminal."""
    if job.status not in TERMINAL:
        return None
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.TransactionUID = job.transaction_uid
    ds.TransactionStatus = job.status
    if job.comment:
        ds.TransactionStatusComment = job.comment[:10240]
    if job.status == COMPLETE and job.root_uid:
        ds.ReferencedSOPClassUID = INVENTORY_STORAGE
        ds.ReferencedSOPInstanceUID = job.root_uid
        ds.RetrieveAETitle = retrieve_ae or "DICOMKIT"
        ds.TotalNumberOfStudyRecords = job.studies
        return EVENT_TERMINATED_WITH_INSTANCES, ds
    return EVENT_TERMINATED_WITHOUT_INSTANCES, ds


async def send_event(event_type: int, information: Dataset, *, host: str, port: int,
                     calling_ae: str, called_ae: str,
                     timeouts: Timeouts | None = None) -> None:
    """KK.2.3.2: an N-EVENT-REPORT on the well-known Storage Management SOP Instance, on a new
    association from the SCP to the requestor proposing SCP/SCU Role Selection with SCU role 0
    and SCP role 1 (PS3.7 D.3.3.4, as for Storage Commitment). Raises
    :class:`EventNotDelivered` when it was not taken."""
    async with connect(host, port, calling_aet=calling_ae, called_aet=called_ae,
                       contexts=[(INVENTORY_CREATION, UNCOMPRESSED_TS)],
                       roles={INVENTORY_CREATION: (False, True)}, timeouts=timeouts) as client:
        contexts = [c for c in client.contexts.values()
                    if c.abstract_syntax == INVENTORY_CREATION]
        if not contexts:
            raise EventNotDelivered(f"{called_ae} accepted no Inventory Creation context")
        status, _, _ = await client.n_event_report(INVENTORY_CREATION,
                                                   STORAGE_MANAGEMENT_INSTANCE, event_type,
                                                   information)
        if status != Status.SUCCESS:
            raise EventNotDelivered(f"{called_ae} answered the event with status "
                                    f"0x{status:04X}")
