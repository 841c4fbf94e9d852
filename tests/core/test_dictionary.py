"""Data dictionary lookups (PS3.6 Tables 6-1, 7-1, 8-1) and the vendor private dictionary."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

from dicomkit.core import dictionary as d
from dicomkit.core.dictionary import (
    DictEntry,
    entry,
    keyword_for_tag,
    private_entry,
    tag_for_keyword,
    vr_for_tag,
    vrs_for_tag,
)
from tests.support.paths import STANDARD

DATA = Path(d.__file__).parent / "data" / "dictionary.tsv"
SOURCE = STANDARD / "data_elements.tsv.gz"  # PS3.6 Tables 6-1, 7-1, 8-1 (see its README)


def _rows(path: Path) -> list[list[str]]:
    if path.suffix == ".gz":
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines()[1:]]


def test_patient_name_exact() -> None:
    assert entry(0x00100010) == DictEntry("(0010,0010)", "PN", "1", "Patient's Name",
                                          "PatientName", False)


def test_pixel_data_ambiguous_vr() -> None:
    e = entry(0x7FE00010)
    assert e is not None and e.vr == "OB or OW" and e.keyword == "PixelData"
    assert vrs_for_tag(0x7FE00010) == ("OB", "OW")
    assert vr_for_tag(0x7FE00010) == "OB"


def test_smallest_image_pixel_value_us_or_ss() -> None:
    assert vrs_for_tag(0x00280106) == ("US", "SS")
    assert vr_for_tag(0x00280106) == "US"


def test_overlay_data_repeating_group() -> None:
    e = entry(0x60023000)
    assert e is not None
    assert (e.tag, e.keyword, e.vr) == ("(60xx,3000)", "OverlayData", "OB or OW")


def test_curve_data_repeating_group() -> None:
    e = entry(0x50103000)
    assert e is not None and e.keyword == "CurveData" and e.retired
    assert keyword_for_tag(0x50100005) == "CurveDimensions"
    assert keyword_for_tag(0x50102000) == "AudioType"  # (50xx,2000)


def test_repeating_element_1000_xxx1() -> None:
    e = entry(0x10000011)
    assert e is not None and e.tag == "(1000,xxx1)" and e.keyword == "RunLengthTriplet"


def test_odd_group_never_matches_standard_pattern() -> None:
    assert entry(0x60013000) is None
    assert entry(0x50113000) is None


def test_exact_beats_pattern() -> None:
    assert keyword_for_tag(0x00280400) == "TransformLabel"  # not (0028,04x0)


def test_group_length() -> None:
    e = entry(0x00100000)
    assert e is not None and (e.vr, e.keyword, e.name) == ("UL", "", "Group Length")
    assert vr_for_tag(0x00090000) == "UL"
    assert vr_for_tag(0x50000000) == "UL"  # not CurveData
    assert keyword_for_tag(0x00020000) == "FileMetaInformationGroupLength"


def test_private_creator() -> None:
    e = entry(0x00290010)
    assert e is not None and (e.vr, e.name, e.tag) == ("LO", "Private Creator", "(0029,0010)")
    assert vr_for_tag(0x001900FF) == "LO"


def test_unknown() -> None:
    assert entry(0x00291010) is None
    assert entry(0x00100001) is None
    assert keyword_for_tag(0x00291010) == ""
    assert vr_for_tag(0x00291010) == "UN"
    assert vrs_for_tag(0x00291010) == ("UN",)
    assert tag_for_keyword("NoSuchKeyword") is None


def test_retired_flag() -> None:
    e = entry(0x00000001)
    assert e is not None and e.keyword == "CommandLengthToEnd" and e.retired
    e = entry(0x00100010)
    assert e is not None and e.retired is False


def test_dicom3tools_additions() -> None:
    assert tag_for_keyword("CurrentFrameFunctionalGroupsSequence") == 0x00060001
    assert vr_for_tag(0x00060001) == "SQ"


def test_keyword_tag_round_trip_all_rows() -> None:
    rows = _rows(DATA)
    assert len(rows) >= 5277
    checked = 0
    for t, vr, _vm, kw, _name, retired, _src in rows:
        if "x" in t:
            continue
        tag = int(t, 16)
        e = entry(tag)
        assert e is not None and e.vr == vr and e.retired == (retired == "Y"), t
        assert keyword_for_tag(tag) == kw, t
        if kw:
            assert tag_for_keyword(kw) == tag, kw
            checked += 1
    assert checked > 5000


def test_every_source_row_present() -> None:
    ours = {r[0]: r for r in _rows(DATA)}
    for tag, vr, vm, name, kw, retired in _rows(SOURCE):
        t = tag[1:5].upper().replace("X", "x") + tag[6:10].upper().replace("X", "x")
        assert ours[t][1:6] == [vr, vm, kw, name, retired], tag


def test_pattern_keyword_maps_to_base_tag() -> None:
    assert tag_for_keyword("OverlayData") == 0x60003000
    assert tag_for_keyword("CurveData") == 0x50003000
    assert tag_for_keyword("VariablePixelData") == 0x7F000010
    for kw in ("OverlayRows", "CurveData", "AudioType", "VariablePixelData", "SourceImageIDs"):
        tag = tag_for_keyword(kw)
        assert tag is not None and keyword_for_tag(tag) == kw
    # documented exceptions: the x = 0 base tag has another meaning
    assert tag_for_keyword("EscapeTriplet") == 0x10000000
    assert keyword_for_tag(0x10000000) == ""  # group length (1000,0000)
    assert keyword_for_tag(0x10000010) == "EscapeTriplet"


def test_private_entry_block_agnostic() -> None:
    for block in (0x10, 0x11, 0x20):
        e = private_entry("SIEMENS CSA HEADER", 0x00290010 | (block << 8))
        assert e is not None and e.vr == "OB" and e.name == "CSA Image Header Info"
    # padded creator value as read from a file
    assert private_entry("SIEMENS CSA HEADER ", 0x00291010) is not None
    assert private_entry("SIEMENS CSA HEADER", 0x00290010) is None  # creator element itself
    assert private_entry("NO SUCH CREATOR", 0x00291010) is None


def test_private_entry_group_pattern_and_exact() -> None:
    e = private_entry("PAPYRUS 3.0", 0x60021010)
    assert e is not None and e.name == "Overlay Rows"
    e = private_entry("ELSCINT1", 0x00E11021)
    assert e is not None and e.name == "DLP"


def test_import_reads_no_file() -> None:
    code = (
        "import builtins, io\n"
        "opened = []\n"
        "orig = io.open\n"
        "builtins.open = lambda *a, **k: (opened.append(a[0]), orig(*a, **k))[1]\n"
        "import dicomkit.core.dictionary, dicomkit.core.uid\n"
        "assert not [p for p in opened if str(p).endswith('.tsv')], opened\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PYTHONPATH": str(Path(d.__file__).parents[2])})
