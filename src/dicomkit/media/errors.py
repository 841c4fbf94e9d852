"""The media package's errors."""

from __future__ import annotations

from dicomkit.errors import InvalidDicomError


class MediaError(InvalidDicomError):
    """A DICOMDIR or File-set that breaks PS3.10 §8 / PS3.3 F.3: where (byte offset, record)
    and what."""
