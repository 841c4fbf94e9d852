"""``dicomkit validate``: check files against their IOD, the dictionary, the VR rules and the
File Meta Information (:mod:`dicomkit.iod.validate`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HELP = "check DICOM files against their IOD (PS3.3), PS3.5 value rules and PS3.10"
EPILOG = """Each finding names its severity (error or warning), the attribute path
(ReferencedSeriesSequence[0].SeriesInstanceUID), the tag, the module and the standard's section.
Directories are searched recursively (files in them that are not Part 10 files and do not end
in .dcm are skipped; files named on the command line are always checked).

examples:
  dicomkit validate ct/0001.dcm                 a readable table of findings
  dicomkit validate study/ --level error        errors only, every file under study/
  dicomkit validate *.dcm --json > findings.json
  dicomkit validate big-series/ -j 4            four processes (the default for many files)

--json prints one JSON array of findings, each with file, severity, path, tag (GGGGEEEE),
message, module and section.

exit status: 0 no error (warnings allowed); 1 an error in some file; 2 usage, or a file that
cannot be read as DICOM at all."""

PARALLEL_FROM = 32  # below this many files, one process is faster than starting a pool


def add_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="FILE|DIR", help="files or directories")
    p.add_argument("--json", action="store_true", help="print one JSON array of findings")
    p.add_argument("--level", choices=("error", "warning"), default="warning",
                   help="lowest severity shown (default: warning, i.e. everything)")
    p.add_argument("--iod", metavar="NAME|UID",
                   help="check against this IOD (e.g. CTImage) instead of the SOP Class's")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help=f"processes (default: the CPU count from {PARALLEL_FROM} files on)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress line on standard error (default: when it is a terminal)")
    p.set_defaults(run=run)


def files_of(paths: list[str]) -> Iterator[Path]:
    """The files to check: each named file, and the DICOM files under each directory."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for file in sorted(files):
                    candidate = Path(root) / file
                    if candidate.suffix.lower() == ".dcm" or _has_preamble(candidate):
                        yield candidate
        else:
            yield path


def _has_preamble(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def check_file(path: str, iod: str | None = None) -> tuple[list[dict[str, str]], bool]:
    """The findings about one file as JSON objects, and whether it could be read at all."""
    from dicomkit.encoding.reader import read
    from dicomkit.errors import DicomError
    from dicomkit.iod.validate import validate

    try:
        dataset = read(path)
    except (DicomError, OSError, ValueError) as exc:
        return [{"file": path, "severity": "error", "path": "", "tag": "",
                 "message": f"cannot be read as DICOM: {exc}", "module": "",
                 "section": "PS3.10 §7"}], False
    try:
        findings = validate(dataset, iod, file=path)
    except (DicomError, ValueError) as exc:
        return [{"file": path, "severity": "error", "path": "", "tag": "",
                 "message": f"cannot be validated: {exc}", "module": "", "section": ""}], True
    return [finding.as_dict() for finding in findings], True


def _check_one(job: tuple[str, str | None]) -> tuple[list[dict[str, str]], bool]:
    return check_file(*job)


def run(args: argparse.Namespace) -> int:
    paths = list(files_of(args.paths))
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print(f"dicomkit validate: no such file: {missing[0]}", file=sys.stderr)
        return 2
    jobs = args.jobs if args.jobs else (os.cpu_count() or 1) if len(paths) >= PARALLEL_FROM else 1
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    shown = ("error",) if args.level == "error" else ("error", "warning")
    every: list[dict[str, str]] = []
    unreadable = errors = 0
    work = [(str(p), args.iod) for p in paths]
    results: Iterator[tuple[list[dict[str, str]], bool]]
    pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 and len(work) > 1 else None
    try:
        results = (pool.map(_check_one, work, chunksize=max(1, len(work) // (jobs * 8)))
                   if pool is not None else map(_check_one, work))
        for done, (findings, readable) in enumerate(results, 1):
            unreadable += not readable
            errors += any(f["severity"] == "error" for f in findings)
            kept = [f for f in findings if f["severity"] in shown]
            every += kept
            if not args.json:
                _print_file(work[done - 1][0], kept)
            if progress:
                print(f"\r{done}/{len(work)} files, {errors} with errors", end="",
                      file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if progress:
        print(file=sys.stderr)
    if args.json:
        json.dump(every, sys.stdout, indent=1)
        print()
    else:
        print(f"{len(work)} file(s): {errors} with errors, "
              f"{sum(f['severity'] == 'warning' for f in every)} warning(s) shown")
    return 2 if unreadable else 1 if errors else 0


def _print_file(name: str, findings: list[dict[str, str]]) -> None:
    if not findings:
        return
    counts = {s: sum(f["severity"] == s for f in findings) for s in ("error", "warning")}
    print(f"{name}: {counts['error']} error(s), {counts['warning']} warning(s)")
    for f in findings:
        where = f["path"] + (f" ({f['tag']})" if f["tag"] else "")
        context = ", ".join(x for x in (f["module"], f["section"]) if x)
        print(f"  {f['severity']:<8}{where or '-'}: {f['message']}"
              + (f"  [{context}]" if context else ""))
