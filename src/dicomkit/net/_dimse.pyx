"""The compiled twin of dicomkit.net.dimse.encode_command_fast_pure: a DIMSE command set of
the common shapes (group 0000 elements holding None, one US or UL number, ASCII text; no
Specific Character Set) in implicit VR little endian, led by Command Group Length (PS3.7
§6.3.1); None for anything else. Same bytes, same None, as the pure function
(tests/native/test_net.py compares them)."""

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
