"""``dicomkit validate``: the JSON interface outside checks use, exit status, directories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dicomkit
from tests.support.datasets import make_instance
from tests.support.paths import SRC


def good(folder: Path, name: str = "good.dcm", **attributes: object) -> Path:
    ds = make_instance(PatientPosition="HFS", PositionReferenceIndicator="",
                       AcquisitionNumber=1, **attributes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    dicomkit.write(ds, path)
    return path


def validate_cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "validate",
                           *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, check=False)


def test_json_array_of_findings_and_exit_1_on_error(tmp_path):
    bad = good(tmp_path, "bad.dcm", ReferencedSeriesSequence=None, StudyInstanceUID=None)
    result = validate_cli(bad, "--json")
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    found = [f for f in findings if f["path"] == "StudyInstanceUID"]
    assert found and found[0]["severity"] == "error" and found[0]["tag"] == "0020000D"
    assert set(found[0]) >= {"file", "severity", "path", "tag", "message", "section"}
    assert found[0]["file"] == str(bad)


def test_a_valid_file_exits_0_with_an_empty_array(tmp_path):
    result = validate_cli(good(tmp_path), "--json", "--level", "error")
    assert (result.returncode, json.loads(result.stdout)) == (0, [])


def test_sequence_item_paths(tmp_path):
    from dicomkit.core.dataset import Dataset
    from dicomkit.core.element import Sequence

    item = Dataset()
    item.SeriesInstanceUID = "1.2.03"
    path = good(tmp_path, "ref.dcm", ReferencedSeriesSequence=Sequence([item]))
    findings = json.loads(validate_cli(path, "--json").stdout)
    assert "ReferencedSeriesSequence[0].SeriesInstanceUID" in {f["path"] for f in findings}


def test_directories_recursively_table_grouped_by_file(tmp_path):
    good(tmp_path / "a")
    good(tmp_path / "a" / "b", "bad.dcm", PatientSex="X")
    (tmp_path / "a" / "README").write_text("not DICOM")
    result = validate_cli(tmp_path / "a")
    assert result.returncode == 1
    assert "bad.dcm: 1 error(s)" in result.stdout
    assert "PatientSex (00100040)" in result.stdout
    assert "2 file(s): 1 with errors" in result.stdout


def test_unreadable_file_exits_2(tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\x08\x00\x05\x00CS\xff\xff" + b"x" * 10)
    result = validate_cli(junk, "--json")
    assert result.returncode in (1, 2)
    assert json.loads(result.stdout)[0]["severity"] == "error"
    assert validate_cli(tmp_path / "absent.dcm").returncode == 2


def test_many_files_in_parallel_processes(tmp_path):
    for number in range(6):
        good(tmp_path, f"{number}.dcm")
    good(tmp_path, "x.dcm", PatientSex="X")
    result = validate_cli(tmp_path, "--json", "-j", "2", "--progress")
    assert result.returncode == 1
    assert {Path(f["file"]).name for f in json.loads(result.stdout)
            if f["severity"] == "error"} == {"x.dcm"}
    assert "7/7 files" in result.stderr
