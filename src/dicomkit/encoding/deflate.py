"""PS3.5 A.5: inflating a Deflated Explicit VR Little Endian data set, in bounded memory.

Every place that inflates a deflated data set (the Part 10 reader, a DIMSE message received
or sent in 1.2.840.10008.1.2.1.99, the archive's check of a received instance) goes through
:class:`Inflater`, so all of them share one rule:

- output is produced in pieces of at most :data:`CHUNK` bytes and written to a sink (a file,
  or nothing when only the size is wanted), so a small input that inflates to gigabytes never
  takes the memory its inflated size would;
- past ``limit`` inflated bytes the stream is refused with :class:`InflateLimitError`, which
  names the limit and the offset in the deflated input where it was passed;
- a stream that ends before its last deflate block (truncated), that zlib cannot decode
  (corrupt), or that goes on after its end with anything but the single NULL pad byte A.5
  allows ("If the Deflate algorithm produces an odd number of bytes then a single trailing
  NULL byte shall be added") is refused with :class:`DeflateStreamError`. One exception, for
  files in the field (pydicom's ``image_dfl.dcm`` is one): an 8-byte gzip-style trailer
  (RFC 1952 CRC-32 and ISIZE) whose ISIZE is the inflated size is tolerated.

The limit a caller passes is usually :func:`default_limit`: :data:`DEFAULT_MAX_INFLATED`
unless the process changed it with :func:`set_default_limit` (``dicomkit serve
--max-inflated-size`` does), so that one setting governs every inflation in the server.
"""

from __future__ import annotations

import mmap
import os
import zlib
from typing import IO, Any, Protocol

from dicomkit.errors import DicomError, InvalidDicomError

DEFAULT_MAX_INFLATED = 4 * 1024 * 1024 * 1024
"""4 GiB: above the largest real multi-frame objects sent deflated, far below a bomb's reach."""
CHUNK = 1 << 20  # at most this many inflated bytes exist in memory at once
INPUT_CHUNK = 64 * 1024  # deflated input is handed to zlib this much at a time
SPILL_BYTES = 8 * 1024 * 1024  # inflate_buffer: larger results go to a temporary file
_PAD = b"\0"
_MAX_TRAILING = 9  # a pad byte, or an RFC 1952 trailer (CRC-32, ISIZE) and a pad byte

_default_limit = DEFAULT_MAX_INFLATED


def default_limit() -> int:
    """The inflated size limit used when a caller gives none."""
    return _default_limit


def set_default_limit(limit: int) -> None:
    """Change the process-wide default limit (``dicomkit serve --max-inflated-size``)."""
    global _default_limit
    if limit <= 0:
        raise ValueError(f"the inflated size limit must be positive, not {limit}")
    _default_limit = int(limit)


class InflateLimitError(DicomError):
    """A deflated data set inflates past the limit: refused before it takes the memory or the
    disk. ``limit``: the limit in bytes; ``offset``: the position in the input (the deflated
    bytes, counted from the start of the file or message) where it was passed."""

    def __init__(self, limit: int, offset: int, where: str = "") -> None:
        self.limit = limit
        self.offset = offset
        self.where = where
        self.reason = (f"the deflated data set inflates past the inflated size limit of "
                       f"{limit} bytes (at offset {offset} of the deflated input)")
        super().__init__(f"{where}: {self.reason}" if where else self.reason)


class DeflateStreamError(InvalidDicomError):
    """A deflated data set that is truncated, corrupt, or followed by trailing bytes."""


class _Writable(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class Inflater:
    """A streaming raw-deflate (RFC 1951) inflater with a limit on the inflated size.

    ``feed`` the deflated bytes in any pieces, then ``finish``; inflated bytes go to ``sink``
    (anything with ``write``) or are only counted when ``sink`` is None. ``offset``: where
    the deflated stream starts in its container (for error messages); ``where``: what is being
    inflated (a file name, an association)."""

    def __init__(self, sink: _Writable | None = None, *, limit: int | None = None,
                 offset: int = 0, where: str = "") -> None:
        self.sink = sink
        self.limit = default_limit() if limit is None else limit
        self.start = offset
        self.where = where
        self.consumed = 0  # deflated bytes fed so far
        self.inflated = 0  # inflated bytes produced so far
        self.trailing = bytearray()  # what followed the end of the stream (a few bytes kept)
        self.trailing_at = 0
        self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)

    @property
    def eof(self) -> bool:
        return bool(self._zlib.eof)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        for start in range(0, len(view), INPUT_CHUNK):
            self._feed(view[start:start + INPUT_CHUNK])

    def _feed(self, piece: memoryview | bytes) -> None:
        if self._zlib.eof:
            self._trail(piece, self.start + self.consumed)
            self.consumed += len(piece)
            return
        try:
            out = self._zlib.decompress(piece, CHUNK)
            while True:
                self._emit(out, len(piece) - len(self._zlib.unconsumed_tail))
                tail = self._zlib.unconsumed_tail
                # A full CHUNK may leave output pending inside zlib even with no input left.
                if self._zlib.eof or (not tail and len(out) < CHUNK):
                    break
                out = self._zlib.decompress(tail, CHUNK)
        except zlib.error as exc:
            raise DeflateStreamError(f"{self._prefix()}the deflated data set is corrupt: {exc}",
                                     offset=self.start + self.consumed) from exc
        self.consumed += len(piece)
        if self._zlib.eof and self._zlib.unused_data:
            unused = self._zlib.unused_data
            self._trail(unused, self.start + self.consumed - len(unused))

    def _emit(self, out: bytes, used: int) -> None:
        if not out:
            return
        self.inflated += len(out)
        if self.inflated > self.limit:
            raise InflateLimitError(self.limit, self.start + self.consumed + used, self.where)
        if self.sink is not None:
            self.sink.write(out)

    def _trail(self, data: bytes | memoryview, at: int) -> None:
        """Keep what follows the stream's end (at offset ``at``); too much is refused now."""
        if not self.trailing:
            self.trailing_at = at
        self.trailing += bytes(data[:_MAX_TRAILING + 1 - len(self.trailing)])
        if len(self.trailing) > _MAX_TRAILING:
            self._trailing_error()

    def _trailing_error(self) -> None:
        raise DeflateStreamError(
            f"{self._prefix()}{len(self.trailing)}{'+' * (len(self.trailing) > _MAX_TRAILING)}"
            " byte(s) follow the end of the deflated data set: PS3.5 A.5 allows one NULL pad "
            "byte (and a gzip-style CRC-32 and size trailer is tolerated)",
            offset=self.trailing_at)

    def finish(self) -> int:
        """Check that the stream ended, and what follows it; the inflated size."""
        if not self._zlib.eof:
            raise DeflateStreamError(
                f"{self._prefix()}the deflated data set is truncated: its last block is "
                f"missing after {self.consumed} deflated bytes ({self.inflated} inflated)",
                offset=self.start + self.consumed)
        trailing = bytes(self.trailing)
        if len(trailing) in (8, 9) and trailing[8:] in (b"", _PAD) \
                and int.from_bytes(trailing[4:8], "little") == self.inflated & 0xFFFFFFFF:
            return self.inflated  # RFC 1952's CRC-32 and ISIZE, as some writers leave
        if trailing not in (b"", _PAD):
            self._trailing_error()
        return self.inflated

    def _prefix(self) -> str:
        return f"{self.where}: " if self.where else ""


def inflate(source: bytes | bytearray | memoryview | IO[bytes], sink: _Writable | None = None,
            *, limit: int | None = None, offset: int = 0, where: str = "") -> int:
    """Inflate a whole deflated stream (bytes, or a binary file positioned at its start) into
    ``sink`` (or only count it); the inflated size. Raises :class:`InflateLimitError` or
    :class:`DeflateStreamError`."""
    inflater = Inflater(sink, limit=limit, offset=offset, where=where)
    if isinstance(source, (bytes, bytearray, memoryview)):
        inflater.feed(source)
    else:
        while True:
            piece = source.read(CHUNK)
            if not piece:
                break
            inflater.feed(piece)
    return inflater.finish()


def inflate_buffer(data: bytes | bytearray | memoryview | mmap.mmap, *,
                   limit: int | None = None, offset: int = 0,
                   where: str = "") -> bytes | mmap.mmap:
    """A whole deflated stream inflated into something the reader can index: bytes when the
    result is small, else a read-only memory map of an (already unlinked) temporary file, so
    the pages of values never used are never in memory."""
    memory = _SpillingSink()
    try:
        inflate(memoryview(data), memory, limit=limit, offset=offset, where=where)
        return memory.result()
    finally:
        memory.close()


def inflate_head(data: bytes | bytearray | memoryview, size: int) -> bytes:
    """At most ``size`` inflated bytes from the start of a deflated stream that may be cut
    short (a file's first bytes): for picking out header attributes. No checks of the end."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        return inflater.decompress(data, size)
    except zlib.error:
        return b""


class _SpillingSink:
    """Bytes in memory up to SPILL_BYTES, then a temporary file. Pieces that are all zeros
    (what a bomb is made of, and blank pixel data) are skipped over, leaving a hole the
    file system does not store, so they cost neither memory nor disk writes."""

    def __init__(self) -> None:
        self.memory: bytearray | None = bytearray()
        self.file: IO[bytes] | None = None
        self.size = 0
        self.zeros = b""

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.memory is not None:
            self.memory += data
            if len(self.memory) <= SPILL_BYTES:
                return
            import tempfile  # only when spilling: it costs ~4 ms at `import dicomkit`

            self.file = tempfile.TemporaryFile(prefix="dicomkit-inflated-")
            self.zeros = bytes(CHUNK)
            self.file.write(self.memory)
            self.memory = None
            return
        assert self.file is not None
        if data == (self.zeros if len(data) == CHUNK else bytes(len(data))):  # memcmp
            self.file.seek(len(data), os.SEEK_CUR)
        else:
            self.file.write(data)

    def result(self) -> bytes | mmap.mmap:
        if self.memory is not None:
            return bytes(self.memory)
        assert self.file is not None
        self.file.truncate(self.size)  # a hole at the end still counts in the size
        self.file.flush()
        return mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()  # the map, if any, keeps the pages; the name is already gone
