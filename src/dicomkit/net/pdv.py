"""A DIMSE message cut into fragments, one per Presentation Data Value (PS3.8 Annex E.1).

The rules, and where each is kept:

- "Each fragment of a message shall consist of an even number of bytes" (E.1; Note 2: element
  headers may therefore straddle two PDVs). :func:`pdata_pdus` is the one function that cuts a
  message into fragments; every send path (C-STORE from a file, from memory or transcoded,
  C-MOVE and C-GET sub-operations, C-FIND responses, N-service data sets, commands) goes
  through it, and it refuses to emit an odd fragment.
- A fragment plus its PDV item header (4-byte Item-length, Presentation-context-ID and the
  Message Control Header, §9.3.5.1 Table 9-23; E.2) fits the peer's Maximum Length Received
  (D.1 Table D.1-1), which may be odd (16383, 3585): :func:`max_fragment` rounds down to even.
- A message read from a file arrives in chunks whose lengths need not be even;
  :func:`even_pieces` carries an odd trailing byte over to the next chunk so that only the
  message's last fragment could be odd, which PS3.5 §7.1 rules out (E.1 Note 1: no padding is
  necessary as messages are defined on an even byte boundary). A message of odd length is not
  DICOM and is refused with :class:`OddLengthMessage`.
- Each PDV goes in its own P-DATA-TF PDU (§9.3.5 Table 9-22): one PDV per PDU is what every
  peer accepts and lets a PDU be written as two pieces (header, a view of the data), no copy.
  The one exception is :func:`message_pdus`: a message whose command and data set fit whole
  in one PDU of the peer's maximum goes as one PDU of two PDVs (§9.3.5: one or more PDV
  items), the command's then the data set's (a C-FIND pending response: one PDU per match).
  PDVs of two messages never share a PDU.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from typing import Any

import dicomkit.native as native
from dicomkit.errors import DicomError

PDV_ITEM_HEADER = 6  # Item-length (4), Presentation-context-ID (1), Message Control Header (1)
UNLIMITED_FRAGMENT = 1 << 20  # fragment size when the peer set no maximum (D.1: value 0)
_PDATA_HEADER = struct.Struct(">BxLLBB")  # PDU type, reserved, PDU-length, Item-length, ID, MCH
# The compiled twin of fragments_pure (dicomkit/net/_pdu.pyx, docs/design/native.md).
_compiled: Any = native.load("dicomkit.net._pdu")


class OddLengthMessage(DicomError):
    """A command or data set of odd length: it cannot be cut into even fragments (E.1)."""


def max_fragment(peer_max_pdu: int) -> int:
    """The longest fragment to send to a peer whose Maximum Length Received is
    ``peer_max_pdu``: that length less the PDV item header, rounded down to an even number
    (E.1); 0 means the peer set no limit (D.1). A peer that offers less than 8 bytes cannot be
    sent an even fragment within its limit; it gets 2-byte fragments."""
    if peer_max_pdu == 0:
        return UNLIMITED_FRAGMENT
    return max((peer_max_pdu - PDV_ITEM_HEADER) & ~1, 2)


def pdata_pdus(context_id: int, is_command: bool, data: bytes | bytearray | memoryview,
               fragment: int, *, last: bool) -> list[bytes | memoryview]:
    """``data`` (a whole command or data set when ``last``, otherwise a part of one that
    ends on an even byte) as P-DATA-TF PDUs of one PDV each, every fragment even and at most
    ``fragment`` bytes (from :func:`max_fragment`); each PDU is two list items, its 12-byte
    header and a view of ``data``. The Message Control Header (E.2) has bit 0 set for a
    command fragment and bit 1 on the message's last fragment. Empty ``data`` with ``last``
    is one empty last fragment."""
    if fragment < 2 or fragment % 2:
        raise ValueError(f"fragment size {fragment} is not a positive even number (PS3.8 E.1)")
    view = memoryview(data).cast("B")
    size = len(view)
    if size % 2:
        what = "command" if is_command else "data set"
        raise OddLengthMessage(
            f"{what} {'of' if last else 'part of'} {size} bytes on presentation context "
            f"{context_id}: PS3.8 Annex E.1 needs every fragment even (PS3.5 §7.1 defines "
            "messages on an even byte boundary)")
    command_bit = 1 if is_command else 0
    # The compiled loop packs the header bytes itself: used only where struct would not
    # refuse a value (an ID or a length that does not fit its field), so errors stay the same.
    if _compiled is not None and 0 <= context_id <= 0xFF and fragment <= 0xFFFFFFFF - 6:
        out: list[bytes | memoryview] = _compiled.fragments(view, fragment, context_id,
                                                            command_bit, last)
        return out
    return fragments_pure(view, fragment, context_id, command_bit, last)


_PDV_HEADER = struct.Struct(">LBB")  # Item-length, Presentation-context-ID, Message Control


def message_pdus(context_id: int, command: bytes, data: bytes | memoryview | None,
                 fragment: int) -> list[bytes | memoryview]:
    """A whole message, the command ``command`` and its data set ``data`` (None: none), as
    P-DATA-TF PDUs for a peer whose fragments are at most ``fragment`` bytes (from
    :func:`max_fragment`): one PDU of two PDVs (the command's last fragment, then the data
    set's) when both fit whole in it, that is when the PDU's length (12 bytes of PDV headers
    and both) is at most ``fragment + 6``, within the peer's Maximum Length Received (PS3.8
    D.1); otherwise what :func:`pdata_pdus` gives for each, errors included."""
    if data is not None and len(command) % 2 == 0 and len(data) % 2 == 0 \
            and len(command) + len(data) + PDV_ITEM_HEADER <= fragment \
            and 0 <= context_id <= 0xFF:
        length = len(command) + len(data) + 2 * PDV_ITEM_HEADER
        return [_PDATA_HEADER.pack(0x04, length, len(command) + 2, context_id, 0x03), command,
                _PDV_HEADER.pack(len(data) + 2, context_id, 0x02), data]
    out = pdata_pdus(context_id, True, command, fragment, last=True)
    if data is not None:
        out += pdata_pdus(context_id, False, data, fragment, last=True)
    return out


def fragments_pure(view: memoryview, fragment: int, context_id: int, command_bit: int,
                   last: bool) -> list[bytes | memoryview]:
    """The loop of :func:`pdata_pdus`, its arguments checked: ``view`` (bytes, even length)
    as [12-byte P-DATA-TF + PDV header, fragment view, ...], fragments of at most ``fragment``
    bytes, the Message Control Header ``command_bit`` plus bit 1 on the final one when
    ``last`` (E.2)."""
    size = len(view)
    out: list[bytes | memoryview] = []
    pos = 0
    while True:
        chunk = view[pos:pos + fragment]
        pos += len(chunk)
        final = pos >= size
        control = command_bit | (2 if final and last else 0)
        out.append(_PDATA_HEADER.pack(0x04, len(chunk) + PDV_ITEM_HEADER, len(chunk) + 2,
                                      context_id, control))
        out.append(chunk)
        if final:
            return out


async def even_pieces(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[memoryview, bool]]:
    """The chunks of one message as (piece, is_last) with every piece but the last of even
    length: an odd byte at a chunk's end is carried to the start of the next chunk, and the
    last piece is held back until the stream ends so it can be marked last. An empty stream
    is one empty last piece."""
    carry = b""
    previous: memoryview | None = None
    async for chunk in chunks:
        if not chunk:
            continue
        if carry:
            chunk = carry + chunk
            carry = b""
        view = memoryview(chunk)
        if len(view) % 2:
            carry = bytes(view[-1:])
            view = view[:-1]
        if not view:
            continue
        if previous is not None:
            yield previous, False
        previous = view
    if carry:
        previous = memoryview(bytes(previous) + carry) if previous is not None \
            else memoryview(carry)
    yield (previous if previous is not None else memoryview(b"")), True
