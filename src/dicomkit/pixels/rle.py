"""PS3.5 Annex G: RLE Lossless (1.2.840.10008.1.2.5), dicomkit's own codec.

A frame is a 64-byte header — the number of segments and up to 15 segment offsets, little
endian 32-bit (G.5) — then the segments. Each segment is one byte plane of one sample (G.2:
most significant byte first, samples in order), compressed with PackBits (G.3.1) row by row.

Only the PackBits run coding itself is delegated (to imagecodecs, in C); splitting the frame
into byte planes and putting them back together is numpy, so a frame costs one pass per plane.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from dicomkit.errors import InvalidDicomError, NotSupportedError
from dicomkit.pixels.info import PixelInfo

HEADER_LENGTH = 64
MAX_SEGMENTS = 15


def _where(frame: int | None) -> str:
    return f"frame {frame}: " if frame is not None else ""


def segment_offsets(data: bytes | memoryview, frame: int | None = None) -> list[int]:
    """G.5: the segment offsets of the header, checked against the frame's length."""
    if len(data) < HEADER_LENGTH:
        raise InvalidDicomError(f"{_where(frame)}RLE frame of {len(data)} byte(s) is shorter "
                                "than its 64-byte header")
    header = struct.unpack_from("<16L", data)
    count = header[0]
    if not 1 <= count <= MAX_SEGMENTS:
        raise InvalidDicomError(f"{_where(frame)}RLE header gives {count} segments (1 to 15)")
    offsets = list(header[1 : count + 1])
    if offsets[0] != HEADER_LENGTH:
        raise InvalidDicomError(f"{_where(frame)}the first RLE segment starts at "
                                f"{offsets[0]}, not 64")
    for before, after in zip(offsets, offsets[1:] + [len(data)], strict=True):
        if after < before or after > len(data):
            raise InvalidDicomError(f"{_where(frame)}RLE segment offsets {offsets} do not fit "
                                    f"a frame of {len(data)} bytes (truncated or corrupt)")
    return offsets


def decode(data: bytes | memoryview, info: PixelInfo, frame: int | None = None) -> Any:
    """One RLE frame to an array of shape ``info.shape`` (samples interleaved)."""
    import imagecodecs

    if info.bits_allocated not in (8, 16, 32, 64):
        raise NotSupportedError(f"RLE Lossless with Bits Allocated {info.bits_allocated}")
    nbytes = info.bits_allocated // 8
    samples = info.samples_per_pixel
    pixels = info.pixels_per_frame
    offsets = segment_offsets(data, frame)
    expected = samples * nbytes
    if len(offsets) != expected:
        raise InvalidDicomError(
            f"{_where(frame)}RLE frame has {len(offsets)} segment(s); {samples} sample(s) of "
            f"{info.bits_allocated} bits need {expected}")
    view = memoryview(data)
    # Each plane is written straight into its byte of the (little endian) output values.
    out = np.empty((pixels, samples, nbytes), dtype=np.uint8)
    ends = offsets[1:] + [len(data)]
    for number, (start, end) in enumerate(zip(offsets, ends, strict=True)):
        try:
            plane = imagecodecs.packbits_decode(view[start:end])  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the codec's own error type
            raise InvalidDicomError(f"{_where(frame)}RLE segment {number + 1} does not "
                                    f"decode: {exc}") from exc
        if len(plane) < pixels:
            raise InvalidDicomError(
                f"{_where(frame)}RLE segment {number + 1} decodes to {len(plane)} byte(s), "
                f"{pixels} expected (truncated)")
        # A longer plane carries padding (encoders pad segments to even length): dropped.
        # G.2: most significant byte first; a little endian value has it last.
        sample, byte = divmod(number, nbytes)
        out[:, sample, nbytes - 1 - byte] = np.frombuffer(plane, np.uint8, pixels)
    values = out.view(np.dtype(info.dtype).newbyteorder("<"))
    return values.reshape(info.shape)


def encode(array: Any, info: PixelInfo) -> bytes:
    """One frame (``info.shape``, any integer dtype of Bits Allocated) to an RLE frame."""
    import imagecodecs

    if info.bits_allocated not in (8, 16, 32):
        raise NotSupportedError(f"RLE Lossless with Bits Allocated {info.bits_allocated}")
    nbytes = info.bits_allocated // 8
    samples = info.samples_per_pixel
    if samples * nbytes > MAX_SEGMENTS:
        raise NotSupportedError(f"RLE holds at most 15 segments, {samples} x {nbytes} needed")
    values = np.asarray(array).reshape(info.rows, info.columns, samples)
    unsigned = np.ascontiguousarray(values).view(f"u{values.dtype.itemsize}")
    if unsigned.dtype.itemsize != nbytes:
        unsigned = unsigned.astype(f"u{nbytes}")
    as_bytes = unsigned.astype(f"<u{nbytes}", copy=False).view(np.uint8).reshape(
        info.rows, info.columns, samples, nbytes)
    segments = []
    for sample in range(samples):
        for byte in range(nbytes - 1, -1, -1):  # most significant first (G.2)
            plane = np.ascontiguousarray(as_bytes[:, :, sample, byte])
            segment = imagecodecs.packbits_encode(plane)  # row by row, as G.3.1 asks
            if len(segment) & 1:
                segment += b"\0"
            segments.append(segment)
    offsets = []
    pos = HEADER_LENGTH
    for segment in segments:
        offsets.append(pos)
        pos += len(segment)
    header = struct.pack("<16L", len(segments), *offsets, *([0] * (15 - len(offsets))))
    return header + b"".join(segments)
