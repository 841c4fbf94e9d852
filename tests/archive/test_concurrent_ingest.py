"""Several stores at once (issue 18 item 3): concurrent ``commit_bytes`` calls, whose parse and
index record are made by worker processes when those are on, store the same files and rows as
one at a time; their errors are those of the in-process path; SQLite writers take turns and
their WAL syncs are a group commit; the folder sync is a group commit that never lets a caller
return before a sync that began after it. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import dicomkit.archive.store as store
import dicomkit.durable as durable
from dicomkit.archive.index import ArchiveIndex
from dicomkit.archive.store import Archive, InstanceMismatch
from dicomkit.encoding.writer import write
from dicomkit.errors import InvalidDicomError
from tests.support.datasets import make_instance

EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _instances(tmp_path: Path, studies: int, per_series: int) -> list[tuple[Any, bytes]]:
    out = []
    tmp_path.mkdir(parents=True, exist_ok=True)
    for study in range(studies):
        first = make_instance(patient_id=f"CONC-{study}", number=1)
        for number in range(1, per_series + 1):
            ds = make_instance(patient_id=f"CONC-{study}", number=number,
                               study_uid=str(first.StudyInstanceUID),
                               series_uid=str(first.SeriesInstanceUID))
            path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
            write(ds, path)
            out.append((ds, path.read_bytes()))
    return out


def _rows(archive: Archive) -> list[tuple[str, str, str, int, str]]:
    return sorted((r.study_uid, r.series_uid, r.sop_uid, r.size, r.transfer_syntax)
                  for r in archive.index.instances_of([]))


@pytest.fixture(scope="module")
def workers() -> None:
    if not store.start_workers(2):
        pytest.fail("the ingest worker processes did not start")


def test_concurrent_stores_keep_every_file_and_row(archive: Archive, tmp_path: Path,
                                                   workers: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    archive.ingest_workers = 2
    made_elsewhere = []
    real = store.Archive._prepare_elsewhere

    def counted(self: Archive, *args: Any) -> Any:
        result = real(self, *args)
        made_elsewhere.append(result is not None)
        return result

    monkeypatch.setattr(store.Archive, "_prepare_elsewhere", counted)
    sent = _instances(tmp_path / "in", studies=4, per_series=12)
    with ThreadPoolExecutor(6) as threads:
        done = list(threads.map(lambda item: archive.commit_bytes(
            item[1], EXPLICIT_LE, (str(item[0].SOPClassUID), str(item[0].SOPInstanceUID))),
            sent))
    assert any(made_elsewhere), "no store ran in a worker process"
    assert [d.result.status for d in done] == ["added"] * len(sent)
    for (ds, data), ingested in zip(sent, done, strict=True):
        assert ingested.sop_uid == str(ds.SOPInstanceUID)
        assert Path(ingested.path).read_bytes() == data
    assert archive.index.stats() == {"patients": 4, "studies": 4, "series": 4,
                                     "instances": 48, "bytes": sum(len(d) for _, d in sent)}
    assert not [p for p in Path(archive.files_dir).rglob("*") if p.name.endswith(".part")]

    # the same instances one at a time, in-process: the same rows and metadata
    alone = Archive(str(tmp_path / "alone"), str(tmp_path / "alone.sqlite"), fsync=False,
                    ingest_workers=0)
    try:
        for _ds, data in sent:
            alone.commit_bytes(data, EXPLICIT_LE)
        assert _rows(alone) == _rows(archive)
        uids = [str(ds.SOPInstanceUID) for ds, _ in sent]
        def by_uid(index: Any) -> list[Any]:
            return sorted(index.instance_metadata(uids), key=lambda m: m["00080018"]["Value"])

        assert by_uid(alone.index) == by_uid(archive.index)
    finally:
        alone.close()


def test_a_worker_record_is_the_in_process_record(tmp_path: Path, workers: None) -> None:
    (ds, data), = _instances(tmp_path, 1, 1)
    rules = store.IngestRules(str(tmp_path / "files"), "off", None)
    pool = store._worker_pool(2)
    assert pool is not None
    elsewhere = pool.submit(store._prepare_in_worker, rules, data, EXPLICIT_LE, None).result()
    assert elsewhere == rules.prepare(data, EXPLICIT_LE, None)


def _attempt(archive: Archive, n: int, item: tuple[Any, bytes],
             damage: str) -> tuple[type, str] | None:
    """Store a damaged copy of the n-th instance: its last 7 bytes cut off, or (but the
    first) announced under another SOP Instance UID; the failure (type, message)."""
    ds, data = item
    announced = (str(ds.SOPClassUID), str(ds.SOPInstanceUID))
    if damage == "truncated":
        data = data[:-7]
    elif n:
        announced = (announced[0], announced[1] + "9")
    try:
        archive.commit_bytes(data, EXPLICIT_LE, announced)
    except InvalidDicomError as exc:
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("damage", ["truncated", "announced"])
def test_concurrent_stores_of_bad_data_fail_as_alone(archive: Archive, tmp_path: Path,
                                                     workers: None, damage: str) -> None:
    archive.ingest_workers = 2
    sent = _instances(tmp_path / "in", studies=1, per_series=8)
    with ThreadPoolExecutor(4) as threads:
        failures = list(threads.map(lambda n: _attempt(archive, n, sent[n], damage),
                                    range(len(sent))))
    alone = Archive(str(tmp_path / "alone"), str(tmp_path / "alone.sqlite"), fsync=False,
                    ingest_workers=0)
    try:
        expected = [_attempt(alone, n, item, damage) for n, item in enumerate(sent)]
    finally:
        alone.close()
    assert failures == expected
    if damage == "announced":
        assert failures[0] is None
        assert {f[0] if f else None for f in failures[1:]} == {InstanceMismatch}
    else:
        assert all(f is not None for f in failures)
    assert archive.index.stats()["instances"] == (1 if damage == "announced" else 0)
    # the files written meanwhile for the refused ones are gone
    assert not [p for p in Path(archive.files_dir).rglob("*") if p.name.endswith(".part")]
    assert len(list(Path(archive.files_dir).rglob("*.dcm"))) == (
        1 if damage == "announced" else 0)


def test_the_folder_sync_is_a_group_commit(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Callers that arrive while a sync of their folder runs share the next one; none returns
    before a sync that started after it was called."""
    syncs: list[tuple[float, float]] = []
    lock = threading.Lock()

    def slow_sync(folder: str) -> None:
        began = time.monotonic()
        time.sleep(0.05)
        with lock:
            syncs.append((began, time.monotonic()))

    monkeypatch.setattr(durable, "sync_folder", slow_sync)
    calls: list[tuple[float, float]] = []

    def caller(delay: float) -> None:
        time.sleep(delay)
        called = time.monotonic()
        durable.sync_folders([str(tmp_path)])
        with lock:
            calls.append((called, time.monotonic()))

    threads = [threading.Thread(target=caller, args=(0.01 * (n % 4),)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 12
    assert len(syncs) < 12  # shared
    for called, returned in calls:
        assert any(called <= began and ended <= returned for began, ended in syncs), \
            "a caller returned without a sync that began after its call"


def test_syncs_of_different_folders_do_not_wait_for_each_other(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    monkeypatch.setattr(durable, "sync_folder", synced.append)
    durable.sync_folders([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "a")])
    assert synced == [str(tmp_path / "a"), str(tmp_path / "b")]


def test_concurrent_sqlite_writes_take_turns(archive: Archive, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite the stores of one process take turns from their first write to their commit
    (no sleeping in SQLite's busy handler); the file syncs before it still overlap."""
    if not archive.index.is_sqlite:
        pytest.skip("PostgreSQL locks rows: its writers overlap")
    writing: list[int] = []
    overlaps: list[int] = []
    lock = threading.Lock()
    real = ArchiveIndex.add_instance

    def watched(index: ArchiveIndex, record: Any, policy: str, before_commit: Any) -> Any:
        def start() -> None:
            before_commit()
            with lock:
                writing.append(1)
                if len(writing) > 1:
                    overlaps.append(len(writing))
            time.sleep(0.002)

        try:
            return real(index, record, policy, start)
        finally:
            with lock:
                if writing:
                    writing.pop()

    monkeypatch.setattr(ArchiveIndex, "add_instance", watched)
    sent = _instances(tmp_path / "in", studies=2, per_series=10)
    with ThreadPoolExecutor(4) as threads:
        list(threads.map(lambda item: archive.commit_bytes(item[1], EXPLICIT_LE), sent))
    assert archive.index.stats()["instances"] == 20
    assert overlaps == []


def test_sqlite_ingest_commits_are_synced_as_a_group(archive: Archive, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each store's index commit is followed, before commit_bytes returns, by an fdatasync of
    the WAL that began after that commit; stores that commit while one runs share the next."""
    if not archive.index.is_sqlite:
        pytest.skip("PostgreSQL syncs its own WAL at each commit (and groups them itself)")
    wal = str(Path(archive.index.engine.url.database or "").resolve()) + "-wal"
    events: list[tuple[str, float, float]] = []
    lock = threading.Lock()
    real_add, real_sync = ArchiveIndex.add_instance, durable.sync_file

    def add(index: ArchiveIndex, *args: Any) -> Any:
        result = real_add(index, *args)
        with lock:
            events.append(("commit", time.monotonic(), 0.0))
        return result

    def sync(fd: int) -> None:
        began = time.monotonic()
        target = os.readlink(f"/proc/self/fd/{fd}")
        time.sleep(0.01)
        real_sync(fd)
        if target == wal:
            with lock:
                events.append(("wal", began, time.monotonic()))

    monkeypatch.setattr(ArchiveIndex, "add_instance", add)
    monkeypatch.setattr(durable, "sync_file", sync)
    returned: list[float] = []

    def one(item: tuple[Any, bytes]) -> None:
        archive.commit_bytes(item[1], EXPLICIT_LE)
        with lock:
            returned.append(time.monotonic())

    sent = _instances(tmp_path / "in", studies=2, per_series=12)
    with ThreadPoolExecutor(6) as threads:
        list(threads.map(one, sent))
    commits = sorted(t for kind, t, _ in events if kind == "commit")
    syncs = [(began, ended) for kind, began, ended in events if kind == "wal"]
    assert len(commits) == len(sent) == len(returned)
    assert 0 < len(syncs) < len(commits)  # shared
    for committed in commits:
        assert any(began >= committed for began, _ in syncs), \
            "a commit with no WAL sync begun after it"
    with sqlite3.connect(str(archive.index.engine.url.database)) as check:
        assert check.execute("SELECT count(*) FROM instances").fetchone() == (len(sent),)


def test_a_failed_group_sync_counts_for_no_one(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller whose sync fails gets the error; the callers that waited for it run a sync
    of their own instead of returning as if it had succeeded."""
    target = tmp_path / "index.sqlite-wal"
    target.write_bytes(b"frames")
    calls: list[int] = []
    lock = threading.Lock()

    def sync(fd: int) -> None:
        with lock:
            calls.append(fd)
            first = len(calls) == 1
        time.sleep(0.05)
        if first:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(durable, "sync_file", sync)
    outcomes: list[str] = []

    def caller(delay: float) -> None:
        time.sleep(delay)
        try:
            durable.sync_written(str(target))
        except OSError:
            outcome = "failed"
        else:
            outcome = "synced"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=caller, args=(0.01 * n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["failed", "synced", "synced"]
    assert len(calls) == 2  # the failed one, then one shared by the two that waited
