"""``dicomkit worklist``: manage the archive's worklist items (the Scheduled Procedure Steps its
Modality Worklist SCP offers, PS3.4 K.6.1): add from files, list, remove, change status. Works
on the index of ``--data`` / ``--index`` / ``--config``, also while ``dicomkit serve`` runs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dicomkit.cli.archive import open_archive
from dicomkit.cli.tables import text_table

HELP = "manage worklist items (Modality Worklist, PS3.4 K): add, ls, rm, status"
EPILOG = """examples:
  dicomkit worklist add order.json --data /srv/pacs     DICOM JSON (an object or an array)
  dicomkit worklist add wlistdb/CT1/*.wl                DCMTK wlmscpfs files (Part 10 or not)
  dicomkit worklist add item.dump                       DCMTK dump text (dump2dcm's input)
  dicomkit worklist ls --date 20261204 --station CT1
  dicomkit worklist ls --date 20261201-20261207 --modality MR --json
  dicomkit worklist status 12 ARRIVED
  dicomkit worklist rm 12 13

exit status: 0 when every item was added (removed, changed); 1 when any was not (the reason,
naming the file and the attribute, on stderr); 2 for a usage error."""

MAX_FILE = 64 << 20  # bytes: a worklist file larger than this is refused, not read


def add_parser(sub: Any) -> None:
    p = sub.add_parser("worklist", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", metavar="FILE.toml")
        q.add_argument("--data", metavar="DIR", help="the archive folder (./dicomkit-data)")
        q.add_argument("--index", metavar="URL", help="postgresql://… or a SQLite path")

    add = actions.add_parser(
        "add", help="add worklist items from files",
        description="add worklist items: DICOM JSON (PS3.18 F, an object or an array), "
        "Part 10 files, DCMTK .wl files (a data set with or without File Meta Information) "
        "or DCMTK dump text; one row per Scheduled Procedure Step",
        epilog="example:\n  dicomkit worklist add orders/*.json wlistdb/CT1/*.wl --data /srv/pacs",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("files", nargs="+", metavar="FILE")
    common(add)
    add.set_defaults(run=run_add)

    ls = actions.add_parser(
        "ls", help="list worklist items",
        description="list worklist items (steps) in start date and time order",
        epilog="examples:\n  dicomkit worklist ls --date 20261204 --station CT1\n"
        "  dicomkit worklist ls --date 20261201- --status SCHEDULED --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ls.add_argument("--date", metavar="RANGE", help="YYYYMMDD or a range A-B, A-, -B")
    ls.add_argument("--modality", metavar="M")
    ls.add_argument("--station", metavar="AET", help="Scheduled Station AE Title")
    ls.add_argument("--status", metavar="S", help="SCHEDULED, ARRIVED, READY, STARTED, "
                    "COMPLETED, DISCONTINUED or CANCELLED")
    ls.add_argument("--patient", metavar="ID", help="Patient ID")
    ls.add_argument("--accession", metavar="NUMBER")
    ls.add_argument("--limit", type=int, metavar="N")
    ls.add_argument("--json", action="store_true",
                    help="a JSON array: key, status, mpps_uid and the item as DICOM JSON")
    common(ls)
    ls.set_defaults(run=run_ls)

    rm = actions.add_parser("rm", help="remove worklist items by key",
                            description="remove worklist items (steps) by their key",
                            epilog="example:\n  dicomkit worklist rm 12 13",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    rm.add_argument("keys", nargs="+", type=int, metavar="KEY")
    common(rm)
    rm.set_defaults(run=run_rm)

    status = actions.add_parser(
        "status", help="change an item's status",
        description="change a worklist item's status; only SCHEDULED, ARRIVED and READY "
        "items are offered to worklist queries",
        epilog="example:\n  dicomkit worklist status 12 CANCELLED",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("key", type=int, metavar="KEY")
    status.add_argument("status", metavar="STATUS")
    status.add_argument("--mpps", metavar="UID", help="link the step to this MPPS instance")
    common(status)
    status.set_defaults(run=run_status)
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])


def _store(args: argparse.Namespace) -> Any:
    from dicomkit.archive.worklist import WorklistStore

    archive = open_archive(args, migrate=True)
    return archive, WorklistStore(archive.index)


def read_items(path: str) -> list[Any]:
    """The worklist items of one file (see ``worklist add --help``); ValueError or OSError
    naming what is wrong."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.encoding.dump_text import read_dump_text
    from dicomkit.encoding.json import from_json
    from dicomkit.encoding.reader import read

    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise ValueError(f"larger than {MAX_FILE >> 20} MiB")
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"not valid JSON: {exc}") from exc
        objects = parsed if isinstance(parsed, list) else [parsed]
        items: list[Dataset] = []
        for number, obj in enumerate(objects, 1):
            if not isinstance(obj, dict):
                raise ValueError(f"JSON array entry {number} is not a DICOM JSON object")
            try:
                items.append(from_json(obj))
            except (ValueError, TypeError, KeyError) as exc:
                where = f"object {number}: " if isinstance(parsed, list) else ""
                raise ValueError(f"{where}not DICOM JSON (PS3.18 F): {exc}") from exc
        return items
    if data[128:132] != b"DICM" and head in (b"(", b"#"):
        return [read_dump_text(data)]
    ds = read(data, force=True)
    if ds.read_problems and ds.is_truncated:
        raise ValueError(f"not a whole data set: {ds.read_problems[0]}")
    if not len(ds):
        raise ValueError("no data set in the file")
    return [ds]


def run_add(args: argparse.Namespace) -> int:
    from dicomkit.archive.worklist import WorklistError
    from dicomkit.errors import DicomError

    archive, store = _store(args)
    failed = 0
    try:
        for path in args.files:
            try:
                items = read_items(path)
            except (OSError, ValueError, DicomError) as exc:
                print(f"dicomkit worklist add: {path}: {exc}", file=sys.stderr)
                failed += 1
                continue
            for number, item in enumerate(items, 1):
                where = f"{path}" + (f" (item {number})" if len(items) > 1 else "")
                try:
                    entries = store.add(item)
                except (WorklistError, DicomError, ValueError) as exc:
                    print(f"dicomkit worklist add: {where}: {exc}", file=sys.stderr)
                    failed += 1
                    continue
                keys = ", ".join(str(e.key) for e in entries)
                if sys.stdout.isatty():  # quiet when piped
                    print(f"added {where}: step(s) {keys}")
    finally:
        archive.close()
    return 1 if failed else 0


def _table(entries: list[Any]) -> str:
    headers = ["KEY", "STATUS", "DATE", "TIME", "STATION", "MODALITY", "PATIENT ID",
               "PATIENT NAME", "ACCESSION", "RP ID", "SPS ID"]
    rows = [[str(e.key), e.status, e.start_date, e.start_time, e.station_ae, e.modality,
             e.patient_id, e.patient_name, e.accession_number, e.requested_procedure_id,
             e.sps_id] for e in entries]
    return text_table(headers, rows)


def run_ls(args: argparse.Namespace) -> int:
    from dicomkit.archive.worklist import WorklistError

    archive, store = _store(args)
    try:
        entries = store.entries(date=args.date, modality=args.modality, station=args.station,
                                status=args.status, patient_id=args.patient,
                                accession=args.accession, limit=args.limit)
    except WorklistError as exc:
        print(f"dicomkit worklist ls: {exc}", file=sys.stderr)
        return 2
    finally:
        archive.close()
    if args.json:
        print(json.dumps([{"key": e.key, "status": e.status, "mpps_uid": e.mpps_uid,
                           "item": e.attrs} for e in entries], ensure_ascii=False, indent=1))
    else:
        print(_table(entries))
    return 0


def run_rm(args: argparse.Namespace) -> int:
    archive, store = _store(args)
    missing = 0
    try:
        for key in args.keys:
            if store.delete(key):
                print(f"removed {key}")
            else:
                print(f"dicomkit worklist rm: no worklist item {key}", file=sys.stderr)
                missing += 1
    finally:
        archive.close()
    return 1 if missing else 0


def run_status(args: argparse.Namespace) -> int:
    from dicomkit.archive.worklist import WorklistError

    archive, store = _store(args)
    try:
        entry = store.set_status(args.key, args.status, mpps_uid=args.mpps)
    except WorklistError as exc:
        print(f"dicomkit worklist status: {exc}", file=sys.stderr)
        return 1
    finally:
        archive.close()
    print(f"{entry.key} {entry.status}")
    return 0
