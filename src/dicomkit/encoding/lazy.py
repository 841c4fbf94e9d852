"""Turning an indexed (vr, offset, length) entry into a DataElement when it is first used.

Here the VR is settled: multi-VR dictionary entries are resolved (PS3.5 A.1, PS3.3 C.7.6.3),
implicit VR private elements take their VR from the private dictionary through their creator,
and a UN element whose tag the dictionary knows is read with the known VR (PS3.5 §6.2.2), a
UN sequence being parsed as implicit VR little endian.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dicomkit import native
from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.core.vr import TEXT_VRS


def _known_vr(ds: Dataset, tag: int) -> str | None:
    if tag & 0x10000:
        if (tag & 0xFFFF) < 0x100 and (tag & 0xFFFF) >= 0x10:
            return "LO"
        creator = ds.private_creator_of(tag)
        if creator is None:
            return None
        entry = dictionary.private_entry(creator, tag)
    else:
        entry = dictionary.entry(tag)
    if entry is None or not entry.vr or entry.vr in ("UN", "NONE"):
        return None
    return entry.vr


def materialize(ds: Dataset, tag: int, entry: tuple[str, int, int, bool]) -> DataElement:
    vr, offset, length, undefined = entry
    buf = ds.buffer
    if not isinstance(buf, bytes):  # mmap: a memoryview slice, not a copy of a 2 GB value
        buf = memoryview(buf)
    raw = buf[offset : offset + length]
    little = ds.is_little_endian
    if vr == "UN" and not undefined:
        known = _known_vr(ds, tag)
        if known is not None:
            vr = known
            little = True  # UN values keep the little endian bytes they were made with
            if vr == "SQ":
                return _un_sequence(ds, tag, bytes(raw))
    if " or " in vr:
        from dicomkit.core.ambiguous import resolve_vr

        vr = resolve_vr(tag, vr, ds, ds.is_implicit_VR)
    if vr == "SQ":  # implicit VR, defined length, sequence only the dictionary knew of
        return _un_sequence(ds, tag, bytes(raw), little=little, implicit=ds.is_implicit_VR)
    # Specific Character Set itself is never decoded with a character set (a corrupt file
    # may give it a text VR: asking ds.charsets here would recurse).
    charsets: Any = ds.charsets if vr in TEXT_VRS and tag != 0x00080005 else ()
    if isinstance(raw, memoryview) and length < 4096:
        raw = bytes(raw)
    return DataElement.from_raw(tag, vr, raw, little, charsets, undefined)


def _un_sequence(
    ds: Dataset, tag: int, data: bytes, *, little: bool = True, implicit: bool = True
) -> DataElement:
    from dicomkit.encoding.reader import read_sequence

    seq = read_sequence(data, tag, little=little, implicit=implicit)
    for item in seq:
        object.__setattr__(item, "parent", ds)
    return DataElement(tag, "SQ", seq)


def iterate(ds: Dataset) -> Iterator[DataElement]:
    """``iter(ds)``: every element in tag order (PS3.5 §7.1), each indexed entry made a
    DataElement (and kept in the data set) as it is reached. The tags are taken when the
    iteration starts; an element deleted meanwhile raises the KeyError of ``ds[tag]``."""
    tags = ds.tags()
    elements = ds._elements
    for tag in tags:
        entry = elements.get(tag)
        if entry is None:  # deleted while iterating (or the index re-sorted): as ds[tag]
            entry = ds[tag]
        elif type(entry) is tuple:
            entry = MATERIALIZE(ds, tag, entry)
            elements[tag] = entry
        yield entry


def walk(ds: Dataset) -> Iterator[tuple[int, DataElement]]:
    """``ds.walk()``: every element depth-first with its nesting depth, the items of a
    sequence (PS3.5 §7.5) right after the sequence's own element."""
    for element in ds:
        yield 0, element
        if element.VR == "SQ":
            for item in element.value:
                for depth, inner in item.walk():
                    yield depth + 1, inner


_compiled = native.load("dicomkit.encoding._lazy")
MATERIALIZE: Any = materialize if _compiled is None else _compiled.materialize
""":func:`materialize`, or its compiled twin (the same elements) unless ``DICOMKIT_PURE=1`` or
it is not built."""
ITERATE: Any = iterate if _compiled is None else _compiled.iterate
""":func:`iterate`, or its compiled twin: an iterator object rather than a generator."""
WALK: Any = walk if _compiled is None else _compiled.walk
""":func:`walk`, or its compiled twin."""
