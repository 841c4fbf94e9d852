"""Archive.commit_bytes, the path of every C-STORE data set that fits in memory: the index
statements run while the file is fsynced, and the row commits only once the file is in
place. Duplicates, a failing rename and a failing index leave no temporary file and no row
without its file. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dicomkit.archive.index import ArchiveIndex
from dicomkit.archive.store import Archive
from dicomkit.encoding.writer import write
from tests.support.datasets import make_instance

EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _file_bytes(tmp_path: Path, **kwargs: Any) -> tuple[Any, bytes]:
    ds = make_instance(**kwargs)
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    write(ds, path)
    return ds, path.read_bytes()


def _leftovers(archive: Archive) -> list[Path]:
    return [p for p in Path(archive.files_dir).rglob("*") if p.name.endswith(".part")]


@pytest.mark.parametrize("policy", ["ignore", "keep", "replace"])
def test_a_duplicate_under_each_policy(archive: Archive, tmp_path: Path, policy: str) -> None:
    archive.duplicates = policy
    ds, first = _file_bytes(tmp_path, patient_id="DUP-1")
    archive.commit_bytes(first, EXPLICIT_LE)
    ds.PatientID = "DUP-2"  # same SOP Instance UID, new content
    path = tmp_path / "second.dcm"
    write(ds, path)
    done = archive.commit_bytes(path.read_bytes(), EXPLICIT_LE)
    assert archive.index.stats()["instances"] == 1
    kept = Path(done.path).read_bytes()
    assert kept == (path.read_bytes() if policy == "replace" else first)
    assert _leftovers(archive) == []


def test_a_failing_rename_commits_no_row(archive: Archive, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _ds, data = _file_bytes(tmp_path)

    def refuse(*_args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("dicomkit.archive.store.os.replace", refuse)
    with pytest.raises(OSError):
        archive.commit_bytes(data, EXPLICIT_LE)
    assert archive.index.stats()["instances"] == 0
    assert not list(Path(archive.files_dir).rglob("*.dcm"))
    assert _leftovers(archive) == []


def test_a_failing_index_leaves_no_temporary_file(archive: Archive, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _ds, data = _file_bytes(tmp_path)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(ArchiveIndex, "add_instance", broken)
    with pytest.raises(RuntimeError):
        archive.commit_bytes(data, EXPLICIT_LE)
    assert not list(Path(archive.files_dir).rglob("*.dcm"))
    assert _leftovers(archive) == []


def test_the_row_is_committed_with_the_file_in_place(archive: Archive, tmp_path: Path) -> None:
    ds, data = _file_bytes(tmp_path)
    done = archive.commit_bytes(data, EXPLICIT_LE)
    assert Path(done.path).read_bytes() == data
    rows = archive.index.instances_of([])
    assert [Path(archive.absolute(row.path)) for row in rows] == [Path(done.path)]
    assert done.result.status == "added"
    assert str(ds.SOPInstanceUID) in done.path
