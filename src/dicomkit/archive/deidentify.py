"""A de-identified copy of a stored study, stored as a new study (PS3.15 Annex E,
:mod:`dicomkit.deid`).

:func:`deidentify_study` reads each instance of the study from the archive, de-identifies it with
one :class:`~dicomkit.deid.Deidentifier` (so every instance gets the same new Study Instance
UID, the same new patient identity and consistent references) and stores the result through
:meth:`Archive.commit_bytes` — the same durable path as a C-STORE — beside the original. The
original study is not touched. ``POST /dicom-web/studies/{study}/deidentify`` (web/deidentify.py)
calls it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dicomkit.archive.schema import studies
from dicomkit.archive.store import Archive
from dicomkit.deid import Deidentifier, Keys
from dicomkit.encoding.reader import read
from dicomkit.encoding.writer import to_bytes
from dicomkit.errors import DicomError


@dataclass
class StudyCopy:
    """The outcome: the new study's UID (empty when nothing was stored), instances stored,
    and (SOP Instance UID, reason) of each instance that failed."""

    study_uid: str = ""
    stored: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    changes: int = 0


class StudyNotFound(LookupError):
    """The archive holds no such study."""


def deidentify_study(archive: Archive, study_uid: str, options: Iterable[str] = (),
                     key: bytes | str | Keys | None = None) -> StudyCopy:
    """Store a de-identified copy of ``study_uid``; see the module docstring. Raises
    :class:`~dicomkit.deid.OptionError` for a bad option and :class:`StudyNotFound`."""
    profile = Deidentifier(options, key, record=False)  # only the count is kept
    rows = archive.index.instances_of([studies.c.study_uid == study_uid])
    if not rows:
        raise StudyNotFound(f"the archive holds no study {study_uid}")
    result = StudyCopy()
    for row in rows:
        try:
            ds = read(archive.absolute(row.path), max_inflated=archive.max_inflated)
            out, report = profile(ds, file=row.sop_uid)
            data = to_bytes(out, transfer_syntax=out.transfer_syntax or row.transfer_syntax
                            or None)
            archive.commit_bytes(data)
        except (DicomError, OSError, ValueError) as exc:
            result.failed.append((row.sop_uid, str(exc).splitlines()[0] if str(exc)
                                  else type(exc).__name__))
            continue
        result.stored += 1
        result.changes += report.count
        result.study_uid = str(out.get("StudyInstanceUID") or "")
    return result
