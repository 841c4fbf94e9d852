"""``dicomkit wrap`` / ``dicomkit unwrap``: non-image content in DICOM and back
(:mod:`dicomkit.iod.encapsulated`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

WRAP_HELP = "put a PDF, CDA, STL/OBJ/MTL model, JPEG/PNG photo or MP4 video into a DICOM object"
WRAP_EPILOG = """The kind of document comes from its content, not its name:
  PDF        -> Encapsulated PDF             CDA (HL7 v3 XML) -> Encapsulated CDA
  STL        -> Encapsulated STL (ASCII or binary)   OBJ / MTL -> Encapsulated OBJ / MTL
  JPEG, PNG  -> VL Photographic Image (baseline JPEG kept as is; PNG stored uncompressed)
  MP4        -> Video Photographic Image (--endoscopic: Video Endoscopic), H.264 or HEVC
                kept as is in the transfer syntax its profile and level call for
Patient and study come from --like (its Patient and Study modules are copied) and from the
options, which win; the object starts a new series.

examples:
  dicomkit wrap report.pdf report.dcm --like ct/0001.dcm
  dicomkit wrap note.xml note.dcm --patient-id 12345 --patient-name "Doe^Jane" \\
      --study-uid 1.2.3.4 --accession A100
  dicomkit wrap femur.stl femur.dcm --like ct/0001.dcm --title "Left femur model"
  dicomkit wrap clip.mp4 clip.dcm --like ct/0001.dcm --endoscopic --series-number 90

exit status: 0 written; 1 the document or --like file cannot be used (the reason is printed);
2 usage."""

UNWRAP_HELP = "get back the document a wrapped DICOM object holds, byte for byte"
UNWRAP_EPILOG = """PDF, CDA, STL, OBJ and MTL come back exactly as wrapped (Encapsulated Document
cut to Encapsulated Document Length); a JPEG kept as is comes back as the same JPEG file; an
MP4 video as the same MP4 file (a raw H.264/HEVC stream stored by another tool comes back as
that stream); an uncompressed photo as a PNG of its pixels. The media type is printed on
standard error with --verbose.

examples:
  dicomkit unwrap report.dcm report.pdf
  dicomkit unwrap clip.dcm clip.mp4
  dicomkit unwrap note.dcm - > note.xml

exit status: 0 written; 1 the file cannot be read or holds no document; 2 usage."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("wrap", help=WRAP_HELP, description=WRAP_HELP, epilog=WRAP_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("document", metavar="DOC", help="the file to wrap")
    p.add_argument("output", metavar="OUT.dcm", help="the DICOM file to write")
    p.add_argument("--like", metavar="INSTANCE.dcm",
                   help="an instance of the study: its Patient and Study modules are copied")
    for option, meta in (("--patient-id", "ID"), ("--patient-name", "NAME"),
                         ("--study-uid", "UID"), ("--accession", "NUMBER")):
        p.add_argument(option, metavar=meta, help=f"{option[2:].replace('-', ' ')} "
                       "(overrides --like's)")
    p.add_argument("--title", help="Document Title (CDA: the document's own title by "
                   "default; PDF, STL, OBJ, MTL: the file name); Series Description of a "
                   "photo or video")
    p.add_argument("--series-number", type=int, metavar="N", help="Series Number (default 1)")
    p.add_argument("--endoscopic", action="store_true",
                   help="an MP4 becomes a Video Endoscopic Image (default Video Photographic)")
    p.set_defaults(run=run_wrap)
    u = sub.add_parser("unwrap", help=UNWRAP_HELP, description=UNWRAP_HELP,
                       epilog=UNWRAP_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    u.add_argument("input", metavar="IN.dcm", help="the wrapped DICOM object")
    u.add_argument("output", metavar="OUT", help="where to write the document, - for stdout")
    u.add_argument("-v", "--verbose", action="store_true",
                   help="print the document's media type and size on standard error")
    u.set_defaults(run=run_unwrap)


def run_wrap(args: argparse.Namespace) -> int:
    from dicomkit.encoding.reader import read
    from dicomkit.encoding.writer import write
    from dicomkit.errors import DicomError
    from dicomkit.iod.encapsulated import wrap

    try:
        data = Path(args.document).read_bytes()
        like = read(args.like, stop_before_pixels=True) if args.like else None
        title = args.title
        ds = wrap(data, like=like, title=title, series_number=args.series_number,
                  endoscopic=args.endoscopic, patient_id=args.patient_id,
                  patient_name=args.patient_name, study_uid=args.study_uid,
                  accession=args.accession)
        if title is None and "DocumentTitle" in ds and not ds.get("DocumentTitle") \
                and "HL7InstanceIdentifier" not in ds:
            ds.DocumentTitle = Path(args.document).name
        write(ds, args.output)
    except (OSError, ValueError, DicomError) as exc:
        print(f"dicomkit wrap: {exc}", file=sys.stderr)
        return 1
    return 0


def run_unwrap(args: argparse.Namespace) -> int:
    from dicomkit.encoding.reader import read
    from dicomkit.errors import DicomError
    from dicomkit.iod.encapsulated import unwrap

    try:
        data, media_type = unwrap(read(args.input))
        if args.output == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            from dicomkit import durable

            folder = str(Path(args.output).resolve().parent)
            durable.rename_into_place(durable.write_temporary(folder, data), args.output, [])
    except (OSError, ValueError, DicomError) as exc:
        print(f"dicomkit unwrap: {exc}", file=sys.stderr)
        return 1
    if args.verbose:
        print(f"{media_type}, {len(data)} bytes", file=sys.stderr)
    return 0
