"""The compiled twins of dicomkit.net.dimse.encode_command_fast_pure and
decode_command_fast_pure.

Encoding: a DIMSE command set of the common shapes (group 0000 elements holding None, one US
or UL number, ASCII text; no Specific Character Set) in implicit VR little endian, led by
Command Group Length (PS3.7 §6.3.1); None for anything else. Same bytes, same None, as the pure function
(tests/native/test_net.py compares them).

Decoding: the Dataset the pure function gives (same tags, VRs, raw bytes, values) or None in
the same cases (tests/native/test_dimse.py compares them on real and hostile command sets)."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

cdef dict _COMMAND_TEXT = {"UI": b"\0", "AE": b" ", "CS": b" ", "LO": b" ", "SH": b" ",
                           "ST": b" ", "LT": b" "}


cdef bytes _header(unsigned int element, Py_ssize_t length):
    """The 8-byte implicit VR LE header of (0000,element) with a value of ``length`` bytes."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 8)
    cdef unsigned char* h = <unsigned char*>PyBytes_AS_STRING(out)
    h[0] = 0
    h[1] = 0
    h[2] = element & 0xFF
    h[3] = (element >> 8) & 0xFF
    h[4] = length & 0xFF
    h[5] = (length >> 8) & 0xFF
    h[6] = (length >> 16) & 0xFF
    h[7] = (length >> 24) & 0xFF
    return out


def encode_command_fast(command):
    cdef list parts = []
    cdef Py_ssize_t total = 0
    cdef object tag_obj, entry, value, data
    cdef unsigned long long tag
    cdef long long number
    cdef str vr
    if command.charsets:
        return None
    for tag_obj in command.tags():
        tag = tag_obj
        if tag == 0:
            continue
        if tag >> 16:
            return None
        entry = command.raw_entry(tag_obj)
        if type(entry) is tuple or entry.raw is not None:
            return None
        vr = entry.VR
        value = entry.value
        if value is None:
            data = b""
        elif vr == "US":
            if type(value) is not int or not 0 <= value <= 0xFFFF:
                return None
            number = value
            data = bytes(((number & 0xFF), (number >> 8) & 0xFF))
        elif vr == "UL":
            if type(value) is not int or not 0 <= value <= 0xFFFFFFFF:
                return None
            number = value
            data = bytes(((number & 0xFF), (number >> 8) & 0xFF, (number >> 16) & 0xFF,
                          (number >> 24) & 0xFF))
        elif vr in _COMMAND_TEXT:
            if type(value) is not str or not (<str>value).isascii():
                return None
            data = (<str>value).encode("ascii")
            if len(data) & 1:
                data += _COMMAND_TEXT[vr]
        else:
            return None
        parts.append(_header(tag & 0xFFFF, len(data)))
        parts.append(data)
        total += 8 + len(data)
    if total > 0xFFFFFFFF:
        return None
    return (b"\0\0\0\0\x04\0\0\0" + bytes((total & 0xFF, (total >> 8) & 0xFF,
                                          (total >> 16) & 0xFF, (total >> 24) & 0xFF))
            + b"".join(parts))


# -- decoding ---------------------------------------------------------------------------------
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement, _UNSET
from dicomkit.core.vr import TEXT_VRS

cdef object _from_index = Dataset.from_index
cdef object _new_element = DataElement.__new__


cdef inline unsigned int _u16(const unsigned char* p, Py_ssize_t pos):
    return p[pos] | (p[pos + 1] << 8)


cdef inline unsigned int _u32(const unsigned char* p, Py_ssize_t pos):
    return (p[pos] | (p[pos + 1] << 8) | (p[pos + 2] << 16)
            | (<unsigned int>p[pos + 3] << 24))


def decode_command_fast(data, dict table):
    """The twin of dicomkit.net.dimse.decode_command_fast_pure: the same Dataset (same tags,
    VRs, raw bytes and values) or None in the same cases."""
    if type(data) is not bytes:
        return None
    cdef bytes buf = <bytes>data
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t size = len(buf)
    cdef Py_ssize_t pos = 0
    cdef long last = -1
    cdef unsigned int group, element, length
    cdef dict elements = {}
    cdef list charsets = []
    cdef object spec, item, raw, vr
    cdef Py_ssize_t width
    while pos < size:
        if size - pos < 8:
            return None
        group = _u16(p, pos)
        element = _u16(p, pos + 2)
        length = _u32(p, pos + 4)
        pos += 8
        if group != 0 or <long>element <= last or length & 1 or length > <size_t>(size - pos):
            return None
        last = element
        spec = table.get(element)
        if spec is None:
            return None
        vr = spec[1]
        width = spec[2]
        raw = PyBytes_FromStringAndSize(<const char*>p + pos, length)
        item = _new_element(DataElement)
        item.tag = spec[0]
        item.VR = vr
        item.raw = raw
        item.little = True
        item.is_undefined_length = False
        if width == 2 and length == 2:
            item._value = _u16(p, pos)
            item.charsets = ()
        elif width == 4 and length == 4:
            item._value = _u32(p, pos)
            item.charsets = ()
        elif spec[3]:
            return None
        else:
            item._value = _UNSET
            item.charsets = charsets if vr in TEXT_VRS else ()
        pos += length
        elements[element] = item
    if 0x100 not in elements:
        return None
    ds = _from_index(elements, buf, True, True)
    ds._charsets_cache = charsets
    return ds
