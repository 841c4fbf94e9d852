"""Fixtures for the ``dicomkit serve`` tests.

The archive always runs as a real subprocess (``python -m dicomkit.cli.main serve``) bound to
127.0.0.1 on a free port, so what is tested is what an operator runs: argument parsing, the
TOML file, signals and exit codes included. Every test runs on both index backends: SQLite
(the default, inside the data folder) and PostgreSQL at 127.0.0.1:5432, where each test module
gets fresh, uniquely named databases that are dropped afterwards. PostgreSQL being unreachable
is a failure, never a skip; so are DCMTK's network tools being missing.

DCMTK tools are always called by absolute path: pynetdicom installs console scripts with the
same names (storescu, findscu ...) that would shadow them on PATH.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import pydicom_file

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_ADMIN_DB = "test"
DCMTK_NET = {name: f"/usr/bin/{name}" for name in (
    "storescu", "storescp", "findscu", "movescu", "getscu", "echoscu", "dcmqrscp", "dcmqridx")}
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


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    factory = ServeFactory(tmp_path)
    yield factory
    factory.cleanup()


@pytest.fixture(scope="module")
def module_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeFactory]:
    factory = ServeFactory(tmp_path_factory.mktemp("serve"))
    yield factory
    factory.cleanup()


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


@pytest.fixture(scope="session")
def dcmtk_net() -> dict[str, str]:
    missing = [path for path in DCMTK_NET.values() if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"DCMTK network tools missing: {', '.join(missing)} "
                    "(install the Debian package 'dcmtk')", pytrace=False)
    return DCMTK_NET


# -- index backends ------------------------------------------------------------------------------
class Backend:
    """Hands out fresh indexes: SQLite inside the data folder, or new PostgreSQL databases."""

    def __init__(self, name: str, module: str) -> None:
        self.name = name
        self.module = module
        self.databases: list[str] = []

    @property
    def is_postgresql(self) -> bool:
        return self.name == "postgresql"

    def new_index(self) -> str | None:
        """``--index`` for a fresh index (None: SQLite at ``<data>/index.sqlite``)."""
        if not self.is_postgresql:
            return None
        name = f"dk_{self.module[:30]}_{uuid.uuid4().hex[:10]}".lower()
        with _pg_admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return f"{PG_SERVER}/{name}"

    def drop_all(self) -> None:
        if not self.databases:
            return
        with _pg_admin() as connection:
            for name in self.databases:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.databases.clear()


def _pg_admin() -> Any:
    import psycopg

    try:
        return psycopg.connect(f"{PG_SERVER}/{PG_ADMIN_DB}", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {exc}", pytrace=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    chosen = Backend(request.param, module)
    if chosen.is_postgresql:
        _pg_admin().close()  # unreachable: fail now, with the reason
    yield chosen
    chosen.drop_all()


# -- what is sent --------------------------------------------------------------------------------
@dataclass
class Instance:
    path: Path
    patient_id: str
    study: str
    series: str
    sop: str
    sop_class: str


@dataclass
class StudySet:
    """CT_small.dcm and MR_small.dcm from pydicom (one study each) and a synthetic study of
    one 5-instance CT series made with :func:`dicomkit.cli.sample.make_ct`."""

    folder: Path
    instances: list[Instance]
    synthetic_study: str
    synthetic_series: str

    @property
    def studies(self) -> set[str]:
        return {i.study for i in self.instances}

    @property
    def sops(self) -> set[str]:
        return {i.sop for i in self.instances}

    def sops_of(self, study: str) -> set[str]:
        return {i.sop for i in self.instances if i.study == study}

    def study_of(self, name: str) -> str:
        return next(i.study for i in self.instances if i.path.name == name)


def describe_instance(path: Path) -> Instance:
    import dicomkit

    ds = dicomkit.read(str(path), stop_before_pixels=True)
    return Instance(path, str(ds.PatientID), str(ds.StudyInstanceUID),
                    str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), str(ds.SOPClassUID))


def synthetic_series(folder: Path, count: int, size: int = 16, *, study: str | None = None,
                     series: str | None = None, **attributes: Any) -> list[Path]:
    """``count`` CT instances of one series, named after their SOP Instance UIDs."""
    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid
    from dicomkit.encoding.writer import write

    folder.mkdir(parents=True, exist_ok=True)
    study = study or generate_uid()
    series = series or generate_uid()
    paths = []
    for number in range(1, count + 1):
        ds = make_ct(size, number, study, series)
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        write(ds, str(path))
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def study_set(tmp_path_factory: pytest.TempPathFactory) -> StudySet:
    from dicomkit.core.uid import generate_uid

    folder = tmp_path_factory.mktemp("study")
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(pydicom_file(name), folder / name)
    study, series = generate_uid(), generate_uid()
    synthetic_series(folder, 5, study=study, series=series, PatientID="DK-SERVE-1",
                     PatientName="Serve^Test")
    instances = [describe_instance(p) for p in sorted(folder.iterdir())]
    return StudySet(folder, instances, study, series)


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
