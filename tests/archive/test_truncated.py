"""Issue 10 defect 5 in the archive, on SQLite and PostgreSQL: a file whose data ends inside a
value is never stored or indexed as if it were whole, by ``import_file`` / ``dicomkit import``,
``commit_bytes``, ``commit_file`` or ``reindex``; the refusal names the tag, offset and claimed
length. The cut is in Pixel Data, past where a header-only read stops, so only a walk of every
element header sees it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dicomkit
from dicomkit.archive.store import Archive
from dicomkit.cli.main import main
from dicomkit.errors import InvalidDicomError
from tests.support.datasets import make_instance, write_instance


def _cut(folder: Path) -> tuple[Path, str]:
    """A whole instance written, then its last 10 bytes (inside Pixel Data) cut off."""
    ds = make_instance()
    path = write_instance(ds, folder)
    whole = path.read_bytes()
    path.write_bytes(whole[:-10])
    assert not dicomkit.read(path, stop_before_pixels=True).is_truncated
    return path, str(ds.SOPInstanceUID)


def _assert_names_the_cut(error: InvalidDicomError) -> None:
    message = str(error)
    assert "truncated" in message and "(7FE0,0010)" in message and "offset 0x" in message
    assert "value length 32 runs past the end" in message  # make_instance: 4x4 16-bit pixels


def _nothing_stored(archive: Archive) -> None:
    assert archive.index.stats()["instances"] == 0
    assert [name for _, _, names in os.walk(archive.files_dir) for name in names] == []


def test_import_file_refuses_a_cut_file(archive: Archive, tmp_path: Path) -> None:
    path, _ = _cut(tmp_path / "in")
    with pytest.raises(InvalidDicomError) as caught:
        archive.import_file(str(path))
    _assert_names_the_cut(caught.value)
    _nothing_stored(archive)


def test_commit_bytes_refuses_a_cut_data_set(archive: Archive, tmp_path: Path) -> None:
    path, _ = _cut(tmp_path / "in")
    with pytest.raises(InvalidDicomError) as caught:
        archive.commit_bytes(path.read_bytes())
    _assert_names_the_cut(caught.value)
    _nothing_stored(archive)


def test_commit_file_refuses_a_cut_data_set_and_removes_its_temporary_file(
        archive: Archive, tmp_path: Path) -> None:
    path, _ = _cut(tmp_path / "in")
    fd, tmp = archive.incoming_tmp()
    with os.fdopen(fd, "wb") as handle:
        handle.write(path.read_bytes())
    with pytest.raises(InvalidDicomError) as caught:
        archive.commit_file(tmp)
    _assert_names_the_cut(caught.value)
    assert not os.path.exists(tmp)
    _nothing_stored(archive)


def test_dicomkit_import_reports_the_cut_file_and_exits_1(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, index_url: str) -> None:
    folder = tmp_path / "cdrom"
    path, _ = _cut(folder)
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
    cut, sop = _cut(tmp_path / "cut")
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
