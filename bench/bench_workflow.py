"""Workflow services of ``dicomkit serve`` (issue 12): Modality Worklist C-FIND against DCMTK
``wlmscpfs`` on the same items, MPPS round trips against a pynetdicom MPPS SCP, HL7 orders/s
over MLLP, Storage Commitment latency. SQLite and PostgreSQL, in one run.

  python bench/bench_workflow.py [--items 10000] [--reps 200] [--budget 30] [--wl-budget 30]
                                 [--mpps-reps 100] [--hl7-count 400] [--commit-reps 20]
                                 [--no-postgres] [--profile]

worklist  ``--items`` scheduled procedure steps (one per item; ~20 stations of 8 modalities,
          30 days of dates, times 07:00-19:00, Latin, Latin-1, UTF-8 and ISO 2022 IR 87
          Japanese patient names) are made reproducibly (seed below). 90% are added in-process
          through ``WorklistStore.add`` (the path of ``dicomkit worklist add``, the REST API and
          the HL7 feed: validation, one transaction per item), the last 10% with the
          ``dicomkit worklist add FILE…`` command on their ``.wl`` files; both rates are
          printed. The same items are written as ``.wl`` files in wlmscpfs's ``-dfp`` layout
          (``<dir>/<AET>/*.wl`` + lock file). Then four queries (station + date: the target;
          a two-day date range; a patient name wildcard; an accession number), each over a new
          association (connect, C-FIND, release, as a modality does), with one in-process
          dicomkit client for every server, round robin over servers and queries; wall time
          from connect to release. A query stops after ``--budget`` seconds in all
          (``--wl-budget`` for wlmscpfs, which reads every file per query), at least 5 runs. Every server must return the
          same number of matches, or the script exits 1.
mpps      N-CREATE (IN PROGRESS, linked to a scheduled step) + N-SET (IN PROGRESS: a performed
          series so far) + N-SET (COMPLETED) as one round trip: the three on one association,
          and each message on its own association. Reference: pynetdicom 3.0.4's own MPPS SCP
          (an AE with N-CREATE / N-SET handlers keeping the data sets in a dict, in a
          subprocess): an **in-memory** reference, nothing is written to disk.
commit    ``--commit-reps`` Storage Commitment requests of 100 stored instances, each on a new
          association that stays open for the N-EVENT-REPORT: the N-ACTION response time and
          the time to the report (event type 1 checked). The SCP waits
          ``SAME_ASSOCIATION_DELAY`` (0 since wlperf; 0.5 s before) after its response before
          it reports on the same association (services/commitment.py); the table shows the
          rest too.
hl7       ``--hl7-count`` ORM^O01 NW orders (IHE RAD-4, each a new step) to ``serve
          --hl7-port``, each waiting for its ACK (AA checked): over one MLLP connection and
          over 4 concurrent connections; with fsync (the default) and ``--no-fsync``.
          Orders/s and ACK latency. No external HL7 listener to compare with is installed.

Servers run on 127.0.0.1 free ports; PostgreSQL databases are created fresh on
127.0.0.1:5432 (``DICOMKIT_BENCH_POSTGRES``) and dropped at the end. ``--profile`` runs the
target query in-process under cProfile (the SCP's work: compile, SQL and the encoded
response identifiers of ``services.worklist.response_payload``, no network) and prints the top functions. Raw figures go to
``bench/out/bench_workflow.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import OUT, child_env, machine, print_machine, profile_top, use_checkout  # noqa: E402

use_checkout()

import _archive_support as S  # noqa: E402

TARGET_P95_MS = 20.0  # worklist C-FIND, station + date, 10,000 scheduled items
SEED = 20261205
FIRST_DAY = dt.date(2026, 12, 1)
DAYS = 30
UID_ROOT = "1.2.826.0.1.3680043.10.1047.12"  # benchmark-only UIDs
# station: modality (20 stations)
STATIONS = {f"CT{i}": "CT" for i in range(1, 6)} | {f"MR{i}": "MR" for i in range(1, 5)} \
    | {f"CR{i}": "CR" for i in range(1, 4)} | {"DX1": "DX", "DX2": "DX"} \
    | {f"US{i}": "US" for i in range(1, 4)} | {"MG1": "MG", "NM1": "NM"}
JAPANESE = [("Yamada^Tarou", "山田^太郎", "やまだ^たろう"), ("Kato^Ken", "加藤^健", "かとう^けん"),
            ("Suzuki^Ichiro", "鈴木^一郎", "すずき^いちろう"),
            ("Tanaka^Hanako", "田中^花子", "たなか^はなこ")]
UTF8_NAMES = ["Müller^Hans", "Nguyễn^Văn", "Gómez^María", "Øster^Åse", "Wójcik^Łukasz",
              "Dvořák^Antonín", "Öztürk^Şule", "Papadopoulos^Γιώργος"]
LATIN1_NAMES = ["Dupont^Chloé", "Müller^Jürgen", "Olsen^Åse", "Garçon^René"]
PROCEDURES = {"CT": "CT HEAD W/O CONTRAST", "MR": "MR BRAIN W/WO CONTRAST",
              "CR": "XR CHEST 2 VIEWS", "DX": "XR ANKLE 3 VIEWS", "US": "US ABDOMEN COMPLETE",
              "MG": "MG SCREENING BILATERAL", "NM": "NM BONE SCAN WHOLE BODY"}
AET = "WLPACS"


def say(text: str = "") -> None:
    print(text, flush=True)


def load_line(label: str) -> float:
    one, five, fifteen = os.getloadavg()
    say(f"# load average {label}: {one:.2f} {five:.2f} {fifteen:.2f}")
    return one


def ms(values: list[float], q: float) -> float:
    return S.percentile(values, q) * 1e3


# -- the items ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    number: int
    accession: str
    patient_id: str
    name: str
    charsets: tuple[str, ...]
    station: str
    modality: str
    date: str
    time: str
    study_uid: str


def make_items(count: int) -> list[Item]:
    rng = random.Random(SEED)
    stations = list(STATIONS)
    items = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.04:
            latin, ideo, phon = rng.choice(JAPANESE)
            name, charsets = f"{latin}={ideo}={phon}", ("", "ISO 2022 IR 87")
        elif roll < 0.10:
            name, charsets = rng.choice(UTF8_NAMES), ("ISO_IR 192",)
        elif roll < 0.13:
            name, charsets = rng.choice(LATIN1_NAMES), ("ISO_IR 100",)
        else:
            name = f"{rng.choice(S.COMMON)}^{rng.choice(S.GIVEN)}"
            charsets = ()
        station = rng.choice(stations)
        day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
        minutes = 7 * 60 + 5 * rng.randrange(12 * 12)
        items.append(Item(n, f"A{n:07d}", f"P{rng.randrange(count):07d}", name, charsets,
                          station, STATIONS[station], day.strftime("%Y%m%d"),
                          f"{minutes // 60:02d}{minutes % 60:02d}00", f"{UID_ROOT}.{n + 1}"))
    return items


def item_dataset(item: Item) -> Any:
    from dicomkit.core.dataset import Dataset

    ds = Dataset()
    if item.charsets:
        ds.SpecificCharacterSet = list(item.charsets) if len(item.charsets) > 1 \
            else item.charsets[0]
    ds.AccessionNumber = item.accession
    ds.ReferringPhysicianName = S.DOCTORS[item.number % len(S.DOCTORS)]
    ds.PatientName = item.name
    ds.PatientID = item.patient_id
    ds.PatientBirthDate = f"19{40 + item.number % 60:02d}0{1 + item.number % 9}15"
    ds.PatientSex = "MF"[item.number % 2]
    ds.StudyInstanceUID = item.study_uid
    ds.RequestedProcedureDescription = PROCEDURES[item.modality]
    ds.RequestedProcedureID = f"RP{item.number:07d}"
    ds.RequestedProcedurePriority = "ROUTINE"
    step = Dataset()
    step.Modality = item.modality
    step.ScheduledStationAETitle = item.station
    step.ScheduledProcedureStepStartDate = item.date
    step.ScheduledProcedureStepStartTime = item.time
    step.ScheduledPerformingPhysicianName = "Tech^Terry"
    step.ScheduledProcedureStepDescription = PROCEDURES[item.modality]
    step.ScheduledProcedureStepID = f"S{item.number:07d}"
    step.ScheduledStationName = f"ROOM {item.station}"
    step.ScheduledProcedureStepLocation = "Radiology"
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def write_wl_folder(root: Path, items: list[Item]) -> Path:
    """wlmscpfs's ``-dfp`` layout: <root>/<AET>/*.wl and a lock file (``lockfile`` for DCMTK
    3.6.7, ``LOCKFILE`` in its documentation)."""
    from dicomkit.encoding.writer import write

    folder = root / AET
    folder.mkdir(parents=True)
    (folder / "lockfile").write_bytes(b"")
    (folder / "LOCKFILE").write_bytes(b"")
    for item in items:
        write(item_dataset(item), folder / f"{item.accession}.wl")
    return folder


# -- the queries ----------------------------------------------------------------------------
TOP_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
            "ReferringPhysicianName", "RequestedProcedureID", "RequestedProcedureDescription",
            "StudyInstanceUID")
STEP_KEYS = ("ScheduledStationAETitle", "Modality", "ScheduledProcedureStepStartDate",
             "ScheduledProcedureStepStartTime", "ScheduledPerformingPhysicianName",
             "ScheduledProcedureStepID", "ScheduledProcedureStepDescription")


def query(step: dict[str, str] | None = None, **top: str) -> Any:
    """A modality's worklist query: every key it displays, some with values."""
    from dicomkit.core.dataset import Dataset

    identifier = Dataset()
    for keyword in TOP_KEYS:
        identifier.set(keyword, top.get(keyword))
    item = Dataset()
    for keyword in STEP_KEYS:
        item.set(keyword, (step or {}).get(keyword))
    identifier.ScheduledProcedureStepSequence = [item]
    return identifier


def queries(items: list[Item]) -> dict[str, Any]:
    mid = (FIRST_DAY + dt.timedelta(days=DAYS // 2)).strftime("%Y%m%d")
    nxt = (FIRST_DAY + dt.timedelta(days=DAYS // 2 + 1)).strftime("%Y%m%d")
    return {
        "station + date (target)": query({"ScheduledStationAETitle": "CT1",
                                          "ScheduledProcedureStepStartDate": mid}),
        "date range, 2 days": query({"ScheduledProcedureStepStartDate": f"{mid}-{nxt}"}),
        "patient name SMITH*": query(PatientName="SMITH*"),
        "accession": query(AccessionNumber=items[len(items) // 3].accession),
    }


# -- servers --------------------------------------------------------------------------------
class Serve(S.DicomkitServe):
    """``dicomkit serve`` for the workflow: its AE title, peers, an HL7 port."""

    aet = AET

    def __init__(self, label: str, index_url: str | None, data: str,
                 fsync: bool = True) -> None:
        super().__init__(index_url, fsync=fsync, data=data)
        self.label = label
        self.hl7_port = S.free_port()
        self.name = f"dicomkit ({label})"

    def command(self) -> list[str]:
        return super().command() + ["--hl7-port", str(self.hl7_port), "--hl7-station", "CT1"]

    def start(self) -> S.Server:
        super().start()
        S.wait_port(self.hl7_port, self.proc)
        return self


class Wlmscpfs(S.Server):
    aet = AET

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.name = "DCMTK wlmscpfs"

    def command(self) -> list[str]:
        return [f"{S.DCMTK}/wlmscpfs", "-s", "-csk", "-dfp", str(self.root), str(self.port)]


PYNETDICOM_MPPS = r"""
import sys
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep as MPPS

store = {}

def on_create(event):
    uid = event.request.AffectedSOPInstanceUID
    if uid in store:
        return 0x0111, None
    ds = event.attribute_list
    store[uid] = ds
    return 0x0000, ds

def on_set(event):
    uid = event.request.RequestedSOPInstanceUID
    ds = store.get(uid)
    if ds is None:
        return 0x0112, None
    if ds.PerformedProcedureStepStatus != "IN PROGRESS":
        return 0x0110, None
    for element in event.modification_list:
        ds[element.tag] = element
    return 0x0000, ds

ae = AE(ae_title="PYNETDICOM")
ae.add_supported_context(MPPS)
ae.start_server(("127.0.0.1", int(sys.argv[1])), block=True,
                evt_handlers=[(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)])
"""


class PynetdicomMpps(S.Server):
    aet = "PYNETDICOM"

    def __init__(self) -> None:
        super().__init__()
        self.name = "pynetdicom MPPS SCP (in memory)"

    def command(self) -> list[str]:
        return [sys.executable, "-c", PYNETDICOM_MPPS, str(self.port)]


# -- one association per query --------------------------------------------------------------
def mwl_contexts() -> list[Any]:
    from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE, MODELS

    return [(MODELS["worklist"]["find"], [EXPLICIT_VR_LE, IMPLICIT_VR_LE])]


async def find_once(port: int, aet: str, identifier: Any) -> tuple[float, int]:
    from dicomkit.net.client import connect

    start = time.perf_counter()
    matches = 0
    status = -1
    async with connect("127.0.0.1", port, calling_aet="CT1", called_aet=aet,
                       contexts=mwl_contexts()) as client:
        async for status, found in client.find(identifier, model="worklist"):
            if found is not None and status in (0xFF00, 0xFF01):
                matches += 1
    elapsed = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"C-FIND to {aet}@{port}: final status {status:04X}")
    return elapsed, matches


TICK = os.sysconf("SC_CLK_TCK")


def pid_of(server: S.Server) -> int:
    assert server.proc is not None, f"{server.name} is not running"
    return server.proc.pid


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc, clock-tick resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Series:
    latencies: list[float] = field(default_factory=list)
    matches: int = -1
    server_cpu: float = 0.0  # summed over the timed runs
    client_cpu: float = 0.0

    def cpu_ms(self) -> tuple[float, float]:
        """Mean CPU ms per query: (server, this client). The server's comes from clock ticks
        (10 ms): a mean over many runs, not a per-run figure."""
        n = len(self.latencies) or 1
        return self.server_cpu / n * 1e3, self.client_cpu / n * 1e3

    def row(self) -> dict[str, Any]:
        server_cpu, client_cpu = self.cpu_ms()
        return {"n": len(self.latencies), "p50_ms": ms(self.latencies, 50),
                "p95_ms": ms(self.latencies, 95), "matches": self.matches,
                "server_cpu_ms": server_cpu, "client_cpu_ms": client_cpu}


async def time_worklist(servers: dict[str, tuple[int, int]], named: dict[str, Any],
                        reps: int, budgets: dict[str, float], min_reps: int = 5
                        ) -> dict[str, dict[str, Series]]:
    """``servers``: name -> (port, PID). Wall time per run, and CPU time of the server and
    of this process around each run (loads on the machine stretch the first, barely the
    others)."""
    out = {s: {q: Series() for q in named} for s in servers}
    spent = {(s, q): 0.0 for s in servers for q in named}
    for server, (port, _pid) in servers.items():  # warm-up, and the match counts
        for name, identifier in named.items():
            _t, out[server][name].matches = await find_once(port, AET, identifier)
    for rep in range(reps):
        for name, identifier in named.items():
            for server, (port, pid) in servers.items():
                if spent[server, name] > budgets[server] and rep >= min_reps:
                    continue
                before, mine = cpu_seconds(pid), time.process_time()
                elapsed, matches = await find_once(port, AET, identifier)
                series = out[server][name]
                series.client_cpu += time.process_time() - mine
                series.server_cpu += cpu_seconds(pid) - before
                if matches != series.matches:
                    raise RuntimeError(f"{server} {name}: {matches} matches, then "
                                       f"{series.matches}")
                series.latencies.append(elapsed)
                spent[server, name] += elapsed
    return out


# -- loading --------------------------------------------------------------------------------
def load(label: str, data: str, index_url: str | None, items: list[Item],
         wl_folder: Path) -> dict[str, Any]:
    """90% through WorklistStore.add in-process, the rest by ``dicomkit worklist add``."""
    from dicomkit.archive.store import Archive
    from dicomkit.archive.worklist import WorklistStore

    cut = len(items) * 9 // 10
    archive = Archive(data, index_url)
    try:
        store = WorklistStore(archive.index)
        start = time.perf_counter()
        for item in items[:cut]:
            store.add(item_dataset(item))
        direct = time.perf_counter() - start
    finally:
        archive.close()
    files = [str(wl_folder / f"{item.accession}.wl") for item in items[cut:]]
    location = ["--data", data] + (["--index", index_url] if index_url else [])
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "worklist", "add",
                             *files, *location], capture_output=True, text=True,
                            env=child_env())
    cli = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"dicomkit worklist add: exit {result.returncode}: "
                           f"{result.stderr[-2000:]}")
    row = {"store_items": cut, "store_s": direct, "store_items_per_s": cut / direct,
           "cli_items": len(files), "cli_s": cli, "cli_items_per_s": len(files) / cli}
    say(f"  {label}: WorklistStore.add {cut} items in {direct:.1f} s ({cut / direct:.0f} "
        f"items/s); dicomkit worklist add {len(files)} .wl files in {cli:.1f} s "
        f"({len(files) / cli:.0f} items/s, process start included)")
    return row


# -- MPPS -----------------------------------------------------------------------------------
def mpps_create(item: Item | None, n: int) -> Any:
    from dicomkit.core.dataset import Dataset

    ds = Dataset()
    step = Dataset()
    step.StudyInstanceUID = item.study_uid if item else f"{UID_ROOT}.9.{n}"
    step.ReferencedStudySequence = []
    step.AccessionNumber = item.accession if item else f"M{n:07d}"
    step.RequestedProcedureID = f"RP{item.number:07d}" if item else f"RPM{n}"
    step.RequestedProcedureDescription = PROCEDURES[item.modality] if item else "CT HEAD"
    step.ScheduledProcedureStepID = f"S{item.number:07d}" if item else f"SM{n}"
    step.ScheduledProcedureStepDescription = step.RequestedProcedureDescription
    step.ScheduledProtocolCodeSequence = []
    ds.ScheduledStepAttributesSequence = [step]
    ds.PatientName = item.name if item else "Doe^Jane"
    if item and item.charsets:
        ds.SpecificCharacterSet = list(item.charsets) if len(item.charsets) > 1 \
            else item.charsets[0]
    ds.PatientID = item.patient_id if item else f"PM{n}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.ReferencedPatientSequence = []
    ds.PerformedProcedureStepID = f"PPS{n}"
    ds.PerformedStationAETitle = item.station if item else "CT1"
    ds.PerformedStationName = "ROOM"
    ds.PerformedLocation = "Radiology"
    ds.PerformedProcedureStepStartDate = item.date if item else "20261215"
    ds.PerformedProcedureStepStartTime = item.time if item else "101500"
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepDescription = step.RequestedProcedureDescription
    ds.PerformedProcedureTypeDescription = ""
    ds.ProcedureCodeSequence = []
    ds.PerformedProcedureStepEndDate = None
    ds.PerformedProcedureStepEndTime = None
    ds.Modality = item.modality if item else "CT"
    ds.StudyID = "1"
    ds.PerformedProtocolCodeSequence = []
    ds.PerformedSeriesSequence = []
    return ds


def series_item(images: int) -> Any:
    from dicomkit.core.dataset import Dataset
    from dicomkit.core.uid import generate_uid, registered

    item = Dataset()
    item.PerformingPhysicianName = "House^Greg"
    item.ProtocolName = "HEAD"
    item.OperatorsName = "Op^One"
    item.SeriesInstanceUID = generate_uid()
    item.SeriesDescription = "AXIAL"
    item.RetrieveAETitle = AET
    refs = []
    for _ in range(images):
        ref = Dataset()
        ref.ReferencedSOPClassUID = registered("CTImageStorage")
        ref.ReferencedSOPInstanceUID = generate_uid()
        refs.append(ref)
    item.ReferencedImageSequence = refs
    item.ReferencedNonImageCompositeSOPInstanceSequence = []
    return item


def mpps_sets() -> tuple[Any, Any]:
    from dicomkit.core.dataset import Dataset

    progress = Dataset()
    progress.PerformedProcedureStepStatus = "IN PROGRESS"
    progress.PerformedSeriesSequence = [series_item(20)]
    final = Dataset()
    final.PerformedProcedureStepStatus = "COMPLETED"
    final.PerformedProcedureStepEndDate = "20261215"
    final.PerformedProcedureStepEndTime = "103000"
    final.PerformedSeriesSequence = [progress.PerformedSeriesSequence[0], series_item(40)]
    return progress, final


async def mpps_round_trip(port: int, aet: str, create: Any, per_message: bool
                          ) -> tuple[float, list[float]]:
    """N-CREATE, N-SET, N-SET; (total seconds, each message's seconds)."""
    from dicomkit.core.uid import generate_uid, registered
    from dicomkit.net.client import connect
    from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE

    sop_class = registered("ModalityPerformedProcedureStep")
    contexts = [(sop_class, [EXPLICIT_VR_LE, IMPLICIT_VR_LE])]
    uid = generate_uid()
    progress, final = mpps_sets()
    steps = [("create", create), ("set", progress), ("set", final)]
    parts: list[float] = []
    start = time.perf_counter()

    async def send(client: Any, kind: str, ds: Any) -> None:
        t0 = time.perf_counter()
        if kind == "create":
            status, _, _ = await client.n_create(sop_class, uid, ds)
        else:
            status, _, _ = await client.n_set(sop_class, uid, ds)
        parts.append(time.perf_counter() - t0)
        if status not in (0, 0x0107, 0x0116):
            raise RuntimeError(f"MPPS N-{kind.upper()} to {aet}@{port}: status {status:04X}")

    if per_message:
        for kind, ds in steps:
            async with connect("127.0.0.1", port, calling_aet="CT1", called_aet=aet,
                               contexts=contexts) as client:
                await send(client, kind, ds)
    else:
        async with connect("127.0.0.1", port, calling_aet="CT1", called_aet=aet,
                           contexts=contexts) as client:
            for kind, ds in steps:
                await send(client, kind, ds)
    return time.perf_counter() - start, parts


async def time_mpps(servers: dict[str, tuple[int, str]], items: list[Item], reps: int
                    ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    modes = {"1 association": False, "1 association per message": True}
    for server in servers:
        for mode in modes:
            out[f"{server}|{mode}"] = {"total": [], "create": [], "set": []}
    n = 0
    for rep in range(reps + 1):  # the first round is a warm-up
        for mode, per_message in modes.items():
            for server, (port, aet) in servers.items():
                item = items[n] if aet == AET else None
                n += 1
                total, parts = await mpps_round_trip(port, aet, mpps_create(item, n),
                                                     per_message)
                if rep:
                    row = out[f"{server}|{mode}"]
                    row["total"].append(total)
                    row["create"].append(parts[0])
                    row["set"].extend(parts[1:])
    return out


# -- Storage Commitment ---------------------------------------------------------------------
async def store_instances(port: int, count: int) -> list[Any]:
    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid, registered
    from dicomkit.net.client import connect
    from dicomkit.net.uids import EXPLICIT_VR_LE
    from dicomkit.services.commitment import Reference

    study, series = generate_uid(), generate_uid()
    refs = []
    async with connect("127.0.0.1", port, calling_aet="CT1", called_aet=AET,
                       contexts=[(registered("CTImageStorage"), [EXPLICIT_VR_LE])]) as client:
        for i in range(count):
            ds = make_ct(64, i + 1, study, series)
            rsp = await client.store(ds)
            if (rsp.Status or 0) != 0:
                raise RuntimeError(f"C-STORE: status {rsp.Status:04X}")
            refs.append(Reference(str(ds.SOPClassUID), str(ds.SOPInstanceUID)))
    return refs


async def commit_once(port: int, refs: list[Any]) -> tuple[float, float]:
    from dicomkit.core.uid import generate_uid
    from dicomkit.net.client import connect
    from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE
    from dicomkit.services.commitment import (
        PUSH_MODEL,
        PUSH_MODEL_INSTANCE,
        REQUEST_STORAGE_COMMITMENT,
        CommitmentReportReceiver,
        request_information,
    )

    transaction = generate_uid()
    receiver = CommitmentReportReceiver(transaction)
    start = time.perf_counter()
    async with connect("127.0.0.1", port, calling_aet="CT1", called_aet=AET,
                       contexts=[(PUSH_MODEL, [EXPLICIT_VR_LE, IMPLICIT_VR_LE])]) as client:
        client.event_handler = receiver.on_event
        status, _, _ = await client.n_action(PUSH_MODEL, PUSH_MODEL_INSTANCE,
                                             REQUEST_STORAGE_COMMITMENT,
                                             request_information(transaction, refs))
        answered = time.perf_counter() - start
        if status != 0:
            raise RuntimeError(f"N-ACTION: status {status:04X}")
        await asyncio.wait_for(receiver.received.wait(), 60)
        reported = time.perf_counter() - start
    result = receiver.result
    if result is None or result.failed or len(result.committed) != len(refs):
        raise RuntimeError(f"commitment report: {result}")
    return answered, reported


# -- HL7 ------------------------------------------------------------------------------------
def orm(n: int, tag: str) -> bytes:
    """An ORM^O01 NW as IHE RAD-4 (HL7 v2.3.1): keys in OBR-18/19/20, Study UID in ZDS-1."""
    accession = f"H{tag}{n:06d}"
    day = FIRST_DAY + dt.timedelta(days=n % DAYS)
    start = day.strftime("%Y%m%d") + f"{8 + n % 10:02d}{(n * 5) % 60:02d}00"
    obr = ["OBR", "1", f"PLC{n}^RIS", f"FIL{n}^PACS",
           "CTHEAD^CT Head^LOCAL^P1^Head protocol^LOCAL"]
    obr += [""] * 11 + ["ORD1^Smith^Jane", ""]
    obr += [accession, f"RP{n}", f"SPS{n}", "", "", "", "CT"] + [""] * 9 + ["T1&Tech&Tom"]
    segments = [
        f"MSH|^~\\&|RIS|HOSP|PACS|HOSP|20261204080000||ORM^O01|{tag}{n}|P|2.3.1",
        f"PID|1||PAT{n:06d}^^^HOSP^MR||{S.COMMON[n % len(S.COMMON)]}^"
        f"{S.GIVEN[n % len(S.GIVEN)]}||19700101|{'MF'[n % 2]}",
        "PV1|1|O|RAD^1^^HOSP|||||REF1^Welby^Marcus|||||||||||V123",
        f"ORC|NW|PLC{n}^RIS|FIL{n}^PACS||SC||^^^{start}^^R",
        "|".join(obr),
        f"ZDS|{UID_ROOT}.7.{tag}.{n}^DCM^Application^DICOM",
    ]
    return ("\r".join(segments) + "\r").encode()


def mllp_exchange(sock: socket.socket, message: bytes) -> bytes:
    sock.sendall(b"\x0b" + message + b"\x1c\r")
    reply = b""
    while not reply.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the HL7 listener closed the connection")
        reply += chunk
    return reply


def hl7_run(port: int, messages: list[bytes], connections: int
            ) -> tuple[float, list[float]]:
    """Send ``messages`` split over ``connections`` concurrent MLLP connections, each message
    waiting for its ACK; (wall seconds, ACK latencies)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    chunks = [messages[i::connections] for i in range(connections)]

    def worker(chunk: list[bytes]) -> None:
        mine = []
        try:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for message in chunk:
                    t0 = time.perf_counter()
                    reply = mllp_exchange(sock, message)
                    mine.append(time.perf_counter() - t0)
                    if b"MSA|AA" not in reply:
                        errors.append(reply.decode(errors="replace")[:400])
                        return
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"HL7: {len(errors)} failure(s), first: {errors[0]}")
    return wall, latencies


# -- the run --------------------------------------------------------------------------------
@contextlib.contextmanager
def backends(postgres: bool) -> Iterator[list[tuple[str, str | None]]]:
    """[(label, index URL or None for SQLite in the data folder)]."""
    if not postgres:
        yield [("SQLite", None)]
        return
    with S.PgDatabase() as url:
        yield [("SQLite", None), ("PostgreSQL", url)]


def table(headers: list[str], rows: list[list[Any]]) -> None:
    say("| " + " | ".join(headers) + " |")
    say("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
    for row in rows:
        say("| " + " | ".join(f"{c:.1f}" if isinstance(c, float) else str(c) for c in row)
            + " |")


def profile_target(data: str, index_url: str | None, identifier: Any) -> list[Any]:
    """The SCP's work for the target query, in-process: compile, SQL, and each response
    identifier encoded as the Modality Worklist SCP sends it (``response_payload``)."""
    from dicomkit.archive.store import Archive
    from dicomkit.archive.worklist import WorklistStore
    from dicomkit.encoding import transfer_syntax as ts_mod
    from dicomkit.services.worklist import response_keys, response_payload

    archive = Archive(data, index_url)
    ts = ts_mod.for_uid("1.2.840.10008.1.2.1")
    try:
        store = WorklistStore(archive.index)

        def once() -> None:
            keys = response_keys(identifier)
            for attrs in store.matches(store.compile(identifier)):
                response_payload(keys, attrs, ts)

        once()

        def run() -> None:
            for _ in range(200):
                once()

        start = time.perf_counter()
        for _ in range(50):
            once()
        say(f"  in-process compile + SQL + encoded responses of the target query: "
            f"{(time.perf_counter() - start) / 50 * 1e3:.2f} ms per query")
        return profile_top(run, prefix="  ")
    finally:
        archive.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--reps", type=int, default=200, help="C-FIND runs per query")
    parser.add_argument("--budget", type=float, default=30.0,
                        help="seconds per dicomkit query (the 2-day range answers hundreds)")
    parser.add_argument("--wl-budget", type=float, default=30.0,
                        help="seconds per wlmscpfs query (it reads every file each time)")
    parser.add_argument("--mpps-reps", type=int, default=100)
    parser.add_argument("--hl7-count", type=int, default=400)
    parser.add_argument("--commit-reps", type=int, default=20)
    parser.add_argument("--commit-size", type=int, default=100)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    print_machine()
    results: dict[str, Any] = {"args": vars(args)}
    loads = [load_line("at start")]
    failures: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="bench-workflow-", dir=os.environ.get("BENCH_TMP")))
    servers: dict[str, Serve] = {}
    others: list[S.Server] = []
    try:
        with backends(not args.no_postgres) as backend_list:
            items = make_items(args.items)
            start = time.perf_counter()
            wl_folder = write_wl_folder(root / "wlistdb", items)
            say(f"# {len(items)} items ({sum(1 for i in items if i.charsets)} with a "
                f"Specific Character Set, "
                f"{sum(1 for i in items if 'ISO 2022 IR 87' in i.charsets)} Japanese), "
                f".wl files written in {time.perf_counter() - start:.1f} s")
            say("\n## Loading the worklist")
            results["load"] = {}
            for label, url in backend_list:
                data = str(root / f"data-{label}")
                results["load"][label] = load(label, data, url, items, wl_folder)
                servers[label] = Serve(label, url, data)
            for serve in servers.values():
                serve.start()
            wlm = Wlmscpfs(root / "wlistdb")
            others.append(wlm)
            wlm.start()

            # -- worklist C-FIND --------------------------------------------------------
            say(f"\n## Modality Worklist C-FIND, {len(items)} scheduled steps, one "
                "association per query")
            loads.append(load_line("before C-FIND"))
            named = queries(items)
            ports = {s.name: (s.port, pid_of(s)) for s in servers.values()} | {
                wlm.name: (wlm.port, pid_of(wlm))}
            budgets = {name: args.budget for name in ports} | {wlm.name: args.wl_budget}
            timed = asyncio.run(time_worklist(ports, named, args.reps, budgets))
            rows = []
            results["worklist"] = {}
            for qname in named:
                ref = timed[wlm.name][qname]
                counts = {s: timed[s][qname].matches for s in ports}
                if len(set(counts.values())) != 1:
                    failures.append(f"{qname}: match counts differ {counts}")
                results["worklist"][qname] = {s: timed[s][qname].row() for s in ports}
                for s in ports:
                    t = timed[s][qname]
                    ratio = "" if s == wlm.name else \
                        f"{ms(t.latencies, 50) / ms(ref.latencies, 50):.3f}"
                    server_cpu, client_cpu = t.cpu_ms()
                    rows.append([qname, s, t.matches, len(t.latencies),
                                 ms(t.latencies, 50), ms(t.latencies, 95), ratio, server_cpu,
                                 client_cpu])
            table(["query", "server", "matches", "runs", "p50 ms", "p95 ms",
                   "p50 / wlmscpfs", "server CPU ms", "client CPU ms"], rows)
            target = named["station + date (target)"]
            verdicts = {}
            for serve in servers.values():
                p95 = ms(timed[serve.name]["station + date (target)"].latencies, 95)
                verdicts[serve.label] = p95
                say(f"target station + date p95 < {TARGET_P95_MS:.0f} ms, {serve.label}: "
                    f"{p95:.1f} ms: {'met' if p95 < TARGET_P95_MS else 'MISSED'}")
            results["worklist_target_p95_ms"] = verdicts
            wlm.cleanup()
            others.remove(wlm)
            if args.profile:
                say("\n## Profile: the target query in-process (no network)")
                serve = servers["SQLite"]
                results["profile"] = profile_target(serve.data, serve.index_url, target)

            # -- MPPS -------------------------------------------------------------------
            say(f"\n## MPPS round trip: N-CREATE + N-SET (IN PROGRESS) + N-SET (COMPLETED), "
                f"{args.mpps_reps} runs each")
            loads.append(load_line("before MPPS"))
            reference = PynetdicomMpps()
            others.append(reference)
            reference.start()
            mpps_servers = {s.name: (s.port, AET) for s in servers.values()} | {
                reference.name: (reference.port, reference.aet)}
            mpps_items = items[len(items) // 2:]  # steps no query above counts on
            timed_mpps = asyncio.run(time_mpps(mpps_servers, mpps_items, args.mpps_reps))
            reference.cleanup()
            others.remove(reference)
            rows = []
            results["mpps"] = {}
            for key, row in timed_mpps.items():
                server, mode = key.split("|")
                ref = timed_mpps[f"{reference.name}|{mode}"]["total"]
                ratio = "" if server == reference.name else \
                    f"{ms(row['total'], 50) / ms(ref, 50):.2f}"
                results["mpps"][key] = {k: {"p50_ms": ms(v, 50), "p95_ms": ms(v, 95)}
                                        for k, v in row.items()}
                rows.append([mode, server, ms(row["total"], 50), ms(row["total"], 95),
                             ms(row["create"], 50), ms(row["set"], 50), ratio])
            table(["mode", "server", "round trip p50 ms", "p95 ms", "N-CREATE p50 ms",
                   "N-SET p50 ms", "p50 / pynetdicom"], rows)

            # -- Storage Commitment -----------------------------------------------------
            say(f"\n## Storage Commitment: N-ACTION of {args.commit_size} instances, report "
                f"on the same association, {args.commit_reps} runs")
            loads.append(load_line("before commitment"))
            from dicomkit.services.commitment import SAME_ASSOCIATION_DELAY

            rows = []
            results["commitment"] = {}
            for serve in servers.values():
                refs = asyncio.run(store_instances(serve.port, args.commit_size))
                answered, reported = [], []
                for rep in range(args.commit_reps + 1):
                    a, r = asyncio.run(commit_once(serve.port, refs))
                    if rep:
                        answered.append(a)
                        reported.append(r)
                results["commitment"][serve.label] = {
                    "n_action_p50_ms": ms(answered, 50), "n_action_p95_ms": ms(answered, 95),
                    "report_p50_ms": ms(reported, 50), "report_p95_ms": ms(reported, 95)}
                rows.append([serve.name, ms(answered, 50), ms(answered, 95),
                             ms(reported, 50), ms(reported, 95),
                             ms(reported, 50) - SAME_ASSOCIATION_DELAY * 1e3])
            table(["server", "N-ACTION rsp p50 ms", "p95 ms", "report p50 ms", "p95 ms",
                   f"report p50 - designed {SAME_ASSOCIATION_DELAY * 1e3:.0f} ms wait"], rows)

            # -- HL7 --------------------------------------------------------------------
            say(f"\n## HL7 ORM^O01 NW over MLLP, {args.hl7_count} orders per case, each "
                "waiting for its ACK")
            loads.append(load_line("before HL7"))
            rows = []
            results["hl7"] = {}
            for fsync in (True, False):
                for label, serve in list(servers.items()):
                    if not fsync:  # the same data and index, restarted with --no-fsync
                        serve.cleanup()
                        serve = Serve(label, serve.index_url, serve.data, fsync=False)
                        servers[label] = serve
                        serve.start()
                    for connections in (1, 4):
                        tag = f"{1 if fsync else 2}{connections}{1 + list(servers).index(label)}"
                        messages = [orm(n, tag) for n in range(args.hl7_count)]
                        wall, lat = hl7_run(serve.hl7_port, messages, connections)
                        rate = len(messages) / wall
                        case = f"{label}, {'fsync' if fsync else '--no-fsync'}, " \
                               f"{connections} connection{'s' if connections > 1 else ''}"
                        results["hl7"][case] = {"orders_per_s": rate,
                                                "ack_p50_ms": ms(lat, 50),
                                                "ack_p95_ms": ms(lat, 95)}
                        rows.append([case, rate, ms(lat, 50), ms(lat, 95)])
            table(["case", "orders/s", "ACK p50 ms", "ACK p95 ms"], rows)
            loads.append(load_line("at end"))
            for serve in servers.values():
                serve.cleanup()
    finally:
        for server in [*servers.values(), *others]:
            server.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    results["loadavg_1min"] = loads
    results["failures"] = failures
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_workflow.json").write_text(json.dumps({"machine": machine(), **results},
                                                        indent=1, default=str))
    for failure in failures:
        say(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
