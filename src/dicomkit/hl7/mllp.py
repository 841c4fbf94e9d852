"""MLLP, the Minimal Lower Layer Protocol that carries HL7 v2 over TCP (HL7 v2.5.1 Implementation
Guide C.4 "MLLP", HL7 Transport Specification MLLP Release 2): each message is a block
``<VT> message <FS><CR>`` (0x0B, then the message, then 0x1C 0x0D), answered by its
acknowledgement in a block of the same form on the same connection.

:class:`Frames` cuts a byte stream into blocks without ever holding more than ``limit`` bytes
of one: a longer block is counted to its end and only its first :data:`HEAD` bytes are kept,
so that it can still be refused with an acknowledgement naming its control ID.
:class:`MLLPServer` is the asyncio listener (many connections, one message at a time on each,
an idle timeout, every block answered or the connection closed, never a crash of the
listener); :func:`exchange` is a small client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("dicomkit.hl7.mllp")

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"
DEFAULT_MAX_MESSAGE = 1 << 20
"""Bytes: the largest message accepted; orders and ADT updates are a few kilobytes."""
DEFAULT_IDLE_TIMEOUT = 300.0
"""Seconds without a byte before a connection is closed."""
HEAD = 4096
"""Bytes of an oversized block kept: enough for its MSH segment, to answer it."""
READ_CHUNK = 65536


@dataclass(frozen=True)
class Frame:
    """One block's content. ``oversized``: longer than the limit; ``data`` then holds only its
    first :data:`HEAD` bytes and ``size`` says how long it was."""

    data: bytes
    size: int
    oversized: bool = False


class Frames:
    """Incremental MLLP deframing, bounded by ``limit`` bytes per block.

    Bytes between blocks (a stray CR or LF after <FS><CR>, noise) are skipped. A <VT> inside a
    block starts the block again: the sender gave up on the one before."""

    def __init__(self, limit: int = DEFAULT_MAX_MESSAGE) -> None:
        if limit < 1:
            raise ValueError("the MLLP message limit must be at least one byte")
        self.limit = limit
        self.inside = False
        self.buffer = bytearray()
        self.oversized = False
        self.size = 0  # bytes of the current block, counted also once over the limit
        self.pending_fs = False  # an oversized block's last byte was <FS>

    @property
    def partial(self) -> bool:
        """True inside a block (a connection closing now truncates a message)."""
        return self.inside

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        pos = 0
        while pos < len(data):
            if not self.inside:
                start = data.find(START_BLOCK, pos)
                if start < 0:
                    return frames
                self._begin()
                pos = start + 1
                continue
            pos = self._consume(data, pos, frames)
        return frames

    def _begin(self) -> None:
        self.inside = True
        self.buffer = bytearray()
        self.oversized = False
        self.size = 0
        self.pending_fs = False

    def _consume(self, data: bytes, pos: int, frames: list[Frame]) -> int:
        """Take bytes of the current block from ``data[pos:]``; the position after them."""
        if self.pending_fs:
            self.pending_fs = False
            if data[pos] == 0x0D:  # <FS> ended the last chunk, <CR> starts this one
                self._finish(frames, trailing_fs=True)
                return pos + 1
        end = data.find(END_BLOCK, pos)
        restart = data.find(START_BLOCK, pos, end if end >= 0 else len(data))
        if restart >= 0:  # a new block before this one ended: drop this one
            log.warning("MLLP: a <VT> inside a block after %d bytes; the block is dropped",
                        self.size + restart - pos)
            self._begin()
            return restart + 1
        if end < 0:
            self._take(data[pos:])
            return len(data)
        self._take(data[pos:end])
        self._finish(frames, trailing_fs=False)
        return end + 2

    def _take(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        self.pending_fs = chunk.endswith(b"\x1c")
        if self.oversized:
            return
        self.buffer += chunk
        if len(self.buffer) > self.limit + 1:  # +1: room for the <FS> of the end marker
            self.oversized = True
            del self.buffer[HEAD:]

    def _finish(self, frames: list[Frame], *, trailing_fs: bool) -> None:
        size = self.size - 1 if trailing_fs else self.size
        if self.oversized or size > self.limit:
            frames.append(Frame(bytes(self.buffer[:HEAD]), size, oversized=True))
        else:
            frames.append(Frame(bytes(self.buffer[:size]), size))
        self.inside = False
        self.buffer = bytearray()
        self.oversized = False
        self.size = 0
        self.pending_fs = False


MessageHandler = Callable[[bytes], Awaitable[bytes]]
"""A message's bytes to its acknowledgement's bytes (never raises for bad content)."""
RefusalHandler = Callable[[bytes, int], bytes]
"""An oversized message's first bytes and its size to the refusal's bytes."""


class MLLPServer:
    """An asyncio MLLP listener. Each connection is read in chunks; each complete block goes to
    ``on_message`` and its answer is sent back before the next block of that connection is
    handled (HL7 original acknowledgement mode). A block over ``max_message`` bytes goes to
    ``on_oversized`` instead. A connection idle for ``idle_timeout`` seconds is closed; an
    error in one connection never stops the listener."""

    def __init__(self, on_message: MessageHandler, on_oversized: RefusalHandler, *,
                 max_message: int = DEFAULT_MAX_MESSAGE,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        self.on_message = on_message
        self.on_oversized = on_oversized
        self.max_message = max_message
        self.idle_timeout = idle_timeout
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._connection, host, port,
                                                 limit=READ_CHUNK)

    @property
    def port(self) -> int:
        """The port listened on (the one chosen when started on port 0)."""
        assert self.server is not None and self.server.sockets
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for task in list(self.connections):
                task.cancel()
            await asyncio.gather(*self.connections, return_exceptions=True)
            await self.server.wait_closed()
            self.server = None

    async def serve(self, host: str, port: int, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set (a ``dicomkit serve`` background work)."""
        await self.start(host, port)
        try:
            await stop.wait()
        finally:
            await self.close()

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        peer = writer.get_extra_info("peername")
        frames = Frames(self.max_message)
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(READ_CHUNK), self.idle_timeout)
                except TimeoutError:
                    log.info("MLLP %s: idle for %s s%s, closing", peer, self.idle_timeout,
                             " inside a message" if frames.partial else "")
                    break
                if not data:
                    if frames.partial:
                        log.warning("MLLP %s: connection closed inside a message (%d bytes "
                                    "without <FS><CR>); nothing to acknowledge", peer,
                                    frames.size)
                    break
                for frame in frames.feed(data):
                    answer = await self._answer(frame, peer)
                    writer.write(START_BLOCK + answer + END_BLOCK)
                    await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.info("MLLP %s: connection lost: %s", peer, exc)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("MLLP %s: closing the connection after an unexpected error", peer)
        finally:
            self.connections.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError, asyncio.CancelledError):
                pass

    async def _answer(self, frame: Frame, peer: object) -> bytes:
        if frame.oversized:
            log.warning("MLLP %s: a message of %d bytes is over the limit of %d bytes",
                        peer, frame.size, self.max_message)
            return self.on_oversized(frame.data, frame.size)
        return await self.on_message(frame.data)


async def exchange(host: str, port: int, message: bytes, *, timeout: float = 30.0,
                   max_reply: int = DEFAULT_MAX_MESSAGE) -> bytes:
    """Send one message in an MLLP block and return the content of the answering block."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(START_BLOCK + message + END_BLOCK)
        await writer.drain()
        frames = Frames(max_reply)
        while True:
            data = await asyncio.wait_for(reader.read(READ_CHUNK), timeout)
            if not data:
                raise ConnectionError("the peer closed the connection without an answer")
            for frame in frames.feed(data):
                if frame.oversized:
                    raise ConnectionError(f"the answer is over {max_reply} bytes")
                return frame.data
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
