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
    message_pdus,
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


def pdus_of(stream: bytes, max_pdu: int) -> list[list[P.PDV]]:
    """The PDVs of each P-DATA-TF PDU in ``stream``, every PDU checked against ``max_pdu``."""
    out = []
    pos = 0
    while pos < len(stream):
        assert stream[pos] == 0x04
        length = int.from_bytes(stream[pos + 2:pos + 6], "big")
        assert max_pdu == 0 or length <= max_pdu
        decoded = P.decode(0x04, memoryview(stream[pos + 6:pos + 6 + length]))
        assert isinstance(decoded, P.PDataTF)
        out.append(decoded.pdvs)
        pos += 6 + length
    assert pos == len(stream)
    return out


@pytest.mark.parametrize("max_pdu", [0, 20, 21, 64, 65, 126, 127, 128, 4096])
@pytest.mark.parametrize(("command", "data"), [(80, 40), (80, 0), (80, None), (2, 2), (80, 4096),
                                               (100, 20)])
def test_a_message_that_fits_is_one_pdu_of_two_pdvs(max_pdu: int, command: int,
                                                     data: int | None) -> None:
    """PS3.8 §9.3.5: a P-DATA-TF holds one or more PDVs. A message whose command and data set
    fit in one PDU within the peer's maximum (D.1) goes as one, the command's PDV (control
    header 03H: command, last) then the data set's (02H); otherwise as pdata_pdus cuts it."""
    cmd, body = PATTERN[:command], None if data is None else PATTERN[-data - 1:-1]
    items = message_pdus(5, cmd, body, max_fragment(max_pdu))
    pdus = pdus_of(b"".join(bytes(item) for item in items), max_pdu)
    pdvs = [pdv for pdu in pdus for pdv in pdu]
    assert all(pdv.context_id == 5 and len(pdv.data) % 2 == 0 for pdv in pdvs)
    assert b"".join(bytes(p.data) for p in pdvs if p.is_command) == cmd
    assert [p.is_last for p in pdvs if p.is_command][-1]
    if body is None:
        assert not any(not p.is_command for p in pdvs)
    else:
        assert b"".join(bytes(p.data) for p in pdvs if not p.is_command) == body
        assert [p.is_last for p in pdvs if not p.is_command][-1]
        # Command PDVs first, then the data set's.
        kinds = [p.is_command for p in pdvs]
        assert kinds == sorted(kinds, reverse=True)
    fits = body is not None and (max_pdu == 0 or command + len(body) + 12 <= max_pdu)
    if fits:
        assert len(pdus) == 1 and len(pdus[0]) == 2
        assert (pdus[0][0].is_command, pdus[0][0].is_last) == (True, True)
        assert (pdus[0][1].is_command, pdus[0][1].is_last) == (False, True)
    else:
        assert all(len(pdu) == 1 for pdu in pdus)  # one PDV per PDU, as pdata_pdus does


def test_message_pdus_refuses_odd_lengths_as_pdata_pdus_does() -> None:
    with pytest.raises(OddLengthMessage, match="data set of 3 bytes"):
        message_pdus(1, b"ab", b"abc", 1 << 20)
    with pytest.raises(OddLengthMessage, match="command of 3 bytes"):
        message_pdus(1, b"abc", b"ab", 1 << 20)
