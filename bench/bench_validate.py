"""IOD validation throughput on a 1,000-file CT series: dicomkit vs dicom3tools ``dciodvfy``,
in the same run, on the same files (page cache warm).

Cases:

* dicomkit in-process: ``dicomkit.read(path)`` + ``dicomkit.validate(ds)`` per file, one
  process (what ``Dataset.validate()`` and the archive's validate-on-ingest cost);
* ``dicomkit validate DIR --json -j 1`` and ``-j 2``: the command, start-up included;
* ``dciodvfy -new FILE`` per file, one after another (dciodvfy checks one file per run).

Files/s is wall-clock; CPU seconds (user+sys, children included) are printed too, since the
machine is shared. Target (issue 14): at least 3x dciodvfy.

    python bench/make_ct_series.py --out /work/benchdata/ct --count 1000
    python bench/bench_validate.py [--dir /work/benchdata/ct] [--count 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util  # noqa: E402

_util.use_checkout()

import dicomkit  # noqa: E402


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, count: int, action) -> float:  # type: ignore[no-untyped-def]
    cpu, wall = cpu_seconds(), time.perf_counter()
    action()
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    rate = count / wall
    print(f"{label:<38} {rate:8.1f} files/s  wall {wall:7.2f} s  cpu {cpu:7.2f} s")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/work/benchdata/ct"))
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args(argv)
    files = sorted(p for p in args.dir.iterdir() if p.is_file())[:args.count]
    if not files:
        raise SystemExit(f"no files in {args.dir}: run bench/make_ct_series.py first")
    _util.print_machine()
    print(f"# {len(files)} files from {args.dir}")
    for path in files:  # warm the page cache
        path.read_bytes()
    errors = 0

    def in_process() -> None:
        nonlocal errors
        for path in files:
            errors += any(f.severity == "error" for f in dicomkit.validate(dicomkit.read(path)))

    ours = timed("dicomkit read+validate (1 process)", len(files), in_process)
    print(f"#   files with errors: {errors}")
    env = _util.child_env()
    listing = [str(p) for p in files]
    for jobs in (1, 2):
        timed(f"dicomkit validate --json -j {jobs}", len(files), lambda jobs=jobs: subprocess.run(
            [sys.executable, "-m", "dicomkit.cli.main", "validate", "--json", "-j", str(jobs),
             *listing], env=env, stdout=subprocess.DEVNULL, check=False))
    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        print("dciodvfy not installed: no comparison")
        return 0

    def reference() -> None:
        for path in files:
            subprocess.run([dciodvfy, "-new", str(path)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)

    theirs = timed("dciodvfy -new (one run per file)", len(files), reference)
    print(f"# dicomkit in-process / dciodvfy: {ours / theirs:.2f}x (target >= 3x); "
          f"load now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
