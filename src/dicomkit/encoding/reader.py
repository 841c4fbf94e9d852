"""Reading data sets: PS3.5 §7 element encoding and PS3.10 §7 Part 10 files.

The reader walks element headers with ``struct.unpack_from`` and records, for each element,
``(vr, value_offset, length, undefined_length)`` in the data set's index; values are decoded
later, on demand (see :mod:`dicomkit.encoding.lazy`). Sequences are indexed recursively.
Every length is checked against the bytes that are actually there before it is used.

Lenient reading (the default; ``strict=True`` raises :class:`InvalidDicomError` instead), each
case listed in ``ds.read_problems`` with its byte offset and tag:

- data that ends inside a value, item or sequence keeps what is there and marks the data set
  ``is_truncated`` (a length that claims more bytes than the data holds is never allocated);
- two bytes where an explicit VR should be that are not a VR and not two capital letters
  (spaces, NULs, lower case, non-ASCII: seen in the field) are read as DCMTK reads them: the
  VR comes from the data dictionary (UN when the tag is not in it) and the length is the
  16-bit one of the short header form (PS3.5 §7.1.2, Table 7.1-2). Two capital letters are a
  VR defined after this code and use the 32-bit form (PS3.5 §7.1.2 requires new VRs to); other
  bytes are no VR at all, and the short form is what keeps the next element aligned in the
  files that carry them (DCMTK's ``EVR_UNKNOWN2B``, "assuming 2 byte length field").
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterable
from typing import IO, Any, NamedTuple

from dicomkit import native
from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement, Sequence
from dicomkit.core.tag import ITEM, ITEM_DELIMITATION, SEQUENCE_DELIMITATION, tag_str
from dicomkit.core.vr import LONG_LENGTH_VRS, VR_BYTES
from dicomkit.encoding import deflate
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.errors import InvalidDicomError

UNDEFINED = 0xFFFFFFFF
MAX_DEPTH = 64
MMAP_THRESHOLD = 8 * 1024 * 1024  # files above this are memory-mapped, not read
HEAD_READ = 64 * 1024  # header-only reads try this many bytes first
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_ENCAPSULATING_VRS = frozenset({"OB", "OW", "UN", "OF", "OD", "OL", "OV"})
_LONG_BYTES = frozenset(v.encode() for v in LONG_LENGTH_VRS)


def _is_vr_letters(two: bytes) -> bool:
    return len(two) == 2 and 0x41 <= two[0] <= 0x5A and 0x41 <= two[1] <= 0x5A


class Parser:
    """One pass over a buffer in one encoding; nested items share it. The pure-Python walker,
    the reference for its compiled twin (``dicomkit.encoding._reader.Parser``); :data:`PARSER`
    is the one in use."""

    def __init__(self, buf: Any, little: bool, implicit: bool, strict: bool = False) -> None:
        self.strict = strict
        self.problems: list[str] = []
        self.truncated = False  # the data ended inside a value, item or sequence
        self.elements_read = 0
        self.stopped = False  # stopped at Pixel Data or after the last wanted tag
        self.buf = buf
        self.size = len(buf)
        self.little = little
        self.implicit = implicit
        order = "<" if little else ">"
        self.hh = struct.Struct(order + "HH")
        self.hhl = struct.Struct(order + "HHL")
        self.hh2sh = struct.Struct(order + "HH2sH")
        self.l32 = struct.Struct(order + "L")

    def problem(self, message: str, offset: int, tag: int | None, *,
                truncated: bool = False) -> None:
        self.problems.append(str(InvalidDicomError(message, offset=offset, tag=tag)))
        self.truncated = self.truncated or truncated

    def cut_short(self, message: str, offset: int, tag: int | None) -> None:
        """The data ends inside something: raise when strict, else note it and mark the data
        set truncated."""
        if self.strict:
            raise InvalidDicomError(message, offset=offset, tag=tag)
        self.problem(message, offset, tag, truncated=True)

    def _partial_tag(self, pos: int) -> int | None:
        """The tag at ``pos`` when at least its 4 bytes are there (for error messages)."""
        if pos + 4 > self.size:
            return None
        group, elem = self.hh.unpack_from(self.buf, pos)
        return int((group << 16) | elem)

    # -- element headers -----------------------------------------------------------------
    def header(self, pos: int, implicit: bool) -> tuple[int, str | None, int, int]:
        """(tag, vr or None for implicit, value length, header size) at ``pos``."""
        buf = self.buf
        if pos + 8 > self.size:
            raise InvalidDicomError(
                f"{self.size - pos} byte(s) left, too few for an element header", offset=pos,
                tag=self._partial_tag(pos),
            )
        if implicit:
            group, elem, length = self.hhl.unpack_from(buf, pos)
            return (group << 16) | elem, None, length, 8
        group, elem, vr_bytes, length16 = self.hh2sh.unpack_from(buf, pos)
        tag = (group << 16) | elem
        if group == 0xFFFE:  # items and delimiters carry no VR (PS3.5 §7.5)
            return tag, None, self.l32.unpack_from(buf, pos + 4)[0], 8
        vr = VR_BYTES.get(vr_bytes)
        if vr is None:
            if not _is_vr_letters(vr_bytes):
                raise _NotExplicit(pos)
            # PS3.5 §7.1.2: VRs defined later use the 32-bit length form; read it as UN.
            vr = "UN"
            long = True
        else:
            long = vr_bytes in _LONG_BYTES
        if long:
            if pos + 12 > self.size:
                raise InvalidDicomError("element header is cut short", offset=pos, tag=tag)
            return tag, vr, self.l32.unpack_from(buf, pos + 8)[0], 12
        return tag, vr, length16, 8

    # -- data sets -----------------------------------------------------------------------------
    def dataset(
        self,
        pos: int,
        end: int,
        depth: int,
        *,
        in_item: bool = False,
        stop_before_pixels: bool = False,
        wanted: frozenset[int] | None = None,
        meta_only: bool = False,
    ) -> tuple[Dataset, int]:
        """Index elements from ``pos`` up to ``end`` (or an item delimiter when ``in_item``).

        A plain explicit VR element (PS3.5 §7.1.2) takes the fast path, inline; every other
        one goes through :meth:`header` (:meth:`not_explicit` when its VR bytes are not a VR)
        and the steps named after what it is: a delimiter (:meth:`delimiter`), an undefined
        length (:meth:`undefined_length`), a value past the end of the data
        (:meth:`value_cut`)."""
        if depth > MAX_DEPTH:
            raise InvalidDicomError(f"sequences nested deeper than {MAX_DEPTH}", offset=pos)
        elements: dict[int, Any] = {}
        items: list[Dataset] = []  # items of its sequences, whose parent it becomes
        top = depth == 0
        last_wanted = max(wanted) if wanted else None
        first = True
        buf = self.buf
        hh2sh = self.hh2sh.unpack_from
        l32 = self.l32.unpack_from
        vr_get = VR_BYTES.get
        long_vrs = LONG_LENGTH_VRS
        header = self.header
        implicit = self.implicit
        fast = not (implicit or meta_only or wanted is not None)
        while pos < end:
            if fast and end - pos >= 12:
                # Fast path, explicit VR: a plain element inside the data (PS3.5 §7.1.2).
                group, elem, vr_bytes, length = hh2sh(buf, pos)
                vr = vr_get(vr_bytes)
                if vr is not None and group != 0xFFFE and group != 0x7FE0:
                    if vr in long_vrs:
                        length = l32(buf, pos + 8)[0]
                        value_pos = pos + 12
                    else:
                        value_pos = pos + 8
                    if vr != "SQ" and length != UNDEFINED and value_pos + length <= end:
                        elements[(group << 16) | elem] = (vr, value_pos, length, False)
                        pos = value_pos + length
                        if first:
                            first = False
                            self.elements_read += 1
                        continue
            if end - pos < 8:
                self.short_tail(pos, end, in_item or not top)  # raises, unless at the top
                break
            if meta_only and (buf[pos] != 0x02 or buf[pos + 1] != 0x00):
                break  # PS3.10 §7.1: the File Meta Information is group 0002 only
            try:
                tag, vr, length, hsize = header(pos, implicit)
                guessed = False
            except _NotExplicit:
                tag, vr, length, hsize, guessed = self.not_explicit(pos, first)
                implicit = self.implicit
            first = False
            if tag >> 16 == 0xFFFE:
                pos = self.delimiter(pos, tag, in_item, top)
                if tag == ITEM_DELIMITATION:  # the end of this item
                    return self._finish(elements, implicit, items), pos
                continue
            if top and ((stop_before_pixels and tag in _PIXEL_TAGS)
                        or (last_wanted is not None and tag > last_wanted)):
                self.stopped = True
                break
            value_pos = pos + hsize
            if vr is None:  # implicit VR (delimiters and items are handled above)
                vr = _implicit_vr(tag, length)
            keep = wanted is None or not top or tag in wanted
            if length == UNDEFINED:
                pos = self.undefined_length(pos, tag, vr, value_pos, depth, keep, elements,
                                            items)
                continue
            if value_pos + length > end:
                length = self.value_cut(pos, end, tag, value_pos, length, guessed)
            self.elements_read += 1
            if vr == "SQ":
                if keep:
                    seq, _ = self.sequence(value_pos, value_pos + length, depth + 1, tag, True)
                    elements[tag] = DataElement(tag, "SQ", seq)
                    items.extend(seq)
            elif keep:
                elements[tag] = (vr, value_pos, length, False)
            pos = value_pos + length
        if in_item and end >= self.size:
            self.cut_short("the data ends inside an item (no item delimiter)", pos, None)
        return self._finish(elements, implicit, items), pos

    def short_tail(self, pos: int, end: int, nested: bool) -> None:
        """Fewer than 8 bytes left, too few for an element header: an error inside an item
        (``nested``) or when strict; trailing bytes after the last top-level element are
        ignored."""
        left = end - pos
        if nested:
            raise InvalidDicomError(f"{left} stray byte(s) inside an item", offset=pos,
                                    tag=self._partial_tag(pos))
        if self.strict:
            raise InvalidDicomError(f"{left} byte(s) after the last element, too few for an"
                                    " element header", offset=pos, tag=self._partial_tag(pos))

    def not_explicit(self, pos: int, first: bool) -> tuple[int, str | None, int, int, bool]:
        """(tag, vr, length, header size, whether the VR was guessed) of an element whose VR
        bytes are not a VR in an explicit VR data set. At the first element the data set is
        implicit VR (a data set labelled explicit that is not); later, the element has
        non-standard VR bytes (see the module docstring)."""
        if first:
            self.implicit = True
            return (*self.header(pos, True), False)
        return (*self.non_standard_vr(pos), True)

    def delimiter(self, pos: int, tag: int, in_item: bool, top: bool) -> int:
        """PS3.5 §7.5: an item delimiter closes the item being read; a sequence delimiter at
        the top level is stray (seen in the wild) and skipped; any other (FFFE,xxxx) element
        is out of place. The position after it."""
        if tag == ITEM_DELIMITATION:
            if in_item:
                return pos + 8
            raise InvalidDicomError("item delimiter outside an item", offset=pos, tag=tag)
        if tag == SEQUENCE_DELIMITATION:
            if top and not in_item:
                return pos + 8
            raise InvalidDicomError("sequence delimiter inside an item", offset=pos, tag=tag)
        raise InvalidDicomError(f"{tag_str(tag)} outside a sequence", offset=pos, tag=tag)

    def undefined_length(self, pos: int, tag: int, vr: str, value_pos: int, depth: int,
                         keep: bool, elements: dict[int, Any], items: list[Dataset]) -> int:
        """An element of undefined length: a sequence (PS3.5 §7.5.2; an undefined-length UN
        is an implicit VR little endian sequence, §6.2.2) or encapsulated fragments (A.4).
        The position after it."""
        if vr == "SQ" or (vr == "UN" and tag not in _PIXEL_TAGS):
            sub = self if vr == "SQ" else Parser(self.buf, True, True)
            seq, pos = sub.sequence(value_pos, None, depth + 1, tag, keep)
            if keep:
                elements[tag] = DataElement(tag, "SQ", seq, is_undefined_length=True)
                items.extend(seq)
            return pos
        if vr in _ENCAPSULATING_VRS or tag in _PIXEL_TAGS:
            stop = self.encapsulated_end(value_pos, tag)
            if keep:
                elements[tag] = (vr, value_pos, stop - value_pos, True)
            return stop + 8
        raise InvalidDicomError(f"undefined length on a {vr} element", offset=pos, tag=tag)

    def value_cut(self, pos: int, end: int, tag: int, value_pos: int, length: int,
                  guessed: bool) -> int:
        """A value whose length runs past ``end``: an error inside an item, when strict, at
        the first element, or after guessed VR bytes (then it is no element at all). When the
        data itself ends inside the value, what is there is kept (pydicom keeps it silently,
        DCMTK refuses the file), the data set is marked truncated, and the length kept is
        returned."""
        left = min(end, self.size) - value_pos
        if end < self.size or self.strict or self.elements_read == 0 or guessed:
            limit = "the end of the data" if end >= self.size else "the end of its item"
            raise InvalidDicomError(
                f"value length {length} runs past {limit} ({left} byte(s) left)",
                offset=pos,
                tag=tag,
            )
        self.problem(f"value length {length} runs past the end of the data; "
                     f"{left} byte(s) kept", pos, tag, truncated=True)
        return left

    def non_standard_vr(self, pos: int) -> tuple[int, str, int, int]:
        """Header of an element whose VR bytes are not a VR (see the module docstring): the
        dictionary's VR and the 16-bit length, as DCMTK reads it; strict reads refuse it."""
        tag = (self._partial_tag(pos) or 0)
        vr_bytes = bytes(self.buf[pos + 4 : pos + 6])
        if self.strict:
            raise InvalidDicomError(f"bytes {vr_bytes.hex(' ')} where a VR should be are not a VR",
                                    offset=pos, tag=tag)
        length = self.hh.unpack_from(self.buf, pos + 4)[1]
        vr = _implicit_vr(tag, length)
        self.problem(f"non-standard VR bytes {vr_bytes.hex(' ')} ({vr_bytes!r}): read as {vr}"
                     " with a 16-bit length, as DCMTK does", pos, tag)
        return tag, vr, length, 8

    def _finish(self, elements: dict[int, Any], implicit: bool, items: list[Dataset]) -> Dataset:
        ds = Dataset.from_index(elements, self.buf, self.little, implicit)
        for item in items:
            object.__setattr__(item, "parent", ds)
        return ds

    def sequence(
        self, pos: int, end: int | None, depth: int, seq_tag: int, keep: bool
    ) -> tuple[Sequence, int]:
        """PS3.5 §7.5: items of a sequence, to ``end`` or to the sequence delimiter."""
        if depth > MAX_DEPTH:
            raise InvalidDicomError(f"sequences nested deeper than {MAX_DEPTH}", offset=pos,
                                    tag=seq_tag)
        items = Sequence()
        limit = self.size if end is None else end
        if limit > self.size:
            self.cut_short("sequence length runs past the end of the data", pos, seq_tag)
            limit = self.size
        while pos < limit:
            if pos + 8 > self.size:
                raise InvalidDicomError("sequence is cut short", offset=pos, tag=seq_tag)
            group, elem, length = self.hhl.unpack_from(self.buf, pos)
            tag = (group << 16) | elem
            if tag == SEQUENCE_DELIMITATION:
                return items, pos + 8
            if tag != ITEM:
                raise InvalidDicomError(
                    f"expected an item (FFFE,E000) in sequence {tag_str(seq_tag)},"
                    f" found {tag_str(tag)}",
                    offset=pos,
                    tag=seq_tag,
                )
            start = pos + 8
            if length == UNDEFINED:
                item, pos = self.dataset(start, limit, depth, in_item=True)
            else:
                if start + length > limit and limit >= self.size and not self.strict:
                    self.cut_short(f"item length {length} runs past the end of the data", pos,
                                   seq_tag)
                    length = limit - start
                if start + length > limit:
                    raise InvalidDicomError(
                        f"item length {length} runs past the end of its sequence",
                        offset=pos,
                        tag=seq_tag,
                    )
                item, _ = self.dataset(start, start + length, depth)
                pos = start + length
            if keep:
                items.append(item)
        if end is None and pos >= self.size:
            self.cut_short(f"the data ends inside sequence {tag_str(seq_tag)} (no sequence"
                           " delimiter)", pos, seq_tag)
        return items, pos

    def encapsulated_end(self, pos: int, tag: int) -> int:
        """PS3.5 A.4: offset of the sequence delimiter that ends encapsulated fragments."""
        hhl = self.hhl
        while True:
            if pos + 8 > self.size:
                raise InvalidDicomError(
                    "encapsulated pixel data has no sequence delimiter", offset=pos, tag=tag
                )
            group, elem, length = hhl.unpack_from(self.buf, pos)
            item = (group << 16) | elem
            if item == SEQUENCE_DELIMITATION:
                return pos
            if item != ITEM:
                raise InvalidDicomError(
                    f"expected a fragment item, found {tag_str(item)}", offset=pos, tag=tag
                )
            if length == UNDEFINED or pos + 8 + length > self.size:
                raise InvalidDicomError(
                    f"fragment length {length} runs past the end of the data", offset=pos, tag=tag
                )
            pos += 8 + length


class _NotExplicit(Exception):
    def __init__(self, pos: int) -> None:
        self.pos = pos


def _implicit_vr(tag: int, length: int) -> str:
    entry = dictionary.entry(tag) if not tag & 0x10000 else None
    if length == UNDEFINED:
        # Undefined length is a sequence, unless the tag is (encapsulated) pixel data.
        if tag in _PIXEL_TAGS or (entry is not None and "OB" in entry.vr):
            return "OB"
        return "SQ"
    if entry is None:
        return "UN"
    return entry.vr


_compiled = native.load("dicomkit.encoding._reader")
PARSER: Any = Parser if _compiled is None else _compiled.Parser
"""The walker every read uses: the compiled twin of :class:`Parser` (same index, problems,
errors) unless ``DICOMKIT_PURE=1`` or it is not built (docs/design/native.md)."""


# -- Part 10 files ------------------------------------------------------------------------------
def _load(source: Any, head: int | None) -> tuple[Any, str | None, bool]:
    """(buffer, file name, whether the buffer is the whole input). With ``head``, a path is
    read only that far (header-only reads); mmap above 8 MiB, so values load when touched."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source, None, True
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if head is not None and size > head:
                return handle.read(head), path, False
            if size > MMAP_THRESHOLD:
                return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ), path, True
            return handle.read(), path, True
    if hasattr(source, "read"):
        if head is not None and hasattr(source, "seek"):
            start = source.tell()
            data = source.read(head)
            if isinstance(data, bytes) and len(data) < head:
                return data, getattr(source, "name", None), True
            source.seek(start)
        return _read_stream(source), getattr(source, "name", None), True
    raise TypeError(f"cannot read DICOM from {type(source).__name__}")


def _read_stream(stream: IO[bytes]) -> bytes:
    data = stream.read()
    if isinstance(data, str):
        raise TypeError("open the file in binary mode ('rb')")
    return bytes(data)


def _sniff(buf: Any, pos: int) -> tuple[bool, bool]:
    """(little, implicit) guessed from the first element (PS3.5 §7.1 encodings)."""
    if len(buf) - pos < 8:
        return True, True
    g_le = buf[pos] | (buf[pos + 1] << 8)
    g_be = (buf[pos] << 8) | buf[pos + 1]
    little = not (g_be <= 0x0008 and g_le > 0x00FF) or g_le == 0x0002
    implicit = bytes(buf[pos + 4 : pos + 6]) not in VR_BYTES
    return little, implicit


def read(
    source: Any,
    *,
    stop_before_pixels: bool = False,
    tags: Iterable[Any] | None = None,
    force: bool = True,
    strict: bool = False,
    max_inflated: int | None = None,
) -> Dataset:
    """Read a Part 10 file or a raw data set from a path, a binary file object or bytes.

    Values are decoded only when used; files above 8 MiB are memory-mapped, so values that are
    never touched are never read from disk. ``stop_before_pixels`` stops at Pixel Data;
    ``tags`` (tags or keywords) keeps only those top-level elements and stops after the last.
    Data that ends inside a value, item or sequence is kept as far as it goes, the problem
    (offset, tag, claimed length) is listed in ``ds.read_problems`` and ``ds.is_truncated`` is
    set; non-standard VR bytes are read as DCMTK reads them and listed there too (see the
    module docstring). ``strict=True`` raises :class:`InvalidDicomError` for both instead.
    A header-only read (``stop_before_pixels``, ``tags``) walks the headers only as far as it
    stops, so it cannot tell whether the data after that point is whole.

    A deflated data set (PS3.5 A.5) is inflated in bounded memory (see
    :mod:`dicomkit.encoding.deflate`): a header-only read inflates only the first bytes when
    the header ends there; a whole read keeps up to 8 MiB inflated in memory and the rest in
    a memory-mapped temporary file. Past ``max_inflated`` inflated bytes (default:
    :func:`dicomkit.encoding.deflate.default_limit`, 4 GiB) it raises
    :class:`~dicomkit.encoding.deflate.InflateLimitError`; a truncated or corrupt stream, or
    bytes after its end, raise :class:`~dicomkit.encoding.deflate.DeflateStreamError`.
    """
    wanted = None
    if tags is not None:
        from dicomkit.core.tag import Tag

        wanted = frozenset(int(Tag(t)) for t in tags)
    partial = stop_before_pixels or wanted is not None
    buf, filename, complete = _load(source, HEAD_READ if partial else None)
    if not complete:
        # Header-only reads look at the first bytes only; if the header goes on past them
        # (or they end inside a value), read the whole file and parse again.
        try:
            ds, parser = _read_buffer(buf, filename, stop_before_pixels, wanted, force, strict,
                                      max_inflated, whole=False)
            if parser.stopped:  # never after a truncation: that walks to the end of the head
                return ds
        except InvalidDicomError:
            pass
        buf, filename, complete = _load(source, None)
    ds, _ = _read_buffer(buf, filename, stop_before_pixels, wanted, force, strict, max_inflated)
    return ds


HEAD_INFLATE = 1024 * 1024  # a header-only read of a deflated data set tries this much first


class _HeadOnly(InvalidDicomError):
    """The first bytes of a deflated file did not hold the whole header: read it all."""


class _FileMeta(NamedTuple):
    """PS3.10 §7.1: what precedes the data set, and where the data set starts."""

    preamble: bytes | None
    file_meta: Dataset | None
    transfer_syntax: ts_mod.TransferSyntax | None
    start: int
    problems: list[str]
    truncated: bool


def _file_meta(buf: Any, force: bool, strict: bool) -> _FileMeta:
    size = len(buf)
    pos = 0
    preamble = None
    if size >= 132 and buf[128:132] == b"DICM":
        preamble = bytes(buf[:128])
        pos = 132
    elif size >= 4 and buf[:4] == b"DICM":
        pos = 4
    file_meta = None
    ts = None
    problems: list[str] = []
    truncated = False
    if pos + 8 <= size and buf[pos] == 0x02 and buf[pos + 1] == 0x00:
        meta_little, meta_implicit = _sniff(buf, pos)
        meta_parser = PARSER(buf, True, meta_implicit, strict)
        file_meta, pos = meta_parser.dataset(pos, size, 0, meta_only=True)
        object.__setattr__(file_meta, "_unsorted", False)
        problems, truncated = meta_parser.problems, meta_parser.truncated
        uid_element = file_meta.get(0x00020010)
        if uid_element is not None:
            uid = str(uid_element.value or "").strip("\0 ")
            if uid:
                ts = ts_mod.for_uid(uid)
    elif preamble is not None and not force:
        raise InvalidDicomError("no File Meta Information after the DICM prefix", offset=pos)
    if pos >= size and file_meta is None:
        raise InvalidDicomError("no DICOM data set found (empty input)", offset=pos)
    return _FileMeta(preamble, file_meta, ts, pos, problems, truncated)


def inflated_size(source: str | os.PathLike[str] | bytes, *,
                  max_inflated: int | None = None) -> int | None:
    """The inflated size of a Part 10 file's data set when it is deflated (PS3.5 A.5), found
    by inflating the whole stream in bounded memory without keeping it; None when the file is
    in another transfer syntax. Raises :class:`~dicomkit.encoding.deflate.InflateLimitError`
    past ``max_inflated`` and :class:`~dicomkit.encoding.deflate.DeflateStreamError` for a
    truncated or corrupt stream or bytes after its end: the check a receiver makes before
    it accepts a deflated instance."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        meta = _file_meta(source, True, True)
        if meta.transfer_syntax is None or not meta.transfer_syntax.deflated:
            return None
        return deflate.inflate(memoryview(source)[meta.start:], limit=max_inflated,
                               offset=meta.start)
    path = os.fspath(source)
    with open(path, "rb") as handle:
        meta = _file_meta(handle.read(HEAD_READ), True, True)
        if meta.transfer_syntax is None or not meta.transfer_syntax.deflated:
            return None
        handle.seek(meta.start)
        return deflate.inflate(handle, limit=max_inflated, offset=meta.start, where=path)


def _read_buffer(buf: Any, filename: str | None, stop_before_pixels: bool,
                 wanted: frozenset[int] | None, force: bool,
                 strict: bool, max_inflated: int | None = None,
                 whole: bool = True) -> tuple[Dataset, Any]:
    """Parse ``buf``; ``whole``: it is the whole input (not a file's first bytes only)."""
    size = len(buf)
    meta = _file_meta(buf, force, strict)
    ts, pos = meta.transfer_syntax, meta.start
    problems, truncated = list(meta.problems), meta.truncated
    if ts is not None and ts.deflated:
        little, implicit = True, False
        if stop_before_pixels or wanted is not None:
            # PS3.5 A.5: the header is at the start of the stream; inflate only that far
            # when it ends (at Pixel Data, or after the last wanted tag) within HEAD_INFLATE.
            head = deflate.inflate_head(memoryview(buf)[pos:pos + 2 * HEAD_INFLATE],
                                        HEAD_INFLATE)
            parser = PARSER(head, little, implicit, True)
            try:
                ds, _ = parser.dataset(0, len(head), 0, stop_before_pixels=stop_before_pixels,
                                       wanted=wanted)
            except InvalidDicomError:
                parser.stopped = False
            if parser.stopped and not parser.truncated:
                return _finish(ds, parser, meta, filename, little, problems, truncated), parser
        if not whole:
            raise _HeadOnly("the header goes on past the first bytes read", offset=pos)
        buf = deflate.inflate_buffer(memoryview(buf)[pos:], limit=max_inflated, offset=pos,
                                     where=filename or "")
        pos, size = 0, len(buf)
    elif ts is not None:
        little = ts.little
        implicit = ts.implicit
        if pos + 6 <= size:
            implicit = bytes(buf[pos + 4 : pos + 6]) not in VR_BYTES
    else:
        little, implicit = _sniff(buf, pos)
    parser = PARSER(buf, little, implicit, strict)
    ds, _ = parser.dataset(pos, size, 0, stop_before_pixels=stop_before_pixels, wanted=wanted)
    return _finish(ds, parser, meta, filename, little, problems, truncated), parser


def _finish(ds: Dataset, parser: Any, meta: _FileMeta, filename: str | None, little: bool,
            problems: list[str], truncated: bool) -> Dataset:
    """Attach what the file said about the data set (meta, preamble, transfer syntax) and
    what went wrong reading it."""
    problems = problems + parser.problems
    if problems:
        object.__setattr__(ds, "read_problems", problems)
    object.__setattr__(ds, "is_truncated", truncated or parser.truncated)
    object.__setattr__(ds, "file_meta", meta.file_meta)
    object.__setattr__(ds, "preamble", meta.preamble)
    object.__setattr__(ds, "filename", filename)
    ts = meta.transfer_syntax
    if ts is None:
        ts = _ts_for(little, ds.is_implicit_VR)
    elif ds.is_implicit_VR != ts.implicit and not ts.deflated:
        ts = _ts_for(little, ds.is_implicit_VR)  # what the bytes really are
    object.__setattr__(ds, "transfer_syntax", ts)
    return ds


def _ts_for(little: bool, implicit: bool) -> ts_mod.TransferSyntax:
    if implicit:
        return ts_mod.IMPLICIT_VR_LITTLE_ENDIAN
    return ts_mod.EXPLICIT_VR_LITTLE_ENDIAN if little else ts_mod.EXPLICIT_VR_BIG_ENDIAN


def read_dataset(buf: Any, *, little: bool = True, implicit: bool = False) -> Dataset:
    """Read a data set with no Part 10 header in a known encoding (e.g. a DIMSE message)."""
    parser = PARSER(buf, little, implicit)
    ds, _ = parser.dataset(0, len(buf), 0)
    return ds


def read_sequence(data: Any, tag: int, *, little: bool = True, implicit: bool = True
                  ) -> Sequence:
    """The items of sequence ``tag`` whose value is ``data`` (PS3.5 §7.5), parsed when the
    value is first used (:mod:`dicomkit.encoding.lazy`); a UN value is an implicit VR little
    endian sequence (PS3.5 §6.2.2), the defaults."""
    parser = PARSER(data, little, implicit)
    seq, _ = parser.sequence(0, len(data), 1, tag, True)
    return seq


def peek_attributes(head: Any, transfer_syntax: str, wanted: Iterable[int]) -> Dataset:
    """A few top-level attributes (``wanted`` tags) of a data set in ``transfer_syntax``,
    parsed from its first bytes only (``head``, with no Part 10 header): what a receiver
    picks out while the rest is still arriving. Tolerant of the cut: an element cut by the
    end of ``head`` ends the look, and data that cannot be parsed gives an empty data set.
    A deflated data set (PS3.5 A.5) has at most its first HEAD_INFLATE bytes inflated; the
    whole is checked when it is stored."""
    ts = ts_mod.for_uid(transfer_syntax)
    wanted = frozenset(wanted)
    if not wanted:
        return Dataset()
    if ts.deflated:
        head = deflate.inflate_head(head, HEAD_INFLATE)
    parser = PARSER(head, ts.little, ts.implicit)
    try:
        ds, _ = parser.dataset(0, len(head), 0, wanted=wanted)
    except InvalidDicomError:
        ds = Dataset()
    return ds
