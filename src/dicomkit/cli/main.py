"""The ``dicomkit`` command: parse arguments, call the library, print. One module per command."""

from __future__ import annotations

import argparse
import sys

from dicomkit.cli import archive, convert, dump, net, sample

DESCRIPTION = """dicomkit: read, write, convert and serve DICOM.

examples:
  dicomkit sample demo.dcm                     make a small CT image to try things on
  dicomkit dump demo.dcm                       print it as a tree
  dicomkit dump --json demo.dcm                print it as DICOM JSON
  dicomkit convert in.dcm out.dcm -t ExplicitVRBigEndian
  dicomkit echo pacs 104 --aec PACS             is the PACS there? (C-ECHO)
  dicomkit store pacs 104 --aec PACS -r study/  send a folder (C-STORE)
  dicomkit storescp --port 11112 --out in/      receive instances
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dicomkit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (dump, convert, sample, net, archive):
        module.add_parser(sub)
    return parser


def _version() -> str:
    from dicomkit import __version__

    return f"dicomkit {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
