"""DICOMDIR creation and study export as ZIP (issue 17), in one run.

* **DICOMDIR over N files** (default 10,000 small CT instances already at File IDs,
  ``IMAGES/Snnnn/Innnnnnn``): ``dicomkit dicomdir create ROOT`` against DCMTK
  ``dcmmkdir +r +id ROOT`` (General Purpose CD-R profile, both), each a fresh process, best
  of ``--repeat``; wall time, CPU time and peak RSS (``wait4`` rusage) of the command.
* **Export of a study as ZIP** (default the 1,000-image 512x512 CT series of
  ``make_ct_series.py``, imported into a fresh archive first): ``dicomkit export --study UID
  --out study.zip`` in a fresh process; MB/s of ZIP written and the process's peak RSS. For a
  reference point, ``zip -0 -q`` of the same files in the same run (no DICOMDIR).

    python bench/bench_media.py [--files 10000] [--study-images 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util  # noqa: E402

_util.use_checkout()

import dicomkit  # noqa: E402
from dicomkit.cli.sample import make_ct  # noqa: E402
from dicomkit.core.uid import generate_uid  # noqa: E402


def run(argv: list[str], cwd: Path | None = None) -> dict[str, float]:
    """Wall s, CPU s (user + system) and peak RSS MB of one command, measured by GNU
    ``/usr/bin/time`` (a child spawned from this process would count this process's memory in
    its own peak: Linux records the old address space's peak at exec)."""
    report = _util.OUT / "media" / "time.txt"
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-o", str(report), "-f", "%e %U %S %M", *argv],
                          cwd=cwd, env=_util.child_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[:5]} failed ({done.returncode}):\n"
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    _, user, system, rss_kb = report.read_text().split()[-4:]
    return {"wall": wall, "cpu": float(user) + float(system), "rss_mb": int(rss_kb) / 1024}


def make_files(root: Path, count: int) -> None:
    marker = root / f".made-{count}"
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    study, series_uids = generate_uid(), [generate_uid() for _ in range(10)]
    patients = 20
    for number in range(count):
        ds = make_ct(32, number + 1, study if number % patients == 0 else generate_uid()
                     if number % 500 == 0 else study, series_uids[number % 10])
        ds.PatientID = f"P{number % patients:03d}"
        folder = root / "IMAGES" / f"S{number // 1000:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        dicomkit.write(ds, folder / f"I{number:07d}")
    marker.write_text("")


def best(rows: list[dict[str, float]]) -> dict[str, float]:
    return min(rows, key=lambda r: r["wall"])


def bench_dicomdir(root: Path, repeat: int) -> dict[str, Any]:
    python = [sys.executable, "-m", "dicomkit.cli.main"]
    ours, theirs = [], []
    for _ in range(repeat):
        (root / "DICOMDIR").unlink(missing_ok=True)
        ours.append(run(python + ["dicomdir", "create", str(root)]))
        out = root.parent / "DCMTKDIR"
        out.unlink(missing_ok=True)
        theirs.append(run(["dcmmkdir", "-q", "+r", "+id", str(root), "+D", str(out)], cwd=root))
    from dicomkit.media import FileSet

    count = sum(1 for _ in FileSet.read(root).instances())
    dcmtk_count = sum(1 for _ in FileSet.read(root.parent / "DCMTKDIR").instances())
    return {"files": count, "dcmtk_files": dcmtk_count, "dicomkit": best(ours),
            "dcmmkdir": best(theirs)}


def bench_export(series: Path, work: Path) -> dict[str, Any]:
    from dicomkit.archive.store import Archive

    data = work / "archive"
    shutil.rmtree(data, ignore_errors=True)
    archive = Archive(str(data), fsync=False)
    study = ""
    files = sorted(p for p in series.iterdir() if p.is_file())
    for path in files:
        archive.import_file(str(path))
    study = str(dicomkit.read(files[0], stop_before_pixels=True).StudyInstanceUID)
    archive.close()
    out = work / "study.zip"
    out.unlink(missing_ok=True)
    ours = run([sys.executable, "-m", "dicomkit.cli.main", "export", "--study", study,
                "--out", str(out), "--data", str(data)])
    size = out.stat().st_size
    reference = None
    if shutil.which("zip"):
        plain = work / "plain.zip"
        plain.unlink(missing_ok=True)
        reference = run(["zip", "-0", "-q", "-r", str(plain), "."], cwd=series)
        reference["mb_s"] = plain.stat().st_size / 1e6 / reference["wall"]
        plain.unlink()
    out.unlink()
    return {"images": len(files), "zip_mb": size / 1e6,
            "dicomkit": {**ours, "mb_s": size / 1e6 / ours["wall"]}, "zip -0": reference}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--study-images", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _util.print_machine()
    work = _util.OUT / "media"
    work.mkdir(parents=True, exist_ok=True)
    root = _util.DATA / f"media-{args.files}" / "ROOT"
    make_files(root, args.files)
    result: dict[str, Any] = {"machine": _util.machine()}
    if shutil.which("dcmmkdir"):
        result["dicomdir"] = bench_dicomdir(root, args.repeat)
        d = result["dicomdir"]
        print(f"DICOMDIR over {d['files']} files (dcmmkdir: {d['dcmtk_files']}), best of "
              f"{args.repeat}:")
        for name in ("dicomkit", "dcmmkdir"):
            r = d[name]
            print(f"  {name:9s} {r['wall']:7.2f} s wall  {r['cpu']:7.2f} s CPU  "
                  f"{r['rss_mb']:7.1f} MB peak RSS")
        print(f"  dicomkit / dcmmkdir wall: {d['dicomkit']['wall'] / d['dcmmkdir']['wall']:.2f}x")
    series = _util.DATA / "ct"
    subprocess.run([sys.executable, str(_util.HERE / "make_ct_series.py"), "--out", str(series),
                    "--count", str(args.study_images)], check=True, env=_util.child_env())
    result["export"] = bench_export(series, work)
    e = result["export"]
    r = e["dicomkit"]
    print(f"export of a {e['images']}-image study as ZIP ({e['zip_mb']:.0f} MB):")
    print(f"  dicomkit export {r['wall']:7.2f} s wall  {r['mb_s']:7.1f} MB/s  "
          f"{r['rss_mb']:7.1f} MB peak RSS")
    if e["zip -0"]:
        z = e["zip -0"]
        print(f"  zip -0 (files only, no DICOMDIR) {z['wall']:7.2f} s  {z['mb_s']:7.1f} MB/s  "
              f"{z['rss_mb']:7.1f} MB peak RSS")
    (_util.OUT / "bench_media.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
