"""``dicomkit render``: one frame as the PNG a viewer would show (PS3.3 C.11, C.7.6.3.1.2)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "write one frame as an 8-bit PNG: Modality LUT, window or VOI LUT, colour to RGB"
EPILOG = """grayscale: stored values -> Modality LUT (rescale or table) -> the window given, else the
file's window or VOI LUT (--voi picks which), else the window spanning the values present
-> 0..255, inverted for MONOCHROME1. Colour: PALETTE COLOR and YBR become RGB.

examples:
  dicomkit render ct.dcm ct.png                          the file's first window
  dicomkit render ct.dcm lung.png --window -600 1500     a lung window (centre, width)
  dicomkit render ct.dcm bone.png --window 300 1500 --function LINEAR_EXACT
  dicomkit render mr.dcm mr.png --voi 2                  the file's second window
  dicomkit render us.dcm frame12.png --frame 12          frame 12 of a multi-frame file
  dicomkit render cr.dcm - > cr.png                      PNG to standard output

exit status: 0 when the PNG was written; 1 when the file could not be read or rendered
(no pixel data, a frame out of range, a codec that is not installed, a bad window)."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("render", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="FILE", help="DICOM file with pixel data")
    p.add_argument("output", metavar="OUT.png", help="PNG file to write, - for stdout")
    p.add_argument("--frame", type=int, default=1, metavar="N",
                   help="frame number, counted from 1 as DICOM and dcm2pnm count (default 1)")
    p.add_argument("--window", nargs=2, type=float, default=None, metavar=("C", "W"),
                   help="window centre and width in modality values (replaces the file's)")
    p.add_argument("--function", default="LINEAR",
                   choices=["LINEAR", "LINEAR_EXACT", "SIGMOID"],
                   help="VOI LUT Function for --window (PS3.3 C.11.2.1.3; default LINEAR)")
    p.add_argument("--voi", type=int, default=1, metavar="N",
                   help="which of the file's windows (or VOI LUTs) to use, from 1 (default 1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dicomkit.encoding.reader import read
    from dicomkit.errors import DicomError

    try:
        if args.frame < 1:
            raise ValueError(f"--frame {args.frame}: frames are numbered from 1")
        if args.voi < 1:
            raise ValueError(f"--voi {args.voi}: windows are numbered from 1")
        from dicomkit.pixels.render import render, to_png

        ds = read(args.input)
        count = _frame_count(ds)
        if args.frame > count:
            raise ValueError(f"--frame {args.frame}: the image has {count} frame(s)")
        offered = _voi_count(ds, args.frame - 1)
        if args.window is None and args.voi > max(offered, 1):
            raise ValueError(f"--voi {args.voi}: the file has {offered} window(s) or VOI LUT(s)")
        window = None
        if args.window is not None:
            window = (args.window[0], args.window[1], args.function)
        image = render(ds, args.frame - 1, window, voi_index=args.voi - 1)
        data = to_png(image)
        if args.output == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            with open(args.output, "wb") as handle:
                handle.write(data)
    except (DicomError, OSError, ValueError, IndexError, ImportError) as exc:
        print(f"dicomkit render: {args.input}: {exc}", file=sys.stderr)
        return 1
    return 0


def _frame_count(ds: Any) -> int:
    value = ds.get("NumberOfFrames")
    try:
        return max(1, int(str(value).strip())) if value not in (None, "") else 1
    except ValueError:
        return 1


def _voi_count(ds: Any, frame: int) -> int:
    """How many views --voi chooses among: the windows, else the VOI LUTs (as render does)."""
    from dicomkit.pixels.lut import voi_luts, windows

    return len(windows(ds, frame)) or len(voi_luts(ds))
