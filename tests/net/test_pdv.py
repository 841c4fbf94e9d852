"""PS3.8 Annex E.1: every fragment of a message is even and fits the peer's maximum PDU.

:func:`dicomkit.net.pdv.pdata_pdus` is the one function that cuts messages; these tests run it
over many (maximum PDU length, message length) pairs, odd maxima included, and decode what it
produces with the PDU decoder to check every PDV: even length, within the peer's maximum, the
control header bits of E.2, and the fragments joining back to the message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dicomkit.net import pdu as P
from dicomkit.net.pdv import (
    OddLengthMessage,
    even_pieces,
    max_fragment,
    pdata_pdus,
)

MAX_PDUS = [8, 9, 10, 11, 12, 13, 64, 65, 255, 3583, 3585, 4096, 16383, 16384, 16385,
            65535, 262_144, 262_145]
LENGTHS = [0, 2, 4, 6, 8, 10, 62, 64, 66, 3576, 3578, 7154, 16376, 16378, 16380, 32758,
           65536, 100_002, 262_138, 524_290]
PATTERN = bytes(range(251)) * (max(LENGTHS) // 251 + 1)


def pdvs_of(items: list[bytes | memoryview]) -> list[P.PDV]:
    """Decode the PDUs ``pdata_pdus`` produced (header, data, header, data ...)."""
    assert len(items) % 2 == 0
    out: list[P.PDV] = []
    for header, data in zip(items[::2], items[1::2], strict=True):
        raw = bytes(header) + bytes(data)
        assert raw[0] == 0x04
        length = int.from_bytes(raw[2:6], "big")
        assert length == len(raw) - 6
        decoded = P.decode(0x04, memoryview(raw[6:]))
        assert isinstance(decoded, P.PDataTF)
        out.extend(decoded.pdvs)
    return out


@pytest.mark.parametrize("max_pdu", MAX_PDUS)
def test_max_fragment_is_even_and_fits(max_pdu: int) -> None:
    fragment = max_fragment(max_pdu)
    assert fragment % 2 == 0
    assert fragment + 6 <= max_pdu
    assert fragment + 6 >= max_pdu - 1  # the most that fits: at most one byte given away


def test_max_fragment_without_a_peer_limit() -> None:
    assert max_fragment(0) == 1 << 20


@pytest.mark.parametrize("is_command", [True, False])
@pytest.mark.parametrize("max_pdu", MAX_PDUS)
def test_every_fragment_is_even_and_within_the_peer_maximum(max_pdu: int,
                                                             is_command: bool) -> None:
    fragment = max_fragment(max_pdu)
    for length in LENGTHS:
        if length // fragment > 5000:
            continue  # tiny maxima: the short messages say it all, cheaply
        message = PATTERN[:length]
        items = pdata_pdus(5, is_command, message, fragment, last=True)
        pdvs = pdvs_of(items)
        for number, pdv in enumerate(pdvs):
            assert len(pdv.data) % 2 == 0, (max_pdu, length, number, len(pdv.data))
            assert len(pdv.data) + 6 <= max_pdu, (max_pdu, length, number)
            assert pdv.context_id == 5
            assert pdv.is_command is is_command
            assert pdv.is_last is (number == len(pdvs) - 1)
        assert b"".join(bytes(p.data) for p in pdvs) == message
        # Nothing shorter than needed: every fragment but the last is full.
        assert all(len(p.data) == fragment for p in pdvs[:-1])
        assert len(pdvs) == max(1, -(-length // fragment))


def test_a_part_that_is_not_last_leaves_the_last_bit_clear() -> None:
    pdvs = pdvs_of(pdata_pdus(1, False, b"\1" * 20, 8, last=False))
    assert [len(p.data) for p in pdvs] == [8, 8, 4]
    assert not any(p.is_last for p in pdvs)


@pytest.mark.parametrize("last", [True, False])
def test_an_odd_message_is_refused(last: bool) -> None:
    with pytest.raises(OddLengthMessage, match="3577 bytes"):
        pdata_pdus(3, False, b"\0" * 3577, 16378, last=last)


@pytest.mark.parametrize("fragment", [0, 1, 3577, -2])
def test_an_odd_or_empty_fragment_size_is_refused(fragment: int) -> None:
    with pytest.raises(ValueError, match="even"):
        pdata_pdus(3, False, b"\0" * 10, fragment, last=True)


async def _chunks(sizes: list[int], data: bytes) -> AsyncIterator[bytes]:
    pos = 0
    for size in sizes:
        yield data[pos:pos + size]
        pos += size


def _pieces(sizes: list[int]) -> list[tuple[bytes, bool]]:
    data = PATTERN[:sum(sizes)]

    async def go() -> list[tuple[bytes, bool]]:
        return [(bytes(p), last) async for p, last in even_pieces(_chunks(sizes, data))]

    pieces = asyncio.run(go())
    assert b"".join(p for p, _ in pieces) == data
    return pieces


@pytest.mark.parametrize("sizes", [
    [3577, 1, 4096], [1, 1], [65535, 65535, 2], [3, 5, 7, 9], [4096, 0, 4096], [10],
])
def test_stream_pieces_are_even_and_only_the_last_is_marked(sizes: list[int]) -> None:
    pieces = _pieces(sizes)
    assert all(len(p) % 2 == 0 for p, _ in pieces)
    assert [last for _, last in pieces] == [False] * (len(pieces) - 1) + [True]


def test_an_empty_stream_is_one_empty_last_piece() -> None:
    assert _pieces([]) == [(b"", True)]


def test_an_odd_stream_ends_with_an_odd_last_piece_that_pdata_pdus_refuses() -> None:
    pieces = _pieces([4, 3])
    assert pieces[-1] == (PATTERN[4:7], True)
    with pytest.raises(OddLengthMessage):
        pdata_pdus(1, False, pieces[-1][0], 16, last=True)
