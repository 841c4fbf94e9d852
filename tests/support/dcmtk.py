"""DCMTK's command-line tools for the tests.

The file tools (``dcmdump``, ``dcmconv``, ``dump2dcm``, ``dcmodify``) through ``Dcmtk``, which
the ``dcmtk`` fixture hands out, and ``parse_dcmdump`` reading ``dcmdump`` output. The network
tools (``DCMTK_NET``) are always called by absolute path: pynetdicom installs console scripts with
the same names (storescu, findscu ...) that would shadow them on PATH; ``run_tool`` runs one,
``background`` starts one (storescp, dcmqrscp ...) with its output in a file.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DCMTK_TOOLS = ("dcmdump", "dcmconv", "dump2dcm", "dcmodify")
DCMTK_NET = {name: f"/usr/bin/{name}" for name in (
    "storescu", "storescp", "findscu", "movescu", "getscu", "echoscu", "dcmqrscp", "dcmqridx")}


def missing_tools() -> list[str]:
    return [tool for tool in DCMTK_TOOLS if shutil.which(tool) is None]


@dataclass
class Dcmtk:
    """Runs the DCMTK tools; output is decoded as Latin-1 so any byte survives."""

    paths: dict[str, str]

    def run(self, tool: str, *args: Any, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.paths[tool], *[str(a) for a in args]],
            capture_output=True, encoding="latin-1", check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"{tool} {' '.join(map(str, args))} exited {result.returncode}:\n"
                        f"{result.stderr}{result.stdout[-2000:]}")
        return result


_DUMP_LINE = re.compile(
    r"^(?P<indent> *)\((?P<group>[0-9a-fA-F]{4}),(?P<elem>[0-9a-fA-F]{4})\) (?P<vr>\S\S) "
    r"(?P<value>.*?) *# +(?P<length>\S+), (?P<vm>\d+) (?P<name>.*)$"
)


def parse_dcmdump(text: str, *, section: str = "Dicom-Data-Set") -> dict[int, tuple[str, str]]:
    """Top-level lines of one section of ``dcmdump`` output as ``{tag: (vr, printed value)}``."""
    found: dict[int, tuple[str, str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("# Dicom-"):
            current = line[2:].strip()
            continue
        match = _DUMP_LINE.match(line)
        if match is None or current != section or match["indent"]:
            continue
        tag = int(match["group"] + match["elem"], 16)
        found[tag] = (match["vr"], match["value"])
    return found


# -- the network tools ----------------------------------------------------------------------------
@dataclass
class Background:
    """A helper process (storescp, dcmqrscp, storescu ...) with its output in a file."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("latin-1")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def background(argv: Sequence[str], log_path: Path, cwd: Path | None = None) -> Background:
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd)
    return Background(proc, log_path)


def run_tool(tool: str, *args: Any, check: bool = True,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a DCMTK network tool by absolute path; output decoded as Latin-1."""
    result = subprocess.run([DCMTK_NET[tool], *[str(a) for a in args]], capture_output=True,
                            encoding="latin-1", check=False, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"{tool} {' '.join(map(str, args))} exited {result.returncode}:\n"
                    f"{result.stdout[-3000:]}{result.stderr[-3000:]}", pytrace=False)
    return result


def check_dcmtk_net() -> dict[str, str]:
    """DCMTK's network tools by absolute path; a failure, never a skip, when one is missing."""
    missing = [path for path in DCMTK_NET.values() if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"DCMTK network tools missing: {', '.join(missing)} "
                    "(install the Debian package 'dcmtk')", pytrace=False)
    return DCMTK_NET
