"""One DICOM connection's bytes: upper-layer PDU framing (PS3.8 §9.3) as an asyncio buffered
protocol, and flow control on both directions.

Receiving, bytes go from the kernel into the buffer of the PDU they belong to. While a PDU's
header is awaited, a read lands in a small scratch buffer: the PDUs that lie whole in it are
copied out once (many small PDUs, a C-FIND's responses, cost one read), and of a longer PDU its
header is checked (type, length against what we offered and :data:`HARD_MAX_PDU`) before its
body's own bytearray is allocated at the declared length; what the scratch holds of that body is
copied in, the rest is read straight into it (a body above :data:`GROW_FROM` in a buffer that
doubles as its bytes arrive, so that a header alone never reserves more). A complete PDU waits,
undecoded, in a queue the association reads (:meth:`PDUStream.next_pdu`); P-DATA values decoded from it are views of that
bytearray, which is never reused, so a data sink writes them without a copy.

The queue is bounded: past :data:`MAX_QUEUED` complete PDUs reading pauses (the kernel's window
then stops the peer) and it resumes once the consumer has taken all but :data:`RESUME_AT`.
Sending, :meth:`PDUStream.drain` waits while the transport is over its high-water mark.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from dicomkit.net import pdu as P

DEFAULT_MAX_PDU = 262_144  # what we accept; DCMTK uses 16 KiB, larger PDUs cost less CPU
HARD_MAX_PDU = 64 * 1024 * 1024  # never read a PDU longer than this, whatever we offered
HEADER = 6
SCRATCH = 16 * 1024  # a read while awaiting a header: small PDUs in bulk, little body copied
GROW_FROM = 1024 * 1024  # a longer body's buffer starts at this and doubles as bytes arrive
MAX_QUEUED = 8  # complete PDUs waiting for the association before reading pauses
RESUME_AT = 2  # ... and how few must be left for it to resume
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
_HEADER = struct.Struct(">BxL")
_PDU_TYPES = frozenset((1, 2, 3, 4, 5, 6, 7))

ReceivedPDU = tuple[int, "bytes | bytearray"]
"""(PDU-type, body) of a complete PDU, not yet decoded."""


def check_header(pdu_type: int, length: int, max_pdu: int) -> P.PDUError | None:
    """Why a PDU with this header must not be read (with its A-ABORT reason, PS3.8 Table
    9-26), None if it may: P-DATA-TF longer than the maximum we offered (``max_pdu``, 0 for no
    limit), any PDU longer than :data:`HARD_MAX_PDU`, an unrecognised PDU-type."""
    if pdu_type not in _PDU_TYPES:
        return P.PDUError(f"unrecognised PDU type 0x{pdu_type:02X}", abort_reason=1)
    if pdu_type == 0x04 and max_pdu != 0 and length > max(max_pdu, 1024) + 6:
        return P.PDUError(f"P-DATA-TF of {length} bytes exceeds the negotiated maximum "
                          f"{max_pdu}", abort_reason=6)
    if length > HARD_MAX_PDU:
        return P.PDUError(f"PDU length {length} exceeds {HARD_MAX_PDU}", abort_reason=6)
    return None


class PDUStream(asyncio.BufferedProtocol):
    """The protocol of one association's transport (plain TCP or TLS). ``on_connected`` is
    called once the transport is up (after the TLS handshake), e.g. to start serving it."""

    def __init__(self, on_connected: Callable[[PDUStream], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.max_pdu = DEFAULT_MAX_PDU  # the P-DATA-TF maximum we offered; 0: HARD_MAX_PDU
        self.task: asyncio.Task[None] | None = None  # the acceptor's task serving this stream
        self._on_connected = on_connected
        self._scratch = bytearray(SCRATCH)
        self._scratch_view = memoryview(self._scratch)
        self._held = 0  # bytes of an incomplete header at the start of the scratch buffer
        self._body: bytearray | None = None  # the PDU being read into its own buffer
        self._body_view = memoryview(b"")
        self._body_type = 0
        self._body_length = 0  # the declared length; the buffer grows to it (GROW_FROM)
        self._filled = 0
        self._queue: deque[ReceivedPDU | BaseException] = deque()
        self._end: Callable[[], BaseException] | None = None  # what reads raise once drained
        self._stopped = False  # an invalid header was met: nothing more is framed
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drainers: deque[asyncio.Future[None]] = deque()
        self._lost: BaseException | None = None
        self._connection_lost = False
        self._closed: asyncio.Future[None] | None = None
        self._sock: socket.socket | None = None
        self._over_ssl = False

    # -- transport callbacks ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._sock = transport.get_extra_info("socket")
        self._over_ssl = transport.get_extra_info("sslcontext") is not None
        self._quickack()
        if self._on_connected is not None:
            self._on_connected(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        body = self._body
        if body is not None:
            if self._filled == len(body):  # below the declared length: grow as bytes arrive
                # A new buffer, not a resize: the transport may still hold a view of this one.
                grown = bytearray(min(2 * len(body), self._body_length))
                grown[:len(body)] = body
                self._body, self._body_view = grown, memoryview(grown)
            return self._body_view[self._filled:]
        return self._scratch_view[self._held:]  # also what is read after an error, unused

    def buffer_updated(self, nbytes: int) -> None:
        if self._stopped:
            return
        body = self._body
        if body is not None:
            self._filled += nbytes
            if self._filled < self._body_length:
                return
            self._queue.append((self._body_type, body))
            self._body = None
            self._body_view = memoryview(b"")
        else:
            self._frame(self._held + nbytes)
        if self._body is None:
            self._quickack()
        self._wake()
        if len(self._queue) >= MAX_QUEUED and not self._reading_paused \
                and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _frame(self, end: int) -> None:
        """The PDUs in the first ``end`` bytes of the scratch buffer: whole ones are queued,
        the start of a longer one moves into its own buffer, a partial header stays."""
        view = self._scratch_view
        pos = 0
        while end - pos >= HEADER:
            pdu_type, length = _HEADER.unpack_from(view, pos)
            error = check_header(pdu_type, length, self.max_pdu)
            if error is not None:
                self._stop(error)
                return
            start = pos + HEADER
            if end - start >= length:
                pos = start + length
                self._queue.append((pdu_type, bytes(view[start:pos])))
                continue
            # The length was checked above; a longer body's buffer still grows only as its
            # bytes arrive, so a header alone never costs more than GROW_FROM.
            body = bytearray(min(length, GROW_FROM))
            got = end - start
            body[:got] = view[start:end]
            self._body, self._body_view = body, memoryview(body)
            self._body_type, self._filled, self._body_length = pdu_type, got, length
            pos = end
            break
        self._held = end - pos
        if self._held and pos:
            self._scratch[:self._held] = view[pos:end]

    def eof_received(self) -> bool:
        self._finish(None)
        # Plain TCP stays open for our answer (an A-RELEASE-RP); TLS cannot half-close.
        return not self._over_ssl

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection_lost = True
        self._lost = exc
        self._finish(exc)
        while self._drainers:
            waiter = self._drainers.popleft()
            if not waiter.done():
                waiter.set_exception(exc or ConnectionResetError("Connection lost"))
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        while self._drainers:
            waiter = self._drainers.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # -- the receiving end ------------------------------------------------------------------
    def ready(self) -> bool:
        """Whether :meth:`next_pdu` would answer at once."""
        return bool(self._queue) or self._end is not None

    async def next_pdu(self) -> ReceivedPDU:
        """The next complete PDU; raises what ended the stream once the queued PDUs are taken:
        :class:`~dicomkit.net.pdu.PDUError` for an invalid header or a connection closed inside
        a PDU, ConnectionResetError when it closed between PDUs, the transport's error."""
        while not self._queue and self._end is None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return self.pop()

    def pop(self) -> ReceivedPDU:
        """The next PDU when :meth:`ready`."""
        if not self._queue:
            assert self._end is not None
            raise self._end()
        item = self._queue.popleft()
        if self._reading_paused and len(self._queue) <= RESUME_AT and not self._stopped \
                and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        if isinstance(item, BaseException):
            raise item
        return item

    def _stop(self, error: P.PDUError) -> None:
        """An invalid header: queue its error after the PDUs before it, read nothing more."""
        self._stopped = True
        self._queue.append(error)
        self._end = lambda: error
        if self.transport is not None and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def _finish(self, exc: BaseException | None) -> None:
        """The peer closed (``exc`` None) or the transport failed: what reads raise after the
        PDUs already complete."""
        if self._end is not None:
            return
        body, filled, held = self._body, self._filled, self._held
        if exc is not None:
            self._end = lambda: exc
        elif body is not None:
            length = self._body_length
            self._end = lambda: P.PDUError(f"connection closed after {filled} of {length} "
                                           "bytes of a PDU", abort_reason=0)
        elif held:
            self._end = lambda: P.PDUError("connection closed inside a PDU header",
                                           abort_reason=0)
        else:
            self._end = lambda: ConnectionResetError("peer closed the connection")
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _quickack(self) -> None:
        """Linux TCP_QUICKACK before each PDU: a peer that writes one PDU in two small
        segments with Nagle on (DCMTK) would otherwise wait ~40 ms on our delayed ACK."""
        if self._sock is not None and _QUICKACK is not None:
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass

    # -- the sending end --------------------------------------------------------------------
    async def drain(self) -> None:
        """Until the transport takes more: at once below its high-water mark; raises when the
        connection is lost."""
        if self._connection_lost:
            raise self._lost or ConnectionResetError("Connection lost")
        transport = self.transport
        if transport is not None and transport.is_closing():
            # Let connection_lost run first, so a write after close raises here.
            await asyncio.sleep(0)
            if self._connection_lost:
                raise self._lost or ConnectionResetError("Connection lost")
        if not self._writing_paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drainers.append(waiter)
        await waiter

    # -- the transport, for the association -------------------------------------------------
    def get_extra_info(self, name: str) -> Any:
        return None if self.transport is None else self.transport.get_extra_info(name)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    async def wait_closed(self) -> None:
        """Until the transport has closed (at once if there never was one)."""
        if self.transport is None or self._connection_lost:
            return
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._closed)


async def open_stream(host: str, port: int, **kwargs: Any) -> PDUStream:
    """A connection to ``host``:``port`` (``kwargs``: ``ssl``, ``server_hostname`` … of
    :meth:`asyncio.loop.create_connection`) with its :class:`PDUStream`."""
    loop = asyncio.get_running_loop()
    _transport, stream = await loop.create_connection(PDUStream, host, port, **kwargs)
    return stream


async def start_server(on_connected: Callable[[PDUStream], None], host: str | None, port: int,
                       **kwargs: Any) -> asyncio.Server:
    """A listener whose every connection gets a :class:`PDUStream`, handed to
    ``on_connected`` once it is up (``kwargs``: ``ssl``, ``reuse_address`` … of
    :meth:`asyncio.loop.create_server`)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: PDUStream(on_connected), host, port, **kwargs)
