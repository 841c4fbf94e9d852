"""``dicomkit inventory``: Supplement 223 inventories of the archive (PS3.3 A.88).

``create`` writes the Inventory SOP Instances of the archive (or of a scope) into a folder,
archive-local like ``dicomkit stats``; ``read`` prints a readable summary of one.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dicomkit.cli.archive import open_archive
from dicomkit.cli.query_keys import build_query

CREATE_EPILOG = """examples:
  dicomkit inventory create --out inv/ --data pacs/
  dicomkit inventory create --out inv/ --level INSTANCE --data pacs/
  dicomkit inventory create --out inv/ --scope ModalitiesInStudy=NM --scope StudyDate=2024-
  dicomkit inventory create --out inv/ --index postgresql://pacs@db/pacs --data /srv/pacs

The folder receives one file per Inventory SOP Instance, named by its SOP Instance UID; a
large inventory is a tree (leaves of --max-records records each under a root that
incorporates them), and the root is written last and printed. Exit codes: 0 written, 1 the
archive could not be read, 2 bad arguments."""

READ_EPILOG = """examples:
  dicomkit inventory read inv/1.2.3.dcm
  dicomkit inventory read inv/1.2.3.dcm --json
  dicomkit inventory read inv/1.2.3.dcm --studies"""

INVENTORY_EPILOG = """examples:
  dicomkit inventory create --out inv/ --data pacs/     the whole archive, study records
  dicomkit inventory read inv/1.2.3.dcm --studies        what one Inventory SOP Instance lists

`dicomkit inventory create --help` and `read --help` for the options. Exit codes: 0 done,
1 the archive or the file could not be read, 2 bad arguments."""

LEVELS = ("STUDY", "SERIES", "INSTANCE")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("inventory", help="Supplement 223 inventories (create, read)",
                       description="inventories of the archive (PS3.3 A.88 Inventory IOD)",
                       epilog=INVENTORY_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])
    commands = p.add_subparsers(dest="inventory_command", metavar="create|read")
    create = commands.add_parser(
        "create", help="write the archive's Inventory SOP Instances into a folder",
        description="write an inventory of the archive's studies (or of those the --scope "
        "keys match, PS3.4 C.2.2.2 matching) as Inventory SOP Instances",
        epilog=CREATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    create.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    create.add_argument("--level", default="STUDY", type=str.upper, choices=LEVELS,
                        help="records down to this level (default STUDY)")
    create.add_argument("--scope", action="append", default=[], metavar="KEY=VALUE",
                        help="a study-level key the studies must match (repeatable)")
    create.add_argument("--purpose", default="", help="Inventory Purpose (0008,0401)")
    create.add_argument("--max-records", type=int, default=5000, metavar="N",
                        help="records per Inventory SOP Instance before it is split "
                        "(default 5000)")
    create.add_argument("--config", metavar="FILE.toml")
    create.add_argument("--data", metavar="DIR", help="the archive folder (./dicomkit-data)")
    create.add_argument("--index", metavar="URL", help="postgresql://… or a SQLite path")
    create.set_defaults(run=run_create)
    read = commands.add_parser("read", help="summarise an Inventory SOP Instance",
                               description="a readable summary of an Inventory SOP Instance",
                               epilog=READ_EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    read.add_argument("file")
    read.add_argument("--json", action="store_true", help="the summary as JSON")
    read.add_argument("--studies", action="store_true", help="list each study record")
    read.set_defaults(run=run_read)


def run_create(args: argparse.Namespace) -> int:
    from dicomkit.archive.inventory import create_inventory
    from dicomkit.archive.matching import QueryError
    from dicomkit.errors import DicomError

    if args.max_records < 1:
        print("dicomkit inventory: --max-records must be at least 1", file=sys.stderr)
        return 2
    try:
        scope = build_query(args.scope)[0] if args.scope else None
    except (DicomError, ValueError) as exc:
        print(f"dicomkit inventory: bad --scope: {exc}", file=sys.stderr)
        return 2
    archive = open_archive(args)
    try:
        tty = sys.stderr.isatty()

        def progress(studies: int) -> None:
            if tty:
                sys.stderr.write(f"\rinventory: {studies} studies")
                sys.stderr.flush()

        root, paths = create_inventory(archive, args.out, level=args.level, scope=scope,
                                       purpose=args.purpose, max_records=args.max_records,
                                       progress=progress)
        if tty:
            sys.stderr.write("\n")
    except QueryError as exc:
        print(f"dicomkit inventory: bad --scope: {exc}", file=sys.stderr)
        return 2
    except (OSError, DicomError) as exc:
        print(f"dicomkit inventory: {exc}", file=sys.stderr)
        return 1
    finally:
        archive.close()
    print(f"{len(paths)} Inventory SOP Instance(s) in {args.out}; root {root}")
    return 0


def run_read(args: argparse.Namespace) -> int:
    from dicomkit import read
    from dicomkit.errors import DicomError
    from dicomkit.iod.inventory import summary

    try:
        about = summary(read(args.file))
    except (OSError, DicomError, ValueError) as exc:
        print(f"dicomkit inventory: {args.file}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(about, indent=2))
        return 0
    series = sum(s["series"] for s in about["studies"])
    instances = sum(s["instances"] for s in about["studies"])
    print(f"Inventory {about['sop_instance_uid']}")
    print(f"  created      {about['content']}")
    print(f"  level        {about['level']}  ({about['completion']})")
    if about["purpose"]:
        print(f"  purpose      {about['purpose']}")
    if about["transaction_uid"]:
        print(f"  transaction  {about['transaction_uid']}")
    print(f"  studies      {about['studies_in_instance']} here, {about['total_studies']} "
          "in the tree it roots")
    print(f"  records      {series} series, {instances} instances here")
    if about["incorporated"]:
        print(f"  incorporates {len(about['incorporated'])} Inventory SOP Instance(s):")
        for uid in about["incorporated"]:
            print(f"    {uid}")
    if args.studies:
        for study in about["studies"]:
            print(f"  {study['study_uid']}  {study['patient_id']}  {study['study_date']}  "
                  f"{study['series']} series  {study['instances']} instances")
    return 0
