"""``dicomkit sr``: render a structured report as an indented text tree or an HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "render a structured report (SR, KOS) as a text tree or as HTML"
EPILOG = """examples:
  dicomkit sr report.dcm                   the content tree, one line per content item
  dicomkit sr --html report.dcm -o r.html  a self-contained HTML page (header and tree)
  dicomkit sr --no-check report.dcm        render without checking the IOD's constraints

Each line of the tree: position path (1.3.2), relationship, value type, concept name, value
with units; by-reference relationships name the item they point at.

exit status: 0 rendered; 1 the file is not an SR document, cannot be read, or its content
breaks its IOD (the reason, naming the content item, goes to stderr)."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sr", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="an SR document (Part 10 file)")
    p.add_argument("--html", action="store_true", help="write an HTML page instead of text")
    p.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")
    p.add_argument("--no-check", action="store_true",
                   help="do not check the content against the IOD (PS3.3 A.35)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dicomkit.sr import SRError, load, read, render_html, render_text

    try:
        ds = load(args.file)
        root = read(ds, validate=not args.no_check)
        text = render_html(ds) if args.html else render_text(root)
    except SRError as exc:
        print(f"dicomkit sr: {args.file}: {exc}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
