"""Pixel Data as numpy arrays: ``pixel_array``, ``frame``, ``frames`` (PS3.3 C.7.6.3, PS3.5 §8).

Shapes follow pydicom: ``(rows, cols)``, ``(rows, cols, samples)``, and with more than one
frame ``(frames, rows, cols[, samples])``. Values are the stored values — no Modality LUT, no
windowing — in the dtype Bits Allocated and Pixel Representation give (``uint8`` for Bits
Allocated 1, ``float32``/``float64`` for Float/Double Float Pixel Data), in native byte order,
with the bits above Bits Stored masked (unsigned) or sign-extended (signed), PS3.5 §8.1.1.
Colour comes back interleaved (samples last) whatever the Planar Configuration.

Colour space, as pydicom 3's ``Dataset.pixel_array`` does by default (``as_rgb=True``):
YBR_FULL and YBR_FULL_422 samples (8-bit) are converted to RGB, in any transfer syntax — for
JPEG by libjpeg-turbo's own conversion, elsewhere with the PS3.3 C.7.6.3.1.2 equations; JPEG
2000 YBR_RCT/YBR_ICT come back RGB because the codestream's component transform is undone by
the decoder. Native YBR_FULL_422 (half-width chroma) is first widened by repeating each chroma
sample. Pass ``as_rgb=False`` to keep YBR_FULL samples (YBR_FULL_422 still widened).

Frames are decoded one at a time: ``frame(ds, i)`` reads frame *i*'s bytes only (for
encapsulated data through the offset tables, see :mod:`dicomkit.pixels.encapsulated`), and
``frames(ds)`` yields them in order without holding more than one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomkit.errors import InvalidDicomError
from dicomkit.pixels.codecs import YBR, codec_for, ybr_full_to_rgb
from dicomkit.pixels.encapsulated import FrameIndex, build_index
from dicomkit.pixels.info import PixelInfo
from dicomkit.pixels.raw import (
    decode_native,
    native_dtype,
    ow_bytes,
    unused_bits,
)

if TYPE_CHECKING:
    from dicomkit.core.dataset import Dataset

_CACHE_ATTR = "_pixels_frame_index"


class PixelSource:
    """The Pixel Data value of a data set, as a zero-copy view, with what a decoder needs."""

    def __init__(self, ds: Dataset, info: PixelInfo | None = None) -> None:
        self.ds = ds
        self.info = info or PixelInfo.from_dataset(ds)
        tag = self.info.pixel_tag
        entry = ds.raw_entry(tag)
        self.entry = entry
        if type(entry) is tuple:
            vr, offset, length, undefined = entry
            self.view = memoryview(ds.buffer)[offset : offset + length]
            self.vr = vr
            self.encapsulated = bool(undefined)
            self.base = offset
            self.little = ds.is_little_endian
        else:
            element = entry
            if element.raw is not None:
                data, self.little = element.raw, element.little
            else:
                data, self.little = element.value, True
            if data is None:
                data = b""
            if isinstance(data, str):
                raise InvalidDicomError("Pixel Data holds text, not pixel values", tag=tag)
            view = memoryview(data)
            self.view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
            self.vr = element.VR
            self.encapsulated = bool(element.is_undefined_length)
            self.base = 0
        if self.encapsulated:
            self.info = self.info.with_changes(little_endian=True)
        else:
            self.info = self.info.with_changes(little_endian=self.little)
        self._index: FrameIndex | None = None

    @property
    def frame_count(self) -> int:
        return self.info.number_of_frames

    def index(self) -> FrameIndex:
        """The frame index of encapsulated data, kept with the data set while the element is
        the same."""
        if self._index is not None:
            return self._index
        cached = self.ds.__dict__.get(_CACHE_ATTR)
        if cached is not None and cached[0] is self.entry and cached[1] == self.frame_count:
            self._index = cached[2]
            return cached[2]
        index = build_index(self.ds, self.view, self.info.pixel_tag, self.base,
                            self.frame_count, self.info.transfer_syntax)
        object.__setattr__(self.ds, _CACHE_ATTR, (self.entry, self.frame_count, index))
        self._index = index
        return index

    def check_index(self, index: int) -> None:
        if not 0 <= index < self.frame_count:
            raise InvalidDicomError(f"frame {index} is out of range: the image has "
                                    f"{self.frame_count} frame(s)", tag=self.info.pixel_tag)

    def decode(self, index: int, as_rgb: bool = True) -> tuple[Any, str]:
        """(frame ``index`` as an array, its Photometric Interpretation)."""
        self.check_index(index)
        info = self.info
        if self.encapsulated:
            codec = codec_for(info.transfer_syntax)
            data = self.index().frame_bytes(index)
            return codec.decode_with_photometric(data, info, as_rgb=as_rgb, frame=index)
        array = decode_native(self.view, info, index, index, vr=self.vr)
        return colour(array, info, as_rgb)


def colour(array: Any, info: PixelInfo, as_rgb: bool) -> tuple[Any, str]:
    photometric = info.photometric_interpretation
    if photometric == "YBR_FULL_422":
        photometric = "YBR_FULL"  # widened by decode_native
    if as_rgb and photometric in YBR and info.samples_per_pixel == 3 and info.itemsize == 1:
        return ybr_full_to_rgb(array), "RGB"
    return array, photometric


# -- the public functions --------------------------------------------------------------------
def frame(ds: Dataset, index: int, *, as_rgb: bool = True) -> Any:
    """Frame ``index`` (from 0) as an array: (rows, cols) or (rows, cols, samples)."""
    return PixelSource(ds).decode(index, as_rgb)[0]


def frames(ds: Dataset, *, as_rgb: bool = True) -> Iterator[Any]:
    """Every frame in order, decoded one at a time."""
    source = PixelSource(ds)
    for index in range(source.frame_count):
        yield source.decode(index, as_rgb)[0]


def pixel_array(ds: Dataset, *, as_rgb: bool = True) -> Any:
    """All frames: pydicom's shapes, stored values (see the module docstring)."""
    source = PixelSource(ds)
    info = source.info
    count = source.frame_count
    if not source.encapsulated and info.bits_allocated > 1 and not info.is_ybr_422:
        return _native_all(source, as_rgb)
    out = None
    for index in range(count):
        array, _ = source.decode(index, as_rgb)
        if count == 1:
            return array
        if out is None:
            out = np.empty((count, *array.shape), dtype=array.dtype)
        out[index] = array
    return out


def _native_all(source: PixelSource, as_rgb: bool) -> Any:
    """All native frames in one pass (one copy, one mask), not frame by frame."""
    info = source.info
    count = source.frame_count
    total = info.frame_length * count
    if total > len(source.view):
        short = len(source.view) // info.frame_length
        source.decode(short, as_rgb)  # raises, naming the first incomplete frame
    data = ow_bytes(source.view, 0, total, info, source.vr)
    raw = np.frombuffer(data, dtype=native_dtype(info))
    native = raw.dtype.newbyteorder("=")
    rows, columns, samples = info.rows, info.columns, info.samples_per_pixel
    array: Any
    if samples == 1:
        array = raw.reshape(count, rows, columns).astype(native)
    elif info.planar_configuration == 1:
        array = np.ascontiguousarray(
            raw.reshape(count, samples, rows, columns).transpose(0, 2, 3, 1), dtype=native)
    else:
        array = raw.reshape(count, rows, columns, samples).astype(native)
    array = unused_bits(array, info)
    array, _ = colour(array, info, as_rgb)
    return array[0] if count == 1 else array
