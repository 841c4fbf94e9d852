"""Fuzz target: PS3.10 files (and bare data sets) as bytes, through ``dicomkit.read``.

Every element is materialised (lazy values decoded, sequences walked, the text form built) and
the first frames of Pixel Data are decoded, in lenient and in strict mode. Documented errors:
:class:`dicomkit.errors.DicomError` and its subclasses, nothing else.
"""

from __future__ import annotations

from typing import Any

import dicomkit
from dicomkit.errors import DicomError
from dicomkit.pixels import native

MAX_FRAMES = 4  # the first frames are enough to reach every decoder path


def materialise(ds: Any) -> None:
    """Decode every value, recursively, and build each element's text form."""
    for element in ds:
        value = element.value
        if element.VR == "SQ":
            for item in value:
                materialise(item)
    if ds.file_meta is not None:
        for element in ds.file_meta:
            _ = element.value
    for _depth, element in ds.walk():
        _ = element.VM, repr(element), str(element)


def decode_frames(ds: Any) -> None:
    if not any(tag in ds for tag in (0x7FE00008, 0x7FE00009, 0x7FE00010)):
        return
    try:
        source = native.PixelSource(ds)
        for index in range(min(source.frame_count, MAX_FRAMES)):
            source.decode(index)
    except DicomError:
        pass


def TestOneInput(data: bytes) -> None:
    for strict in (False, True):
        try:
            ds = dicomkit.read(data, strict=strict)
            materialise(ds)
        except DicomError:
            continue
        decode_frames(ds)
