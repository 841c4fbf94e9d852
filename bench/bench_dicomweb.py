"""DICOMweb of ``dicomkit serve`` against Orthanc 1.10 with its DICOMweb plugin, in the same run.

  python bench/bench_dicomweb.py qido     [--sizes 10000,100000] [--reps 30] [--orthanc-limit 600]
  python bench/bench_dicomweb.py retrieve [--reps 7] [--meta-reps 15] [--curl]
  python bench/bench_dicomweb.py rendered [--reps 60] [--window]
  python bench/bench_dicomweb.py stow     [--count 1000] [--batch 50] [--repeat 2]
  python bench/bench_dicomweb.py all      (the four, with their defaults; retrieve and
                                           rendered share one pair of loaded servers)

qido      QIDO-RS ``GET /studies?...`` (default result attributes, application/dicom+json):
          the study-level queries of bench_archive.py's C-FIND (patient ID, name wildcard,
          7-day date range, modality + day, accession) and three paged ones as web viewers
          send them (``limit=100``: no filter, modality, a year's studies from offset 1000).
          The same synthetic population (bench_archive.py ``query``): loaded straight into
          dicomkit's index on SQLite and on PostgreSQL, and by C-STORE into Orthanc (100k only
          when the 10k rate says it loads in under --orthanc-limit seconds). p50/p95 ms per
          query, and for dicomkit the in-process search and JSON time (no HTTP) to show where
          time goes.
retrieve  The 1,000-file 512x512 CT series of bench/data/ct (528 MB; bench/make_ct_series.py
          makes it) stored by C-STORE into both; WADO-RS ``GET /studies/{uid}`` with
          ``Accept: multipart/related; type="application/dicom"; transfer-syntax=*``: MB/s to
          the last byte; and ``GET .../series/{uid}/metadata`` (application/dicom+json) ms.
rendered  ``GET .../instances/{uid}/rendered`` and ``.../frames/1/rendered`` (image/jpeg) of
          512x512 CT instances of that series, a different instance per request: p50/p95 ms.
stow      STOW-RS ``POST /studies`` (multipart/related; type="application/dicom"), --batch
          instances per request on one connection: --count 64x64 CT instances and the 528 MB
          series, into a fresh dicomkit serve (SQLite, fsync: the default) and a fresh Orthanc
          (SyncStorageArea true: the default, fsyncs too); instances/s and MB/s; the stored
          counts are checked.

One HTTP client for every server: httpx (HTTP/1.1, one kept-alive connection per server,
TCP_NODELAY, ``Accept-Encoding: identity``); a time is from sending the request to the last
byte of the response received (bodies are parsed for checks afterwards, untimed). Requests
to the compared servers are interleaved (round robin), so load from other work on the machine
falls on all of them alike. Each command also measures "dicomkit + TCP_NODELAY": the same
server with Nagle's algorithm turned off on its HTTP connections from outside
(_archive_support.NODELAY_PATCH), to show what that fix changes (--no-nodelay: without it).
Temporary data goes to BENCH_TMP (default: the system temp folder); raw figures to
bench/out/bench_dicomweb_<command>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import DATA, HERE, OUT, machine, print_machine, use_checkout  # noqa: E402

use_checkout()

import _archive_support as S  # noqa: E402
import bench_archive as A  # noqa: E402  (the population's files for Orthanc, its loader)

TARGET_QIDO_P95_MS = 50.0  # study-level QIDO-RS at 100k studies
TARGET_RATIO = 2.0  # retrieve and store, x Orthanc
DICOM_MULTIPART = 'multipart/related; type="application/dicom"; transfer-syntax=*'
DICOM_JSON = "application/dicom+json"
REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"


say, load_line, tmpdir = A.say, A.load_line, A.tmpdir


def save(name: str, payload: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine(), **payload}
    (OUT / f"bench_dicomweb_{name}.json").write_text(json.dumps(payload, indent=1))


def p50(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def p95(values: list[float]) -> float:
    return S.percentile(values, 95) * 1e3


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


# -- the HTTP client -----------------------------------------------------------------------------
def client() -> Any:
    import httpx

    transport = httpx.HTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(transport=transport, timeout=900.0,
                        headers={"Accept-Encoding": "identity"})


class HttpError(RuntimeError):
    pass


def query_string(params: dict[str, str]) -> str:
    """Percent-encoded as a browser's encodeURIComponent does: ``*`` stays as it is. (httpx
    would send ``%2A``, which Orthanc 1.10 does not decode: ``PatientName=SMITH%2A`` matches
    nothing there.)"""
    return urllib.parse.urlencode(params, safe="*", quote_via=urllib.parse.quote)


def get(http: Any, url: str, accept: str, params: dict[str, str] | None = None,
        ) -> tuple[float, Any]:
    """(seconds to the last byte, response with .content)."""
    if params:
        url += "?" + query_string(params)
    start = time.perf_counter()
    response = http.get(url, headers={"Accept": accept})
    _ = response.content
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise HttpError(f"GET {response.url}: {response.status_code} {response.text[:300]}")
    return elapsed, response


def boundary_of(content_type: str) -> bytes:
    for piece in content_type.split(";"):
        key, _, value = piece.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip('"').encode()
    raise HttpError(f"no boundary in {content_type!r}")


def get_multipart(http: Any, url: str, accept: str) -> tuple[float, int, int]:
    """Stream a multipart response to the end: (seconds, body bytes, parts)."""
    start = time.perf_counter()
    with http.stream("GET", url, headers={"Accept": accept}) as response:
        if response.status_code != 200:
            response.read()
            raise HttpError(f"GET {url}: {response.status_code} {response.text[:300]}")
        delimiter = b"--" + boundary_of(response.headers.get("content-type", ""))
        size = found = 0
        tail = b""
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
            window = tail + chunk
            found += window.count(delimiter)  # a match cannot lie wholly inside ``tail``
            tail = window[-(len(delimiter) - 1):]
    elapsed = time.perf_counter() - start
    return elapsed, size, found - 1  # the close delimiter is counted too


def curl_get(url: str, accept: str) -> tuple[float, int] | None:
    """The same GET with curl (a C client) to /dev/null: (seconds, bytes), None without curl."""
    if not shutil.which("curl"):
        return None
    result = subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", f"Accept: {accept}",
                             "-w", "%{http_code} %{time_total} %{size_download}", url],
                            capture_output=True, text=True, check=False)
    code, seconds, size = result.stdout.split()
    if code != "200":
        raise HttpError(f"curl {url}: {code}")
    return float(seconds), int(size)


# -- servers ---------------------------------------------------------------------------------------
DK = "dicomkit"
DKN = "dicomkit + TCP_NODELAY"  # the same server with NODELAY_PATCH (not the verdict)
OR = "Orthanc"


def stop_all(servers: list[Any]) -> None:
    for server in servers:  # every process first: a variant may share another's data folder
        server.stop()
    for server in servers:
        server.cleanup()


def rotated(names: list[str], rep: int) -> list[str]:
    return names[rep % len(names):] + names[:rep % len(names)]


def ct_series(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.dcm"))
    if not files and folder == DATA / "ct":
        say(f"   making {folder} with bench/make_ct_series.py")
        subprocess.run([sys.executable, str(HERE / "make_ct_series.py"), "--out", str(folder),
                        "--count", "1000"], check=True)
        files = sorted(folder.glob("*.dcm"))
    if not files:
        raise SystemExit(f"no files in {folder}; run bench/make_ct_series.py first")
    return files


class LoadedPair:
    """dicomkit serve (SQLite) and Orthanc + DICOMweb, both holding the CT series (stored by
    DCMTK storescu; neither fsyncs while loading: reading is measured here, not storing), and
    with ``nodelay`` a second dicomkit serve with NODELAY_PATCH on the same data."""

    def __init__(self, folder: Path, nodelay: bool = True) -> None:
        from dicomkit import read

        self.files = ct_series(folder)
        self.megabytes = sum(p.stat().st_size for p in self.files) / 1e6
        headers = [read(p, stop_before_pixels=True) for p in self.files]
        self.study = str(headers[0].StudyInstanceUID)
        self.series = str(headers[0].SeriesInstanceUID)
        self.instances = [str(h.SOPInstanceUID) for h in headers]
        self.servers: dict[str, Any] = {}
        self.load_s: dict[str, float] = {}
        self.folder = folder
        self.nodelay = nodelay

    def __enter__(self) -> LoadedPair:
        try:
            self.servers = {DK: S.DicomkitWeb(None, False).start(),
                            OR: S.OrthancWeb(False).start()}
            for name, server in list(self.servers.items()):
                seconds, error = S.storescu(server, str(self.folder))
                if error:
                    raise RuntimeError(f"{name}: storescu failed: {error}")
                if server.count() != len(self.files):
                    raise RuntimeError(f"{name} holds {server.count()} instances, "
                                       f"{len(self.files)} sent")
                self.load_s[name] = seconds
                say(f"   stored the series into {name} by storescu in {seconds:.1f} s")
            if self.nodelay:
                variant = S.DicomkitWebNodelay(None, False, data=self.servers[DK].data)
                self.servers = {DK: self.servers[DK], DKN: variant, OR: self.servers[OR]}
                variant.start()
                if variant.count() != len(self.files):
                    raise RuntimeError(f"{DKN} sees {variant.count()} instances")
        except BaseException:
            stop_all(list(self.servers.values()))
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        stop_all(list(self.servers.values()))

    def order(self, rep: int) -> list[str]:
        return rotated(list(self.servers), rep)


# -- retrieve --------------------------------------------------------------------------------------
def with_pair(args: argparse.Namespace, pair: LoadedPair | None, title: str,
              work: Any) -> dict[str, Any]:
    """Run ``work(args, pair)`` on the given loaded servers, or on new ones."""
    own = pair is None
    if pair is None:
        pair = LoadedPair(Path(args.series), not args.no_nodelay)
    say(title.format(files=len(pair.files), mb=pair.megabytes))
    load_line("before")
    if own:
        pair.__enter__()
    try:
        result: dict[str, Any] = work(args, pair)
        return result
    finally:
        if own:
            pair.__exit__(None, None, None)


def run_retrieve(args: argparse.Namespace, pair: LoadedPair | None = None) -> dict[str, Any]:
    return with_pair(args, pair, "== retrieve: WADO-RS study of {files} files, {mb:.1f} MB, "
                     f"{args.reps} runs per server; series metadata {args.meta_reps} runs; "
                     "servers interleaved", retrieve_with)


def retrieve_with(args: argparse.Namespace, pair: LoadedPair) -> dict[str, Any]:
    clients = {name: client() for name in pair.servers}
    study_path = f"/studies/{pair.study}"
    meta_path = f"/studies/{pair.study}/series/{pair.series}/metadata"
    result: dict[str, Any] = {"files": len(pair.files), "megabytes": pair.megabytes,
                              "load_s": pair.load_s, "servers": {}}
    rows: dict[str, dict[str, list[Any]]] = {
        name: {"seconds": [], "bytes": [], "curl_seconds": [], "meta_seconds": [],
               "meta_bytes": [], "server_cpu": [], "client_cpu": [], "curl_server_cpu": []}
        for name in pair.servers}
    try:
        # Warm-up: one retrieve and one metadata each (page cache, imports, caches).
        for name, server in pair.servers.items():
            _s, size, parts = get_multipart(clients[name], server.web_root + study_path,
                                            DICOM_MULTIPART)
            if parts != len(pair.files):
                raise RuntimeError(f"{name}: {parts} parts in the study, {len(pair.files)} "
                                   "stored")
            _s, response = get(clients[name], server.web_root + meta_path, DICOM_JSON)
            items = response.json()
            if len(items) != len(pair.files):
                raise RuntimeError(f"{name}: metadata of {len(items)} instances")
            say(f"   {name}: {parts} parts, {size / 1e6:.1f} MB; metadata "
                f"{len(response.content) / 1e6:.2f} MB, {len(items[0])} attributes in the "
                "first instance")
        sizes: dict[str, list[int]] = {name: [] for name in pair.servers}
        for rep in range(args.reps):
            for name in pair.order(rep):
                server = pair.servers[name]
                cpu, own = A.server_cpu(server), time.process_time()
                seconds, size, parts = get_multipart(clients[name], server.web_root + study_path,
                                                     DICOM_MULTIPART)
                own, cpu = time.process_time() - own, A.server_cpu(server) - cpu
                if parts != len(pair.files):
                    raise RuntimeError(f"{name}: {parts} parts")
                rows[name]["seconds"].append(seconds)
                rows[name]["bytes"].append(size)
                rows[name]["server_cpu"].append(cpu)
                rows[name]["client_cpu"].append(own)
                sizes[name].append(size)
                say(f"   {name:<24} study   {seconds:6.2f} s  {size / 1e6 / seconds:7.1f} MB/s"
                    f"  server CPU {cpu:5.2f} s, httpx CPU {own:5.2f} s")
                if args.curl:
                    cpu = A.server_cpu(server)
                    got = curl_get(server.web_root + study_path, DICOM_MULTIPART)
                    cpu = A.server_cpu(server) - cpu
                    if got is not None:
                        rows[name]["curl_seconds"].append(got[0])
                        rows[name]["curl_server_cpu"].append(cpu)
                        say(f"   {name:<24} (curl)  {got[0]:6.2f} s  "
                            f"{got[1] / 1e6 / got[0]:7.1f} MB/s  server CPU {cpu:5.2f} s")
        low, high = min(min(v) for v in sizes.values()), max(max(v) for v in sizes.values())
        if (high - low) / high > 0.01:
            raise RuntimeError(f"the servers' study bodies differ by more than 1%: {sizes}")
        for rep in range(args.meta_reps):
            for name in pair.order(rep):
                seconds, response = get(clients[name], pair.servers[name].web_root + meta_path,
                                        DICOM_JSON)
                rows[name]["meta_seconds"].append(seconds)
                rows[name]["meta_bytes"].append(len(response.content))
    finally:
        for http in clients.values():
            http.close()
    for name, row in rows.items():
        med = statistics.median(row["seconds"])
        result["servers"][name] = {
            **row, "median_mb_s": statistics.median(row["bytes"]) / 1e6 / med,
            "best_mb_s": max(b / s for b, s in zip(row["bytes"], row["seconds"],
                                                   strict=True)) / 1e6,
            "curl_median_mb_s": (statistics.median(row["bytes"]) / 1e6
                                 / statistics.median(row["curl_seconds"])
                                 if row["curl_seconds"] else None),
            "meta_p50_ms": p50(row["meta_seconds"]), "meta_p95_ms": p95(row["meta_seconds"]),
            "server_cpu_s": statistics.median(row["server_cpu"]),
            "client_cpu_s": statistics.median(row["client_cpu"]),
            "curl_server_cpu_s": (statistics.median(row["curl_server_cpu"])
                                  if row["curl_server_cpu"] else None)}
    print_retrieve(result)
    load_line("after")
    return result


def print_retrieve(result: dict[str, Any]) -> None:
    servers = result["servers"]
    base = servers[OR]
    say(f"\nWADO-RS retrieve of the study ({result['files']} instances, "
        f"{result['megabytes']:.0f} MB as stored), transfer-syntax=*")
    say("| server | median MB/s | best MB/s | median s | vs Orthanc | MB/s with curl | "
        "vs Orthanc (curl) | server CPU-s per study (httpx / curl) | httpx CPU-s | "
        "server CPU vs Orthanc (its / this) |")
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in servers.items():
        curl = f"{row['curl_median_mb_s']:.0f}" if row["curl_median_mb_s"] else "-"
        curl_ratio = (f"{row['curl_median_mb_s'] / base['curl_median_mb_s']:.2f}x"
                      if row["curl_median_mb_s"] and base["curl_median_mb_s"] else "-")
        curl_cpu = (f"{row['curl_server_cpu_s']:.2f}" if row["curl_server_cpu_s"] is not None
                    else "-")
        say(f"| {name} | {row['median_mb_s']:.1f} | {row['best_mb_s']:.1f} | "
            f"{statistics.median(row['seconds']):.2f} | "
            f"{row['median_mb_s'] / base['median_mb_s']:.2f}x | {curl} | {curl_ratio} | "
            f"{row['server_cpu_s']:.2f} / {curl_cpu} | {row['client_cpu_s']:.2f} | "
            f"{base['server_cpu_s'] / max(row['server_cpu_s'], 0.01):.2f}x |")
    say("\nWADO-RS series metadata (1,000 instances, application/dicom+json)")
    say("| server | p50 ms | p95 ms | MB | speed vs Orthanc (its p50 / this p50) |")
    say("|---|---:|---:|---:|---:|")
    for name, row in servers.items():
        say(f"| {name} | {row['meta_p50_ms']:.0f} | {row['meta_p95_ms']:.0f} | "
            f"{statistics.median(row['meta_bytes']) / 1e6:.2f} | "
            f"{base['meta_p50_ms'] / row['meta_p50_ms']:.2f}x |")
    ratio = servers[DK]["median_mb_s"] / base["median_mb_s"]
    say(f"\ntarget retrieve >= {TARGET_RATIO:.0f}x Orthanc: {ratio:.2f}x -> "
        f"{verdict(ratio >= TARGET_RATIO)}\n")


# -- rendered --------------------------------------------------------------------------------------
def run_rendered(args: argparse.Namespace, pair: LoadedPair | None = None) -> dict[str, Any]:
    return with_pair(args, pair, "== rendered: image/jpeg of 512x512 CT instances, "
                     f"{args.reps} requests per resource and server (a different instance "
                     "each time), servers interleaved", rendered_with)


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    try:
        import io

        from PIL import Image
    except ImportError:
        return None
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def rendered_with(args: argparse.Namespace, pair: LoadedPair) -> dict[str, Any]:
    clients = {name: client() for name in pair.servers}
    base = f"/studies/{pair.study}/series/{pair.series}/instances/"
    resources = {"instance rendered": "{uid}/rendered",
                 "frame 1 rendered": "{uid}/frames/1/rendered"}
    if args.window:
        resources["instance rendered, window=40,400"] = "{uid}/rendered?window=40,400,linear"
    step = max(1, len(pair.instances) // max(1, args.reps))
    times: dict[str, dict[str, list[float]]] = {
        name: {r: [] for r in resources} for name in pair.servers}
    sizes: dict[str, dict[str, list[int]]] = {
        name: {r: [] for r in resources} for name in pair.servers}
    try:
        for name, server in pair.servers.items():  # warm-up, and a look at what comes back
            for resource, pattern in resources.items():
                url = server.web_root + base + pattern.format(uid=pair.instances[0])
                _s, response = get(clients[name], url, "image/jpeg")
                if response.headers.get("content-type", "").split(";")[0] != "image/jpeg" \
                        or not response.content.startswith(b"\xff\xd8"):
                    raise RuntimeError(f"{name} {resource}: not a JPEG "
                                       f"({response.headers.get('content-type')})")
                say(f"   {name:<24} {resource:<32} {len(response.content):6d} bytes, "
                    f"{jpeg_size(response.content)}")
        for rep in range(args.reps):
            uid = pair.instances[(1 + rep * step) % len(pair.instances)]
            for resource, pattern in resources.items():
                for name in pair.order(rep):
                    url = pair.servers[name].web_root + base + pattern.format(uid=uid)
                    seconds, response = get(clients[name], url, "image/jpeg")
                    times[name][resource].append(seconds)
                    sizes[name][resource].append(len(response.content))
    finally:
        for http in clients.values():
            http.close()
    result: dict[str, Any] = {"reps": args.reps, "servers": {}}
    for name in pair.servers:
        result["servers"][name] = {r: {"p50_ms": p50(t), "p95_ms": p95(t), "seconds": t,
                                       "median_bytes": statistics.median(sizes[name][r])}
                                   for r, t in times[name].items()}
    names = list(pair.servers)
    ours = [n for n in names if n != OR]
    say("\nrendered image/jpeg, p50 / p95 ms to the last byte; JPEG bytes (median); speed vs "
        "Orthanc = Orthanc p50 / this p50")
    say("| resource | " + " | ".join(names) + " | JPEG bytes | "
        + " | ".join(f"{n} vs Orthanc" for n in ours) + " |")
    say("|---|" + "---:|" * (len(names) + 1 + len(ours)))
    for resource in resources:
        rows = {n: result["servers"][n][resource] for n in names}
        say(f"| {resource} | "
            + " | ".join(f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f}" for r in rows.values())
            + " | " + " / ".join(f"{r['median_bytes']:.0f}" for r in rows.values()) + " | "
            + " | ".join(f"{rows[OR]['p50_ms'] / rows[n]['p50_ms']:.2f}x" for n in ours)
            + " |")
    say("")
    load_line("after")
    return result


# -- stow -----------------------------------------------------------------------------------------
BOUNDARY = "dicomkit-bench-stow-boundary-0123456789"


def stow_bodies(files: list[Path], batch: int) -> list[tuple[int, bytes]]:
    """(instances, body) per request, made before timing."""
    bodies = []
    for start in range(0, len(files), batch):
        parts = []
        chunk = files[start:start + batch]
        for path in chunk:
            parts.append(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
                         + path.read_bytes() + b"\r\n")
        parts.append(f"--{BOUNDARY}--\r\n".encode())
        bodies.append((len(chunk), b"".join(parts)))
    return bodies


def stow_post(http: Any, root: str, body: bytes) -> tuple[int, int]:
    """POST one request; (stored, failed) from the response."""
    response = http.post(root + "/studies", content=body, headers={
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
        "Accept": DICOM_JSON})
    if response.status_code not in (200, 202, 409):
        raise HttpError(f"STOW: {response.status_code} {response.text[:300]}")
    answer = response.json()
    stored = len((answer.get(REFERENCED_SOP_SEQUENCE) or {}).get("Value") or [])
    failed = len((answer.get(FAILED_SOP_SEQUENCE) or {}).get("Value") or [])
    return stored, failed


def stow_once(name: str, bodies: list[tuple[int, bytes]], warm: list[tuple[int, bytes]],
              instances: int) -> tuple[float, float]:
    """(seconds, server CPU seconds) of the timed requests."""
    server = (S.OrthancWeb(True) if name == STOW_ORTHANC else
              S.DicomkitWebNodelay(None, True) if name == STOW_DKN else S.DicomkitWeb(None, True))
    with server:
        http = client()
        try:
            for count, body in warm:
                stored, failed = stow_post(http, server.web_root, body)
                if (stored, failed) != (count, 0):
                    raise RuntimeError(f"{name} warm-up: {stored} stored, {failed} failed")
            cpu = A.server_cpu(server)
            start = time.perf_counter()
            total = 0
            for count, body in bodies:
                stored, failed = stow_post(http, server.web_root, body)
                if (stored, failed) != (count, 0):
                    raise RuntimeError(f"{name}: {stored} stored, {failed} failed of {count}")
                total += stored
            seconds = time.perf_counter() - start
            cpu = A.server_cpu(server) - cpu
        finally:
            http.close()
        expected = instances + sum(c for c, _ in warm)
        if server.count() != expected or total != instances:
            raise RuntimeError(f"{name}: {server.count()} instances stored, {expected} sent")
    return seconds, cpu


STOW_DK = "dicomkit serve, SQLite, fsync (default)"
STOW_ORTHANC = "Orthanc 1.10 + DICOMweb 1.7, SyncStorageArea true (default)"
STOW_DKN = "dicomkit serve, SQLite, fsync, + TCP_NODELAY"


def run_stow(args: argparse.Namespace) -> dict[str, Any]:
    small = A.write_series(DATA / f"dicomweb-stow-{args.count}", args.count, tag="STOW")
    warm_folder = A.write_series(DATA / "archive-ingest-warmup", 10, tag="WARM")
    sets = [("small", sorted(small.glob("*.dcm")), args.repeat)]
    if not args.no_big:
        sets.append(("big", ct_series(Path(args.series)), args.big_repeat))
    say(f"== stow: STOW-RS, {args.batch} instances per request, one connection, fresh server "
        "per run, targets taken in turn")
    load_line("before")
    warm = stow_bodies(sorted(warm_folder.glob("*.dcm")), args.batch)
    results: dict[str, Any] = {"batch": args.batch}
    for label, files, repeat in sets:
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        bodies = stow_bodies(files, args.batch)
        say(f"-- {label}: {len(files)} files, {megabytes:.1f} MB, {len(bodies)} requests")
        targets = [STOW_DK, STOW_ORTHANC] + ([] if args.no_nodelay else [STOW_DKN])
        times: dict[str, list[float]] = {name: [] for name in targets}
        cpus: dict[str, list[float]] = {name: [] for name in targets}
        for rep in range(repeat):
            for name in rotated(targets, rep):
                seconds, cpu = stow_once(name, bodies, warm, len(files))
                times[name].append(seconds)
                cpus[name].append(cpu)
                say(f"   {name:<60} {seconds:7.2f} s  {len(files) / seconds:7.1f} inst/s  "
                    f"{megabytes / seconds:6.1f} MB/s  server CPU {cpu:6.2f} s")
        del bodies
        rows = {}
        for name, values in times.items():
            med = statistics.median(values)
            rows[name] = {"seconds": values, "median_rate": len(files) / med,
                          "best_rate": len(files) / min(values), "mb_per_s": megabytes / med,
                          "server_cpu": cpus[name],
                          "cpu_ms_per_instance": 1000 * statistics.median(cpus[name])
                          / len(files)}
        results[label] = {"count": len(files), "megabytes": megabytes, "rows": rows}
        print_stow(label, len(files), megabytes, rows)
    load_line("after")
    return results


def print_stow(label: str, count: int, megabytes: float, rows: dict[str, Any]) -> None:
    base = rows[STOW_ORTHANC]["median_rate"]
    say(f"\n| STOW-RS into ({label}: {count} instances, {megabytes:.0f} MB) | median inst/s | "
        "best inst/s | MB/s | vs Orthanc | server CPU ms per instance |")
    say("|---|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        say(f"| {name} | {row['median_rate']:.1f} | {row['best_rate']:.1f} | "
            f"{row['mb_per_s']:.1f} | {row['median_rate'] / base:.2f}x | "
            f"{row['cpu_ms_per_instance']:.2f} |")
    ratio = rows[STOW_DK]["median_rate"] / base
    say(f"\ntarget store >= {TARGET_RATIO:.0f}x Orthanc ({label}): {ratio:.2f}x -> "
        f"{verdict(ratio >= TARGET_RATIO)}\n")


# -- qido -----------------------------------------------------------------------------------------
UNPAGED = ["patient ID", "name wildcard SMITH*", "date range (7 days)", "modality + day (CT)",
           "accession"]


def qido_queries() -> dict[str, dict[str, str]]:
    """bench_archive.py's C-FIND queries, and paged ones as web viewers ask (limit=100)."""
    chosen = {s.index: s for s in S.Population().studies(10_000) if s.index in (5000, 7777)}
    return {
        "patient ID": {"PatientID": chosen[5000].patient_id},
        "name wildcard SMITH*": {"PatientName": "SMITH*"},
        "date range (7 days)": {"StudyDate": "20240301-20240307"},
        "modality + day (CT)": {"ModalitiesInStudy": "CT", "StudyDate": "20240305"},
        "accession": {"AccessionNumber": chosen[7777].accession},
        "all studies, limit=100": {"limit": "100"},
        "modality MR, limit=100": {"ModalitiesInStudy": "MR", "limit": "100"},
        # Orthanc 1.10 answers nothing past offset 0 when ModalitiesInStudy is a key, so the
        # deep page is taken from a year of studies instead.
        "year 2024, limit=100, offset=1000": {"StudyDate": "20240101-20241231", "limit": "100",
                                              "offset": "1000"},
        # issue 18's deep page: p95 < 25 ms
        "year 2024, limit=100, offset=5000": {"StudyDate": "20240101-20241231", "limit": "100",
                                              "offset": "5000"},
    }


def study_uids(response: Any) -> list[str]:
    return [item["0020000D"]["Value"][0] for item in response.json()]


def time_qido(servers: dict[str, Any], queries: dict[str, dict[str, str]],
              args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Warm-up (and the match check), then round robin over runs, queries and servers."""
    clients = {name: client() for name in servers}
    out: dict[str, dict[str, Any]] = {name: {q: {"seconds": [], "matches": -1, "bytes": 0}
                                             for q in queries} for name in servers}
    spent = {(name, q): 0.0 for name in servers for q in queries}
    names = list(servers)
    try:
        for query, params in queries.items():
            found = {}
            for name, server in servers.items():
                for _ in range(args.warmup):
                    _s, response = get(clients[name], server.web_root + "/studies",
                                       DICOM_JSON, params)
                uids = study_uids(response)
                found[name] = uids
                out[name][query]["matches"] = len(uids)
                out[name][query]["bytes"] = len(response.content)
            counts = {name: len(uids) for name, uids in found.items()}
            if len(set(counts.values())) != 1:
                raise RuntimeError(f"{query}: the servers disagree on the matches: {counts}")
            if query in UNPAGED and len({frozenset(u) for u in found.values()}) != 1:
                raise RuntimeError(f"{query}: same count, different studies")
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for query, params in queries.items():
                for name in order:
                    if spent[(name, query)] > args.budget and rep >= args.min_reps:
                        continue
                    seconds, response = get(clients[name], servers[name].web_root + "/studies",
                                            DICOM_JSON, params)
                    if len(response.content) == 0 or response.content[:1] != b"[":
                        raise RuntimeError(f"{name} {query}: not a JSON array")
                    out[name][query]["seconds"].append(seconds)
                    spent[(name, query)] += seconds
    finally:
        for http in clients.values():
            http.close()
    for rows in out.values():
        for row in rows.values():
            row["p50_ms"] = p50(row["seconds"])
            row["p95_ms"] = p95(row["seconds"])
            row["reps"] = len(row["seconds"])
    return out


def qido_inprocess(index: Any, queries: dict[str, dict[str, str]],
                   reps: int = 5) -> dict[str, dict[str, float]]:
    """dicomkit's QIDO-RS work without HTTP, as the endpoint does it: the matches
    (``ArchiveIndex.study_texts``, the stored texts) and the response body (each result
    spliced by ``qido.study_result``, ``result_text`` where it declines); median ms of CPU
    time (process time: the machine is shared), the SQL and the body apart."""
    from dicomkit.web import qido

    base = "http://h:1/dicom-web"
    out = {}
    for name, params in queries.items():
        search_t, json_t = [], []
        for _ in range(reps):
            search = qido.build_search("studies", {}, list(params.items()), 10_000)
            plan = qido.text_plan(search, base)
            assert plan is not None and qido.SPLICES
            start = time.process_time()
            found = list(index.study_texts(search.query, limit=(search.limit or 10_000) + 1,
                                           offset=search.offset))
            middle = time.process_time()
            body = b"[" + b",".join(qido.study_result(plan, stored) or qido.result_text(
                search, index.merged(stored), base).encode() for stored in
                found[:search.limit]) + b"]"
            end = time.process_time()
            _ = body
            search_t.append(middle - start)
            json_t.append(end - middle)
            if sum(search_t) + sum(json_t) > 5 and len(search_t) >= 3:
                break
        out[name] = {"search_ms": p50(search_t), "json_ms": p50(json_t)}
    return out


def run_qido(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(x) for x in args.sizes.split(",")]
    queries = qido_queries()
    say(f"== qido: QIDO-RS GET /studies at {', '.join(f'{n:,}' for n in sizes)} studies "
        f"(1 series, 1 instance each), {args.reps} runs per query and server after "
        f"{args.warmup} warm-up, round robin over queries and servers; a query stops after "
        f"{args.budget:.0f} s (min {args.min_reps} runs)")
    load_line("before")
    work = tmpdir("bench-dicomweb-qido-")
    results: dict[str, Any] = {"sizes": sizes, "queries": queries, "by_size": {},
                               "inprocess": {}, "orthanc": {}, "load_s": {}}
    backends, pg = A.open_backends(work, not args.no_postgres)
    orthanc = None
    try:
        loader = S.BulkLoader([b["index"] for b in backends.values()], S.Population(), 1)
        loaded = orthanc_loaded = 0
        orthanc_rate = None
        for size in sizes:
            say(f"-- {size:,} studies")
            before = list(loader.insert_seconds)
            loader.load(size - loaded)
            loaded = size
            for n, name in enumerate(backends):
                seconds = loader.insert_seconds[n] - before[n]
                results["load_s"][f"{name} {size}"] = seconds
                say(f"   loaded dicomkit's {name} index synthetically: {seconds:.1f} s")
            servers: dict[str, Any] = {}
            if not args.no_orthanc:
                todo = size - orthanc_loaded
                estimate = todo / orthanc_rate if orthanc_rate else 0.0
                if orthanc_rate and estimate > args.orthanc_limit:
                    say(f"   Orthanc skipped at {size:,}: loading {todo:,} more studies would "
                        f"take ~{estimate / 60:.0f} min at {orthanc_rate:.0f} inst/s "
                        f"(--orthanc-limit {args.orthanc_limit:.0f} s)")
                else:
                    if orthanc is None:
                        orthanc = S.OrthancWeb(False).start()  # loading speed: not measured
                        say(f"   Orthanc {orthanc.rest('/system')['Version']}, DICOMweb "
                            f"plugin {orthanc.plugin_version()}")
                    seconds = A.load_orthanc(orthanc, orthanc_loaded, size)
                    orthanc_rate = todo / seconds
                    orthanc_loaded = size
                    say(f"   loaded Orthanc by C-STORE (2 storescu at once) in {seconds:.1f} s "
                        f"({orthanc_rate:.0f} inst/s)")
                    results["orthanc"][str(size)] = {"load_s": seconds}
                    servers["Orthanc"] = orthanc
            started = []
            try:
                for name, backend in backends.items():
                    server = S.DicomkitWeb(backend["url"], False, data=backend["data"])
                    started.append(server)
                    servers[f"dicomkit {name}"] = server.start()
                    if name == "SQLite" and not args.no_nodelay:
                        variant = S.DicomkitWebNodelay(None, False, data=backend["data"])
                        started.append(variant)
                        servers["dicomkit SQLite + TCP_NODELAY"] = variant.start()
                ordered = {k: servers[k] for k in sorted(servers, key=lambda k: k == "Orthanc")}
                here = time_qido(ordered, queries, args)
            finally:
                stop_all(started)
            inproc = {name: qido_inprocess(backend["index"], queries)
                      for name, backend in backends.items()}
            results["by_size"][str(size)] = here
            results["inprocess"][str(size)] = inproc
            print_qido(size, here, inproc, list(queries))
            load_line(f"after {size:,}")
    finally:
        if orthanc is not None:
            orthanc.cleanup()
        A.close_backends(backends, pg)
        shutil.rmtree(work, ignore_errors=True)
    print_qido_verdict(results)
    return results


def print_qido(size: int, here: dict[str, Any], inproc: dict[str, Any],
               names: list[str]) -> None:
    servers = list(here)
    say(f"\n{size:,} studies: QIDO-RS GET /studies, p50 / p95 ms to the last byte "
        "(dicomkit in-process: search + JSON median ms)")
    say("| query | matches | " + " | ".join(servers) + " |")
    say("|---|---:|" + "---:|" * len(servers))
    for name in names:
        cells = []
        for server in servers:
            row = here[server][name]
            cell = f"{row['p50_ms']:.1f} / {row['p95_ms']:.1f}"
            backend = server.removeprefix("dicomkit ")
            if backend in inproc:
                ip = inproc[backend][name]
                cell += f" ({ip['search_ms']:.1f} + {ip['json_ms']:.1f})"
            cells.append(cell)
        matches = {here[s][name]["matches"] for s in servers}
        say(f"| {name} | {'/'.join(str(m) for m in sorted(matches))} | "
            + " | ".join(cells) + " |")
    if "Orthanc" in here:
        say("\nratio Orthanc p95 / dicomkit p95 (> 1: dicomkit faster)")
        say("| query | " + " | ".join(s for s in servers if s != "Orthanc") + " |")
        say("|---|" + "---:|" * (len(servers) - 1))
        for name in names:
            o = here["Orthanc"][name]["p95_ms"]
            say(f"| {name} | " + " | ".join(f"{o / here[s][name]['p95_ms']:.1f}x"
                                            for s in servers if s != "Orthanc") + " |")
    say("")


def print_qido_verdict(results: dict[str, Any]) -> None:
    size = str(max(results["sizes"]))
    if size not in results["by_size"]:
        return
    here = results["by_size"][size]
    say(f"target QIDO-RS p95 < {TARGET_QIDO_P95_MS:.0f} ms at {int(size):,} studies:")
    for server in here:
        if server == "Orthanc":
            continue
        if "TCP_NODELAY" in server:
            say(f"   ({server}, not the verdict:)")
        missed = [f"{q} ({row['p95_ms']:.0f} ms)" for q, row in here[server].items()
                  if row["p95_ms"] >= TARGET_QIDO_P95_MS]
        say(f"   {server}: " + (f"met for {len(here[server]) - len(missed)} of "
                                f"{len(here[server])} queries; missed: {', '.join(missed)}"
                                if missed else "met for every query"))
    say("")


# -- main ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def series_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--series", default=str(DATA / "ct"),
                       help="the big series (bench/data/ct)")

    nodelay = argparse.ArgumentParser(add_help=False)
    nodelay.add_argument("--no-nodelay", action="store_true",
                         help="leave out the dicomkit variant with TCP_NODELAY on (see "
                              "_archive_support.NODELAY_PATCH)")

    p = sub.add_parser("qido", parents=[nodelay])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--reps", type=int, default=30, help="runs per query and server (30)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--budget", type=float, default=8.0,
                   help="seconds per query and server after which it stops (8)")
    p.add_argument("--min-reps", type=int, default=5)
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--no-orthanc", action="store_true")
    p.add_argument("--orthanc-limit", type=float, default=600.0,
                   help="skip an Orthanc size whose estimated load time is longer (s)")

    p = sub.add_parser("retrieve", parents=[nodelay])
    series_option(p)
    p.add_argument("--reps", type=int, default=7, help="study retrieves per server (7)")
    p.add_argument("--meta-reps", type=int, default=15, help="series metadata per server (15)")
    p.add_argument("--curl", action="store_true",
                   help="also time each study retrieve with curl (client cross-check)")

    p = sub.add_parser("rendered", parents=[nodelay])
    series_option(p)
    p.add_argument("--reps", type=int, default=60, help="requests per resource and server (60)")
    p.add_argument("--window", action="store_true",
                   help="also rendered with an explicit window=40,400")

    p = sub.add_parser("stow", parents=[nodelay])
    series_option(p)
    p.add_argument("--count", type=int, default=1000, help="small (64x64) instances (1000)")
    p.add_argument("--batch", type=int, default=50, help="instances per request (50)")
    p.add_argument("--repeat", type=int, default=2, help="runs per server, small set (2)")
    p.add_argument("--big-repeat", type=int, default=1, help="runs per server, the series (1)")
    p.add_argument("--no-big", action="store_true", help="skip the 528 MB series")

    p = sub.add_parser("all", parents=[nodelay])
    p.add_argument("--orthanc-limit", type=float, default=600.0)
    p.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    print_machine()
    start = time.perf_counter()
    if args.command != "all":
        commands = [(args.command, args)]
    else:
        extra = ["--no-nodelay"] if args.no_nodelay else []
        pg = ["--no-postgres"] if args.no_postgres else []
        commands = [
            ("retrieve", parser.parse_args(["retrieve", "--curl", *extra])),
            ("rendered", parser.parse_args(["rendered", "--window", *extra])),
            ("stow", parser.parse_args(["stow", *extra])),
            ("qido", parser.parse_args(["qido", "--orthanc-limit", str(args.orthanc_limit),
                                        *extra, *pg])),
        ]
    pair: LoadedPair | None = None
    try:
        for command, sub_args in commands:
            began = time.perf_counter()
            if command in ("retrieve", "rendered") and args.command == "all":
                if pair is None:
                    pair = LoadedPair(Path(sub_args.series), not sub_args.no_nodelay)
                    say(f"== loading the CT series ({len(pair.files)} files, "
                        f"{pair.megabytes:.1f} MB) into dicomkit serve and Orthanc")
                    pair.__enter__()
                result = (run_retrieve if command == "retrieve" else run_rendered)(sub_args,
                                                                                    pair)
            else:
                if pair is not None:
                    pair.__exit__(None, None, None)
                    pair = None
                result = {"retrieve": run_retrieve, "rendered": run_rendered,
                          "stow": run_stow, "qido": run_qido}[command](sub_args)
            result["wall_s"] = time.perf_counter() - began
            result["args"] = vars(sub_args)
            save(command, result)
            say(f"# {command} took {result['wall_s'] / 60:.1f} min")
    finally:
        if pair is not None:
            pair.__exit__(None, None, None)
    say(f"# total {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
