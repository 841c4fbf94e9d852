"""Reading a Segmentation or Label Map Segmentation back into masks in the geometry of its
source series (PS3.3 A.51, C.8.20; Supplement 243).

:class:`Segmentation` opens a SEG without decoding its pixels (the file is memory-mapped when
large, :func:`dicomkit.encoding.reader.read`), maps each of its frames to the source frame it
was derived from (Derivation Image Sequence → Source Image Sequence, PS3.3 C.7.6.16.2.6), and
decodes frames only when a segment is asked for.

The source frames, which are the first axis of every array returned, are:

- with ``sources`` (a list of single-frame images, or one multi-frame image): those frames in
  the order given, so masks given to :func:`dicomkit.seg.create` come back as they went in;
- without: the instances the SEG lists in Referenced Series Sequence (and any its frames
  reference beyond them). Single-frame instances are sorted along the slice normal by Image
  Position (Patient) when the SEG's frames give the position of every one; otherwise they keep
  the order of the listing (dicomkit writes that list in the source order, so its own SEGs read
  back in the order they were made). A multi-frame source gives frames 1 to the highest frame
  number the SEG references.

Source frames no SEG frame covers (empty frames are omitted when writing) come back zero.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.reader import read
from dicomkit.errors import DicomError
from dicomkit.pixels.info import PIXEL_DATA
from dicomkit.pixels.native import PixelSource
from dicomkit.seg.description import SegmentDescription
from dicomkit.seg.errors import SegmentationError
from dicomkit.seg.geometry import Sources, along, load_sources, normal, source_series

RELEASE_EVERY = 256
"""While reading all segments, the mapped Pixel Data pages are given back every this many
frames (see :meth:`Segmentation.release`)."""

SourceKey = tuple[str, int | None]
"""A source frame: (SOP Instance UID, frame number or None for a single-frame instance)."""


@dataclass(frozen=True)
class SegFrame:
    """One frame of the SEG: which segment (0 for a label map) on which source frame."""

    segment: int
    source: SourceKey | None
    position: tuple[float, float, float] | None


class Segmentation:
    """A SEG instance, read lazily: segment descriptions, frame map, masks on demand."""

    def __init__(self, ds: Dataset) -> None:
        try:
            self._read_header(ds)
        except SegmentationError:
            raise
        except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
            # A value of the wrong kind or multiplicity where the header is read: malformed.
            raise SegmentationError(f"the SEG's header is malformed: {exc!r}") from exc

    def _read_header(self, ds: Dataset) -> None:
        self.ds = ds
        kind = str(ds.get("SegmentationType") or "")
        if kind not in ("BINARY", "FRACTIONAL", "LABELMAP"):
            raise SegmentationError(f"Segmentation Type {kind!r} is not BINARY, FRACTIONAL or "
                                    "LABELMAP (is this a Segmentation instance?)")
        self.kind = kind
        self.rows = _positive(ds, "Rows")
        self.columns = _positive(ds, "Columns")
        self.bits = _positive(ds, "BitsAllocated")
        expected = {"BINARY": (1,), "FRACTIONAL": (8,), "LABELMAP": (8, 16)}[kind]
        if self.bits not in expected:
            raise SegmentationError(f"a {kind} segmentation has Bits Allocated "
                                    f"{' or '.join(map(str, expected))}, not {self.bits}")
        self.number_of_frames = _positive(ds, "NumberOfFrames", default=1)
        self.max_fractional_value = (_positive(ds, "MaximumFractionalValue")
                                     if kind == "FRACTIONAL" else 1)
        self.segments = [SegmentDescription.from_dataset(item)
                         for item in ds.get("SegmentSequence") or []]
        numbers = [segment.number for segment in self.segments]
        if not numbers:
            raise SegmentationError("the SEG has no Segment Sequence")
        # A label map may describe its background as segment 0 (highdicom does); the masks
        # hold the segments proper, 1..n.
        self.segment_numbers = sorted(n for n in numbers if n > 0)
        self.described = set(numbers)
        self.orientation = _orientation(ds)
        self.frames = self._frames()
        self._own_placement: tuple[list[SourceKey], list[int]] | None = None
        self._source: PixelSource | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str] | bytes) -> Segmentation:
        """Open a SEG file (or its bytes); pixel data stays on disk until used."""
        return cls(read(path))

    # -- the frame map ------------------------------------------------------------------------
    def _frames(self) -> list[SegFrame]:
        ds = self.ds
        per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
        if len(per_frame) != self.number_of_frames:
            raise SegmentationError(f"Number of Frames is {self.number_of_frames} but the "
                                    f"Per-frame Functional Groups Sequence has "
                                    f"{len(per_frame)} item(s)")
        shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
        known = self.described
        frames = []
        for index, item in enumerate(per_frame):
            where = f"SEG frame {index + 1}"
            segment = 0
            if self.kind != "LABELMAP":
                identification = (item.get("SegmentIdentificationSequence")
                                  or shared.get("SegmentIdentificationSequence"))
                if not identification or "ReferencedSegmentNumber" not in identification[0]:
                    raise SegmentationError(f"{where}: no Segment Identification Sequence")
                segment = _number(identification[0].ReferencedSegmentNumber,
                                  f"{where}: Referenced Segment Number")
                if segment not in known:
                    raise SegmentationError(f"{where}: Referenced Segment Number {segment} is "
                                            "not in the Segment Sequence")
            frames.append(SegFrame(segment, _source_of(item, shared),
                                   _position_of(item, shared, where)))
        return frames

    def source_frames(self, sources: Sources | None = None
                      ) -> list[SourceKey]:
        """The first axis of the masks (see the module docstring for the rule)."""
        if sources is not None:
            series = source_series(load_sources(sources))
            return [(frame.sop_instance, frame.frame_number) for frame in series.frames]
        listed: list[str] = []
        for series_item in self.ds.get("ReferencedSeriesSequence") or []:
            for instance in series_item.get("ReferencedInstanceSequence") or []:
                uid = str(instance.get("ReferencedSOPInstanceUID") or "")
                if uid and uid not in listed:
                    listed.append(uid)
        numbered: dict[str, int] = {}
        positions: dict[str, tuple[float, float, float]] = {}
        for frame in self.frames:
            if frame.source is None:
                continue
            uid, number = frame.source
            if uid not in listed:
                listed.append(uid)
            if number is not None:
                numbered[uid] = max(numbered.get(uid, 0), number)
            elif frame.position is not None:
                positions[uid] = frame.position
        keys: list[SourceKey] = []
        single = [uid for uid in listed if uid not in numbered]
        if single and self.orientation is not None and all(uid in positions for uid in single):
            direction = normal(self.orientation)
            single.sort(key=lambda uid: along(positions[uid], direction))
        for uid in listed:
            if uid in numbered:
                keys.extend((uid, n) for n in range(1, numbered[uid] + 1))
        keys.extend((uid, None) for uid in single)
        if not keys:
            raise SegmentationError("the SEG names no source image (no Referenced Series "
                                    "Sequence and no Derivation Image Sequence)")
        return keys

    def _placement(self, sources: Sources | None
                   ) -> tuple[list[SourceKey], list[int]]:
        """(the source frames, the index among them of each SEG frame); kept for the SEG's
        own listing (``sources`` None), which does not change."""
        if sources is None and self._own_placement is not None:
            return self._own_placement
        loaded = load_sources(sources) if sources is not None else None
        keys = self.source_frames(loaded)
        where = {key: i for i, key in enumerate(keys)}
        positions = _source_positions(loaded)
        placed = []
        for index, frame in enumerate(self.frames):
            if frame.source is None and positions is not None and frame.position is not None:
                # No Derivation Image reference (it is conditional, PS3.3 A.51.5.1): the source
                # frame at the same Image Position (Patient).
                found = _at_position(positions, frame.position)
                if found is not None:
                    placed.append(found)
                    continue
            if frame.source is None or frame.source not in where:
                what = ("no source image" if frame.source is None else
                        f"source {frame.source[0]}"
                        + (f" frame {frame.source[1]}" if frame.source[1] else ""))
                raise SegmentationError(f"SEG frame {index + 1} references {what}, which is not "
                                        "among the source frames")
            placed.append(where[frame.source])
        if sources is None:
            self._own_placement = (keys, placed)
        return keys, placed

    # -- pixel values -------------------------------------------------------------------------
    def frame(self, index: int) -> Any:
        """The stored values of SEG frame ``index`` (from 0): uint8 (0/1 for BINARY) or
        uint16 for a 16-bit label map."""
        if not 0 <= index < self.number_of_frames:
            raise SegmentationError(f"SEG frame {index + 1} does not exist "
                                    f"({self.number_of_frames} frame(s))")
        source = self._pixels()
        if self.bits == 1 and not source.encapsulated:
            return _unpack(source.view, index, self.rows * self.columns).reshape(
                self.rows, self.columns)
        try:
            return source.decode(index, as_rgb=False)[0]
        except DicomError as exc:
            raise SegmentationError(f"SEG frame {index + 1} cannot be decoded: {exc}") from exc

    def _pixels(self) -> PixelSource:
        cached = self._source
        if cached is None:
            try:
                cached = PixelSource(self.ds)
            except Exception as exc:  # the pixel layer's own error, with the frame context
                raise SegmentationError(f"the SEG's Pixel Data cannot be read: {exc}") from exc
            if not cached.encapsulated:
                needed = (self.number_of_frames * self.rows * self.columns * self.bits + 7) // 8
                if len(cached.view) < needed:
                    raise SegmentationError(f"Pixel Data is {len(cached.view)} byte(s), "
                                            f"{self.number_of_frames} frame(s) need {needed}")
            self._source = cached
        return cached

    def release(self) -> None:
        """Give back the memory-mapped pages of Pixel Data read so far (they stay in the
        operating system's file cache): reading segment after segment of a large SEG then
        holds no more of the file than one segment's frames."""
        buffer = self.ds.buffer
        entry = self.ds.raw_entry(PIXEL_DATA) if PIXEL_DATA in self.ds else None
        if not isinstance(buffer, mmap.mmap) or type(entry) is not tuple \
                or not hasattr(mmap, "MADV_DONTNEED"):
            return
        start = entry[1] - entry[1] % mmap.PAGESIZE
        end = min(len(buffer), entry[1] + entry[2])
        if end > start:
            buffer.madvise(mmap.MADV_DONTNEED, start, end - start)

    def _allocate(self, shape: tuple[int, ...]) -> Any:
        """The result array, once the Pixel Data is known to hold every frame the header
        claims (so Rows and Columns are not just numbers in a header)."""
        self._pixels()
        try:
            return np.zeros(shape, dtype=self._dtype())
        except (MemoryError, ValueError) as exc:
            raise SegmentationError(f"masks shaped {shape} do not fit in memory: {exc}") from None

    def _dtype(self) -> Any:
        return np.float32 if self.kind == "FRACTIONAL" else np.uint8

    def _fill(self, out: Any, index: int, segment: int) -> None:
        values = self.frame(index)
        if self.kind == "LABELMAP":
            np.equal(values, segment, out=out)
        elif self.kind == "FRACTIONAL":
            np.multiply(values, np.float32(1.0 / self.max_fractional_value), out=out,
                        dtype=np.float32)
        else:
            out[...] = values

    def segment(self, number: int, *, sources: Sources | None = None
                ) -> Any:
        """One segment as (source frames, rows, columns): uint8 0/1, or float32 0..1 for
        FRACTIONAL. Only the SEG frames of that segment are decoded."""
        self._check_segment(number)
        keys, placed = self._placement(sources)
        out = self._allocate((len(keys), self.rows, self.columns))
        for index, frame in enumerate(self.frames):
            if frame.segment in (number, 0):
                self._fill(out[placed[index]], index, number)
        self.release()
        return out

    def masks(self, *, sources: Sources | None = None,
              segments: Iterable[int] | None = None) -> Any:
        """(source frames, rows, columns, segments): the segments in number order (or those
        asked for, in the order asked)."""
        numbers = list(segments) if segments is not None else self.segment_numbers
        for number in numbers:
            self._check_segment(number)
        keys, placed = self._placement(sources)
        out = self._allocate((len(keys), self.rows, self.columns, len(numbers)))
        column = {number: j for j, number in enumerate(numbers)}
        wanted = np.asarray(numbers, dtype=np.uint16)
        for index, frame in enumerate(self.frames):
            if self.kind == "LABELMAP":
                # every segment of the frame in one comparison, straight into the result
                np.equal(self.frame(index)[:, :, None], wanted, out=out[placed[index]])
            elif frame.segment in column:
                self._fill(out[placed[index], :, :, column[frame.segment]], index,
                           frame.segment)
            if index % RELEASE_EVERY == RELEASE_EVERY - 1:
                self.release()
        self.release()
        return out

    def _check_segment(self, number: int) -> None:
        if number not in self.described:
            raise SegmentationError(f"segment {number} is not in the SEG (segments "
                                    f"{self.segment_numbers})")


def read_masks(source: str | os.PathLike[str] | bytes | Dataset, *,
               sources: Sources | None = None,
               segments: Iterable[int] | None = None) -> Any:
    """The masks of a SEG shaped (source frames, rows, columns, segments): uint8 0/1 for BINARY
    and LABELMAP, float32 0..1 for FRACTIONAL (see the module docstring for the frame order)."""
    seg = Segmentation(source) if isinstance(source, Dataset) else Segmentation.open(source)
    return seg.masks(sources=sources, segments=segments)


def read_segments(source: str | os.PathLike[str] | bytes | Dataset) -> list[SegmentDescription]:
    """The segment descriptions of a SEG, in Segment Sequence order."""
    ds = source if isinstance(source, Dataset) else read(source, stop_before_pixels=True)
    return [SegmentDescription.from_dataset(item) for item in ds.get("SegmentSequence") or []]


# -- helpers ----------------------------------------------------------------------------------
POSITION_TOLERANCE = 0.01
"""Millimetres: a SEG frame with no source reference lies on the source frame whose Image
Position (Patient) is this close."""


def _source_positions(sources: Sources | None) -> Any:
    if sources is None:
        return None
    frames = source_series(load_sources(sources)).frames
    if any(frame.position is None for frame in frames):
        return None
    return np.array([frame.position for frame in frames], dtype=np.float64)


def _at_position(positions: Any, position: tuple[float, float, float]) -> int | None:
    distances = np.abs(positions - np.asarray(position)).max(axis=1)
    nearest = int(distances.argmin())
    return nearest if distances[nearest] <= POSITION_TOLERANCE else None


def _number(value: Any, what: str) -> int:
    """One integer from a value that should hold one (a corrupt file may hold several)."""
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SegmentationError(f"{what} is missing or not one number: {value!r}") from None


def _positive(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword)
    if value is None and default is not None:
        return default
    number = _number(value, keyword)
    if number <= 0:
        raise SegmentationError(f"{keyword} must be positive, not {number}")
    return number


def _orientation(ds: Dataset) -> tuple[float, ...] | None:
    shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    items = shared.get("PlaneOrientationSequence")
    if not items:
        per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
        items = per_frame[0].get("PlaneOrientationSequence") if per_frame else None
    value = items[0].get("ImageOrientationPatient") if items else None
    try:
        numbers = tuple(float(v) for v in value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return numbers if numbers is not None and len(numbers) == 6 else None


def _source_of(item: Dataset, shared: Dataset) -> SourceKey | None:
    derivations = item.get("DerivationImageSequence") or shared.get("DerivationImageSequence")
    for derivation in derivations or []:
        for reference in derivation.get("SourceImageSequence") or []:
            uid = reference.get("ReferencedSOPInstanceUID")
            if not uid:
                continue
            numbers = reference.get("ReferencedFrameNumber")
            if isinstance(numbers, list):
                numbers = numbers[0] if numbers else None
            return str(uid), (_number(numbers, "Referenced Frame Number")
                              if numbers else None)
    return None


def _position_of(item: Dataset, shared: Dataset, where: str
                 ) -> tuple[float, float, float] | None:
    items = item.get("PlanePositionSequence") or shared.get("PlanePositionSequence")
    value = items[0].get("ImagePositionPatient") if items else None
    if value is None:
        return None
    try:
        x, y, z = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SegmentationError(f"{where}: Image Position (Patient) is not three numbers: "
                                f"{value!r}") from None
    return x, y, z


def _unpack(view: memoryview, index: int, pixels: int) -> Any:
    """Frame ``index`` of bit-packed pixel data (frames not byte aligned, PS3.5 §8.1.1)."""
    start = index * pixels
    first, shift = divmod(start, 8)
    count = (shift + pixels + 7) // 8
    data = np.frombuffer(view, dtype=np.uint8, count=count, offset=first)
    bits = np.unpackbits(data, count=shift + pixels, bitorder="little")
    return bits[shift:]
