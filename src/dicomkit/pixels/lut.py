"""PS3.3 C.11: the grayscale pipeline — Modality LUT, VOI LUT, Presentation LUT.

Stored values pass through three stages (PS3.4 N.2): the Modality LUT (C.11.1: Rescale Slope and
Intercept, or a Modality LUT Sequence) gives modality values such as Hounsfield units; the VOI
LUT (C.11.2: a window, or a VOI LUT Sequence) picks the range of interest; the Presentation LUT
(C.11.4, C.11.6: a shape or a table) gives P-Values. Here the VOI stage writes straight into an
output range ``[0, y_max]`` (255 for an 8-bit display), the range the Presentation LUT then reads.

For an enhanced multi-frame image the Pixel Value Transformation (0028,9145) and Frame VOI LUT
(0028,9132) functional groups of the frame are used where present (PS3.3 C.7.6.16.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from dicomkit.errors import InvalidDicomError
from dicomkit.pixels.color import LUTDescriptor, lut_entries

if TYPE_CHECKING:
    from dicomkit.core.dataset import Dataset

Array = np.ndarray[Any, Any]

LINEAR, LINEAR_EXACT, SIGMOID = "LINEAR", "LINEAR_EXACT", "SIGMOID"
VOI_FUNCTIONS = (LINEAR, LINEAR_EXACT, SIGMOID)
IDENTITY, INVERSE = "IDENTITY", "INVERSE"

MODALITY_LUT_SEQUENCE = 0x00283000
VOI_LUT_SEQUENCE = 0x00283010
LUT_DESCRIPTOR = 0x00283002
LUT_DATA = 0x00283006
PRESENTATION_LUT_SEQUENCE = 0x20500010
PIXEL_VALUE_TRANSFORMATION_SEQUENCE = 0x00289145
FRAME_VOI_LUT_SEQUENCE = 0x00289132
SHARED_FUNCTIONAL_GROUPS = 0x52009229
PER_FRAME_FUNCTIONAL_GROUPS = 0x52009230


class Window(NamedTuple):
    """One Window Center / Window Width pair (C.11.2.1.2) with its VOI LUT Function."""

    center: float
    width: float
    function: str = LINEAR
    explanation: str = ""


# -- where the attributes are --------------------------------------------------------------------
def _functional_group(ds: Dataset, frame: int | None, sequence: int) -> Dataset | None:
    """The item of functional group ``sequence`` for ``frame`` (per-frame first, then shared)."""
    if frame is not None and PER_FRAME_FUNCTIONAL_GROUPS in ds:
        per_frame = ds[PER_FRAME_FUNCTIONAL_GROUPS].value
        if 0 <= frame < len(per_frame) and sequence in per_frame[frame]:
            items = per_frame[frame][sequence].value
            if items:
                return items[0]
    if SHARED_FUNCTIONAL_GROUPS in ds:
        shared = ds[SHARED_FUNCTIONAL_GROUPS].value
        if shared and sequence in shared[0]:
            items = shared[0][sequence].value
            if items:
                return items[0]
    return None


def _number(value: Any, index: int = 0) -> float | None:
    if isinstance(value, list):
        value = value[index] if index < len(value) else None
    if value is None or value == "":
        return None
    return float(value)


def _signed(ds: Dataset) -> bool:
    return int(ds.get("PixelRepresentation") or 0) == 1


# -- the LUT tables of C.11.1.1 / C.11.2.1.1 -----------------------------------------------------
def apply_lut_table(arr: Array, descriptor: LUTDescriptor, table: Array) -> Array:
    """Map input values through a LUT: the first value mapped goes to entry 0, values below it
    to the first entry and values past the last entry to the last one (C.11.2.1.1)."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        arr = np.floor(arr + 0.5)
    index = np.clip(arr.astype(np.int64) - descriptor.first_mapped, 0, table.size - 1)
    return table[index]


def _lut_item(item: Dataset, signed_input: bool) -> tuple[LUTDescriptor, Array]:
    if LUT_DESCRIPTOR not in item or LUT_DATA not in item:
        raise InvalidDicomError("a LUT item needs LUT Descriptor (0028,3002) and LUT Data "
                                "(0028,3006)")
    descriptor = LUTDescriptor.from_element(item[LUT_DESCRIPTOR], signed_input)
    return descriptor, lut_entries(item[LUT_DATA], descriptor)


# -- Modality LUT (C.11.1) -----------------------------------------------------------------------
def rescale(ds: Dataset, frame: int | None = None) -> tuple[float, float] | None:
    """Rescale Slope and Intercept (C.11.1), from the frame's functional group if any."""
    group = _functional_group(ds, frame, PIXEL_VALUE_TRANSFORMATION_SEQUENCE)
    for source in (group, ds):
        if source is None:
            continue
        slope = _number(source.get("RescaleSlope"))
        intercept = _number(source.get("RescaleIntercept"))
        if slope is not None or intercept is not None:
            return (1.0 if slope is None else slope, 0.0 if intercept is None else intercept)
    return None


def apply_modality_lut(arr: Array, ds: Dataset, frame: int | None = None) -> Array:
    """Stored values to modality values (C.11.1).

    A Modality LUT Sequence maps through its table (uint8/uint16 out); otherwise Rescale Slope
    and Intercept give ``slope * value + intercept``, as int32 when both are whole numbers and
    the input is integer of at most 16 bits, else float64. With neither, ``arr`` is returned.
    """
    arr = np.asarray(arr)
    if MODALITY_LUT_SEQUENCE in ds and ds[MODALITY_LUT_SEQUENCE].value:
        item = ds[MODALITY_LUT_SEQUENCE].value[0]
        descriptor, table = _lut_item(item, _signed(ds))
        return apply_lut_table(arr, descriptor, table)
    factors = rescale(ds, frame)
    if factors is None:
        return arr
    slope, intercept = factors
    if (slope.is_integer() and intercept.is_integer() and arr.dtype.kind in "iu"
            and arr.dtype.itemsize <= 2 and abs(slope) < 2**14 and abs(intercept) < 2**30):
        out = arr.astype(np.int32)
        if slope != 1:
            out *= int(slope)
        if intercept != 0:
            out += int(intercept)
        return out
    result = arr.astype(np.float64)
    if slope != 1:
        result *= slope
    if intercept != 0:
        result += intercept
    return result


# -- VOI LUT (C.11.2) ----------------------------------------------------------------------------
def apply_voi(arr: Array, center: float, width: float, function: str = LINEAR,
              y_min: float = 0.0, y_max: float = 255.0) -> Array:
    """Window ``arr`` by Window Center ``center`` and Width ``width`` into [y_min, y_max].

    The three VOI LUT Functions of C.11.2.1.3, unrounded (float64):

    - LINEAR (C.11.2.1.2.1), width >= 1: ``x <= c - 0.5 - (w-1)/2`` gives y_min,
      ``x > c - 0.5 + (w-1)/2`` gives y_max, between them
      ``((x - (c - 0.5)) / (w-1) + 0.5) * (y_max - y_min) + y_min``; a width of 1 is a threshold.
    - LINEAR_EXACT (C.11.2.1.3.2), width > 0: ``x <= c - w/2`` gives y_min, ``x > c + w/2``
      gives y_max, between them ``((x - c) / w + 0.5) * (y_max - y_min) + y_min``.
    - SIGMOID (C.11.2.1.3.1), width > 0: ``(y_max - y_min) / (1 + exp(-4 (x - c) / w)) + y_min``.
    """
    function = (function or LINEAR).strip().upper()
    x = np.asarray(arr, dtype=np.float64)
    span = y_max - y_min
    if function == LINEAR:
        if not width >= 1:
            raise ValueError(f"LINEAR window width {width} is below 1 (PS3.3 C.11.2.1.2.1)")
        low = center - 0.5 - (width - 1) / 2
        high = center - 0.5 + (width - 1) / 2
        if width == 1:
            return np.where(x <= low, y_min, y_max)
        y = ((x - (center - 0.5)) / (width - 1) + 0.5) * span + y_min
    elif function == LINEAR_EXACT:
        if not width > 0:
            raise ValueError(f"LINEAR_EXACT window width {width} is not above 0 "
                             "(PS3.3 C.11.2.1.3.2)")
        low, high = center - width / 2, center + width / 2
        y = ((x - center) / width + 0.5) * span + y_min
    elif function == SIGMOID:
        if not width > 0:
            raise ValueError(f"SIGMOID window width {width} is not above 0 "
                             "(PS3.3 C.11.2.1.3.1)")
        with np.errstate(over="ignore"):
            return span / (1.0 + np.exp(-4.0 * (x - center) / width)) + y_min
    else:
        raise ValueError(f"VOI LUT Function {function!r} is not one of {', '.join(VOI_FUNCTIONS)}")
    y[x <= low] = y_min
    y[x > high] = y_max
    return y


def windows(ds: Dataset, frame: int | None = None) -> list[Window]:
    """The windows a data set (or the frame's Frame VOI LUT group) offers, in order."""
    group = _functional_group(ds, frame, FRAME_VOI_LUT_SEQUENCE)
    source = group if group is not None and "WindowCenter" in group else ds
    centers = source.get("WindowCenter")
    widths = source.get("WindowWidth")
    if centers is None or widths is None or centers == "" or widths == "":
        return []
    centers = centers if isinstance(centers, list) else [centers]
    widths = widths if isinstance(widths, list) else [widths]
    if len(centers) != len(widths):
        raise InvalidDicomError(f"{len(centers)} Window Center value(s) but {len(widths)} "
                                "Window Width value(s) (C.11.2.1.2: they pair up)",
                                tag=0x00281050)
    function = str(source.get("VOILUTFunction") or LINEAR).strip().upper()
    explanations = source.get("WindowCenterWidthExplanation") or []
    explanations = explanations if isinstance(explanations, list) else [explanations]
    found = []
    for number, (center, width) in enumerate(zip(centers, widths, strict=True)):
        text = str(explanations[number]) if number < len(explanations) else ""
        try:
            found.append(Window(float(center), float(width), function, text))
        except (TypeError, ValueError):
            raise InvalidDicomError(f"window {number}: centre {center!r}, width {width!r} "
                                    "is not a pair of numbers", tag=0x00281050) from None
    return found


def voi_luts(ds: Dataset) -> list[Dataset]:
    """The items of the VOI LUT Sequence (C.11.2), each one alternative view."""
    if VOI_LUT_SEQUENCE not in ds:
        return []
    return list(ds[VOI_LUT_SEQUENCE].value)


def has_voi(ds: Dataset, frame: int | None = None) -> bool:
    return bool(windows(ds, frame) or voi_luts(ds))


def _voi_lut_sequence(arr: Array, item: Dataset, signed_input: bool, y_max: float) -> Array:
    descriptor, table = _lut_item(item, signed_input)
    bits = descriptor.bits
    # Some writers declare 16 bits for 12-bit entries or 8 for 16; the entries decide.
    largest = int(table.max(initial=0))
    if largest >= 1 << bits:
        bits = max(1, largest.bit_length())
    out = apply_lut_table(arr, descriptor, table).astype(np.float64)
    out *= y_max / ((1 << bits) - 1)
    return out


def apply_voi_lut(arr: Array, ds: Dataset, index: int = 0,
                  window: tuple[float, float] | tuple[float, float, str] | None = None, *,
                  frame: int | None = None, prefer_lut: bool = False,
                  y_max: float = 255.0) -> Array:
    """Modality values to [0, y_max] through the VOI stage (C.11.2), float64.

    ``window`` — ``(center, width)`` or ``(center, width, function)`` — overrides the file and
    is LINEAR unless a function is given. Otherwise the file's window number ``index`` is used
    (with its VOI LUT Function), or its VOI LUT Sequence item ``index`` when there is no window
    or ``prefer_lut`` is set; both present are alternative views (C.11.2). With no VOI at all
    ``arr`` is returned unchanged.
    """
    if window is not None:
        center, width = float(window[0]), float(window[1])
        function = str(window[2]) if len(window) > 2 else LINEAR
        return apply_voi(arr, center, width, function, 0.0, y_max)
    offered = windows(ds, frame)
    luts = voi_luts(ds)
    signed_input = _signed(ds) or _modality_is_signed(ds, frame)
    if luts and (prefer_lut or not offered):
        if not 0 <= index < len(luts):
            raise IndexError(f"VOI LUT index {index} asked for (from 0); the VOI LUT "
                             f"Sequence has {len(luts)} item(s)")
        return _voi_lut_sequence(arr, luts[index], signed_input, y_max)
    if offered:
        if not 0 <= index < len(offered):
            raise IndexError(f"window index {index} asked for (from 0); the data set has "
                             f"{len(offered)} window(s)")
        chosen = offered[index]
        return apply_voi(arr, chosen.center, chosen.width, chosen.function, 0.0, y_max)
    return np.asarray(arr)


def _modality_is_signed(ds: Dataset, frame: int | None) -> bool:
    """C.11.2.1.1: the VOI LUT's first value mapped is SS when rescaled values may be negative."""
    factors = rescale(ds, frame)
    return factors is not None and (factors[1] < 0 or factors[0] < 0)


def min_max_window(arr: Array) -> Window:
    """The LINEAR window spanning the values present, x1..x2: centre (x1+x2+1)/2, width
    x2-x1+1 (C.11.2.1.2.1, note 4). It maps x1 to y_min and x2 to y_max, whole or not."""
    data = np.asarray(arr)
    if data.size == 0:
        return Window(0.5, 1.0, LINEAR, "MIN-MAX")
    low, high = float(data.min()), float(data.max())
    return Window((low + high + 1) / 2, high - low + 1, LINEAR, "MIN-MAX")


# -- Presentation LUT (C.11.4, C.11.6) ----------------------------------------------------------
def apply_presentation_lut(arr: Array, ds: Dataset | None = None, shape: str | None = None,
                           y_max: float = 255.0) -> Array:
    """VOI output in [0, y_max] to P-Values in [0, y_max] (C.11.6).

    A Presentation LUT Sequence in ``ds`` maps through its table: its entries cover the whole
    input range, so the input is scaled to the table's length first (C.11.6.1: "implicitly
    scaled"), and its output to y_max. Otherwise the shape — ``shape``, or Presentation LUT
    Shape (2050,0020) of ``ds`` — is IDENTITY (unchanged) or INVERSE (``y_max - value``).
    """
    x = np.asarray(arr)
    if shape is None and ds is not None:
        if PRESENTATION_LUT_SEQUENCE in ds and ds[PRESENTATION_LUT_SEQUENCE].value:
            item = ds[PRESENTATION_LUT_SEQUENCE].value[0]
            descriptor, table = _lut_item(item, False)
            scaled = np.floor(x.astype(np.float64) * ((table.size - 1) / y_max) + 0.5)
            out = apply_lut_table(scaled, descriptor._replace(first_mapped=0), table)
            largest = int(table.max(initial=0))
            bits = descriptor.bits if largest < 1 << descriptor.bits else largest.bit_length()
            return out.astype(np.float64) * (y_max / ((1 << bits) - 1))
        shape = ds.get("PresentationLUTShape")
    shape = str(shape or IDENTITY).strip().upper()
    if shape == IDENTITY:
        return x
    if shape == INVERSE:
        return y_max - x
    raise ValueError(f"Presentation LUT Shape {shape!r} is not IDENTITY or INVERSE")


def to_uint8(arr: Array) -> Array:
    """VOI/Presentation output in [0, 255] rounded half up to uint8."""
    x = np.asarray(arr, dtype=np.float64)
    out = np.floor(x + 0.5)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)
