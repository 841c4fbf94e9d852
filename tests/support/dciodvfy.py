"""dicom3tools ``dciodvfy``: the independent IOD check every object dicomkit creates must pass.

``dciodvfy FILE`` prints the IOD it recognised, then ``Error - …`` and ``Warning - …`` lines
(on stderr). ``verify`` returns them; ``assert_valid`` fails the test on any Error line
(warnings are allowed, they are returned for tests that want them). Skips when the tool is
not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DCIODVFY = shutil.which("dciodvfy")


@dataclass
class Verdict:
    """What ``dciodvfy`` said about one file."""

    iod: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def verify(path: Path | str, *, new_format: bool = False) -> Verdict:
    """Run ``dciodvfy`` on ``path`` (``-new`` message format when ``new_format``)."""
    if DCIODVFY is None:
        pytest.skip("dicom3tools dciodvfy is not installed")
    args = [DCIODVFY, *(["-new"] if new_format else []), str(path)]
    result = subprocess.run(args, capture_output=True, encoding="latin-1", check=False,
                            timeout=120)
    verdict = Verdict(iod="")
    for line in (result.stderr + result.stdout).splitlines():
        if line.startswith("Error"):
            verdict.errors.append(line)
        elif line.startswith("Warning"):
            verdict.warnings.append(line)
        elif line.strip() and not verdict.iod and " " not in line.strip():
            verdict.iod = line.strip()
    return verdict


def assert_valid(path: Path | str) -> Verdict:
    """Fail the test when ``dciodvfy`` reports any Error for ``path``."""
    verdict = verify(path)
    if verdict.errors:
        pytest.fail(f"dciodvfy {path} ({verdict.iod or 'no IOD recognised'}):\n"
                    + "\n".join(verdict.errors))
    return verdict


#: What the installed dciodvfy (older than Supplement 243) says about a label map checked
#: against the Segmentation IOD: LABELMAP is a new enumerated value and a label map has no
#: Segment Identification (one frame holds every segment).
LABELMAP_ONLY_ERRORS = (
    "Unrecognized enumerated value <LABELMAP> for value 1 of attribute <Segmentation Type>",
    "Missing attribute Type 1 Required Element=<SegmentIdentificationSequence> "
    "Module=<SegmentationMacro>",
)
#: The one message dciodvfy gives a report that references a segment of a label map: its
#: snapshot does not count Label Map Segmentation Storage among the segmentation classes
#: (PS3.3 C.18.4 allows Referenced Segment Number for it).
LABELMAP_REFERENCE_ERROR = "not segmentation - attribute <ReferencedSegmentNumber>"


def assert_valid_label_map(path: Path, scratch: Path) -> None:
    """A Label Map Segmentation, which dciodvfy predates ("Information Object Not found"):
    the same object is checked as a Segmentation (its SOP Class changed, in ``scratch``) and
    only the label-map differences (:data:`LABELMAP_ONLY_ERRORS`) are allowed."""
    from dicomkit import read, write
    from dicomkit.core.uid import registered

    verdict = verify(path)
    assert verdict.errors == ["Error - Information Object Not found"], verdict.errors
    ds = read(path)
    ds.SOPClassUID = registered("SegmentationStorage")
    ds.file_meta = None
    relabelled = scratch / f"{Path(path).stem}-as-segmentation.dcm"
    write(ds, relabelled)
    verdict = verify(relabelled)
    assert verdict.iod == "Segmentation"
    unexpected = [e for e in verdict.errors
                  if not any(e.endswith(allowed) for allowed in LABELMAP_ONLY_ERRORS)]
    assert not unexpected, unexpected
