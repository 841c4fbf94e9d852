# cython: language_level=3
"""The compiled twin of :func:`dicomkit.services.identifiers.compose` (and of its
``to_implicit``): a STUDY level C-FIND response identifier from a match's pre-encoded patient
and study elements. Same results as the pure twin, None included; every length read from the
stored bytes is checked against the bytes there before use."""

from cpython.mem cimport PyMem_Free, PyMem_Malloc

cdef unsigned int UNDEFINED = 0xFFFFFFFF
cdef unsigned int CHARSET = 0x00080005
cdef unsigned int MODALITIES = 0x00080061
cdef unsigned int SOP_CLASSES = 0x00080062


cdef inline unsigned int u16(const unsigned char[:] d, Py_ssize_t pos):
    return d[pos] | (d[pos + 1] << 8)


cdef inline unsigned int u32(const unsigned char[:] d, Py_ssize_t pos):
    return (d[pos] | (d[pos + 1] << 8) | (d[pos + 2] << 16)
            | (<unsigned int>d[pos + 3] << 24))


cdef inline bint is_sq(const unsigned char[:] d, Py_ssize_t pos):
    return d[pos + 4] == 83 and d[pos + 5] == 81  # "SQ"


cdef Py_ssize_t walk(const unsigned char[:] d, unsigned int *tags, Py_ssize_t *starts,
                     Py_ssize_t *ends, Py_ssize_t capacity):
    """The top-level elements as the pure ``_element_ends``; their count, or -1 for None."""
    cdef Py_ssize_t size = d.shape[0]
    cdef Py_ssize_t pos = 0, start, n = 0
    cdef unsigned int group, elem, tag, length
    cdef int depth
    while pos < size:
        if pos + 8 > size:
            return -1
        group = u16(d, pos)
        elem = u16(d, pos + 2)
        start = pos
        if is_sq(d, pos):
            if pos + 12 > size or u32(d, pos + 8) != UNDEFINED:
                return -1
            pos += 12
            depth = 1
            while depth:
                if pos + 8 > size:
                    return -1
                if u16(d, pos) == 0xFFFE:
                    elem = u16(d, pos + 2)
                    length = u32(d, pos + 4)
                    if elem == 0xE0DD:
                        depth -= 1
                    elif (elem != 0xE000 and elem != 0xE00D) or (
                            length != 0 and length != UNDEFINED):
                        return -1
                    pos += 8
                elif is_sq(d, pos):
                    if pos + 12 > size or u32(d, pos + 8) != UNDEFINED:
                        return -1
                    depth += 1
                    pos += 12
                else:
                    pos += 8 + u16(d, pos + 6)
            elem = u16(d, start + 2)
        else:
            pos += 8 + u16(d, pos + 6)
        tag = (group << 16) | elem
        if pos > size or (n > 0 and tags[n - 1] >= tag):
            return -1
        if n >= capacity:  # cannot happen: every element takes at least 8 bytes
            return -1
        tags[n] = tag
        starts[n] = start
        ends[n] = pos
        n += 1
    return n


def to_implicit(data):
    """The compiled twin of :func:`dicomkit.services.identifiers.to_implicit`."""
    cdef const unsigned char[:] d = data
    cdef Py_ssize_t size = d.shape[0]
    cdef Py_ssize_t pos = 0, w = 0, length
    # Implicit headers are never longer than explicit ones: the output fits in ``size``.
    out = bytearray(size)
    cdef unsigned char[:] o = out
    while pos < size:
        if pos + 8 > size:
            return None
        if d[pos] == 0xFE and d[pos + 1] == 0xFF:
            o[w:w + 8] = d[pos:pos + 8]
            w += 8
            pos += 8
        elif is_sq(d, pos):
            if pos + 12 > size:
                return None
            o[w:w + 4] = d[pos:pos + 4]
            o[w + 4:w + 8] = d[pos + 8:pos + 12]
            w += 8
            pos += 12
        else:
            length = u16(d, pos + 6)
            if pos + 8 + length > size:
                return None
            o[w:w + 4] = d[pos:pos + 4]
            o[w + 4] = length & 0xFF
            o[w + 5] = length >> 8
            o[w + 6] = 0
            o[w + 7] = 0
            o[w + 8:w + 8 + length] = d[pos + 8:pos + 8 + length]
            w += 8 + length
            pos += 8 + length
    return bytes(out[:w])


cdef bytes element(unsigned int tag, bytes vr, bytes value):
    cdef Py_ssize_t n = len(value)
    return bytes((tag >> 16 & 0xFF, tag >> 24, tag & 0xFF, tag >> 8 & 0xFF)) + vr + bytes(
        (n & 0xFF, n >> 8)) + value


cdef object value_list(object stored, bytes vr, unsigned int tag):
    """As the pure ``_value_list``: None (no value), b"" (the general route) or an element."""
    values = [v for v in (stored or "").split("\\") if v]
    if not values:
        return None
    text = "\\".join(values)
    if not text.isascii():
        return b""
    data = text.encode("ascii")
    if len(data) % 2:
        data += b"\0" if vr == b"UI" else b" "
    if len(data) > 0xFFFE:
        return b""
    return element(tag, vr, data)


cdef bint general(const unsigned char[:] d, Py_ssize_t start):
    return d[start + 4] == 0 and d[start + 5] == 0


def compose(plan, tuple count_tags, tuple counts, patient, study, modalities, sop_classes):
    """The compiled twin of :func:`dicomkit.services.identifiers.compose`."""
    if patient is None or study is None or len(count_tags) != len(counts):
        return None
    cdef const unsigned char[:] p = patient
    cdef const unsigned char[:] s = study
    cdef Py_ssize_t cap_p = p.shape[0] // 8 + 1, cap_s = s.shape[0] // 8 + 1
    cdef unsigned int *ptags = <unsigned int *>PyMem_Malloc(cap_p * sizeof(unsigned int))
    cdef Py_ssize_t *pstarts = <Py_ssize_t *>PyMem_Malloc(cap_p * sizeof(Py_ssize_t))
    cdef Py_ssize_t *pends = <Py_ssize_t *>PyMem_Malloc(cap_p * sizeof(Py_ssize_t))
    cdef unsigned int *stags = <unsigned int *>PyMem_Malloc(cap_s * sizeof(unsigned int))
    cdef Py_ssize_t *sstarts = <Py_ssize_t *>PyMem_Malloc(cap_s * sizeof(Py_ssize_t))
    cdef Py_ssize_t *sends = <Py_ssize_t *>PyMem_Malloc(cap_s * sizeof(Py_ssize_t))
    try:
        if not (ptags and pstarts and pends and stags and sstarts and sends):
            raise MemoryError()
        return _compose(plan, count_tags, counts, p, s, patient, study, modalities,
                        sop_classes, ptags, pstarts, pends, cap_p, stags, sstarts, sends,
                        cap_s)
    finally:
        PyMem_Free(ptags)
        PyMem_Free(pstarts)
        PyMem_Free(pends)
        PyMem_Free(stags)
        PyMem_Free(sstarts)
        PyMem_Free(sends)


cdef object _compose(plan, tuple count_tags, tuple counts, const unsigned char[:] p,
                     const unsigned char[:] s, patient, study, modalities, sop_classes,
                     unsigned int *ptags, Py_ssize_t *pstarts, Py_ssize_t *pends,
                     Py_ssize_t cap_p, unsigned int *stags, Py_ssize_t *sstarts,
                     Py_ssize_t *sends, Py_ssize_t cap_s):
    cdef Py_ssize_t np_ = walk(p, ptags, pstarts, pends, cap_p)
    if np_ < 0:
        return None
    cdef Py_ssize_t ns = walk(s, stags, sstarts, sends, cap_s)
    if ns < 0:
        return None
    cdef Py_ssize_t i, ip = 0, is_ = 0, pc = -1, sc = -1
    cdef unsigned int tag
    # The character set: as the pure twin, the study's over the patient's; two different
    # ones, or an empty one, go the general route.
    for i in range(np_):
        if ptags[i] == CHARSET:
            pc = i
    for i in range(ns):
        if stags[i] == CHARSET:
            sc = i
    charset = None
    if pc >= 0:
        charset = patient[pstarts[pc]:pends[pc]]
    if sc >= 0:
        if charset is not None and charset != study[sstarts[sc]:sends[sc]]:
            return None
        charset = study[sstarts[sc]:sends[sc]]
    if charset is not None and len(charset) == 8:
        return None
    mod = value_list(modalities, b"CS", MODALITIES)
    if mod == b"":
        return None
    cls = value_list(sop_classes, b"UI", SOP_CLASSES)
    if cls == b"":
        return None
    computed = {}
    if mod is not None:
        computed[MODALITIES] = mod
    if cls is not None:
        computed[SOP_CLASSES] = cls
    for count_tag, count in zip(count_tags, counts):
        data = str(int(count)).encode("ascii")
        if len(data) % 2:
            data += b" "
        computed[count_tag] = element(count_tag, b"IS", data)
    out = {}
    for tag, vr in plan.wanted:
        piece = computed.get(tag)
        if piece is None:
            while is_ < ns and stags[is_] < tag:
                is_ += 1
            while ip < np_ and ptags[ip] < tag:
                ip += 1
            if is_ < ns and stags[is_] == tag:
                if general(s, sstarts[is_]):
                    return None
                piece = study[sstarts[is_]:sends[is_]]
            elif ip < np_ and ptags[ip] == tag:
                if general(p, pstarts[ip]):
                    return None
                piece = patient[pstarts[ip]:pends[ip]]
            elif vr == b"SQ":
                piece = (bytes((tag >> 16 & 0xFF, tag >> 24, tag & 0xFF, tag >> 8 & 0xFF))
                         + b"SQ\0\0\xff\xff\xff\xff\xfe\xff\xdd\xe0\0\0\0\0")
            else:
                piece = element(tag, vr, b"")
        out[tag] = piece
    if charset is not None:
        if charset[4] == 0 and charset[5] == 0:
            return None
        out[CHARSET] = charset
    for tag, piece in plan.fixed:
        out[tag] = piece
    data = b"".join([out[t] for t in sorted(out)])
    return to_implicit(data) if plan.implicit else data
