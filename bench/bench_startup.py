"""Start-up cost: ``import dicomkit`` and ``dicomkit dump`` wall time, fresh interpreter each run.

Each command runs ``--runs`` times (default 15, after one untimed warm-up run; round-robin over
the commands) as a subprocess of the same interpreter (``sys.executable``); the median wall time
is reported, with the median CPU time (user + sys) of the child. dicomkit is taken
from this checkout's src/ (PYTHONPATH). ``dicomkit dump`` uses the console script when one is on
PATH, else ``python -m dicomkit.cli.main``. Then ``python -X importtime -c "import dicomkit"``
(and the same for the dump command) is shown, top 10 modules by cumulative import time.

Targets: import < 100 ms, dump < 250 ms.

    python bench/bench_startup.py [--file bench/data/ct/CT00001.dcm] [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util  # noqa: E402

NO_PYC = "import dicomkit, no .pyc cache"
TARGETS_MS = {"import dicomkit": 100.0, "dicomkit dump FILE": 250.0,
              "dicomkit dump --json FILE": 250.0}


def dump_command() -> tuple[list[str], str]:
    script = shutil.which("dicomkit")
    if script:
        return [script, "dump"], f"{script} dump"
    return [sys.executable, "-m", "dicomkit.cli.main", "dump"], "python -m dicomkit.cli.main dump"


def time_commands(commands: dict[str, list[str]], runs: int) -> dict[str, Any]:
    """Time every command ``runs`` times, round-robin so that load from elsewhere on the machine
    hits all of them alike. Wall time (what the targets are about) and the child's CPU time
    (user + sys, less disturbed by other processes) are both recorded."""
    results: dict[str, Any] = {}
    envs = {name: _util.child_env(cached_bytecode=name != NO_PYC) for name in commands}
    for name, command in commands.items():  # warm-up; fills the .pyc cache; finds failures
        first = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=envs[name], check=False, text=True)
        if first.returncode != 0:
            last = first.stderr.strip().splitlines()[-1] if first.stderr.strip() else ""
            results[name] = {"error": f"exit {first.returncode}: {last}"}
    live = [name for name in commands if name not in results]
    wall: dict[str, list[float]] = {name: [] for name in live}
    cpu: dict[str, list[float]] = {name: [] for name in live}
    for _ in range(runs):
        for name in live:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(commands[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=envs[name], check=True)
            wall[name].append(1000 * (time.perf_counter() - start))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(1000 * (after.ru_utime + after.ru_stime
                                     - before.ru_utime - before.ru_stime))
    for name in live:
        results[name] = {"median_ms": statistics.median(wall[name]), "min_ms": min(wall[name]),
                         "max_ms": max(wall[name]), "cpu_median_ms": statistics.median(cpu[name]),
                         "runs_ms": wall[name]}
    return {name: results[name] for name in commands}


def import_times(args: list[str], limit: int = 10) -> list[tuple[int, int, str]]:
    """Top modules by cumulative import time: (cumulative us, self us, module)."""
    command = [sys.executable, "-X", "importtime", *args]
    env = _util.child_env()
    subprocess.run(command, capture_output=True, env=env, check=False)  # fill the .pyc cache
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:"):].split("|", 2)
        rows.append((int(cumulative), int(self_us), name.rstrip()))
    rows.sort(reverse=True)
    return rows[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=_util.DATA / "ct" / "CT00001.dcm")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, default=_util.OUT / "startup.json")
    args = parser.parse_args(argv)
    if not args.file.exists():
        print(f"{args.file} is missing; run bench/make_ct_series.py first", file=sys.stderr)
        return 2

    _util.print_machine()
    dump, dump_label = dump_command()
    path = str(args.file)
    py = sys.executable
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "import dicomkit": [py, "-c", "import dicomkit"],
        "import pydicom": [py, "-c", "import pydicom"],
        "dicomkit dump FILE": [*dump, path],
        "dicomkit dump --no-pixels FILE": [*dump, "--no-pixels", path],
        "dicomkit dump --json FILE": [*dump, "--json", path],
        # Without the site module (-S): no .pth hooks, so the figures do not depend on what
        # else is installed in site-packages; dicomkit still comes from PYTHONPATH.
        "python -S -c pass": [py, "-S", "-c", "pass"],
        "python -S -c 'import dicomkit'": [py, "-S", "-c", "import dicomkit"],
        "python -S -m dicomkit.cli.main dump FILE": [py, "-S", "-m", "dicomkit.cli.main", "dump",
                                                     path],
        # As the calling shell has it (PYTHONDONTWRITEBYTECODE may be set: every dicomkit module
        # is then compiled from source at each start).
        NO_PYC: [py, "-c", "import dicomkit"],
    }
    print(f"# {args.runs} runs each, fresh interpreter; dump is `{dump_label}`; FILE = {path}")
    print(f"# bytecode cached in {_util.PYCACHE} (PYTHONPYCACHEPREFIX) except the last row; "
          f"PYTHONDONTWRITEBYTECODE in the caller's env: "
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')}")
    print(f"\n{'command':42} {'median ms':>9} {'min ms':>7} {'max ms':>7} {'CPU ms':>7}  target")
    results = time_commands(commands, args.runs)
    for name, result in results.items():
        if "error" in result:
            print(f"{name:42} {'error':>9}  {result['error']}")
            continue
        verdict = ""
        if name in TARGETS_MS:
            target = TARGETS_MS[name]
            verdict = f"< {target:.0f} ms " + ("met" if result["median_ms"] < target else "MISSED")
        print(f"{name:42} {result['median_ms']:9.1f} {result['min_ms']:7.1f} "
              f"{result['max_ms']:7.1f} {result['cpu_median_ms']:7.1f}  {verdict}")
    print()
    for bare, name in (("python -c pass", "import dicomkit"),
                       ("python -S -c pass", "python -S -c 'import dicomkit'")):
        base, full = results[bare].get("median_ms"), results[name].get("median_ms")
        if base is not None and full is not None:
            print(f"{name} costs {full - base:.1f} ms over `{bare}`")

    profiles = {
        "import dicomkit": ["-c", "import dicomkit"],
        "import dicomkit, -S": ["-S", "-c", "import dicomkit"],
        "dicomkit dump FILE, -S": ["-S", "-m", "dicomkit.cli.main", "dump", path],
    }
    importtime: dict[str, Any] = {}
    for name, pyargs in profiles.items():
        rows = import_times(pyargs)
        importtime[name] = rows
        print(f"\n## python -X importtime {' '.join(pyargs)}: top 10 by cumulative time")
        print(f"  {'cumul. ms':>9} {'self ms':>8}  module")
        for cumulative, self_us, module in rows:
            print(f"  {cumulative / 1000:9.1f} {self_us / 1000:8.1f}  {module}")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": _util.machine(), "dump": dump_label,
                                     "file": path, "runs": args.runs, "results": results,
                                     "importtime": importtime}, indent=2))
    print(f"\n(raw figures in {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
