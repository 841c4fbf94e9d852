"""Archive.commit_many and ArchiveIndex.add_instances, the path of the parts of one STOW-RS
request: every file written and synced, the folders synced, then all the index rows in ONE
transaction, and only then an outcome; a bad item fails alone, a failed transaction falls back
to one row at a time, the same instance twice keeps the later copy. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

import dicomkit.durable as durable
from dicomkit.archive.index import ArchiveIndex
from dicomkit.archive.records import record_for
from dicomkit.archive.store import Archive, Ingested
from dicomkit.encoding.reader import read
from dicomkit.encoding.writer import write
from dicomkit.errors import DicomError
from tests.support.datasets import make_instance

EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _series(tmp_path: Path, count: int) -> list[tuple[Any, bytes]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    first = make_instance(patient_id="MANY", number=1)
    out = []
    for number in range(1, count + 1):
        ds = make_instance(patient_id="MANY", number=number,
                           study_uid=str(first.StudyInstanceUID),
                           series_uid=str(first.SeriesInstanceUID))
        path = tmp_path / f"{number}.dcm"
        write(ds, path)
        out.append((ds, path.read_bytes()))
    return out


def _leftovers(archive: Archive) -> list[Path]:
    return [p for p in Path(archive.files_dir).rglob("*") if p.name.endswith(".part")]


def _stored(archive: Archive) -> dict[str, bytes]:
    return {row.sop_uid: Path(archive.absolute(row.path)).read_bytes()
            for row in archive.index.instances_of([])}


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of rows of each add_instances transaction."""
    sizes: list[int] = []
    real = ArchiveIndex.add_instances

    def counted(index: ArchiveIndex, records: Any, policy: str = "replace") -> Any:
        sizes.append(len(records))
        return real(index, records, policy)

    monkeypatch.setattr(ArchiveIndex, "add_instances", counted)
    return sizes


def test_a_batch_is_one_transaction_and_a_bad_item_fails_alone(
        archive: Archive, tmp_path: Path, transactions: list[int]) -> None:
    sent = _series(tmp_path / "in", 8)
    cut = sent[5][1][:-3]  # the last value cut short: not whole
    items: list[tuple[bytes | str, Any]] = [(data, None) for _ds, data in sent[:5]]
    items += [(b"not DICOM", None), (cut, None)]
    spilled = durable.write_temporary(archive.files_dir, sent[6][1])  # a spilled part
    items += [(spilled, None), (sent[7][1], read(sent[7][1]))]
    done = archive.commit_many(items)
    assert [type(d) for d in done[:5]] == [Ingested] * 5
    assert isinstance(done[5], DicomError) and isinstance(done[6], DicomError)
    assert [type(d) for d in done[7:]] == [Ingested] * 2
    assert transactions == [7]
    good = [sent[n] for n in (0, 1, 2, 3, 4, 6, 7)]
    assert _stored(archive) == {str(ds.SOPInstanceUID): data for ds, data in good}
    for (ds, data), result in zip(good, [d for d in done if isinstance(d, Ingested)],
                                  strict=True):
        assert result.sop_uid == str(ds.SOPInstanceUID)
        assert Path(result.path).read_bytes() == data
        assert result.result.status == "added"
    assert _leftovers(archive) == []


def test_the_rows_commit_after_every_file_and_folder_sync(
        tmp_path: Path, index_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability as strong as one at a time: each file's data synced, and the folders
    synced after the renames, before the transaction; on SQLite the WAL synced after the
    commit, before commit_many returns."""
    archive = Archive(str(tmp_path / "data"), index_url, fsync=True)
    try:
        sent = _series(tmp_path / "in", 6)
        events: list[str] = []
        lock = threading.Lock()
        real_file, real_folder = durable.sync_file, durable.sync_folder
        real_add = ArchiveIndex.add_instances

        def sync_file(fd: int) -> None:
            target = os.readlink(f"/proc/self/fd/{fd}")
            real_file(fd)
            with lock:
                events.append("wal" if target.endswith("-wal") else "file")

        def sync_folder(folder: str) -> None:
            real_folder(folder)
            with lock:
                events.append("folder")

        def add(index: ArchiveIndex, records: Any, policy: str = "replace") -> Any:
            result = real_add(index, records, policy)
            with lock:
                events.append(f"commit {len(records)}")
            return result

        monkeypatch.setattr(durable, "sync_file", sync_file)
        monkeypatch.setattr(durable, "sync_folder", sync_folder)
        monkeypatch.setattr(ArchiveIndex, "add_instances", add)
        done = archive.commit_many([(data, None) for _ds, data in sent])
        assert all(isinstance(d, Ingested) for d in done)
        commit = events.index("commit 6")
        assert events[:commit].count("file") == 6
        assert "folder" in events[:commit]
        assert events[:commit].index("folder") > max(
            n for n, e in enumerate(events[:commit]) if e == "file")
        if archive.index.is_sqlite:
            assert "wal" in events[commit + 1:]
    finally:
        archive.close()


def test_a_failed_transaction_falls_back_to_one_row_at_a_time(
        archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _series(tmp_path / "in", 5)
    bad = str(sent[2][0].SOPInstanceUID)
    real = ArchiveIndex._add_instance

    def failing(index: ArchiveIndex, connection: Any, record: Any, *args: Any) -> Any:
        if record.sop_uid == bad:
            raise RuntimeError("this row cannot be written")
        return real(index, connection, record, *args)

    monkeypatch.setattr(ArchiveIndex, "_add_instance", failing)
    done = archive.commit_many([(data, None) for _ds, data in sent])
    assert isinstance(done[2], RuntimeError)
    assert [type(d) for n, d in enumerate(done) if n != 2] == [Ingested] * 4
    assert sorted(_stored(archive)) == sorted(str(ds.SOPInstanceUID)
                                              for n, (ds, _d) in enumerate(sent) if n != 2)
    assert _leftovers(archive) == []


def test_the_same_instance_twice_in_a_batch_keeps_the_later_copy(
        archive: Archive, tmp_path: Path) -> None:
    sent = _series(tmp_path / "in", 3)
    ds = sent[1][0]
    ds.PatientName = "CORRECTED^NAME"
    again = tmp_path / "again.dcm"
    write(ds, again)
    items: list[tuple[bytes | str, Any]] = [(data, None) for _ds, data in sent]
    items.append((again.read_bytes(), None))
    done = archive.commit_many(items)
    assert all(isinstance(d, Ingested) for d in done)
    assert isinstance(done[3], Ingested) and done[3].result.status == "replaced"
    stored = _stored(archive)
    assert len(stored) == 3
    assert stored[str(ds.SOPInstanceUID)] == again.read_bytes()
    assert _leftovers(archive) == []


@pytest.mark.parametrize("policy", ["ignore", "keep"])
def test_ignore_and_keep_take_the_one_at_a_time_path(
        archive: Archive, tmp_path: Path, policy: str, transactions: list[int]) -> None:
    archive.duplicates = policy
    sent = _series(tmp_path / "in", 3)
    archive.commit_bytes(sent[0][1], EXPLICIT_LE)
    ds = sent[0][0]
    ds.PatientName = "OTHER^COPY"
    other = tmp_path / "other.dcm"
    write(ds, other)
    done = archive.commit_many([(other.read_bytes(), None)] + [(d, None) for _ds, d in sent[1:]])
    assert all(isinstance(d, Ingested) for d in done)
    assert transactions == []
    assert _stored(archive)[str(ds.SOPInstanceUID)] == sent[0][1]  # the file in place wins
    assert _leftovers(archive) == []


def test_add_instances_is_all_or_nothing(archive: Archive, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    records = []
    for ds, data in _series(tmp_path / "in", 3):
        path = tmp_path / "in" / f"{ds.SOPInstanceUID}.x"
        path.write_bytes(data)
        records.append(record_for(read(data, stop_before_pixels=True), path.name, len(data),
                                  EXPLICIT_LE))
    real = ArchiveIndex._add_instance
    calls: list[str] = []

    def last_fails(index: ArchiveIndex, connection: Any, record: Any, *args: Any) -> Any:
        calls.append(record.sop_uid)
        if len(calls) == 3:
            raise RuntimeError("the third row fails")
        return real(index, connection, record, *args)

    monkeypatch.setattr(ArchiveIndex, "_add_instance", last_fails)
    with pytest.raises(RuntimeError):
        archive.index.add_instances(records)
    assert archive.index.stats()["instances"] == 0
    monkeypatch.setattr(ArchiveIndex, "_add_instance", real)
    results = archive.index.add_instances(records)
    assert [r.status for r in results] == ["added"] * 3
    assert archive.index.stats()["instances"] == 3
