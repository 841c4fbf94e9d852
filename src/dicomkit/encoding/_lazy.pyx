# cython: language_level=3
"""The compiled twin of :func:`dicomkit.encoding.lazy.materialize`: an indexed
``(vr, offset, length, undefined)`` entry becomes a DataElement when first used.

The common case (a VR that is settled: not UN, not SQ, not a multi-VR dictionary entry) is
done here; the others (UN read with the dictionary's VR, sequences, VRs resolved from the data
set, PS3.5 §6.2.2 and A.1) go to the pure function, so the elements are the same.
tests/native/test_values.py compares the two.
"""

from dicomkit.core.element import DataElement
from dicomkit.core.vr import TEXT_VRS

cdef object _from_raw = DataElement.from_raw
cdef object _pure = None


def materialize(ds, tag, entry):
    """Same as :func:`dicomkit.encoding.lazy.materialize`."""
    global _pure
    vr, offset, length, undefined = entry
    if vr == "UN" or vr == "SQ" or " or " in vr:
        if _pure is None:
            from dicomkit.encoding.lazy import materialize as pure
            _pure = pure
        return _pure(ds, tag, entry)
    buf = ds.buffer
    if isinstance(buf, bytes):
        raw = buf[offset : offset + length]
    else:
        raw = memoryview(buf)[offset : offset + length]
        if length < 4096:
            raw = bytes(raw)
    # Specific Character Set itself is never decoded with a character set (see lazy.py).
    charsets = ds.charsets if vr in TEXT_VRS and tag != 0x00080005 else ()
    return _from_raw(tag, vr, raw, ds.is_little_endian, charsets, undefined)
