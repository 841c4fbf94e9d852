"""``dicomkit deid``: de-identify files and folders (PS3.15 Annex E, :mod:`dicomkit.deid`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

HELP = "de-identify DICOM files (PS3.15 Basic Profile and the options of Table E.1-1)"
EPILOG = """Every attribute is treated as PS3.15 Table E.1-1 says for the options chosen
(removed, emptied, replaced by a dummy or a keyed pseudonym, kept or cleaned), down into
sequences; private attributes are removed (kept only if on the safe list, with
--option retain-safe-private). One output file per input, at the same path relative to the
folder given (a file given by name goes to the top of --out). A file that cannot be
de-identified is reported and nothing is written for it.

options (--option, repeatable; PS3.15 Table E.1-1):
  retain-safe-private  retain-uids  retain-device-identity  retain-institution-identity
  retain-patient-characteristics  retain-longitudinal-full-dates
  retain-longitudinal-modified-dates  clean-descriptors  clean-structured-content
  clean-graphics  clean-pixel-data  clean-visual-features

Pseudonyms (UIDs, Patient ID and Name, Accession Number, Study ID, date shifts) are keyed
with --key (or the environment variable DICOMKIT_DEID_KEY): the same key gives the same
pseudonyms in every run, so later batches of one patient line up; keep it secret. Without a
key a random one is used and pseudonyms agree within the run only.

examples:
  dicomkit deid study/ --out anon/ --key "$SECRET"
  dicomkit deid a.dcm b.dcm --out anon/ --option retain-longitudinal-modified-dates \\
      --option clean-descriptors --key "$SECRET" --report anon-report.json
  dicomkit deid us/ --out anon/ --option clean-pixel-data --regions regions.toml

exit status: 0 every file written; 1 some file failed (each is listed on standard error);
2 usage (unknown option, unreadable --regions file)."""


def add_parser(sub: Any) -> None:
    from dicomkit.deid.table import OPTIONS

    p = sub.add_parser("deid", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="IN", help="DICOM files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write into")
    p.add_argument("--option", action="append", default=[], choices=OPTIONS, metavar="NAME",
                   help="an option of PS3.15 Table E.1-1 (repeatable; see below)")
    p.add_argument("--profile", choices=["basic"], default="basic",
                   help="the profile (only the Basic Application Level Confidentiality "
                        "Profile)")
    p.add_argument("--key", metavar="SECRET",
                   help="the secret of the pseudonyms (default: $DICOMKIT_DEID_KEY, else "
                        "random)")
    p.add_argument("--regions", metavar="FILE",
                   help="Clean Pixel Data region rules (TOML or JSON, see "
                        "docs/deidentification.md)")
    p.add_argument("--report", metavar="FILE", help="write the JSON report of every change")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: one per CPU)")
    p.add_argument("--fsync", action="store_true",
                   help="sync each file to disk before renaming it into place (slower; files "
                        "are always written whole or not at all)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(run=run)


class Progress:
    """A one-line progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.tty = sys.stderr.isatty() and not quiet

    def __call__(self, done: int, total: int) -> None:
        if not self.tty:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\rdeid [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from dicomkit.deid import RulesError, run_batch
    from dicomkit.deid.pixels import Rules

    rules = None
    if args.regions:
        try:
            rules = Rules.load(args.regions)
        except RulesError as exc:
            print(f"dicomkit deid: {exc}", file=sys.stderr)
            return 2
    if args.jobs is not None and args.jobs < 1:
        print("dicomkit deid: --jobs must be at least 1", file=sys.stderr)
        return 2
    key = args.key or os.environ.get("DICOMKIT_DEID_KEY") or None
    result = run_batch(args.inputs, args.out, args.option, key, rules=rules,
                       workers=args.jobs, report_path=args.report,
                       progress=Progress(args.quiet), fsync=args.fsync)
    for source, reason in result.failed:
        print(f"dicomkit deid: {source}: {reason}", file=sys.stderr)
    if not args.quiet:
        print(result.summary(), file=sys.stderr)
    return 1 if result.failed else 0
