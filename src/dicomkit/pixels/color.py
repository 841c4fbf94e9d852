"""Colour: YBR to RGB (PS3.3 C.7.6.3.1.2) and Palette Color lookup tables (C.7.6.3.1.5-6, C.7.9).

The YBR_FULL equations of PS3.3 C.7.6.3.1.2 are those of JFIF (ITU T.871 §7) with Kr = 0.299,
Kb = 0.114; the standard prints them rounded to four places. Their inverse, used here as pydicom
and libjpeg use it::

    R = Y + 1.402 (Cr - 128)
    G = Y - (0.114 * 1.772 / 0.587) (Cb - 128) - (0.299 * 1.402 / 0.587) (Cr - 128)
    B = Y + 1.772 (Cb - 128)

For 8-bit samples the three chroma terms of a pixel come from one look-up in a table built once
(indexed by Cb and Cr), so converting a frame costs a look-up, an add and a clip per pixel; the
input is walked in blocks that stay in the CPU cache.
YBR_FULL_422 is the same conversion once the decoder has upsampled the chroma (the frame is full
size). YBR_ICT and YBR_RCT are the JPEG 2000 component transforms (ISO/IEC 15444-1 Annex G),
for codestreams whose decoder left the transform undone.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from dicomkit.errors import InvalidDicomError, NotSupportedError

if TYPE_CHECKING:
    from dicomkit.core.dataset import Dataset

Array = np.ndarray[Any, Any]

# Kr, Kg, Kb of PS3.3 C.7.6.3.1.2 (ITU-R BT.601 as JFIF uses it).
KR, KG, KB = 0.299, 0.587, 0.114
CR_TO_R = 2 * (1 - KR)                 # 1.402
CB_TO_B = 2 * (1 - KB)                 # 1.772
CB_TO_G = KB * CB_TO_B / KG            # 0.344136...
CR_TO_G = KR * CR_TO_R / KG            # 0.714136...

# Forward transform, rows Y, Cb, Cr (C.7.6.3.1.2 prints these rounded: .2990 .5870 .1140 ...).
RGB_TO_YBR = np.array([
    [KR, KG, KB],
    [-KR / CB_TO_B, -KG / CB_TO_B, 0.5],
    [0.5, -KG / CR_TO_R, -KB / CR_TO_R],
])

_BLOCK = 1 << 16  # pixels per block: the temporaries stay in the CPU's cache
YBR_NAMES = frozenset({"YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT"})


# -- YBR -> RGB ----------------------------------------------------------------------------------
@cache
def _ybr8_chroma_table() -> Array:
    """For 8-bit YBR_FULL -> RGB: ``table[cb + 256 * cr]`` packs the three rounded chroma
    terms, each plus a bias of 256, into the 16-bit lanes 0 (R), 1 (G) and 2 (B) of an int64.

    Every term depends on Cb and Cr only (R on Cr, B on Cb, G on both), so one look-up gives
    all three; adding Y to each lane and clipping the lane to 256..511 leaves the sample in
    the lane's low byte. The bias keeps every lane positive, so no lane borrows from the next.
    """
    chroma = np.arange(256, dtype=np.float64) - 128.0
    cb, cr = chroma[None, :], chroma[:, None]
    lanes = np.zeros((256, 256, 4), dtype=np.uint16)
    lanes[..., 0] = 256 + np.floor(CR_TO_R * cr + 0.5) + 0 * cb
    lanes[..., 1] = 256 + np.floor(-CB_TO_G * cb - CR_TO_G * cr + 0.5)
    lanes[..., 2] = 256 + np.floor(CB_TO_B * cb + 0.5) + 0 * cr
    return lanes.reshape(-1, 4).astype("<u2").view("<i8").reshape(-1)


_EVERY_LANE = 0x0000_0001_0001_0001  # Y times this adds Y to lanes 0, 1 and 2


def _ybr8_block(flat: Array, out: Array, start: int, stop: int) -> None:
    """Convert pixels ``start:stop`` of an interleaved 8-bit buffer into ``out`` (n, 3).

    A little-endian 16-bit view read at a 3-byte stride gives ``Cb + 256 Cr`` for each pixel
    without copying: the table index. Every read of the block comes before its writes, so
    ``out`` may be the input itself.
    """
    count = stop - start
    cb_cr = np.ndarray((count,), dtype="<u2", buffer=flat, offset=3 * start + 1, strides=(3,))
    packed = np.take(_ybr8_chroma_table(), cb_cr.astype(np.intp))
    luma = flat[3 * start : 3 * stop : 3].astype(np.int64)
    luma *= _EVERY_LANE
    packed += luma
    lanes = packed.view("<u2")
    np.clip(lanes, 256, 511, out=lanes)
    low_bytes = packed.view(np.uint8)
    pixels = out[start:stop]
    pixels[:, 0] = low_bytes[0::8]
    pixels[:, 1] = low_bytes[2::8]
    pixels[:, 2] = low_bytes[4::8]


def _ybr8_to_rgb(arr: Array, out: Array | None) -> Array:
    flat = np.ascontiguousarray(arr).reshape(-1)
    count = flat.size // 3
    if out is None:
        out = np.empty(arr.shape, dtype=np.uint8)
    elif out.shape != arr.shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous uint8 array of shape {arr.shape}")
    pixels = out.reshape(-1, 3)
    for start in range(0, count, _BLOCK):
        _ybr8_block(flat, pixels, start, min(count, start + _BLOCK))
    return out


def _check_samples(arr: Array, what: str) -> None:
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ValueError(f"{what} needs samples last, shape (..., 3); got shape {arr.shape}")


def _bits_of(arr: Array, bits: int | None) -> int:
    if bits is not None:
        return bits
    return 8 if arr.dtype.itemsize == 1 else 8 * arr.dtype.itemsize


def _unsigned(arr: Array, bits: int) -> Array:
    return arr.astype(np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32)


def ybr_full_to_rgb(arr: Array, bits: int | None = None, *, out: Array | None = None) -> Array:
    """YBR_FULL (or YBR_FULL_422 once upsampled) to RGB, samples last: shape (..., 3).

    8-bit input takes the table path and can write into ``out`` — the input array itself
    converts in place, sparing a second copy of a long cine. Other depths (``bits`` defaults
    to the dtype's size) are computed in floating point with the chroma offset 2^(bits-1) and
    clipped to the range.
    """
    arr = np.asarray(arr)
    _check_samples(arr, "YBR_FULL -> RGB")
    if arr.dtype == np.uint8 and bits in (None, 8):
        return _ybr8_to_rgb(arr, out)
    bits = _bits_of(arr, bits)
    half = float(1 << (bits - 1))
    top = float((1 << bits) - 1)
    # Y + round(chroma term), the order the 8-bit tables use, so both paths agree exactly.
    y = arr[..., 0].astype(np.float64)
    cb = arr[..., 1] - half
    cr = arr[..., 2] - half
    result = np.empty(arr.shape, dtype=np.float64)
    result[..., 0] = CR_TO_R * cr
    result[..., 1] = -CB_TO_G * cb - CR_TO_G * cr
    result[..., 2] = CB_TO_B * cb
    np.floor(result + 0.5, out=result)
    result += y[..., None]
    np.clip(result, 0, top, out=result)
    if out is not None:
        out[...] = result
        return out
    return _unsigned(result, bits)


ybr_full_422_to_rgb = ybr_full_to_rgb


@cache
def _rgb8_tables() -> Array:
    """``table[k, c, v]``: fixed-point (16 fraction bits) share of sample ``v`` of colour ``c``
    in output ``k`` (Y, Cb, Cr) with the 128 chroma offset and the rounding half in colour 0."""
    values = np.arange(256, dtype=np.float64)
    table = RGB_TO_YBR[:, :, None] * values[None, None, :] * 65536.0
    table[1:, 0, :] += 128 * 65536.0
    table[:, 0, :] += 32768.0
    return np.floor(table).astype(np.int32)


def rgb_to_ybr_full(arr: Array, bits: int | None = None) -> Array:
    """RGB to YBR_FULL by the equations of PS3.3 C.7.6.3.1.2, rounded, samples last."""
    arr = np.asarray(arr)
    _check_samples(arr, "RGB -> YBR_FULL")
    if arr.dtype == np.uint8 and bits in (None, 8):
        table = _rgb8_tables()
        flat = arr.reshape(-1, 3)
        out = np.empty(flat.shape, dtype=np.uint8)
        for start in range(0, flat.shape[0], _BLOCK):
            block = flat[start : start + _BLOCK]
            for k in range(3):
                acc = np.take(table[k, 0], block[:, 0])
                acc += np.take(table[k, 1], block[:, 1])
                acc += np.take(table[k, 2], block[:, 2])
                acc >>= 16
                np.clip(acc, 0, 255, out=acc)
                out[start : start + _BLOCK, k] = acc
        return out.reshape(arr.shape)
    bits = _bits_of(arr, bits)
    result = arr.astype(np.float64) @ RGB_TO_YBR.T
    result[..., 1:] += float(1 << (bits - 1))
    np.floor(result + 0.5, out=result)
    np.clip(result, 0, float((1 << bits) - 1), out=result)
    return _unsigned(result, bits)


def ybr_ict_to_rgb(arr: Array, bits: int | None = None) -> Array:
    """YBR_ICT: the JPEG 2000 irreversible component transform undone (ISO/IEC 15444-1 G.3).

    The decoder has added the DC level shift 2^(bits-1) back to every component, so Cb and Cr
    sit around the middle of the range as in YBR_FULL and the inverse is the same (the ICT
    uses the BT.601 coefficients, PS3.3 C.7.6.3.1.2).
    """
    return ybr_full_to_rgb(arr, bits)


def ybr_rct_to_rgb(arr: Array, bits: int | None = 8) -> Array:
    """YBR_RCT: the JPEG 2000 reversible component transform undone (ISO/IEC 15444-1 G.2).

    With the DC level shift ``s = 2^(bits-1)`` added back to each component::

        G = Y - floor((Cb + Cr - 2s) / 4),   R = Cr - s + G,   B = Cb - s + G

    Cb and Cr span ``[-(2^bits - 1) + s, 2^bits - 1 + s]``, one bit more than the samples, so
    8-bit data arrives in a wider integer dtype, and ``bits`` cannot be told from the dtype.
    The result is exact (the transform is lossless).
    """
    arr = np.asarray(arr)
    _check_samples(arr, "YBR_RCT -> RGB")
    bits = bits or 8
    shift = 1 << (bits - 1)
    wide = arr.astype(np.int64)
    y, cb, cr = wide[..., 0], wide[..., 1] - shift, wide[..., 2] - shift
    out = np.empty(arr.shape, dtype=np.int64)
    green = y - np.floor_divide(cb + cr, 4)
    out[..., 1] = green
    out[..., 0] = cr + green
    out[..., 2] = cb + green
    np.clip(out, 0, (1 << bits) - 1, out=out)
    return _unsigned(out, bits)


def rgb_to_ybr_rct(arr: Array, bits: int = 8) -> Array:
    """The forward RCT (ISO/IEC 15444-1 G.2) with the DC level shift kept, as int32."""
    arr = np.asarray(arr).astype(np.int64)
    shift = 1 << (bits - 1)
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    out = np.empty(arr.shape, dtype=np.int32)
    out[..., 0] = np.floor_divide(r + 2 * g + b, 4)
    out[..., 1] = b - g + shift
    out[..., 2] = r - g + shift
    return out


_TO_RGB = {"YBR_FULL": ybr_full_to_rgb, "YBR_FULL_422": ybr_full_to_rgb,
           "YBR_ICT": ybr_ict_to_rgb, "YBR_RCT": ybr_rct_to_rgb}


def convert_color_space(arr: Array, current: str, desired: str,
                        bits: int | None = None) -> Array:
    """Convert samples-last pixel data between Photometric Interpretations (C.7.6.3.1.2).

    To RGB from YBR_FULL, YBR_FULL_422 (upsampled), YBR_ICT and YBR_RCT; from RGB to
    YBR_FULL / YBR_FULL_422 (the 4:2:2 subsampling itself is an encoder's business).
    """
    current, desired = current.strip().upper(), desired.strip().upper()
    same = {current, desired} <= {"YBR_FULL", "YBR_FULL_422"}
    if current == desired or same:
        return np.asarray(arr)
    if desired == "RGB" and current in _TO_RGB:
        return _TO_RGB[current](arr, bits)
    if current == "RGB" and desired in ("YBR_FULL", "YBR_FULL_422"):
        return rgb_to_ybr_full(arr, bits)
    if current == "RGB" and desired == "YBR_RCT":
        return rgb_to_ybr_rct(arr, bits or 8)
    raise NotSupportedError(f"colour conversion {current} -> {desired}")


# -- Palette Color (C.7.6.3.1.5, C.7.6.3.1.6, C.7.9) -----------------------------------------------
RED, GREEN, BLUE = "Red", "Green", "Blue"
_DESCRIPTOR = {RED: 0x00281101, GREEN: 0x00281102, BLUE: 0x00281103}
_DATA = {RED: 0x00281201, GREEN: 0x00281202, BLUE: 0x00281203}
_SEGMENTED = {RED: 0x00281221, GREEN: 0x00281222, BLUE: 0x00281223}


class LUTDescriptor(NamedTuple):
    """The three values of a LUT Descriptor (PS3.3 C.7.6.3.1.5, C.11.1.1, C.11.2.1.1)."""

    entries: int        # 0 in the file means 2^16
    first_mapped: int   # the input value mapped to the first entry
    bits: int           # bits of each entry

    @classmethod
    def from_element(cls, element: Any, signed_input: bool = False) -> LUTDescriptor:
        """Read a descriptor element. Its values are always US except the second, which is
        SS when the input is signed; a US second value above 32767 with signed input is
        read as the SS it was meant to be."""
        values = element.value
        if not isinstance(values, list) or len(values) != 3:
            raise InvalidDicomError(f"LUT Descriptor {values!r} does not have 3 values",
                                    tag=int(element.tag))
        entries, first, bits = (int(v) for v in values)
        entries &= 0xFFFF
        if signed_input and element.VR != "SS" and first > 0x7FFF:
            first -= 0x10000
        elif not signed_input and first < 0:
            first &= 0xFFFF
        return cls(entries or 0x10000, first, bits & 0xFFFF)


def lut_entries(element: Any, descriptor: LUTDescriptor) -> Array:
    """The entries of a LUT Data element as unsigned integers (uint8 or uint16).

    8-bit entries are stored packed, two per 16-bit word, as C.7.6.3.1.6 requires; some
    writers put each one in a word of its own, which is recognised by the value's length.
    A descriptor that says 8 bits for words holding larger values is overruled by the data.
    """
    data = element.value_bytes(True) if hasattr(element, "value_bytes") else bytes(element)
    count = descriptor.entries
    if descriptor.bits <= 8 and len(data) in (count, count + 1):
        return np.frombuffer(data, dtype=np.uint8, count=count)
    words = np.frombuffer(data, dtype="<u2", count=len(data) // 2)
    if words.size < count:
        raise InvalidDicomError(f"LUT Data has {words.size} entries, its descriptor says "
                                f"{count}", tag=int(getattr(element, "tag", 0)))
    words = words[:count]
    if descriptor.bits <= 8 and int(words.max(initial=0)) <= 0xFF:
        return words.astype(np.uint8)
    return words.astype(np.uint16)


def expand_segmented_lut(data: Array, bits: int = 16) -> Array:
    """Expand Segmented Palette Color Lookup Table Data (PS3.3 C.7.9.2).

    ``data`` holds the words of the value: uint16 for 16-bit entries, uint8 for 8-bit ones.
    Segments: discrete (opcode 0: a length, then that many entries), linear (1: a length and
    an end value, joined by a straight line from the previous entry, rounded half up) and
    indirect (2: a count of segments to copy and a 32-bit *byte* offset of the first of them
    from the start of the data, least significant 16 bits first; C.7.9.2.3).
    """
    words = np.asarray(data).astype(np.int64)
    width = 1 if bits <= 8 else 2
    out: list[Array] = []
    last: list[int] = []

    def run(position: int, limit: int | None, indirect_allowed: bool) -> int:
        done = 0
        while position + 1 < words.size and (limit is None or done < limit):
            opcode, length = int(words[position]), int(words[position + 1])
            if opcode == 0:
                chunk = words[position + 2 : position + 2 + length]
                if chunk.size != length:
                    raise InvalidDicomError(f"discrete segment at word {position} runs past "
                                            "the end of the data")
                out.append(chunk)
                position += 2 + length
            elif opcode == 1:
                if not last and not out:
                    raise InvalidDicomError("a linear segment cannot be the first segment "
                                            "(PS3.3 C.7.9.2.2)")
                start = int(out[-1][-1]) if out and out[-1].size else last[0]
                end = int(words[position + 2])
                steps = np.arange(1, length + 1, dtype=np.float64)
                line = start + (end - start) * steps / max(length, 1)
                out.append(np.floor(line + 0.5).astype(np.int64))
                position += 3
            elif opcode == 2:
                if not indirect_allowed:
                    raise InvalidDicomError("an indirect segment copies another indirect "
                                            "segment (PS3.3 C.7.9.2.3 forbids it)")
                if width == 1:
                    b = [int(v) for v in words[position + 2 : position + 6]]
                    offset, size = b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24, 6
                else:
                    low, high = int(words[position + 2]), int(words[position + 3])
                    offset, size = low | high << 16, 4
                if offset % width:
                    raise InvalidDicomError(f"indirect segment byte offset {offset} is not "
                                            f"on a {width}-byte entry")
                run(offset // width, length, False)
                position += size
            else:
                raise InvalidDicomError(f"segment opcode {opcode} at word {position} is "
                                        "reserved (PS3.3 Table C.7-24)")
            if out and out[-1].size:
                last[:] = [int(out[-1][-1])]
            done += 1
        return position

    run(0, None, True)
    if not out:
        return np.zeros(0, dtype=np.uint8 if bits <= 8 else np.uint16)
    table = np.concatenate(out)
    return table.astype(np.uint8 if bits <= 8 else np.uint16)


class PaletteLUT(NamedTuple):
    """The three Palette Color LUTs of a data set, expanded: ``table`` has shape (entries, 3)."""

    table: Array
    first_mapped: int
    bits: int

    def apply(self, arr: Array) -> Array:
        """Map stored values to RGB, shape (..., 3). Values below the first mapped value take
        the first entry, values past the last take the last one (C.7.6.3.1.5)."""
        arr = np.asarray(arr)
        entries = self.table.shape[0]
        if (arr.dtype == np.uint8 and self.first_mapped == 0 and entries >= 256) or (
                arr.dtype == np.uint16 and self.first_mapped == 0 and entries >= 65536):
            index = arr
        else:
            index = np.clip(arr.astype(np.int64) - self.first_mapped, 0, entries - 1)
        return self.table[index]


def palette_lut(ds: Dataset) -> PaletteLUT:
    """Read the Red, Green and Blue Palette Color LUTs of ``ds`` (normal or segmented)."""
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    columns: list[Array] = []
    firsts: set[int] = set()
    bits_seen: set[int] = set()
    for colour in (RED, GREEN, BLUE):
        if _DESCRIPTOR[colour] not in ds:
            raise InvalidDicomError(f"PALETTE COLOR without the {colour} Palette Color Lookup "
                                    "Table Descriptor", tag=_DESCRIPTOR[colour])
        descriptor = LUTDescriptor.from_element(ds[_DESCRIPTOR[colour]], signed)
        if _DATA[colour] in ds:
            entries = lut_entries(ds[_DATA[colour]], descriptor)
        elif _SEGMENTED[colour] in ds:
            raw = ds[_SEGMENTED[colour]].value_bytes(True)
            if descriptor.bits <= 8:
                words: Array = np.frombuffer(raw, dtype=np.uint8)
            else:
                words = np.frombuffer(raw, dtype="<u2", count=len(raw) // 2)
            entries = expand_segmented_lut(words, descriptor.bits)
        else:
            raise InvalidDicomError(f"PALETTE COLOR without {colour} Palette Color Lookup "
                                    "Table Data, plain or segmented", tag=_DATA[colour])
        if entries.size < descriptor.entries:
            raise InvalidDicomError(f"{colour} palette has {entries.size} entries, its "
                                    f"descriptor says {descriptor.entries}",
                                    tag=_DESCRIPTOR[colour])
        columns.append(entries[: descriptor.entries])
        firsts.add(descriptor.first_mapped)
        bits_seen.add(8 if entries.dtype == np.uint8 else 16)
    if len(firsts) != 1 or len({c.size for c in columns}) != 1:
        raise InvalidDicomError("the Red, Green and Blue palettes differ in size or first "
                                "value mapped (C.7.6.3.1.5 requires them equal)")
    bits = max(bits_seen)
    dtype = np.uint8 if bits == 8 else np.uint16
    table = np.stack([c.astype(dtype) for c in columns], axis=1)
    return PaletteLUT(np.ascontiguousarray(table), firsts.pop(), bits)


def apply_palette(arr: Array, ds: Dataset) -> Array:
    """PALETTE COLOR stored values to RGB (uint8 for 8-bit entries, uint16 for 16-bit)."""
    return palette_lut(ds).apply(arr)
