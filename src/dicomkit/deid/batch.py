"""De-identifying many files: worker processes, one output file per input at the same relative
path, a failure reported and never half-written.

Each output is written to a temporary file next to its destination and renamed into place
(:func:`write_file`, :mod:`dicomkit.durable`): a file that fails, or a run that is interrupted,
leaves no partial output. The file is synced before the rename only with ``fsync=True``
(``dicomkit deid --fsync``): a batch writes thousands of files, a sync each would cost more than
the de-identification, and a file lost to a power cut is made again by running the batch again. Every process uses the same
secret (a random one drawn here when none is given), so the pseudonyms agree across the batch.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dicomkit.durable as durable
from dicomkit.core.dataset import Dataset
from dicomkit.deid.keys import Keys
from dicomkit.deid.pixels import Rules
from dicomkit.deid.profile import Deidentifier
from dicomkit.deid.table import check_options
from dicomkit.encoding.reader import read
from dicomkit.encoding.writer import to_bytes

CHUNK = 16  # files per task: enough to make the hand-over to a worker cheap


@dataclass
class BatchResult:
    """What a batch did: files written, failures (file, reason), attributes changed."""

    total: int = 0
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    changes: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        text = (f"{self.written} of {self.total} file(s) de-identified, {self.changes} "
                f"attribute(s) changed, {len(self.failed)} failed ({self.seconds:.1f} s, "
                f"{rate:.0f} files/s)")
        return text


def plan(paths: Iterable[str], out_dir: str) -> tuple[list[tuple[str, str]],
                                                      list[tuple[str, str]]]:
    """(source, destination) for every input file — a folder's files keep their path below
    the folder, a file given by name goes to the top of ``out_dir`` — and the inputs refused
    (missing, or two inputs with one destination)."""
    jobs: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    taken: dict[str, str] = {}
    out_abs = os.path.abspath(out_dir)
    for path in paths:
        if os.path.isdir(path):
            found = []
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs
                                 if os.path.abspath(os.path.join(folder, d)) != out_abs)
                found += [os.path.join(folder, f) for f in sorted(files)]
            pairs = [(f, os.path.relpath(f, path)) for f in found]
        elif os.path.isfile(path):
            pairs = [(path, os.path.basename(path))]
        else:
            refused.append((path, "no such file or folder"))
            continue
        for source, relative in pairs:
            if os.path.basename(source).startswith(durable.TEMP_PREFIX):
                continue
            destination = os.path.join(out_abs, relative)
            if destination in taken:
                refused.append((source, f"its output {relative} is also {taken[destination]}'s"))
                continue
            taken[destination] = source
            jobs.append((source, destination))
    return jobs, refused


def write_file(ds: Dataset, destination: str, *, fsync: bool = False) -> None:
    """``ds`` as a Part 10 file at ``destination``, whole or not at all: encoded into one
    buffer, written to a temporary file in one write, renamed into place (synced with
    ``fsync``). Nothing is created before the encoding has succeeded."""
    data = to_bytes(ds)
    folders = durable.make_folders(destination)
    temporary = durable.write_temporary(folders[0], data, fsync=fsync)
    durable.place(temporary, destination, fsync=fsync, folders=folders)


_worker: Deidentifier | None = None
_fsync = False


def _start(options: Sequence[str], secret: bytes, rules: Rules | None, fsync: bool,
           record: bool) -> None:
    global _worker, _fsync
    _worker = Deidentifier(options, secret, rules=rules, record=record)
    _fsync = fsync


Outcome = tuple[str, str | None, int, dict[str, Any] | None]
"""(source, error or None, number of changes, report) of one file."""


def _run_chunk(jobs: list[tuple[str, str]], want_reports: bool) -> list[Outcome]:
    """(source, error or None, changes, report) for each job, in the worker."""
    assert _worker is not None
    done: list[Outcome] = []
    for source, destination in jobs:
        try:
            ds = read(source)
            if ds.is_truncated:
                raise ValueError("the data set is truncated")
            out, report = _worker(ds, file=source)
            write_file(out, destination, fsync=_fsync)
            done.append((source, None, report.count,
                         report.as_dict() if want_reports else None))
        except Exception as exc:  # noqa: BLE001 - one bad file is reported, the batch goes on
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            done.append((source, f"{type(exc).__name__}: {reason}", 0, None))
    return done


def run_batch(paths: Iterable[str], out_dir: str, options: Iterable[str] = (),
              key: bytes | str | None = None, *, rules: Rules | None = None,
              workers: int | None = None, report_path: str | None = None,
              progress: Callable[[int, int], None] | None = None,
              fsync: bool = False) -> BatchResult:
    """De-identify every file of ``paths`` (files or folders) into ``out_dir``.

    ``workers``: processes (default: the CPUs; 1 runs here, in this process);
    ``report_path``: where to write the JSON report (a list of per-file reports, each with its
    changes); ``progress(done, total)`` is called as files finish; ``fsync``: sync each
    file before its rename."""
    chosen = sorted(check_options(list(options)))
    secret = Keys(key).secret
    started = time.monotonic()
    jobs, refused = plan(paths, out_dir)
    result = BatchResult(total=len(jobs) + len(refused), failed=list(refused))
    reports: list[dict[str, Any]] = []
    chunks = [jobs[i:i + CHUNK] for i in range(0, len(jobs), CHUNK)]
    want = report_path is not None
    count = workers if workers is not None else (os.cpu_count() or 1)
    finished = len(refused)

    def take(batch: list[Outcome]) -> None:
        nonlocal finished
        for source, error, changes, report in batch:
            if error is None:
                result.written += 1
                result.changes += changes
                if report is not None:
                    reports.append(report)
            else:
                result.failed.append((source, error))
        finished += len(batch)
        if progress is not None:
            progress(finished, result.total)

    os.makedirs(out_dir, exist_ok=True)
    if count <= 1 or len(chunks) <= 1:
        _start(chosen, secret, rules, fsync, want)
        for chunk in chunks:
            take(_run_chunk(chunk, want))
    else:
        with ProcessPoolExecutor(max_workers=min(count, len(chunks)), initializer=_start,
                                 initargs=(chosen, secret, rules, fsync, want)) as pool:
            for batch in pool.map(_run_chunk, chunks, [want] * len(chunks)):
                take(batch)
    if report_path is not None:
        document = {"options": chosen, "files": reports,
                    "failed": [{"file": f, "reason": r} for f, r in result.failed]}
        data = json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8")
        folder = os.path.dirname(os.path.abspath(report_path))
        os.makedirs(folder, exist_ok=True)
        durable.place(durable.write_temporary(folder, data), report_path, fsync=True,
                      folders=[folder])
    result.seconds = time.monotonic() - started
    return result
