"""Segmentations (PS3.3 A.51 Segmentation IOD, C.8.20; the Label Map Segmentation IOD of
Supplement 243): make them from numpy masks aligned to a source series, read them back.

- :func:`create`: BINARY (bit-packed), FRACTIONAL (PROBABILITY or OCCUPANCY) or LABELMAP from
  (frames, rows, columns) segment numbers or (frames, rows, columns, segments) masks.
- :func:`read_masks`: (source frames, rows, columns, segments) in the source geometry;
  :func:`read_segments`: the segment descriptions; :class:`Segmentation`: lazy, per segment.
- :class:`SegmentDescription`, :class:`AlgorithmIdentification`: what a segment is.
- :class:`SegmentationError`: every refusal, naming the frame, segment or source.
"""

from __future__ import annotations

from dicomkit.seg.create import create
from dicomkit.seg.description import AlgorithmIdentification, SegmentDescription
from dicomkit.seg.errors import SegmentationError
from dicomkit.seg.read import Segmentation, read_masks, read_segments

__all__ = [
    "AlgorithmIdentification", "SegmentDescription", "Segmentation", "SegmentationError",
    "create", "read_masks", "read_segments",
]
