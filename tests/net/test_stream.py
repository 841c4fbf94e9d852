"""PS3.8 §9.3 PDU framing by :class:`dicomkit.net.stream.PDUStream`: PDUs whatever the reads
cut them into, bodies read into their own buffers, headers refused before any allocation, the
end of the connection inside a PDU, and the bounded queue that pauses reading."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from dicomkit.net import pdu as P
from dicomkit.net.pdv import pdata_pdus
from dicomkit.net.stream import (
    GROW_FROM,
    HARD_MAX_PDU,
    MAX_QUEUED,
    RESUME_AT,
    SCRATCH,
    PDUStream,
)


class _Transport(asyncio.Transport):
    """Records what the stream asks of its transport."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.pauses = 0

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def _stream(max_pdu: int = 16_384) -> tuple[PDUStream, _Transport]:
    stream, transport = PDUStream(), _Transport()
    stream.connection_made(transport)
    stream.max_pdu = max_pdu
    return stream, transport


def _feed(stream: PDUStream, data: bytes, chunk: int) -> None:
    """``data`` as the kernel would hand it over, at most ``chunk`` bytes a read."""
    view = memoryview(data)
    while view:
        buffer = stream.get_buffer(-1)
        size = min(len(buffer), chunk, len(view))
        buffer[:size] = view[:size]
        stream.buffer_updated(size)
        view = view[size:]


def _drain(stream: PDUStream) -> list[tuple[int, bytes]]:
    received = []
    while stream.ready():
        pdu_type, body = stream.pop()
        received.append((pdu_type, bytes(body)))
    return received


def _pdata(size: int) -> bytes:
    return b"".join(bytes(piece) for piece in
                    pdata_pdus(1, False, bytes(range(256)) * (size // 256), size + 6, last=True))


def _pdus() -> list[bytes]:
    return [P.encode(P.AReleaseRQ()), _pdata(512), _pdata(SCRATCH * 3), P.encode(P.AReleaseRP()),
            _pdata(1024), P.encode(P.AAbort(source=2, reason=0))]


@pytest.mark.parametrize("chunk", [1, 5, 6, 7, 1000, SCRATCH, 1 << 20])
def test_pdus_are_framed_whatever_the_reads_cut_them_into(chunk: int) -> None:
    pdus = _pdus()
    stream, _ = _stream(max_pdu=SCRATCH * 4)
    received: list[tuple[int, bytes]] = []
    for pdu in pdus:  # taken as they come, so the bounded queue never pauses reading
        _feed(stream, pdu, chunk)
        received += _drain(stream)
    assert received == [(pdu[0], pdu[6:]) for pdu in pdus]


def test_a_long_body_is_read_into_its_own_buffer_and_pdvs_are_views_of_it() -> None:
    pdu = _pdata(SCRATCH * 2)
    stream, _ = _stream(max_pdu=SCRATCH * 4)
    _feed(stream, pdu, 1 << 20)
    pdu_type, body = stream.pop()
    assert isinstance(body, bytearray) and len(body) == len(pdu) - 6
    decoded = P.decode(pdu_type, body)
    assert isinstance(decoded, P.PDataTF)
    data = decoded.pdvs[0].data
    assert isinstance(data, memoryview) and data.obj is body


def test_a_length_over_the_hard_maximum_is_refused_before_allocating() -> None:
    stream, transport = _stream(max_pdu=0)
    _feed(stream, P.encode(P.AReleaseRQ()) + struct.pack(">BxL", 0x01, HARD_MAX_PDU + 1), 64)
    assert stream.pop() == (0x05, b"\x00" * 4)  # what came before the bad header first
    with pytest.raises(P.PDUError, match=f"PDU length {HARD_MAX_PDU + 1} exceeds") as info:
        stream.pop()
    assert info.value.abort_reason == 6
    assert transport.paused
    assert len(stream.get_buffer(-1)) <= SCRATCH  # nothing was allocated at that length


def test_a_long_declared_length_reserves_memory_only_as_its_bytes_arrive() -> None:
    # An A-ASSOCIATE-RQ header declaring HARD_MAX_PDU bytes, then a few bytes: the buffer the
    # stream offers stays at GROW_FROM, not the declared 64 MiB.
    stream, _ = _stream(max_pdu=0)
    _feed(stream, struct.pack(">BxL", 0x01, HARD_MAX_PDU) + b"x" * 100, 1 << 20)
    assert not stream.ready()
    assert len(stream.get_buffer(-1)) == GROW_FROM - 100
    stream.connection_lost(None)
    with pytest.raises(P.PDUError, match=f"after 100 of {HARD_MAX_PDU} bytes"):
        stream.pop()


@pytest.mark.parametrize("chunk", [SCRATCH, 1 << 20, 3 << 20])
def test_a_body_longer_than_the_first_buffer_grows_to_its_length_intact(chunk: int) -> None:
    size = 3 * GROW_FROM + 12_345
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    stream, _ = _stream(max_pdu=0)
    _feed(stream, struct.pack(">BxL", 0x01, size) + body + P.encode(P.AReleaseRQ()), chunk)
    assert _drain(stream) == [(0x01, body), (0x05, b"\x00" * 4)]


def test_pdata_over_the_offered_maximum_is_refused_unread() -> None:
    stream, _ = _stream(max_pdu=16_384)
    _feed(stream, struct.pack(">BxL", 0x04, 16_384 + 7), 6)
    with pytest.raises(P.PDUError, match="P-DATA-TF of 16391 bytes exceeds the negotiated "
                       "maximum 16384") as info:
        stream.pop()
    assert info.value.abort_reason == 6


def test_an_unrecognised_pdu_type_is_refused_with_reason_1() -> None:
    stream, _ = _stream()
    _feed(stream, b"\x09\x00\x00\x00\x00\x04abcd", 10)
    with pytest.raises(P.PDUError, match="unrecognised PDU type 0x09") as info:
        stream.pop()
    assert info.value.abort_reason == 1


@pytest.mark.parametrize(("data", "error", "message"), [
    (b"", ConnectionResetError, "peer closed the connection"),
    (b"\x05\x00\x00", P.PDUError, "connection closed inside a PDU header"),
    (b"\x05\x00\x00\x00\x00\x04\x00", P.PDUError, "connection closed after 1 of 4 bytes"),
])
def test_the_end_of_the_connection_between_and_inside_pdus(
        data: bytes, error: type[Exception], message: str) -> None:
    async def scenario() -> None:
        stream, _ = _stream()
        _feed(stream, data, 100)
        waiting = asyncio.ensure_future(stream.next_pdu())
        await asyncio.sleep(0)
        assert not waiting.done()
        stream.eof_received()
        with pytest.raises(error, match=message):
            await waiting
        with pytest.raises(error, match=message):  # and again on the next read
            await stream.next_pdu()

    asyncio.run(scenario())


def test_complete_pdus_are_read_before_the_end_of_the_connection() -> None:
    stream, _ = _stream()
    _feed(stream, P.encode(P.AReleaseRQ()), 100)
    stream.connection_lost(None)
    assert stream.pop()[0] == 0x05
    with pytest.raises(ConnectionResetError):
        stream.pop()


def test_reading_pauses_while_the_queue_is_full_and_resumes_once_drained() -> None:
    stream, transport = _stream()
    release = P.encode(P.AReleaseRQ())
    for _ in range(MAX_QUEUED - 1):
        _feed(stream, release, 100)
    assert not transport.paused
    _feed(stream, release, 100)
    assert transport.paused and transport.pauses == 1
    for _ in range(MAX_QUEUED - RESUME_AT - 1):
        stream.pop()
    assert transport.paused
    stream.pop()
    assert not transport.paused


def test_drain_waits_while_writing_is_paused_and_fails_once_the_connection_is_lost() -> None:
    async def scenario() -> None:
        stream, _ = _stream()
        await stream.drain()  # not paused: at once
        stream.pause_writing()
        waiting = asyncio.ensure_future(stream.drain())
        await asyncio.sleep(0)
        assert not waiting.done()
        stream.resume_writing()
        await waiting
        stream.pause_writing()
        waiting = asyncio.ensure_future(stream.drain())
        await asyncio.sleep(0)
        stream.connection_lost(None)
        with pytest.raises(ConnectionResetError):
            await waiting
        with pytest.raises(ConnectionResetError):
            await stream.drain()

    asyncio.run(scenario())
