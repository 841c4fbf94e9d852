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
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.reader import read
from dicomkit.encoding.transfer_syntax import is_native
from dicomkit.net.association import Association, AssociationError
from dicomkit.net.dimse import CommandField, Message, Status
from dicomkit.net.events import RetrieveReport

if TYPE_CHECKING:
    from dicomkit.net.client import Client
    from dicomkit.net.server import Server

log = logging.getLogger("dicomkit.net.retrieve")

# PS3.4 Table C.4-2 (C-MOVE) and C.4-3 (C-GET)
REFUSED_SUB_OPERATIONS = 0xA702  # Refused: Out of Resources - Unable to perform sub-operations
SUB_OPERATIONS_WITH_FAILURES = 0xB000  # Warning: Sub-operations Complete - One or more Failures
UNABLE_TO_PROCESS = 0xC000  # Failed: Unable to process


@dataclass(frozen=True)
class RetrieveItem:
    """One instance to send, as the archive's index knows it: the file need not be opened
    before its own sub-operation (a missing one is then that sub-operation's failure)."""

    path: str
    sop_class: str
    sop_instance: str
    transfer_syntax: str | None


@dataclass
class _Source:
    source: Any  # path or Dataset
    sop_class: str
    sop_instance: str
    transfer_syntax: str | None
    error: str | None = None


def _describe(source: Any) -> _Source:
    """What :meth:`ServiceHandler.retrieve` yielded, with the UIDs and transfer syntax needed to
    plan the sub-operations; a plain path's header is read here, and one that cannot be read is
    kept as a sub-operation that will fail."""
    if isinstance(source, RetrieveItem):
        return _Source(source.path, source.sop_class, source.sop_instance,
                       source.transfer_syntax)
    try:
        ds = source if isinstance(source, Dataset) else read(
            source, stop_before_pixels=True, tags=[0x00080016, 0x00080018])
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one failed sub-operation
        return _Source(source, "", "", None, error=f"{source}: {exc}")
    ts = ds.transfer_syntax.uid if ds.transfer_syntax else None
    return _Source(source, str(ds.get("SOPClassUID") or ""),
                   str(ds.get("SOPInstanceUID") or ""), ts)


def _requestor_is_scp(association: Association, sop_class: str) -> bool:
    """PS3.7 D.3.3.4: C-GET storage sub-operations need the requestor to have agreed to act
    as SCP for the SOP class (SCP/SCU Role Selection); without it none may be sent."""
    return any(c.abstract_syntax == sop_class and c.scp_role
               for c in association.contexts.values())


def move_contexts(sources: list[_Source]) -> list[tuple[str, list[str]]]:
    """Presentation contexts proposed to a C-MOVE destination (at most 128, PS3.8 §9.3.2.2):
    per SOP class one context with the uncompressed syntaxes when some instance is stored
    uncompressed, and one per compressed syntax stored, proposing it with Explicit and Implicit
    VR Little Endian so that a destination without that codec can take the data decompressed.
    The first context of every SOP class comes before any second one."""
    from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE, UNCOMPRESSED_TS

    per_class: dict[str, list[list[str]]] = {}
    for item in sources:
        if not item.sop_class:
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


class _Counts:
    def __init__(self, total: int) -> None:
        self.remaining, self.completed, self.failed, self.warning = total, 0, 0, 0
        self.failed_uids: list[str] = []

    def fail(self, sop_instance: str) -> None:
        self.remaining -= 1
        self.failed += 1
        if sop_instance:
            self.failed_uids.append(sop_instance)

    def values(self, with_remaining: bool) -> dict[str, int | None]:
        return {"NumberOfRemainingSuboperations": self.remaining if with_remaining else None,
                "NumberOfCompletedSuboperations": self.completed,
                "NumberOfFailedSuboperations": self.failed,
                "NumberOfWarningSuboperations": self.warning}


async def run_retrieve(server: Server, association: Association, message: Message,
                       cancel: asyncio.Event) -> None:
    """One C-MOVE or C-GET, always ending with a final response while the association lasts."""
    counts: _Counts | None = None
    answered = False

    async def respond(status: int, data: Dataset | None = None, **values: Any) -> None:
        nonlocal answered
        if Status.category(status) != "Pending":
            answered = True
        await server._respond(association, message, status, data, **values)

    def started(total: int) -> _Counts:
        nonlocal counts
        counts = _Counts(total)
        return counts

    try:
        await _retrieve(server, association, message, cancel, respond, started)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if answered or association.fsm.state not in ("Sta6", "Sta8"):
            raise
        if isinstance(exc, (AssociationError, ConnectionError)) and getattr(
                exc, "association", None) is association:
            raise
        log.exception("[%s] C-%s failed", association.describe(),
                      "MOVE" if message.command_field == CommandField.C_MOVE_RQ else "GET")
        data = None
        if counts is not None and counts.failed_uids:
            data = Dataset()
            data.FailedSOPInstanceUIDList = counts.failed_uids
        values = counts.values(False) if counts is not None else {}
        await server._respond(association, message, UNABLE_TO_PROCESS, data,
                              ErrorComment=f"unable to process: {exc}"[:64], **values)


async def _retrieve(server: Server, association: Association, message: Message,
                    cancel: asyncio.Event, respond: Any, started: Any) -> None:
    from dicomkit.net.client import CannotConvert, Client, connect
    from dicomkit.net.server import ServiceFailure

    is_move = message.command_field == CommandField.C_MOVE_RQ
    name = "C-MOVE" if is_move else "C-GET"
    identifier = server._decode(association, message)
    if identifier is None:
        await respond(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS)
        return
    destination = None
    aet = ""
    if is_move:
        aet = str(message.command.get("MoveDestination") or "").strip()
        destination = server.handler.move_destination(aet)
        if destination is None:
            # PS3.4 C.4.2.1.5, Table C.4-2: A801 is for a Move Destination the SCP does not know
            log.warning("[%s] C-MOVE to unknown destination %r refused (A801)",
                        association.describe(), aet)
            await respond(Status.MOVE_DESTINATION_UNKNOWN,
                          ErrorComment=f"unknown move destination {aet!r}"[:64])
            return
    try:
        yielded = [s async for s in server.handler.retrieve(association, message, identifier)]
    except ServiceFailure as exc:
        server.observer.refused(association, message, exc.status, exc.comment)
        await respond(exc.status, ErrorComment=exc.comment[:64])
        return
    items = [_describe(s) if isinstance(s, RetrieveItem) else await asyncio.to_thread(
        _describe, s) for s in yielded]
    counts: _Counts = started(len(items))
    report = RetrieveReport(aet if is_move else association.calling_ae.strip(), destination,
                            [i.sop_instance for i in items if i.sop_instance])
    server.observer.retrieve_started(association, message, report)

    async def pending() -> None:
        await respond(Status.PENDING, **counts.values(True))

    store_client: Client | None = None
    unreachable: str | None = None
    if is_move and items:
        assert destination is not None
        contexts = move_contexts(items)
        if contexts:
            try:
                store_client = await connect(
                    destination[0], destination[1], calling_aet=server.ae_title,
                    called_aet=aet, contexts=contexts, timeouts=server.timeouts,
                    transcoder=server.transcoder)
            except AssociationError as exc:
                unreachable = str(exc)
                log.warning("[%s] C-MOVE destination %s (%s:%s) cannot be reached: %s; every "
                            "sub-operation fails", association.describe(), aet,
                            destination[0], destination[1], exc)
    elif not is_move:
        store_client = Client(association, handle_requests=False,
                              transcoder=server.transcoder)
    originator = (association.calling_ae, message.message_id or 0) if is_move else None
    try:
        for item in items:
            if cancel.is_set():
                break
            category = "Failure"
            if item.error is not None:
                log.warning("[%s] %s sub-operation failed: cannot read %s",
                            association.describe(), name, item.error)
            elif unreachable is not None or store_client is None:
                pass  # counted failed: no association to the destination
            elif not is_move and not _requestor_is_scp(association, item.sop_class):
                log.warning("[%s] C-GET: the requestor took no SCP role for %s; %s not sent",
                            association.describe(), item.sop_class, item.sop_instance)
            else:
                try:
                    rsp = await store_client.store(item.source, move_originator=originator)
                    status = int(rsp.get("Status") or 0)
                    category = Status.category(status)
                    if category not in ("Success", "Warning"):
                        log.warning("[%s] %s sub-operation for %s: C-STORE status %04X",
                                    association.describe(), name, item.sop_instance, status)
                except asyncio.CancelledError:
                    raise
                except CannotConvert as exc:
                    log.warning("[%s] %s sub-operation for %s failed: %s",
                                association.describe(), name, item.sop_instance, exc)
                except Exception as exc:  # noqa: BLE001 - one sub-operation's failure
                    if not is_move and association.fsm.state not in ("Sta6", "Sta8"):
                        raise  # the requestor's association is gone: nothing more to send
                    log.warning("[%s] %s sub-operation for %s failed: %s: %s",
                                association.describe(), name, item.sop_instance,
                                type(exc).__name__, exc)
            if category == "Success":
                counts.remaining -= 1
                counts.completed += 1
            elif category == "Warning":
                counts.remaining -= 1
                counts.warning += 1
            else:
                counts.fail(item.sop_instance)
            if counts.remaining and unreachable is None:
                await pending()
    finally:
        if is_move and store_client is not None:
            try:
                await store_client.release()
            except (AssociationError, OSError):
                pass
    cancelled = cancel.is_set() and counts.remaining > 0
    data = None
    not_attempted = [i.sop_instance for i in items[len(items) - counts.remaining:]
                     if i.sop_instance] if cancelled else []
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
             association.describe(), name, counts.completed, counts.failed, counts.warning,
             counts.remaining, status)
    attempted = items[:len(items) - counts.remaining]
    failed = set(counts.failed_uids)
    server.observer.retrieved(association, message, replace(
        report, completed=[i.sop_instance for i in attempted if i.sop_instance
                           and i.sop_instance not in failed],
        failed=counts.failed_uids + not_attempted, status=status))
    await respond(status, data, **counts.values(status == Status.CANCEL))
