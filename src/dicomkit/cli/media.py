"""``dicomkit dicomdir`` (File-sets on media: create, ls) and ``dicomkit export`` (a study or
a query result from the archive as a ZIP with a DICOMDIR)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DICOMDIR_HELP = "make or list a File-set's DICOMDIR (CD, DVD, USB media; PS3.10, PS3.11)"
DICOMDIR_EPILOG = """examples:
  dicomkit dicomdir create /media/usb                  STD-GEN-CD: Explicit VR Little Endian
  dicomkit dicomdir create out/ --profile STD-GEN-DVD-JPEG   JPEG files kept as they are
  dicomkit dicomdir ls /media/cdrom                    the records as a tree
  dicomkit import /media/cdrom/DICOMDIR --data pacs/   import what a DICOMDIR lists

create writes ROOT/DICOMDIR for every DICOM file under ROOT. A file whose path is already a
File ID (1-8 components of 1-8 characters A-Z 0-9 _) stays where it is; any other is moved to
DICOM/STnnnnnn/SEnnnnnn/IMnnnnnn. A file in a transfer syntax the profile does not allow is
rewritten in Explicit VR Little Endian (decompressed, never compressed lossily). Type 1
record keys missing from an instance are invented (dates 19000101, IDs UNKNOWN) and counted
on stderr; --strict refuses such instances instead.

exit status: 0 when every DICOM file is in the DICOMDIR; 1 when any was skipped (listed on
stderr), or the DICOMDIR could not be read or written."""

EXPORT_HELP = "write a study (or a query's studies) from the archive as a ZIP with a DICOMDIR"
EXPORT_EPILOG = """examples:
  dicomkit export --study 1.2.3.4 --out study.zip --data pacs/
  dicomkit export --query PatientID=P123 --query StudyDate=2024- --out p123.zip
  dicomkit export --study 1.2.3.4 --out cd.zip --profile STD-GEN-CD   decompress for a CD

The ZIP's root holds a DICOMDIR and the files it references (DICOM/STnnnnnn/SEnnnnnn/IMnnnnnn,
PS3.12 Annex V). Files go in as stored unless --profile asks for another transfer syntax;
memory stays bounded whatever the study's size.

exit status: 0 when written; 1 when nothing matched or a file could not be read."""


def _archive_options(p: argparse.ArgumentParser) -> None:
    """Where the archive is, as ``dicomkit serve`` and ``import`` take it."""
    p.add_argument("--config", metavar="FILE.toml")
    p.add_argument("--data", metavar="DIR")
    p.add_argument("--index", metavar="URL")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dicomdir", help=DICOMDIR_HELP, description=DICOMDIR_HELP,
                       epilog=DICOMDIR_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    create = actions.add_parser("create", help="write ROOT/DICOMDIR for the files under ROOT",
                                epilog=DICOMDIR_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    create.add_argument("root", metavar="ROOT")
    create.add_argument("--profile", default="STD-GEN-CD",
                        help="PS3.11 application profile (default STD-GEN-CD; ANY keeps every "
                             "transfer syntax)")
    create.add_argument("--fileset-id", default="", metavar="ID",
                        help="File-set ID (0004,1130), up to 16 characters")
    create.add_argument("--strict", action="store_true",
                        help="refuse instances lacking a Type 1 record key instead of inventing")
    create.set_defaults(run=run_create)
    ls = actions.add_parser("ls", help="print a DICOMDIR's records as a tree",
                            epilog="example:\n  dicomkit dicomdir ls /media/cdrom",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    ls.add_argument("path", metavar="ROOT_OR_DICOMDIR")
    ls.add_argument("--check", action="store_true",
                    help="also check each referenced file exists and matches its record")
    ls.set_defaults(run=run_ls)
    p.set_defaults(run=lambda args, parser=p: (parser.print_help(), 2)[1])

    p = sub.add_parser("export", help=EXPORT_HELP, description=EXPORT_HELP,
                       epilog=EXPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _archive_options(p)
    p.add_argument("--study", metavar="UID", action="append", default=[],
                   help="a Study Instance UID (repeat for several)")
    p.add_argument("--query", metavar="KEY=VALUE", action="append", default=[],
                   help="a study-level matching key (PS3.4 C.2.2.2), e.g. PatientID=P1")
    p.add_argument("--out", required=True, metavar="FILE.zip")
    p.add_argument("--profile", default="ANY",
                   help="PS3.11 profile the files must fit (default ANY: as stored)")
    p.add_argument("--compress", action="store_true", help="deflate the ZIP entries")
    p.set_defaults(run=run_export)


def print_records(fs: Any, out: Any) -> None:
    """The records of a File-set as an indented tree, one per line."""
    for record in fs.walk():
        out.write("  " * record.depth + record.describe() + "\n")


def run_create(args: argparse.Namespace) -> int:
    from dicomkit.errors import DicomError
    from dicomkit.media import create

    try:
        result = create(args.root, profile=args.profile, invent=not args.strict,
                        fileset_id=args.fileset_id)
    except (DicomError, OSError) as exc:
        print(f"dicomkit dicomdir create: {exc}", file=sys.stderr)
        return 1
    fs = result.fileset
    count = sum(1 for _ in fs.instances())
    print(f"{count} instance(s) in {args.root}/DICOMDIR: {result.kept} kept in place, "
          f"{result.moved} moved, {result.converted} converted; {len(result.skipped)} skipped")
    if fs.invented:
        print(f"  invented {len(fs.invented)} missing Type 1 key value(s): "
              f"{', '.join(sorted(set(fs.invented)))}", file=sys.stderr)
    for path, reason in result.skipped[:50]:
        print(f"  skipped: {path}: {reason}", file=sys.stderr)
    return 1 if result.skipped else 0


def run_ls(args: argparse.Namespace) -> int:
    from dicomkit.errors import DicomError
    from dicomkit.media import FileSet

    try:
        fs = FileSet.read(args.path)
    except (DicomError, OSError) as exc:
        print(f"dicomkit dicomdir ls: {args.path}: {exc}", file=sys.stderr)
        return 1
    print_records(fs, sys.stdout)
    status = 0
    for problem in fs.problems:
        print(f"dicomkit dicomdir ls: {problem}", file=sys.stderr)
    if args.check:
        for record in fs.instances():
            try:
                fs.verify(record)
            except (DicomError, OSError) as exc:
                print(f"dicomkit dicomdir ls: {exc}", file=sys.stderr)
                status = 1
    return status


def run_export(args: argparse.Namespace) -> int:
    from dicomkit.archive.matching import compile_query
    from dicomkit.cli.archive import open_archive
    from dicomkit.core.dataset import Dataset
    from dicomkit.errors import DicomError
    from dicomkit.media import ZipEntry, write_zip

    if not args.study and not args.query:
        print("dicomkit export: give --study UID or --query KEY=VALUE", file=sys.stderr)
        return 2
    archive = open_archive(args)
    try:
        rows = []
        identifiers = []
        for uid in args.study:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "STUDY"
            identifier.StudyInstanceUID = uid
            identifiers.append(identifier)
        if args.query:
            identifier = Dataset()
            identifier.QueryRetrieveLevel = "STUDY"
            for item in args.query:
                key, _, value = item.partition("=")
                setattr(identifier, key.strip(), value)
            identifiers.append(identifier)
        for identifier in identifiers:
            query = compile_query(identifier)
            rows += archive.index.instances_matching(query)
        if not rows:
            print("dicomkit export: no instance matches", file=sys.stderr)
            return 1
        entries = [ZipEntry(archive.absolute(row.path)) for row in rows]
        fs = write_zip(entries, args.out, profile=args.profile, compress=args.compress)
    except (DicomError, OSError, ValueError, KeyError) as exc:
        print(f"dicomkit export: {exc}", file=sys.stderr)
        return 1
    finally:
        archive.close()
    count = sum(1 for _ in fs.instances())
    print(f"{count} instance(s) written to {args.out}")
    return 0
