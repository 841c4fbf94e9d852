"""PS3.5 §A.4: encapsulated pixel data — an item for the Basic Offset Table, then fragments."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from dicomkit.core.element import DataElement
from dicomkit.core.tag import ITEM, tag_str
from dicomkit.errors import InvalidDicomError

_HHL = struct.Struct("<HHL")


def iter_items(data: bytes | memoryview, tag: int = 0x7FE00010) -> Iterator[memoryview]:
    """Each item's value: the Basic Offset Table first, then the fragments, zero-copy."""
    view = memoryview(data)
    pos, size = 0, len(view)
    while pos + 8 <= size:
        group, elem, length = _HHL.unpack_from(view, pos)
        item = (group << 16) | elem
        if item == 0xFFFEE0DD:
            return
        if item != ITEM:
            raise InvalidDicomError(f"expected a fragment item, found {tag_str(item)}",
                                    offset=pos, tag=tag)
        if pos + 8 + length > size:
            raise InvalidDicomError(f"fragment length {length} runs past the pixel data",
                                    offset=pos, tag=tag)
        yield view[pos + 8 : pos + 8 + length]
        pos += 8 + length
    if pos != size:
        raise InvalidDicomError(f"{size - pos} stray byte(s) after the last fragment",
                                offset=pos, tag=tag)


def count_fragments(element: DataElement) -> int:
    data = element.raw if element.raw is not None else element.value
    return sum(1 for _ in iter_items(data, element.tag))


def basic_offset_table(element: DataElement) -> list[int]:
    data = element.raw if element.raw is not None else element.value
    first = next(iter_items(data, element.tag), None)
    if first is None or len(first) == 0:
        return []
    return list(struct.unpack(f"<{len(first) // 4}L", first[: len(first) // 4 * 4]))


def fragments(element: DataElement) -> list[memoryview]:
    """The fragments after the Basic Offset Table item."""
    data = element.raw if element.raw is not None else element.value
    return list(iter_items(data, element.tag))[1:]


def encapsulate(frames: list[bytes], offset_table: bool = True) -> bytes:
    """One fragment per frame, with a Basic Offset Table (PS3.5 A.4, Table A.4-1)."""
    items = []
    offsets, pos = [], 0
    for frame in frames:
        if len(frame) & 1:
            frame = frame + b"\0"
        offsets.append(pos)
        items.append(_HHL.pack(0xFFFE, 0xE000, len(frame)) + frame)
        pos += 8 + len(frame)
    table = struct.pack(f"<{len(offsets)}L", *offsets) if offset_table else b""
    return _HHL.pack(0xFFFE, 0xE000, len(table)) + table + b"".join(items)
