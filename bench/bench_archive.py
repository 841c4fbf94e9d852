"""The archive (``dicomkit serve``) against Orthanc and DCMTK, in the same run.

  python bench/bench_archive.py ingest [--count 2000] [--repeat 3] [--big] [--concurrent 4]
  python bench/bench_archive.py query  [--sizes 10000,100000] [--reps 40]
  python bench/bench_archive.py growth [--sizes 10000,100000,1000000] [--per-study 10]
  python bench/bench_archive.py all    (the three, with their defaults)

ingest  DCMTK storescu (one association, ``+sd`` folder) into dicomkit serve (SQLite and
        PostgreSQL index, with fsync, the default, and with ``--no-fsync``), Orthanc (with its
        default ``SyncStorageArea: true``, which fsyncs each file too, and with it false) and
        DCMTK storescp (no fsync, no index: the floor). Instances/s, ratios to Orthanc.
query   10k and 100k studies (1 series, 1 instance each; realistic names, IDs, dates,
        modalities, accessions) loaded synthetically into dicomkit's index on SQLite and on
        PostgreSQL, and by C-STORE into Orthanc at 10k (100k only when the 10k rate says it
        loads in under --orthanc-limit seconds). Study-level C-FIND through the network with
        one dicomkit client for every server: p50/p95 ms per query, and for dicomkit the
        in-process ``ArchiveIndex.answers`` CPU time (no network) to show where time goes.
growth  10k, 100k, 1M instances (``--per-study`` instances per study) loaded synthetically into
        SQLite and PostgreSQL; at each size: the synthetic bulk load's seconds per 10k rows,
        the real ``ArchiveIndex.add_instance`` path's seconds per 10k instances, end-to-end
        storescu -> dicomkit serve instances/s, and the C-FIND p50/p95.

The synthetic load writes exactly the rows ``add_instance`` writes (``record_for`` per study
on a ``make_ct`` template); each run first checks that row for row. PostgreSQL databases are
created fresh on 127.0.0.1:5432 (``DICOMKIT_BENCH_POSTGRES`` to change) and dropped at the end.
Temporary data goes to ``BENCH_TMP`` (default: the system temp folder). Raw figures go to
``bench/out/bench_archive_<command>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import DATA, OUT, machine, print_machine, use_checkout  # noqa: E402

use_checkout()

import _archive_support as S  # noqa: E402

TARGET_INGEST = 2.0  # x Orthanc
TARGET_P95_MS = 50.0  # study-level C-FIND at 100k studies


def say(text: str = "") -> None:
    print(text, flush=True)


def load_line(label: str) -> None:
    one, five, fifteen = os.getloadavg()
    say(f"# load average {label}: {one:.2f} {five:.2f} {fifteen:.2f}")


def save(name: str, payload: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine(), **payload}
    (OUT / f"bench_archive_{name}.json").write_text(json.dumps(payload, indent=1))


def tmpdir(prefix: str) -> str:
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("BENCH_TMP"))


# -- data sets for C-STORE ------------------------------------------------------------------
def write_series(folder: Path, count: int, per_series: int = 100, size: int = 64,
                 tag: str = "ING") -> Path:
    """``count`` make_ct instances, ``per_series`` per study (one series each), fresh UIDs."""
    from dicomkit import write
    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid

    if folder.is_dir() and len(list(folder.glob("*.dcm"))) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    study = series = ""
    for n in range(count):
        if n % per_series == 0:
            study, series = generate_uid(), generate_uid()
        ds = make_ct(size, n % per_series + 1, study, series)
        ds.PatientID = f"{tag}-{n // per_series:04d}"
        ds.PatientName = f"INGEST^PATIENT{n // per_series:04d}"
        write(ds, folder / f"IM{n:06d}.dcm")
    return folder


def write_population(folder: Path, studies: int, start: int = 0, parts: int = 2) -> list[str]:
    """Tiny files (8x8) for the population's studies [start, start+studies), for Orthanc,
    split over ``parts`` subfolders (one storescu each); reused when complete."""
    from dicomkit import write
    from dicomkit.cli.sample import make_ct

    subfolders = [folder / f"part{k}" for k in range(parts)]
    marker = folder.with_name(folder.name + ".complete")
    if not marker.exists():
        shutil.rmtree(folder, ignore_errors=True)
        for sub in subfolders:
            sub.mkdir(parents=True)
        population = S.Population()
        for _ in population.studies(start):
            pass
        ds = make_ct(8)
        for s in population.studies(studies):
            S.apply_study(ds, s)
            ds.SOPInstanceUID = S.sop_uid(s, 0)
            ds.InstanceNumber = 1
            write(ds, subfolders[s.index % parts] / f"S{s.index:07d}.dcm")
        marker.touch()
    return [str(sub) for sub in subfolders]


# -- ingest ------------------------------------------------------------------------------------
def ingest_targets(with_pg: bool) -> list[tuple[str, Any]]:
    targets: list[tuple[str, Any]] = [
        ("dicomkit serve, SQLite, fsync (default)", lambda: S.DicomkitServe(None, True)),
        ("dicomkit serve, SQLite, --no-fsync", lambda: S.DicomkitServe(None, False)),
    ]
    if with_pg:
        targets += [
            ("dicomkit serve, PostgreSQL, fsync (default)", "pg-fsync"),
            ("dicomkit serve, PostgreSQL, --no-fsync", "pg-nofsync"),
        ]
    targets += [
        ("Orthanc 1.10, SyncStorageArea true (default)", lambda: S.Orthanc(True)),
        ("Orthanc 1.10, SyncStorageArea false", lambda: S.Orthanc(False)),
        ("DCMTK storescp (no index, no fsync)", S.Storescp),
    ]
    return targets


def ingest_once(factory: Any, folder: Path, warm: Path, expected: int) -> float:
    pg = None
    if isinstance(factory, str):
        pg = S.PgDatabase()
        url = pg.__enter__()
        fsync = factory == "pg-fsync"

        def factory() -> Any:
            return S.DicomkitServe(url, fsync)
    try:
        server = factory()
        with server:
            _t, error = S.storescu(server, str(warm))  # imports, caches, the first association
            if error:
                raise RuntimeError(f"{server.name} warm-up: {error}")
            seconds, error = S.storescu(server, str(folder))
            if error:
                raise RuntimeError(f"{server.name}: storescu failed: {error}")
            got = server.count()
            if got != expected:
                raise RuntimeError(f"{server.name}: {got} instances stored, {expected} sent")
        return seconds
    finally:
        if pg is not None:
            pg.__exit__(None, None, None)


def split_by_study(folder: Path, parts: int, per_series: int = 100) -> list[str]:
    """The files of ``folder`` (write_series: ``per_series`` per study, in order) hard-linked
    into ``parts`` subfolders, whole studies each, round robin: what N modalities send."""
    files = sorted(folder.glob("*.dcm"))
    out = folder.with_name(f"{folder.name}-split{parts}")
    subfolders = [out / f"part{k}" for k in range(parts)]
    if sum(len(list(sub.glob("*.dcm"))) for sub in subfolders if sub.is_dir()) != len(files):
        shutil.rmtree(out, ignore_errors=True)
        for sub in subfolders:
            sub.mkdir(parents=True)
        for n, path in enumerate(files):
            os.link(path, subfolders[(n // per_series) % parts] / path.name)
    return [str(sub) for sub in subfolders]


def server_cpu(server: Any) -> float:
    """CPU seconds (user + system) so far of a running server process and of every process
    under it (worker processes), from /proc."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    tree, ticks = {server.proc.pid}, 0
    for _ in range(4):  # server > forkserver > workers
        tree |= {pid for pid, (parent, _t) in stats.items() if parent in tree}
    ticks = sum(stats[pid][1] for pid in tree if pid in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


def concurrent_targets(with_pg: bool) -> list[tuple[str, Any]]:
    targets: list[tuple[str, Any]] = [
        ("dicomkit serve, SQLite, fsync", lambda: S.DicomkitServe(None, True)),
        ("dicomkit serve, SQLite, fsync, 2 worker processes", "sqlite-workers")]
    if with_pg:
        targets.append(("dicomkit serve, PostgreSQL, fsync", "pg-fsync"))
    targets.append(("Orthanc 1.10, SyncStorageArea true", lambda: S.Orthanc(True)))
    return targets


def concurrent_once(factory: Any, folder: Path, parts: list[str], warm: Path,
                    expected: int) -> dict[str, float]:
    """One fresh server: the whole folder on one association, then (a second fresh server)
    the same files on len(parts) associations at once; wall and server CPU seconds."""
    out: dict[str, float] = {}
    for mode in ("one", "many"):
        pg = None
        make = factory
        # the CPU work of concurrent stores in worker processes (A/B of the workers, off by
        # default)
        os.environ["DICOMKIT_INGEST_WORKERS"] = "2" if factory == "sqlite-workers" else ""
        if factory == "sqlite-workers":
            def make() -> Any:
                return S.DicomkitServe(None, True)
        elif isinstance(factory, str):
            pg = S.PgDatabase()
            url = pg.__enter__()

            def make(url: str = url) -> Any:
                return S.DicomkitServe(url, True)
        try:
            with make() as server:
                # the warm-up as the timed send: one association, or two at once (a receiver
                # may start workers for concurrent stores: started before the timing)
                if mode == "one":
                    _t, error = S.storescu(server, str(warm))
                else:
                    _t, error = S.storescu_parallel(server, [str(warm)] * 2)
                if error:
                    raise RuntimeError(f"{server.name} warm-up: {error}")
                cpu = server_cpu(server)
                if mode == "one":
                    seconds, error = S.storescu(server, str(folder))
                else:
                    seconds, error = S.storescu_parallel(server, parts)
                cpu = server_cpu(server) - cpu
                if error:
                    raise RuntimeError(f"{server.name} ({mode}): storescu failed: {error}")
                got = server.count()
                if got != expected:
                    raise RuntimeError(f"{server.name}: {got} instances stored, {expected} sent")
        finally:
            if pg is not None:
                pg.__exit__(None, None, None)
        out[f"{mode}_s"] = seconds
        out[f"{mode}_cpu_s"] = cpu
    return out


def run_concurrent(args: argparse.Namespace) -> dict[str, Any]:
    n = args.concurrent
    say(f"== ingest, {n} concurrent storescu associations vs one: {args.count} instances of "
        f"64x64 CT, {args.repeat} runs each (taken in turn), fsync on everywhere")
    load_line("before")
    folder = write_series(DATA / f"archive-ingest-{args.count}", args.count)
    warm = write_series(DATA / "archive-ingest-warmup", 10, tag="WARM")
    parts = split_by_study(folder, n)
    targets = concurrent_targets(not args.no_postgres)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in targets}
    cpu0 = os.times()
    for _ in range(args.repeat):
        for name, factory in targets:
            run = concurrent_once(factory, folder, parts, warm, args.count + 10)
            runs[name].append(run)
            say(f"   {name:<36} one {args.count / run['one_s']:6.1f} inst/s "
                f"(server CPU {run['one_cpu_s']:5.1f} s)  {n} at once "
                f"{args.count / run['many_s']:6.1f} inst/s (server CPU {run['many_cpu_s']:5.1f} s)"
                f"  ratio {run['one_s'] / run['many_s']:.2f}x")
    cpu1 = os.times()
    load_line("after")
    rows = {}
    say(f"\n| receiver ({args.count} instances, fsync) | one association inst/s | {n} at once "
        f"inst/s | ratio (median) | best ratio | server CPU ms/inst (one / {n}) |")
    say("|---|---:|---:|---:|---:|---:|")
    for name, values in runs.items():
        one = statistics.median(v["one_s"] for v in values)
        many = statistics.median(v["many_s"] for v in values)
        best = max(v["one_s"] / v["many_s"] for v in values)
        cpu_one = statistics.median(v["one_cpu_s"] for v in values) / args.count * 1e3
        cpu_many = statistics.median(v["many_cpu_s"] for v in values) / args.count * 1e3
        rows[name] = {"runs": values, "one_rate": args.count / one,
                      "many_rate": args.count / many, "ratio": one / many, "best_ratio": best}
        say(f"| {name} | {args.count / one:.0f} | {args.count / many:.0f} | {one / many:.2f}x | "
            f"{best:.2f}x | {cpu_one:.2f} / {cpu_many:.2f} |")
    say(f"# children CPU of the run: {cpu1.children_user - cpu0.children_user:.1f} s user, "
        f"{cpu1.children_system - cpu0.children_system:.1f} s system")
    return {"concurrent": n, "count": args.count, "rows": rows}


def run_ingest(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "concurrent", 0):
        return run_concurrent(args)
    say(f"== ingest: DCMTK storescu -> each server, {args.count} instances of 64x64 CT, "
        f"{args.repeat} runs each (taken in turn)")
    load_line("before")
    folder = write_series(DATA / f"archive-ingest-{args.count}", args.count)
    warm = write_series(DATA / "archive-ingest-warmup", 10, tag="WARM")
    mb = sum(p.stat().st_size for p in folder.glob("*.dcm")) / 1e6
    sets = [("small", folder, args.count, mb, args.repeat)]
    if args.big:
        big = Path(args.big_series)
        files = sorted(big.glob("*.dcm"))
        if not files:
            raise SystemExit(f"no files in {big}; run bench/make_ct_series.py first")
        sets.append(("big", big, len(files), sum(p.stat().st_size for p in files) / 1e6,
                     args.big_repeat))
    results: dict[str, Any] = {}
    for label, data, count, megabytes, repeat in sets:
        say(f"-- {label}: {count} files, {megabytes:.1f} MB in {data}")
        targets = ingest_targets(not args.no_postgres)
        times: dict[str, list[float]] = {name: [] for name, _ in targets}
        for _ in range(repeat):
            for name, factory in targets:
                seconds = ingest_once(factory, data, warm, count + 10)
                times[name].append(seconds)
                say(f"   {name:<48} {seconds:7.2f} s  {count / seconds:7.1f} inst/s")
        rows = {}
        for name, values in times.items():
            med = statistics.median(values)
            rows[name] = {"seconds": values, "median_rate": count / med,
                          "best_rate": count / min(values), "mb_per_s": megabytes / med}
        results[label] = {"count": count, "megabytes": megabytes, "rows": rows}
        print_ingest_table(label, count, megabytes, rows)
    load_line("after")
    return results


def print_ingest_table(label: str, count: int, megabytes: float,
                       rows: dict[str, Any]) -> None:
    orthanc = rows["Orthanc 1.10, SyncStorageArea true (default)"]["median_rate"]
    orthanc_nosync = rows["Orthanc 1.10, SyncStorageArea false"]["median_rate"]
    say(f"\n| receiver ({label}: {count} instances, {megabytes:.0f} MB) | median inst/s | "
        "best inst/s | MB/s | vs Orthanc (same fsync setting) |")
    say("|---|---:|---:|---:|---:|")
    for name, row in rows.items():
        if "storescp" in name:
            ratio = "-"
        else:
            base = orthanc_nosync if ("no-fsync" in name or "false" in name) else orthanc
            ratio = f"{row['median_rate'] / base:.2f}x"
        say(f"| {name} | {row['median_rate']:.0f} | {row['best_rate']:.0f} | "
            f"{row['mb_per_s']:.1f} | {ratio} |")
    say("")


# -- queries -------------------------------------------------------------------------------------
BULK = "modality only (MR, bulk)"


def make_queries(bulk: bool = True) -> dict[str, Any]:
    """The typical study-level queries, with values the 10k-study prefix already holds."""
    chosen = {s.index: s for s in S.Population().studies(10_000) if s.index in (5000, 7777)}
    queries = {
        "patient ID": S.identifier(PatientID=chosen[5000].patient_id),
        "name wildcard SMITH*": S.identifier(PatientName="SMITH*"),
        "date range (7 days)": S.identifier(StudyDate="20240301-20240307"),
        "modality + day (CT)": S.identifier(ModalitiesInStudy="CT", StudyDate="20240305"),
        "accession": S.identifier(AccessionNumber=chosen[7777].accession),
    }
    if bulk:
        queries[BULK] = S.identifier(ModalitiesInStudy="MR")
    return queries


def query_server(label: str, port: int, aet: str, queries: dict[str, Any],
                 args: argparse.Namespace, index: Any = None) -> dict[str, Any]:
    timings = S.time_queries(port, aet, queries, reps=args.reps, warmup=args.warmup,
                             budget=args.budget, min_reps=args.min_reps)
    db = S.time_search(index, queries) if index is not None else {}
    out = {}
    for name, t in timings.items():
        out[name] = {"p50_ms": t.p50, "p95_ms": t.p95, "matches": t.matches,
                     "reps": len(t.latencies), "first_p50_ms": statistics.median(t.first) * 1e3,
                     "search_ms": db.get(name)}
        extra = f"  in-process answers {db[name]:7.1f} ms CPU" if name in db else ""
        say(f"   {label:<20} {name:<26} {t.matches:6d} matches  p50 {t.p50:8.1f}  "
            f"p95 {t.p95:8.1f} ms  (n={len(t.latencies)}){extra}")
    return out


def open_backends(work: str, with_pg: bool) -> tuple[dict[str, dict[str, Any]], Any]:
    """SQLite (in <work>/SQLite/index.sqlite, where serve --data finds it) and PostgreSQL."""
    from dicomkit.archive.index import ArchiveIndex

    backends: dict[str, dict[str, Any]] = {}
    data = os.path.join(work, "SQLite")
    os.makedirs(data)
    backends["SQLite"] = {"url": None, "data": data,
                          "index": ArchiveIndex(os.path.join(data, "index.sqlite"))}
    pg = None
    if with_pg:
        pg = S.PgDatabase()
        url = pg.__enter__()
        backends["PostgreSQL"] = {"url": url, "data": os.path.join(work, "PostgreSQL"),
                                  "index": ArchiveIndex(url)}
    for backend in backends.values():
        backend["index"].migrate()
    return backends, pg


def close_backends(backends: dict[str, dict[str, Any]], pg: Any) -> None:
    for backend in backends.values():
        backend["index"].close()
    if pg is not None:
        pg.__exit__(None, None, None)


def load_orthanc(orthanc: Any, loaded: int, size: int) -> float:
    folders = write_population(DATA / f"archive-orthanc-{loaded}-{size}", size - loaded, loaded)
    seconds, error = S.storescu_parallel(orthanc, folders)
    if error or orthanc.count() != size:
        # A storescu that lost its association under load (one run stopped at 51,440 of
        # 100,000) is sent again once: Orthanc keeps one copy of an instance sent twice.
        say(f"   Orthanc load incomplete ({orthanc.count():,} of {size:,}): {error.strip()[-300:]}"
            " - sending the folders once more")
        more, error = S.storescu_parallel(orthanc, folders)
        seconds += more
    if error:
        raise RuntimeError(f"Orthanc load: {error}")
    if orthanc.count() != size:
        raise RuntimeError(f"Orthanc holds {orthanc.count()} instances, expected {size}")
    return seconds


def run_query(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(x) for x in args.sizes.split(",")]
    say(f"== query: study-level C-FIND at {', '.join(f'{n:,}' for n in sizes)} studies "
        f"(1 series, 1 instance each), {args.reps} runs per query after {args.warmup} "
        f"warm-up, round robin; a query stops after {args.budget:.0f} s "
        f"(min {args.min_reps} runs)")
    load_line("before")
    work = tmpdir("bench-archive-query-")
    queries = make_queries()
    results: dict[str, Any] = {"sizes": sizes, "queries": list(queries), "by_size": {},
                               "orthanc": {}, "load_s": {}}
    backends, pg = open_backends(work, not args.no_postgres)
    orthanc = None
    try:
        names = list(backends)
        loader = S.BulkLoader([b["index"] for b in backends.values()], S.Population(), 1)
        loaded = orthanc_loaded = 0
        orthanc_rate = None
        for size in sizes:
            say(f"-- {size:,} studies")
            here: dict[str, Any] = {}
            before = list(loader.insert_seconds)
            loader.load(size - loaded)
            loaded = size
            for n, name in enumerate(names):
                seconds = loader.insert_seconds[n] - before[n]
                results["load_s"][f"{name} {size}"] = seconds
                say(f"   loaded {name} synthetically: {seconds:.1f} s in the database")
            for name, backend in backends.items():
                with S.DicomkitServe(backend["url"], False, data=backend["data"]) as server:
                    here[f"dicomkit {name}"] = query_server(
                        f"dicomkit {name}", server.port, server.aet, queries, args,
                        backend["index"])
            if not args.no_orthanc:
                todo = size - orthanc_loaded
                estimate = todo / orthanc_rate if orthanc_rate else 0.0
                if orthanc_rate and estimate > args.orthanc_limit:
                    say(f"   Orthanc skipped at {size:,}: loading {todo:,} more studies would "
                        f"take ~{estimate / 60:.0f} min at {orthanc_rate:.0f} inst/s "
                        f"(limit {args.orthanc_limit / 60:.0f} min)")
                    results["orthanc"][str(size)] = {"skipped": True, "estimate_s": estimate}
                else:
                    if orthanc is None:
                        # Loading speed is not measured here: no fsync while loading.
                        orthanc = S.Orthanc(False).start()
                    seconds = load_orthanc(orthanc, orthanc_loaded, size)
                    orthanc_rate = todo / seconds
                    orthanc_loaded = size
                    say(f"   loaded Orthanc by C-STORE (2 storescu at once) in {seconds:.1f} s "
                        f"({orthanc_rate:.0f} inst/s)")
                    results["orthanc"][str(size)] = {"load_s": seconds}
                    here["Orthanc"] = query_server("Orthanc", orthanc.port, orthanc.aet,
                                                   queries, args)
            results["by_size"][str(size)] = here
            print_query_table(size, here, list(queries))
        load_line("after")
    finally:
        if orthanc is not None:
            orthanc.cleanup()
        close_backends(backends, pg)
        shutil.rmtree(work, ignore_errors=True)
    return results


def print_query_table(size: int, here: dict[str, Any], names: list[str]) -> None:
    servers = list(here)
    say(f"\n{size:,} studies: study-level C-FIND, p50 / p95 ms to the final response "
        "(in-process C-FIND answers: SQL + identifiers, median ms CPU)")
    say("| query | matches | " + " | ".join(servers) + " |")
    say("|---|---:|" + "---:|" * len(servers))
    for name in names:
        cells = []
        for server in servers:
            row = here[server][name]
            cell = f"{row['p50_ms']:.1f} / {row['p95_ms']:.1f}"
            if row.get("search_ms") is not None:
                cell += f" ({row['search_ms']:.1f})"
            cells.append(cell)
        matches = {here[s][name]["matches"] for s in servers}
        say(f"| {name} | {'/'.join(str(m) for m in sorted(matches))} | "
            + " | ".join(cells) + " |")
    say("")


# -- growth ------------------------------------------------------------------------------------
def real_records(count: int, per_series: int = 100) -> list[Any]:
    """Records for ``count`` new instances: what ingest hands to add_instance."""
    from dicomkit.archive.records import record_for
    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid

    records = []
    ds = make_ct(64)
    for n in range(count):
        if n % per_series == 0:
            ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
            ds.PatientID = f"REAL-{generate_uid()[-12:]}"
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = n % per_series + 1
        records.append(record_for(ds, f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/"
                                      f"{ds.SOPInstanceUID}.dcm", S.FILE_SIZE, S.TS_EXPLICIT))
    return records


def run_growth(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(x) for x in args.sizes.split(",")]
    per = args.per_study
    chunk_studies = max(1, 10_000 // per)
    say(f"== growth: {', '.join(f'{n:,}' for n in sizes)} instances ({per} per study, "
        f"1 series), loaded in chunks of {chunk_studies * per:,} rows; at each size "
        f"{args.real:,} add_instance calls, {args.store:,} files by storescu into serve "
        f"--no-fsync, then C-FIND ({args.reps} runs)")
    load_line("before")
    work = tmpdir("bench-archive-growth-")
    queries = make_queries(bulk=False)
    results: dict[str, Any] = {"sizes": sizes, "per_study": per, "backends": {}}
    backends, pg = open_backends(work, not args.no_postgres)
    pg_max = max(int(x) for x in args.pg_sizes.split(","))
    try:
        loader = S.BulkLoader([b["index"] for b in backends.values()], S.Population(), per)
        loaded = 0
        for size in sizes:
            if "PostgreSQL" in backends and size > pg_max:
                say(f"   PostgreSQL stops at {pg_max:,} instances (--pg-sizes)")
                loader.detach(backends["PostgreSQL"]["index"])
                backends["PostgreSQL"]["index"].close()
                if pg is not None:
                    pg.__exit__(None, None, None)
                    pg = None
                del backends["PostgreSQL"]
            names = list(backends)
            last = [0.0] * len(names)
            while loaded < size:
                studies = min(chunk_studies, (size - loaded) // per)
                before = list(loader.insert_seconds)
                loader.load(studies)
                last = [(loader.insert_seconds[n] - before[n]) * 10_000 / (studies * per)
                        for n in range(len(names))]
                loaded += studies * per
            for n, (name, backend) in enumerate(backends.items()):
                index = backend["index"]
                records = real_records(args.real)
                start = time.perf_counter()
                for record in records:
                    index.add_instance(record)
                real = time.perf_counter() - start
                folder = write_series(Path(work) / "store", args.store, tag="GROW")
                with S.DicomkitServe(backend["url"], False, data=backend["data"]) as server:
                    seconds, error = S.storescu(server, str(folder))
                    if error:
                        raise RuntimeError(f"storescu at {size}: {error}")
                    here = query_server(f"{name} {size:,}", server.port, server.aet, queries,
                                        args, index)
                shutil.rmtree(folder, ignore_errors=True)
                stats = index.stats()
                results["backends"].setdefault(name, {})[str(size)] = {
                    "bulk_s_per_10k": last[n],
                    "add_instance_s_per_10k": real * 10_000 / args.real,
                    "storescu_inst_s": args.store / seconds, "queries": here, "stats": stats}
                say(f"   {name} {size:>9,} instances: bulk insert {last[n]:5.2f} s/10k rows, "
                    f"add_instance {real * 10_000 / args.real:5.1f} s/10k, storescu -> serve "
                    f"{args.store / seconds:4.0f} inst/s; index {stats}")
        print_growth_table(results, list(queries))
        load_line("after")
    finally:
        close_backends(backends, pg)
        shutil.rmtree(work, ignore_errors=True)
    return results


def print_growth_table(results: dict[str, Any], names: list[str]) -> None:
    say("\n| index | instances | bulk insert s/10k rows | add_instance s/10k | storescu -> "
        "serve inst/s | " + " | ".join(f"{n} p50/p95 ms" for n in names) + " |")
    say("|---|---:|---:|---:|---:|" + "---:|" * len(names))
    for backend, rows in results["backends"].items():
        for size, row in rows.items():
            cells = [f"{row['queries'][n]['p50_ms']:.1f} / {row['queries'][n]['p95_ms']:.1f}"
                     for n in names]
            say(f"| {backend} | {int(size):,} | {row['bulk_s_per_10k']:.2f} | "
                f"{row['add_instance_s_per_10k']:.1f} | {row['storescu_inst_s']:.0f} | "
                + " | ".join(cells) + " |")
    say("")


# -- main --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--no-postgres", action="store_true")
    common.add_argument("--skip-check", action="store_true",
                        help="skip the bulk-load vs add_instance equivalence check")

    def query_options(reps: int) -> argparse.ArgumentParser:
        # A parent per subcommand: argparse shares a parent's actions between its children,
        # so set_defaults on one child would change the other's default too.
        qopts = argparse.ArgumentParser(add_help=False)
        qopts.add_argument("--reps", type=int, default=reps, help=f"runs per query ({reps})")
        qopts.add_argument("--warmup", type=int, default=2)
        qopts.add_argument("--budget", type=float, default=10.0,
                           help="seconds per query and server after which it stops")
        qopts.add_argument("--min-reps", type=int, default=3,
                           help="runs a query gets even past --budget")
        return qopts

    p = sub.add_parser("ingest", parents=[common])
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--big", action="store_true", help="also the 512x512 series of bench/data/ct")
    p.add_argument("--big-series", default=str(DATA / "ct"))
    p.add_argument("--big-repeat", type=int, default=1)
    p.add_argument("--concurrent", type=int, default=0, metavar="N",
                   help="one association vs N storescu at once (dicomkit, Orthanc; fsync)")

    p = sub.add_parser("query", parents=[common, query_options(40)])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--no-orthanc", action="store_true")
    p.add_argument("--orthanc-limit", type=float, default=600.0,
                   help="skip an Orthanc size whose estimated load time is longer (s)")

    p = sub.add_parser("growth", parents=[common, query_options(20)])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--per-study", type=int, default=10)
    p.add_argument("--real", type=int, default=2000, help="add_instance calls per size")
    p.add_argument("--store", type=int, default=1000, help="files sent by storescu per size")
    p.add_argument("--pg-sizes", default="10000,100000",
                   help="PostgreSQL stops after the largest of these (time)")

    sub.add_parser("all", parents=[common])
    args = parser.parse_args()

    print_machine()
    start = time.perf_counter()
    if not args.skip_check:
        folder = tmpdir("bench-archive-check-")
        try:
            S.check_equivalence(folder)
            say("# check: the synthetic bulk load writes the same rows as add_instance")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    commands = ["ingest", "query", "growth"] if args.command == "all" else [args.command]
    for command in commands:
        sub_args = parser.parse_args([command, *(["--no-postgres"] if args.no_postgres else []),
                                      "--skip-check"]) if args.command == "all" else args
        began = time.perf_counter()
        result = {"ingest": run_ingest, "query": run_query, "growth": run_growth}[command](
            sub_args)
        result["wall_s"] = time.perf_counter() - began
        result["args"] = vars(sub_args)
        save(command + ("_concurrent" if getattr(sub_args, "concurrent", 0) else ""), result)
        say(f"# {command} took {result['wall_s'] / 60:.1f} min")
    say(f"# total {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
