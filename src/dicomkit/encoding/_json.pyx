"""The compiled twin of dicomkit.encoding.json's encoder loop (issue 18, docs/design/native.md).

``encode_dataset(encoder, ds, path)`` gives what ``_Encoder.dataset`` gives: the DICOM JSON
attribute objects (PS3.18 F.2) of one data set, in tag order. An element that the reader left
as a raw ``(vr, offset, length, undefined)`` index entry and whose VR is one of the common
string, text and binary number VRs is written straight from its bytes, without making the
DataElement and decoding its value first; the value goes through the same steps as
``decode_value`` (core/vr.py) followed by ``element_values`` and ``_json_value`` (json.py).
Every other element (sequences, binary VRs and their bulk data, UN, AT, SV/UV, ambiguous
VRs, big endian numbers, elements built in memory) is handed to the pure encoder's
``element`` method, so both twins share one definition of those.
"""

from libc.stdint cimport int16_t, int32_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libc.math cimport isfinite

from dicomkit.core.charset import decode_text
from dicomkit.core.vr import to_number

# PS3.5 Table 6.2-1, as core/vr.py's VR_INFO has it.
cdef frozenset LATIN1_VRS = frozenset({"AE", "CS", "DS", "IS", "AS", "DA", "TM", "DT", "UI"})
cdef frozenset STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "TM", "UI", "SH", "LO",
                                       "UC"})
cdef frozenset TEXT_KIND_VRS = frozenset({"LT", "ST", "UT", "UR"})
cdef frozenset CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
cdef dict NUMBER_SIZE = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8}
cdef unsigned int SPECIFIC_CHARACTER_SET = 0x00080005


cdef object json_number(double value):
    """A float as DICOM JSON has it: JSON has no NaN or infinity (json.py _json_number)."""
    if isfinite(value):
        return value
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


cdef object numbers(str vr, bytes raw):
    """The values of a little endian binary number element, as JSON values; None: empty."""
    cdef const unsigned char[:] data = raw
    cdef Py_ssize_t size = NUMBER_SIZE[vr]
    cdef Py_ssize_t count = data.shape[0] // size
    cdef Py_ssize_t i, p
    cdef int shift
    cdef uint16_t u16
    cdef uint32_t u32
    cdef uint64_t u64
    cdef float f32
    cdef double f64
    cdef list out = []
    if count == 0:
        return None
    for i in range(count):
        p = i * size  # p + size <= count * size <= data.shape[0]
        if size == 2:
            u16 = <uint16_t>(data[p] | (data[p + 1] << 8))
            out.append(<int16_t>u16 if vr == "SS" else u16)
        elif size == 4:
            u32 = (<uint32_t>data[p] | (<uint32_t>data[p + 1] << 8)
                   | (<uint32_t>data[p + 2] << 16) | (<uint32_t>data[p + 3] << 24))
            if vr == "FL":
                memcpy(&f32, &u32, 4)
                out.append(json_number(<double>f32))
            elif vr == "SL":
                out.append(<int32_t>u32)
            else:
                out.append(u32)
        else:
            u64 = 0
            for shift in range(8):
                u64 |= (<uint64_t>data[p + shift]) << (8 * shift)
            memcpy(&f64, &u64, 8)
            out.append(json_number(f64))
    return out


cdef object ds_is_value(str vr, object item):
    """json.py _json_value for one DS or IS value as decode_value gives it (to_number)."""
    if item is None:
        return None
    if vr == "DS":
        if isinstance(item, str):
            parsed = to_number("float", item)
            return json_number(parsed) if isinstance(parsed, float) else item
        if isinstance(item, int):
            return item
        return json_number(float(item))
    if isinstance(item, str):
        parsed = to_number("int", item)
        return parsed if isinstance(parsed, (int, float)) else item
    if isinstance(item, float):
        return int(item) if item.is_integer() else json_number(item)
    return int(item)


cdef object pn_value(str item):
    """json.py _json_value for one PN value: its non-empty component groups, or None."""
    if item == "":
        return None
    groups = item.split("=", 2)
    named = {}
    if groups[0]:
        named["Alphabetic"] = groups[0]
    if len(groups) > 1 and groups[1]:
        named["Ideographic"] = groups[1]
    if len(groups) > 2 and groups[2]:
        named["Phonetic"] = groups[2]
    return named or None


cdef object fast_element(object ds, unsigned int tag, str vr, bytes raw):
    """The attribute object of a raw element of a VR handled here; None: not handled."""
    cdef str text
    cdef object values
    cdef dict out
    if vr in NUMBER_SIZE:
        values = numbers(vr, raw)
        out = {"vr": vr}
        if values is not None:
            out["Value"] = values
        return out
    data = raw.rstrip(b" \0")
    if vr in LATIN1_VRS:
        text = data.decode("latin-1")
    elif vr in CHARSET_VRS:
        if tag == SPECIFIC_CHARACTER_SET:
            return None  # a corrupt file's text VR on it: the pure path's care
        charsets = ds.charsets
        if charsets:
            text = decode_text(bytes(data), charsets, vr)
        else:
            try:
                text = data.decode("ascii")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    elif vr == "UR":
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    else:
        return None
    out = {"vr": vr}
    if vr in TEXT_KIND_VRS:
        if text:
            out["Value"] = [text]
        return out
    if "\\" in text:
        parts = text.split("\\")
        if vr == "PN":
            out["Value"] = [pn_value(part.rstrip(" ")) for part in parts]
        elif vr == "DS" or vr == "IS":
            kind = "float" if vr == "DS" else "int"
            out["Value"] = [ds_is_value(vr, to_number(kind, part)) for part in parts]
        elif vr == "UI":
            out["Value"] = [part.strip("\0 ") or None for part in parts]
        else:
            out["Value"] = [part.rstrip(" ") or None for part in parts]
        return out
    if vr == "DS" or vr == "IS":
        value = to_number("float" if vr == "DS" else "int", text)
        if value is not None:
            out["Value"] = [ds_is_value(vr, value)]
        return out
    if text:
        out["Value"] = [pn_value(text) if vr == "PN" else text]
    return out


def encode_dataset(encoder, ds, str path):
    """The attribute objects of ``ds`` (json.py ``_Encoder.dataset``); ``path`` is its tag
    path from the top (for the bulk data URIs of the elements the pure encoder writes)."""
    cdef dict out = {}
    cdef unsigned int tag
    cdef str key
    buf = ds.buffer
    little = ds.is_little_endian
    for tag_object in ds.tags():
        tag = tag_object
        if tag & 0xFFFF == 0 or (tag >> 16) == 0x0002:
            continue  # Group Length and File Meta Information (F.2.2)
        key = "%08X" % tag
        value = None
        entry = ds.raw_entry(tag)
        if type(entry) is tuple and len(entry) == 4 and buf is not None:
            vr, offset, length, undefined = entry
            if type(vr) is str and not undefined and (little or vr not in NUMBER_SIZE) \
                    and (vr in NUMBER_SIZE or vr in STRING_VRS or vr in TEXT_KIND_VRS
                         or vr == "PN" or vr == "DS" or vr == "IS"):
                raw = buf[offset:offset + length]
                value = fast_element(ds, tag, vr, raw if type(raw) is bytes else bytes(raw))
        if value is None:
            value = encoder.element(ds[tag], f"{path}/{key}" if path else key)
        out[key] = value
    return out
