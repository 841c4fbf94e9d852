"""``dicomkit dump`` (and ``dicomkit sample``): the tree, cutting long values, errors, JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dicomkit
from dicomkit.cli.main import main
from dicomkit.cli.sample import make_ct
from tests.support.datasets import pydicom_file

SRC = str(Path(__file__).resolve().parents[2] / "src")
LONG_TEXT = "A long study description. " * 6  # 156 characters


def _line_pattern(tag: str, vr: str, value: str, length: int, vm: int, keyword: str) -> str:
    return (rf"^{re.escape(tag)} {vr} {re.escape(value)} +# +{length}, {vm} "
            rf"{re.escape(keyword)}$")


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    ds = make_ct(8)
    ds.StudyDescription = LONG_TEXT.strip()
    path = tmp_path / "sample.dcm"
    dicomkit.write(ds, path)
    return path


def _dump(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["dump", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_dump_prints_tag_vr_value_length_vm_and_keyword(
    sample_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _dump(capsys, str(sample_file))
    assert status == 0
    lines = out.splitlines()
    for pattern in [
        _line_pattern("(0010,0010)", "PN", "[Doe^Jane^^Dr.]", 14, 1, "PatientName"),
        _line_pattern("(0008,0008)", "CS", "[ORIGINAL\\PRIMARY\\AXIAL]", 22, 3, "ImageType"),
        _line_pattern("(0028,0010)", "US", "8", 2, 1, "Rows"),
        _line_pattern("(0028,0030)", "DS", "[0.5\\0.5]", 8, 2, "PixelSpacing"),
        _line_pattern("(0008,0016)", "UI", "=CTImageStorage", 26, 1, "SOPClassUID"),
    ]:
        assert any(re.match(pattern, line) for line in lines), pattern


def test_dump_shows_file_meta_then_the_data_set(sample_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _dump(capsys, str(sample_file))
    meta_at = out.index("# File Meta Information")
    data_at = out.index("# Data Set (Explicit VR Little Endian)")
    assert meta_at < out.index("(0002,0010) UI =ExplicitVRLittleEndian") < data_at
    assert data_at < out.index("(0008,0016)")


def test_dump_without_meta_leaves_group_0002_out(sample_file: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _dump(capsys, "--no-meta", str(sample_file))
    assert "(0002," not in out and "(0010,0010)" in out


def test_dump_indents_sequence_items(sample_file: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _dump(capsys, str(sample_file))
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("(0008,2218) SQ"))
    assert "(Sequence with undefined length #=1)" in lines[start]
    assert lines[start].rstrip().endswith("AnatomicRegionSequence")
    assert lines[start + 1] == "  (FFFE,E000) na (Item #1)"
    assert re.match(r"^    \(0008,0100\) SH \[T-D3000\] +# +8, 1 CodeValue$", lines[start + 2])
    assert lines[start + 4].startswith("    (0008,0104) LO [Chest]")
    assert lines[start + 5].startswith("(")  # back at the top level


def test_dump_indents_nested_sequences_deeper(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _dump(capsys, str(pydicom_file("test-SR.dcm")))
    depths = {len(line) - len(line.lstrip(" ")) for line in out.splitlines()
              if line.lstrip().startswith("(")}
    assert {0, 2, 4, 6, 8} <= depths


def test_dump_cuts_long_values(sample_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _dump(capsys, str(sample_file))
    description = next(line for line in out.splitlines() if line.startswith("(0008,1030)"))
    assert "..." in description and LONG_TEXT.strip() not in description
    pixels = next(line for line in out.splitlines() if line.startswith("(7FE0,0010)"))
    assert "..." in pixels and len(pixels) < 300


def test_dump_all_shows_long_values_in_full(sample_file: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _dump(capsys, "--all", str(sample_file))
    description = next(line for line in out.splitlines() if line.startswith("(0008,1030)"))
    assert f"[{LONG_TEXT.strip()}]" in description
    pixels = next(line for line in out.splitlines() if line.startswith("(7FE0,0010)"))
    words = pixels.split()[2].split("\\")
    assert len(words) == 8 * 8 and "..." not in pixels


def test_dump_no_pixels_stops_before_pixel_data(sample_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _dump(capsys, "--no-pixels", str(sample_file))
    assert "(7FE0,0010)" not in out and "(0029,1010)" in out


def test_dump_of_a_non_dicom_file_exits_1_naming_offset_and_tag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("These are notes, not a DICOM file. " * 4)
    status, out, err = _dump(capsys, str(path))
    assert status == 1
    assert out == ""
    assert err.startswith(f"dicomkit dump: {path}: ")
    assert re.search(r"at offset 0x[0-9a-f]{8} \(\d+\), tag \([0-9A-F]{4},[0-9A-F]{4}\)", err)
    assert "Traceback" not in err


def test_dump_of_a_truncated_file_exits_1_naming_offset_and_tag(
    sample_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = sample_file.read_bytes()
    header = data.rindex(b"\xe0\x7f\x10\x00OW\x00\x00")  # Pixel Data's 12-byte header
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: header + 10])
    status, _, err = _dump(capsys, str(cut))
    assert status == 1
    assert f"at offset 0x{header:08x}" in err and "tag (7FE0,0010)" in err
    assert "Traceback" not in err


def test_dump_of_a_missing_file_exits_1(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _dump(capsys, str(tmp_path / "absent.dcm"))
    assert status == 1 and "absent.dcm" in err


def test_dump_of_several_files_goes_on_after_a_bad_one(
    sample_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x08\x00\x60\x00CS\xff\x00CT")
    status, out, err = _dump(capsys, str(bad), str(sample_file))
    assert status == 1
    assert f"# {sample_file}" in out and "(0010,0010) PN [Doe^Jane^^Dr.]" in out
    assert str(bad) in err and str(sample_file) not in err


def test_sample_writes_a_file_that_dumps(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.dcm"
    assert main(["sample", str(path), "--size", "16"]) == 0
    assert capsys.readouterr().out.strip() == str(path)
    status, out, err = _dump(capsys, str(path))
    assert status == 0 and err == ""
    assert "(0008,0016) UI =CTImageStorage" in out
    assert re.search(r"^\(0028,0010\) US 16 ", out, re.MULTILINE)


@pytest.mark.parametrize("syntax", ["ImplicitVRLittleEndian", "ExplicitVRBigEndian",
                                    "DeflatedExplicitVRLittleEndian"])
def test_sample_in_another_syntax_dumps_with_that_syntax(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], syntax: str
) -> None:
    path = tmp_path / "demo.dcm"
    assert main(["sample", str(path), "-t", syntax]) == 0
    capsys.readouterr()
    status, out, _ = _dump(capsys, str(path))
    assert status == 0
    assert f"(0002,0010) UI ={syntax}" in out
    assert "(0010,0010) PN [Doe^Jane^^Dr.]" in out


def test_dump_json_parses_and_has_no_group_0002(sample_file: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _dump(capsys, "--json", str(sample_file))
    assert status == 0, err
    document = json.loads(out)
    assert isinstance(document, dict)
    assert not [key for key in document if key.startswith("0002")]
    assert document["00100010"]["vr"] == "PN"
    assert document["00100010"]["Value"] == [{"Alphabetic": "Doe^Jane^^Dr."}]
    assert document["00082218"]["vr"] == "SQ"  # AnatomicRegionSequence


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *args],
                          capture_output=True, text=True, env=env, check=False)


def test_console_script_exit_codes(sample_file: Path, tmp_path: Path) -> None:
    good = _console("dump", str(sample_file))
    assert good.returncode == 0 and "(0010,0010) PN [Doe^Jane^^Dr.]" in good.stdout
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 2)
    bad = _console("dump", str(junk))
    assert bad.returncode == 1 and "dicomkit dump:" in bad.stderr
    assert "Traceback" not in bad.stderr
    converted = _console("convert", str(sample_file), str(tmp_path / "out.dcm"), "-t", "big")
    assert converted.returncode == 0, converted.stderr
    refused = _console("convert", str(sample_file), str(tmp_path / "x.dcm"), "-t", "nonsense")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    usage = _console("dump")  # no file: an argparse usage error
    assert usage.returncode == 2 and "usage:" in usage.stderr
