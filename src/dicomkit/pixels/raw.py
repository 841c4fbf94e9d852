"""Native (uncompressed) pixel data: bytes <-> arrays (PS3.5 §8.1.1 and Annex D.1).

The layer under :mod:`dicomkit.pixels.native` (which decodes whole data sets, native or
encapsulated) and :mod:`dicomkit.pixels.codecs` (whose Deflated Image Frame codec inflates to
native bytes): one frame's bytes to a shaped array with the unused high bits cleared, and back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dicomkit.errors import InvalidDicomError
from dicomkit.pixels.info import PixelInfo


def unused_bits(array: Any, info: PixelInfo) -> Any:
    """PS3.5 §8.1.1: only Bits Stored bits hold the value; the rest are masked (unsigned) or
    replaced by the sign (signed), as pydicom's default ``correct_unused_bits`` does."""
    if info.is_float or array.dtype.itemsize * 8 <= info.bits_stored:
        return array
    if not array.flags.writeable:
        array = array.copy()
    bits = array.dtype.itemsize * 8
    low = info.unused_low_bits
    if low:
        np.right_shift(array, low, out=array)
    shift = bits - info.bits_stored
    if info.is_signed:
        np.left_shift(array, shift, out=array)
        np.right_shift(array, shift, out=array)
    else:
        np.bitwise_and(array, (1 << info.bits_stored) - 1, out=array)
    return array


def native_dtype(info: PixelInfo) -> np.dtype[Any]:
    return np.dtype(info.dtype).newbyteorder("<" if info.little_endian else ">")


def decode_native(view: memoryview, info: PixelInfo, index: int, frame: int | None = None,
                  *, vr: str = "OB") -> Any:
    """Frame ``index`` of native (PS3.5 §8.1) pixel data in ``view`` as a writable array."""
    if info.bits_allocated == 1:
        return _decode_bits(view, info, index, frame, vr)
    length = info.frame_length
    start = index * length
    end = start + length
    if end > len(view):
        raise InvalidDicomError(
            f"frame {frame if frame is not None else index}: pixel data is {len(view)} "
            f"byte(s), the frame needs bytes {start} to {end} (Rows {info.rows}, Columns "
            f"{info.columns}, Samples per Pixel {info.samples_per_pixel}, Bits Allocated "
            f"{info.bits_allocated}, {info.number_of_frames} frame(s)): pixel data is short",
            tag=info.pixel_tag)
    data = ow_bytes(view, start, end, info, vr)
    raw = np.frombuffer(data, dtype=native_dtype(info))
    return _shape_frame(raw, info)


def ow_bytes(view: memoryview, start: int, end: int, info: PixelInfo, vr: str) -> Any:
    """The frame's bytes; 8-bit values in a big endian OW value come in swapped pairs."""
    if info.little_endian or vr != "OW" or info.bits_allocated > 8:
        return view[start:end]
    first = start & ~1
    last = min(len(view) & ~1, end + (end & 1))
    words = np.frombuffer(view[first:last], dtype=">u2").byteswap().view(np.uint8)
    return words[start - first : start - first + (end - start)]


def _shape_frame(raw: Any, info: PixelInfo) -> Any:
    rows, columns, samples = info.rows, info.columns, info.samples_per_pixel
    if info.is_ybr_422:
        raw = _widen_422(raw, info)
    native = raw.dtype.newbyteorder("=")
    if samples == 1:
        array = raw.reshape(rows, columns).astype(native)
    elif info.planar_configuration == 1 and not info.is_ybr_422:
        array = np.ascontiguousarray(raw.reshape(samples, rows, columns).transpose(1, 2, 0),
                                     dtype=native)
    else:
        array = raw.reshape(rows, columns, samples).astype(native)
    return unused_bits(array, info)


def _widen_422(raw: Any, info: PixelInfo) -> Any:
    """PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr per pixel pair -> Y1 Cb Cr Y2 Cb Cr."""
    if info.columns % 2:
        raise InvalidDicomError(f"YBR_FULL_422 with an odd number of Columns ({info.columns})",
                                tag=0x00280004)
    out = np.empty(raw.shape[0] // 2 * 3, dtype=raw.dtype)
    out[0::6] = raw[0::4]
    out[3::6] = raw[1::4]
    out[1::6] = raw[2::4]
    out[4::6] = raw[2::4]
    out[2::6] = raw[3::4]
    out[5::6] = raw[3::4]
    return out


def _decode_bits(view: memoryview, info: PixelInfo, index: int, frame: int | None,
                 vr: str) -> Any:
    """PS3.5 §8.1.1 and D.1: Bits Allocated 1, packed eight pixels a byte, least significant
    bit first, frames following each other bit by bit."""
    bits = info.frame_bits
    first_bit = index * bits
    start, skip = divmod(first_bit, 8)
    end = (first_bit + bits + 7) // 8
    if end > len(view):
        raise InvalidDicomError(
            f"frame {frame if frame is not None else index}: pixel data is {len(view)} "
            f"byte(s), the 1-bit frame needs bytes {start} to {end}: pixel data is short",
            tag=info.pixel_tag)
    data = ow_bytes(view, start, end, info, vr)
    unpacked = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    values = unpacked[skip : skip + bits]
    return values.reshape(info.shape)


def encode_native(array: Any, info: PixelInfo) -> bytes:
    """One frame (or all frames) of values as native bytes (PS3.5 §8.1, planar configuration
    as ``info`` says, little or big endian)."""
    values = np.asarray(array)
    if info.bits_allocated == 1:
        return np.packbits(values.astype(np.uint8).ravel(), bitorder="little").tobytes()
    dtype = np.dtype(info.dtype).newbyteorder("<" if info.little_endian else ">")
    if info.samples_per_pixel > 1 and info.planar_configuration == 1:
        values = np.moveaxis(values, -1, -3)
    return np.ascontiguousarray(values, dtype=dtype).tobytes()
