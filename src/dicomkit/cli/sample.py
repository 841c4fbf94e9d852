"""``dicomkit sample``: write a small, realistic CT image to try the tools on."""

from __future__ import annotations

import argparse
import struct
import sys
from typing import Any

from dicomkit.core.uid import registered

HELP = "write a small synthetic CT image (64x64, 16-bit) made by dicomkit"
EPILOG = """example:
  dicomkit sample demo.dcm && dicomkit dump demo.dcm"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sample", help=HELP, description=HELP, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output", metavar="OUT", nargs="?", default="demo.dcm")
    p.add_argument("--size", type=int, default=64, help="rows and columns (default 64)")
    p.add_argument("-t", "--transfer-syntax", default="ExplicitVRLittleEndian")
    p.set_defaults(run=run)


def make_ct(size: int = 64, index: int = 1, study_uid: str | None = None,
            series_uid: str | None = None) -> Any:
    """A CT Image Storage data set with the attributes a real scanner writes."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.core.uid import generate_uid

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = registered("CTImageStorage")
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = "20261126"
    ds.StudyTime = "101500"
    ds.AccessionNumber = "A0001"
    ds.Modality = "CT"
    ds.Manufacturer = "dicomkit"
    ds.ReferringPhysicianName = "Curie^Marie"
    ds.StudyDescription = "CT chest w/o contrast"
    ds.SeriesDescription = "Axial 1.0"
    ds.PatientName = "Doe^Jane^^Dr."
    ds.PatientID = "DK-0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.SliceThickness = 1.0
    ds.KVP = 120
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = index
    ds.ImagePositionPatient = [-125.0, -125.0, -100.0 + index]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.FrameOfReferenceUID = generate_uid()
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    ds.PixelSpacing = [0.5, 0.5]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = 40.0
    ds.WindowWidth = 400.0
    ds.RescaleIntercept = -1024.0
    ds.RescaleSlope = 1.0
    code = Dataset()
    code.CodeValue = "T-D3000"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "Chest"
    ds.AnatomicRegionSequence = [code]
    block = ds.private_block(0x0029, "DICOMKIT DEMO", create=True)
    block.add_new(0x10, "LO", "private value")
    pixels = [((r * 7 + c * 13 + index) % 1024) + 512 for r in range(size) for c in range(size)]
    ds.set("PixelData", struct.pack(f"<{len(pixels)}H", *pixels), "OW")
    return ds


def run(args: argparse.Namespace) -> int:
    from dicomkit.encoding.writer import write
    from dicomkit.errors import DicomError

    try:
        write(make_ct(args.size), args.output, transfer_syntax=args.transfer_syntax)
    except (DicomError, OSError) as exc:
        print(f"dicomkit sample: {exc}", file=sys.stderr)
        return 1
    print(args.output)
    return 0
