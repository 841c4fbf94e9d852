"""Durable files: the one place where received data becomes a file that survives a crash.

The rule every store path follows (C-STORE into the archive, ``dicomkit storescp``, STOW-RS,
``dicomkit import``): the data goes to a temporary file in the destination's file system
(``.incoming-*.part``, so an interrupted write is never taken for an instance and ``reindex``
removes it), the file is synced, renamed over its final name (``os.replace``: atomic on
POSIX), and the folders whose entries changed are synced, so the rename itself is durable.
Only then may an index row point at the file. A failure at any step leaves no temporary file
behind and nothing at the destination but what was there before.

:class:`Spool` holds a received object in memory up to a limit and spills it to such a
temporary file past it: a small object is written in one step when it is complete, a large
one streams to disk and is never wholly in memory.

Standard library only: net/, archive/ and web/ all build on it.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable

TEMP_PREFIX = ".incoming-"
TEMP_SUFFIX = ".part"  # what reindex removes as the leftover of an interrupted write
WRITE_BUFFER = 1 << 20


def sync_file(fd: int) -> None:
    """fdatasync where there is one: the data and the size, without the timestamps."""
    getattr(os, "fdatasync", os.fsync)(fd)


def sync_folder(folder: str) -> None:
    """fsync a folder, so the entries created or renamed in it survive a crash. Best effort:
    some file systems cannot open or sync a folder, and the data is synced already."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _FolderRounds:
    """The sync rounds of one folder (or file): ``started`` counts the fsyncs begun, ``finished`` the
    highest round completed; ``running`` whether one is under way now."""

    __slots__ = ("started", "finished", "running", "waiting")

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.running = False
        self.waiting = 0


_ROUNDS: dict[tuple[str, str], _FolderRounds] = {}
_ROUNDS_LOCK = threading.Condition()


def sync_folders(folders: Iterable[str]) -> None:
    """Sync each of ``folders`` (:func:`sync_folder`) after the caller's changes to it, as a
    group commit: a sync that began before this call may predate those changes, so it does
    not count; the first sync that begins after it does, whoever runs it. A caller finding a
    sync of the folder under way waits for it to end and then either finds the next one
    started by another caller (and waits for that) or runs it itself, for everyone waiting.
    Same guarantee as one sync per caller; fewer syncs when callers overlap."""
    for folder in dict.fromkeys(folders):
        _after_now(("folder", folder), functools.partial(sync_folder, folder))


def sync_written(path: str) -> None:
    """fdatasync the file at ``path`` after the caller's writes to it (through any
    descriptor: a sync covers the file, not the descriptor), as the same group commit as
    :func:`sync_folders`. An error is raised to the caller that ran the failed sync; the
    others try again with a sync of their own. A file that is not there is not synced."""
    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            sync_file(fd)
        finally:
            os.close(fd)

    _after_now(("file", path), run)


def _after_now(key: tuple[str, str], sync: Callable[[], None]) -> None:
    """Return once a ``sync`` of ``key`` that began after this call has succeeded (run here,
    or by another caller for everyone waiting)."""
    with _ROUNDS_LOCK:
        rounds = _ROUNDS.get(key)
        if rounds is None:
            rounds = _ROUNDS[key] = _FolderRounds()
        needed = rounds.started + 1  # the first round to begin from now on
        rounds.waiting += 1
        try:
            while rounds.finished < needed:
                if rounds.running:
                    _ROUNDS_LOCK.wait()
                    continue
                rounds.running = True
                rounds.started += 1
                this = rounds.started
                done = False
                _ROUNDS_LOCK.release()
                try:
                    sync()
                    done = True
                finally:
                    _ROUNDS_LOCK.acquire()
                    rounds.running = False
                    if done:
                        rounds.finished = this
                    _ROUNDS_LOCK.notify_all()
        finally:
            rounds.waiting -= 1
            if rounds.waiting == 0 and not rounds.running:
                del _ROUNDS[key]  # no state kept for idle keys


def temporary(folder: str, prefix: str = TEMP_PREFIX) -> tuple[int, str]:
    """A new, empty temporary file in ``folder``: (open descriptor, path)."""
    return tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=folder)


def remove(path: str) -> None:
    """Remove a temporary file if it is there."""
    try:
        os.unlink(path)
    except OSError:
        pass


def write_temporary(folder: str, data: bytes | bytearray | memoryview, *,
                    fsync: bool = True) -> str:
    """``data`` written (and synced with ``fsync``) to a temporary file in ``folder``; its
    path. On failure nothing is left behind."""
    fd, path = temporary(folder)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            sync_file(fd)
    except BaseException:
        os.close(fd)
        remove(path)
        raise
    os.close(fd)
    return path


def copy_temporary(folder: str, source: str, *, fsync: bool = True,
                   prefix: str = TEMP_PREFIX) -> str:
    """A copy of the file ``source`` as a temporary file in ``folder`` (synced with
    ``fsync``); its path. On failure nothing is left behind."""
    fd, path = temporary(folder, prefix)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, WRITE_BUFFER)
            out.flush()
            if fsync:
                sync_file(out.fileno())
    except BaseException:
        remove(path)
        raise
    return path


def make_folders(final: str) -> list[str]:
    """Create the folders of ``final``; the folders whose entries change, to sync after the
    rename: the file's own, and the parent of each folder created here."""
    folder = os.path.dirname(final) or "."
    changed = [folder]
    probe = folder
    while not os.path.isdir(probe) and probe != ".":
        probe = os.path.dirname(probe) or "."
        changed.append(probe)
    if len(changed) > 1:
        os.makedirs(folder, exist_ok=True)
    return changed


def rename_into_place(temporary_path: str, final: str, folders: list[str]) -> list[str]:
    """Rename a complete temporary file to its final name; the folders to sync. When a
    folder of ``final`` went away since :func:`make_folders` (an emptied study removed
    meanwhile), it is created again, once."""
    try:
        os.replace(temporary_path, final)
    except FileNotFoundError:
        if not os.path.exists(temporary_path):
            raise
        folders = make_folders(final)
        os.replace(temporary_path, final)
    return folders


def place(temporary_path: str, final: str, *, fsync: bool = True,
          folders: list[str] | None = None) -> None:
    """Put a complete, synced temporary file at ``final`` durably: rename, then sync the
    folders that changed (``folders``: from :func:`make_folders`, made now when None). On
    failure the temporary file is removed and ``final`` is as it was."""
    renamed = False
    try:
        if folders is None:
            folders = make_folders(final)
        folders = rename_into_place(temporary_path, final, folders)
        renamed = True
        if fsync:
            sync_folders(folders)
    except BaseException:
        if not renamed:
            remove(temporary_path)
        raise


class TemporaryFile:
    """A temporary file in ``folder`` written as data arrives: :meth:`write` any number of
    times, then :meth:`finish` (flush and sync) or :meth:`abort` (close and remove). A write
    error (full disk, lost folder) is kept, later writes are dropped, and :meth:`finish`
    raises it: a receiver reads the rest of the data off the wire and reports one failure."""

    def __init__(self, folder: str, *, fsync: bool = True, prefix: str = TEMP_PREFIX) -> None:
        self.fsync = fsync
        fd, self.path = temporary(folder, prefix)
        self.handle = os.fdopen(fd, "wb", buffering=WRITE_BUFFER)
        self.size = 0
        self.error: OSError | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.error is not None:
            return
        try:
            self.handle.write(data)
        except OSError as exc:
            self.error = exc
            return
        self.size += len(data)

    def finish(self) -> str:
        """Flush, sync (with ``fsync``) and close the file; its path. Raises the OSError that
        prevented it (the file is then still there: :meth:`abort` removes it)."""
        if self.error is not None:
            raise self.error
        self.handle.flush()
        if self.fsync:
            sync_file(self.handle.fileno())
        self.handle.close()
        return self.path

    def abort(self) -> None:
        try:
            self.handle.close()
        except OSError:
            pass
        remove(self.path)


def write_whole(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` whole or not at all: a :class:`TemporaryFile` in its
    folder, synced and renamed over it; on any failure (of the writing or of producing the
    chunks) the temporary file is removed and ``path`` is as it was."""
    path = os.fspath(path)
    file = TemporaryFile(os.path.dirname(path) or ".")
    try:
        for chunk in chunks:
            file.write(chunk)
        rename_into_place(file.finish(), path, [])
    except BaseException:
        file.abort()
        raise


class Spool:
    """One received object, held in memory up to ``limit`` bytes and spilled past it to a
    :class:`TemporaryFile` in ``folder``. :meth:`finish` gives the bytes (held) or the path
    of the synced temporary file (spilled); :meth:`abort` drops either. A failure to create
    or write the file is raised by :meth:`finish`; the writes in between are dropped."""

    def __init__(self, folder: str, limit: int, *, fsync: bool = True,
                 held: bytes | bytearray = b"") -> None:
        self.folder = folder
        self.limit = limit
        self.fsync = fsync
        self.held: bytearray | None = bytearray(held)
        self.file: TemporaryFile | None = None
        self.error: OSError | None = None

    def spills_with(self, size: int) -> bool:
        """Whether writing ``size`` more bytes spills (creates and writes the file): a caller
        on an event loop makes that write in a worker thread."""
        return self.held is not None and len(self.held) + size > self.limit

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.held is not None:
            self.held += data
            if len(self.held) > self.limit:
                self._spill()
        elif self.file is not None:
            self.file.write(data)

    def _spill(self) -> None:
        held, self.held = self.held, None
        assert held is not None
        try:
            self.file = TemporaryFile(self.folder, fsync=self.fsync)
        except OSError as exc:
            self.error = exc
            return
        self.file.write(held)

    @property
    def spilled(self) -> bool:
        return self.held is None

    def finish(self) -> bytes | str:
        """The object: its bytes when held in memory, else the synced temporary file's path
        (the caller owns it from then on). Raises the OSError that prevented it, and then
        nothing is left behind."""
        if self.error is not None:
            raise self.error
        if self.held is not None:
            held, self.held = self.held, None
            return bytes(held)
        assert self.file is not None
        try:
            return self.file.finish()
        except OSError:
            self.file.abort()
            raise
        finally:
            self.file = None

    def abort(self) -> None:
        self.held = None
        if self.file is not None:
            self.file.abort()
            self.file = None
