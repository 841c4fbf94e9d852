"""``dicomkit dicomdir create|ls``, ``dicomkit import`` of a DICOMDIR or File-set root, and
``dicomkit export`` of a study as a ZIP with a DICOMDIR, in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import dicomkit
from dicomkit.archive.store import Archive
from dicomkit.cli.main import main
from dicomkit.core.uid import generate_uid
from dicomkit.media import FileSet
from tests.support.datasets import make_instance, write_instance
from tests.support.media import our_tree, pydicom_tree


def _file_set(root: Path, count: int = 3) -> tuple[str, list[str]]:
    study, series = generate_uid(), generate_uid()
    uids = []
    for number in range(1, count + 1):
        ds = make_instance(study_uid=study, series_uid=series, number=number, StudyID="1",
                           SeriesNumber="1", InstanceNumber=str(number))
        write_instance(ds, root / "in")
        uids.append(str(ds.SOPInstanceUID))
    assert main(["dicomdir", "create", str(root)]) == 0
    return study, uids


def test_dicomdir_create_and_ls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, uids = _file_set(tmp_path / "usb")
    assert "3 instance(s)" in capsys.readouterr().out
    assert main(["dicomdir", "ls", "--check", str(tmp_path / "usb")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PATIENT Doe^Jane [DK-1]")
    assert [line.split()[0] for line in out] == ["PATIENT", "STUDY", "SERIES", "IMAGE", "IMAGE",
                                                 "IMAGE"]


def test_dicomdir_create_reports_what_it_skipped(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "usb"
    root.mkdir()
    (root / "README.TXT").write_text("not DICOM")
    write_instance(make_instance(StudyID="1", SeriesNumber="1"), root)
    assert main(["dicomdir", "create", str(root)]) == 1
    captured = capsys.readouterr()
    assert "1 instance(s)" in captured.out and "README.TXT" in captured.err


def test_dicomdir_create_unknown_profile_is_an_error(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x").mkdir()
    assert main(["dicomdir", "create", str(tmp_path / "x"), "--profile", "STD-NOPE"]) == 1
    assert "unknown application profile" in capsys.readouterr().err


def test_dump_shows_a_dicomdir_as_its_record_tree(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _file_set(tmp_path / "cd", 2)
    capsys.readouterr()
    assert main(["dump", str(tmp_path / "cd" / "DICOMDIR")]) == 0
    out = capsys.readouterr().out
    assert "# Directory records (5 in use)" in out
    assert "\n  [STUDY " in out and "\n      [IMAGE #2 DICOM\\ST000001\\SE000001\\" in out


@pytest.mark.parametrize("given", ["DICOMDIR", "root"])
def test_import_a_file_set(tmp_path: Path, index_url: str, given: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cd"
    study, uids = _file_set(root)
    (root / "STRAY.DCM").write_bytes(b"not listed, not imported")
    target = root / "DICOMDIR" if given == "DICOMDIR" else root
    options = ["--data", str(tmp_path / "data"), "--index", index_url]
    assert main(["import", str(target), *options]) == 0
    assert "3 added" in capsys.readouterr().out
    archive = Archive(str(tmp_path / "data"), index_url, fsync=False)
    try:
        assert archive.index.stats()["instances"] == 3
    finally:
        archive.close()


def test_import_checks_each_file_against_its_record(tmp_path: Path, index_url: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cd"
    _, uids = _file_set(root)
    fs = FileSet.read(root)
    first, second, third = list(fs.instances())
    fs.path(first).write_bytes(fs.path(second).read_bytes())  # the wrong instance
    fs.path(third).unlink()  # a missing one
    options = ["--data", str(tmp_path / "data"), "--index", index_url]
    assert main(["import", str(root), *options]) == 1
    captured = capsys.readouterr()
    assert "1 added" in captured.out and "2 failed" in captured.out
    assert "is not the record's" in captured.err and "missing" in captured.err


def test_import_refuses_a_hostile_dicomdir(tmp_path: Path, index_url: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cd"
    _file_set(root, 1)
    fs = FileSet.read(root)
    next(fs.instances()).dataset.set("ReferencedFileID", ["..", "..", "ETC"], "CS")
    fs.write()
    options = ["--data", str(tmp_path / "data"), "--index", index_url]
    assert main(["import", str(root), *options]) == 1
    assert "Referenced File ID" in capsys.readouterr().err


def test_export_a_study_as_zip(tmp_path: Path, index_url: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    archive = Archive(str(tmp_path / "data"), index_url, fsync=False)
    study = generate_uid()
    sops = set()
    try:
        for number in (1, 2, 3):
            ds = make_instance(study_uid=study, number=number, StudyID="1", SeriesNumber="1",
                               InstanceNumber=str(number))
            archive.import_file(str(write_instance(ds, tmp_path / "incoming")))
            sops.add(str(ds.SOPInstanceUID))
        archive.import_file(str(write_instance(make_instance(patient_id="OTHER"),
                                               tmp_path / "incoming")))
    finally:
        archive.close()
    out = tmp_path / "study.zip"
    options = ["--data", str(tmp_path / "data"), "--index", index_url]
    assert main(["export", "--study", study, "--out", str(out), *options]) == 0
    with zipfile.ZipFile(out) as zipped:
        names = zipped.namelist()
        assert "DICOMDIR" in names and len(names) == 4
        zipped.extractall(tmp_path / "unzipped")
    fs = FileSet.read(tmp_path / "unzipped")
    assert {r.sop_instance_uid for r in fs.instances()} == sops
    for record in fs.instances():
        fs.verify(record)
    assert our_tree(tmp_path / "unzipped" / "DICOMDIR") == pydicom_tree(
        tmp_path / "unzipped" / "DICOMDIR")
    assert main(["export", "--query", "PatientID=OTHER", "--out", str(tmp_path / "o.zip"),
                 *options]) == 0
    assert main(["export", "--study", "1.2.3.999", "--out", str(tmp_path / "none.zip"),
                 *options]) == 1
    assert dicomkit.read(tmp_path / "unzipped" / "DICOMDIR").FileSetID == ""
