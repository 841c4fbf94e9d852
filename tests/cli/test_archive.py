"""``dicomkit import / ls / rm / reindex / stats``, run in-process on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from dicomkit.archive.store import Archive
from dicomkit.cli.main import main
from dicomkit.core.uid import generate_uid
from tests.support.datasets import make_instance, write_instance


@dataclass
class Stored:
    options: list[str]  # --data and --index
    study_a: str
    study_b: str
    series_mr: str
    instances: int


@pytest.fixture
def options(tmp_path: Path, index_url: str) -> list[str]:
    return ["--data", str(tmp_path / "data"), "--index", index_url]


@pytest.fixture
def stored(tmp_path: Path, index_url: str, options: list[str]) -> Stored:
    """Study A (DK-1 Doe^Jane: CT 2 instances, MR 1) and study B (DK-2 Roe^Richard: CT 1)."""
    archive = Archive(str(tmp_path / "data"), index_url, fsync=False)
    study_a, study_b = generate_uid(), generate_uid()
    ct, mr = generate_uid(), generate_uid()
    plan = [dict(study_uid=study_a, series_uid=ct, number=1),
            dict(study_uid=study_a, series_uid=ct, number=2),
            dict(study_uid=study_a, series_uid=mr, modality="MR", SeriesNumber=2),
            dict(study_uid=study_b, patient_id="DK-2", patient_name="Roe^Richard",
                 study_date="20230102")]
    try:
        for kwargs in plan:
            ds = make_instance(**kwargs)  # type: ignore[arg-type]
            archive.import_file(str(write_instance(ds, tmp_path / "incoming")))
    finally:
        archive.close()
    return Stored(options, study_a, study_b, mr, len(plan))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table(out: str) -> tuple[list[str], list[str]]:
    """(header words, data rows) of the table ``ls`` prints."""
    lines = out.rstrip("\n").splitlines()
    assert set(lines[1].replace(" ", "")) == {"-"}
    return lines[0].split(), lines[2:]


# -- import -----------------------------------------------------------------------------------
def test_import_reports_counts_and_exits_1_when_a_file_fails(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, options: list[str]) -> None:
    folder = tmp_path / "cdrom"
    study = generate_uid()
    for number in (1, 2):
        write_instance(make_instance(study_uid=study, number=number), folder)
    (folder / "README.txt").write_text("not a DICOM file\n")
    code, out, err = run(capsys, "import", str(folder), *options)
    assert code == 1
    assert out.strip() == "2 added, 0 replaced, 0 skipped (duplicates), 1 failed"
    assert "README.txt" in err
    code, out, _ = run(capsys, "stats", *options)
    assert "instances  2" in out


def test_import_of_duplicates_with_ignore_skips_them(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, options: list[str]) -> None:
    folder = tmp_path / "cdrom"
    for number in (1, 2):
        write_instance(make_instance(number=number), folder)
    assert run(capsys, "import", str(folder), *options)[0] == 0
    code, out, _ = run(capsys, "import", str(folder), "--duplicates", "ignore", *options)
    assert code == 0
    assert out.strip() == "0 added, 0 replaced, 2 skipped (duplicates), 0 failed"


def test_import_descends_into_subfolders_only_with_recursive(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, options: list[str]) -> None:
    folder = tmp_path / "cdrom"
    write_instance(make_instance(), folder)
    write_instance(make_instance(), folder / "sub")
    assert run(capsys, "import", str(folder), *options)[1].startswith("1 added")
    assert run(capsys, "import", "-r", str(folder), *options)[1].startswith(
        "1 added, 1 replaced")


# -- ls ---------------------------------------------------------------------------------------
def test_ls_study_prints_one_row_per_study(capsys: pytest.CaptureFixture[str],
                                           stored: Stored) -> None:
    code, out, _ = run(capsys, "ls", "--study", *stored.options)
    assert code == 0
    header, rows = table(out)
    assert header == ["PatientID", "PatientName", "StudyDate", "ModalitiesInStudy",
                      "StudyDescription", "NumberOfStudyRelatedInstances", "StudyInstanceUID"]
    assert len(rows) == 2
    [row_a] = [r for r in rows if stored.study_a in r]
    assert row_a.split()[:4] == ["DK-1", "Doe^Jane", "20240105", "CT\\MR"]
    assert row_a.split()[-2:] == ["3", stored.study_a]
    [row_b] = [r for r in rows if stored.study_b in r]
    assert row_b.split()[:3] == ["DK-2", "Roe^Richard", "20230102"]


def test_ls_lists_studies_by_default(capsys: pytest.CaptureFixture[str],
                                     stored: Stored) -> None:
    assert run(capsys, "ls", *stored.options)[1] == run(capsys, "ls", "--study",
                                                        *stored.options)[1]


def test_ls_series_prints_one_row_per_series(capsys: pytest.CaptureFixture[str],
                                             stored: Stored) -> None:
    code, out, _ = run(capsys, "ls", "--series", *stored.options)
    assert code == 0
    header, rows = table(out)
    assert header[0] == "StudyInstanceUID" and header[-1] == "SeriesInstanceUID"
    assert len(rows) == 3
    [mr] = [r for r in rows if stored.series_mr in r]
    assert mr.split()[:3] == [stored.study_a, "2", "MR"]
    assert mr.split()[-2:] == ["1", stored.series_mr]


def test_ls_patient_prints_one_row_per_patient(capsys: pytest.CaptureFixture[str],
                                               stored: Stored) -> None:
    code, out, _ = run(capsys, "ls", "--patient", *stored.options)
    assert code == 0
    header, rows = table(out)
    assert header == ["PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                      "NumberOfPatientRelatedStudies"]
    assert sorted(r.split()[0] + " " + r.split()[-1] for r in rows) == ["DK-1 1", "DK-2 1"]


def test_ls_of_an_empty_archive_prints_only_the_header(capsys: pytest.CaptureFixture[str],
                                                       options: list[str]) -> None:
    code, out, _ = run(capsys, "ls", *options)
    assert code == 0
    assert table(out)[1] == []


# -- rm ---------------------------------------------------------------------------------------
def test_rm_study_removes_it_and_prints_the_count(capsys: pytest.CaptureFixture[str],
                                                  stored: Stored) -> None:
    code, out, _ = run(capsys, "rm", "--study", stored.study_a, *stored.options)
    assert (code, out.strip()) == (0, "3 instance(s) removed")
    rows = table(run(capsys, "ls", *stored.options)[1])[1]
    assert len(rows) == 1 and stored.study_b in rows[0]


def test_rm_series_removes_it(capsys: pytest.CaptureFixture[str], stored: Stored) -> None:
    code, out, _ = run(capsys, "rm", "--series", stored.series_mr, *stored.options)
    assert (code, out.strip()) == (0, "1 instance(s) removed")
    assert "patients   2" in run(capsys, "stats", *stored.options)[1]


def test_rm_exits_1_when_nothing_matched(capsys: pytest.CaptureFixture[str],
                                         stored: Stored) -> None:
    code, out, _ = run(capsys, "rm", "--study", "1.2.3.4.5.6", *stored.options)
    assert (code, out.strip()) == (1, "0 instance(s) removed")


# -- reindex and stats ------------------------------------------------------------------------
def test_reindex_prints_the_number_indexed(capsys: pytest.CaptureFixture[str],
                                           stored: Stored) -> None:
    before = run(capsys, "ls", *stored.options)[1]
    code, out, _ = run(capsys, "reindex", *stored.options)
    assert (code, out.strip()) == (
        0, f"{stored.instances} indexed, 0 removed (file gone), 0 failed")
    assert run(capsys, "ls", *stored.options)[1] == before


def test_reindex_reports_the_rows_it_removed(capsys: pytest.CaptureFixture[str],
                                             stored: Stored, tmp_path: Path) -> None:
    mr_folder = next((tmp_path / "data" / "files").glob(f"*/{stored.series_mr}"))
    for path in mr_folder.iterdir():
        path.unlink()
    code, out, _ = run(capsys, "reindex", *stored.options)
    assert (code, out.strip()) == (
        0, f"{stored.instances - 1} indexed, 1 removed (file gone), 0 failed")
    series = table(run(capsys, "ls", "--series", *stored.options)[1])[1]
    assert len(series) == 2 and not [r for r in series if stored.series_mr in r]


def test_rm_study_leaves_no_empty_folder(capsys: pytest.CaptureFixture[str], stored: Stored,
                                         tmp_path: Path) -> None:
    files = tmp_path / "data" / "files"
    assert (files / stored.study_a).is_dir()
    run(capsys, "rm", "--study", stored.study_a, *stored.options)
    assert not (files / stored.study_a).exists()
    assert (files / stored.study_b).is_dir()


def test_stats_prints_counts_and_size(capsys: pytest.CaptureFixture[str],
                                      stored: Stored) -> None:
    code, out, _ = run(capsys, "stats", *stored.options)
    assert code == 0
    found = dict(line.split() for line in out.strip().splitlines())
    assert {k: found[k] for k in ("patients", "studies", "series", "instances")} == {
        "patients": "2", "studies": "2", "series": "3", "instances": "4"}
    assert int(found["bytes"]) > 0
