# cython: language_level=3
"""The compiled twin of the data set element walker in :mod:`dicomkit.encoding.reader`.

:class:`Parser` is ``reader.Parser`` (the pure-Python reference) method for method: the same
index entries ``(vr, value_offset, length, undefined_length)``, the same nested items, the same
lenient-reading problems, truncation flag and errors (type, message, offset, tag). The element
headers are read from a typed memoryview over the buffer (bytes, bytearray, mmap or memoryview)
with bounds checks on; every length from the input is checked against the bytes that are there
before it is used, exactly where the pure twin checks it. tests/native/test_reader.py compares
the two on real files, truncations and fuzzed bytes.
"""

from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement, Sequence
from dicomkit.core.tag import ITEM, ITEM_DELIMITATION, SEQUENCE_DELIMITATION, tag_str
from dicomkit.core.vr import LONG_LENGTH_VRS, VR_BYTES
from dicomkit.errors import InvalidDicomError

cdef unsigned long long UNDEFINED_C = 0xFFFFFFFF
cdef Py_ssize_t MAX_DEPTH = 64
cdef unsigned int C_ITEM = 0xFFFEE000
cdef unsigned int C_ITEM_DELIMITATION = 0xFFFEE00D
cdef unsigned int C_SEQUENCE_DELIMITATION = 0xFFFEE0DD

_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_ENCAPSULATING_VRS = frozenset({"OB", "OW", "UN", "OF", "OD", "OL", "OV"})

# The VR of two capital letters, by (b0 - 'A') * 26 + (b1 - 'A'): the name object of VR_BYTES
# (None when it is not a VR) and whether it has the 32-bit length form (PS3.5 §7.1.2).
cdef list _VR_NAMES = [None] * 676
cdef unsigned char _VR_LONG[676]
cdef int _k
for _k in range(676):
    _VR_LONG[_k] = 0
for _vr_bytes, _vr_name in VR_BYTES.items():
    if len(_vr_bytes) == 2 and 0x41 <= _vr_bytes[0] <= 0x5A and 0x41 <= _vr_bytes[1] <= 0x5A:
        _k = (_vr_bytes[0] - 0x41) * 26 + (_vr_bytes[1] - 0x41)
        _VR_NAMES[_k] = _vr_name
        _VR_LONG[_k] = 1 if _vr_name in LONG_LENGTH_VRS else 0
_SQ = VR_BYTES[b"SQ"]
_NOT_EXPLICIT = object()  # header(): the VR bytes of an explicit VR element are not a VR
_UN = VR_BYTES[b"UN"]


cdef inline int _vr_index(unsigned char b0, unsigned char b1):
    """Index into the VR tables, or -1 when the bytes are not two capital letters."""
    if 0x41 <= b0 <= 0x5A and 0x41 <= b1 <= 0x5A:
        return (b0 - 0x41) * 26 + (b1 - 0x41)
    return -1


def _implicit_vr(tag, length):
    entry = dictionary.entry(tag) if not tag & 0x10000 else None
    if length == UNDEFINED_C:
        # Undefined length is a sequence, unless the tag is (encapsulated) pixel data.
        if tag in _PIXEL_TAGS or (entry is not None and "OB" in entry.vr):
            return "OB"
        return "SQ"
    if entry is None:
        return "UN"
    return entry.vr


cdef class Parser:
    """One pass over a buffer in one encoding; nested items share it (see reader.Parser)."""

    cdef const unsigned char[:] mv
    cdef public object buf
    cdef public Py_ssize_t size
    cdef public bint little
    cdef public bint implicit
    cdef public bint strict
    cdef public list problems
    cdef public bint truncated
    cdef public Py_ssize_t elements_read
    cdef public bint stopped

    def __init__(self, buf, bint little, bint implicit, bint strict=False):
        self.strict = strict
        self.problems = []
        self.truncated = False
        self.elements_read = 0
        self.stopped = False
        self.buf = buf
        self.mv = buf
        self.size = len(buf)
        self.little = little
        self.implicit = implicit

    # -- bytes ---------------------------------------------------------------------------
    cdef inline unsigned int u16(self, Py_ssize_t pos):
        if self.little:
            return self.mv[pos] | (<unsigned int>self.mv[pos + 1] << 8)
        return (<unsigned int>self.mv[pos] << 8) | self.mv[pos + 1]

    cdef inline unsigned long long u32(self, Py_ssize_t pos):
        cdef const unsigned char[:] mv = self.mv
        if self.little:
            return (<unsigned long long>mv[pos] | (<unsigned long long>mv[pos + 1] << 8)
                    | (<unsigned long long>mv[pos + 2] << 16)
                    | (<unsigned long long>mv[pos + 3] << 24))
        return ((<unsigned long long>mv[pos] << 24) | (<unsigned long long>mv[pos + 1] << 16)
                | (<unsigned long long>mv[pos + 2] << 8) | <unsigned long long>mv[pos + 3])

    cdef inline unsigned int tag_at(self, Py_ssize_t pos):
        return (self.u16(pos) << 16) | self.u16(pos + 2)

    # -- problems ------------------------------------------------------------------------
    def problem(self, message, offset, tag, *, truncated=False):
        self.problems.append(str(InvalidDicomError(message, offset=offset, tag=tag)))
        self.truncated = self.truncated or truncated

    def cut_short(self, message, offset, tag):
        if self.strict:
            raise InvalidDicomError(message, offset=offset, tag=tag)
        self.problem(message, offset, tag, truncated=True)

    def _partial_tag(self, Py_ssize_t pos):
        if pos + 4 > self.size:
            return None
        return int(self.tag_at(pos))

    # -- element headers -----------------------------------------------------------------
    cdef object header(self, Py_ssize_t pos, bint implicit, unsigned int *tag,
                       unsigned long long *length, Py_ssize_t *hsize):
        """The VR at ``pos`` (None for implicit VR and items; _NOT_EXPLICIT when the VR bytes
        of an explicit VR element are not a VR, the pure twin's _NotExplicit), filling in the
        tag, the value length and the header size."""
        cdef int k
        cdef unsigned int group
        cdef bint is_long
        if pos + 8 > self.size:
            raise InvalidDicomError(
                f"{self.size - pos} byte(s) left, too few for an element header", offset=pos,
                tag=self._partial_tag(pos),
            )
        group = self.u16(pos)
        tag[0] = (group << 16) | self.u16(pos + 2)
        if implicit or group == 0xFFFE:  # items and delimiters carry no VR (PS3.5 §7.5)
            length[0] = self.u32(pos + 4)
            hsize[0] = 8
            return None
        k = _vr_index(self.mv[pos + 4], self.mv[pos + 5])
        if k < 0:
            return _NOT_EXPLICIT
        vr = _VR_NAMES[k]
        if vr is None:
            # PS3.5 §7.1.2: VRs defined later use the 32-bit length form; read it as UN.
            vr = _UN
            is_long = True
        else:
            is_long = _VR_LONG[k]
        if is_long:
            if pos + 12 > self.size:
                raise InvalidDicomError("element header is cut short", offset=pos,
                                        tag=int(tag[0]))
            length[0] = self.u32(pos + 8)
            hsize[0] = 12
            return vr
        length[0] = self.u16(pos + 6)
        hsize[0] = 8
        return vr

    # -- data sets -----------------------------------------------------------------------
    def dataset(self, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t depth, *, bint in_item=False,
                bint stop_before_pixels=False, wanted=None, bint meta_only=False):
        return self._dataset(pos, end, depth, in_item, stop_before_pixels, wanted, meta_only)

    cdef tuple _dataset(self, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t depth, bint in_item,
                        bint stop_before_pixels, object wanted, bint meta_only):
        cdef dict elements
        cdef list items
        cdef bint top, first, implicit, fast, guessed, keep, has_last = False
        cdef unsigned int group, elem, tag, last_wanted = 0
        cdef unsigned long long length
        cdef Py_ssize_t value_pos, hsize
        cdef int k
        cdef object vr
        cdef const unsigned char[:] mv = self.mv
        if depth > MAX_DEPTH:
            raise InvalidDicomError(f"sequences nested deeper than {MAX_DEPTH}", offset=pos)
        elements = {}
        items = []  # items of its sequences, whose parent it becomes
        top = depth == 0
        if wanted:
            has_last = True
            last_wanted = max(wanted)
        first = True
        implicit = self.implicit
        fast = not (implicit or meta_only or wanted is not None)
        while pos < end:
            if fast and end - pos >= 12:
                # Fast path, explicit VR: a plain element inside the data (PS3.5 §7.1.2).
                group = self.u16(pos)
                k = _vr_index(mv[pos + 4], mv[pos + 5])
                if k >= 0 and group != 0xFFFE and group != 0x7FE0:
                    vr = _VR_NAMES[k]
                    if vr is not None:
                        if _VR_LONG[k]:
                            length = self.u32(pos + 8)
                            value_pos = pos + 12
                        else:
                            length = self.u16(pos + 6)
                            value_pos = pos + 8
                        if (vr is not _SQ and length != UNDEFINED_C
                                and <unsigned long long>value_pos + length
                                <= <unsigned long long>end):
                            elem = self.u16(pos + 2)
                            elements[(group << 16) | elem] = (vr, value_pos, length, False)
                            pos = value_pos + <Py_ssize_t>length
                            if first:
                                first = False
                                self.elements_read += 1
                            continue
            if end - pos < 8:
                self.short_tail(pos, end, in_item or not top)  # raises, unless at the top
                break
            if meta_only and (mv[pos] != 0x02 or mv[pos + 1] != 0x00):
                break  # PS3.10 §7.1: the File Meta Information is group 0002 only
            vr = self.header(pos, implicit, &tag, &length, &hsize)
            guessed = False
            if vr is _NOT_EXPLICIT:
                if first:
                    self.implicit = True
                    vr = self.header(pos, True, &tag, &length, &hsize)
                else:
                    tag, vr, length, hsize = self.non_standard_vr(pos)
                    guessed = True
                implicit = self.implicit
            first = False
            if tag >> 16 == 0xFFFE:
                pos = self.delimiter(pos, tag, in_item, top)
                if tag == C_ITEM_DELIMITATION:  # the end of this item
                    return self._finish(elements, implicit, items), pos
                continue
            if top and ((stop_before_pixels and (tag == 0x7FE00008 or tag == 0x7FE00009
                                                 or tag == 0x7FE00010))
                        or (has_last and tag > last_wanted)):
                self.stopped = True
                break
            value_pos = pos + hsize
            if vr is None:  # implicit VR (delimiters and items are handled above)
                vr = _implicit_vr(tag, length)
            keep = wanted is None or not top or tag in wanted
            if length == UNDEFINED_C:
                pos = self.undefined_length(pos, tag, vr, value_pos, depth, keep, elements,
                                            items)
                continue
            if <unsigned long long>value_pos + length > <unsigned long long>end:
                length = self.value_cut(pos, end, tag, value_pos, length, guessed)
            self.elements_read += 1
            if vr == "SQ":
                if keep:
                    seq, _ = self._sequence(value_pos, value_pos + <Py_ssize_t>length,
                                            depth + 1, tag, True)
                    elements[tag] = DataElement(tag, "SQ", seq)
                    items.extend(seq)
            elif keep:
                elements[tag] = (vr, value_pos, length, False)
            pos = value_pos + <Py_ssize_t>length
        if in_item and end >= self.size:
            self.cut_short("the data ends inside an item (no item delimiter)", pos, None)
        return self._finish(elements, implicit, items), pos

    def short_tail(self, Py_ssize_t pos, Py_ssize_t end, bint nested):
        left = end - pos
        if nested:
            raise InvalidDicomError(f"{left} stray byte(s) inside an item", offset=pos,
                                    tag=self._partial_tag(pos))
        if self.strict:
            raise InvalidDicomError(f"{left} byte(s) after the last element, too few for an"
                                    " element header", offset=pos, tag=self._partial_tag(pos))

    def delimiter(self, Py_ssize_t pos, unsigned int tag, bint in_item, bint top):
        if tag == C_ITEM_DELIMITATION:
            if in_item:
                return pos + 8
            raise InvalidDicomError("item delimiter outside an item", offset=pos, tag=int(tag))
        if tag == C_SEQUENCE_DELIMITATION:
            if top and not in_item:
                return pos + 8
            raise InvalidDicomError("sequence delimiter inside an item", offset=pos,
                                    tag=int(tag))
        raise InvalidDicomError(f"{tag_str(tag)} outside a sequence", offset=pos, tag=int(tag))

    cdef Py_ssize_t undefined_length(self, Py_ssize_t pos, unsigned int tag, object vr,
                                     Py_ssize_t value_pos, Py_ssize_t depth, bint keep,
                                     dict elements, list items) except -1:
        cdef Parser sub
        cdef Py_ssize_t stop
        is_pixels = tag == 0x7FE00008 or tag == 0x7FE00009 or tag == 0x7FE00010
        if vr == "SQ" or (vr == "UN" and not is_pixels):
            sub = self if vr == "SQ" else Parser(self.buf, True, True)
            seq, pos = sub._sequence(value_pos, -1, depth + 1, tag, keep)
            if keep:
                elements[tag] = DataElement(tag, "SQ", seq, is_undefined_length=True)
                items.extend(seq)
            return pos
        if vr in _ENCAPSULATING_VRS or is_pixels:
            stop = self.encapsulated_end(value_pos, tag)
            if keep:
                elements[tag] = (vr, value_pos, stop - value_pos, True)
            return stop + 8
        raise InvalidDicomError(f"undefined length on a {vr} element", offset=pos, tag=int(tag))

    def value_cut(self, Py_ssize_t pos, Py_ssize_t end, unsigned int tag, Py_ssize_t value_pos,
                  unsigned long long length, bint guessed):
        left = min(end, self.size) - value_pos
        if end < self.size or self.strict or self.elements_read == 0 or guessed:
            limit = "the end of the data" if end >= self.size else "the end of its item"
            raise InvalidDicomError(
                f"value length {length} runs past {limit} ({left} byte(s) left)",
                offset=pos,
                tag=int(tag),
            )
        self.problem(f"value length {length} runs past the end of the data; "
                     f"{left} byte(s) kept", pos, int(tag), truncated=True)
        return left

    def non_standard_vr(self, Py_ssize_t pos):
        tag = (self._partial_tag(pos) or 0)
        vr_bytes = bytes(self.buf[pos + 4 : pos + 6])
        if self.strict:
            raise InvalidDicomError(f"bytes {vr_bytes.hex(' ')} where a VR should be are not a VR",
                                    offset=pos, tag=tag)
        length = self.u16(pos + 6)
        vr = _implicit_vr(tag, length)
        self.problem(f"non-standard VR bytes {vr_bytes.hex(' ')} ({vr_bytes!r}): read as {vr}"
                     " with a 16-bit length, as DCMTK does", pos, tag)
        return tag, vr, length, 8

    cdef object _finish(self, dict elements, bint implicit, list items):
        ds = Dataset.from_index(elements, self.buf, self.little, implicit)
        for item in items:
            object.__setattr__(item, "parent", ds)
        return ds

    def sequence(self, Py_ssize_t pos, end, Py_ssize_t depth, seq_tag, bint keep):
        return self._sequence(pos, -1 if end is None else end, depth, seq_tag, keep)

    cdef tuple _sequence(self, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t depth,
                         unsigned int seq_tag, bint keep):
        """PS3.5 §7.5: items of a sequence, to ``end`` (-1: none) or to the sequence
        delimiter."""
        cdef Py_ssize_t limit, start
        cdef unsigned int tag
        cdef unsigned long long length
        if depth > MAX_DEPTH:
            raise InvalidDicomError(f"sequences nested deeper than {MAX_DEPTH}", offset=pos,
                                    tag=int(seq_tag))
        items = Sequence()
        limit = self.size if end < 0 else end
        if limit > self.size:
            self.cut_short("sequence length runs past the end of the data", pos, int(seq_tag))
            limit = self.size
        while pos < limit:
            if pos + 8 > self.size:
                raise InvalidDicomError("sequence is cut short", offset=pos, tag=int(seq_tag))
            tag = self.tag_at(pos)
            length = self.u32(pos + 4)
            if tag == C_SEQUENCE_DELIMITATION:
                return items, pos + 8
            if tag != C_ITEM:
                raise InvalidDicomError(
                    f"expected an item (FFFE,E000) in sequence {tag_str(seq_tag)},"
                    f" found {tag_str(tag)}",
                    offset=pos,
                    tag=int(seq_tag),
                )
            start = pos + 8
            if length == UNDEFINED_C:
                item, pos = self._dataset(start, limit, depth, True, False, None, False)
            else:
                if (<unsigned long long>start + length > <unsigned long long>limit
                        and limit >= self.size and not self.strict):
                    self.cut_short(f"item length {length} runs past the end of the data", pos,
                                   int(seq_tag))
                    length = limit - start
                if <unsigned long long>start + length > <unsigned long long>limit:
                    raise InvalidDicomError(
                        f"item length {length} runs past the end of its sequence",
                        offset=pos,
                        tag=int(seq_tag),
                    )
                item, _ = self._dataset(start, start + <Py_ssize_t>length, depth, False, False,
                                        None, False)
                pos = start + <Py_ssize_t>length
            if keep:
                list.append(items, item)  # a new Sequence: no owner to attach the item to yet
        if end < 0 and pos >= self.size:
            self.cut_short(f"the data ends inside sequence {tag_str(seq_tag)} (no sequence"
                           " delimiter)", pos, int(seq_tag))
        return items, pos

    def encapsulated_end(self, Py_ssize_t pos, unsigned int tag):
        """PS3.5 A.4: offset of the sequence delimiter that ends encapsulated fragments."""
        cdef unsigned int item
        cdef unsigned long long length
        while True:
            if pos + 8 > self.size:
                raise InvalidDicomError(
                    "encapsulated pixel data has no sequence delimiter", offset=pos,
                    tag=int(tag)
                )
            item = self.tag_at(pos)
            length = self.u32(pos + 4)
            if item == C_SEQUENCE_DELIMITATION:
                return pos
            if item != C_ITEM:
                raise InvalidDicomError(
                    f"expected a fragment item, found {tag_str(item)}", offset=pos, tag=int(tag)
                )
            if length == UNDEFINED_C or <unsigned long long>pos + 8 + length > <unsigned long long>self.size:
                raise InvalidDicomError(
                    f"fragment length {length} runs past the end of the data", offset=pos,
                    tag=int(tag)
                )
            pos += 8 + <Py_ssize_t>length
