"""The error of :mod:`dicomkit.sr`."""

from __future__ import annotations

from dicomkit.errors import DicomError


class SRError(DicomError, ValueError):
    """A structured report that breaks PS3.3 (C.17, C.18, A.35): the message names the
    content item by its position path ("1.3.2": the root is 1, then the 1-based place in
    each Content Sequence, as PS3.3 C.17.3.2.4 numbers them) and the rule."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"content item {path}: {message}" if path else message)


class SRWarning(UserWarning):
    """Something a reader accepts that a writer refuses (a document another tool wrote that
    departs from a PS3.3 rule dicomkit keeps when it writes); the message names the content
    item by its position path and the rule."""
