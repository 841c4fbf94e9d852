"""PS3.5 A.4: frames out of encapsulated Pixel Data, and encapsulation for writing.

Encapsulated Pixel Data is a sequence of items: the Basic Offset Table first, then fragments.
A frame is found, in order of preference, by

1. the Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002) — PS3.3 C.7.6.3.1.8;
2. the Basic Offset Table, offsets of each frame's first fragment item (PS3.5 A.4, Table
   A.4-1), counted from the first byte of the first fragment item;
3. with neither: one fragment per frame when there are as many fragments as frames, one frame
   of all fragments for a single-frame image, else a new frame at each fragment that opens a
   codestream (JPEG SOI FFD8 — JPEG-LS too —, JPEG 2000 SOC+SIZ FF4F FF51 or a JP2 signature
   box, an RLE header of PS3.5 G.5).

With a table, finding frame *i* reads the table and frame *i*'s items only: on a memory-mapped
file the other frames' pages are never touched. Without one, the item headers are walked once
(8 bytes per fragment) and the result is kept with the data set.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from dicomkit.core.uid import registered
from dicomkit.errors import InvalidDicomError
from dicomkit.pixels.info import EXTENDED_OFFSET_TABLE, EXTENDED_OFFSET_TABLE_LENGTHS

if TYPE_CHECKING:
    from dicomkit.core.dataset import Dataset

ITEM = 0xFFFEE000
SEQUENCE_DELIMITATION = 0xFFFEE0DD
_HHL = struct.Struct("<HHL")
_ITEM_HEAD = _HHL.pack(0xFFFE, 0xE000, 0)[:4]
MAX_BOT_OFFSET = 0xFFFFFFFF

_JPEG_SYNTAXES = frozenset({
    registered(keyword) for keyword in (
        "JPEGBaseline8Bit", "JPEGExtended12Bit", "JPEGLossless", "JPEGLosslessSV1",
        "JPEGLSLossless", "JPEGLSNearLossless", "JPEGExtended35",
        "JPEGSpectralSelectionNonHierarchical68", "JPEGSpectralSelectionNonHierarchical79",
        "JPEGFullProgressionNonHierarchical1012", "JPEGFullProgressionNonHierarchical1113")
})
_J2K_SYNTAXES = frozenset({
    registered("JPEG2000Lossless"), registered("JPEG2000"), registered("JPEG2000MCLossless"),
    registered("JPEG2000MC"), registered("HTJ2KLossless"), registered("HTJ2KLosslessRPCL"),
    registered("HTJ2K"),
})
RLE_LOSSLESS = registered("RLELossless")
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def _where(frame: int | None) -> str:
    return f"frame {frame}: " if frame is not None else ""


@dataclass
class FragmentReader:
    """Items of one encapsulated Pixel Data value, read header by header.

    ``data`` is a zero-copy view of the value (from the Basic Offset Table item to the end,
    without the sequence delimiter). ``base`` is its offset in the file, for error messages.
    """

    data: memoryview
    tag: int = 0x7FE00010
    base: int = 0

    def item_at(self, pos: int, frame: int | None = None) -> tuple[int, int]:
        """(value offset, value length) of the item at ``pos``; anything else raises."""
        size = len(self.data)
        if pos + 8 > size:
            raise InvalidDicomError(
                f"{_where(frame)}a fragment item header would start {pos - size + 8} byte(s) "
                "past the end of the pixel data", offset=self.base + pos, tag=self.tag)
        group, element, length = _HHL.unpack_from(self.data, pos)
        item = (group << 16) | element
        if item != ITEM:
            raise InvalidDicomError(
                f"{_where(frame)}expected a fragment item (FFFE,E000), found "
                f"({group:04X},{element:04X})", offset=self.base + pos, tag=self.tag)
        if length == 0xFFFFFFFF or pos + 8 + length > size:
            raise InvalidDicomError(
                f"{_where(frame)}fragment of {length} byte(s) runs past the end of the pixel "
                f"data ({size - pos - 8} byte(s) left): the fragment is truncated",
                offset=self.base + pos, tag=self.tag)
        return pos + 8, length

    def is_end(self, pos: int) -> bool:
        """True at the end of the value or at a sequence delimiter."""
        if pos + 8 > len(self.data):
            return True
        group, element, _ = _HHL.unpack_from(self.data, pos)
        return ((group << 16) | element) == SEQUENCE_DELIMITATION

    def basic_offset_table(self) -> tuple[list[int], int]:
        """(offsets, position of the first fragment item) — PS3.5 A.4, Table A.4-1."""
        value, length = self.item_at(0)
        if length % 4:
            raise InvalidDicomError(f"the Basic Offset Table is {length} bytes, not a multiple "
                                    "of 4", offset=self.base, tag=self.tag)
        offsets = list(struct.unpack_from(f"<{length // 4}L", self.data, value))
        return offsets, value + length

    def fragments(self, start: int) -> list[tuple[int, int]]:
        """(value offset, length) of every fragment item from ``start`` to the end."""
        found = []
        pos = start
        while not self.is_end(pos):
            value, length = self.item_at(pos)
            found.append((value, length))
            pos = value + length
        return found


@dataclass
class FrameIndex:
    """Where each frame's fragments are: a list of (value offset, length) per frame, or a
    Basic Offset Table to follow on demand."""

    reader: FragmentReader
    frame_count: int
    first: int  # position of the first fragment item
    starts: list[int] | None = None  # item position of each frame's first fragment
    lengths: list[int] | None = None  # frame lengths (Extended Offset Table Lengths)
    frames: list[list[tuple[int, int]]] | None = None  # fully walked, when no table

    def fragments(self, index: int) -> list[tuple[int, int]]:
        """The fragments (value offset, length) of frame ``index``."""
        if not 0 <= index < self.frame_count:
            raise InvalidDicomError(
                f"frame {index} is out of range: the image has {self.frame_count} frame(s)",
                tag=self.reader.tag)
        if self.frames is not None:
            if index >= len(self.frames):
                raise InvalidDicomError(
                    f"frame {index}: the pixel data holds only {len(self.frames)} frame(s) of "
                    f"the {self.frame_count} Number of Frames gives", tag=self.reader.tag)
            return self.frames[index]
        assert self.starts is not None
        if index >= len(self.starts):
            raise InvalidDicomError(
                f"frame {index}: the offset table lists only {len(self.starts)} frame(s) of "
                f"the {self.frame_count} Number of Frames gives", tag=self.reader.tag)
        reader = self.reader
        pos = self.first + self.starts[index]
        if self.lengths is not None:
            return self._by_length(index, pos, self.lengths[index])
        stop = self.first + self.starts[index + 1] if index + 1 < len(self.starts) else None
        found = []
        while True:
            if stop is not None and pos == stop:
                break
            if stop is None and reader.is_end(pos):
                break
            if stop is not None and pos > stop:
                raise InvalidDicomError(
                    f"frame {index + 1}: the offset table entry {self.starts[index + 1]} does "
                    "not point at a fragment item (wrong Basic Offset Table)",
                    offset=reader.base + pos, tag=reader.tag)
            value, length = reader.item_at(pos, index)
            found.append((value, length))
            pos = value + length
        if not found:
            raise InvalidDicomError(f"frame {index}: the offset table gives it no fragment",
                                    tag=reader.tag)
        return found

    def _by_length(self, index: int, pos: int, length: int) -> list[tuple[int, int]]:
        found = []
        total = 0
        while total < length:
            value, size = self.reader.item_at(pos, index)
            found.append((value, size))
            total += size
            pos = value + size
        if total > length + 1:  # a frame's last fragment may carry one byte of padding
            raise InvalidDicomError(
                f"frame {index}: its fragments hold {total} byte(s), the Extended Offset Table "
                f"Lengths say {length}", tag=EXTENDED_OFFSET_TABLE_LENGTHS)
        if found and total > length:
            last_value, last_size = found[-1]
            found[-1] = (last_value, last_size - (total - length))
        return found

    def frame_bytes(self, index: int) -> bytes | memoryview:
        """The codestream of frame ``index``: a view when it is one fragment, else a join."""
        parts = self.fragments(index)
        data = self.reader.data
        if len(parts) == 1:
            value, length = parts[0]
            return data[value : value + length]
        return b"".join(data[value : value + length] for value, length in parts)


def build_index(ds: Dataset, view: memoryview, tag: int, base: int, frame_count: int,
                transfer_syntax: str) -> FrameIndex:
    """Index the frames of an encapsulated value, using the best table there is."""
    reader = FragmentReader(view, tag, base)
    offsets, first = reader.basic_offset_table()
    eot = _extended_offset_table(ds)
    if eot is not None:
        starts, lengths = eot
        if len(starts) < frame_count:
            raise InvalidDicomError(
                f"frame {len(starts)}: the Extended Offset Table lists {len(starts)} frame(s) "
                f"for {frame_count} frames", tag=EXTENDED_OFFSET_TABLE)
        return FrameIndex(reader, frame_count, first, starts=starts, lengths=lengths)
    if offsets:
        if offsets[0] != 0 or any(b <= a for a, b in zip(offsets, offsets[1:], strict=False)):
            bad = next((i for i, (a, b) in enumerate(zip(offsets, offsets[1:], strict=False))
                        if b <= a), -1) + 1
            raise InvalidDicomError(
                f"frame {bad}: the Basic Offset Table is not increasing from 0 "
                f"({offsets[max(bad - 1, 0)]} then {offsets[bad]}): wrong offset table",
                offset=base, tag=tag)
        if len(offsets) != frame_count:
            raise InvalidDicomError(
                f"frame {min(len(offsets), frame_count)}: the Basic Offset Table lists "
                f"{len(offsets)} frame(s) for {frame_count} frames (wrong offset table)",
                offset=base, tag=tag)
        return FrameIndex(reader, frame_count, first, starts=offsets)
    fragments = reader.fragments(first)
    if not fragments:
        raise InvalidDicomError("encapsulated pixel data holds no fragment", offset=base,
                                tag=tag)
    if frame_count == 1:
        return FrameIndex(reader, 1, first, frames=[fragments])
    if len(fragments) == frame_count:
        return FrameIndex(reader, frame_count, first, frames=[[f] for f in fragments])
    frames = split_on_markers(view, fragments, transfer_syntax)
    if len(frames) < frame_count or len(frames) > frame_count and len(fragments) < frame_count:
        raise InvalidDicomError(
            f"frame {min(len(frames), frame_count)}: {len(fragments)} fragment(s) without an "
            f"offset table hold {len(frames)} codestream(s) for {frame_count} frames",
            offset=base, tag=tag)
    return FrameIndex(reader, frame_count, first, frames=frames)


def starts_codestream(head: bytes, transfer_syntax: str) -> bool:
    """Whether a fragment opens a new frame's codestream (no offset table: PS3.5 A.4)."""
    if transfer_syntax in _JPEG_SYNTAXES:
        return head[:2] == b"\xff\xd8"
    if transfer_syntax in _J2K_SYNTAXES:
        return head[:4] == b"\xff\x4f\xff\x51" or head[:12] == _JP2_SIGNATURE
    if transfer_syntax == RLE_LOSSLESS:
        if len(head) < 8:
            return False
        segments, first = struct.unpack_from("<LL", head)
        return 1 <= segments <= 15 and first == 64
    return False


def split_on_markers(view: memoryview, fragments: list[tuple[int, int]],
                     transfer_syntax: str) -> list[list[tuple[int, int]]]:
    frames: list[list[tuple[int, int]]] = []
    for value, length in fragments:
        head = bytes(view[value : value + min(length, 12)])
        if not frames or starts_codestream(head, transfer_syntax):
            frames.append([(value, length)])
        else:
            frames[-1].append((value, length))
    return frames


def _extended_offset_table(ds: Dataset) -> tuple[list[int], list[int]] | None:
    """PS3.3 C.7.6.3.1.8: 64-bit frame offsets (7FE0,0001) and lengths (7FE0,0002), OV."""
    if EXTENDED_OFFSET_TABLE not in ds:
        return None
    table = bytes(ds[EXTENDED_OFFSET_TABLE].value_bytes(True))
    if EXTENDED_OFFSET_TABLE_LENGTHS not in ds:
        raise InvalidDicomError("Extended Offset Table without Extended Offset Table Lengths",
                                tag=EXTENDED_OFFSET_TABLE)
    lengths = bytes(ds[EXTENDED_OFFSET_TABLE_LENGTHS].value_bytes(True))
    if len(table) % 8 or len(lengths) != len(table):
        raise InvalidDicomError(
            f"Extended Offset Table of {len(table)} bytes with Lengths of {len(lengths)}",
            tag=EXTENDED_OFFSET_TABLE)
    count = len(table) // 8
    return list(struct.unpack(f"<{count}Q", table)), list(struct.unpack(f"<{count}Q", lengths))


# -- writing ----------------------------------------------------------------------------------
class Encapsulated(NamedTuple):
    """Encapsulated Pixel Data ready to store, with the Extended Offset Table when used."""

    value: bytes
    extended_offsets: bytes | None = None  # (7FE0,0001) OV
    extended_lengths: bytes | None = None  # (7FE0,0002) OV


def encapsulate(frames: Iterable[bytes | bytearray | memoryview],
                extended_offset_table: bool = False) -> Encapsulated:
    """One fragment per frame (PS3.5 A.4), each padded to even length with a trailing 00.

    The Basic Offset Table is filled in unless ``extended_offset_table`` is asked for or the
    offsets outgrow 32 bits (more than 4 GiB of frames); then the Basic Offset Table is left
    empty and the Extended Offset Table and Lengths are returned (PS3.3 C.7.6.3.1.8).
    """
    items: list[bytes | bytearray | memoryview] = []
    offsets: list[int] = []
    lengths: list[int] = []
    pos = 0
    for frame in frames:
        size = len(frame) if not isinstance(frame, memoryview) else frame.nbytes
        offsets.append(pos)
        lengths.append(size)
        padded = size + (size & 1)
        if padded > 0xFFFFFFFE:
            raise InvalidDicomError(f"frame {len(offsets) - 1} is {size} bytes, more than one "
                                    "fragment can hold")
        items.append(_HHL.pack(0xFFFE, 0xE000, padded))
        items.append(frame)
        if size & 1:
            items.append(b"\0")
        pos += 8 + padded
    extended = extended_offset_table or (bool(offsets) and offsets[-1] > MAX_BOT_OFFSET)
    table = b"" if extended else struct.pack(f"<{len(offsets)}L", *offsets)
    value = b"".join([_HHL.pack(0xFFFE, 0xE000, len(table)), table, *items])
    if not extended:
        return Encapsulated(value)
    return Encapsulated(value, struct.pack(f"<{len(offsets)}Q", *offsets),
                        struct.pack(f"<{len(lengths)}Q", *lengths))


def fragment_lengths(index: FrameIndex) -> Sequence[int]:
    """Lengths of each frame's codestream (for tests and tools)."""
    return [sum(length for _, length in index.fragments(i)) for i in range(index.frame_count)]


def as_view(data: Any) -> memoryview:
    view = data if isinstance(data, memoryview) else memoryview(data)
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view
