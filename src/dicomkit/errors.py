"""The dicomkit error hierarchy: every error the package raises derives from ``DicomError``."""

from __future__ import annotations


class DicomError(Exception):
    """Base class of every dicomkit error."""


class InvalidDicomError(DicomError):
    """Input that is not valid DICOM, with where it went wrong (byte offset and tag)."""

    def __init__(self, message: str, *, offset: int | None = None, tag: int | None = None) -> None:
        self.offset = offset
        self.tag = tag
        self.reason = message
        where = []
        if offset is not None:
            where.append(f"at offset 0x{offset:08x} ({offset})")
        if tag is not None:
            where.append(f"tag ({tag >> 16:04X},{tag & 0xFFFF:04X})")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class NotSupportedError(DicomError):
    """A valid DICOM feature that dicomkit does not (yet) implement."""


class CharsetEncodeError(DicomError):
    """A character that none of the listed Specific Character Sets can encode."""
