"""Helpers shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import cProfile
import os
import platform
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src"
DATA = HERE / "data"
OUT = HERE / "out"


def use_checkout() -> None:
    """Import dicomkit from this checkout's src/ (installed or not)."""
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))


PYCACHE = OUT / "pycache"


def child_env(*, cached_bytecode: bool = True) -> dict[str, str]:
    """Environment for subprocesses: dicomkit importable from src/.

    With ``cached_bytecode`` (the default) compiled bytecode is cached under bench/out/pycache
    (PYTHONPYCACHEPREFIX; nothing is written into src/), even if PYTHONDONTWRITEBYTECODE is set,
    so a fresh interpreter imports dicomkit the way an installed package is imported (pip
    compiles .pyc files at install time) instead of compiling every module from source.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if cached_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import pydicom

        pydicom_version = pydicom.__version__
    except ImportError:
        pydicom_version = "not installed"
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                               capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "pydicom": pydicom_version,
        "commit": commit + (" (src/ has uncommitted changes)" if dirty else ""),
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def print_machine() -> None:
    info = machine()
    print(f"# {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
          f"pydicom {info['pydicom']}, dicomkit @ {info['commit']}")
    print(f"# load average now (1/5/15 min): {info['loadavg_1_5_15']} - other work on the machine "
          "makes wall times noisy; compare best passes and CPU times too")


def profile_top(func: Any, *, limit: int = 15, prefix: str = "") -> list[tuple[str, float, float]]:
    """Run ``func`` under cProfile (CPU-time clock); print and return the top functions by own
    time.

    Each row: ("file:line:function", own time %, cumulative %), percentages of the total.
    """
    profiler = cProfile.Profile(time.process_time)  # CPU time: less disturbed by other load
    profiler.enable()
    func()
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in raw.values()) or 1.0
    rows = []
    for (filename, line, name), (_cc, _nc, tt, ct, _callers) in raw.items():
        where = filename
        if str(SRC) in where:
            where = os.path.relpath(where, SRC)
        elif filename.startswith("~") or filename == "":
            where = "builtin"
        else:
            where = Path(filename).name
        rows.append((f"{where}:{line}:{name}", 100 * tt / total, 100 * ct / total))
    rows.sort(key=lambda r: r[1], reverse=True)
    print(f"{prefix}top {limit} by own time (total {total:.3f} CPU s under the profiler):")
    print(f"{prefix}  {'own %':>6} {'cum %':>6}  function")
    for where, own, cum in rows[:limit]:
        print(f"{prefix}  {own:6.1f} {cum:6.1f}  {where}")
    return rows[:limit]
