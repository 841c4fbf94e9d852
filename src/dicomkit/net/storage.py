"""Streaming a C-STORE data set straight to a Part 10 file (PS3.10 §7), durably.

The data set is written to a temporary file in the destination folder as P-DATA arrives, with
only the first bytes kept in memory so the header attributes can be picked out
(:func:`dicomkit.encoding.reader.peek_attributes`); on the last fragment the file is synced
and renamed into place by :mod:`dicomkit.durable`. An aborted transfer leaves nothing behind.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import dicomkit.durable as durable
from dicomkit.core.dataset import Dataset
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.reader import peek_attributes, read
from dicomkit.encoding.writer import build_file_meta, file_meta_bytes
from dicomkit.errors import InvalidDicomError

HEAD_BYTES = 64 * 1024


def data_set_offset(path: str) -> int:
    """Where the data set starts in a file: after preamble, DICM and group 0002 (if any)."""
    with open(path, "rb") as handle:
        head = handle.read(_HEAD)
    return _data_set_start(head, path)


def data_set_start(buf: bytes | bytearray | memoryview) -> int:
    """:func:`data_set_offset` of a whole file held in memory."""
    return _data_set_start(bytes(buf[:_HEAD]), buf)


_HEAD = 144  # preamble, DICM and the first element header of group 0002


def _data_set_start(head: bytes, source: Any) -> int:
    pos = 132 if head[128:132] == b"DICM" else 0
    header = head[pos:pos + 12]
    if len(header) < 12 or header[:2] != b"\x02\x00":
        return pos
    if header[2:4] == b"\x00\x00" and header[4:6] == b"UL":
        (length,) = struct.unpack_from("<L", header, 8)
        return pos + 12 + length
    ds = read(source, stop_before_pixels=True, tags=[0x00080016])
    meta = ds.file_meta
    if meta is None:
        return pos
    return pos + len(file_meta_bytes(meta))


def meta_for(sop_class: str, sop_instance: str, transfer_syntax: str,
             source_ae: str | None = None) -> bytes:
    """Preamble, DICM and File Meta Information for a received instance (PS3.10 §7.1).

    Called once per C-STORE: the elements other than Media Storage SOP Instance UID are
    encoded once per (SOP Class, transfer syntax, source AE) and the instance's UID is set
    in between; the bytes are those of ``file_meta_bytes(build_file_meta(...))``."""
    uid = sop_instance.encode("ascii", "replace")
    if len(uid) % 2:
        uid += b"\0"
    if not 0 < len(uid) <= 64:
        return _meta_generic(sop_class, sop_instance, transfer_syntax, source_ae)
    before, after = _meta_parts(sop_class, transfer_syntax, source_ae)
    element = struct.pack("<HH2sH", 0x0002, 0x0003, b"UI", len(uid)) + uid
    size = len(before) + len(element) + len(after)
    return (_PREAMBLE + struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, size) + before
            + element + after)


_PREAMBLE = b"\0" * 128 + b"DICM"


def _meta_generic(sop_class: str, sop_instance: str | None, transfer_syntax: str,
                  source_ae: str | None) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    if sop_instance is not None:
        ds.SOPInstanceUID = sop_instance
    meta = build_file_meta(ds, ts_mod.for_uid(transfer_syntax))
    if source_ae:
        meta.SourceApplicationEntityTitle = source_ae
    return _PREAMBLE + file_meta_bytes(meta)


@functools.lru_cache(maxsize=256)
def _meta_parts(sop_class: str, transfer_syntax: str, source_ae: str | None
                ) -> tuple[bytes, bytes]:
    """The encoded elements before and after (0002,0003), without the group length."""
    body = _meta_generic(sop_class, None, transfer_syntax, source_ae)[len(_PREAMBLE) + 12:]
    pos = 0
    while pos < len(body):
        (element,) = struct.unpack_from("<H", body, pos + 2)
        if element > 0x0003:
            break
        vr = body[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR", b"OF", b"OD", b"OL", b"OV"):
            (length,) = struct.unpack_from("<L", body, pos + 8)
            pos += 12 + length
        else:
            (length,) = struct.unpack_from("<H", body, pos + 6)
            pos += 8 + length
    return body[:pos], body[pos:]


@dataclass
class StoredFile:
    """What a FileSink produced: where the file is and the header attributes picked out."""

    path: str
    size: int
    attributes: Dataset = field(default_factory=Dataset)


class FileSink:
    """A DataSink writing one instance to ``final_path`` durably: the File Meta Information
    first, then the data set as it arrives, to a :class:`dicomkit.durable.TemporaryFile` in
    the destination folder, placed by :func:`dicomkit.durable.place` (sync, rename, sync of the
    folder) when it is complete. The first bytes are kept so the ``wanted`` header attributes
    can be picked out without reading the file back."""

    def __init__(self, final_path: str, preamble_and_meta: bytes, transfer_syntax: str,
                 wanted: Iterable[int] = (), fsync: bool = True) -> None:
        self.final_path = final_path
        self.transfer_syntax = transfer_syntax
        self.wanted = frozenset(wanted)
        self.fsync = fsync
        self.folder = os.path.dirname(final_path) or "."
        os.makedirs(self.folder, exist_ok=True)
        self.file = durable.TemporaryFile(self.folder, fsync=fsync)
        self.head = bytearray()
        self.file.write(preamble_and_meta)

    def write(self, data: bytes | memoryview) -> None:
        if self.file.error is not None:  # full disk, lost folder: reported at the end
            return
        self.file.write(data)
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]

    def close(self) -> StoredFile | BaseException:
        """Finish the file; returns the StoredFile, or the exception that prevented it."""
        try:
            durable.place(self.file.finish(), self.final_path, fsync=self.fsync,
                          folders=[self.folder])
        except OSError as exc:
            self.abort()
            return exc
        return StoredFile(self.final_path, self.file.size, self.attributes())

    def abort(self) -> None:
        self.file.abort()

    def attributes(self) -> Dataset:
        """The wanted top-level attributes, parsed from the first bytes only."""
        return peek_attributes(bytes(self.head), self.transfer_syntax, self.wanted)


def safe_uid_path(root: str, *uids: Any, suffix: str = ".dcm") -> str:
    """A path under ``root`` built from UIDs checked against the PS3.5 §9.1 grammar, so no
    UID can name a file outside ``root``."""
    from dicomkit.core.uid import UID

    parts = []
    for uid in uids:
        text = str(uid or "").strip("\0 ")
        if not UID(text).is_valid:
            raise InvalidDicomError(f"{text!r} is not a valid UID; refusing it as a file name")
        parts.append(text)
    parts[-1] += suffix
    path = os.path.join(root, *parts)
    if os.path.commonpath([os.path.abspath(root), os.path.abspath(path)]) != os.path.abspath(root):
        raise InvalidDicomError(f"{path!r} escapes the storage folder")
    return path
