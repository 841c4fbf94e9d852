"""``dicomkit serve`` as a real subprocess for the tests.

The archive runs as ``python -m dicomkit.cli.main serve`` bound to 127.0.0.1 on a free port, so
what is tested is what an operator runs: argument parsing, the TOML file, signals and exit codes
included. ``ServeFactory`` starts such servers for one test (or module) and ends any left
running, by PID. ``dk_find`` queries one with dicomkit's own client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import SRC

START_DEADLINE = 40.0  # seconds for ``dicomkit serve`` to accept connections
STOP_DEADLINE = 30.0


# -- ports and processes -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any] | None = None,
                  deadline: float = START_DEADLINE, describe: Any = None) -> None:
    """Poll until something accepts TCP connections on 127.0.0.1:port."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            extra = describe() if describe else ""
            pytest.fail(f"process exited with {proc.returncode} before listening on {port}\n"
                        f"{extra}", pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    extra = describe() if describe else ""
    pytest.fail(f"nothing listening on 127.0.0.1:{port} after {deadline} s\n{extra}",
                pytrace=False)


def serve_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"]
                                    if env.get("PYTHONPATH") else "")
    env.pop("PYTHONWARNINGS", None)
    return env


@dataclass
class Serve:
    """One ``dicomkit serve`` subprocess; its stdout and stderr go to ``log_path``."""

    proc: subprocess.Popen[bytes]
    port: int
    data: Path
    index: str | None
    aet: str
    log_path: Path
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def describe(self) -> str:
        return f"dicomkit serve ({' '.join(self.argv[3:])}) log:\n{self.log_tail()}"

    def wait_ready(self) -> None:
        wait_for_port(self.port, self.proc, describe=self.describe)

    def stop(self) -> int:
        """SIGTERM by PID, then the exit code (SIGKILL and a failure after the deadline)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"dicomkit serve ignored SIGTERM for {STOP_DEADLINE} s\n"
                        f"{self.describe()}", pytrace=False)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class ServeFactory:
    """Starts ``dicomkit serve`` processes for one test and ends any left running."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Serve] = []

    def __call__(self, data: Path, *, index: str | None = None, port: int | None = None,
                 aet: str = "PACS", peers: dict[str, int] | None = None,
                 args: Sequence[str] = (), wait: bool = True) -> Serve:
        """``serve --data DATA --bind 127.0.0.1 --dimse-port PORT --aet AET [--peer …]``."""
        port = free_port() if port is None else port
        argv = ["--data", str(data), "--bind", "127.0.0.1", "--dimse-port", str(port),
                "--aet", aet]
        for name, peer_port in (peers or {}).items():
            argv += ["--peer", f"{name}=127.0.0.1:{peer_port}"]
        if index is not None:
            argv += ["--index", index]
        return self.start(argv + list(args), port, data, index, aet, wait)

    def start(self, args: Sequence[str], port: int, data: Path, index: str | None = None,
              aet: str = "PACS", wait: bool = True) -> Serve:
        """``serve`` with exactly ``args`` (a ``--config`` file, say), listening on ``port``."""
        argv = [sys.executable, "-m", "dicomkit.cli.main", "serve", *args]
        log_path = self.tmp / f"serve-{len(self.started)}-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=serve_env(), cwd=self.tmp)
        server = Serve(proc, port, data, index, aet, log_path, argv)
        self.started.append(server)
        if wait:
            server.wait_ready()
        return server

    def cleanup(self) -> None:
        for server in self.started:
            if server.proc.poll() is None:
                os.kill(server.proc.pid, signal.SIGTERM)
                try:
                    server.proc.wait(STOP_DEADLINE)
                except subprocess.TimeoutExpired:
                    server.kill()


# -- the dicomkit client (for what DCMTK cannot script) -------------------------------------------
def dk_find(port: int, keys: dict[str, Any], *, model: str = "study",
            called: str = "PACS") -> tuple[list[Any], int]:
    """C-FIND with dicomkit's client: (the matches, the final status)."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.net.client import connect
    from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS

    identifier = Dataset()
    for keyword, value in keys.items():
        identifier.set(keyword, value)

    async def go() -> tuple[list[Any], int]:
        matches: list[Any] = []
        status = -1
        async with connect("127.0.0.1", port, calling_aet="DKTEST", called_aet=called,
                           contexts=[(MODELS[model]["find"], UNCOMPRESSED_TS[:2])]) as client:
            async for status, match in client.find(identifier, model):
                if match is not None and status in (0xFF00, 0xFF01):
                    matches.append(match)
        return matches, status

    return asyncio.run(go())


def dk_find_uids(port: int, level: str, uid_keyword: str, **keys: Any) -> set[str]:
    matches, status = dk_find(port, {"QueryRetrieveLevel": level, uid_keyword: None, **keys})
    assert status == 0, f"C-FIND final status 0x{status:04X}"
    return {str(m.get(uid_keyword)) for m in matches}


def stored_files(data: Path) -> list[Path]:
    """Every file under ``<data>/files``, temporary ones included."""
    return sorted(p for p in (data / "files").rglob("*") if p.is_file())


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on, from /proc (its socket descriptors matched
    against /proc/net/tcp and tcp6 rows in state 0A, LISTEN). Unlike trying to connect, this
    cannot be fooled by another process that happens to bind a port the test chose."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
