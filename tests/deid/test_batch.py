"""``dicomkit deid`` and the batch runner: one output per input at the same relative path,
failures reported and never written, the report, pseudonyms stable across runs, and the output
no worse than the input for dciodvfy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import dicomkit
from dicomkit.cli.main import main
from dicomkit.deid import run_batch
from tests.support.datasets import pydicom_file
from tests.support.dciodvfy import verify

SAMPLES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm"]


def _tree(root: Path) -> Path:
    source = root / "in"
    (source / "a" / "b").mkdir(parents=True)
    shutil.copy(pydicom_file("CT_small.dcm"), source / "ct.dcm")
    shutil.copy(pydicom_file("MR_small.dcm"), source / "a" / "mr.dcm")
    shutil.copy(pydicom_file("rtplan.dcm"), source / "a" / "b" / "plan")
    (source / "a" / "broken.dcm").write_bytes(b"not DICOM at all")
    return source


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_output_per_input_at_the_same_path_and_failures_reported(
        tmp_path: Path, jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = _tree(tmp_path)
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    status = main(["deid", str(source), "--out", str(out), "--key", "s", "--report",
                   str(report), "-j", jobs])
    assert status == 1
    assert _files(out) == ["a/b/plan", "a/mr.dcm", "ct.dcm"]
    err = capsys.readouterr().err
    assert "broken.dcm" in err and "3 of 4 file(s) de-identified" in err
    document = json.loads(report.read_text())
    assert {f["file"] for f in document["files"]} == {
        str(source / "ct.dcm"), str(source / "a" / "mr.dcm"), str(source / "a" / "b" / "plan")}
    assert document["failed"][0]["file"].endswith("broken.dcm")
    change = document["files"][0]["changes"][0]
    assert set(change) == {"tag", "path", "action", "before", "after"}
    ct = dicomkit.read(out / "ct.dcm")
    assert ct.PatientIdentityRemoved == "YES"
    assert ct.file_meta.MediaStorageSOPInstanceUID == ct.SOPInstanceUID


def test_the_same_key_gives_the_same_files_in_another_run(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    (source / "a" / "broken.dcm").unlink()
    first = run_batch([str(source)], str(tmp_path / "one"), ["retain-longitudinal-modified-dates"],
                      "secret", workers=2)
    second = run_batch([str(source)], str(tmp_path / "two"),
                       ["retain-longitudinal-modified-dates"], "secret", workers=1)
    assert first.written == second.written == 3 and not first.failed
    for name in ("ct.dcm", "a/mr.dcm", "a/b/plan"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_files_given_by_name_go_to_the_top_and_clashes_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    shutil.copy(pydicom_file("CT_small.dcm"), tmp_path / "x" / "ct.dcm")
    shutil.copy(pydicom_file("MR_small.dcm"), tmp_path / "ct.dcm")
    result = run_batch([str(tmp_path / "x" / "ct.dcm"), str(tmp_path / "ct.dcm"),
                        str(tmp_path / "missing.dcm")], str(tmp_path / "out"), (), "k", workers=1)
    assert result.written == 1 and len(result.failed) == 2
    assert _files(tmp_path / "out") == ["ct.dcm"]


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["deid", str(tmp_path), "--out", str(tmp_path / "o"), "--option", "retain-all"])
    assert stopped.value.code == 2


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["deid", "--help"])
    assert "examples:" in capsys.readouterr().out


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("options", [[], ["retain-longitudinal-modified-dates",
                                          "clean-descriptors", "retain-device-identity"]])
def test_the_output_validates_no_worse_than_the_input(tmp_path: Path, name: str,
                                                      options: list[str]) -> None:
    source = pydicom_file(name)
    result = run_batch([str(source)], str(tmp_path), options, "k", workers=1)
    assert not result.failed
    before = verify(source)
    after = verify(tmp_path / source.name)
    new = [e for e in after.errors if e not in before.errors]
    assert len(after.errors) <= len(before.errors), "\n".join(new)
