"""C-MOVE and C-GET sub-operations (PS3.4 C.4.2, C.4.3; PS3.7 §9.1.4, §9.1.3): storage of
each matching instance, to a known destination (MOVE) or back on the same association (GET),
with pending counts.

What the standard asks, and how it is done here:

- Each instance is one C-STORE sub-operation. One that cannot be performed (its file is gone
  or unreadable, the peer accepted no context for its SOP class, its pixel data cannot be
  converted to a syntax the peer accepted, the peer answers a failure) is a failed
  sub-operation: counted in Number of Failed Sub-operations and its SOP Instance UID put in
  the Failed SOP Instance UID List (0008,0058) of the final response (C.4.2.1.6, C.4.3.1.5);
  the others go on.
- The transfer syntax: the stored one when the peer accepted it, otherwise a conversion
  (C.4.2.3.1 Note 1: the SCP may choose the encoding by what the C-STORE negotiation accepted;
  :meth:`dicomkit.net.client.Client.store_plan`): uncompressed data sets are rewritten in
  another uncompressed syntax, compressed pixel data is decompressed (Explicit VR Little Endian
  first), never re-compressed lossily.
- For C-MOVE the archive proposes to the destination, per SOP class, the stored compressed
  syntax together with Explicit and Implicit VR Little Endian, and the uncompressed syntaxes for
  instances stored uncompressed, so the destination chooses (PS3.8 §9.3.2.2).
- Final status (C.4.2.2.1 / C.4.3.2.1 for what the SCU reads, Tables C.4-2 and C.4-3):
  0000 when every sub-operation completed; B000 (Warning: sub-operations complete, one or more
  failures or warnings) when some failed or had warnings but not all failed; A702 (Refused: Out
  of Resources - Unable to perform sub-operations) when all failed, as DCMTK's dcmqrscp does;
  FE00 after a C-CANCEL; A801 only for a Move Destination the archive does not know. A known
  destination that cannot be reached fails every sub-operation, hence A702 with all of them
  listed. An unexpected error still ends with a final response: C000 (Failed: Unable to
  process) with the counts so far.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, replace

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.reader import read
from dicomkit.encoding.transfer_syntax import is_native
from dicomkit.net.association import AssociationError, Timeouts
from dicomkit.net.client import CannotConvert, Client, Transcoder, connect
from dicomkit.net.dimse import CommandField, Status
from dicomkit.net.events import RetrieveReport, ServerObserver
from dicomkit.net.service import (
    Request,
    Retrievable,
    RetrieveFailure,
    RetrieveItem,
    ServiceFailure,
    ServiceHandler,
)
from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE, UNCOMPRESSED_TS

log = logging.getLogger("dicomkit.net.retrieve")

# PS3.4 Table C.4-2 (C-MOVE) and C.4-3 (C-GET)
REFUSED_SUB_OPERATIONS = 0xA702  # Refused: Out of Resources - Unable to perform sub-operations
SUB_OPERATIONS_WITH_FAILURES = 0xB000  # Warning: Sub-operations Complete - One or more Failures
UNABLE_TO_PROCESS = 0xC000  # Failed: Unable to process


@dataclass(frozen=True)
class StoreSettings:
    """How the SCP opens the C-STORE association to a C-MOVE destination (and converts what
    the peer cannot take, for C-MOVE and C-GET): its own AE title as the calling AE, the
    timeouts, the pixel transcoder (net/ decodes no pixels itself)."""

    ae_title: str
    timeouts: Timeouts
    transcoder: Transcoder | None = None


@dataclass
class SubOperation:
    """One C-STORE sub-operation to perform: what a handler yielded, with the UIDs and transfer
    syntax needed to plan the sub-operations; ``error`` when it cannot be read (it fails)."""

    source: Dataset | str | os.PathLike[str]
    sop_class: str
    sop_instance: str
    transfer_syntax: str | None
    error: str | None = None


def describe(source: Retrievable) -> SubOperation:
    """The sub-operation for what :meth:`ServiceHandler.retrieve` yielded; a plain path's header
    is read here (blocking: called in a worker thread), and one that cannot be read is kept as a
    sub-operation that will fail."""
    if isinstance(source, RetrieveItem):
        return SubOperation(source.path, source.sop_class, source.sop_instance,
                            source.transfer_syntax)
    if isinstance(source, RetrieveFailure):
        return SubOperation("", source.sop_class, source.sop_instance, None,
                            error=f"{source.sop_instance}: {source.reason}")
    try:
        ds = source if isinstance(source, Dataset) else read(
            source, stop_before_pixels=True, tags=[0x00080016, 0x00080018])
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one failed sub-operation
        return SubOperation(source, "", "", None, error=f"{source}: {exc}")
    ts = ds.transfer_syntax.uid if ds.transfer_syntax else None
    return SubOperation(source, str(ds.get("SOPClassUID") or ""),
                        str(ds.get("SOPInstanceUID") or ""), ts)


def requestor_is_scp(request: Request, sop_class: str) -> bool:
    """PS3.7 D.3.3.4: C-GET storage sub-operations need the requestor to have agreed to act
    as SCP for the SOP class (SCP/SCU Role Selection); without it none may be sent."""
    return any(c.abstract_syntax == sop_class and c.scp_role
               for c in request.association.contexts.values())


def move_contexts(sources: list[SubOperation]) -> list[tuple[str, list[str]]]:
    """Presentation contexts proposed to a C-MOVE destination (at most 128, PS3.8 §9.3.2.2):
    per SOP class one context with the uncompressed syntaxes when some instance is stored
    uncompressed, and one per compressed syntax stored, proposing it with Explicit and Implicit
    VR Little Endian so that a destination without that codec can take the data decompressed.
    The first context of every SOP class comes before any second one."""
    per_class: dict[str, list[list[str]]] = {}
    for item in sources:
        if not item.sop_class or item.error is not None:
            continue
        contexts = per_class.setdefault(item.sop_class, [])
        ts = item.transfer_syntax
        proposal = (list(UNCOMPRESSED_TS) if ts is None or is_native(ts)
                    else [ts, EXPLICIT_VR_LE, IMPLICIT_VR_LE])
        if proposal not in contexts:
            contexts.append(proposal)
    firsts = [(sop_class, contexts[0]) for sop_class, contexts in per_class.items()]
    rest = [(sop_class, c) for sop_class, contexts in per_class.items() for c in contexts[1:]]
    return (firsts + rest)[:128]


class Counts:
    """The sub-operation counts of PS3.4 C.4.2.1.6 / C.4.3.1.5 and the Failed SOP Instance UID
    List (0008,0058)."""

    def __init__(self, total: int) -> None:
        self.remaining, self.completed, self.failed, self.warning = total, 0, 0, 0
        self.failed_uids: list[str] = []

    def count(self, sop_instance: str, category: str) -> None:
        """One sub-operation ended in ``category`` (a :meth:`Status.category`)."""
        self.remaining -= 1
        if category == "Success":
            self.completed += 1
        elif category == "Warning":
            self.warning += 1
        else:
            self.failed += 1
            if sop_instance:
                self.failed_uids.append(sop_instance)

    def values(self, with_remaining: bool) -> dict[str, int | None]:
        """The Number of ... Sub-operations command fields (Remaining only when pending or
        cancelled, PS3.4 C.4.2.1.6)."""
        return {"NumberOfRemainingSuboperations": self.remaining if with_remaining else None,
                "NumberOfCompletedSuboperations": self.completed,
                "NumberOfFailedSuboperations": self.failed,
                "NumberOfWarningSuboperations": self.warning}


class RetrieveOperation:
    """One C-MOVE or C-GET, from the identifier to the final response. :meth:`run` is what the
    server calls; the other methods are its steps, in the order they happen."""

    def __init__(self, request: Request, handler: ServiceHandler, observer: ServerObserver,
                 settings: StoreSettings) -> None:
        self.request = request
        self.association = request.association
        self.handler = handler
        self.observer = observer
        self.settings = settings
        self.is_move = request.message.command_field == CommandField.C_MOVE_RQ
        self.name = "C-MOVE" if self.is_move else "C-GET"
        self.destination_ae = ""
        self.destination: tuple[str, int] | None = None
        self.items: list[SubOperation] = []
        self.counts: Counts | None = None
        self.unreachable: str | None = None  # why the Move Destination cannot be reached

    async def run(self) -> None:
        """Perform the request; always end with a final response while the association lasts:
        an unexpected error after the request was accepted is C000 (Failed: Unable to process)
        with the counts so far."""
        try:
            await self.perform()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.request.answered or self.association.fsm.state not in ("Sta6", "Sta8"):
                raise
            if isinstance(exc, (AssociationError, ConnectionError)) and getattr(
                    exc, "association", None) is self.association:
                raise
            log.exception("[%s] %s failed", self.association.describe(), self.name)
            await self.unable_to_process(exc)

    async def perform(self) -> None:
        identifier = self.request.identifier()
        if identifier is None:
            await self.request.respond(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS)
            return
        if self.is_move and not await self.resolve_destination():
            return
        if not await self.find_instances(identifier):
            return
        counts = self.counts = Counts(len(self.items))
        report = RetrieveReport(
            self.destination_ae if self.is_move else self.association.calling_ae.strip(),
            self.destination, [i.sop_instance for i in self.items if i.sop_instance])
        self.observer.retrieve_started(self.association, self.request.message, report)
        client = await self.open_store_association()
        try:
            for item in self.items:
                if self.request.cancelled.is_set():
                    break
                counts.count(item.sop_instance, await self.sub_operation(client, item))
                if counts.remaining and self.unreachable is None:
                    await self.request.respond(Status.PENDING, None, **counts.values(True))
        finally:
            if self.is_move and client is not None:
                await self.release(client)
        await self.final_response(report)

    async def resolve_destination(self) -> bool:
        """C-MOVE: the Move Destination's host and port, from the handler; an unknown one is
        refused A801 (PS3.4 C.4.2.1.5, Table C.4-2)."""
        aet = self.destination_ae = str(
            self.request.message.command.get("MoveDestination") or "").strip()
        self.destination = self.handler.move_destination(aet)
        if self.destination is None:
            log.warning("[%s] C-MOVE to unknown destination %r refused (A801)",
                        self.association.describe(), aet)
            await self.request.respond(Status.MOVE_DESTINATION_UNKNOWN,
                                       ErrorComment=f"unknown move destination {aet!r}"[:64])
            return False
        return True

    async def find_instances(self, identifier: Dataset) -> bool:
        """What the handler finds to send; a :class:`ServiceFailure` refuses the request with
        its status."""
        message = self.request.message
        try:
            yielded = [s async for s in self.handler.retrieve(self.association, message,
                                                              identifier)]
        except ServiceFailure as exc:
            self.observer.refused(self.association, message, exc.status, exc.comment)
            await self.request.respond(exc.status, ErrorComment=exc.comment[:64])
            return False
        self.items = [describe(s) if isinstance(s, (RetrieveItem, RetrieveFailure))
                      else await asyncio.to_thread(describe, s) for s in yielded]
        return True

    async def open_store_association(self) -> Client | None:
        """The association the C-STORE sub-operations go on: a new one to the Move Destination
        proposing :func:`move_contexts` (None, with ``unreachable`` set, when it cannot be
        opened: every sub-operation then fails), or the requestor's own for C-GET."""
        settings = self.settings
        if not self.is_move:
            return Client(self.association, handle_requests=False,
                          transcoder=settings.transcoder)
        contexts = move_contexts(self.items)
        if not contexts:
            return None
        assert self.destination is not None
        host, port = self.destination
        try:
            return await connect(host, port, calling_aet=settings.ae_title,
                                 called_aet=self.destination_ae, contexts=contexts,
                                 timeouts=settings.timeouts, transcoder=settings.transcoder)
        except AssociationError as exc:
            self.unreachable = str(exc)
            log.warning("[%s] C-MOVE destination %s (%s:%s) cannot be reached: %s; every "
                        "sub-operation fails", self.association.describe(), self.destination_ae,
                        host, port, exc)
            return None

    async def sub_operation(self, client: Client | None, item: SubOperation) -> str:
        """One C-STORE sub-operation; its outcome as a status category (Success, Warning,
        Failure). Only the loss of the requestor's own association (C-GET) stops the rest."""
        describe = self.association.describe
        if item.error is not None:
            log.warning("[%s] %s sub-operation failed: cannot read %s", describe(), self.name,
                        item.error)
            return "Failure"
        if client is None:
            return "Failure"  # no association to the destination
        if not self.is_move and not requestor_is_scp(self.request, item.sop_class):
            log.warning("[%s] C-GET: the requestor took no SCP role for %s; %s not sent",
                        describe(), item.sop_class, item.sop_instance)
            return "Failure"
        originator = ((self.association.calling_ae, self.request.message.message_id or 0)
                      if self.is_move else None)
        try:
            rsp = await client.store(item.source, move_originator=originator)
        except asyncio.CancelledError:
            raise
        except CannotConvert as exc:
            log.warning("[%s] %s sub-operation for %s failed: %s", describe(), self.name,
                        item.sop_instance, exc)
            return "Failure"
        except Exception as exc:  # noqa: BLE001 - one sub-operation's failure
            if not self.is_move and self.association.fsm.state not in ("Sta6", "Sta8"):
                raise  # the requestor's association is gone: nothing more to send
            log.warning("[%s] %s sub-operation for %s failed: %s: %s", describe(), self.name,
                        item.sop_instance, type(exc).__name__, exc)
            return "Failure"
        status = int(rsp.get("Status") or 0)
        category = Status.category(status)
        if category not in ("Success", "Warning"):
            log.warning("[%s] %s sub-operation for %s: C-STORE status %04X", describe(),
                        self.name, item.sop_instance, status)
            return "Failure"
        return category

    async def release(self, client: Client) -> None:
        """A-RELEASE of the association to the Move Destination."""
        try:
            await client.release()
        except (AssociationError, OSError):
            pass

    async def final_response(self, report: RetrieveReport) -> None:
        """The final status (PS3.4 Tables C.4-2, C.4-3) with the counts and the Failed SOP
        Instance UID List: failed ones, and after a C-CANCEL the ones not attempted."""
        counts = self.counts
        assert counts is not None
        cancelled = self.request.cancelled.is_set() and counts.remaining > 0
        attempted = self.items[:len(self.items) - counts.remaining]
        not_attempted = ([i.sop_instance for i in self.items[len(attempted):] if i.sop_instance]
                         if cancelled else [])
        data = None
        if counts.failed_uids or not_attempted:
            data = Dataset()
            data.FailedSOPInstanceUIDList = counts.failed_uids + not_attempted
        if cancelled:
            status = Status.CANCEL
        elif counts.failed and not (counts.completed or counts.warning):
            status = REFUSED_SUB_OPERATIONS  # every sub-operation failed
        elif counts.failed or counts.warning:
            status = SUB_OPERATIONS_WITH_FAILURES
        else:
            status = Status.SUCCESS
        log.info("[%s] %s: %d completed, %d failed, %d warning, %d not attempted; status %04X",
                 self.association.describe(), self.name, counts.completed, counts.failed,
                 counts.warning, counts.remaining, status)
        failed = set(counts.failed_uids)
        self.observer.retrieved(self.association, self.request.message, replace(
            report, completed=[i.sop_instance for i in attempted if i.sop_instance
                               and i.sop_instance not in failed],
            failed=counts.failed_uids + not_attempted, status=status))
        await self.request.respond(status, data, **counts.values(status == Status.CANCEL))

    async def unable_to_process(self, exc: Exception) -> None:
        """C000 (Failed: Unable to process) after an unexpected error, with the counts and the
        failed UIDs so far."""
        counts = self.counts
        data = None
        if counts is not None and counts.failed_uids:
            data = Dataset()
            data.FailedSOPInstanceUIDList = counts.failed_uids
        values = counts.values(False) if counts is not None else {}
        await self.request.respond(UNABLE_TO_PROCESS, data,
                                   ErrorComment=f"unable to process: {exc}"[:64], **values)
