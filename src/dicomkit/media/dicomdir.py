"""The DICOMDIR file's bytes: PS3.10 §8.6, PS3.3 F.3 (Basic Directory IOD).

A DICOMDIR is a Part 10 file in Explicit VR Little Endian whose Directory Record Sequence
(0004,1220) holds the records as items; records point at each other by the **byte offset of
their item tag from the first byte of the file** (PS3.3 F.3.2.2): the first and last record of
the root entity (0004,1200)/(0004,1202), each record's next (0004,1400) and its first lower
record (0004,1420), 0 for none.

Reading walks the item headers to learn each record's offset, checking every length against the
bytes there (never allocating by one), then parses each record on its own. Writing encodes the
records in the order given, then writes their offsets into the bytes in place: the three
elements every record starts with, (0004,1400) UL, (0004,1410) US and (0004,1420) UL, have fixed
sizes, so placing the offsets changes no length.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from typing import IO, Any

import dicomkit.durable as durable
from dicomkit.core.dataset import Dataset
from dicomkit.core.dictionary import vr_for_tag
from dicomkit.core.tag import ITEM, ITEM_DELIMITATION, SEQUENCE_DELIMITATION
from dicomkit.core.uid import generate_uid, registered
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.reader import read, read_dataset
from dicomkit.encoding.writer import build_file_meta, dataset_to_bytes, file_meta_bytes
from dicomkit.media.errors import MediaError

DIRECTORY_RECORD_SEQUENCE = 0x00041220
FIRST_RECORD = 0x00041200
LAST_RECORD = 0x00041202
CONSISTENCY = 0x00041212
NEXT = 0x00041400
IN_USE = 0x00041410
LOWER = 0x00041420
RECORD_TYPE = 0x00041430
IN_USE_YES = 0xFFFF
UNDEFINED = 0xFFFFFFFF
MAX_DEPTH = 32
_TOP_TAGS = (0x00041130, 0x00041141, 0x00041142, FIRST_RECORD, LAST_RECORD, CONSISTENCY)
_LONG = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
                   b"UT", b"UV"))
_HH2SH = struct.Struct("<HH2sH")
_HHL = struct.Struct("<HHL")
_L = struct.Struct("<L")


@dataclass
class RawRecord:
    """One item of the Directory Record Sequence: where its item tag is, and its data set."""

    offset: int
    dataset: Dataset


@dataclass
class DicomdirContents:
    """A DICOMDIR as read: its File Meta Information, its top-level attributes (File-set
    Identification and Directory Information modules, F.3.2.1-2) and its records in file
    order."""

    file_meta: Dataset | None
    top: Dataset
    records: list[RawRecord]


# -- reading --------------------------------------------------------------------------------------
class _Walker:
    """Element headers of an Explicit VR Little Endian buffer, every length checked."""

    def __init__(self, buf: Any, implicit: bool = False) -> None:
        self.buf = buf
        self.size = len(buf)
        self.implicit = implicit

    def header(self, pos: int, end: int) -> tuple[int, bytes | None, int, int]:
        """(tag, VR bytes or None for items/delimiters, length, header size)."""
        if pos + 8 > end:
            raise MediaError("element header runs past its end", offset=pos)
        group, elem, vr, short = _HH2SH.unpack_from(self.buf, pos)
        tag = (group << 16) | elem
        if group == 0xFFFE:
            return tag, None, _L.unpack_from(self.buf, pos + 4)[0], 8
        if self.implicit:  # PS3.5 §7.1.3: the VR comes from the dictionary
            length = _L.unpack_from(self.buf, pos + 4)[0]
            is_sequence = vr_for_tag(tag) == "SQ" or (length == UNDEFINED and tag != 0x7FE00010)
            return tag, b"SQ" if is_sequence else b"UN", length, 8
        if vr in _LONG:
            if pos + 12 > end:
                raise MediaError("element header runs past its end", offset=pos, tag=tag)
            return tag, vr, _L.unpack_from(self.buf, pos + 8)[0], 12
        if not (0x41 <= vr[0] <= 0x5A and 0x41 <= vr[1] <= 0x5A):
            raise MediaError(f"VR bytes {vr!r} are not a VR: a DICOMDIR is Explicit VR Little "
                             "Endian (PS3.10 §8.6)", offset=pos, tag=tag)
        return tag, vr, short, 8

    def items(self, pos: int, length: int, depth: int) -> tuple[list[tuple[int, int, int]], int]:
        """(item offset, value start, value end) of each item of a sequence whose value
        starts at ``pos`` and ends at ``pos + length`` or at its delimiter; and the offset
        after the sequence."""
        end = self.size if length == UNDEFINED else pos + length
        if end > self.size:
            raise MediaError(f"sequence length {length} runs past the end of the file",
                             offset=pos)
        found: list[tuple[int, int, int]] = []
        while pos < end:
            tag, _, item_length, _ = self.header(pos, end)
            if tag == SEQUENCE_DELIMITATION and length == UNDEFINED:
                return found, pos + 8
            if tag != ITEM:
                raise MediaError(f"expected an item, found ({tag >> 16:04X},{tag & 0xFFFF:04X})",
                                 offset=pos)
            start = pos + 8
            if item_length == UNDEFINED:
                stop = self.dataset_end(start, end, depth + 1)
                found.append((pos, start, stop))
                pos = stop + 8
            else:
                if start + item_length > end:
                    raise MediaError(f"item length {item_length} runs past the end of its "
                                     "sequence", offset=pos)
                found.append((pos, start, start + item_length))
                pos = start + item_length
        if length == UNDEFINED:
            raise MediaError("the file ends inside a sequence (no sequence delimiter)",
                             offset=pos)
        return found, pos

    def dataset_end(self, pos: int, end: int, depth: int) -> int:
        """The offset of the item delimiter that ends an undefined-length item at ``pos``."""
        if depth > MAX_DEPTH:
            raise MediaError(f"sequences nested deeper than {MAX_DEPTH}", offset=pos)
        while pos < end:
            tag, vr, length, size = self.header(pos, end)
            if tag == ITEM_DELIMITATION:
                return pos
            value = pos + size
            if length == UNDEFINED:
                if vr == b"SQ":
                    pos = self.items(value, UNDEFINED, depth)[1]
                elif vr in (b"OB", b"OW"):
                    pos = self.after_fragments(value, end)
                else:
                    raise MediaError("undefined length on a non-sequence element in a record",
                                     offset=pos, tag=tag)
                continue
            if value + length > end:
                raise MediaError(f"value length {length} runs past the end of its item",
                                 offset=pos, tag=tag)
            pos = value + length
        raise MediaError("the file ends inside an item (no item delimiter)", offset=pos)

    def after_fragments(self, pos: int, end: int) -> int:
        while True:
            tag, _, length, _ = self.header(pos, end)
            if tag == SEQUENCE_DELIMITATION:
                return pos + 8
            if tag != ITEM or length == UNDEFINED or pos + 8 + length > end:
                raise MediaError("malformed encapsulated fragments in a record", offset=pos)
            pos += 8 + length


def _load(source: Any) -> Any:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source
    with open(source, "rb") as handle:
        return handle.read()


def read_dicomdir(source: str | os.PathLike[str] | bytes) -> DicomdirContents:
    """Parse a DICOMDIR (a path or its bytes) into its top-level attributes and its records,
    each with the offset of its item. Raises :class:`MediaError` for anything that is not a
    well-formed Basic Directory: no Part 10 header, a transfer syntax other than Explicit VR
    Little Endian, lengths past the end, malformed items."""
    buf = _load(source)
    if len(buf) < 132 or bytes(buf[128:132]) != b"DICM":
        raise MediaError("not a DICOMDIR: no Part 10 preamble and DICM prefix (PS3.10 §7.1)",
                         offset=128)
    walker = _Walker(buf)
    tag, _, length, _ = walker.header(132, len(buf))
    if tag != 0x00020000 or length != 4 or 132 + 12 > len(buf):
        raise MediaError("the File Meta Information does not start with its group length",
                         offset=132)
    start = 144 + _L.unpack_from(buf, 140)[0]
    if start > len(buf):
        raise MediaError("File Meta Information group length runs past the end", offset=140)
    whole = read(buf, tags=_TOP_TAGS)
    meta = whole.file_meta
    ts_element = meta.get(0x00020010) if meta is not None else None
    ts = str(ts_element.value or "").strip("\0 ") if ts_element is not None else ""
    # PS3.10 §8.6 requires Explicit VR Little Endian; Implicit VR Little Endian DICOMDIRs
    # written by older software are read too (PS3.5 §7.1.3), nothing else.
    if ts not in (ts_mod.EXPLICIT_VR_LITTLE_ENDIAN.uid, ts_mod.IMPLICIT_VR_LITTLE_ENDIAN.uid):
        raise MediaError(f"DICOMDIR transfer syntax {ts or '(none)'} is not Explicit VR Little "
                         "Endian (PS3.10 §8.6)", offset=132)
    implicit = ts == ts_mod.IMPLICIT_VR_LITTLE_ENDIAN.uid
    walker = _Walker(buf, implicit)
    sop_class = meta.get(0x00020002) if meta is not None else None
    if sop_class is None or str(sop_class.value).strip("\0 ") != registered(
            "MediaStorageDirectoryStorage"):
        raise MediaError("Media Storage SOP Class is not Media Storage Directory Storage: not a "
                         "DICOMDIR", offset=132)
    top = Dataset()
    records: list[RawRecord] = []
    pos = start
    end = len(buf)
    while pos < end:
        tag, vr, length, size = walker.header(pos, end)
        value = pos + size
        if tag == DIRECTORY_RECORD_SEQUENCE:
            found, pos = walker.items(value, length, 0)
            view = memoryview(buf)
            records += [RawRecord(offset, read_dataset(view[begin:stop], implicit=implicit))
                        for offset, begin, stop in found]
            continue
        if length == UNDEFINED:
            if vr != b"SQ":
                raise MediaError("undefined length on a non-sequence element", offset=pos,
                                 tag=tag)
            pos = walker.items(value, UNDEFINED, 0)[1]
            continue
        if value + length > end:
            raise MediaError(f"value length {length} runs past the end of the file", offset=pos,
                             tag=tag)
        pos = value + length
    for element in whole:
        top[element.tag] = element
    return DicomdirContents(meta, top, records)


# -- writing --------------------------------------------------------------------------------------
@dataclass
class RecordLinks:
    """A record to write and its links as indices into the list being written (None for
    none): PS3.3 F.3.2.2 next and lower."""

    dataset: Dataset
    next: int | None
    lower: int | None


def _record_bytes(ds: Dataset) -> bytes:
    ds.set(NEXT, 0, "UL")
    ds.set(IN_USE, IN_USE_YES, "US")
    ds.set(LOWER, 0, "UL")
    data = dataset_to_bytes(ds, ts_mod.EXPLICIT_VR_LITTLE_ENDIAN, group_lengths=False,
                            defined_lengths=True)
    if data[:4] != b"\x04\x00\x00\x14" or data[22:26] != b"\x04\x00\x20\x14":
        raise MediaError("a directory record holds an element before (0004,1400)")
    return data


def encode_dicomdir(records: list[RecordLinks], *, first: int | None, last: int | None,
                    fileset_id: str = "", instance_uid: str | None = None,
                    descriptor: tuple[str, ...] | None = None) -> list[bytes]:
    """The bytes of a DICOMDIR holding ``records`` in this order, with every offset placed:
    preamble, DICM, File Meta Information (Media Storage Directory Storage, Explicit VR Little
    Endian), the File-set Identification and Directory Information modules, then the Directory
    Record Sequence (defined lengths). ``first``/``last`` index the root entity's records."""
    ts = ts_mod.EXPLICIT_VR_LITTLE_ENDIAN
    if re.fullmatch(r"[A-Z0-9_ ]{0,16}", fileset_id) is None:
        raise MediaError(f"File-set ID {fileset_id!r} is not up to 16 characters of A-Z, 0-9, "
                         "_ and space (CS, PS3.10 §8.2)")
    ident = Dataset()
    ident.set("SOPClassUID", registered("MediaStorageDirectoryStorage"), "UI")
    ident.set("SOPInstanceUID", instance_uid or generate_uid(), "UI")
    meta = build_file_meta(ident, ts)
    head = b"\0" * 128 + b"DICM" + file_meta_bytes(meta)
    items = [_record_bytes(r.dataset) for r in records]
    top = Dataset()
    top.set(0x00041130, fileset_id, "CS")
    if descriptor:
        top.set(0x00041141, list(descriptor), "CS")
    top.set(FIRST_RECORD, 0, "UL")
    top.set(LAST_RECORD, 0, "UL")
    top.set(CONSISTENCY, 0, "US")
    top_size = len(dataset_to_bytes(top, ts, group_lengths=False))
    body_size = sum(8 + len(item) for item in items)
    offsets = []
    pos = len(head) + top_size + 12
    for item in items:
        offsets.append(pos)
        pos += 8 + len(item)
    top.set(FIRST_RECORD, offsets[first] if first is not None else 0, "UL")
    top.set(LAST_RECORD, offsets[last] if last is not None else 0, "UL")
    chunks = [head, dataset_to_bytes(top, ts, group_lengths=False),
              struct.pack("<HH2sHL", 0x0004, 0x1220, b"SQ", 0, body_size)]
    for record, item in zip(records, items, strict=True):
        patched = bytearray(item)
        _L.pack_into(patched, 8, offsets[record.next] if record.next is not None else 0)
        _L.pack_into(patched, 30, offsets[record.lower] if record.lower is not None else 0)
        chunks.append(_HHL.pack(0xFFFE, 0xE000, len(patched)))
        chunks.append(bytes(patched))
    return chunks


def write_chunks(chunks: list[bytes], target: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write encoded chunks to a path (whole or not at all, :mod:`dicomkit.durable`) or to a
    binary stream."""
    if isinstance(target, (str, os.PathLike)):
        durable.write_whole(target, chunks)
    else:
        for chunk in chunks:
            target.write(chunk)
