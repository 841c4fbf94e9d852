"""Issue 10 defect 5 through the commands: ``dicomkit import`` reports a file whose data ends
inside a value (Pixel Data cut short) and exits 1, importing the whole ones beside it;
``dicomkit reindex`` reports such a file found in the storage folder and does not index it.
On SQLite and PostgreSQL (the archive through its Python API is in
``tests/archive/test_truncated.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomkit.archive.store import Archive
from dicomkit.cli.main import main
from tests.support.datasets import cut_instance, make_instance, write_instance


def test_dicomkit_import_reports_the_cut_file_and_exits_1(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, index_url: str) -> None:
    folder = tmp_path / "cdrom"
    path, _ = cut_instance(folder)
    write_instance(make_instance(), folder)  # a whole one beside it is imported
    options = ["--data", str(tmp_path / "data"), "--index", index_url]
    code = main(["import", str(folder), *options])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.strip() == "1 added, 0 replaced, 0 skipped (duplicates), 1 failed"
    assert path.name in err and "(7FE0,0010)" in err


def test_reindex_reports_a_cut_file_and_does_not_index_it(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, index_url: str) -> None:
    data = tmp_path / "data"
    options = ["--data", str(data), "--index", index_url]
    whole = write_instance(make_instance(), tmp_path / "in")
    assert main(["import", str(whole), *options]) == 0
    cut, sop = cut_instance(tmp_path / "cut")
    # A cut file in the storage folder (a copy interrupted behind the archive's back).
    target = next((data / "files").rglob("*.dcm")).parent / f"{sop}.dcm"
    target.write_bytes(cut.read_bytes())
    capsys.readouterr()
    code = main(["reindex", *options])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.strip() == "1 indexed, 0 removed (file gone), 1 failed"
    assert str(target) in err and "(7FE0,0010)" in err
    archive = Archive(str(data), index_url, fsync=False)
    try:
        assert archive.index.stats()["instances"] == 1
    finally:
        archive.close()
