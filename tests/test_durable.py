"""dicomkit.durable: the spill threshold of a Spool, the order of a durable placement (file
synced, renamed, folder synced), and failures that leave no partial file at the destination
and no temporary file behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

import dicomkit.durable as durable


def _temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.name.endswith(durable.TEMP_SUFFIX))


def _no_space(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """What reached the disk, in order: ("sync file", path), ("rename", final),
    ("sync folder", folder)."""
    found: list[tuple[str, str]] = []
    real_sync_file, real_sync_folder, real_replace = (durable.sync_file, durable.sync_folder,
                                                      os.replace)

    def sync_file(fd: int) -> None:
        found.append(("sync file", os.readlink(f"/proc/self/fd/{fd}")))
        real_sync_file(fd)

    def sync_folder(folder: str) -> None:
        found.append(("sync folder", folder))
        real_sync_folder(folder)

    def replace(src: Any, dst: Any) -> None:
        real_replace(src, dst)
        found.append(("rename", os.fspath(dst)))

    monkeypatch.setattr(durable, "sync_file", sync_file)
    monkeypatch.setattr(durable, "sync_folder", sync_folder)
    monkeypatch.setattr(durable.os, "replace", replace)
    return found


# -- the spill threshold ------------------------------------------------------------------------
def test_a_spool_holds_up_to_its_limit_in_memory(tmp_path: Path) -> None:
    spool = durable.Spool(str(tmp_path), 10, held=b"meta")
    spool.write(b"abc")
    spool.write(memoryview(b"def"))  # 10 bytes: the limit, still held
    assert not spool.spilled and not spool.spills_with(0) and spool.spills_with(1)
    assert _temporaries(tmp_path) == []
    assert spool.finish() == b"metaabcdef"
    assert _temporaries(tmp_path) == []


def test_a_spool_spills_past_its_limit_to_a_synced_temporary_file(
        tmp_path: Path, events: list[tuple[str, str]]) -> None:
    spool = durable.Spool(str(tmp_path), 10, held=b"meta")
    spool.write(b"0123456")  # 11 bytes: one past the limit
    assert spool.spilled
    [spilled] = _temporaries(tmp_path)
    spool.write(b"tail")
    path = spool.finish()
    assert isinstance(path, str) and Path(path) == spilled
    assert spilled.read_bytes() == b"meta0123456tail"
    assert events == [("sync file", path)]


def test_a_spool_without_fsync_does_not_sync(tmp_path: Path,
                                             events: list[tuple[str, str]]) -> None:
    spool = durable.Spool(str(tmp_path), 2, fsync=False)
    spool.write(b"abc")
    path = spool.finish()
    assert isinstance(path, str) and Path(path).read_bytes() == b"abc"
    assert events == []


def test_an_aborted_spool_leaves_no_temporary_file(tmp_path: Path) -> None:
    spool = durable.Spool(str(tmp_path), 2)
    spool.write(b"abcdef")
    assert _temporaries(tmp_path)
    spool.abort()
    assert _temporaries(tmp_path) == []


def test_a_spool_that_cannot_create_its_file_fails_at_finish(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = durable.Spool(str(tmp_path), 2)
    monkeypatch.setattr(durable.tempfile, "mkstemp", _no_space)
    spool.write(b"abcdef")  # the rest of the data is still read and dropped
    spool.write(b"more")
    with pytest.raises(OSError) as caught:
        spool.finish()
    assert caught.value.errno == errno.ENOSPC
    assert _temporaries(tmp_path) == []


def test_a_spool_whose_write_fails_fails_at_finish_and_removes_its_file(
        tmp_path: Path) -> None:
    spool = durable.Spool(str(tmp_path), 2)
    spool.write(b"abcdef")
    assert spool.file is not None
    real, spool.file.handle = spool.file.handle, _Failing()  # type: ignore[assignment]
    spool.write(b"more")  # the disk is full: kept for finish
    with pytest.raises(OSError) as caught:
        spool.finish()
    real.close()
    assert caught.value.errno == errno.ENOSPC
    assert _temporaries(tmp_path) == []


# -- durable placement --------------------------------------------------------------------------
def test_place_syncs_the_file_before_the_rename_and_the_folders_after(
        tmp_path: Path, events: list[tuple[str, str]]) -> None:
    final = tmp_path / "study" / "series" / "1.2.3.dcm"  # two folders to create
    tmp = durable.write_temporary(str(tmp_path), b"DICM data")
    folders = durable.make_folders(str(final))
    assert folders == [str(final.parent), str(final.parent.parent), str(tmp_path)]
    durable.place(tmp, str(final), folders=folders)
    assert final.read_bytes() == b"DICM data"
    assert events == [("sync file", tmp), ("rename", str(final)),
                      ("sync folder", str(final.parent)),
                      ("sync folder", str(final.parent.parent)),
                      ("sync folder", str(tmp_path))]
    assert _temporaries(tmp_path) == []


def test_place_into_an_existing_folder_syncs_that_folder_only(
        tmp_path: Path, events: list[tuple[str, str]]) -> None:
    final = tmp_path / "1.2.3.dcm"
    tmp = durable.write_temporary(str(tmp_path), b"x", fsync=False)
    durable.place(tmp, str(final))
    assert events == [("rename", str(final)), ("sync folder", str(tmp_path))]


def test_a_failing_rename_leaves_the_destination_as_it_was_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "1.2.3.dcm"
    final.write_bytes(b"the copy in place")
    tmp = durable.write_temporary(str(tmp_path), b"the new copy")
    monkeypatch.setattr(durable.os, "replace", _no_space)
    with pytest.raises(OSError):
        durable.place(tmp, str(final))
    assert final.read_bytes() == b"the copy in place"
    assert _temporaries(tmp_path) == []


def test_a_failing_write_leaves_no_temporary_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durable.os, "write", _no_space)
    with pytest.raises(OSError):
        durable.write_temporary(str(tmp_path), b"data")
    assert _temporaries(tmp_path) == []


def test_a_failing_sync_leaves_no_temporary_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durable, "sync_file", _no_space)
    with pytest.raises(OSError):
        durable.write_temporary(str(tmp_path), b"data")
    with pytest.raises(OSError):
        durable.copy_temporary(str(tmp_path), __file__)
    file = durable.TemporaryFile(str(tmp_path))
    file.write(b"data")
    with pytest.raises(OSError):
        file.finish()
    file.abort()
    assert _temporaries(tmp_path) == []


def test_a_copy_of_a_missing_source_leaves_no_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        durable.copy_temporary(str(tmp_path), str(tmp_path / "missing.dcm"), prefix=".import-")
    assert _temporaries(tmp_path) == []


def test_a_copy_is_byte_exact_and_synced(tmp_path: Path,
                                         events: list[tuple[str, str]]) -> None:
    source = tmp_path / "in.dcm"
    source.write_bytes(os.urandom(3 * durable.WRITE_BUFFER + 7))
    copy = durable.copy_temporary(str(tmp_path), str(source), prefix=".import-")
    assert Path(copy).name.startswith(".import-") and copy.endswith(durable.TEMP_SUFFIX)
    assert Path(copy).read_bytes() == source.read_bytes()
    assert events == [("sync file", copy)]


def test_a_temporary_file_keeps_its_write_error_for_finish(tmp_path: Path) -> None:
    file = durable.TemporaryFile(str(tmp_path))
    file.write(b"abc")
    real, file.handle = file.handle, _Failing()  # type: ignore[assignment]
    file.write(b"lost")
    file.write(b"dropped")
    assert file.size == 3
    with pytest.raises(OSError) as caught:
        file.finish()
    assert caught.value.errno == errno.ENOSPC
    file.abort()
    real.close()
    assert _temporaries(tmp_path) == []


class _Failing:
    """A file handle on a full disk."""

    def write(self, _data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        pass


def test_make_folders_of_a_relative_path(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert durable.make_folders(os.path.join("a", "b", "x.dcm")) == ["a/b", "a", "."]
    assert (tmp_path / "a" / "b").is_dir()
    assert durable.make_folders("x.dcm") == ["."]
