"""An association over TCP: PDU I/O driven by the PS3.8 state machine, and DIMSE messages
assembled from P-DATA (PS3.8 §9.3.5, PS3.7 §6.3)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dicomkit.errors import InvalidDicomError
from dicomkit.net import pdu as P
from dicomkit.net.dimse import Message, decode_command, encode_command
from dicomkit.net.fsm import Role, StateMachine
from dicomkit.net.pdv import (
    OddLengthMessage,
    even_pieces,
    max_fragment,
    message_pdus,
    pdata_pdus,
)
from dicomkit.net.stream import DEFAULT_MAX_PDU, PDUStream
from dicomkit.net.stream import HARD_MAX_PDU as HARD_MAX_PDU

log = logging.getLogger("dicomkit.net")

MAX_MESSAGE_IN_MEMORY = 256 * 1024 * 1024  # a data set not streamed to a sink is capped here
ABORT_SOURCE_USER = 0
ABORT_SOURCE_PROVIDER = 2


class AssociationError(Exception):
    """Raised on the local side when an association fails: rejected, aborted, timed out."""

    def __init__(self, message: str, association: Association | None = None) -> None:
        self.association = association
        where = f"[{association.describe()}] " if association is not None else ""
        super().__init__(where + message)


class AssociationRejected(AssociationError):
    def __init__(self, rj: P.AAssociateRJ, association: Association | None = None) -> None:
        self.result, self.source, self.reason = rj.result, rj.source, rj.reason
        super().__init__(f"association rejected: {describe_rejection(rj)}", association)


class AssociationAborted(AssociationError):
    pass


def describe_rejection(rj: P.AAssociateRJ) -> str:
    """PS3.8 Table 9-21 in words."""
    result = {1: "rejected-permanent", 2: "rejected-transient"}.get(rj.result, str(rj.result))
    reasons = {
        1: {1: "no-reason-given", 2: "application-context-name-not-supported",
            3: "calling-AE-title-not-recognized", 7: "called-AE-title-not-recognized"},
        2: {1: "no-reason-given", 2: "protocol-version-not-supported"},
        3: {1: "temporary-congestion", 2: "local-limit-exceeded"},
    }
    source = {1: "service-user", 2: "service-provider (ACSE)",
              3: "service-provider (presentation)"}.get(rj.source, str(rj.source))
    reason = reasons.get(rj.source, {}).get(rj.reason, str(rj.reason))
    return f"{result}, source {source}, reason {reason}"


@dataclass
class AcceptedContext:
    id: int
    abstract_syntax: str
    transfer_syntax: str
    scu_role: bool = True  # the requestor may act as SCU (the default, PS3.7 D.3.3.4)
    scp_role: bool = False  # the requestor may act as SCP (C-GET storage sub-operations)


class DataSink(Protocol):
    """Receives a DIMSE data set as it arrives (streaming C-STORE)."""

    def write(self, data: bytes | memoryview) -> None: ...

    def close(self) -> Any: ...

    def abort(self) -> None: ...


SinkFactory = Callable[[Message, "AcceptedContext"], "DataSink | None"]


@dataclass
class Timeouts:
    artim: float = 30.0  # PS3.8 §9.1.5: ARTIM, for association set-up and close
    dimse: float | None = 60.0  # waiting for a DIMSE response
    network: float | None = 600.0  # idle network: no PDU from the peer for this long


@dataclass
class _Pending:
    """One message being assembled from PDVs (PS3.7 §6.3.1, Annex E)."""

    context_id: int
    # PDV data as received: views of their PDU bodies, joined once when the message ends.
    command_parts: list[bytes | memoryview] = field(default_factory=list)
    command: Message | None = None
    data_parts: list[bytes | memoryview] = field(default_factory=list)
    data_size: int = 0
    command_size: int = 0
    sink: DataSink | None = None


class Association:
    """Both roles share this: the requestor via :func:`dicomkit.net.client.connect`, the
    acceptor via :class:`dicomkit.net.server.Server`. ``stream`` is the connection
    (:class:`dicomkit.net.stream.PDUStream`): PDUs are read from it and written to its
    transport."""

    def __init__(self, stream: PDUStream, role: Role, *, timeouts: Timeouts | None = None,
                 max_pdu: int = DEFAULT_MAX_PDU) -> None:
        self.stream = stream
        self.fsm = StateMachine(role)
        self.role = role
        self.timeouts = timeouts or Timeouts()
        self.local_max_pdu = max_pdu
        self.peer_max_pdu = 0
        self.contexts: dict[int, AcceptedContext] = {}
        self.request: P.AAssociateRQ | None = None
        self.accept: P.AAssociateAC | None = None
        self.calling_ae = ""
        self.called_ae = ""
        self.peer = _peername(stream)
        self.sink_factory: SinkFactory | None = None
        self.on_request: Callable[[Message], Awaitable[None]] | None = None
        self._responses: dict[int, asyncio.Queue[Message | BaseException]] = {}
        self._requests: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self._pending: _Pending | None = None
        self._released = asyncio.Event()
        self._closed = asyncio.Event()
        self._reader_task: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self._message_lock = asyncio.Lock()  # one message's PDUs at a time (PS3.8 E.1)
        self._message_id = 0
        self.abort_reason: str | None = None
        self.user_data: dict[str, Any] = {}
        sock = stream.get_extra_info("socket")
        # The socket's descriptor for writev, on plain TCP only (with TLS the transport
        # encrypts: nothing may bypass it).
        self._fd = -1
        if sock is not None and stream.get_extra_info("sslcontext") is None:
            self._fd = sock.fileno()
        _set_nodelay(stream)

    @property
    def local_max_pdu(self) -> int:
        """The maximum PDU length we offered: longer P-DATA-TF PDUs are refused unread."""
        return self.stream.max_pdu

    @local_max_pdu.setter
    def local_max_pdu(self, value: int) -> None:
        self.stream.max_pdu = value

    # -- description ---------------------------------------------------------------------------
    def describe(self) -> str:
        peer = f"{self.peer[0]}:{self.peer[1]}" if self.peer else "?"
        return f"{self.calling_ae or '?'}->{self.called_ae or '?'} {peer} {self.fsm.state}"

    def next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    @property
    def is_established(self) -> bool:
        return self.fsm.state == "Sta6"

    # -- PDU I/O ---------------------------------------------------------------------------------
    async def read_pdu(self, timeout: float | None) -> Any:
        """One PDU, whole within ``timeout``; lengths above what we offered (or the hard cap)
        are refused unread (:class:`dicomkit.net.stream.PDUStream` frames them)."""
        stream = self.stream
        if stream.ready():  # already complete: no timer
            pdu_type, body = stream.pop()
        else:
            # One asyncio.timeout per PDU, not wait_for per read: no task per read (a C-FIND
            # brings two PDUs per match).
            async with asyncio.timeout(timeout):
                pdu_type, body = await stream.next_pdu()
        return P.decode(pdu_type, body)

    async def send_raw(self, data: bytes | list[bytes | memoryview]) -> None:
        async with self._send_lock:
            if isinstance(data, list):
                self._write_pieces(data)
            else:
                self._transport().write(data)
            await self.stream.drain()

    def _write_pieces(self, pieces: list[bytes | memoryview]) -> None:
        """Write PDU pieces (headers and views of a message) in order. On a plain TCP socket
        whose transport holds nothing unsent they go out in one ``writev`` system call, no
        copy in Python (asyncio's ``writelines`` joins them first); what the kernel did not
        take, and everything on TLS, goes through the transport, piece by piece."""
        transport = self._transport()
        if self._fd >= 0 and not transport.get_write_buffer_size() \
                and not transport.is_closing():
            try:
                sent = os.writev(self._fd, pieces)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # the transport meets the same error and reports it its own way
            if sent:
                for index, piece in enumerate(pieces):
                    if sent < len(piece):
                        pieces = [memoryview(piece)[sent:], *pieces[index + 1:]]
                        break
                    sent -= len(piece)
                else:
                    return
        # The rest in one transport write: one copy into its buffer, not a call per piece.
        transport.write(pieces[0] if len(pieces) == 1 else b"".join(pieces))

    def _transport(self) -> asyncio.Transport:
        transport = self.stream.transport
        if transport is None:
            raise ConnectionResetError("the association has no connection")
        return transport

    async def send_pdu(self, pdu: Any) -> None:
        log.debug("[%s] send %s", self.describe(), type(pdu).__name__)
        await self.send_raw(P.encode(pdu))

    # -- establishment --------------------------------------------------------------------------
    def negotiated_from(self, rq: P.AAssociateRQ, ac: P.AAssociateAC) -> None:
        """Record what was agreed: contexts, their roles and the peer's maximum PDU length."""
        self.request, self.accept = rq, ac
        self.calling_ae, self.called_ae = rq.calling_ae, rq.called_ae
        proposed = {c.id: c for c in rq.contexts}
        rq_roles = {r.sop_class_uid: r for r in rq.user_info.roles}
        ac_roles = {r.sop_class_uid: r for r in ac.user_info.roles}
        for context in ac.contexts:
            if context.result != 0 or context.id not in proposed:
                continue
            abstract = proposed[context.id].abstract_syntax
            scu, scp = True, False
            if abstract in rq_roles and abstract in ac_roles:
                # PS3.7 D.3.3.4: a role is agreed only when both sides say so.
                scu = rq_roles[abstract].scu_role and ac_roles[abstract].scu_role
                scp = rq_roles[abstract].scp_role and ac_roles[abstract].scp_role
            self.contexts[context.id] = AcceptedContext(context.id, abstract,
                                                        context.transfer_syntax, scu, scp)
        if self.role is Role.REQUESTOR:
            self.peer_max_pdu = ac.user_info.max_length or 0
        else:
            self.peer_max_pdu = rq.user_info.max_length or 0

    def start(self) -> None:
        """Begin reading PDUs in the data transfer state."""
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"assoc {self.peer}")

    # -- the reader loop ---------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        try:
            while self.fsm.state not in ("Sta1",):
                timeout = self.timeouts.network
                if self.fsm.state == "Sta13":
                    timeout = self.timeouts.artim
                try:
                    pdu = await self.read_pdu(timeout)
                except TimeoutError:
                    if self.fsm.state == "Sta13":
                        self.fsm.step("Evt18")  # ARTIM expired: AA-2
                        break
                    await self._provider_abort("network timeout: no PDU from the peer in "
                                               f"{timeout:.0f} s", reason=0)
                    break
                except P.PDUError as exc:
                    await self._provider_abort(str(exc), reason=exc.abort_reason)
                    break
                except (ConnectionError, OSError):
                    if self.fsm.state == "Sta13":
                        self.fsm.step("Evt17")  # AR-5
                    elif self.fsm.state != "Sta1":
                        self.fsm.step("Evt17")  # AA-4: A-P-ABORT indication
                        self._fail(AssociationAborted("peer closed the connection", self))
                    break
                try:
                    await self._on_pdu(pdu)
                except P.PDUError as exc:
                    await self._provider_abort(str(exc), reason=exc.abort_reason)
                    break
                except InvalidDicomError as exc:  # a malformed command set
                    await self._provider_abort(str(exc), reason=6)
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure ends the association cleanly
            log.exception("[%s] association failed", self.describe())
            self._fail(AssociationAborted(f"internal error: {exc}", self))
            await self.close_transport()
        finally:
            # First what must happen even if this task is being cancelled: a partial data
            # set is dropped, waiters learn the association is gone.
            self._fail(AssociationAborted("association closed", self))
            self._closed.set()
            await self.close_transport()

    async def _on_pdu(self, pdu: Any) -> None:
        if isinstance(pdu, P.PDataTF):
            action = self.fsm.step("Evt10")
            if action in ("DT-2", "AR-6"):
                await self._on_pdata(pdu)
            elif action == "AA-8":
                await self.send_provider_abort(reason=2)
        elif isinstance(pdu, P.AReleaseRQ):
            action = self.fsm.step("Evt12")
            if action == "AR-2":  # peer asks to release: answer at once (Evt14, AR-4)
                self.fsm.step("Evt14")
                await self.send_pdu(P.AReleaseRP())
                self._fail(AssociationAborted("association released by the peer", self))
                self._released.set()
            elif action == "AR-8":  # release collision
                if self.fsm.state == "Sta9":
                    self.fsm.step("Evt14")  # AR-9
                    await self.send_pdu(P.AReleaseRP())
                else:
                    pass  # Sta10: wait for A-RELEASE-RP
            elif action == "AA-8":
                await self.send_provider_abort(reason=2)
        elif isinstance(pdu, P.AReleaseRP):
            action = self.fsm.step("Evt13")
            if action == "AR-3":
                self._released.set()
                await self.close_transport()
            elif action == "AR-10":
                self.fsm.step("Evt14")  # AR-4: send RP, then wait for close
                await self.send_pdu(P.AReleaseRP())
                self._released.set()
            elif action == "AA-8":
                await self.send_provider_abort(reason=2)
        elif isinstance(pdu, P.AAbort):
            self.fsm.step("Evt16")  # AA-3 / AA-2
            self.abort_reason = f"aborted by the peer (source {pdu.source}, reason {pdu.reason})"
            self._fail(AssociationAborted(self.abort_reason, self))
            await self.close_transport()
        else:  # an A-ASSOCIATE PDU after establishment
            event = {P.AAssociateRQ: "Evt6", P.AAssociateAC: "Evt3",
                     P.AAssociateRJ: "Evt4"}.get(type(pdu), "Evt19")
            action = self.fsm.step(event)
            if action in ("AA-8", "AA-7", "AA-1"):
                await self.send_provider_abort(reason=2)

    async def _on_pdata(self, pdata: P.PDataTF) -> None:
        for pdv in pdata.pdvs:
            pending = self._pending
            if pending is None:
                if not pdv.is_command:
                    raise P.PDUError("data fragment before any command", abort_reason=6)
                if pdv.context_id not in self.contexts:
                    raise P.PDUError(f"P-DATA on presentation context {pdv.context_id}, which "
                                     "was not accepted", abort_reason=6)
                pending = self._pending = _Pending(pdv.context_id)
            if pdv.context_id != pending.context_id:
                raise P.PDUError("PDV for another presentation context inside a message",
                                 abort_reason=6)
            if pdv.is_command:
                if pending.command is not None:
                    raise P.PDUError("command fragment after the command ended", abort_reason=6)
                pending.command_parts.append(pdv.data)
                pending.command_size += len(pdv.data)
                if pending.command_size > 1 << 20:
                    raise P.PDUError("command set larger than 1 MiB", abort_reason=6)
                if pdv.is_last:
                    message = Message(pdv.context_id, decode_command(
                        b"".join(pending.command_parts)))
                    pending.command = message
                    if not message.has_data:
                        self._pending = None
                        await self._deliver(message)
                    elif self.sink_factory is not None:
                        pending.sink = self.sink_factory(message, self.contexts[pdv.context_id])
                continue
            if pending.command is None:
                raise P.PDUError("data fragment inside a command", abort_reason=6)
            if pending.sink is not None:
                pending.sink.write(pdv.data)
            else:
                pending.data_parts.append(pdv.data)
                pending.data_size += len(pdv.data)
                if pending.data_size > MAX_MESSAGE_IN_MEMORY:
                    raise P.PDUError(f"data set larger than {MAX_MESSAGE_IN_MEMORY} bytes for a "
                                     "message that is kept in memory", abort_reason=6)
            if pdv.is_last:
                message = pending.command
                self._pending = None
                if pending.sink is not None:
                    message.data_result = pending.sink.close()
                else:
                    message.data = b"".join(pending.data_parts)
                try:
                    await self._deliver(message)
                except BaseException:
                    # Cancelled (shutdown) or failed before the handler took the data: drop
                    # the finished temporary file; nothing was acknowledged for it.
                    if pending.sink is not None:
                        pending.sink.abort()
                    raise

    async def _deliver(self, message: Message) -> None:
        if message.is_response:
            queue = self._responses.get(message.responding_to or 0)
            if queue is None:
                log.warning("[%s] response to unknown message ID %s dropped", self.describe(),
                            message.responding_to)
                return
            await queue.put(message)
        elif self.on_request is not None:
            await self.on_request(message)
        else:
            await self._requests.put(message)

    # -- failure and close -----------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        for queue in self._responses.values():
            queue.put_nowait(exc)
        self._requests.put_nowait(exc)
        if self._pending is not None and self._pending.sink is not None:
            self._pending.sink.abort()  # a partial data set is never kept
            self._pending = None

    async def send_provider_abort(self, reason: int) -> None:
        """Send an A-ABORT as the service provider (PS3.8 §9.3.8, source 2) with ``reason``
        (Table 9-26), then close the transport."""
        try:
            await self.send_pdu(P.AAbort(source=ABORT_SOURCE_PROVIDER, reason=reason))
        except (ConnectionError, OSError):
            pass
        await self.close_transport()

    async def _provider_abort(self, why: str, reason: int) -> None:
        log.warning("[%s] aborting: %s", self.describe(), why)
        self.abort_reason = why
        if self.fsm.state not in ("Sta1", "Sta13"):
            self.fsm.step("Evt19")  # AA-8 (or AA-1 in Sta2)
        self._fail(AssociationAborted(why, self))
        await self.send_provider_abort(reason)

    async def close_transport(self) -> None:
        """Close the TCP connection (waiting at most 2 s) and put the state machine in Sta1
        through Evt17, as Table 9-10 does when the transport closes."""
        self.stream.close()
        try:
            await asyncio.wait_for(self.stream.wait_closed(), 2)
        except (TimeoutError, ConnectionError, OSError):
            pass
        if self.fsm.state != "Sta1":
            self.fsm.step("Evt17")  # transport closed: AA-4, AA-5 or AR-5, all to Sta1

    # -- DIMSE send/receive ----------------------------------------------------------------------
    def max_pdv_data(self) -> int:
        """Bytes of message per PDV: the peer's maximum less the PDV item header, rounded down
        to even (PS3.8 §9.3.5, Annex E.1; :func:`dicomkit.net.pdv.max_fragment`)."""
        return max_fragment(self.peer_max_pdu)

    async def send_message(self, context_id: int, command: Any,
                           data: bytes | memoryview | AsyncIterator[bytes] | None = None) -> None:
        """Send a command (a Dataset, or one already encoded with ``encode_command``) and its
        data set (bytes, or chunks from a file), cut into even fragments that fit the peer's
        maximum PDU length by :func:`dicomkit.net.pdv.pdata_pdus` (PS3.8 Annex E.1).

        A message is sent whole before another starts (E.1: no interleaving), even when
        several tasks (C-FIND, C-GET sub-operations) send on one association. A data set of
        odd length is refused with :class:`AssociationError` before anything is sent when its
        length is known (bytes); one streamed from a file that turns out odd at its end has
        already gone out in part, so the association is aborted."""
        if context_id not in self.contexts:
            raise AssociationError(f"presentation context {context_id} was not accepted", self)
        if self.fsm.state not in ("Sta6", "Sta8"):
            raise AssociationError("the association is not established", self)
        limit = self.max_pdv_data()
        encoded = command if isinstance(command, bytes) else encode_command(command)
        if data is None or isinstance(data, (bytes, bytearray, memoryview)):
            try:
                # Command and data set in one write: one system call and one drain per message.
                batch = pdata_pdus(context_id, True, encoded, limit, last=True)
                if data is not None:
                    batch += pdata_pdus(context_id, False, data, limit, last=True)
            except OddLengthMessage as exc:
                raise AssociationError(f"not sent: {exc}", self) from exc
            async with self._message_lock:
                self.fsm.step("Evt9")  # DT-1 / AR-7
                await self._send_batches(batch)
            return
        try:
            head = pdata_pdus(context_id, True, encoded, limit, last=True)
        except OddLengthMessage as exc:
            raise AssociationError(f"not sent: {exc}", self) from exc
        async with self._message_lock:
            self.fsm.step("Evt9")
            await self._send_batches(head)
            async for piece, last in even_pieces(data):
                try:
                    batch = pdata_pdus(context_id, False, piece, limit, last=last)
                except OddLengthMessage as exc:
                    await self.abort()
                    raise AssociationError(f"association aborted: {exc}", self) from exc
                await self._send_batches(batch)

    async def send_messages(self, context_id: int,
                            messages: list[tuple[bytes, bytes | memoryview | None]]) -> None:
        """Send several messages at once: each an encoded command (``encode_command``) and its
        data set (bytes) or None, each one PDU when it fits in the peer's maximum PDU length,
        otherwise cut into fragments as :meth:`send_message` cuts them
        (:func:`dicomkit.net.pdv.message_pdus`), and written together: one system call for
        the whole list when the socket takes it (C-FIND pending responses built in one go). Each message
        is still whole before the next starts (PS3.8 E.1), none of another task's messages in
        between; an odd-length one refuses the whole list before anything is sent. The caller
        bounds the list (a C-CANCEL can only be looked at between lists)."""
        if context_id not in self.contexts:
            raise AssociationError(f"presentation context {context_id} was not accepted", self)
        if self.fsm.state not in ("Sta6", "Sta8"):
            raise AssociationError("the association is not established", self)
        limit = self.max_pdv_data()
        batch: list[bytes | memoryview] = []
        try:
            for encoded, data in messages:
                batch += message_pdus(context_id, encoded, data, limit)
        except OddLengthMessage as exc:
            raise AssociationError(f"not sent: {exc}", self) from exc
        async with self._message_lock:
            for _ in messages:
                self.fsm.step("Evt9")  # DT-1 / AR-7, once per message
            await self._send_batches(batch)

    async def _send_batches(self, items: list[bytes | memoryview]) -> None:
        """Write PDU pieces 512 at a time (256 PDUs: within writev's 1,024 buffers), draining
        between writes."""
        for start in range(0, len(items), 512):
            await self.send_raw(items[start:start + 512])

    def expect_responses(self, message_id: int) -> asyncio.Queue[Message | BaseException]:
        queue: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self._responses[message_id] = queue
        return queue

    def forget(self, message_id: int) -> None:
        self._responses.pop(message_id, None)

    async def next_response(self, queue: asyncio.Queue[Message | BaseException],
                            timeout: float | None = None) -> Message:
        if not queue.empty():
            # Already here (pending responses arrive several per read): no timer to arm.
            item = queue.get_nowait()
            if isinstance(item, BaseException):
                raise item
            return item
        wait = self.timeouts.dimse if timeout is None else timeout
        try:
            async with asyncio.timeout(wait):
                item = await queue.get()
        except TimeoutError:
            await self.abort()
            raise AssociationError(f"no DIMSE response within {wait} s (association aborted)",
                                   self) from None
        if isinstance(item, BaseException):
            raise item
        return item

    async def next_request(self) -> Message:
        item = await self._requests.get()
        if isinstance(item, BaseException):
            raise item
        return item

    # -- release and abort -------------------------------------------------------------------------
    async def release(self) -> None:
        """A-RELEASE (PS3.8 §7.2): send the request and wait for the reply, ARTIM bounded."""
        if self.fsm.state != "Sta6":
            await self.close_transport()
            return
        self.fsm.step("Evt11")  # AR-1
        await self.send_pdu(P.AReleaseRQ())
        try:
            await asyncio.wait_for(self._released.wait(), self.timeouts.artim)
        except TimeoutError:
            await self.abort()
        await self.wait_closed()

    async def abort(self) -> None:
        """A-ABORT from the service user (PS3.8 §7.3)."""
        if self.fsm.state in ("Sta1", "Sta13"):
            await self.close_transport()
            return
        self.fsm.step("Evt15")
        try:
            await self.send_pdu(P.AAbort(source=ABORT_SOURCE_USER, reason=0))
        except (ConnectionError, OSError):
            pass
        self._fail(AssociationAborted("aborted by the local user", self))
        await self.close_transport()

    async def wait_closed_forever(self) -> None:
        """Until the association has ended (the reader loop applies the timeouts)."""
        await self._closed.wait()

    async def wait_closed(self) -> None:
        if self._reader_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._closed.wait()), self.timeouts.artim)
            except TimeoutError:
                await self.close_transport()
                self._reader_task.cancel()


def _peername(stream: PDUStream) -> tuple[str, int] | None:
    peer = stream.get_extra_info("peername")
    return (str(peer[0]), int(peer[1])) if peer else None


def _set_nodelay(stream: PDUStream) -> None:
    """TCP_NODELAY: without it each small DIMSE message waits on the peer's delayed ACK."""
    sock = stream.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
