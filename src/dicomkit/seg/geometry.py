"""The source series a segmentation is aligned to: its frames, their positions and the plane
they share (PS3.3 C.7.6.2 Image Plane, C.7.6.16.2.3 Plane Position (Patient), C.7.6.16.2.4
Plane Orientation (Patient), C.7.6.16.2.1 Pixel Measures).

A source is either a list of single-frame images (CT/MR slices) or one multi-frame image with
functional groups. Either way it becomes a list of :class:`SourceFrame`, in the caller's order:
mask frame *i* is drawn on source frame *i*.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.reader import read
from dicomkit.seg.errors import SegmentationError

Sources = Sequence[Dataset | str | os.PathLike[str]] | Dataset
"""What a source series may be given as: data sets or paths (read header-only), or one
multi-frame data set."""

ORIENTATION_TOLERANCE = 1e-4
"""Direction cosines of two frames agree when each differs by less than this."""


@dataclass(frozen=True)
class SourceFrame:
    """One frame of the source series: the instance it is in and where it lies."""

    sop_class: str
    sop_instance: str
    frame_number: int | None  # 1-based for a multi-frame source, None for a single-frame one
    position: tuple[float, float, float] | None


@dataclass(frozen=True)
class SourceSeries:
    """What a segmentation takes from its source: frames, plane and identifying attributes."""

    frames: list[SourceFrame]
    rows: int
    columns: int
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    frame_of_reference: str
    study: Dataset  # the first source instance: patient, study and series attributes
    series_instance_uid: str

    @property
    def multiframe(self) -> bool:
        return self.frames[0].frame_number is not None


def normal(orientation: Sequence[float]) -> tuple[float, float, float]:
    """The slice normal: row direction × column direction (PS3.3 C.7.6.2.1.1)."""
    r = orientation[:3]
    c = orientation[3:6]
    return (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])


def along(position: Sequence[float], direction: Sequence[float]) -> float:
    """The distance of ``position`` along ``direction`` (a dot product)."""
    return sum(float(p) * float(d) for p, d in zip(position, direction, strict=True))


def _floats(value: object, count: int, what: str) -> tuple[float, ...] | None:
    if value is None or value == "":
        return None
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        numbers = tuple(float(v) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SegmentationError(f"{what} is not numeric: {value!r}") from None
    if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        raise SegmentationError(f"{what} must be {count} finite numbers, not {value!r}")
    return numbers


def _point(values: tuple[float, ...] | None) -> tuple[float, float, float] | None:
    return (values[0], values[1], values[2]) if values is not None else None


def _group(ds: Dataset, sequence: str, keyword: str, frame: Dataset | None) -> object:
    """An attribute from a functional group: the frame's own group first, then the shared one,
    then the top level (PS3.3 C.7.6.16)."""
    candidates = []
    if frame is not None:
        candidates.append(frame)
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        candidates.append(shared[0])
    for item in candidates:
        inner = item.get(sequence)
        if inner and keyword in inner[0]:
            return inner[0].get(keyword)
    return ds.get(keyword)


def _same_orientation(a: Sequence[float] | None, b: Sequence[float] | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(abs(x - y) < ORIENTATION_TOLERANCE for x, y in zip(a, b, strict=True))


def load_sources(sources: Sources | Sequence[Any]) -> list[Dataset]:
    """Data sets as given; paths (or bytes) read header-only (pixel data is not needed)."""
    if isinstance(sources, Dataset):
        return [sources]
    return [item if isinstance(item, Dataset) else read(item, stop_before_pixels=True)
            for item in sources]


def source_series(sources: Sequence[Dataset]) -> SourceSeries:
    """Check and describe the source series; :class:`SegmentationError` when it has no Frame of
    Reference, frames of mixed orientation or size, or instances of several series."""
    if isinstance(sources, Dataset):
        sources = [sources]
    if not sources:
        raise SegmentationError("no source images given")
    first = sources[0]
    frame_count = int(first.get("NumberOfFrames") or 1)
    if len(sources) == 1 and "PerFrameFunctionalGroupsSequence" in first:
        return _multiframe(first, frame_count)
    frames: list[SourceFrame] = []
    orientation = None
    rows, columns = _size(first, 0)
    for index, ds in enumerate(sources):
        where = f"source {index} ({ds.get('SOPInstanceUID', 'no SOP Instance UID')})"
        if int(ds.get("NumberOfFrames") or 1) != 1:
            raise SegmentationError(f"{where}: a multi-frame source must be given alone")
        if _size(ds, index) != (rows, columns):
            raise SegmentationError(f"{where}: {_size(ds, index)} pixels, the first source has "
                                    f"{(rows, columns)}: all frames must have one size")
        for keyword in ("FrameOfReferenceUID", "SeriesInstanceUID", "StudyInstanceUID"):
            if ds.get(keyword) != first.get(keyword):
                raise SegmentationError(f"{where}: {keyword} differs from the first source's; "
                                        "the sources must be one series")
        this = _floats(ds.get("ImageOrientationPatient"), 6, f"{where}: Image Orientation")
        if index == 0:
            orientation = this
        elif not _same_orientation(orientation, this):
            raise SegmentationError(f"{where}: Image Orientation (Patient) {this} differs from "
                                    f"the first source's {orientation} (mixed orientation)")
        position = _point(_floats(ds.get("ImagePositionPatient"), 3, f"{where}: Image Position"))
        frames.append(SourceFrame(_uid(ds, "SOPClassUID", where),
                                  _uid(ds, "SOPInstanceUID", where), None, position))
    _check_unique(frames)
    spacing = _floats(first.get("PixelSpacing"), 2, "source 0: Pixel Spacing")
    thickness = _floats(first.get("SliceThickness"), 1, "source 0: Slice Thickness")
    return SourceSeries(frames, rows, columns, orientation,
                        (spacing[0], spacing[1]) if spacing else None,
                        thickness[0] if thickness else None, _frame_of_reference(first),
                        first, _uid(first, "SeriesInstanceUID", "source 0"))


def _multiframe(ds: Dataset, frame_count: int) -> SourceSeries:
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(per_frame) != frame_count:
        raise SegmentationError(f"the multi-frame source has {frame_count} frame(s) but "
                                f"{len(per_frame)} per-frame functional group item(s)")
    rows, columns = _size(ds, 0)
    sop_class = _uid(ds, "SOPClassUID", "the source")
    sop_instance = _uid(ds, "SOPInstanceUID", "the source")
    frames = []
    orientation = None
    for index, item in enumerate(per_frame):
        where = f"source frame {index + 1}"
        this = _floats(_group(ds, "PlaneOrientationSequence", "ImageOrientationPatient", item),
                       6, f"{where}: Image Orientation")
        if index == 0:
            orientation = this
        elif not _same_orientation(orientation, this):
            raise SegmentationError(f"{where}: Image Orientation (Patient) {this} differs from "
                                    f"frame 1's {orientation} (mixed orientation)")
        position = _point(_floats(_group(ds, "PlanePositionSequence", "ImagePositionPatient",
                                         item), 3, f"{where}: Image Position"))
        frames.append(SourceFrame(sop_class, sop_instance, index + 1, position))
    spacing = _floats(_group(ds, "PixelMeasuresSequence", "PixelSpacing", None), 2,
                      "source: Pixel Spacing")
    thickness = _floats(_group(ds, "PixelMeasuresSequence", "SliceThickness", None), 1,
                        "source: Slice Thickness")
    return SourceSeries(frames, rows, columns, orientation,
                        (spacing[0], spacing[1]) if spacing else None,
                        thickness[0] if thickness else None, _frame_of_reference(ds), ds,
                        _uid(ds, "SeriesInstanceUID", "the source"))


def _size(ds: Dataset, index: int) -> tuple[int, int]:
    try:
        rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    except (TypeError, ValueError):
        rows = columns = 0
    if rows <= 0 or columns <= 0:
        raise SegmentationError(f"source {index}: no Rows and Columns")
    return rows, columns


def _uid(ds: Dataset, keyword: str, where: str) -> str:
    value = ds.get(keyword)
    if not value:
        raise SegmentationError(f"{where}: no {keyword}")
    return str(value)


def _frame_of_reference(ds: Dataset) -> str:
    value = ds.get("FrameOfReferenceUID")
    if not value:
        raise SegmentationError("the sources have no Frame of Reference UID: a segmentation "
                                "is drawn in its source's frame of reference (PS3.3 C.7.4.1)")
    return str(value)


def _check_unique(frames: list[SourceFrame]) -> None:
    seen: dict[str, int] = {}
    for index, frame in enumerate(frames):
        if frame.sop_instance in seen:
            raise SegmentationError(f"source {index} repeats source {seen[frame.sop_instance]} "
                                    f"(SOP Instance UID {frame.sop_instance})")
        seen[frame.sop_instance] = index
