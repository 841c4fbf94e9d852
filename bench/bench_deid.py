"""De-identification throughput, dicomkit vs dicognito, dicom-anonymizer and deid, on the synthetic CT
series (bench/make_ct_series.py), all in the same run.

Each case reads every file, de-identifies it with the tool's basic profile and writes the result
to a file of its own (one process, one core, so the tools compare on equal terms):

* dicomkit: ``dicomkit.read`` → ``Deidentifier([], key)`` (PS3.15 Basic Profile from Table
  E.1-1) → ``write_file`` (temporary file and rename, as ``dicomkit deid`` writes; no fsync,
  like ``save_as``);
* dicognito 0.19.0: ``pydicom.dcmread`` → ``Anonymizer(seed=…).anonymize`` → ``save_as``;
* dicom-anonymizer 2.1.0: ``dcmread`` → ``anonymize_dataset(…, initialize_actions_2024b)`` →
  ``save_as``;
* deid 0.4.13 (pydicom's): ``replace_identifiers([path], deid=DeidRecipe(), save=False,
  remove_private=True)`` (its default recipe, parsed once; it reads the file itself) →
  ``save_as``.

dicomkit runs as ``dicomkit deid`` without ``--report`` does: the changes are counted, not
recorded one by one (``Deidentifier(..., record=False)``).

Also shown (not in the ratio): ``dicomkit.deid.run_batch`` with worker processes, the way
``dicomkit deid`` runs. Passes are interleaved; best and median files/s and CPU ms/file are
reported, and the ratio to the fastest other tool (target >= 3x).

    python bench/bench_deid.py [--data bench/data/ct] [--repeat 3] [--count N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util  # noqa: E402

_util.use_checkout()

os.environ.setdefault("MESSAGELEVEL", "-1")  # deid logs every action at DEBUG otherwise
import pydicom  # noqa: E402
from deid.config import DeidRecipe  # noqa: E402
from deid.dicom import replace_identifiers  # noqa: E402
from dicognito.anonymizer import Anonymizer  # noqa: E402
from dicomanonymizer import simpledicomanonymizer  # noqa: E402

import dicomkit  # noqa: E402
from dicomkit.deid import Deidentifier, run_batch  # noqa: E402
from dicomkit.deid.batch import write_file  # noqa: E402

TARGET = 3.0
KEY = "bench-secret"


class Case:
    """One tool; ``out`` is the folder of the current pass (a new one each pass, so that no
    tool overwrites files, which costs the file system more than writing new ones)."""

    def __init__(self) -> None:
        self.out = Path()

    def __call__(self, path: str) -> None:
        raise NotImplementedError


class DicomkitCase(Case):
    def __init__(self) -> None:
        super().__init__()
        self.profile = Deidentifier([], KEY, record=False)

    def __call__(self, path: str) -> None:
        ds, _report = self.profile(dicomkit.read(path))
        write_file(ds, str(self.out / Path(path).name))  # as run_batch: temporary + rename


class DicognitoCase(Case):
    def __init__(self) -> None:
        super().__init__()
        self.anonymizer = Anonymizer(seed=KEY)

    def __call__(self, path: str) -> None:
        ds = pydicom.dcmread(path)
        self.anonymizer.anonymize(ds)
        ds.save_as(self.out / Path(path).name)


class AnonymizerCase(Case):
    def __call__(self, path: str) -> None:
        ds = pydicom.dcmread(path)
        simpledicomanonymizer.anonymize_dataset(
            ds, base_rules_gen=simpledicomanonymizer.initialize_actions_2024b)
        ds.save_as(self.out / Path(path).name)


class DeidCase(Case):
    def __init__(self) -> None:
        super().__init__()
        self.recipe = DeidRecipe()

    def __call__(self, path: str) -> None:
        [ds] = replace_identifiers([path], deid=self.recipe, save=False, remove_private=True)
        ds.save_as(self.out / Path(path).name)


CASES: dict[str, Callable[[], Case]] = {
    "dicomkit": DicomkitCase, "dicognito 0.19.0": DicognitoCase,
    "dicom-anonymizer 2.1.0": AnonymizerCase, "deid 0.4.13": DeidCase}


def timed_pass(func: Callable[[str], Any], paths: list[str]) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        func(path)
    return time.perf_counter() - start, time.process_time() - cpu


def check_removed(folder: Path, name: str) -> None:
    """Each tool must actually have de-identified: the patient's name is not there."""
    sample = next(folder.glob("*.dcm"))
    ds = pydicom.dcmread(sample)
    original = pydicom.dcmread(SOURCE / sample.name)
    if str(ds.get("PatientName", "")) == str(original.PatientName):
        raise SystemExit(f"{name}: Patient's Name survived in {sample}")


SOURCE = Path()


def main(argv: list[str] | None = None) -> int:
    global SOURCE
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=_util.DATA / "ct")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--count", type=int, default=0, help="use the first N files only")
    parser.add_argument("--jobs", type=int, default=2, help="processes of the batch row")
    parser.add_argument("--work", type=Path, default=None,
                        help="where the outputs go (default: a temporary folder; /dev/shm keeps "
                             "disk write-back out of the figures)")
    parser.add_argument("--json", type=Path, default=_util.OUT / "deid.json")
    args = parser.parse_args(argv)
    SOURCE = args.data
    paths = sorted(str(p) for p in args.data.glob("*.dcm"))
    if args.count:
        paths = paths[:args.count]
    if not paths:
        print(f"no files in {args.data}; run bench/make_ct_series.py first", file=sys.stderr)
        return 2
    _util.print_machine()
    size = sum(Path(p).stat().st_size for p in paths)
    print(f"# {len(paths)} files, {size / 1e6:.1f} MB, in {args.data}; {args.repeat} timed "
          "passes, one process each")
    work = Path(tempfile.mkdtemp(prefix="bench-deid-", dir=args.work))
    print(f"# outputs in {work}")
    try:
        funcs: dict[str, Case] = {}
        for name, make in CASES.items():
            funcs[name] = make()
            funcs[name].out = work / f"warm-{name.split()[0]}"
            funcs[name].out.mkdir()
            timed_pass(funcs[name], paths[:20])  # warm up: imports, tables, page cache
            check_removed(funcs[name].out, name)
        for path in paths:  # the page cache holds the whole series
            Path(path).read_bytes()
        times: dict[str, list[float]] = {name: [] for name in funcs}
        cpu: dict[str, list[float]] = {name: [] for name in funcs}
        for number in range(args.repeat):
            for name, func in funcs.items():  # interleaved: drift hits every case alike
                func.out = work / f"pass{number}-{name.split()[0]}"
                func.out.mkdir()
                gc.collect()
                wall, used = timed_pass(func, paths)
                times[name].append(wall)
                cpu[name].append(used)
                shutil.rmtree(func.out)
        batch_folder = work / "batch"
        started = time.perf_counter()
        batch = run_batch([str(args.data)] if not args.count else paths, str(batch_folder), (),
                          KEY, workers=args.jobs)
        batch_wall = time.perf_counter() - started
        if batch.failed:
            raise SystemExit(f"batch failures: {batch.failed[:3]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = len(paths)
    results: dict[str, Any] = {}
    print(f"\n{'case':26} {'best files/s':>12} {'median files/s':>15} {'CPU ms/file':>12}")
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        cpu_median = statistics.median(cpu[name])
        results[name] = {"best_files_s": n / best, "median_files_s": n / median,
                         "cpu_median_ms_per_file": 1000 * cpu_median / n, "passes_s": values,
                         "cpu_passes_s": cpu[name]}
        print(f"{name:26} {n / best:12.0f} {n / median:15.0f} {1000 * cpu_median / n:12.3f}")
    batch_rate = batch.written / batch_wall
    print(f"{'dicomkit run_batch -j' + str(args.jobs):26} {batch_rate:12.0f} {'':>15} "
          f"{'(wall, incl. pool start)':>12}")

    others = [name for name in times if name != "dicomkit"]
    fastest = max(others, key=lambda name: n / statistics.median(times[name]))
    median_ratio = statistics.median(times[fastest]) / statistics.median(times["dicomkit"])
    cpu_ratio = statistics.median(cpu[fastest]) / statistics.median(cpu["dicomkit"])
    verdict = "met" if median_ratio >= TARGET else "MISSED"
    print(f"\ndicomkit / fastest other ({fastest}): median {median_ratio:.2f}x, CPU "
          f"{cpu_ratio:.2f}x, target {TARGET:.1f}x: {verdict}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "machine": _util.machine(), "files": n, "bytes": size, "repeat": args.repeat,
        "cases": results, "batch": {"jobs": args.jobs, "files_s": batch_rate},
        "ratio": {"against": fastest, "median": median_ratio, "cpu": cpu_ratio,
                  "target": TARGET}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
