"""``dicomkit convert``: rewrite a file in another transfer syntax (PS3.5 §10, PS3.10)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "rewrite a DICOM file in another transfer syntax"
EPILOG = """transfer syntax: a UID, a PS3.6 keyword or a short name:
  implicit  = ImplicitVRLittleEndian        1.2.840.10008.1.2
  explicit  = ExplicitVRLittleEndian        1.2.840.10008.1.2.1
  deflated  = DeflatedExplicitVRLittleEndian 1.2.840.10008.1.2.1.99
  big       = ExplicitVRBigEndian           1.2.840.10008.1.2.2

examples:
  dicomkit convert in.dcm out.dcm --transfer-syntax implicit
  dicomkit convert in.dcm out.dcm -t 1.2.840.10008.1.2.1.99

Compressed transfer syntaxes need the pixel codecs and are refused with a clear error.
exit status: 0 on success, 1 when the file could not be read or converted."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("convert", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("-t", "--transfer-syntax", required=True, metavar="UID-OR-KEYWORD")
    p.add_argument("--raw", action="store_true",
                   help="write a bare data set (no preamble or File Meta Information)")
    p.add_argument("--group-lengths", choices=["keep", "add", "remove"], default="keep",
                   help="group length elements: keep those present (recomputed), add, remove")
    p.add_argument("--defined-lengths", action="store_true",
                   help="write sequences and items with defined lengths")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dicomkit.encoding.reader import read
    from dicomkit.encoding.transfer_syntax import lookup
    from dicomkit.encoding.writer import write
    from dicomkit.errors import DicomError

    try:
        ts = lookup(args.transfer_syntax)
        ds = read(args.input)
        lengths = {"keep": None, "add": True, "remove": False}[args.group_lengths]
        write(ds, args.output, transfer_syntax=ts, part10=not args.raw,
              group_lengths=lengths, defined_lengths=args.defined_lengths)
    except (DicomError, OSError) as exc:
        print(f"dicomkit convert: {exc}", file=sys.stderr)
        return 1
    return 0
