"""Issue 10 defects 6 (and the dump side of 4 and 5): ``dicomkit dump`` on bytes outside
printable ASCII in values of VRs without a character set prints them as ``dcmdump +Qo`` does
(octal escapes), and on an output that cannot encode a character (``PYTHONIOENCODING=ascii``,
``LC_ALL=C``, a pipe) every mode still writes valid output: the tree, JSON (checked against
pydicom's values) and XML. Files are crafted byte by byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.dcmtk import Dcmtk, parse_dcmdump
from tests.support.encoding import explicit, long_sop_class_file, padding_value_file, part10

SRC = str(Path(__file__).resolve().parents[2] / "src")
# (tag, VR, value bytes): 0xE9 in UI, CS, DA, AE, a control byte in CS (even lengths)
VALUES = [
    (0x00080016, "UI", b"1.2.840.10008.5.1.4.1.1.7\0"),
    (0x00080018, "UI", b"1.2.3.\xe9\0"),
    (0x00080020, "DA", b"2020\xe9101"),
    (0x00080054, "AE", b"AE\xe9T"),
    (0x00080060, "CS", b"C\xe9"),
    (0x00080064, "CS", b"W\x01"),
]
ESCAPED = {0x00080018: "[1.2.3.\\351]", 0x00080020: "[2020\\351101]",
           0x00080054: "[AE\\351T]", 0x00080060: "[C\\351]", 0x00080064: "[W\\001]"}


@pytest.fixture
def odd_bytes_file(tmp_path: Path) -> Path:
    path = tmp_path / "odd-bytes.dcm"
    body = b"".join(explicit(tag, vr, value) for tag, vr, value in VALUES)
    path.write_bytes(part10(body, "ExplicitVRLittleEndian"))
    return path


@pytest.fixture
def latin1_name_file(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.dcm"
    body = (explicit(0x00080005, "CS", b"ISO_IR 100") + explicit(0x00080060, "CS", b"MR")
            + explicit(0x00100010, "PN", "Müller^Zoë".encode("latin-1")))
    path.write_bytes(part10(body, "ExplicitVRLittleEndian"))
    return path


def _dump(*args: str, encoding: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if encoding is not None:
        env.update(PYTHONIOENCODING=encoding, LC_ALL="C")
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "dump", *args],
                          capture_output=True, env=env, check=False)  # stdout is a pipe


def _tree_values(stdout: bytes) -> dict[int, tuple[str, str]]:
    lines = ["# Dicom-Data-Set" if line.startswith("# Data Set") else line
             for line in stdout.decode("ascii").splitlines()]
    return parse_dcmdump("\n".join(lines))


@pytest.mark.parametrize("encoding", [None, "ascii"])
def test_tree_prints_bytes_outside_ascii_as_octal(odd_bytes_file: Path,
                                                  encoding: str | None) -> None:
    result = _dump(str(odd_bytes_file), encoding=encoding)
    assert result.returncode == 0, result.stderr
    lines = _tree_values(result.stdout)  # .decode("ascii"): nothing else is printed
    for tag, text in ESCAPED.items():
        assert lines[tag][1] == text
    assert lines[0x00080020][0] == "DA"


@pytest.mark.dcmtk
def test_tree_escapes_are_those_of_dcmdump_quote_as_octal(dcmtk: Dcmtk,
                                                          odd_bytes_file: Path) -> None:
    theirs = parse_dcmdump(dcmtk.run("dcmdump", "+Qo", odd_bytes_file).stdout)
    ours = _tree_values(_dump(str(odd_bytes_file), encoding="ascii").stdout)
    for tag in ESCAPED:
        assert ours[tag] == theirs[tag]


@pytest.mark.parametrize("encoding", [None, "ascii"])
def test_json_is_valid_and_holds_the_values_pydicom_reads(odd_bytes_file: Path,
                                                          encoding: str | None) -> None:
    pydicom = pytest.importorskip("pydicom")
    result = _dump("--json", str(odd_bytes_file), encoding=encoding)
    assert result.returncode == 0, result.stderr
    if encoding == "ascii":
        assert result.stdout.isascii()
    ours = json.loads(result.stdout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pydicom.dcmread(odd_bytes_file)
        for tag, _, _ in VALUES:
            assert ours[f"{tag:08X}"]["Value"] == [str(theirs[tag].value)]


@pytest.mark.parametrize("encoding", [None, "ascii"])
def test_xml_is_valid_and_holds_the_values(odd_bytes_file: Path, encoding: str | None) -> None:
    result = _dump("--xml", str(odd_bytes_file), encoding=encoding)
    assert result.returncode == 0, result.stderr
    if encoding == "ascii":
        assert result.stdout.isascii()
    root = ET.fromstring(result.stdout)
    values = {a.get("tag"): [v.text for v in a.iter("Value")] for a in root}
    assert values["00080018"] == ["1.2.3.é"]
    assert values["00080054"] == ["AEéT"]


def test_text_in_a_character_set_on_an_ascii_output_is_escaped_not_a_crash(
        latin1_name_file: Path) -> None:
    tree = _dump(str(latin1_name_file), encoding="ascii")
    assert tree.returncode == 0, tree.stderr
    assert b"[M\\xfcller^Zo\\xeb]" in tree.stdout
    as_json = _dump("--json", str(latin1_name_file), encoding="ascii")
    assert as_json.returncode == 0 and as_json.stdout.isascii()
    name = json.loads(as_json.stdout)["00100010"]["Value"][0]["Alphabetic"]
    assert name == "Müller^Zoë"
    as_xml = _dump("--xml", str(latin1_name_file), encoding="ascii")
    assert as_xml.returncode == 0 and as_xml.stdout.isascii()
    assert ET.fromstring(as_xml.stdout).find(".//FamilyName").text == "Müller"  # type: ignore[union-attr]


def test_text_in_a_character_set_is_printed_as_is_on_a_utf8_output(
        latin1_name_file: Path) -> None:
    tree = _dump(str(latin1_name_file), encoding="utf-8")
    assert "[Müller^Zoë]" in tree.stdout.decode("utf-8")


def test_non_standard_vr_is_a_warning_on_stderr_with_exit_status_0(tmp_path: Path) -> None:
    path = tmp_path / "padding.dcm"
    path.write_bytes(padding_value_file(b"  "))
    result = _dump(str(path))
    assert result.returncode == 0
    assert b"(0028,0120)" in result.stderr and b"non-standard VR" in result.stderr
    assert b"WindowCenter" in result.stdout


def test_a_length_past_the_end_exits_1_naming_tag_and_length(tmp_path: Path) -> None:
    path = tmp_path / "long.dcm"
    path.write_bytes(long_sop_class_file())
    result = _dump(str(path))
    assert result.returncode == 1
    assert b"(0008,0016)" in result.stderr and str(0x7FFFFFF0).encode() in result.stderr
