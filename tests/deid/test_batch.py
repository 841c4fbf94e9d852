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


def test_one_patient_and_study_keep_one_pseudonym_across_worker_processes(
        tmp_path: Path) -> None:
    from tests.support.datasets import synthetic_series

    source = tmp_path / "series"
    synthetic_series(source, 40, size=8, PatientID="PAT-9", PatientName="Doe^Jane")
    result = run_batch([str(source)], str(tmp_path / "out"),
                       ["retain-longitudinal-modified-dates"], "k", workers=2)
    assert result.written == 40 and not result.failed
    outputs = [dicomkit.read(p) for p in sorted((tmp_path / "out").iterdir())]
    assert len({o.StudyInstanceUID for o in outputs}) == 1
    assert len({o.SeriesInstanceUID for o in outputs}) == 1
    assert len({o.PatientID for o in outputs}) == 1 and outputs[0].PatientID != "PAT-9"
    assert len({o.SOPInstanceUID for o in outputs}) == 40
    assert len({o.get("StudyDate") for o in outputs}) == 1


@pytest.mark.parametrize("option", [
    "retain-safe-private", "retain-uids", "retain-device-identity",
    "retain-institution-identity", "retain-patient-characteristics",
    "retain-longitudinal-full-dates", "clean-descriptors", "clean-structured-content",
    "clean-graphics"])
def test_each_option_validates_no_worse_than_the_input(tmp_path: Path, option: str) -> None:
    source = pydicom_file("CT_small.dcm")
    result = run_batch([str(source)], str(tmp_path), [option], "k", workers=1)
    assert not result.failed
    before = verify(source)
    after = verify(tmp_path / source.name)
    assert len(after.errors) <= len(before.errors), "\n".join(after.errors)


def test_a_bad_regions_file_is_a_usage_error_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nregions = [[1, 2]]\n")
    status = main(["deid", str(pydicom_file("CT_small.dcm")), "--out", str(tmp_path / "o"),
                   "--option", "clean-pixel-data", "--regions", str(rules)])
    assert status == 2
    assert "rules.toml: rule 1: region" in capsys.readouterr().err


def test_the_key_can_come_from_the_environment(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from dicomkit.deid import Keys

    monkeypatch.setenv("DICOMKIT_DEID_KEY", "from-env")
    source = pydicom_file("CT_small.dcm")
    assert main(["deid", str(source), "--out", str(tmp_path), "-q"]) == 0
    out = dicomkit.read(tmp_path / source.name)
    assert out.StudyInstanceUID == Keys("from-env").uid(dicomkit.read(source).StudyInstanceUID)


def test_without_a_report_the_batch_counts_the_same_changes(tmp_path: Path) -> None:
    """Without ``--report`` the changes are counted, not recorded: the same count, the same
    files."""
    source = _tree(tmp_path)
    counted = run_batch([str(source)], str(tmp_path / "counted"), (), "k", workers=1)
    recorded = run_batch([str(source)], str(tmp_path / "recorded"), (), "k", workers=1,
                         report_path=str(tmp_path / "report.json"))
    report = json.loads((tmp_path / "report.json").read_text())
    assert counted.changes == recorded.changes == sum(len(f["changes"])
                                                      for f in report["files"]) > 0
    for name in _files(tmp_path / "counted"):
        assert (tmp_path / "counted" / name).read_bytes() == (
            tmp_path / "recorded" / name).read_bytes()
