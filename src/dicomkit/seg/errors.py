"""The one error of the segmentation package."""

from __future__ import annotations

from dicomkit.errors import DicomError


class SegmentationError(DicomError, ValueError):
    """Masks, segments, sources or a SEG object that cannot make or give a segmentation; the
    message names the frame, segment or source at fault."""
