"""Soak: mixed DIMSE and DICOMweb load against one ``dicomkit serve`` for a long time.

  python bench/bench_soak.py [--minutes 30] [--concurrency 4] [--interval 30]
                             [--index sqlite|postgres] [--mix store=3,find=3,...]
                             [--csv FILE] [--json FILE]

One ``dicomkit serve`` subprocess (DIMSE and DICOMweb on free ports of 127.0.0.1, fsync on: the
defaults; SQLite, or a fresh PostgreSQL database with ``--index postgres``) and two C-MOVE
destinations, DCMTK ``storescp --ignore`` (a foreign peer, stores nothing) and ``dicomkit
storescp`` (our own peer; the bench deletes what it receives every interval). ``--concurrency``
worker threads then loop until ``--minutes`` have passed (or ``--max-ops`` operations), each
picking an operation at random by the weights of ``--mix``:

  store      dicomkit's client: one association, C-STORE of a new study (--per-study
             instances of a 64x64 CT, fresh UIDs), release
  storescu   the same through DCMTK storescu (a subprocess; its start-up is in the time)
  stow       STOW-RS ``POST /studies``, a new study in one multipart request (httpx)
  find       dicomkit's client: association, study-level C-FIND by PatientID of a stored study
             (exactly one match expected), release
  findscu    the same through DCMTK findscu (a subprocess)
  move-dcmtk dicomkit's client: C-MOVE of a stored study to DCMTK storescp (every
             sub-operation must complete)
  move-dk    the same to dicomkit storescp
  qido       QIDO-RS ``GET /studies?PatientID=...`` (one match expected)
  wado       WADO-RS ``GET /studies/{uid}`` (multipart, every instance expected)
  metadata   WADO-RS ``GET /studies/{uid}/metadata``

Every study stored has its own patient, so the archive grows during the run; once its folder
passes ``--max-disk-mb`` the store operations send studies already stored again (same UIDs:
``replace``), so disk use stays bounded. An operation's time runs from the start (association
or request) to the last response; its result is checked, and a failed check counts as an error.

Every ``--interval`` seconds the bench samples the server process: VmRSS and Threads from
/proc/PID/status, open file descriptors (entries of /proc/PID/fd), CPU time (/proc/PID/stat),
the size of its data folder; and the latency percentiles (p50/p95/p99, nearest rank) of each
operation in that interval. The same for the dicomkit storescp peer (RSS, FDs). Before the
load and after it (once the server has settled) it samples the idle server too: file
descriptors or threads left over after the load are a leak even when the load hides them.

The verdict, after ``--warmup`` minutes: the RSS slope (least squares, MB per hour) and the
FD slope over the loaded samples, and idle FDs/threads after the load against before it. Flat
means RSS slope <= --rss-slope-limit MB/h, FD and thread slopes <= --fd-slope-limit per hour,
and idle FDs after <= before + --fd-tolerance (idle threads after <= before). The slopes count
only with at least MIN_SLOPE_MINUTES loaded minutes; a shorter run is judged on the idle
samples alone.

Everything runs on 127.0.0.1; temporary data goes to BENCH_TMP (default: the system temp
folder) and is deleted at the end; the servers are stopped by their PIDs. Raw figures go to
``bench/out/bench_soak.json`` (or ``--json``); ``--csv`` writes one row per interval and
operation.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import OUT, machine, print_machine, use_checkout  # noqa: E402

use_checkout()

import _archive_support as S  # noqa: E402
import bench_archive as A  # noqa: E402
import bench_dicomweb as W  # noqa: E402

say, load_line, tmpdir = A.say, A.load_line, A.tmpdir

OPERATIONS = ["store", "storescu", "stow", "find", "findscu", "move-dcmtk", "move-dk", "qido",
              "wado", "metadata"]
DEFAULT_MIX = ("store=3,storescu=1,stow=2,find=3,findscu=1,move-dcmtk=1,move-dk=1,qido=3,wado=2,"
               "metadata=1")
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MIN_SLOPE_MINUTES = 10.0  # loaded minutes needed before the slopes count in the verdict
OP_TIMEOUT = 120.0  # seconds: one operation; a hang is an error, not a stuck bench
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the servers ---------------------------------------------------------------------------------
class SoakServe(S.DicomkitWeb):
    """``dicomkit serve`` (DIMSE + DICOMweb) with the two C-MOVE destinations as peers."""

    def __init__(self, peers: dict[str, int], index_url: str | None = None) -> None:
        super().__init__(index_url, fsync=True)
        self.peers = peers

    def command(self) -> list[str]:
        cmd = super().command()
        for name, port in self.peers.items():
            cmd += ["--peer", f"{name}=127.0.0.1:{port}"]
        return cmd


class IgnoringStorescp(S.Storescp):
    """DCMTK storescp that receives every instance and stores none (``--ignore``)."""

    aet = "STORESCP"

    def command(self) -> list[str]:
        return [*super().command(), "--ignore"]


class DicomkitStorescp(S.Server):
    """``dicomkit storescp``: our own Storage SCP as a C-MOVE destination."""

    aet = "DKSCP"

    def __init__(self) -> None:
        super().__init__()
        self.name = "dicomkit storescp"
        self.out = os.path.join(self.folder, "out")
        os.makedirs(self.out)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "dicomkit.cli.main", "storescp", "--port", str(self.port),
                "--out", self.out, "--aet", self.aet, "-q"]

    def prune(self) -> int:
        """Delete what it has received so far; the number of files deleted."""
        removed = 0
        for folder, _dirs, files in os.walk(self.out):
            for name in files:
                try:
                    os.unlink(os.path.join(folder, name))
                    removed += 1
                except OSError:
                    pass
        return removed


# -- /proc ---------------------------------------------------------------------------------------
def proc_sample(pid: int) -> dict[str, float]:
    """RSS (MB; its anonymous part: the heap, and its file-backed part: mapped files such as
    SQLite's shared-memory index), peak RSS (MB), threads, open FDs and CPU seconds."""
    status: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)
    return {"rss_mb": int(status["VmRSS"].split()[0]) / 1024,
            "anon_mb": int(status.get("RssAnon", "0 kB").split()[0]) / 1024,
            "file_mb": int(status.get("RssFile", "0 kB").split()[0]) / 1024,
            "hwm_mb": int(status["VmHWM"].split()[0]) / 1024,
            "threads": int(status["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "cpu_s": cpu}


def folder_mb(path: str) -> float:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total / 1e6


def settled(pid: int, seconds: float = 20.0) -> dict[str, float]:
    """The idle server's sample once FDs and threads have stopped changing (3 equal readings
    0.5 s apart), or after ``seconds``."""
    end = time.monotonic() + seconds
    last: tuple[float, float] | None = None
    same = 0
    sample = proc_sample(pid)
    while time.monotonic() < end:
        sample = proc_sample(pid)
        key = (sample["fds"], sample["threads"])
        same = same + 1 if key == last else 0
        last = key
        if same >= 2:
            break
        time.sleep(0.5)
    return sample


# -- shared state --------------------------------------------------------------------------------
@dataclass
class StudyRecord:
    study_uid: str
    series_uid: str
    patient_id: str
    sop_uids: list[str]


@dataclass
class Recorder:
    """Latencies and errors per operation, per interval and for the whole run (thread-safe)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    interval: dict[str, list[float]] = field(default_factory=dict)
    interval_errors: dict[str, int] = field(default_factory=dict)
    total: dict[str, list[float]] = field(default_factory=dict)
    total_errors: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)

    def ok(self, op: str, seconds: float) -> None:
        with self.lock:
            self.interval.setdefault(op, []).append(seconds)
            self.total.setdefault(op, []).append(seconds)

    def error(self, op: str, text: str) -> None:
        with self.lock:
            self.interval_errors[op] = self.interval_errors.get(op, 0) + 1
            self.total_errors[op] = self.total_errors.get(op, 0) + 1
            if len(self.first_errors) < 20:
                self.first_errors.append(f"{time.strftime('%H:%M:%S')} {op}: {text[:300]}")

    def take(self) -> tuple[dict[str, list[float]], dict[str, int]]:
        with self.lock:
            got, errors = self.interval, self.interval_errors
            self.interval, self.interval_errors = {}, {}
        return got, errors


class Archive:
    """What the bench has stored: studies to query and retrieve, and whether to keep growing."""

    def __init__(self, per_study: int) -> None:
        from dicomkit.core.uid import generate_uid

        self.generate_uid = generate_uid
        self.per_study = per_study
        self.lock = threading.Lock()
        self.studies: list[StudyRecord] = []
        self.known: set[str] = set()
        self.grow = True
        self.counter = 0

    def new_study(self, rng: random.Random) -> StudyRecord:
        """A new study, or one already stored when the archive may not grow."""
        with self.lock:
            if not self.grow and self.studies:
                return rng.choice(self.studies)
            self.counter += 1
            n = self.counter
        return StudyRecord(self.generate_uid(), self.generate_uid(), f"SOAK-{n:07d}",
                           [self.generate_uid() for _ in range(self.per_study)])

    def stored(self, study: StudyRecord) -> None:
        with self.lock:
            if study.study_uid not in self.known:
                self.known.add(study.study_uid)
                self.studies.append(study)

    def pick(self, rng: random.Random) -> StudyRecord:
        with self.lock:
            return rng.choice(self.studies)

    def instances(self, study: StudyRecord, size: int) -> list[Any]:
        from dicomkit.cli.sample import make_ct

        out = []
        for k, sop in enumerate(study.sop_uids):
            ds = make_ct(size, k + 1, study.study_uid, study.series_uid)
            ds.SOPInstanceUID = sop
            ds.PatientID = study.patient_id
            ds.PatientName = f"SOAK^{study.patient_id}"
            ds.AccessionNumber = study.patient_id[-8:]
            out.append(ds)
        return out


class CheckFailed(RuntimeError):
    pass


def http_client() -> Any:
    """httpx, as bench_dicomweb.py's (one kept-alive connection, TCP_NODELAY), with a timeout
    of OP_TIMEOUT."""
    import httpx

    transport = httpx.HTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(transport=transport, timeout=OP_TIMEOUT,
                        headers={"Accept-Encoding": "identity"})


# -- the operations ------------------------------------------------------------------------------
class Worker:
    """One load thread: its own event loop (dicomkit's client) and HTTP connection (httpx)."""

    def __init__(self, n: int, env: Env) -> None:
        self.n = n
        self.env = env
        self.rng = random.Random(1000 + n)
        self.loop = asyncio.new_event_loop()
        self.http = http_client()
        self.scratch = os.path.join(env.work, f"worker{n}")
        os.makedirs(self.scratch, exist_ok=True)
        self.ops = 0

    def run(self, deadline: float, max_ops: int, stop: threading.Event) -> None:
        names = list(self.env.mix)
        weights = [self.env.mix[name] for name in names]
        try:
            while time.monotonic() < deadline and not stop.is_set():
                with self.env.ops_lock:
                    paused = self.env.paused
                    if not paused:
                        if self.env.ops_started >= max_ops:
                            return
                        self.env.ops_started += 1
                        self.env.in_flight += 1
                if paused:  # the sampler is looking at the idle server
                    time.sleep(0.05)
                    continue
                op = self.rng.choices(names, weights)[0]
                try:
                    seconds = getattr(self, "op_" + op.replace("-", "_"))()
                except Exception as exc:  # noqa: BLE001 - counted and reported, the soak goes on
                    self.env.recorder.error(op, f"{type(exc).__name__}: {exc}")
                else:
                    self.env.recorder.ok(op, seconds)
                finally:
                    with self.env.ops_lock:
                        self.env.in_flight -= 1
                self.ops += 1
        finally:
            self.http.close()
            self.loop.close()

    def dimse(self, coroutine: Any) -> float:
        """Run one DIMSE operation on this worker's loop; its seconds."""
        start = time.perf_counter()
        self.loop.run_until_complete(asyncio.wait_for(coroutine, OP_TIMEOUT))
        return time.perf_counter() - start

    def connect(self, contexts: list[tuple[str, list[str]]]) -> Any:
        from dicomkit.net.client import connect

        return connect("127.0.0.1", self.env.server.port, calling_aet=f"SOAK{self.n}",
                       called_aet=self.env.server.aet, contexts=contexts)

    # DIMSE with dicomkit's client
    def op_store(self) -> float:
        from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE

        study = self.env.archive.new_study(self.rng)
        datasets = self.env.archive.instances(study, self.env.size)

        async def go() -> None:
            async with self.connect([(CT_STORAGE, [EXPLICIT_VR_LE, IMPLICIT_VR_LE])]) as client:
                for ds in datasets:
                    rsp = await client.store(ds)
                    status = int(rsp.get("Status") or 0)
                    if status != 0:
                        raise CheckFailed(f"C-STORE status {status:04X}")

        seconds = self.dimse(go())
        self.env.archive.stored(study)
        return seconds

    def op_find(self) -> float:
        from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE, MODELS

        study = self.env.archive.pick(self.rng)
        query = S.identifier(PatientID=study.patient_id)

        async def go() -> None:
            contexts = [(MODELS["study"]["find"], [EXPLICIT_VR_LE, IMPLICIT_VR_LE])]
            async with self.connect(contexts) as client:
                uids = []
                final = -1
                async for status, found in client.find(query):
                    if found is not None and status in (0xFF00, 0xFF01):
                        uids.append(str(found.get("StudyInstanceUID")))
                    else:
                        final = status
                if final != 0 or uids != [study.study_uid]:
                    raise CheckFailed(f"C-FIND status {final:04X}, matches {uids}")

        return self.dimse(go())

    def move(self, destination: str) -> float:
        from dicomkit.core.dataset import Dataset
        from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE, MODELS

        study = self.env.archive.pick(self.rng)
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study.study_uid

        async def go() -> None:
            contexts = [(MODELS["study"]["move"], [EXPLICIT_VR_LE, IMPLICIT_VR_LE])]
            async with self.connect(contexts) as client:
                last = None
                async for rsp in client.move(query, destination):
                    last = rsp
                assert last is not None
                status = int(last.get("Status") or 0)
                done = int(last.get("NumberOfCompletedSuboperations") or 0)
                failed = int(last.get("NumberOfFailedSuboperations") or 0)
                if status != 0 or done != len(study.sop_uids) or failed:
                    raise CheckFailed(f"C-MOVE to {destination}: status {status:04X}, "
                                      f"{done} completed, {failed} failed")

        return self.dimse(go())

    def op_move_dcmtk(self) -> float:
        return self.move(IgnoringStorescp.aet)

    def op_move_dk(self) -> float:
        return self.move(DicomkitStorescp.aet)

    # DCMTK tools
    def dcmtk(self, args: list[str], files: list[str] | None = None) -> float:
        """Run a DCMTK tool against the server; its wall seconds (process start included)."""
        cmd = [f"{S.DCMTK}/{args[0]}", "-aec", self.env.server.aet, "-aet", f"SOAKDCMTK{self.n}",
               *args[1:], "127.0.0.1", str(self.env.server.port), *(files or [])]
        start = time.perf_counter()
        result = subprocess.run(cmd, capture_output=True, env=S.dcmtk_env(), timeout=OP_TIMEOUT)
        seconds = time.perf_counter() - start
        if result.returncode != 0 or b"E: " in result.stderr:
            raise CheckFailed(f"{args[0]} exit {result.returncode}: "
                              f"{result.stderr.decode(errors='replace')[-300:]}")
        return seconds

    def op_storescu(self) -> float:
        from dicomkit import write

        study = self.env.archive.new_study(self.rng)
        folder = os.path.join(self.scratch, "storescu")
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for k, ds in enumerate(self.env.archive.instances(study, self.env.size)):
            write(ds, os.path.join(folder, f"IM{k:04d}.dcm"))
        seconds = self.dcmtk(["storescu", "+sd"], [folder])
        self.env.archive.stored(study)
        return seconds

    def op_findscu(self) -> float:
        study = self.env.archive.pick(self.rng)
        folder = os.path.join(self.scratch, "findscu")
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        seconds = self.dcmtk(["findscu", "-S", "-k", "QueryRetrieveLevel=STUDY",
                    "-k", f"PatientID={study.patient_id}", "-k", "StudyInstanceUID",
                    "-X", "-od", folder])
        answers = os.listdir(folder)  # -X: one rsp*.dcm file per match
        if len(answers) != 1:
            raise CheckFailed(f"findscu: {len(answers)} matches for {study.patient_id}")
        return seconds

    # DICOMweb with httpx
    def op_stow(self) -> float:
        from dicomkit.encoding.writer import to_bytes

        study = self.env.archive.new_study(self.rng)
        parts = [f"--{W.BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                 + to_bytes(ds) + b"\r\n"
                 for ds in self.env.archive.instances(study, self.env.size)]
        body = b"".join([*parts, f"--{W.BOUNDARY}--\r\n".encode()])
        start = time.perf_counter()
        stored, failed = W.stow_post(self.http, self.env.server.web_root, body)
        if (stored, failed) != (len(study.sop_uids), 0):
            raise CheckFailed(f"STOW-RS: {stored} stored, {failed} failed")
        seconds = time.perf_counter() - start
        self.env.archive.stored(study)
        return seconds

    def op_qido(self) -> float:
        study = self.env.archive.pick(self.rng)
        seconds, response = W.get(self.http, self.env.server.web_root + "/studies", W.DICOM_JSON,
                             {"PatientID": study.patient_id})
        uids = W.study_uids(response)
        if uids != [study.study_uid]:
            raise CheckFailed(f"QIDO-RS PatientID={study.patient_id}: {uids}")
        return seconds

    def op_wado(self) -> float:
        study = self.env.archive.pick(self.rng)
        url = f"{self.env.server.web_root}/studies/{study.study_uid}"
        seconds, response = W.get(self.http, url, W.DICOM_MULTIPART)
        boundary = W.boundary_of(response.headers["content-type"])
        parts = response.content.count(b"--" + boundary) - 1
        if parts != len(study.sop_uids):
            raise CheckFailed(f"WADO-RS {study.study_uid}: {parts} parts")
        return seconds

    def op_metadata(self) -> float:
        study = self.env.archive.pick(self.rng)
        url = f"{self.env.server.web_root}/studies/{study.study_uid}/metadata"
        seconds, response = W.get(self.http, url, W.DICOM_JSON)
        if len(response.json()) != len(study.sop_uids):
            raise CheckFailed(f"WADO-RS metadata {study.study_uid}: {len(response.json())}")
        return seconds


@dataclass
class Env:
    server: SoakServe
    dk_peer: DicomkitStorescp
    archive: Archive
    recorder: Recorder
    mix: dict[str, float]
    size: int
    work: str
    ops_lock: threading.Lock = field(default_factory=threading.Lock)
    ops_started: int = 0
    in_flight: int = 0
    paused: bool = False

    def quiesce(self, workers: list[Worker], limit: float = OP_TIMEOUT + 10) -> bool:
        """Stop workers from starting operations, wait for those in flight to end, and close
        their kept-alive HTTP connections (each gets a fresh client), so the server is idle as
        it is after the load. False if operations were still in flight after ``limit``."""
        with self.ops_lock:
            self.paused = True
        end = time.monotonic() + limit
        while time.monotonic() < end:
            with self.ops_lock:
                if self.in_flight == 0:
                    for worker in workers:
                        worker.http.close()
                        worker.http = http_client()
                    return True
            time.sleep(0.05)
        return False

    def resume(self) -> None:
        with self.ops_lock:
            self.paused = False




# -- sampling and the report ---------------------------------------------------------------------
def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) and the maximum, in ms."""
    if not values:
        return {}
    return {"p50": S.percentile(values, 50) * 1e3, "p95": S.percentile(values, 95) * 1e3,
            "p99": S.percentile(values, 99) * 1e3, "max": max(values) * 1e3}


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minutes, value) points, per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return 60 * sum((x - mx) * (y - my) for x, y in points) / sxx


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


class Sampler:
    """One row per interval: the server's /proc figures, its peer's, and each operation's
    latencies in that interval."""

    def __init__(self, env: Env, t0: float) -> None:
        self.env = env
        self.t0 = t0
        self.rows: list[dict[str, Any]] = []
        self.last_time = t0
        self.last_cpu = proc_sample(self.pid)["cpu_s"]

    @property
    def pid(self) -> int:
        assert self.env.server.proc is not None
        return self.env.server.proc.pid

    def sample(self, max_disk_mb: float) -> dict[str, Any]:
        now = time.monotonic()
        server = proc_sample(self.pid)
        peer_pid = self.env.dk_peer.proc.pid if self.env.dk_peer.proc else None
        peer = proc_sample(peer_pid) if peer_pid else {}
        latencies, errors = self.env.recorder.take()
        data_mb = folder_mb(self.env.server.data)
        if data_mb > max_disk_mb and self.env.archive.grow:
            self.env.archive.grow = False
            say(f"# data folder {data_mb:.0f} MB > --max-disk-mb: stores now resend stored studies")
        self.env.dk_peer.prune()
        seconds = now - self.last_time
        ops = {op: {"n": len(latencies.get(op, [])), "errors": errors.get(op, 0),
                    **percentiles(latencies.get(op, []))}
               for op in self.env.mix}
        row = {"minute": (now - self.t0) / 60, "seconds": seconds,
               "rss_mb": server["rss_mb"], "anon_mb": server["anon_mb"],
               "file_mb": server["file_mb"], "hwm_mb": server["hwm_mb"], "fds": server["fds"],
               "threads": server["threads"],
               "cpu_pct": 100 * (server["cpu_s"] - self.last_cpu) / seconds if seconds else 0.0,
               "ops_per_s": sum(o["n"] for o in ops.values()) / seconds if seconds else 0.0,
               "errors": sum(o["errors"] for o in ops.values()),
               "studies": len(self.env.archive.studies), "data_mb": data_mb,
               "peer_rss_mb": peer.get("rss_mb", 0.0), "peer_fds": peer.get("fds", 0),
               "load1": os.getloadavg()[0], "ops": ops}
        self.last_time, self.last_cpu = now, server["cpu_s"]
        self.rows.append(row)
        self.print_row(row)
        return row

    @staticmethod
    def print_row(row: dict[str, Any]) -> None:
        say(f"[{row['minute']:6.1f} min] RSS {row['rss_mb']:6.1f} MB (anon "
            f"{row['anon_mb']:.1f})  FDs {row['fds']:3d}  "
            f"threads {row['threads']:2d}  CPU {row['cpu_pct']:3.0f}%  "
            f"{row['ops_per_s']:5.1f} ops/s  errors {row['errors']}  "
            f"studies {row['studies']}  data {row['data_mb']:.0f} MB  "
            f"peer RSS {row['peer_rss_mb']:.1f} MB FDs {row['peer_fds']}  "
            f"load {row['load1']:.2f}")
        cells = [f"{op} {o['n']}: {ms(o.get('p50'))}/{ms(o.get('p95'))}/{ms(o.get('p99'))}"
                 + (f" ({o['errors']} err)" if o["errors"] else "")
                 for op, o in row["ops"].items()]
        say("           p50/p95/p99 ms  " + " | ".join(cells))


def verdict(rows: list[dict[str, Any]], idle: dict[str, dict[str, float]],
            args: argparse.Namespace) -> dict[str, Any]:
    loaded = [r for r in rows if r["minute"] >= args.warmup]
    rss_slope = slope_per_hour([(r["minute"], r["rss_mb"]) for r in loaded])
    anon_slope = slope_per_hour([(r["minute"], r["anon_mb"]) for r in loaded])
    fd_slope = slope_per_hour([(r["minute"], r["fds"]) for r in loaded])
    thread_slope = slope_per_hour([(r["minute"], r["threads"]) for r in loaded])
    peer_slope = slope_per_hour([(r["minute"], r["peer_rss_mb"]) for r in loaded])
    base = idle.get("after warm-up") or idle["before load"]
    after = idle["after load"]
    fd_left = after["fds"] - base["fds"]
    threads_left = after["threads"] - base["threads"]
    out = {
        "loaded_samples": len(loaded), "rss_slope_mb_per_h": rss_slope,
        "anon_slope_mb_per_h": anon_slope,
        "fd_slope_per_h": fd_slope, "thread_slope_per_h": thread_slope,
        "peer_rss_slope_mb_per_h": peer_slope,
        "rss_first_mb": loaded[0]["rss_mb"] if loaded else None,
        "rss_last_mb": loaded[-1]["rss_mb"] if loaded else None,
        "idle_fds_left": fd_left, "idle_threads_left": threads_left,
        "span_min": (loaded[-1]["minute"] - loaded[0]["minute"]) if loaded else 0.0,
        "rss_flat": abs(rss_slope) <= args.rss_slope_limit,
        "fd_flat": fd_slope <= args.fd_slope_limit and fd_left <= args.fd_tolerance,
        "threads_flat": thread_slope <= args.fd_slope_limit and threads_left <= 0,
    }
    # A slope over a few minutes is mostly noise (the FDs under load move with the connections
    # open at the sample): a short run is judged on the idle comparison alone.
    out["slopes_judged"] = out["span_min"] >= MIN_SLOPE_MINUTES
    if not out["slopes_judged"]:
        out["rss_flat"] = None
        out["fd_flat"] = fd_left <= args.fd_tolerance
        out["threads_flat"] = threads_left <= 0
    out["flat"] = bool(out["rss_flat"] is not False and out["fd_flat"] and out["threads_flat"])
    return out


def report(rows: list[dict[str, Any]], recorder: Recorder, idle: dict[str, dict[str, float]],
           result: dict[str, Any], args: argparse.Namespace, wall: float) -> None:
    say("\n## The server over time (one row per interval; CPU % of one core)\n")
    say("| min | RSS MB | anon MB | FDs | threads | CPU % | ops/s | errors | studies | data MB "
        "| dk storescp RSS MB | its FDs | load 1 min |")
    say("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        say(f"| {r['minute']:.1f} | {r['rss_mb']:.1f} | {r['anon_mb']:.1f} | {r['fds']} | "
            f"{r['threads']} | "
            f"{r['cpu_pct']:.0f} | {r['ops_per_s']:.1f} | {r['errors']} | {r['studies']} | "
            f"{r['data_mb']:.0f} | {r['peer_rss_mb']:.1f} | {r['peer_fds']} | "
            f"{r['load1']:.2f} |")
    say("\nIdle server (no operation in flight, FDs and threads settled):\n")
    say("| when | RSS MB | anon MB | FDs | threads |")
    say("|---|---:|---:|---:|---:|")
    for when, sample in idle.items():
        say(f"| {when} | {sample['rss_mb']:.1f} | {sample['anon_mb']:.1f} | {sample['fds']} | "
            f"{sample['threads']} |")
    ops = list(args.mix_weights)
    say("\n## Latency over time: p50 / p95 / p99 ms per operation and interval\n")
    say("| min | " + " | ".join(ops) + " |")
    say("|---:|" + "---:|" * len(ops))
    for r in rows:
        cells = []
        for op in ops:
            o = r["ops"][op]
            cell = f"{ms(o.get('p50'))} / {ms(o.get('p95'))} / {ms(o.get('p99'))}" if o["n"] \
                else "-"
            cells.append(cell + (f" ({o['errors']} err)" if o["errors"] else ""))
        say(f"| {r['minute']:.1f} | " + " | ".join(cells) + " |")
    loaded = [r for r in rows if r["minute"] >= args.warmup]
    say(f"\n## Whole run, per operation ({wall / 60:.1f} min)\n")
    say("| operation | count | errors | per s | p50 ms | p95 ms | p99 ms | max ms "
        "| p95 first loaded interval | p95 last interval |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for op in ops:
        values = recorder.total.get(op, [])
        p = percentiles(values)
        first = loaded[0]["ops"][op].get("p95") if loaded else None
        last = rows[-1]["ops"][op].get("p95") if rows else None
        say(f"| {op} | {len(values)} | {recorder.total_errors.get(op, 0)} | "
            f"{len(values) / wall:.2f} | {ms(p.get('p50'))} | {ms(p.get('p95'))} | "
            f"{ms(p.get('p99'))} | {ms(p.get('max'))} | {ms(first)} | {ms(last)} |")
    if recorder.first_errors:
        say("\nFirst errors:")
        for line in recorder.first_errors:
            say(f"  {line}")
    v = result["verdict"]

    def word(flat: bool | None) -> str:
        return "not judged" if flat is None else "flat" if flat else "**growing**"

    say(f"\n## Verdict (samples from minute {args.warmup:g} on: {v['loaded_samples']})\n")
    if not v["slopes_judged"]:
        say(f"- {v['span_min']:.1f} loaded minutes: too short for the slopes to count (they "
            f"need {MIN_SLOPE_MINUTES:g}); judged on the idle samples alone")
    say(f"- RSS: {v['rss_first_mb']:.1f} -> {v['rss_last_mb']:.1f} MB, slope "
        f"{v['rss_slope_mb_per_h']:+.1f} MB/h (anonymous part {v['anon_slope_mb_per_h']:+.1f} "
        f"MB/h; limit {args.rss_slope_limit:g}): {word(v['rss_flat'])}")
    say(f"- FDs under load: slope {v['fd_slope_per_h']:+.1f}/h (limit {args.fd_slope_limit:g}); "
        f"idle after the load - idle after warm-up: {v['idle_fds_left']:+d} (tolerance "
        f"{args.fd_tolerance}): {word(v['fd_flat'])}")
    say(f"- threads: slope {v['thread_slope_per_h']:+.1f}/h, idle after - idle after warm-up: "
        f"{v['idle_threads_left']:+d}: {word(v['threads_flat'])}")
    say(f"- dicomkit storescp (the C-MOVE peer) RSS slope {v['peer_rss_slope_mb_per_h']:+.1f} MB/h")
    say(f"- overall: {'FLAT' if v['flat'] else 'NOT FLAT'}")


# -- the run -------------------------------------------------------------------------------------
def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for piece in text.split(","):
        name, _, weight = piece.partition("=")
        name = name.strip()
        if name not in OPERATIONS:
            raise SystemExit(f"unknown operation {name!r} in --mix; known: {', '.join(OPERATIONS)}")
        mix[name] = float(weight or 1)
    return {name: w for name, w in mix.items() if w > 0}


def run(args: argparse.Namespace) -> dict[str, Any]:
    say(f"== soak: {args.minutes:g} min, {args.concurrency} workers, {args.index} index, "
        f"{args.per_study} instances of {args.size}x{args.size} CT per new study, sample every "
        f"{args.interval:g} s")
    say(f"# mix: {', '.join(f'{k}={v:g}' for k, v in args.mix_weights.items())}")
    print_machine()
    load_line("before")
    work = tmpdir("bench-soak-")
    peers: list[S.Server] = []
    pg = None
    server: SoakServe | None = None
    threads: list[threading.Thread] = []
    stop = threading.Event()
    try:
        dcmtk_peer = IgnoringStorescp().start()
        peers.append(dcmtk_peer)
        dk_peer = DicomkitStorescp()
        peers.append(dk_peer)
        dk_peer.start()
        url = None
        if args.index == "postgres":
            pg = S.PgDatabase()
            url = pg.__enter__()
        server = SoakServe({IgnoringStorescp.aet: dcmtk_peer.port,
                            DicomkitStorescp.aet: dk_peer.port}, url)
        server.start()
        assert server.proc is not None
        pid = server.proc.pid
        say(f"# dicomkit serve PID {pid}: DIMSE {server.port}, HTTP {server.http_port}, "
            f"data {server.data}")
        env = Env(server, dk_peer, Archive(args.per_study), Recorder(), args.mix_weights,
                  args.size, work)
        seeder = Worker(99, env)
        for _ in range(args.seed_studies):
            seeder.op_store()
        for op in args.mix_weights:  # each operation once, untimed: a broken one stops here
            getattr(seeder, "op_" + op.replace("-", "_"))()
        seeder.http.close()
        seeder.loop.close()
        idle: dict[str, dict[str, float]] = {"before load": settled(pid)}
        say(f"# idle before the load: {idle['before load']}")
        workers = [Worker(n, env) for n in range(args.concurrency)]
        t0 = time.monotonic()
        deadline = t0 + args.minutes * 60
        sampler = Sampler(env, t0)
        threads = [threading.Thread(target=w.run, args=(deadline, args.max_ops, stop),
                                    name=f"soak-worker-{w.n}") for w in workers]
        for t in threads:
            t.start()
        next_tick = t0 + args.interval
        warm_paused = args.warmup <= 0 or args.warmup >= args.minutes
        while True:
            for t in threads:
                t.join(max(0.0, next_tick - time.monotonic()))
            if time.monotonic() >= deadline:  # the last row waits for the operations in flight
                for t in threads:
                    t.join(OP_TIMEOUT + 10)
            if server.proc.poll() is not None:
                stop.set()
                raise RuntimeError(f"dicomkit serve exited with {server.proc.returncode}; "
                                   f"its log: {server.log}")
            if not warm_paused and time.monotonic() - t0 >= args.warmup * 60:
                warm_paused = True
                # Pause at the end of the warm-up: the idle baseline the end is compared with.
                if env.quiesce(workers):
                    idle["after warm-up"] = settled(pid)
                    say(f"# idle after the warm-up: {idle['after warm-up']}")
                env.resume()
            sampler.sample(args.max_disk_mb)
            if not any(t.is_alive() for t in threads):
                break
            next_tick += args.interval
        wall = time.monotonic() - t0
        idle["after load"] = settled(pid, 60)
        say(f"# idle after the load: {idle['after load']}")
        result = {"args": {k: v for k, v in vars(args).items() if k != "func"},
                  "wall_s": wall, "rows": sampler.rows, "idle": idle,
                  "totals": {op: {"n": len(v), **percentiles(v)}
                             for op, v in env.recorder.total.items()},
                  "errors": env.recorder.total_errors, "first_errors": env.recorder.first_errors,
                  "workers_ops": [w.ops for w in workers]}
        result["verdict"] = verdict(sampler.rows, idle, args)
        report(sampler.rows, env.recorder, idle, result, args, wall)
        load_line("after")
        return result
    finally:
        stop.set()
        for t in threads:
            t.join(OP_TIMEOUT)
        if server is not None:
            server.cleanup()
        for peer in peers:
            peer.cleanup()
        if pg is not None:
            pg.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)


def save(result: dict[str, Any], args: argparse.Namespace) -> None:
    path = Path(args.json) if args.json else OUT / "bench_soak.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), **result}, indent=1))
    say(f"# raw figures: {path}")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["minute", "seconds", "rss_mb", "anon_mb", "fds", "threads", "cpu_pct",
                          "studies",
                          "data_mb", "peer_rss_mb", "peer_fds", "load1", "operation", "n",
                          "errors", "p50_ms", "p95_ms", "p99_ms", "max_ms"])
            for r in result["rows"]:
                for op, o in r["ops"].items():
                    out.writerow([f"{r['minute']:.2f}", f"{r['seconds']:.1f}",
                                  f"{r['rss_mb']:.1f}", f"{r['anon_mb']:.1f}", r["fds"],
                                  r["threads"],
                                  f"{r['cpu_pct']:.1f}", r["studies"], f"{r['data_mb']:.1f}",
                                  f"{r['peer_rss_mb']:.1f}", r["peer_fds"], f"{r['load1']:.2f}",
                                  op, o["n"], o["errors"]]
                                 + [f"{o[k]:.2f}" if k in o else "" for k in
                                    ("p50", "p95", "p99", "max")])
        say(f"# CSV: {args.csv}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: python bench/bench_soak.py --minutes 3 "
                                       "--interval 15 --csv /tmp/soak.csv")
    p.add_argument("--minutes", type=float, default=30.0, help="how long the load runs (30)")
    p.add_argument("--concurrency", type=int, default=4, help="worker threads (4)")
    p.add_argument("--interval", type=float, default=30.0, help="seconds per row (30)")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="minutes left out of the verdict; the load pauses once at its end for "
                        "the idle baseline (2)")
    p.add_argument("--index", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--mix", default=DEFAULT_MIX, help=f"operation=weight,... ({DEFAULT_MIX})")
    p.add_argument("--per-study", type=int, default=5, help="instances per new study (5)")
    p.add_argument("--size", type=int, default=64, help="rows and columns of each CT (64)")
    p.add_argument("--seed-studies", type=int, default=20, help="studies stored before (20)")
    p.add_argument("--max-ops", type=int, default=10_000_000, help="stop after this many")
    p.add_argument("--max-disk-mb", type=float, default=3000.0,
                   help="the archive stops growing past this (3000)")
    p.add_argument("--rss-slope-limit", type=float, default=10.0, help="MB/h (10)")
    p.add_argument("--fd-slope-limit", type=float, default=10.0,
                   help="FDs/h and threads/h under load (10)")
    p.add_argument("--fd-tolerance", type=int, default=0,
                   help="idle FDs after the load may exceed the warm-up's by this many (0)")
    p.add_argument("--csv", help="also write one row per interval and operation here")
    p.add_argument("--json", help="raw figures (default bench/out/bench_soak.json)")
    args = p.parse_args()
    args.mix_weights = parse_mix(args.mix)
    if args.concurrency < 1 or args.interval <= 0 or args.minutes <= 0:
        raise SystemExit("--concurrency, --interval and --minutes must be positive")
    result = run(args)
    save(result, args)
    sys.exit(0 if not result["errors"] else 1)


if __name__ == "__main__":
    main()
