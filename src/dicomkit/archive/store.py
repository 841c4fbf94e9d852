"""The archive: files under ``<data>/files/<study>/<series>/<sop>.dcm`` and the index.

Ingest order is what makes a success status trustworthy: data to a temporary file in the
same folder tree, fsync, rename into place, fsync the folder (all of it :mod:`dicomkit.durable`),
then the index row committed.
A crash at any point leaves either nothing visible, or a complete file that ``reindex`` (or
the next store of the same instance) picks up; never a half-written file in the index.

Only whole data sets are stored: every element header of what arrives (C-STORE, STOW-RS,
``dicomkit import``) or is found (``reindex``) is walked, and a data set whose data ends inside
a value, item or sequence (``Dataset.is_truncated``, e.g. a length of 0x7FFFFFF0 in a file of
400 bytes) is refused with the offset, tag and claimed length, never kept as if it were whole.
"""

from __future__ import annotations

import logging
import mmap
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import event

import dicomkit.durable as durable
from dicomkit.archive.index import AddResult, ArchiveIndex
from dicomkit.archive.records import record_for
from dicomkit.encoding.reader import read
from dicomkit.errors import DicomError, InvalidDicomError
from dicomkit.net.storage import safe_uid_path

log = logging.getLogger("dicomkit.archive")
DUPLICATE_POLICIES = ("replace", "ignore", "keep")
# A received instance up to this size (C-STORE data set, STOW-RS part) is held in memory and
# committed with commit_bytes; a larger one is streamed to a temporary file (commit_file).
SPILL_BYTES = 4 * 1024 * 1024


_WRITER: ThreadPoolExecutor | None = None
_WRITER_LOCK = threading.Lock()


def _writer() -> ThreadPoolExecutor:
    """Threads that write and fsync temporary files while the caller builds index records."""
    global _WRITER
    with _WRITER_LOCK:
        if _WRITER is None:
            _WRITER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dicomkit-write")
        return _WRITER


# -- the CPU work of concurrent stores, in worker processes -------------------------------------
# One process runs Python one thread at a time. With worker processes (INGEST_WORKERS > 0),
# a store that begins while another is running has its CPU work (the whole parse, the checks,
# record_for: the index record and the DICOM JSON) done by a worker process; the file, its
# syncs and the index transaction stay in this process, in the same order; a store alone stays
# in-process. Off by default: measured on 2 cores with the compiled core (docs/benchmarks-
# archive.md, "Concurrent associations"), the parse and record are ≈ 0.4 ms of an instance's
# ≈ 1.6 ms of serving-process CPU and the round trip to a worker costs about what it saves, so
# four associations stored no faster with workers (the SQLite commit was the limit, now a group
# commit). DICOMKIT_INGEST_WORKERS=N turns them on (worth measuring with more cores, or with
# DICOMKIT_PURE=1).
INGEST_WORKERS = int(os.environ.get("DICOMKIT_INGEST_WORKERS", "") or 0)
_POOL: ProcessPoolExecutor | None = None
_POOL_READY = threading.Event()
_POOL_LOCK = threading.Lock()
_POOL_FAILED = False
_POOL_STARTING = False


def _warm_worker() -> int:
    import time

    time.sleep(0.05)  # held a moment, so each warm-up task starts its own worker
    return os.getpid()


def _start_pool(workers: int) -> None:
    """Create the worker processes (forkserver: the serving process has threads, a fork of
    it would copy their locks), with dicomkit's ingest modules imported once, before the
    fork; then mark the pool ready."""
    global _POOL, _POOL_FAILED
    try:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["dicomkit.archive.store"])
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        for warm in [pool.submit(_warm_worker) for _ in range(workers)]:
            warm.result()
    except Exception:  # noqa: BLE001 - no worker processes here: stores stay in-process
        log.warning("no ingest worker processes; concurrent stores run in-process",
                    exc_info=True)
        _POOL_FAILED = True
        return
    _POOL = pool
    _POOL_READY.set()


def start_workers(workers: int = INGEST_WORKERS) -> bool:
    """Start the worker processes now and wait for them (they otherwise start in the
    background at the first concurrent store); whether they run."""
    _worker_pool(workers)
    while not _POOL_READY.wait(0.05):
        if _POOL_FAILED or workers <= 0:
            return False
    return True


def _worker_pool(workers: int) -> ProcessPoolExecutor | None:
    """The worker processes once they are running; the first call starts them in the
    background and returns None (the store runs in-process meanwhile)."""
    global _POOL_STARTING
    if _POOL_READY.is_set():
        return _POOL
    with _POOL_LOCK:
        if not _POOL_STARTING and not _POOL_FAILED and workers > 0:
            _POOL_STARTING = True
            threading.Thread(target=_start_pool, args=(workers,), daemon=True,
                             name="dicomkit-ingest-pool").start()
    return None


@dataclass(frozen=True)
class IngestRules:
    """What turns a received Part 10 file into its place and index record, with no index or
    file system access: picklable, so a worker process applies the archive's rules too."""

    files_dir: str
    validation: str
    max_inflated: int | None

    def locate(self, data: bytes, transfer_syntax: str | None,
               expected: tuple[str, str] | None, header: Any = None) -> tuple[Any, str, str]:
        """Parse (unless ``header`` is given), refuse what is not whole or not announced,
        validate; (the elements before the pixel data, final path, transfer syntax)."""
        if header is None:
            header = read(data, max_inflated=self.max_inflated)
        require_whole(header)
        if expected is not None:
            _check_announced(expected, header.get("SOPClassUID"), header.get("SOPInstanceUID"))
        check_valid(header, self.validation)
        header = before_pixels(header)
        final = safe_uid_path(self.files_dir, header.get("StudyInstanceUID"),
                              header.get("SeriesInstanceUID"), header.get("SOPInstanceUID"))
        ts = header.transfer_syntax.uid if header.transfer_syntax else transfer_syntax or ""
        return header, final, ts

    def record(self, header: Any, final: str, size: int, ts: str) -> Any:
        return record_for(header, os.path.relpath(final, self.files_dir), size, ts)

    def prepare(self, data: bytes, transfer_syntax: str | None,
                expected: tuple[str, str] | None) -> tuple[str, Any]:
        """Both steps, in a worker process: (final path, index record)."""
        header, final, ts = self.locate(data, transfer_syntax, expected)
        return final, self.record(header, final, len(data), ts)


def _prepare_in_worker(rules: IngestRules, data: bytes, transfer_syntax: str | None,
                       expected: tuple[str, str] | None) -> tuple[str, Any]:
    return rules.prepare(data, transfer_syntax, expected)


@dataclass
class _PendingFile:
    """A file being written and synced by a writer thread (``commit_bytes``) while its index
    row is built: placed just before the row commits, or discarded."""

    written: Future[str]  # the temporary file's path, or the OSError that prevented it
    final: str
    folders: list[str]  # from durable.make_folders
    fsync: bool
    placed: bool = False

    def place(self) -> None:
        """Run inside the index transaction, before its commit: the index statements overlap
        the file's fsync, and the row still commits only once the file is durably in place."""
        durable.place(self.written.result(), self.final, fsync=self.fsync,
                      folders=self.folders)
        self.placed = True

    def discard(self) -> None:
        """Remove the temporary file unless it was placed (an ignored duplicate, a failure
        before the rename)."""
        if self.placed:
            return
        try:
            durable.remove(self.written.result())
        except (OSError, DicomError):
            pass


def read_whole(path: str, max_inflated: int | None = None) -> Any:
    """The data set of a file with every element header walked and checked (values stay on
    disk: the file is memory-mapped, so only the pages holding headers are read); raises
    :class:`InvalidDicomError` when it is not whole (see :func:`require_whole`). A deflated
    data set (PS3.5 A.5) is inflated whole, in bounded memory, so a truncated or corrupt
    stream, bytes after its end, or more than ``max_inflated`` inflated bytes are refused
    (:class:`~dicomkit.encoding.deflate.DeflateStreamError`,
    :class:`~dicomkit.encoding.deflate.InflateLimitError`)."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise InvalidDicomError(f"{path}: empty file")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    # the data set keeps the map until it is dropped
    header = read(memoryview(mapped), max_inflated=max_inflated)
    require_whole(header)
    return header


FIRST_PIXEL_TAG = 0x7FE00008  # Float Pixel Data, Double Float Pixel Data, Pixel Data (PS3.6)


def before_pixels(whole: Any) -> Any:
    """The elements before the pixel data, as ``read(stop_before_pixels=True)`` gives them:
    what the index records (``record_for``); the pixel data is reached through the file."""
    if not any(tag >= FIRST_PIXEL_TAG for tag in whole.tags()):
        return whole
    header = whole.copy()
    for tag in header.tags():
        if tag >= FIRST_PIXEL_TAG:
            del header[tag]
    return header


def require_whole(header: Any) -> None:
    """Refuse a data set read from data that ends inside a value, item or sequence."""
    if header.is_truncated:
        raise InvalidDicomError("the data set is truncated, not stored: "
                                + "; ".join(header.read_problems))


class InstanceMismatch(InvalidDicomError):
    """The data set's SOP Class or Instance UID is not the one its C-STORE request announced
    (PS3.4 B.2.3: status A900, Data Set does not match SOP Class)."""


def _check_announced(expected: tuple[str, str], sop_class: Any, sop_instance: Any) -> None:
    def text(value: Any) -> str:
        return str(value or "").strip("\0 ")

    found = (text(sop_class), text(sop_instance))
    announced = (text(expected[0]), text(expected[1]))
    if found != announced:
        raise InstanceMismatch(f"the data set is {found[0]} {found[1]!r} but the C-STORE "
                               f"request announced {announced[0]} {announced[1]!r}")


VALIDATION_POLICIES = ("off", "warn", "reject")


class InstanceInvalid(InstanceMismatch):
    """The data set breaks its IOD and the archive's validation policy is ``reject``
    (PS3.4 B.2.3: status A900, "Error: Data Set does not match SOP Class"). The message starts
    with the first error (``path: message``), as the C-STORE Error Comment carries it."""

    def __init__(self, errors: list[Any]) -> None:
        self.errors = errors
        first = errors[0]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.path or first.tag}: {first.message}{more}")


def check_valid(header: Any, policy: str) -> None:
    """PS3.3 IOD validation on ingest (:mod:`dicomkit.iod.validate`): ``warn`` logs the
    errors and keeps the instance, ``reject`` raises :class:`InstanceInvalid`."""
    if policy == "off":
        return
    from dicomkit.iod.validate import validate

    errors = [f for f in validate(header) if f.severity == "error"]
    if not errors:
        return
    sop = str(header.get("SOPInstanceUID") or "").strip("\0 ")
    shown = "; ".join(str(f) for f in errors[:5])
    if policy == "reject":
        log.warning("refused %s: %d IOD error(s): %s", sop, len(errors), shown)
        raise InstanceInvalid(errors)
    log.warning("stored %s with %d IOD error(s): %s", sop, len(errors), shown)


@dataclass
class Ingested:
    sop_uid: str
    path: str
    result: AddResult


class Reindexed(NamedTuple):
    indexed: int
    failed: list[tuple[str, str]]
    removed: int  # index rows whose file was gone


@dataclass
class _Staged:
    """One instance of :meth:`Archive.commit_many` on its way in: its final path, the folders
    to sync once it is renamed there, its temporary file (being written and synced by a
    writer thread, or a synced one received already) and how to make its index record."""

    final: str
    folders: list[str]
    written: Future[str]
    record: Callable[[], Any]
    temporary: str = ""  # once written: the temporary file, until it is renamed


class Archive:
    def __init__(self, data_dir: str, index_url: str | None = None, *,
                 duplicates: str = "replace", fsync: bool = True, migrate: bool = True,
                 max_inflated: int | None = None, validation: str = "off",
                 ingest_workers: int = INGEST_WORKERS) -> None:
        if duplicates not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicate policy must be one of {', '.join(DUPLICATE_POLICIES)}")
        if validation not in VALIDATION_POLICIES:
            raise ValueError(f"validation policy must be one of {', '.join(VALIDATION_POLICIES)}")
        # IOD validation of each instance received or imported (check_valid): off | warn |
        # reject (serve's --validate)
        self.validation = validation
        self.data_dir = os.path.abspath(data_dir)
        self.files_dir = os.path.join(self.data_dir, "files")
        os.makedirs(self.files_dir, exist_ok=True)
        self.index = ArchiveIndex(index_url or os.path.join(self.data_dir, "index.sqlite"))
        if migrate:
            self.index.migrate()
        self.duplicates = duplicates
        self.fsync = fsync
        # PS3.5 A.5: a deflated instance is refused past this many inflated bytes (None:
        # dicomkit.encoding.deflate.default_limit(); serve's --max-inflated-size).
        self.max_inflated = max_inflated
        # worker processes for the CPU work of concurrent stores (commit_bytes); 0: none
        self.ingest_workers = ingest_workers
        self._running = 0  # commit_bytes calls under way
        self._running_lock = threading.Lock()
        self._sqlite_writer = threading.Lock()  # see _add_sqlite
        # SQLite: the index the stores write through, whose commits leave the WAL sync to a
        # group commit (_grouped_sqlite); None: self.index, each commit syncing its WAL
        self._grouped: tuple[ArchiveIndex, str] | None = _grouped_sqlite(self.index)

    # -- paths -----------------------------------------------------------------------------------
    def final_path(self, study: Any, series: Any, sop: Any) -> str:
        return safe_uid_path(self.files_dir, study, series, sop)

    def relative(self, path: str) -> str:
        return os.path.relpath(path, self.files_dir)

    def absolute(self, relative: str) -> str:
        path = os.path.abspath(os.path.join(self.files_dir, relative))
        if os.path.commonpath([path, self.files_dir]) != self.files_dir:
            raise InvalidDicomError(f"index path {relative!r} escapes the storage folder")
        return path

    # -- ingest ----------------------------------------------------------------------------------
    def commit_file(self, tmp_path: str, expected: tuple[str, str] | None = None) -> Ingested:
        """Move a complete, fsynced temporary file into place and index it. ``expected``:
        the SOP Class and Instance UIDs the C-STORE request announced. A data set that is not
        whole is refused (:func:`read_whole`) and its temporary file removed."""
        try:
            header = read_whole(tmp_path, self.max_inflated)
            uids = (header.get("StudyInstanceUID"), header.get("SeriesInstanceUID"),
                    header.get("SOPInstanceUID"))
            sop_class = header.get("SOPClassUID")
            if expected is not None:
                _check_announced(expected, sop_class, uids[2])
            check_valid(header, self.validation)
            final = self.final_path(*uids)
            folders = durable.make_folders(final)
            done = self._kept_duplicate(final)
            if done is not None:
                os.unlink(tmp_path)
                return done
        except BaseException:
            durable.remove(tmp_path)
            raise
        durable.place(tmp_path, final, fsync=self.fsync, folders=folders)
        return self.index_file(final, before_pixels(header))

    def commit_bytes(self, data: bytes, transfer_syntax: str | None = None,
                     expected: tuple[str, str] | None = None, header: Any = None) -> Ingested:
        """Store a complete Part 10 file held in memory (a C-STORE data set that fitted in
        memory), in the same order as ``commit_file``: temporary file, fsync, rename, fsync
        the folder, index row. The header is parsed once, from memory, and the index record
        is built while a helper thread writes and fsyncs the temporary file. ``header``: the
        data set read from ``data`` already, if any: a whole read (``read(data)``, every header
        walked), not a header-only one, so a data set that is not whole is refused here.

        When another store of this archive is running, the parse and the record are made in
        a worker process (``ingest_workers``); if that fails for any reason (bad data
        included) they are made here, so errors are exactly those of the in-process path."""
        with self._running_lock:
            self._running += 1
            concurrent = self._running > 1
        written: Future[str] | None = None
        try:
            prepared = None
            if concurrent and header is None:
                prepared, written = self._prepare_elsewhere(data, transfer_syntax, expected)
            if prepared is not None:
                final, record = prepared
                taken, written = written, None
                return self._store_prepared(data, final, lambda: record, taken)
            rules = self.rules()
            header, final, ts = rules.locate(data, transfer_syntax, expected, header)
            taken, written = written, None
            return self._store_prepared(
                data, final, lambda: rules.record(header, final, len(data), ts), taken)
        finally:
            if written is not None:  # not taken by _store_prepared: refused, or failed
                _PendingFile(written, "", [], self.fsync).discard()
            with self._running_lock:
                self._running -= 1

    def rules(self) -> IngestRules:
        return IngestRules(self.files_dir, self.validation, self.max_inflated)

    def _prepare_elsewhere(self, data: bytes, transfer_syntax: str | None,
                           expected: tuple[str, str] | None
                           ) -> tuple[tuple[str, Any] | None, Future[str] | None]:
        """(final path, record) made by a worker process, or None: no workers (yet), IOD
        validation on (its log lines belong to this process), or any failure there; and,
        under the ``replace`` policy (no duplicate check can skip the file), the file's
        write and sync started meanwhile, or None."""
        if self.validation != "off":
            return None, None
        pool = _worker_pool(self.ingest_workers)
        if pool is None:
            return None, None
        made = pool.submit(_prepare_in_worker, self.rules(), data, transfer_syntax, expected)
        written = (_writer().submit(self._write_temporary, data)
                   if self.duplicates == "replace" else None)
        try:
            return made.result(), written
        except Exception:  # noqa: BLE001 - redone in-process, which raises what is wrong
            return None, written

    def _store_prepared(self, data: bytes, final: str, record: Callable[[], Any],
                        written: Future[str] | None = None) -> Ingested:
        """The file written and synced by a writer thread (``written``: started already) while
        ``record()`` is made, placed inside the index transaction just before its commit
        (``_PendingFile``); a file written for nothing (a kept duplicate, a failure) is
        removed."""
        pending = None
        try:
            folders = durable.make_folders(final)
            done = self._kept_duplicate(final)
            if done is not None:
                return done
            if written is None:
                written = _writer().submit(self._write_temporary, data)
            pending = _PendingFile(written, final, folders, self.fsync)
            return self._add(record(), final, pending.place)
        finally:
            if pending is None and written is not None:
                pending = _PendingFile(written, final, [], self.fsync)
            if pending is not None:
                pending.discard()

    def _write_temporary(self, data: bytes) -> str:
        """``data`` as a synced temporary file under files/ (in a writer thread)."""
        return durable.write_temporary(self.files_dir, data, fsync=self.fsync)

    def _kept_duplicate(self, final: str) -> Ingested | None:
        """Under the ignore and keep policies the file in place wins. It may lack its index
        row (a crash between rename and commit): indexing it is a no-op when the row exists."""
        if self.duplicates not in ("ignore", "keep") or not os.path.exists(final):
            return None
        try:
            return self.index_file(final)
        except (DicomError, OSError):
            return None  # unreadable: the new copy replaces it

    def index_file(self, path: str, header: Any = None) -> Ingested:
        """Index a file already in place under files/ (used by ingest and by reindex); a file
        that is not whole is refused (:func:`read_whole`)."""
        if header is None:
            header = before_pixels(read_whole(path, self.max_inflated))
        ts = header.transfer_syntax.uid if header.transfer_syntax else ""
        record = record_for(header, self.relative(path), os.path.getsize(path), ts)
        return self._add(record, path)

    def _add(self, record: Any, path: str,
             before_commit: Callable[[], None] | None = None) -> Ingested:
        if not (record.study_uid and record.series_uid and record.sop_uid):
            raise InvalidDicomError("the instance lacks Study, Series or SOP Instance UID")
        if self.index.is_sqlite:
            result = self._add_sqlite(record, before_commit)
        else:
            result = self.index.add_instance(record, self.duplicates, before_commit)
        if result.old_path and result.old_path != record.path:
            try:
                os.unlink(self.absolute(result.old_path))
            except OSError:
                pass
        return Ingested(record.sop_uid, path, result)

    def _add_sqlite(self, record: Any, before_commit: Callable[[], None] | None) -> AddResult:
        """SQLite takes one writer at a time, and a writer that finds it taken sleeps in
        SQLite's busy handler (1, 2, 5, 10 … ms) instead of waking when it is free: the
        stores of this process take turns on a lock instead, from their first write to their
        commit (``add_instance`` runs ``before_commit`` just before its first write; the
        file's sync and rename stay outside the lock). The commit itself does not sync the
        WAL: it is synced after the lock is released, one fdatasync for every store that
        committed meanwhile (``_grouped_sqlite``)."""
        held = False

        def then_lock() -> None:
            nonlocal held
            if before_commit is not None:
                before_commit()
            self._sqlite_writer.acquire()
            held = True

        index, wal = self._grouped if self._grouped is not None else (self.index, "")
        try:
            result = index.add_instance(record, self.duplicates, then_lock)
        finally:
            if held:
                self._sqlite_writer.release()
        if wal:
            durable.sync_written(wal)  # the commit durable, shared with whoever committed too
        return result

    def import_file(self, source: str) -> Ingested:
        """Copy an existing file into the archive (``dicomkit import``); a file that is not
        whole is refused before it is copied."""
        header = read_whole(source, self.max_inflated)
        if header.file_meta is None:
            raise InvalidDicomError("no File Meta Information; only Part 10 files are imported")
        tmp = durable.copy_temporary(self.files_dir, source, fsync=self.fsync,
                                     prefix=".import-")
        return self.commit_file(tmp)

    def commit_many(self, items: list[tuple[bytes | str, Any]]
                    ) -> list[Ingested | Exception]:
        """Store several complete Part 10 files at once (the parts of one STOW-RS request):
        each item is the file's bytes, with the data set read from them (a whole read) or
        None, or the path of a synced temporary file (with None); the outcome of each, in
        order: what ``commit_bytes`` / ``commit_file`` would return, or the exception they
        would raise. Durability is theirs, with the waits shared: every file written and
        fdatasynced (by the writer threads, at once), renamed into place, the folders that
        changed synced once for all, then every index row in ONE transaction (one commit and
        one WAL sync), and only then an outcome. A part that fails (bad data, refused by the
        validation policy, its write) fails alone; if the transaction fails, the rows are
        added one by one, so the others still get theirs. Under the ``ignore`` and ``keep``
        policies (where the index decides whether a file is placed) each item takes the
        one-at-a-time path."""
        if self.duplicates != "replace" or len(items) == 1:
            return [self._commit_one(source, header) for source, header in items]
        out: list[Ingested | Exception | None] = [None] * len(items)
        staged: list[tuple[int, _Staged]] = []
        later: list[int] = []  # a second copy of an instance of this batch: after it
        finals: set[str] = set()
        try:
            for n, (source, header) in enumerate(items):
                try:
                    stage = self._stage(source, header, finals)
                except Exception as exc:  # noqa: BLE001 - this item's outcome
                    out[n] = exc
                    continue
                if stage is None:
                    later.append(n)
                else:
                    staged.append((n, stage))
            ready: list[tuple[int, _Staged, Any]] = []
            for n, stage in staged:  # the records made while the files are written
                try:
                    record = stage.record()
                    if not (record.study_uid and record.series_uid and record.sop_uid):
                        raise InvalidDicomError(
                            "the instance lacks Study, Series or SOP Instance UID")
                    ready.append((n, stage, record))
                except Exception as exc:  # noqa: BLE001 - this item's outcome
                    out[n] = exc
            placed: list[tuple[int, _Staged, Any]] = []
            folders: list[str] = []
            for n, stage, record in ready:
                try:
                    stage.temporary = stage.written.result()
                    folders += durable.rename_into_place(stage.temporary, stage.final,
                                                         stage.folders)
                    stage.temporary = ""
                    placed.append((n, stage, record))
                except Exception as exc:  # noqa: BLE001 - this item's outcome
                    out[n] = exc
            if self.fsync and placed:
                try:
                    durable.sync_folders(folders)  # once for all, shared with other stores
                except Exception as exc:  # noqa: BLE001 - none of them is durable
                    for n, _stage, _record in placed:
                        out[n] = exc
                    placed = []
            indexed = self._index_many([(record, stage.final)
                                        for _n, stage, record in placed])
            for (n, _stage, _record), done in zip(placed, indexed, strict=True):
                out[n] = done
        finally:
            for _n, stage in staged:  # what was not renamed into place
                self._discard(stage)
        if later:
            for n, done in zip(later, self.commit_many([items[n] for n in later]),
                               strict=True):
                out[n] = done
        return [done if done is not None else AssertionError("no outcome") for done in out]

    def _commit_one(self, source: bytes | str, header: Any) -> Ingested | Exception:
        try:
            if isinstance(source, str):
                return self.commit_file(source)
            return self.commit_bytes(source, header=header)
        except Exception as exc:  # noqa: BLE001 - this item's outcome
            return exc

    def _stage(self, source: bytes | str, header: Any, finals: set[str]) -> _Staged | None:
        """An item of ``commit_many`` checked, located and its file being written (bytes) or
        found written (a temporary file); None, and nothing done, when its final path is
        that of an item staged already (the same instance twice in one batch)."""
        if isinstance(source, str):
            try:
                header = read_whole(source, self.max_inflated)
                check_valid(header, self.validation)
                final = self.final_path(header.get("StudyInstanceUID"),
                                        header.get("SeriesInstanceUID"),
                                        header.get("SOPInstanceUID"))
                if final in finals:
                    return None
                folders = durable.make_folders(final)
            except BaseException:
                durable.remove(source)
                raise
            tmp = source
            size = os.path.getsize(tmp)
            header = before_pixels(header)
            ts = header.transfer_syntax.uid if header.transfer_syntax else ""
            written: Future[str] = Future()
            written.set_result(tmp)
        else:
            header, final, ts = self.rules().locate(source, None, None, header)
            if final in finals:
                return None
            folders = durable.make_folders(final)
            size = len(source)
            written = _writer().submit(self._write_temporary, source)
        finals.add(final)
        relative = self.relative(final)
        return _Staged(final, folders, written,
                       lambda: record_for(header, relative, size, ts))

    @staticmethod
    def _discard(stage: _Staged) -> None:
        """Remove a staged item's temporary file unless it was renamed into place."""
        if stage.temporary:
            durable.remove(stage.temporary)
            stage.temporary = ""
            return
        try:
            tmp = stage.written.result()
        except Exception:  # noqa: BLE001 - never written: nothing to remove
            return
        if os.path.exists(tmp) and tmp != stage.final:
            durable.remove(tmp)

    def _index_many(self, rows: list[tuple[Any, str]]) -> list[Ingested | Exception]:
        """The index rows of files durably in place, in one transaction
        (:meth:`ArchiveIndex.add_instances`); if it fails, one by one (``_add``)."""
        if not rows:
            return []
        records = [record for record, _final in rows]
        try:
            if self.index.is_sqlite:
                # as _add_sqlite: this process's writers take turns, the WAL synced after
                index, wal = self._grouped if self._grouped is not None else (self.index, "")
                with self._sqlite_writer:
                    results = index.add_instances(records, self.duplicates)
            else:
                results, wal = self.index.add_instances(records, self.duplicates), ""
        except Exception:  # noqa: BLE001 - the good rows still go in, one transaction each
            log.warning("a transaction of %d index rows failed; adding them one by one",
                        len(rows), exc_info=True)
            out: list[Ingested | Exception] = []
            for record, final in rows:
                try:
                    out.append(self._add(record, final))
                except Exception as exc:  # noqa: BLE001 - this row's outcome
                    out.append(exc)
            return out
        if wal:
            try:
                durable.sync_written(wal)  # the commit durable, shared with other stores
            except Exception as exc:  # noqa: BLE001 - none of the rows is known durable
                return [exc] * len(rows)
        done: list[Ingested | Exception] = []
        for (record, final), result in zip(rows, results, strict=True):
            if result.old_path and result.old_path != record.path:
                try:
                    os.unlink(self.absolute(result.old_path))
                except (OSError, DicomError):
                    pass
            done.append(Ingested(record.sop_uid, final, result))
        return done

    # -- removal and repair -----------------------------------------------------------------------
    def delete(self, level: str, uid: str) -> int:
        """Remove a study, series or instance: the index rows, the files, then the folders
        those files leave empty (up to, never including, ``files/``)."""
        paths = self.index.delete(level, uid)
        folders = set()
        for relative in paths:
            try:
                path = self.absolute(relative)
                folders.add(os.path.dirname(path))
                os.unlink(path)
            except (OSError, DicomError):
                pass
        for folder in sorted(folders, key=len, reverse=True):
            self._remove_empty_folders(folder)
        return len(paths)

    def _remove_empty_folders(self, folder: str) -> None:
        """``folder`` and its parents while they are empty, stopping below ``files/``."""
        while (os.path.commonpath([folder, self.files_dir]) == self.files_dir
               and folder != self.files_dir):
            try:
                os.rmdir(folder)  # fails when not empty (or gone): then stop
            except FileNotFoundError:
                pass
            except OSError:
                return
            folder = os.path.dirname(folder)

    def scan_files(self) -> list[str]:
        found = []
        for folder, _dirs, files in os.walk(self.files_dir):
            for name in files:
                if name.endswith(".dcm"):
                    found.append(os.path.join(folder, name))
                elif name.endswith(durable.TEMP_SUFFIX):  # an interrupted write: never indexed
                    try:
                        os.unlink(os.path.join(folder, name))
                    except OSError:
                        pass
        return sorted(found)

    def reindex(self, progress: Any = None) -> Reindexed:
        """Rebuild the index from the files (the database is lost or suspect): index every
        file under files/ (with the duplicates policy), then delete the rows whose file is
        gone, and the series, studies and patients they leave empty."""
        done, failed = 0, []
        for path in self.scan_files():
            try:
                self.index_file(path)
                done += 1
            except (DicomError, OSError, ValueError) as exc:
                failed.append((path, str(exc)))
            if progress is not None:
                progress()
        removed = self.index.remove_missing(self._file_exists)
        self.index.fill_fragments()
        return Reindexed(done, failed, removed)

    def _file_exists(self, relative: str) -> bool:
        try:
            return os.path.isfile(self.absolute(relative))
        except DicomError:  # a path escaping files/ names no file of the archive
            return False

    def close(self) -> None:
        if self._grouped is not None:
            self._grouped[0].close()
        self.index.close()


def _wal_synced_by_caller(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _grouped_sqlite(index: ArchiveIndex) -> tuple[ArchiveIndex, str] | None:
    """Group commit for a SQLite index file: a second ``ArchiveIndex`` on the same file whose
    connections commit with ``synchronous=NORMAL`` (in WAL mode: no sync at a commit; the WAL
    is synced before each checkpoint, the database after it, the WAL header when the WAL is
    reused), and the WAL's path, which the caller fdatasyncs after each commit
    (``durable.sync_written``: a sync begun after the commit). That is what ``FULL`` does
    (it syncs the WAL at each commit) with one sync serving every store that committed
    meanwhile. Every other writer keeps ``index`` (``FULL``). None for an index that is not
    a SQLite file."""
    if not index.is_sqlite:
        return None
    database = index.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    grouped = ArchiveIndex(index.url)
    event.listen(grouped.engine, "connect", _wal_synced_by_caller)
    return grouped, os.path.abspath(database) + "-wal"


class SpoolSink:
    """A :class:`~dicomkit.net.association.DataSink` for one received Part 10 data set: a
    :class:`dicomkit.durable.Spool` in ``folder`` that starts with the File Meta Information
    (``meta``), kept in memory up to :data:`SPILL_BYTES` and spilled to a temporary file in
    ``folder`` beyond. Once closed, ``received`` holds the whole file (bytes) or the path of
    its synced temporary file."""

    def __init__(self, folder: str, meta: bytes, transfer_syntax: str, fsync: bool) -> None:
        self.transfer_syntax = transfer_syntax
        self.spool = durable.Spool(folder, SPILL_BYTES, fsync=fsync, held=meta)
        self.received: bytes | str | None = None

    def write(self, data: bytes | memoryview) -> None:
        self.spool.write(data)

    def close(self) -> Any:
        """Itself, or the OSError (full disk, lost folder) to report as a failure status."""
        try:
            self.received = self.spool.finish()
        except OSError as exc:
            return exc
        return self

    def abort(self) -> None:
        self.spool.abort()
