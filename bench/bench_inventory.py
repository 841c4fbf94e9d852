"""Inventory creation (Supplement 223, PS3.3 A.88) over a large synthetic index.

The index is filled directly (rows inserted into patients/studies/series/instances with
``executemany``: no files, no ingest), N instances in studies of SERIES series of INSTANCES
instances each. Then ``dicomkit inventory create --level INSTANCE`` (and ``--level STUDY``)
runs in a fresh process under GNU ``/usr/bin/time``: wall time, CPU and peak RSS. Bounded
memory means the peak stays flat as N grows: the script runs two sizes and prints both.

    python3 bench/bench_inventory.py                  # N = 100,000 and 1,000,000
    python3 bench/bench_inventory.py --sizes 20000 200000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _util

_util.use_checkout()

from dicomkit.archive.schema import instances, patients, series, studies  # noqa: E402
from dicomkit.archive.store import Archive  # noqa: E402

SERIES = 4
INSTANCES = 250  # per series: a 1,000-instance study
CT = "1.2.840.10008.5.1.4.1.1.2"
TS = "1.2.840.10008.1.2.1"


def fill(data: Path, count: int) -> None:
    """``count`` instances as index rows only."""
    archive = Archive(str(data), fsync=False)
    engine = archive.index.engine
    now = dt.datetime.now(dt.UTC)
    per_study = SERIES * INSTANCES
    n_studies = max(1, count // per_study)
    with engine.begin() as connection:
        connection.execute(patients.insert(), [
            {"pk": p + 1, "patient_id": f"BENCH-{p:07d}", "issuer": "",
             "patient_name": f"Bench^{p}", "birth_date": "19700101", "sex": "O",
             "attrs": json.dumps({"00100020": {"vr": "LO", "Value": [f"BENCH-{p:07d}"]},
                                  "00100010": {"vr": "PN", "Value": [{"Alphabetic":
                                                                      f"Bench^{p}"}]}})}
            for p in range(n_studies)])
        connection.execute(studies.insert(), [
            {"pk": s + 1, "patient_pk": s + 1, "study_uid": f"2.25.1{s:09d}",
             "study_date": "20240105", "study_time": "081500", "accession_number": f"A{s}",
             "study_id": "1", "study_description": "bench", "modalities": "\\CT\\",
             "sop_classes": f"\\{CT}\\", "created": now, "updated": now,
             "attrs": json.dumps({"0020000D": {"vr": "UI", "Value": [f"2.25.1{s:09d}"]},
                                  "00080020": {"vr": "DA", "Value": ["20240105"]},
                                  "00080050": {"vr": "SH", "Value": [f"A{s}"]}})}
            for s in range(n_studies)])
        connection.execute(series.insert(), [
            {"pk": s * SERIES + k + 1, "study_pk": s + 1,
             "series_uid": f"2.25.2{s:09d}{k:03d}", "modality": "CT", "series_number": k + 1,
             "attrs": json.dumps({"0020000E": {"vr": "UI", "Value": [f"2.25.2{s:09d}{k:03d}"]},
                                  "00080060": {"vr": "CS", "Value": ["CT"]},
                                  "00200011": {"vr": "IS", "Value": [k + 1]}})}
            for s in range(n_studies) for k in range(SERIES)])
        batch = []
        pk = 0
        for s in range(n_studies):
            for k in range(SERIES):
                for i in range(INSTANCES):
                    pk += 1
                    batch.append({"pk": pk, "series_pk": s * SERIES + k + 1,
                                  "sop_uid": f"2.25.3{pk:012d}", "sop_class": CT,
                                  "instance_number": i + 1, "transfer_syntax": TS,
                                  "path": f"x/{pk}.dcm", "size": 1000, "metadata": "{}",
                                  "created": now})
                    if len(batch) == 50_000:
                        connection.execute(instances.insert(), batch)
                        batch = []
        if batch:
            connection.execute(instances.insert(), batch)
    archive.close()


def run(argv: list[str]) -> dict[str, float]:
    report = _util.OUT / "inventory" / "time.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-o", str(report), "-f", "%e %U %S %M", *argv],
                          env=_util.child_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[:6]} failed ({done.returncode}):\n"
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    _, user, system, rss_kb = report.read_text().split()[-4:]
    return {"wall": wall, "cpu": float(user) + float(system), "rss_mb": int(rss_kb) / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    work = _util.OUT / "inventory"
    results = []
    print(_util.machine())
    for size in args.sizes:
        data = work / f"data-{size}"
        shutil.rmtree(data, ignore_errors=True)
        start = time.perf_counter()
        fill(data, size)
        filled = time.perf_counter() - start
        for level in ("STUDY", "INSTANCE"):
            out = work / f"inv-{size}-{level}"
            shutil.rmtree(out, ignore_errors=True)
            r = run([sys.executable, "-m", "dicomkit.cli.main", "inventory", "create",
                     "--out", str(out), "--level", level, "--data", str(data)])
            files = list(out.glob("*.dcm"))
            size_mb = sum(f.stat().st_size for f in files) / 1e6
            row = {"instances": size, "level": level, "files": len(files),
                   "output_mb": round(size_mb, 1), "fill_s": round(filled, 1), **r}
            results.append(row)
            print(f"N={size:>9,} {level:8} {r['wall']:7.1f} s wall {r['cpu']:7.1f} s CPU "
                  f"{r['rss_mb']:6.1f} MB peak RSS  {len(files):4} files {size_mb:7.1f} MB "
                  f"({size / r['wall']:,.0f} instances/s)")
            shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    (_util.OUT / "inventory.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
