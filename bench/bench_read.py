"""Read throughput, dicomkit vs pydicom and DCMTK dcmdump, on the synthetic CT series
(bench/make_ct_series.py).

Cases, each over every file of the series, all in the same run and in this one process
(except dcmdump, one child process over all the files):

* header: ``read(path, stop_before_pixels=True)`` then touching 10 common attributes,
  vs pydicom ``dcmread(path, stop_before_pixels=True)`` touching the same.
* every value: ``read(path, stop_before_pixels=True)`` then decoding every value (File Meta
  Information and data set, nested items included) into its Python form, vs pydicom doing the
  same (``dcmread(stop_before_pixels=True)``, ``.value`` of every element of ``file_meta`` and
  ``iterall()``), vs ``dcmdump -q +sb 7fe0,0010 FILES...`` > /dev/null (DCMTK parses each file
  up to Pixel Data into its object model and prints every element's value as text: the same
  values touched, and text formatting dicomkit does not do).
* full: ``read(path).PixelData`` (the whole value as bytes) vs ``dcmread(path).PixelData``;
  also ``bytes(read(path)[0x7FE00010].raw)`` for dicomkit.

The page cache is warmed first (every case run once), then each case is repeated and timed;
the best and the median pass are reported as files/s with CPU time, and the ratios against
pydicom and dcmdump. Targets (issue 18): header >= 4x pydicom, full >= 3x, header-only >=
dcmdump.

    python bench/bench_read.py [--data bench/data/ct] [--repeat 7] [--profile]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util  # noqa: E402

_util.use_checkout()

import pydicom  # noqa: E402

import dicomkit  # noqa: E402

ATTRIBUTES = (
    "PatientName", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "InstanceNumber",
    "ImagePositionPatient", "Rows", "Columns", "PixelSpacing", "WindowCenter",
)
TARGETS: dict[str, float | None] = {"header": 4.0, "every": None, "full": 3.0, "dcmdump": 1.0}
"""Issue 18's targets; every value against pydicom has none (it is measured for the record)."""


def touch(ds: Any) -> list[Any]:
    return [getattr(ds, name) for name in ATTRIBUTES]


def dk_header(path: str) -> Any:
    return touch(dicomkit.read(path, stop_before_pixels=True))


def pd_header(path: str) -> Any:
    return touch(pydicom.dcmread(path, stop_before_pixels=True))


def dk_every(path: str) -> Any:
    ds = dicomkit.read(path, stop_before_pixels=True)
    values = [element.value for element in ds.file_meta]
    values += [element.value for _depth, element in ds.walk()]
    return values


def pd_every(path: str) -> Any:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    values = [element.value for element in ds.file_meta]
    values += [element.value for element in ds.iterall()]
    return values


def dk_full(path: str) -> Any:
    return len(dicomkit.read(path).PixelData)


def dk_full_raw(path: str) -> Any:
    return len(bytes(dicomkit.read(path)[0x7FE00010].raw))


def pd_full(path: str) -> Any:
    return len(pydicom.dcmread(path).PixelData)


CASES: dict[str, Callable[[str], Any]] = {
    "dicomkit header": dk_header,
    "pydicom header": pd_header,
    "dicomkit every value": dk_every,
    "pydicom every value": pd_every,
    "dicomkit full (.PixelData)": dk_full,
    "dicomkit full (bytes(.raw))": dk_full_raw,
    "pydicom full": pd_full,
}


def run_pass(func: Callable[[str], Any], paths: list[str]) -> float:
    return timed_pass(func, paths)[0]


def timed_pass(func: Callable[[str], Any], paths: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one pass over ``paths``."""
    start, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        func(path)
    return time.perf_counter() - start, time.process_time() - cpu


DCMDUMP = "dcmdump -q +sb 7fe0,0010 FILES... > /dev/null"


def dcmdump_pass(paths: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) for one dcmdump process over ``paths``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["dcmdump", "-q", "+sb", "7fe0,0010", *paths], stdout=subprocess.DEVNULL,
                   check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def check_same(path: str) -> None:
    """Both libraries must see the same values, or the comparison means nothing."""
    mine = dicomkit.read(path)
    theirs = pydicom.dcmread(path)
    for name in ATTRIBUTES:
        a, b = getattr(mine, name), getattr(theirs, name)
        if isinstance(b, pydicom.multival.MultiValue):
            b = list(b)
        norm_a = [float(x) for x in a] if isinstance(a, list) else a
        norm_b = [float(x) for x in b] if isinstance(b, list) else b
        if isinstance(norm_b, (int, float)) and not isinstance(norm_b, bool):
            norm_a, norm_b = float(norm_a), float(norm_b)
        if str(norm_a) != str(norm_b):
            raise SystemExit(f"{path}: {name} differs: dicomkit {a!r}, pydicom {b!r}")
    if bytes(mine.PixelData) != bytes(theirs.PixelData):
        raise SystemExit(f"{path}: PixelData differs")


def breakdown(paths: list[str]) -> None:
    """Where a header-only read's time goes, coarsely (best of 3 passes each, ms/file)."""

    def slurp(path: str) -> Any:
        with open(path, "rb") as handle:
            return len(handle.read())

    def head(path: str) -> Any:
        with open(path, "rb") as handle:
            return len(handle.read(16384))

    steps = {
        "open + read() the whole file": slurp,
        "open + read(16384)": head,
        "dicomkit read(stop_before_pixels=True)": lambda p: dicomkit.read(
            p, stop_before_pixels=True),
        "  ... + 10 attributes (the header case)": dk_header,
        "dicomkit read(path)": dicomkit.read,
        "pydicom dcmread(stop_before_pixels=True)": lambda p: pydicom.dcmread(
            p, stop_before_pixels=True),
    }
    print(f"\n## breakdown, ms/file (best of 3 passes over {len(paths)} files)")
    for name, func in steps.items():
        best = min(run_pass(func, paths) for _ in range(3))
        print(f"  {1000 * best / len(paths):7.3f}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=_util.DATA / "ct")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true",
                        help="also profile the dicomkit side (cProfile) and print hotspots")
    parser.add_argument("--json", type=Path, default=_util.OUT / "read.json")
    args = parser.parse_args(argv)

    paths = sorted(str(p) for p in args.data.glob("*.dcm"))
    if not paths:
        print(f"no files in {args.data}; run bench/make_ct_series.py first", file=sys.stderr)
        return 2
    _util.print_machine()
    print(f"# dcmdump case: {DCMDUMP}")
    size = sum(Path(p).stat().st_size for p in paths)
    print(f"# {len(paths)} files, {size / 1e6:.1f} MB, in {args.data}; {args.repeat} timed passes")
    check_same(paths[0])

    dcmdump = shutil.which("dcmdump") is not None
    for func in CASES.values():  # warm the page cache and both libraries' lazy tables
        run_pass(func, paths)
    names = list(CASES) + (["dcmdump (one process)"] if dcmdump else [])
    if dcmdump:
        dcmdump_pass(paths)
    else:
        print("# dcmdump not found: the DCMTK comparison is left out", file=sys.stderr)

    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.repeat):
        for name, func in CASES.items():  # interleaved, so drift hits every case alike
            gc.collect()
            wall, used = timed_pass(func, paths)
            times[name].append(wall)
            cpu[name].append(used)
        if dcmdump:
            wall, used = dcmdump_pass(paths)
            times["dcmdump (one process)"].append(wall)
            cpu["dcmdump (one process)"].append(used)

    n = len(paths)
    results: dict[str, Any] = {}
    print(f"\n{'case':30} {'best files/s':>12} {'median files/s':>15} {'median ms/file':>15}"
          f" {'CPU ms/file':>12}")
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        cpu_median = statistics.median(cpu[name])
        results[name] = {"best_files_s": n / best, "median_files_s": n / median,
                         "median_ms_per_file": 1000 * median / n,
                         "cpu_median_ms_per_file": 1000 * cpu_median / n,
                         "passes_s": values, "cpu_passes_s": cpu[name]}
        print(f"{name:30} {n / best:12.0f} {n / median:15.0f} {1000 * median / n:15.3f}"
              f" {1000 * cpu_median / n:12.3f}")

    print(f"\n{'ratio (files/s) dicomkit/reference':40} {'best':>6} {'median':>7} {'CPU':>6} {'target':>7}"
          "  result (median / CPU)")
    ratios = {}
    comparisons = [
        ("header", "dicomkit header", "pydicom header"),
        ("every", "dicomkit every value", "pydicom every value"),
        ("full", "dicomkit full (.PixelData)", "pydicom full"),
        ("full", "dicomkit full (bytes(.raw))", "pydicom full"),
    ]
    if dcmdump:
        comparisons += [("dcmdump", "dicomkit header", "dcmdump (one process)"),
                        ("dcmdump", "dicomkit every value", "dcmdump (one process)")]
    for kind, dk_name, pd_name in comparisons:
        best = min(times[pd_name]) / min(times[dk_name])
        median = statistics.median(times[pd_name]) / statistics.median(times[dk_name])
        by_cpu = statistics.median(cpu[pd_name]) / statistics.median(cpu[dk_name])
        target = TARGETS[kind]
        if target is None:
            verdict, shown = "-", "     -"
        else:
            verdict = ("met" if median >= target else "MISSED") + " / " + (
                "met" if by_cpu >= target else "MISSED")
            shown = f"{target:5.1f}x"
        ratios[f"{dk_name} / {pd_name}"] = {"best": best, "median": median, "cpu": by_cpu,
                                            "target": target}
        short = "dcmdump" if kind == "dcmdump" else "pd"
        print(f"{dk_name + ' / ' + short:40} {best:6.2f} {median:7.2f} {by_cpu:6.2f} {shown:>7}"
              f"  {verdict}")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": _util.machine(), "files": n, "bytes": size,
                                     "repeat": args.repeat, "cases": results,
                                     "ratios": ratios}, indent=2))
    print(f"\n(raw figures in {args.json})")

    if args.profile:
        breakdown(paths)
        for name in ("dicomkit header", "dicomkit every value", "dicomkit full (.PixelData)"):
            print(f"\n## cProfile, {name}, {n} files")
            func = CASES[name]
            _util.profile_top(lambda f=func: run_pass(f, paths), limit=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
