"""Writing data sets: PS3.5 §7 element encoding and PS3.10 §7 Part 10 files.

Unchanged values read from bytes are copied as stored (byte-swapped only when the byte order
changes), so conversions among the uncompressed transfer syntaxes are lossless.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from typing import IO, Any

import dicomkit.durable as durable
from dicomkit.core.charset import TEXT_VRS
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.core.tag import tag_str
from dicomkit.core.vr import LONG_LENGTH_VRS, VR_INFO, encode_value
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.transfer_syntax import TransferSyntax
from dicomkit.errors import InvalidDicomError, NotSupportedError

UNDEFINED = 0xFFFFFFFF
IMPLEMENTATION_CLASS_UID = "2.25.205903934305467405302587823283733398416"
IMPLEMENTATION_VERSION_NAME = "DICOMKIT_010"
_ITEM_LE = struct.pack("<HHL", 0xFFFE, 0xE000, UNDEFINED)
_ITEM_END_LE = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
_SEQ_END_LE = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)


class _Encoder:
    def __init__(self, ts: TransferSyntax, group_lengths: bool | None, defined_lengths: bool):
        self.little = ts.little
        self.implicit = ts.implicit
        self.encapsulated_ok = not ts.implicit and ts.little
        self.group_lengths = group_lengths
        self.defined = defined_lengths
        order = "<" if ts.little else ">"
        self.hhl = struct.Struct(order + "HHL")
        self.hh2sh = struct.Struct(order + "HH2sH")
        self.hh2s2xl = struct.Struct(order + "HH2s2xL")
        if ts.little:
            self.item, self.item_end, self.seq_end = _ITEM_LE, _ITEM_END_LE, _SEQ_END_LE
        else:
            self.item = struct.pack(">HHL", 0xFFFE, 0xE000, UNDEFINED)
            self.item_end = struct.pack(">HHL", 0xFFFE, 0xE00D, 0)
            self.seq_end = struct.pack(">HHL", 0xFFFE, 0xE0DD, 0)

    def header(self, tag: int, vr: str, length: int) -> bytes:
        group, elem = tag >> 16, tag & 0xFFFF
        if self.implicit:
            return self.hhl.pack(group, elem, length)
        if vr in LONG_LENGTH_VRS:
            return self.hh2s2xl.pack(group, elem, vr.encode(), length)
        return self.hh2sh.pack(group, elem, vr.encode(), length)

    def dataset(self, ds: Dataset, out: list[bytes], top: bool = False) -> None:
        tags = ds.tags()
        regroup = self.group_lengths
        if regroup is None:  # keep group lengths that were there, with correct values
            regroup_groups = {t >> 16 for t in tags if t & 0xFFFF == 0}
        elif regroup:
            regroup_groups = {t >> 16 for t in tags}
        else:
            regroup_groups = set()
        if not regroup_groups:
            for tag in tags:
                if tag & 0xFFFF == 0 and (tag >> 16) != 0x0002:
                    continue
                self.element(ds, tag, out)
            return
        group = None
        chunk: list[bytes] = []
        for tag in tags:
            if tag & 0xFFFF == 0:
                continue
            if tag >> 16 != group:
                self._flush_group(group, chunk, out, regroup_groups)
                group, chunk = tag >> 16, []
            self.element(ds, tag, chunk)
        self._flush_group(group, chunk, out, regroup_groups)

    def _flush_group(self, group: int | None, chunk: list[bytes], out: list[bytes],
                     groups: set[int]) -> None:
        if group is None:
            return
        if group in groups and group != 0x0002:
            size = sum(len(b) for b in chunk)
            out.append(self.header(group << 16, "UL", 4))
            out.append(struct.pack("<L" if self.little else ">L", size))
        out.extend(chunk)

    def element(self, ds: Dataset, tag: int, out: list[bytes]) -> None:
        entry = ds.raw_entry(tag)
        if type(entry) is tuple:
            vr, offset, length, undefined = entry
            if (not undefined and " or " not in vr and vr != "UN" and vr != "SQ"
                    and ds.is_little_endian == self.little):
                data = ds.buffer[offset : offset + length]
                if length & 1:
                    data = bytes(data) + VR_INFO[vr].pad if vr in VR_INFO else bytes(data) + b"\0"
                self._emit(tag, vr, data, out)
                return
            entry = ds[tag]
        element: DataElement = entry
        vr = element.VR
        if vr == "SQ":
            self.sequence(ds, element, out)
            return
        if element.is_undefined_length:
            if not self.encapsulated_ok:
                raise NotSupportedError(
                    f"{tag_str(tag)} holds encapsulated (compressed) data, which only explicit VR"
                    " little endian transfer syntaxes can carry; decompress it first"
                )
            out.append(self.header(tag, vr, UNDEFINED))
            out.append(bytes(element.raw if element.raw is not None else element.value))
            out.append(self.seq_end)
            return
        if element.raw is not None or not self.buffer_value(tag, vr, element.value, out):
            self.encoded(ds, tag, element, out)

    def buffer_value(self, tag: int, vr: str, value: Any, out: list[bytes]) -> bool:
        """Emit an OB (or little endian OW) value held in a mutable buffer (bytearray,
        memoryview) as that buffer, without copying it: large Pixel Data built in place (a
        segmentation's frames, say) is written as it is. False when ``value`` is not one."""
        if not isinstance(value, (bytearray, memoryview)) or not (
                vr == "OB" or (vr == "OW" and self.little)):
            return False
        data = memoryview(value).cast("B") if isinstance(value, memoryview) else value
        size = len(data)
        out.append(self.header(tag, vr, size + (size & 1)))
        out.append(data)  # type: ignore[arg-type]
        if size & 1:
            out.append(b"\0")
        return True

    def encoded(self, ds: Dataset, tag: int, element: DataElement, out: list[bytes]) -> None:
        vr = element.VR
        if vr in TEXT_VRS and element.raw is None:
            # PS3.5 §6.1.2.2: text is encoded in the Specific Character Set of the data set it
            # is written in, whatever was in force when the value was set.
            data = encode_value(vr, element.value, self.little, ds.charsets)
        else:
            data = element.value_bytes(self.little)
        if len(data) & 1:
            data = data + (VR_INFO[vr].pad if vr in VR_INFO else b"\0")
        self._emit(tag, vr, data, out)

    def _emit(self, tag: int, vr: str, data: Any, out: list[bytes]) -> None:
        if not self.implicit and vr not in LONG_LENGTH_VRS and len(data) > 0xFFFF:
            vr = "UN"  # PS3.5 §6.2.2: a value too long for a 16-bit length is sent as UN
        out.append(self.header(tag, vr, len(data)))
        out.append(data)

    def sequence(self, ds: Dataset, element: DataElement, out: list[bytes]) -> None:
        """PS3.5 §7.5: SQ with undefined (default) or defined lengths. An item that is not
        yet attached to ``ds`` (added to a sequence read from a file, say) is attached first:
        it inherits the Specific Character Set of the data set it is written in (§6.1.2.5.2)."""
        tag = element.tag
        for item in element.value:
            if isinstance(item, Dataset) and item.parent is not ds:
                item.attach_to(ds)
        if not self.defined:
            out.append(self.header(tag, "SQ", UNDEFINED))
            for item in element.value:
                out.append(self.item)
                self.dataset(item, out)
                out.append(self.item_end)
            out.append(self.seq_end)
            return
        body: list[bytes] = []
        for item in element.value:
            inner: list[bytes] = []
            self.dataset(item, inner)
            size = sum(len(b) for b in inner)
            body.append(self.hhl.pack(0xFFFE, 0xE000, size))
            body.extend(inner)
        out.append(self.header(tag, "SQ", sum(len(b) for b in body)))
        out.extend(body)


def dataset_to_bytes(
    ds: Dataset,
    transfer_syntax: TransferSyntax | str = ts_mod.EXPLICIT_VR_LITTLE_ENDIAN,
    *,
    group_lengths: bool | None = None,
    defined_lengths: bool = False,
) -> bytes:
    """Encode a data set (no Part 10 header) in the given transfer syntax; deflate if asked."""
    ts = ts_mod.lookup(transfer_syntax) if isinstance(transfer_syntax, str) else transfer_syntax
    out: list[bytes] = []
    _Encoder(ts, group_lengths, defined_lengths).dataset(_without_meta(ds), out, top=True)
    data = b"".join(out)
    if ts.deflated:
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = packer.compress(data) + packer.flush()
        if len(data) % 2:
            data += b"\0"  # PS3.5 A.5: an odd deflated stream gets one trailing NULL byte
    return data


def _without_meta(ds: Dataset) -> Dataset:
    meta = [t for t in ds.tags() if t >> 16 == 0x0002]
    if meta:
        ds = ds.copy()
        for tag in meta:
            del ds[tag]
    return ds


def build_file_meta(ds: Dataset, ts: TransferSyntax) -> Dataset:
    """PS3.10 §7.1: File Meta Information for ``ds`` in transfer syntax ``ts``."""
    meta = Dataset()
    old = ds.file_meta
    if old is not None:
        for element in old:
            if element.tag >> 16 == 0x0002 and element.tag & 0xFFFF:
                meta[element.tag] = element
    sop_class = ds.get("SOPClassUID") or (old.get("MediaStorageSOPClassUID") if old else None)
    sop_instance = ds.get("SOPInstanceUID") or (
        old.get("MediaStorageSOPInstanceUID") if old else None
    )
    meta.set(0x00020001, b"\x00\x01", "OB")
    if sop_class:
        meta.set(0x00020002, str(sop_class), "UI")
    if sop_instance:
        meta.set(0x00020003, str(sop_instance), "UI")
    meta.set(0x00020010, ts.uid, "UI")
    meta.set(0x00020012, IMPLEMENTATION_CLASS_UID, "UI")
    meta.set(0x00020013, IMPLEMENTATION_VERSION_NAME, "SH")
    return meta


def file_meta_bytes(meta: Dataset) -> bytes:
    """Group 0002, always explicit VR little endian, led by its group length (PS3.10 §7.1)."""
    body: list[bytes] = []
    encoder = _Encoder(ts_mod.EXPLICIT_VR_LITTLE_ENDIAN, False, False)
    for tag in meta.tags():
        if tag >> 16 != 0x0002:
            raise InvalidDicomError("File Meta Information holds a non-0002 element", tag=tag)
        if tag & 0xFFFF:
            encoder.element(meta, tag, body)
    data = b"".join(body)
    return struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(data)) + data


def write(
    ds: Dataset,
    target: str | os.PathLike[str] | IO[bytes],
    *,
    transfer_syntax: TransferSyntax | str | None = None,
    part10: bool = True,
    group_lengths: bool | None = None,
    defined_lengths: bool = False,
) -> None:
    """Write ``ds`` as a Part 10 file (preamble, DICM, File Meta Information, data set), or as a
    raw data set with ``part10=False``. The transfer syntax defaults to the one it was read in,
    else explicit VR little endian. Files are written whole or not at all (a temporary file is
    renamed into place after fsync, :mod:`dicomkit.durable`)."""
    chunks = encode(ds, transfer_syntax=transfer_syntax, part10=part10,
                    group_lengths=group_lengths, defined_lengths=defined_lengths)
    if isinstance(target, (str, os.PathLike)):
        durable.write_whole(target, _coalesced(chunks))
    else:
        for chunk in _coalesced(chunks):
            target.write(chunk)


def encode(
    ds: Dataset,
    *,
    transfer_syntax: TransferSyntax | str | None = None,
    part10: bool = True,
    group_lengths: bool | None = None,
    defined_lengths: bool = False,
) -> list[bytes]:
    """What :func:`write` writes, as the list of encoded pieces in file order (joined, they
    are the file: one buffer for one write)."""
    if transfer_syntax is None:
        transfer_syntax = ds.transfer_syntax or ts_mod.EXPLICIT_VR_LITTLE_ENDIAN
    ts = ts_mod.lookup(transfer_syntax) if isinstance(transfer_syntax, str) else transfer_syntax
    source_ts = ds.transfer_syntax
    pixel = ds.raw_entry(0x7FE00010) if 0x7FE00010 in ds else None
    has_fragments = pixel is not None and bool(
        (type(pixel) is tuple and pixel[3]) or getattr(pixel, "is_undefined_length", False)
    )
    # Fragments never go into a native syntax, whatever the source was labelled (a mislabelled
    # file can have encapsulated pixel data in a data set read as plain implicit VR).
    if ts.encapsulated != bool(source_ts is not None and source_ts.encapsulated) or (
        has_fragments and not ts.encapsulated
    ):
        if has_fragments != ts.encapsulated and pixel is not None:
            raise NotSupportedError(
                f"converting pixel data to {ts.name} needs transcoding: "
                "dicomkit.pixels.transcode.transcode(ds, ts) first (dicomkit convert does it)"
            )
    chunks: list[bytes] = []
    if part10:
        preamble = ds.preamble if ds.preamble and len(ds.preamble) == 128 else b"\0" * 128
        chunks += [preamble, b"DICM", file_meta_bytes(build_file_meta(ds, ts))]
    if ts.deflated:
        chunks.append(dataset_to_bytes(ds, ts, group_lengths=group_lengths,
                                       defined_lengths=defined_lengths))
    else:
        # The encoded elements go to the file as they are, not joined first: a large value
        # (Pixel Data) is not copied once more.
        _Encoder(ts, group_lengths, defined_lengths).dataset(_without_meta(ds), chunks, top=True)
    return chunks


COALESCE = 1 << 20
"""Encoded elements are written in runs of about this many bytes (one write per element would
cost more than the encoding); a larger value is written on its own, as it is."""


def _coalesced(chunks: list[bytes]) -> Iterator[bytes]:
    run: list[bytes] = []
    size = 0
    for chunk in chunks:
        if len(chunk) >= COALESCE:
            if run:
                yield b"".join(run)
                run, size = [], 0
            yield chunk
            continue
        run.append(chunk)
        size += len(chunk)
        if size >= COALESCE:
            yield b"".join(run)
            run, size = [], 0
    if run:
        yield b"".join(run)


def to_bytes(ds: Dataset, **kwargs: Any) -> bytes:
    """The bytes :func:`write` would write (keyword arguments as :func:`encode`)."""
    return b"".join(encode(ds, **kwargs))
