"""The ``dicomkit`` command: parse arguments, call the library, print. One module per command."""

from __future__ import annotations

import argparse
import importlib
import sys

DESCRIPTION = """dicomkit: read, write, convert and serve DICOM.

examples:
  dicomkit sample demo.dcm                     make a small CT image to try things on
  dicomkit dump demo.dcm                       print it as a tree
  dicomkit dump --json demo.dcm                print it as DICOM JSON
  dicomkit convert in.dcm out.dcm -t ExplicitVRBigEndian
  dicomkit render demo.dcm demo.png            the image as a viewer shows it, as PNG
  dicomkit echo pacs 104 --aec PACS             is the PACS there? (C-ECHO)
  dicomkit store pacs 104 --aec PACS -r study/  send a folder (C-STORE)
  dicomkit storescp --port 11112 --out in/      receive instances
  dicomkit worklist add order.json --data pacs/ schedule a procedure step (Modality Worklist)
  dicomkit commit pacs 104 --aec PACS *.dcm      are they safely kept? (Storage Commitment)
  dicomkit sr report.dcm                        a structured report as a text tree (--html)
  dicomkit wrap report.pdf report.dcm --like ct.dcm   a PDF into the CT's study
  dicomkit unwrap report.dcm report.pdf           and back, byte for byte
  dicomkit validate study/ --level error        does each file follow its IOD? (PS3.3)
  dicomkit deid study/ --out anon/ --key "$SECRET"  de-identify (PS3.15 Basic Profile)
  dicomkit dicomdir create /media/usb            a DICOMDIR for the files on a stick
  dicomkit import /media/cdrom/DICOMDIR --data pacs/   import what a CD lists
  dicomkit export --study 1.2.3 --out s.zip --data pacs/   a study as a ZIP with a DICOMDIR
  dicomkit inventory create --out inv/ --data pacs/   the archive's Supplement 223 inventory
  dicomkit print printer 104 --aec FILMER ct/*.dcm --format 'STANDARD\\2,2'   print a film
"""


# Which module registers each command: only the one asked for is imported, so `dicomkit dump`
# does not pay for asyncio, SQLAlchemy and the rest (scripts call dicomkit once per file).
# This table is the one list of commands; tests/cli/test_main.py checks that each module
# registers exactly the commands listed for it.
COMMANDS = {"dump": "dump", "convert": "convert", "render": "render", "sample": "sample",
            "echo": "net", "store": "net", "find": "net_query", "move": "net_query",
            "get": "net_query", "storescp": "net_storescp", "serve": "archive",
            "import": "archive", "ls": "archive", "rm": "archive", "reindex": "archive",
            "stats": "archive", "worklist": "worklist", "commit": "commit", "mpps": "mpps",
            "sr": "sr", "wrap": "wrap", "unwrap": "wrap", "validate": "validate",
            "deid": "deid", "dicomdir": "media", "export": "media",
            "print": "printing", "inventory": "inventory"}
MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dicomkit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = (COMMANDS[command],) if command in COMMANDS else MODULES
    for name in names:
        importlib.import_module(f"dicomkit.cli.{name}").add_parser(sub)
    return parser


def _version() -> str:
    from dicomkit import __version__, native

    return f"dicomkit {__version__} ({native.describe()})"


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = build_parser(args_list[0] if args_list else None)
    args, extras = parser.parse_known_args(args_list)
    if extras:
        # ``dicomkit print HOST PORT --aec X FILE…``: a command whose positional list runs on
        # after options (``print`` also takes ``ls``, so it cannot demand them up front).
        if getattr(args, "more_positionals", None) and not any(
                e.startswith("-") for e in extras):
            getattr(args, args.more_positionals).extend(extras)
        else:
            args = parser.parse_args(args_list)  # reports what it does not know
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
