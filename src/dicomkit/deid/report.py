"""What de-identification did: one :class:`Change` per attribute changed, collected in a
:class:`Report` per data set (the JSON report of ``dicomkit deid --report``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dicomkit.errors import DicomError


class DeidError(DicomError):
    """A data set that cannot be de-identified as asked (the reason says what and where)."""


@dataclass
class Change:
    """One change the profile made: ``tag`` ("GGGGEEEE"), ``path`` (``Keyword`` or
    ``Sequence[0].Keyword``), the action as applied, ``before`` (keyed fingerprint of the
    original value, :meth:`Keys.before`) and ``after`` (the new value; None when removed)."""

    tag: str
    path: str
    action: str
    before: str | None
    after: Any

    def as_dict(self, file: str = "") -> dict[str, Any]:
        found = {"tag": self.tag, "path": self.path, "action": self.action,
                 "before": self.before, "after": self.after}
        return {"file": file, **found} if file else found


@dataclass
class Report:
    """What :func:`deidentify` did to one data set. With ``record`` false (a batch with no
    ``--report``) the profile only counts its changes (``unrecorded``): fingerprinting each
    original value and naming its path cost a third of the de-identification."""

    file: str = ""
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    record: bool = True
    unrecorded: int = 0

    @property
    def count(self) -> int:
        """The number of changes made, recorded or not."""
        return len(self.changes) + self.unrecorded

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "changes": [c.as_dict() for c in self.changes],
                "notes": list(self.notes)}
