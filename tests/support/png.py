"""A minimal PNG reader (ISO/IEC 15948) for the tests: non-interlaced 8/16-bit grey or RGB.

DCMTK's dcm2pnm writes Adam7-interlaced PNG unless told ``-il``; the tests always ask for
non-interlaced output, so this reader needs only the five row filters of §9.2 (libpng picks
one per row).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3}


def _chunks(data: bytes) -> dict[bytes, bytes]:
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG file")
    found: dict[bytes, bytes] = {}
    position = len(SIGNATURE)
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        found[kind] = found.get(kind, b"") + body
        position += 12 + length
        if kind == b"IEND":
            break
    return found


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> bytearray:
    if kind == 0:
        return line
    if kind == 2:
        return bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
    out = bytearray(len(line))
    for i, value in enumerate(line):
        left = out[i - bpp] if i >= bpp else 0
        up = previous[i]
        if kind == 1:
            predictor = left
        elif kind == 3:
            predictor = (left + up) >> 1
        elif kind == 4:
            corner = previous[i - bpp] if i >= bpp else 0
            estimate = left + up - corner
            pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
        else:
            raise ValueError(f"PNG row filter {kind} is not defined")
        out[i] = (value + predictor) & 0xFF
    return out


def read_png(data: bytes) -> Any:
    """The image of a PNG file as uint8/uint16, (rows, cols) or (rows, cols, 3)."""
    chunks = _chunks(data)
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB",
                                                                       chunks[b"IHDR"])
    if interlace or colour_type not in CHANNELS or depth not in (8, 16):
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}, "
                         f"interlace {interlace}")
    channels = CHANNELS[colour_type]
    bpp = channels * depth // 8
    stride = width * bpp
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = bytearray()
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        current = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]),
                            previous, bpp)
        rows += current
        previous = current
    image = np.frombuffer(bytes(rows), dtype=np.uint8 if depth == 8 else ">u2")
    shape = (height, width) if channels == 1 else (height, width, channels)
    return image.astype(np.uint8 if depth == 8 else np.uint16).reshape(shape)
