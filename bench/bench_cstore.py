"""C-STORE throughput, dicomkit against DCMTK and pynetdicom, in the same run.

Receivers (SCP), each fed by DCMTK storescu:      dicomkit storescp, DCMTK storescp, pynetdicom
Senders (SCU), each into DCMTK storescp:           dicomkit store, DCMTK storescu, pynetdicom

  python bench/make_ct_series.py --out bench/data/ct --count 1000
  python bench/bench_cstore.py --series bench/data/ct --count 1000

Prints seconds, MB/s and instances/s per case and the ratios the targets name (>= 3x
pynetdicom in both roles, at least DCMTK's own throughput). The dicomkit receiver fsyncs every
file before answering (its durability contract); DCMTK's and pynetdicom's do not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DCMTK = "/usr/bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + e.get("PYTHONPATH", "")
    return e


def receiver(kind: str, port: int, out: str) -> subprocess.Popen[bytes]:
    if kind == "dicomkit":
        cmd = [sys.executable, "-m", "dicomkit.cli.main", "storescp", "--port", str(port),
               "--out", out, "--aet", "RX", "-q"]
    elif kind == "dcmtk":
        cmd = [f"{DCMTK}/storescp", "-od", out, "-aet", "RX", str(port)]
    else:
        cmd = [sys.executable, "-m", "pynetdicom", "storescp", str(port), "-od", out,
               "-aet", "RX"]
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def sender(kind: str, port: int, files: list[str]) -> list[str]:
    if kind == "dicomkit":
        return [sys.executable, "-m", "dicomkit.cli.main", "store", "127.0.0.1", str(port),
                "--aec", "RX", "-q", *files]
    if kind == "dcmtk":
        return [f"{DCMTK}/storescu", "-aec", "RX", "127.0.0.1", str(port), *files]
    return [sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1", str(port), "-aec", "RX",
            *files]


def run_case(send: str, receive: str, files: list[str]) -> float:
    out = tempfile.mkdtemp(prefix=f"bench-{receive}-")
    port = free_port()
    proc = receiver(receive, port, out)
    try:
        start = time.perf_counter()
        result = subprocess.run(sender(send, port, files), env=env(), capture_output=True)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            print(f"  ! {send} -> {receive} exited {result.returncode}: "
                  f"{result.stderr.decode(errors='replace')[-300:]}", file=sys.stderr)
        received = sum(len(f) for _, _, f in os.walk(out))
        if received < len(files):
            print(f"  ! {send} -> {receive}: {received}/{len(files)} received", file=sys.stderr)
        return elapsed
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", default=str(ROOT / "bench" / "data" / "ct"))
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    files = sorted(str(p) for p in Path(args.series).glob("*.dcm"))[: args.count]
    if not files:
        raise SystemExit(f"no files in {args.series}; run bench/make_ct_series.py first")
    megabytes = sum(os.path.getsize(f) for f in files) / 1e6
    print(f"{len(files)} files, {megabytes:.1f} MB")
    cases = [("dcmtk", "dicomkit"), ("dcmtk", "dcmtk"), ("dcmtk", "pynetdicom"),
             ("dicomkit", "dcmtk"), ("pynetdicom", "dcmtk")]
    times = {}
    for send, receive in cases:
        run_case(send, receive, files[:5])  # warm up: imports, page cache
        seconds = run_case(send, receive, files)
        times[(send, receive)] = seconds
        print(f"{send:>10} -> {receive:<10} {seconds:7.2f} s  {megabytes / seconds:7.1f} MB/s  "
              f"{len(files) / seconds:7.1f} inst/s")
    rx = times[("dcmtk", "dicomkit")]
    tx = times[("dicomkit", "dcmtk")]
    print(f"receive: dicomkit vs pynetdicom {times[('dcmtk', 'pynetdicom')] / rx:.2f}x, "
          f"vs DCMTK {times[('dcmtk', 'dcmtk')] / rx:.2f}x")
    print(f"send:    dicomkit vs pynetdicom {times[('pynetdicom', 'dcmtk')] / tx:.2f}x, "
          f"vs DCMTK {times[('dcmtk', 'dcmtk')] / tx:.2f}x")


if __name__ == "__main__":
    main()
