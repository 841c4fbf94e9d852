"""Resolve PS3.6 entries listed with several VRs ("US or SS", "OB or OW", ...).

In explicit VR encodings the file says which VR was used. In implicit VR encodings (and for new
values) the choice follows the rules of PS3.5 §8.1.2 / Annex A.1 and PS3.3 C.7.6.3.1:
pixel-related "US or SS" follow Pixel Representation (0028,0103); "OB or OW" Pixel Data is
OW when Bits Allocated > 8 and OB otherwise; overlay, curve and LUT data are OW.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dicomkit.core.dataset import Dataset

_PIXEL_REPRESENTATION = 0x00280103
_BITS_ALLOCATED = 0x00280100
_LUT_DESCRIPTORS = frozenset({0x00281101, 0x00281102, 0x00281103, 0x00283002})


def resolve_vr(tag: int, vrs: str, dataset: Dataset | None, implicit: bool = False) -> str:
    options = [v.strip() for v in vrs.split(" or ")]
    if len(options) == 1:
        return options[0]
    if "SS" in options and "US" in options:
        if tag in _LUT_DESCRIPTORS:
            return "US"
        if "OW" in options:  # (0028,3006) LUT Data and friends
            return "OW"
        rep = _lookup_int(dataset, _PIXEL_REPRESENTATION)
        return "SS" if rep == 1 else "US"
    if options == ["OB", "OW"] or set(options) == {"OB", "OW"}:
        if tag == 0x7FE00010 or (tag >> 16) & 0xFF00 == 0x7F00:
            bits = _lookup_int(dataset, _BITS_ALLOCATED)
            # Implicit VR encodes it as OW (PS3.5 A.1 (c)); the bytes are the same either
            # way, so the VR kept is the one explicit VR would use, and conversions round-trip.
            return "OB" if bits is not None and bits <= 8 else "OW"
        return "OW"
    if "OW" in options:
        return "OW"
    return options[0]


def _lookup_int(dataset: Dataset | None, tag: int) -> int | None:
    while dataset is not None:
        if tag in dataset:
            value = dataset[tag].value
            if isinstance(value, list):
                value = value[0] if value else None
            return value if isinstance(value, int) else None
        dataset = dataset.parent
    return None
