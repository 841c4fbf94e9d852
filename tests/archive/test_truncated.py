"""Issue 10 defect 5 in the archive, on SQLite and PostgreSQL: a file whose data ends inside a
value is never stored or indexed as if it were whole, by ``import_file``, ``commit_bytes`` or
``commit_file`` (``dicomkit import`` and ``reindex``: ``tests/cli/test_archive_truncated.py``);
the refusal names the tag, offset and claimed length. The cut is in Pixel Data, past where a
header-only read stops, so only a walk of every element header sees it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dicomkit.durable as durable
from dicomkit.archive.store import Archive
from dicomkit.errors import InvalidDicomError
from tests.support.datasets import cut_instance


def _assert_names_thecut_instance(error: InvalidDicomError) -> None:
    message = str(error)
    assert "truncated" in message and "(7FE0,0010)" in message and "offset 0x" in message
    assert "value length 32 runs past the end" in message  # make_instance: 4x4 16-bit pixels


def _nothing_stored(archive: Archive) -> None:
    assert archive.index.stats()["instances"] == 0
    assert [name for _, _, names in os.walk(archive.files_dir) for name in names] == []


def test_import_file_refuses_a_cut_file(archive: Archive, tmp_path: Path) -> None:
    path, _ = cut_instance(tmp_path / "in")
    with pytest.raises(InvalidDicomError) as caught:
        archive.import_file(str(path))
    _assert_names_thecut_instance(caught.value)
    _nothing_stored(archive)


def test_commit_bytes_refuses_a_cut_data_set(archive: Archive, tmp_path: Path) -> None:
    path, _ = cut_instance(tmp_path / "in")
    with pytest.raises(InvalidDicomError) as caught:
        archive.commit_bytes(path.read_bytes())
    _assert_names_thecut_instance(caught.value)
    _nothing_stored(archive)


def test_commit_file_refuses_a_cut_data_set_and_removes_its_temporary_file(
        archive: Archive, tmp_path: Path) -> None:
    path, _ = cut_instance(tmp_path / "in")
    fd, tmp = durable.temporary(archive.files_dir)
    with os.fdopen(fd, "wb") as handle:
        handle.write(path.read_bytes())
    with pytest.raises(InvalidDicomError) as caught:
        archive.commit_file(tmp)
    _assert_names_thecut_instance(caught.value)
    assert not os.path.exists(tmp)
    _nothing_stored(archive)
