# cython: language_level=3
"""The compiled twin of :func:`dicomkit.core.vr.pure_decode_value` (PS3.5 §6.2 values).

The common VRs are decoded here with the same results as the pure function: binary numbers
(US, SS, UL, SL, FL, FD, SV, UV) straight from the bytes in C, strings (AE, AS, CS, DA, DS,
DT, IS, LO, LT, PN, SH, ST, TM, UC, UI, UR, UT) through the same steps as the pure code, the
bytes VRs as bytes. Anything else (AT, byte-swapped big endian OB/OW..., a VR the table does
not know, a raw value that is not ``bytes``) goes to the pure function. tests/native/
test_values.py compares the two.
"""

from libc.string cimport memcpy

from dicomkit.core.values import PersonName
from dicomkit.core.tag import Tag
from dicomkit.core.vr import SWAP_SIZE, VR_INFO, pure_decode_value

cdef dict _KIND = {name: info.kind for name, info in VR_INFO.items()}
cdef dict _SIZE = {name: (info.fixed_size or 0) for name, info in VR_INFO.items()}
cdef dict _CODE = {name: info.struct_code for name, info in VR_INFO.items()}
cdef dict _MULTI = {name: info.multi_valued for name, info in VR_INFO.items()}
cdef dict _CHARSET = {name: info.charset for name, info in VR_INFO.items()}
cdef frozenset _LATIN = frozenset(("AE", "CS", "DS", "IS", "AS", "DA", "TM", "DT", "UI"))
cdef object _decode_text = None
cdef object _new_int = int.__new__
# Python's own int() and float() of a str, called as objects: the exact parsing (whitespace,
# underscores, "inf", "nan") of the pure function, not a compiler's own fast path.
cdef object _int = int
cdef object _float = float
# Specific Character Sets whose codec decodes bytes 00-7F as ASCII (PS3.3 C.12.1.1.2: the
# single-byte sets without code extensions and the stand-alone UTF-8, GB18030 and GBK): a
# value of such bytes only, with no ESC, is the same text decoded as ASCII (charset.py decodes
# it with the set's codec in one call). Not ISO_IR 13 (JIS X 0201 has a yen sign at 5C).
cdef frozenset _ASCII_SETS = frozenset((
    "ISO_IR 100", "ISO_IR 101", "ISO_IR 109", "ISO_IR 110", "ISO_IR 144", "ISO_IR 127",
    "ISO_IR 126", "ISO_IR 138", "ISO_IR 148", "ISO_IR 203", "ISO_IR 166", "ISO_IR 192",
    "GB18030", "GBK"))


cdef bint _plain_ascii(bytes data):
    """No byte above 7F and no ESC."""
    cdef const unsigned char* p = data
    cdef Py_ssize_t i
    for i in range(len(data)):
        if p[i] >= 0x80 or p[i] == 0x1B:
            return False
    return True


cdef inline unsigned long long _word(const unsigned char* mv, Py_ssize_t pos, int size,
                                     bint little):
    """The ``size``-byte unsigned word at ``pos`` (the caller checked pos + size <= len: the
    bytes are read through a pointer, not a bounds-checked view)."""
    cdef unsigned long long value = 0
    cdef int i
    if little:
        for i in range(size - 1, -1, -1):
            value = (value << 8) | mv[pos + i]
    else:
        for i in range(size):
            value = (value << 8) | mv[pos + i]
    return value


cdef object _number(const unsigned char* mv, Py_ssize_t pos, int size, str code, bint little):
    cdef unsigned long long word = _word(mv, pos, size, little)
    cdef unsigned int w32
    cdef float f32
    cdef double f64
    if code == "H":
        return <unsigned short>word
    if code == "h":
        return <short><unsigned short>word
    if code == "L":
        return <unsigned int>word
    if code == "l":
        return <int><unsigned int>word
    if code == "Q":
        return word
    if code == "q":
        return <long long>word
    if code == "f":
        w32 = <unsigned int>word
        memcpy(&f32, &w32, 4)
        return <double>f32
    memcpy(&f64, &word, 8)
    return f64


cpdef object decode_value(vr, raw, little=True, charsets=()):
    """Same as :func:`dicomkit.core.vr.pure_decode_value`."""
    global _decode_text
    cdef Py_ssize_t count, i, n
    cdef int size
    cdef const unsigned char* mv  # into raw (bytes), read below its length only
    kind = _KIND.get(vr)
    if kind is None or type(raw) is not bytes:
        return pure_decode_value(vr, raw, little, charsets)
    if kind == "bytes":
        if not little and vr in SWAP_SIZE:
            return pure_decode_value(vr, raw, little, charsets)  # OW, OF, ... swapped
        return raw
    size = _SIZE[vr]
    if size and (kind == "int" or kind == "float"):
        n = len(raw)
        count = n // size
        if count == 0:
            return None
        mv = raw
        code = _CODE[vr]
        if count == 1:
            return _number(mv, 0, size, code, little)
        return [_number(mv, i * size, size, code, little) for i in range(count)]
    if kind == "at" and size == 4:
        n = len(raw)
        count = n // 4
        if count == 0:
            return None
        mv = raw
        if count == 1:
            return _attribute_tag(mv, 0, little)
        return [_attribute_tag(mv, i * 4, little) for i in range(count)]
    if kind == "at" or kind == "sq":
        return pure_decode_value(vr, raw, little, charsets)
    # Character strings.
    data = raw.rstrip(b" \0")
    if vr in _LATIN:
        text = data.decode("latin-1")
    elif _CHARSET[vr] and charsets:
        if (isinstance(charsets, (list, tuple)) and len(charsets) == 1
                and charsets[0] in _ASCII_SETS
                and _plain_ascii(data)):
            return _strings(vr, kind, data.decode("ascii"))
        if _decode_text is None:
            from dicomkit.core.charset import decode_text
            _decode_text = decode_text
        text = _decode_text(data, charsets, vr)
    else:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return _strings(vr, kind, text)


cdef object _attribute_tag(const unsigned char* mv, Py_ssize_t pos, bint little):
    """PS3.5 §6.2 AT: a group word then an element word, each in the data set's byte order."""
    cdef unsigned long long tag = (_word(mv, pos, 2, little) << 16) | _word(mv, pos + 2, 2,
                                                                            little)
    return _new_int(Tag, tag)


cdef object to_number(str kind, str text):
    """Same as :func:`dicomkit.core.vr.to_number`: one DS or IS value from its text."""
    text = text.strip()
    if not text:
        return None
    try:
        if kind == "int":
            try:
                return _int(text)
            except ValueError:
                number = _float(text)
                return _int(number) if number.is_integer() else number
        return _float(text)
    except ValueError:
        return text


cdef object _strings(vr, kind, str text):
    """The value of a string VR from its decoded text (PS3.5 §6.2: backslash separates
    values)."""
    if kind == "text":
        return text
    if _MULTI[vr] and "\\" in text:
        parts = text.split("\\")
        if kind == "pn":
            return [PersonName(p.rstrip(" ")) for p in parts]
        if kind == "int" or kind == "float":
            return [to_number(kind, p) for p in parts]
        if vr == "UI":
            return [p.strip("\0 ") for p in parts]
        return [p.rstrip(" ") for p in parts]
    if kind == "pn":
        return PersonName(text)
    if kind == "int" or kind == "float":
        return to_number(kind, text)
    return text


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        pass
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member

cdef extern from "structmember.h":
    object PyMember_GetOne(const char* address, PyMemberDef* member)
    int PyMember_SetOne(char* address, PyMemberDef* member, object value) except -1

cdef object _UNSET = None  # dicomkit.core.element's "not decoded yet", bound on first use
cdef type _ELEMENT = None  # DataElement, likewise
cdef object _pure_element_value = None
cdef object _struct_error = None
cdef dict _element_globals = None  # dicomkit.core.element's names: its decode_value is used
cdef PyMemberDef* _VALUE_SLOT = NULL
cdef PyMemberDef* _RAW_SLOT = NULL
cdef PyMemberDef* _VR_SLOT = NULL
cdef PyMemberDef* _LITTLE_SLOT = NULL
cdef PyMemberDef* _CHARSETS_SLOT = NULL


cdef PyMemberDef* _slot(type kind, name) except NULL:
    """The C description of the slot ``name`` of ``kind`` (its offset in the object), which
    ``kind.name.__get__`` and ``__set__`` would use: read here without looking the name up."""
    from types import MemberDescriptorType
    descriptor = kind.__dict__[name]
    if type(descriptor) is not MemberDescriptorType:
        raise TypeError(f"{kind.__name__}.{name} is not a slot")
    return (<PyMemberDescrObject*><void*>descriptor).d_member


cdef _bind_element():
    global _UNSET, _ELEMENT, _pure_element_value, _struct_error, _element_globals
    global _VALUE_SLOT, _RAW_SLOT, _VR_SLOT, _LITTLE_SLOT, _CHARSETS_SLOT
    import struct
    from dicomkit.core import element
    _struct_error = struct.error
    _element_globals = element.__dict__
    _pure_element_value = element.element_value
    _VALUE_SLOT = _slot(element.DataElement, "_value")
    _RAW_SLOT = _slot(element.DataElement, "raw")
    _VR_SLOT = _slot(element.DataElement, "VR")
    _LITTLE_SLOT = _slot(element.DataElement, "little")
    _CHARSETS_SLOT = _slot(element.DataElement, "charsets")
    _ELEMENT = element.DataElement
    _UNSET = element._UNSET


cdef object _decode_value = decode_value


def element_value(element):
    """Same as :func:`dicomkit.core.element.element_value` (the ``value`` property): the
    value decoded from ``raw`` on first use and kept; a value that does not decode goes to the
    pure function, which raises the same InvalidDicomError. The slots of a DataElement are
    read and written directly (anything else goes to the pure function)."""
    cdef char* address
    if _UNSET is None:
        _bind_element()
    if not isinstance(element, _ELEMENT):
        return _pure_element_value(element)
    address = <char*><void*>element
    value = PyMember_GetOne(address, _VALUE_SLOT)
    if value is not _UNSET:
        return value
    raw = PyMember_GetOne(address, _RAW_SLOT)
    if type(raw) is not bytes:
        return _pure_element_value(element)
    decode = _element_globals["decode_value"]  # as the pure property finds it
    try:
        if decode is _decode_value:
            value = decode_value(PyMember_GetOne(address, _VR_SLOT), raw,
                                 PyMember_GetOne(address, _LITTLE_SLOT),
                                 PyMember_GetOne(address, _CHARSETS_SLOT))
        else:
            value = decode(element.VR, raw, element.little, element.charsets)
    except (_struct_error, ValueError, TypeError, IndexError, OverflowError, LookupError):
        return _pure_element_value(element)
    PyMember_SetOne(address, _VALUE_SLOT, value)
    return value
