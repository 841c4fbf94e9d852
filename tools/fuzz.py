#!/usr/bin/env python3
"""Run the coverage-guided fuzz targets of tests/fuzz/ with atheris (libFuzzer).

Each target runs in its own process (atheris takes the process over), seeded with its committed
corpus (tests/fuzz/corpus/<target>/) and crash regressions (tests/fuzz/regressions/<target>/),
under a per-input timeout, an RSS limit and an address-space cap (see tests/fuzz/run.py). New
interesting inputs go to ``--work``/corpus/<target>/, never into the committed corpus; a crash
is written to ``--work``/crashes/<target>/ and makes the exit status 1.

Examples::

    python3 tools/fuzz.py --seconds 10                 # every target, 10 s each (CI does this)
    python3 tools/fuzz.py part10 --seconds 600 --work /tmp/fz   # a longer campaign, resumable
    python3 tools/fuzz.py pdu_stream --runs 100000

Exit status: 0 no crash, 1 a target crashed (hang, memory limit or undocumented exception),
2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz import CORPUS, REGRESSIONS, TARGETS  # noqa: E402


def libfuzzer_args(args: argparse.Namespace, target: str, work: Path) -> list[str]:
    crashes = work / "crashes" / target
    crashes.mkdir(parents=True, exist_ok=True)
    found = work / "corpus" / target
    found.mkdir(parents=True, exist_ok=True)
    options = [f"-rss_limit_mb={args.rss_limit_mb}", f"-timeout={args.timeout}",
               f"-artifact_prefix={crashes}/", "-print_final_stats=1"]
    if args.seconds:
        options.append(f"-max_total_time={args.seconds}")
    if args.runs:
        options.append(f"-runs={args.runs}")
    if args.max_len:
        options.append(f"-max_len={args.max_len}")
    if args.seed is not None:
        options.append(f"-seed={args.seed}")
    seeds = [str(d / target) for d in (CORPUS, REGRESSIONS) if (d / target).is_dir()]
    return [*options, *args.libfuzzer, str(found), *seeds]


def run_target(args: argparse.Namespace, target: str, work: Path) -> tuple[int, str]:
    command = [sys.executable, "-m", "tests.fuzz.run", target, *libfuzzer_args(args, target, work)]
    env = dict(os.environ, DICOMKIT_FUZZ_AS_MB=str(args.as_mb))
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          errors="replace", check=False)
    took = time.monotonic() - started
    log = done.stdout + done.stderr
    (work / f"{target}.log").write_text(log)
    stats = [line for line in log.splitlines() if line.startswith(("stat::number_of_executed",
                                                                   "Done "))]
    summary = f"{target}: exit {done.returncode} in {took:.1f} s; " + "; ".join(stats)
    return done.returncode, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="targets: " + ", ".join(TARGETS) + ". Options after -- go to libFuzzer.")
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="default: all")
    parser.add_argument("--seconds", type=int, default=10, help="per target (default 10; 0: "
                        "no time limit, use --runs)")
    parser.add_argument("--runs", type=int, default=0, help="inputs per target (0: no limit)")
    parser.add_argument("--timeout", type=int, default=10, help="seconds per input (default 10)")
    parser.add_argument("--rss-limit-mb", type=int, default=1536)
    parser.add_argument("--as-mb", type=int, default=1024,
                        help="address space allowed above the start-up size (MiB, default 1024)")
    parser.add_argument("--max-len", type=int, default=0, help="longest input (default: "
                        "libFuzzer's choice from the corpus)")
    parser.add_argument("--seed", type=int, help="libFuzzer's random seed")
    parser.add_argument("--work", type=Path, help="where new corpus inputs, crashes and logs go "
                        "(default: a new temporary directory)")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: len(argv) - len(extra) - (1 if "--" in argv else 0)])
    args.libfuzzer = extra  # after --: more libFuzzer options
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    if not args.seconds and not args.runs:
        parser.error("give --seconds or --runs")
    work = args.work or Path(tempfile.mkdtemp(prefix="dicomkit-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    failed = []
    for target in args.targets or list(TARGETS):
        status, summary = run_target(args, target, work)
        print(summary, flush=True)
        if status != 0:
            failed.append(target)
            crashes = sorted((work / "crashes" / target).iterdir())
            print(f"  CRASH: see {work / (target + '.log')}; inputs: "
                  f"{', '.join(map(str, crashes)) or 'none written'}", flush=True)
    print(f"work directory: {work}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
