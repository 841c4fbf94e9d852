"""The fuzz targets in CI: every committed seed and crash-regression input replayed through
its target in process, then a short coverage-guided atheris run of each target in its own
process (atheris takes the process over), failing on any crash, hang or memory blow-up.

A longer campaign is ``python3 tools/fuzz.py --seconds 600`` (docs/design/fuzzing.md).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz import CORPUS, REGRESSIONS, TARGETS, inputs

ROOT = Path(__file__).resolve().parents[2]
# In the suite each target runs a fixed number of inputs from a fixed seed, so that a run
# gives the same verdict on every machine (a time-bound random run found a new input on one
# machine and not on another, turning CI red by chance). DICOMKIT_FUZZ_SECONDS=N instead runs
# each target for N seconds from a random seed, to explore.
SECONDS = int(os.environ.get("DICOMKIT_FUZZ_SECONDS", "0"))
RUNS = int(os.environ.get("DICOMKIT_FUZZ_RUNS", "20000"))
SEED = 20261205


def _cases() -> list[tuple[str, Path]]:
    return [(target, path) for target in TARGETS for path in inputs(target)]


@pytest.mark.parametrize(("target", "path"), _cases(),
                         ids=[f"{t}/{p.parent.parent.name}/{p.name[:16]}" for t, p in _cases()])
def test_committed_input_runs_through_its_target(target: str, path: Path) -> None:
    module = importlib.import_module(TARGETS[target])
    module.TestOneInput(path.read_bytes())


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_target_has_a_seed_corpus(target: str) -> None:
    assert len(list((CORPUS / target).iterdir())) >= 3


def test_the_seed_corpus_stays_small() -> None:
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    total += sum(p.stat().st_size for p in REGRESSIONS.rglob("*") if p.is_file())
    assert total < 400 * 1024


@pytest.mark.parametrize("target", list(TARGETS))
def test_atheris_finds_no_crash_in_a_short_run(target: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fuzz.py"), target, "--work", str(tmp_path),
         *(["--seconds", str(SECONDS)] if SECONDS else
           ["--seconds", "0", "--runs", str(RUNS), "--seed", str(SEED)])],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        timeout=(SECONDS or 300) + 120)
    log = tmp_path / f"{target}.log"
    detail = log.read_text()[-6000:] if log.exists() else done.stderr[-6000:]
    assert done.returncode == 0, f"{done.stdout}\n{detail}"
    crashes = list((tmp_path / "crashes" / target).iterdir())
    assert not crashes, f"crash inputs written: {crashes}\n{detail}"
    assert "stat::number_of_executed_units" in log.read_text()
