"""dicomkit's validator against dicom3tools ``dciodvfy -new``: every error dciodvfy reports is
found by us (same attribute), except the differences listed in ``DIFFERENCES`` with the
reason and the standard's section (docs/validation.md lists them too).

Files: pydicom's test collection, files DCMTK makes (``dump2dcm``, ``img2dcm``) and files
broken on purpose. dciodvfy's errors are matched by the tag that ends its attribute path; its
lines without a tag by their kind ("Information Object Not found": our SOP Class UID error).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import dicomkit
from dicomkit.iod.validate import validate
from tests.support.datasets import make_instance, pydicom_data_dir
from tests.support.dciodvfy import verify

pytestmark = pytest.mark.skipif(shutil.which("dciodvfy") is None,
                                reason="dicom3tools dciodvfy is not installed")

TEST_FILES = pydicom_data_dir() / "test_files"

# (file, a fragment of dciodvfy's error line) -> why dicomkit does not report it.
DIFFERENCES = {
    ("*", "Unrecognized enumerated value = <YBR_FULL"): (
        "dciodvfy ties Photometric Interpretation to the transfer syntax (JPEG baseline colour "
        "as YBR_FULL_422, PS3.5 §8.2.1; uncompressed YBR_FULL_422 refused, PS3.3 C.7.6.3.1.2) "
        "in its C++ code, not in the module tables dicomkit reads: not checked"),
    ("SC_rgb_jpeg.dcm", "Tag read failed - Implicit VR encoding"): (
        "an explicit VR file with implicit VR elements: dicomkit's reader reads them as DCMTK "
        "does (PS3.5 §7.1.3) without listing them"),
    ("SC_rgb_jpeg.dcm", "Illegal zero bytes where explicit"): ("same file, same cause",),
    ("SC_rgb_jpeg.dcm", "Dicom dataset read failed"): ("same file, same cause",),
    ("examples_ybr_color.dcm", "Value invalid for this VR [UT]"): (
        "a private UT holding XML with TAB, CR and LF: PS3.5 Table 6.2-1 (as core/vr.py reads "
        "it) allows these control characters in UT; dciodvfy refuses TAB"),
    ("image_dfl.dcm", ""): (
        "Deflated Explicit VR Little Endian (PS3.5 A.5): dciodvfy does not inflate it and "
        "reports the bytes as garbage; dicomkit reads the data set",),
    ("meta_missing_tsyntax.dcm", "Tags out of order"): (
        "no Transfer Syntax UID in the File Meta Information: dicomkit reports that (PS3.10 "
        "§7.1) and reads the data set as implicit VR little endian, which works"),
    ("meta_missing_tsyntax.dcm", "Dicom dataset read failed"): ("same file, same cause",),
    ("nested_priv_SQ.dcm", "Tags out of order"): (
        "a data set without File Meta Information that dicomkit reads whole; dciodvfy "
        "guesses another transfer syntax",),
    ("rtstruct.dcm", "FrameOfReference>"): (
        "dciodvfy checks the Frame of Reference module of the RT Structure Set IOD, whose "
        "usage is U (PS3.3 A.19.3); dicomkit checks a U module only when the data set holds "
        "an attribute that only it defines, and this file holds none"),
    ("test-SR.dcm", "Shall not be present for Referenced SOP Class that is not multi-frame"): (
        "an SR-specific rule of dciodvfy (PS3.3 C.18.3: Referenced Frame Number for "
        "multi-frame images only) that needs the referenced SOP Class's IOD: not checked"),
}
UNTAGGED = {"Information Object Not found": "00080016",
            "Metaheader present but doesn't contain Transfer Syntax UID": "00020010"}


def dciodvfy_errors(path: Path) -> list[tuple[str, str]]:
    """(tag GGGGEEEE or "", line) of each Error line ``dciodvfy -new`` prints."""
    result = []
    for line in verify(path, new_format=True).errors:
        found = re.match(r"Error - </(.*?)> - ", line)
        tags = re.findall(r"\(([0-9a-fA-F]{4}),([0-9a-fA-F]{4})", found.group(1)) if found else []
        tag = (tags[-1][0] + tags[-1][1]).upper() if tags else ""
        if not tag:
            tag = next((t for text, t in UNTAGGED.items() if text in line), "")
        result.append((tag, line))
    return result


def explained(name: str, line: str) -> bool:
    return any(file in (name, "*") and fragment in line
               for file, fragment in DIFFERENCES)


def our_error_tags(path: Path) -> set[str]:
    try:
        dataset = dicomkit.read(path)
    except dicomkit.DicomError:
        return {"00080016"}  # not readable as DICOM: no IOD found either
    return {f.tag for f in validate(dataset) if f.severity == "error"} | {
        "00080016" for f in validate(dataset) if f.message.startswith("read:")}


def dciodvfy_runs(path: Path) -> bool:
    """dciodvfy aborts on some files (an assertion on Bits Allocated): nothing to compare."""
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, check=False,
                            timeout=120)
    return result.returncode >= 0 and b"Assertion" not in result.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in TEST_FILES.glob("*.dcm")))
def test_every_dciodvfy_error_on_pydicom_test_files_is_found(name):
    path = TEST_FILES / name
    if not dciodvfy_runs(path):
        pytest.skip("dciodvfy aborts on this file")
    ours = our_error_tags(path)
    missed = [line for tag, line in dciodvfy_errors(path)
              if tag not in ours and not explained(name, line)]
    assert missed == []


def test_every_difference_listed_still_occurs():
    """A listed difference that no longer happens is removed from the list."""
    for (name, fragment), _why in DIFFERENCES.items():
        if name == "*":
            continue
        lines = [line for _tag, line in dciodvfy_errors(TEST_FILES / name)]
        assert any(fragment in line for line in lines), (name, fragment)


def broken_instances() -> dict[str, dict[str, object]]:
    """Deliberately broken CT images: the attributes set (None removes one)."""
    return {
        "missing_type1": {"StudyInstanceUID": None},
        "missing_type2": {"PatientID": None, "StudyDate": None},
        "bad_date_time": {"StudyDate": "2024-01-05", "StudyTime": "8:15"},
        "bad_enumerated": {"PatientSex": "X"},
        "bad_uid": {"SeriesInstanceUID": "1.2.03.4"},
        "long_short_string": {"StationName": "S" * 20},
        "lower_case_code_string": {"Modality": "ct"},
        "bad_age": {"PatientAge": "45"},
        "same_uid_twice": {"FrameOfReferenceUID": "1.2.826.0.1.3680043.10.1",
                           "StudyInstanceUID": "1.2.826.0.1.3680043.10.1"},
    }


@pytest.mark.parametrize("case", sorted(broken_instances()))
def test_broken_files_dciodvfy_errors_are_found(case, tmp_path):
    ds = make_instance(PatientPosition="HFS", PositionReferenceIndicator="",
                       AcquisitionNumber=1, **broken_instances()[case])
    path = tmp_path / f"{case}.dcm"
    dicomkit.write(ds, path)
    theirs = dciodvfy_errors(path)
    assert theirs, "the broken file should break dciodvfy's rules too"
    ours = our_error_tags(path)
    assert [line for tag, line in theirs if tag not in ours] == []


def test_a_file_dump2dcm_makes(tmp_path, dcmtk):
    """DCMTK's dump2dcm writes what the dump says, with its own meta header."""
    dump = tmp_path / "sc.dump"
    dump.write_text("""
(0008,0016) UI =SecondaryCaptureImageStorage
(0008,0018) UI [1.2.826.0.1.3680043.10.99.1]
(0008,0020) DA [2024.01.05]
(0008,0060) CS [ot]
(0008,0064) CS [WSD]
(0010,0010) PN [Doe^Jane]
(0010,0040) CS [Q]
(0020,000d) UI [1.2.826.0.1.3680043.10.99.2]
(0020,000e) UI [1.2.826.0.1.3680043.10.99.3]
(0028,0002) US 1
(0028,0004) CS [MONOCHROME2]
(0028,0010) US 2
(0028,0011) US 2
(0028,0100) US 8
(0028,0101) US 8
(0028,0102) US 7
(0028,0103) US 0
(7fe0,0010) OB 00\\01\\02\\03
""")
    path = tmp_path / "sc.dcm"
    dcmtk.run("dump2dcm", "+te", str(dump), str(path))
    theirs = dciodvfy_errors(path)
    assert theirs
    ours = our_error_tags(path)
    assert [line for tag, line in theirs if tag not in ours] == []


def test_a_file_img2dcm_makes(tmp_path):
    img2dcm = shutil.which("img2dcm")
    if img2dcm is None:
        pytest.skip("DCMTK img2dcm is not installed")
    import imagecodecs
    import numpy as np

    jpeg = tmp_path / "photo.jpg"
    pixels = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    jpeg.write_bytes(bytes(imagecodecs.jpeg8_encode(pixels)))
    path = tmp_path / "photo.dcm"
    subprocess.run([img2dcm, str(jpeg), str(path)], check=True, capture_output=True)
    ours = our_error_tags(path)
    assert [line for tag, line in dciodvfy_errors(path)
            if tag not in ours and not explained("*", line)] == []
