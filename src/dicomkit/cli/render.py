"""``dicomkit render``: one frame as the PNG a viewer would show (PS3.3 C.11, C.7.6.3.1.2), or as
a Grayscale Softcopy Presentation State presents it (``--pr``; PS3.4 N.2, PS3.3 C.10)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "write one frame as an 8-bit PNG: Modality LUT, window or VOI LUT, colour to RGB"
EPILOG = """grayscale: stored values -> Modality LUT (rescale or table) -> the window given, else the
file's window or VOI LUT (--voi picks which), else the window spanning the values present
-> 0..255, inverted for MONOCHROME1. Colour: PALETTE COLOR and YBR become RGB.
With --pr PR.dcm the presentation state decides instead: its Modality LUT, Softcopy VOI LUT,
Presentation LUT shape, shutters, displayed area, rotation and flip, and its graphic and text
annotations (drawn in their layers' recommended grey or colour; the PNG is RGB then).

examples:
  dicomkit render ct.dcm ct.png                          the file's first window
  dicomkit render ct.dcm lung.png --window -600 1500     a lung window (centre, width)
  dicomkit render ct.dcm bone.png --window 300 1500 --function LINEAR_EXACT
  dicomkit render mr.dcm mr.png --voi 2                  the file's second window
  dicomkit render us.dcm frame12.png --frame 12          frame 12 of a multi-frame file
  dicomkit render cr.dcm - > cr.png                      PNG to standard output
  dicomkit render cr.dcm --pr cr-pr.dcm -o shown.png     as the presentation state says
  dicomkit render cr.dcm --pr cr-pr.dcm --size 512 512 -o fit.png
                                                         SCALE TO FIT into 512x512

exit status: 0 when the PNG was written; 1 when the file could not be read or rendered
(no pixel data, a frame out of range, a codec that is not installed, a bad window, a
presentation state that does not reference the image or cannot be applied)."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("render", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="FILE", help="DICOM file with pixel data")
    p.add_argument("output", metavar="OUT.png", nargs="?", default=None,
                   help="PNG file to write, - for stdout (or -o)")
    p.add_argument("-o", "--output", dest="output_option", metavar="OUT.png", default=None,
                   help="PNG file to write (the same as the positional OUT.png)")
    p.add_argument("--pr", metavar="PR.dcm", default=None,
                   help="apply this Grayscale Softcopy Presentation State")
    p.add_argument("--size", nargs=2, type=int, default=None, metavar=("W", "H"),
                   help="with --pr: fit a SCALE TO FIT displayed area into W x H pixels")
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

    output = args.output_option or args.output
    try:
        if output is None:
            raise ValueError("no output: give OUT.png (or -o OUT.png, - for stdout)")
        if args.pr is not None and args.window is not None:
            raise ValueError("--window and --pr: the presentation state sets the window")
        if args.size is not None and (args.pr is None or min(args.size) < 1):
            raise ValueError("--size W H needs --pr and two positive numbers")
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
        if args.pr is not None:
            from dicomkit.pixels.presentation import PresentationState, render_with_presentation

            state = PresentationState.from_dataset(read(args.pr))
            size = (args.size[0], args.size[1]) if args.size else None
            image = render_with_presentation(ds, state, args.frame - 1, size=size)
        else:
            image = render(ds, args.frame - 1, window, voi_index=args.voi - 1)
        data = to_png(image)
        if output == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            with open(output, "wb") as handle:
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
