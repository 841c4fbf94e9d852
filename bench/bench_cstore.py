"""C-STORE throughput: every sender into every receiver, in the same run (issue 18 item 6).

Senders (SCU): dicomkit ``store``, DCMTK ``storescu`` (with ``TCP_NODELAY=1`` in its
environment: Debian's DCMTK 3.6.7 leaves Nagle's algorithm on otherwise), pynetdicom
``storescu`` (as shipped: pynetdicom 3.0.4 never sets TCP_NODELAY).

Receivers (SCP), all with TCP_NODELAY on their sockets, so that no receiver's Nagle stall
(each small PDU waiting ~40 ms for a delayed ACK) hides the sender's speed:

- dicomkit ``storescp`` (sets TCP_NODELAY itself; fsyncs every file and its folder before
  it answers: its durability contract);
- DCMTK ``storescp`` with ``TCP_NODELAY=1`` (no fsync);
- pynetdicom ``storescp``: pynetdicom sets no TCP_NODELAY, so the bench's receiver is its
  ``storescp`` app with the accepted socket given TCP_NODELAY (``AssociationServer.
  get_request`` wrapped; nothing else changed; no fsync);
- Orthanc 1.10 (Debian's, linked to DCMTK: ``TCP_NODELAY=1``; ``SyncStorageArea`` true, its
  default: it fsyncs too; SQLite index).

  python bench/make_ct_series.py --out bench/data/ct --count 1000
  python bench/bench_cstore.py --count 1000 --repeat 3

Each case is run ``--repeat`` times after a 5-file warm-up; the best wall time of the runs
that delivered every file is kept with the sender's CPU time (user + system, from the
kernel's child accounting) of that run. pynetdicom's storescu sometimes stops part way under
load (exit status 0; its "E:" lines are printed); a run that lost files is listed with the
count received, and when no run delivered everything the time is scaled to all files. Prints
seconds, MB/s, instances/s and the send ratios the target names (dicomkit ≥ 3× pynetdicom,
≥ DCMTK storescu, into each receiver) and the receive ratios (DCMTK storescu into dicomkit vs
into pynetdicom and DCMTK). ``--only`` picks receivers (comma separated).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _archive_support import ORTHANC, free_port, wait_port  # noqa: E402
from _util import DATA, child_env, print_machine  # noqa: E402

DCMTK = "/usr/bin"
SENDERS = ("dicomkit", "dcmtk", "pynetdicom")
RECEIVERS = ("dicomkit", "dcmtk", "pynetdicom", "orthanc")

# pynetdicom's storescp app, its accepted sockets given TCP_NODELAY (pynetdicom sets none).
PYNETDICOM_NODELAY_SCP = """\
import socket, sys
from pynetdicom.transport import AssociationServer
from pynetdicom.apps.storescp import storescp
_get_request = AssociationServer.get_request
def get_request(self):
    sock, address = _get_request(self)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock, address
AssociationServer.get_request = get_request
storescp.main(sys.argv[1:])
"""


def env() -> dict[str, str]:
    e = child_env()
    e["TCP_NODELAY"] = "1"  # DCMTK (and Orthanc, which links it) turn Nagle off with this
    return e


class Receiver:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.folder = tempfile.mkdtemp(prefix=f"bench-cstore-{kind}-",
                                       dir=os.environ.get("BENCH_TMP"))
        self.out = os.path.join(self.folder, "out")
        os.makedirs(self.out)
        self.port = free_port()
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        port = str(self.port)
        if self.kind == "dicomkit":
            return [sys.executable, "-m", "dicomkit.cli.main", "storescp", "--port", port,
                    "--out", self.out, "--aet", "RX", "-q"]
        if self.kind == "dcmtk":
            return [f"{DCMTK}/storescp", "-od", self.out, "-aet", "RX", port]
        if self.kind == "pynetdicom":
            return [sys.executable, "-c", PYNETDICOM_NODELAY_SCP, port, "-od", self.out,
                    "-aet", "RX"]
        config = {
            "Name": "bench", "StorageDirectory": os.path.join(self.out, "storage"),
            "IndexDirectory": os.path.join(self.folder, "index"), "DicomAet": "RX",
            "DicomPort": self.port, "HttpPort": self.http_port, "DicomCheckCalledAet": False,
            "StorageCompression": False, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "Plugins": [], "DicomAlwaysAllowStore": True,
            "SyncStorageArea": True, "SaveJobs": False,
        }
        path = os.path.join(self.folder, "orthanc.json")
        Path(path).write_text(json.dumps(config))
        return [ORTHANC, path]

    def start(self) -> Receiver:
        log = open(os.path.join(self.folder, "log"), "wb")  # noqa: SIM115 - closed by stop
        self.proc = subprocess.Popen(self.command(), env=env(), stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.folder)
        log.close()
        wait_port(self.port, self.proc)
        if self.kind == "orthanc":
            wait_port(self.http_port, self.proc)
        return self

    def count(self) -> int:
        if self.kind == "orthanc":
            url = f"http://127.0.0.1:{self.http_port}/statistics"
            with urllib.request.urlopen(url, timeout=30) as r:
                return int(json.loads(r.read())["CountInstances"])
        return sum(len(f) for _, _, f in os.walk(self.out))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def sender(kind: str, port: int, files: list[str]) -> list[str]:
    if kind == "dicomkit":
        return [sys.executable, "-m", "dicomkit.cli.main", "store", "127.0.0.1", str(port),
                "--aec", "RX", "-q", *files]
    if kind == "dcmtk":
        return [f"{DCMTK}/storescu", "-aec", "RX", "127.0.0.1", str(port), *files]
    return [sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1", str(port), "-aec", "RX",
            *files]


def run_case(send: str, receive: str, files: list[str]) -> tuple[float, float, int]:
    """(wall seconds, sender CPU seconds, instances received) of sending ``files`` on one
    association into a fresh receiver."""
    rx = Receiver(receive).start()
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(sender(send, rx.port, files), env=env(), capture_output=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            print(f"  ! {send} -> {receive} exited {result.returncode}: "
                  f"{result.stderr.decode(errors='replace')[-300:]}", file=sys.stderr)
        received = rx.count()
        if received < len(files):
            errors = [line for line in result.stderr.decode(errors="replace").splitlines()
                      if line.startswith("E:")]
            print(f"  ! {send} -> {receive}: {received}/{len(files)} received; "
                  f"{len(errors)} error lines, last: {errors[-1:]}", file=sys.stderr)
        return elapsed, cpu, received
    finally:
        rx.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", default=str(DATA / "ct"))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; best is kept")
    parser.add_argument("--only", default=",".join(RECEIVERS), help="receivers to run")
    parser.add_argument("--senders", default=",".join(SENDERS), help="senders to run")
    args = parser.parse_args()
    files = sorted(str(p) for p in Path(args.series).glob("*.dcm"))[: args.count]
    if not files:
        raise SystemExit(f"no files in {args.series}; run bench/make_ct_series.py first")
    megabytes = sum(os.path.getsize(f) for f in files) / 1e6
    print_machine()
    print(f"# {len(files)} files, {megabytes:.1f} MB, best of {args.repeat}; "
          "CPU = the sender's user+system seconds")
    receivers = [r for r in args.only.split(",") if r]
    senders = [s for s in args.senders.split(",") if s]
    best: dict[tuple[str, str], float] = {}
    print(f"| {'sender':<10} | {'receiver':<10} | seconds | MB/s | inst/s | sender CPU s | "
          "runs (s) | load |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    for receive in receivers:
        for send in senders:
            run_case(send, receive, files[:5])  # warm up: imports, page cache
            runs = [run_case(send, receive, files) for _ in range(args.repeat)]
            whole = [run for run in runs if run[2] >= len(files)]
            note = ""
            if whole:
                seconds, cpu, _ = min(whole)
            else:  # every run lost instances: time per instance received, scaled to all
                seconds, cpu, got = max(runs, key=lambda run: (run[2], -run[0]))
                seconds, cpu = seconds * len(files) / max(got, 1), cpu * len(files) / max(got, 1)
                note = f" (scaled: {got} received)"
            best[(send, receive)] = seconds
            load = "/".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"| {send:<10} | {receive:<10} | {seconds:.2f} | {megabytes / seconds:.1f} | "
                  f"{len(files) / seconds:.1f} | {cpu:.2f} | "
                  f"{', '.join(f'{s:.2f}' + ('' if n >= len(files) else f' ({n} rx)') for s, _, n in runs)}"
                  f"{note} | {load} |", flush=True)
    print()
    for receive in receivers:
        mine = best.get(("dicomkit", receive))
        if mine is None:
            continue
        ratios = [f"{other} {best[(other, receive)] / mine:.2f}x" for other in ("pynetdicom",
                  "dcmtk") if (other, receive) in best]
        print(f"send into {receive:<10}: dicomkit vs " + ", ".join(ratios)
              + "  (targets: >= 3x pynetdicom, >= 1x DCMTK)")
    rx = best.get(("dcmtk", "dicomkit"))
    if rx:
        ratios = [f"{other} {best[('dcmtk', other)] / rx:.2f}x" for other in ("pynetdicom",
                  "dcmtk", "orthanc") if ("dcmtk", other) in best]
        print("receive from DCMTK storescu: dicomkit storescp vs " + ", ".join(ratios))


if __name__ == "__main__":
    main()
