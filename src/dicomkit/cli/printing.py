"""``dicomkit print``: print DICOM images on a DICOM printer (Print Management SCU, PS3.4 H),
and ``dicomkit print ls``: the films an archive's virtual printer has kept.

Exit status: 0 only when every print job reached DONE; 1 when the printer refused a step, a
job ended in FAILURE or did not finish in time, or the association failed; 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dicomkit.cli.net import (
    COMMON_EPILOG,
    UsageError,
    add_security_options,
    ae_title,
    error,
    run,
    ssl_context,
    timeouts,
)

EXAMPLES = """\
  dicomkit print printer 104 --aec FILMER ct/*.dcm --format 'STANDARD\\2,2'
                        four CT slices a film, as many films as it takes
  dicomkit print printer 104 --aec FILMER ct1.dcm --window 40,400 --film-size 14INX17IN
  dicomkit print localhost 11112 --aec DICOMKIT us.dcm --color --annotation 'Left kidney'
  dicomkit print localhost 11112 --aec DICOMKIT ct/*.dcm --identify
                        tell a dicomkit archive whose images these are: the PDF is filed
                        in their study
  dicomkit print ls --data /srv/pacs    the films printed to `dicomkit serve --print`
"""


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "print", help="print images on a DICOM printer (Print Management SCU), or list "
        "printed films (print ls)",
        description="Print DICOM images on a DICOM printer (PS3.4 H): each image through its "
        "Modality and VOI LUTs (or --window) into a preformatted image box; waits for the "
        "print job's final status. `dicomkit print ls` lists the films an archive printed.",
        epilog="examples:\n" + EXAMPLES + COMMON_EPILOG
        + "\nprint: 0 only when every print job reached DONE.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("host", help="the printer's host name or address (or: ls)")
    p.add_argument("rest", nargs="*", metavar="PORT FILE",
                   help="the printer's TCP port, then DICOM files")
    p.add_argument("--aet", default="DICOMKIT", type=ae_title,
                   help="our (calling) AE title [DICOMKIT]")
    p.add_argument("--aec", default="ANY-SCP", type=ae_title,
                   help="the printer's (called) AE title [ANY-SCP]")
    p.add_argument("--format", default="STANDARD\\1,1", metavar="FORMAT",
                   help="Image Display Format: STANDARD\\C,R, ROW\\…, COL\\…, SLIDE, "
                   "SUPERSLIDE, CUSTOM\\i [STANDARD\\1,1]")
    p.add_argument("--film-size", metavar="ID", help="Film Size ID, e.g. 14INX17IN, A4")
    p.add_argument("--orientation", choices=["PORTRAIT", "LANDSCAPE"])
    p.add_argument("--copies", type=int, default=1, help="Number of Copies [1]")
    p.add_argument("--color", action="store_true",
                   help="Basic Color Print Management (RGB image boxes)")
    p.add_argument("--window", metavar="C,W",
                   help="window center,width for grayscale images (default: the file's)")
    p.add_argument("--annotation", metavar="TEXT", help="text of annotation box 1")
    p.add_argument("--label", metavar="TEXT", help="Film Session Label")
    p.add_argument("--medium", metavar="TYPE", help="Medium Type, e.g. PAPER, BLUE FILM")
    p.add_argument("--identify", action="store_true",
                   help="add each image's patient and study to its image box (a dicomkit "
                   "archive then files the printed film in that study)")
    p.add_argument("--data", metavar="DIR", help="print ls: the archive's data folder")
    p.add_argument("--index", metavar="URL", help="print ls: the archive's index")
    p.add_argument("--config", metavar="FILE.toml", help="print ls: serve's config file")
    add_security_options(p)
    p.set_defaults(run=run_print, more_positionals="rest")


def run_print(args: argparse.Namespace) -> int:
    if args.host == "ls":
        return run_ls(args)
    return run(args, _print)


def _window(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        center, width = (float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--window {text!r}: give CENTER,WIDTH, e.g. 40,400") from None
    if width <= 0:
        raise UsageError("--window: the width must be positive")
    return center, width


async def _print(args: argparse.Namespace) -> int:
    import asyncio

    from dicomkit.net.client import connect
    from dicomkit.net.uids import EXPLICIT_VR_LE, IMPLICIT_VR_LE
    from dicomkit.pixels.film import DisplayFormatError, parse_display_format
    from dicomkit.services import print as print_scp
    from dicomkit.services.print_scu import FilmOptions, PrintFailure, print_images

    if not args.rest:
        raise UsageError("give the printer's PORT and the FILES to print")
    try:
        port = int(args.rest[0])
    except ValueError:
        raise UsageError(f"port {args.rest[0]!r} is not a number") from None
    files = args.rest[1:]
    if not files:
        raise UsageError("no FILES to print")
    if args.copies < 1:
        raise UsageError("--copies is 1 or more")
    try:
        parse_display_format(args.format)
    except DisplayFormatError as exc:
        raise UsageError(str(exc)) from None
    window = _window(args.window)
    images, identities = await asyncio.to_thread(_render, files, window, args.identify)
    syntaxes = [EXPLICIT_VR_LE, IMPLICIT_VR_LE]
    meta = print_scp.COLOR_META if args.color else print_scp.GRAYSCALE_META
    contexts = [(meta, syntaxes), (print_scp.PRINT_JOB, syntaxes)]
    if args.annotation:
        contexts.append((print_scp.ANNOTATION_BOX, syntaxes))
    options = FilmOptions(args.format, args.film_size, args.orientation, args.copies,
                          args.color, args.annotation, args.medium, None, args.label,
                          timeout=float(args.timeout or 120))
    async with connect(args.host, port, calling_aet=args.aet, called_aet=args.aec,
                       contexts=contexts, timeouts=timeouts(args),
                       ssl_context=ssl_context(args, server=False)) as client:
        try:
            result = await print_images(client, images, options, identities)
        except PrintFailure as exc:
            error(args, f"the printer refused {exc}")
            return 1
    for step, status in result.warnings:
        print(f"warning: {step}: status 0x{status:04X}", file=sys.stderr)
    films = len(result.job_uids)
    if not args.quiet:
        jobs = ", ".join(uid or "(no Print Job SOP Class)" for uid in result.job_uids)
        print(f"{len(images)} image(s) on {films} film(s): {result.status}; print job(s) {jobs}")
    return 0 if result.status == "DONE" else 1


def _render(files: list[str], window: tuple[float, float] | None,
            identify: bool) -> tuple[list[Any], list[Any]]:
    """Each frame of each file as it prints (grey through Modality/VOI LUT, or RGB), and its
    patient/study when ``identify``."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.encoding.reader import read
    from dicomkit.errors import DicomError
    from dicomkit.pixels.render import render
    from dicomkit.services.print_rules import IDENTIFYING

    images, identities = [], []
    for path in files:
        try:
            ds = read(path)
            frames = int(ds.get("NumberOfFrames") or 1)
            ident = None
            if identify:
                ident = Dataset()
                for keyword in IDENTIFYING:
                    if keyword in ds:
                        ident[keyword] = ds[keyword]
            for frame in range(frames):
                grey = str(ds.get("PhotometricInterpretation") or "").startswith("MONOCHROME")
                images.append(render(ds, frame, window if grey else None))
                identities.append(ident)
        except (DicomError, OSError, ValueError) as exc:
            raise UsageError(f"{path}: cannot render: {exc}") from exc
    return images, identities


def run_ls(args: argparse.Namespace) -> int:
    from dicomkit.archive.print_queue import printed_films
    from dicomkit.cli.archive import open_archive

    archive = open_archive(args)
    try:
        films = printed_films(archive)
    finally:
        archive.close()
    for film in films:
        when = f"{film.date} {film.time[:6]}".strip()
        print(f"{when}  {film.patient_id:<12} {film.title:<30} {film.sop_uid}  "
              f"{film.description}")
    if not films and not args.quiet:
        print("no printed films", file=sys.stderr)
    return 0
