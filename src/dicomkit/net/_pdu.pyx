"""The compiled twin of the P-DATA hot loops of dicomkit.net.pdu and dicomkit.net.pdv.

- :func:`parse_header`: the 6-byte PDU header (PS3.8 §9.3.1), as ``pdu.parse_header``;
- :func:`pdvs`: the PDV items of a P-DATA-TF body (PS3.8 §9.3.5.1 Table 9-23, Annex E.2), each
  PDV's data a memoryview slice of the body (no copy), as ``pdu._decode_pdata_tf``;
- :func:`fragments`: a message cut into one-PDV P-DATA-TF PDUs (Annex E.1), each PDU a
  12-byte header and a view of the data, as the loop of ``pdv.pdata_pdus`` (which checks its
  arguments, even length included, before calling this).

Same results and errors as the pure functions (tests/native/test_net.py compares them). Every
length read from the input is checked against the bytes there before use; nothing is
allocated by a length from the input (a header is always 12 bytes).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

from dicomkit.net.pdu_items import HEADER_LEN, PDUError, Where

cdef int _P_DATA_TF = 0x04
cdef int _INVALID_PARAMETER = 6
cdef int _UNRECOGNIZED_PDU = 1
cdef int _NOT_SPECIFIED = 0


def parse_header(header):
    """(PDU-type, PDU-length) from the first 6 bytes; an unrecognized PDU-type raises."""
    cdef const unsigned char[:] b = memoryview(header).cast("B")
    cdef Py_ssize_t size = b.shape[0]
    cdef unsigned int pdu_type, length
    if size < 6:
        raise PDUError(
            f"PDU header needs {HEADER_LEN} bytes, got {size}",
            abort_reason=_NOT_SPECIFIED,
            offset=0,
        )
    pdu_type = b[0]
    length = (<unsigned int>b[2] << 24) | (<unsigned int>b[3] << 16) | (<unsigned int>b[4] << 8) | b[5]
    if pdu_type < 1 or pdu_type > 7:
        raise PDUError(
            f"unrecognized PDU-type {pdu_type:02X}H",
            abort_reason=_UNRECOGNIZED_PDU,
            offset=0,
            pdu_type=pdu_type,
        )
    return pdu_type, length


def pdvs(buf, pdv_class):
    """The PDVs of the P-DATA-TF body ``buf`` (a memoryview of bytes), as ``pdv_class(
    context_id, is_command, is_last, data)`` with ``data`` a slice of ``buf``."""
    cdef const unsigned char[:] b = buf
    cdef Py_ssize_t pos = 0, end = b.shape[0], stop
    cdef unsigned long long length
    cdef unsigned int control
    cdef list out = []
    if end == 0:
        Where("P-DATA-TF", _P_DATA_TF).fail("no PDV items", 0, _INVALID_PARAMETER)
    while pos < end:
        if end - pos < 6:
            Where("P-DATA-TF", _P_DATA_TF).fail(
                f"{end - pos} byte(s) left, too few for a PDV", pos, _INVALID_PARAMETER
            )
        # pos + 6 <= end: the six bytes read here are inside the buffer.
        length = ((<unsigned long long>b[pos] << 24) | (<unsigned long long>b[pos + 1] << 16)
                  | (<unsigned long long>b[pos + 2] << 8) | b[pos + 3])
        if length < 2 or length > <unsigned long long>(end - pos - 4):
            Where("P-DATA-TF", _P_DATA_TF).fail(
                f"PDV item-length {length} is not 2..{end - pos - 4}", pos, _INVALID_PARAMETER
            )
        stop = pos + 4 + <Py_ssize_t>length
        control = b[pos + 5]
        # Annex E.2: bit 0 command/data, bit 1 last fragment; bits 2-7 are never checked.
        out.append(pdv_class(b[pos + 4], bool(control & 1), bool(control & 2),
                             buf[pos + 6:stop]))
        pos = stop
    return out


def fragments(view, Py_ssize_t fragment, int context_id, int command_bit, bint last):
    """``view`` (a memoryview of bytes, even length, checked by the caller) as P-DATA-TF PDUs
    of one PDV each, fragments of at most ``fragment`` bytes: [header, view slice, ...]."""
    cdef Py_ssize_t size = len(view), pos = 0, n
    cdef unsigned int pdu_length, item_length
    cdef bint final
    cdef bytes header
    cdef unsigned char* h
    cdef list out = []
    if fragment < 2:
        raise ValueError(f"fragment size {fragment} is not a positive even number (PS3.8 E.1)")
    while True:
        n = min(fragment, size - pos)
        chunk = view[pos:pos + n]
        pos += n
        final = pos >= size
        pdu_length = <unsigned int>(n + 6)
        item_length = <unsigned int>(n + 2)
        header = PyBytes_FromStringAndSize(NULL, 12)
        h = <unsigned char*>PyBytes_AS_STRING(header)
        h[0] = 0x04
        h[1] = 0
        h[2] = (pdu_length >> 24) & 0xFF
        h[3] = (pdu_length >> 16) & 0xFF
        h[4] = (pdu_length >> 8) & 0xFF
        h[5] = pdu_length & 0xFF
        h[6] = (item_length >> 24) & 0xFF
        h[7] = (item_length >> 16) & 0xFF
        h[8] = (item_length >> 8) & 0xFF
        h[9] = item_length & 0xFF
        h[10] = context_id & 0xFF
        h[11] = command_bit | (2 if final and last else 0)
        out.append(header)
        out.append(chunk)
        if final:
            return out
