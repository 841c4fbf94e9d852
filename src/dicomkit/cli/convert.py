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
compressed (pixel data is decoded and encoded again, frame by frame):
  RLELossless 1.2.840.10008.1.2.5, JPEGLossless .4.57, JPEGLosslessSV1 .4.70,
  JPEGLSLossless .4.80, JPEG2000Lossless .4.90, HTJ2KLossless .4.201,
  HTJ2KLosslessRPCL .4.202, DeflatedImageFrameCompression 1.2.840.10008.1.2.8.1;
  lossy, only with --lossy: JPEGBaseline8Bit .4.50, JPEGExtended12Bit .4.51,
  JPEGLSNearLossless .4.81, JPEG2000 .4.91, HTJ2K .4.203

--quality: JPEG 1-100 (default 90); JPEG-LS the NEAR bound (default 2);
  JPEG 2000 the target PSNR in dB (default 50); HTJ2K the quantisation step (default 0.005)

examples:
  dicomkit convert in.dcm out.dcm --transfer-syntax implicit
  dicomkit convert in.dcm out.dcm -t 1.2.840.10008.1.2.1.99
  dicomkit convert ct.dcm ct-j2k.dcm -t JPEG2000Lossless
  dicomkit convert us.dcm us-jpeg.dcm -t JPEGBaseline8Bit --lossy --quality 85

exit status: 0 on success, 1 when the file could not be read or converted (a lossy target
without --lossy, an image the target cannot carry, corrupt pixel data)."""


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
    p.add_argument("--lossy", action="store_true",
                   help="allow a lossy target transfer syntax (PS3.3 C.7.6.1.1.5 flags are set)")
    p.add_argument("--quality", type=float, default=None, metavar="Q",
                   help="lossy quality, per codec (see below)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dicomkit.encoding.reader import read
    from dicomkit.encoding.transfer_syntax import lookup
    from dicomkit.encoding.writer import write
    from dicomkit.errors import DicomError
    from dicomkit.pixels.transcode import transcode

    try:
        ts = lookup(args.transfer_syntax)
        ds = read(args.input)
        opts = {} if args.quality is None else {"quality": args.quality}
        ds = transcode(ds, ts, lossy_ok=args.lossy, **opts)
        lengths = {"keep": None, "add": True, "remove": False}[args.group_lengths]
        write(ds, args.output, transfer_syntax=ts, part10=not args.raw,
              group_lengths=lengths, defined_lengths=args.defined_lengths)
    except (DicomError, OSError) as exc:
        print(f"dicomkit convert: {exc}", file=sys.stderr)
        return 1
    return 0
