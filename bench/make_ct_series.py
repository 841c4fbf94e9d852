"""Make a synthetic CT series for the read benchmarks, written with dicomkit itself.

Each file is a CT Image Storage instance, Part 10, explicit VR little endian, 512x512x16-bit
(Rows/Columns configurable), with a header modelled on what a multi-slice CT scanner writes:
~150 elements counting nested ones, ProcedureCodeSequence, ReferencedImageSequence,
AnatomicRegionSequence, RequestAttributesSequence (with ScheduledProtocolCodeSequence nested two
deep), CTDIPhantomTypeCodeSequence and a private block in group 0009.

    python bench/make_ct_series.py --out bench/data/ct --count 1000

Existing files with the expected count are reused unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))  # run from a checkout without installing

import numpy as np  # noqa: E402

from dicomkit import Dataset, write  # noqa: E402
from dicomkit.core.uid import generate_uid  # noqa: E402

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _code(value: str, scheme: str, meaning: str, **extra: Any) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    for key, val in extra.items():
        setattr(item, key, val)
    return item


def make_template(rows: int, cols: int, study_uid: str, series_uid: str, for_uid: str) -> Dataset:
    """Every attribute shared by the slices of the series; per-slice ones are set later."""
    ds = Dataset()
    # -- SOP Common, General Study/Series/Equipment (group 0008) -----------------------------
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "CT_SOM5 SPI"]
    ds.InstanceCreationDate = "20261126"
    ds.InstanceCreationTime = "101512.123456"
    ds.InstanceCreatorUID = "1.3.6.1.4.1.99999.1"
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate = "20261126"
    ds.SeriesDate = "20261126"
    ds.AcquisitionDate = "20261126"
    ds.ContentDate = "20261126"
    ds.StudyTime = "101500"
    ds.SeriesTime = "101504.250000"
    ds.AcquisitionTime = "101506.500000"
    ds.ContentTime = "101506.500000"
    ds.AccessionNumber = "ACC20261126001"
    ds.Modality = "CT"
    ds.Manufacturer = "DICOMKIT MEDICAL SYSTEMS"
    ds.InstitutionName = "General Hospital of Benchmarks"
    ds.InstitutionAddress = "1 Scanner Road\\Springfield\\XX 00000"
    ds.ReferringPhysicianName = "Curie^Marie^^Dr."
    ds.StationName = "CTSCAN01"
    ds.StudyDescription = "CT CHEST ABDOMEN PELVIS W CONTRAST"
    ds.ProcedureCodeSequence = [
        _code("CTCAP", "99LOCAL", "CT Chest Abdomen Pelvis with contrast"),
    ]
    ds.SeriesDescription = "Body 1.0 Br40 3"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.PerformingPhysicianName = "Roentgen^Wilhelm"
    ds.OperatorsName = ["Tech^Alice", "Tech^Bob"]
    ds.ManufacturerModelName = "Benchmark CT 128"
    ds.ReferencedImageSequence = [
        _code_ref(generate_uid()),
        _code_ref(generate_uid()),
    ]
    ds.DerivationDescription = ""
    ds.AnatomicRegionSequence = [_code("T-D3000", "SRT", "Chest")]
    ds.IrradiationEventUID = generate_uid()
    ds.TimezoneOffsetFromUTC = "+0100"
    # -- Patient (group 0010) ----------------------------------------------------------------
    ds.PatientName = "Doe^Jane^Q^^"
    ds.PatientID = "DK0000123456"
    ds.IssuerOfPatientID = "DICOMKIT HOSPITAL"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.OtherPatientIDsSequence = [_other_id("OLD-99887", "LEGACY RIS")]
    ds.PatientAge = "056Y"
    ds.PatientSize = 1.68
    ds.PatientWeight = 64.5
    ds.PatientAddress = "22 Example Street^^Springfield"
    ds.EthnicGroup = ""
    ds.AdditionalPatientHistory = "Follow-up of pulmonary nodule, no known allergies"
    ds.PregnancyStatus = 4
    ds.PatientComments = "Synthetic patient for benchmarks"
    ds.PatientIdentityRemoved = "NO"
    # -- Private block, group 0009 ---------------------------------------------------------
    block = ds.private_block(0x0009, "DICOMKIT BENCH 01", create=True)
    block.add_new(0x01, "LO", "BENCH_PROTOCOL_7")
    block.add_new(0x02, "SH", "RECON 3")
    block.add_new(0x04, "DS", "0.625")
    block.add_new(0x05, "SL", -2)
    block.add_new(0x06, "US", [1, 2, 3, 4])
    block.add_new(0x07, "FD", [0.5, 0.25])
    block.add_new(0x08, "UL", 123456)
    block.add_new(0x10, "OB", bytes(range(64)))
    block.add_new(0x11, "UT", "free text " * 12)
    block.add_new(0x12, "DT", "20261126101506.500000")
    # -- Acquisition (group 0018) -------------------------------------------------------------
    ds.ContrastBolusAgent = "IOHEXOL 350"
    ds.BodyPartExamined = "CHEST"
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = 1.0
    ds.KVP = 120
    ds.DataCollectionDiameter = 500.0
    ds.DeviceSerialNumber = "SN-000042"
    ds.SoftwareVersions = ["VB20A", "SOMARIS 7"]
    ds.ProtocolName = "CAP_ROUTINE_1.0"
    ds.ContrastBolusVolume = 80.0
    ds.ContrastBolusRoute = "IV"
    ds.ContrastBolusStartTime = "101430"
    ds.ContrastBolusTotalDose = 28.0
    ds.ContrastFlowRate = [3.5]
    ds.ContrastFlowDuration = [23.0]
    ds.ContrastBolusIngredient = "IODINE"
    ds.ContrastBolusIngredientConcentration = 350.0
    ds.ReconstructionDiameter = 380.0
    ds.DistanceSourceToDetector = 1085.6
    ds.DistanceSourceToPatient = 595.0
    ds.GantryDetectorTilt = 0.0
    ds.TableHeight = 160.0
    ds.RotationDirection = "CW"
    ds.ExposureTime = 500
    ds.XRayTubeCurrent = 245
    ds.Exposure = 122
    ds.FilterType = "FLAT"
    ds.GeneratorPower = 29
    ds.FocalSpots = [1.2]
    ds.DateOfLastCalibration = "20261120"
    ds.TimeOfLastCalibration = "070000"
    ds.ConvolutionKernel = ["Br40d", "3"]
    ds.PatientPosition = "FFS"
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.6
    ds.TotalCollimationWidth = 38.4
    ds.TableSpeed = 46.0
    ds.TableFeedPerRotation = 23.0
    ds.SpiralPitchFactor = 0.6
    ds.DataCollectionCenterPatient = [0.0, -180.0, -600.0]
    ds.ReconstructionTargetCenterPatient = [0.0, -180.0, -600.0]
    ds.ExposureModulationType = "XYZ_EC"
    ds.CTDIvol = 8.73
    ds.ReconstructionAlgorithm = "ITERATIVE"
    ds.EstimatedDoseSaving = 23.5
    ds.CTDIPhantomTypeCodeSequence = [_code("113691", "DCM", "IEC Body Dosimetry Phantom")]
    # -- Relationship / plane / image (group 0020) --------------------------------------------
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "4711"
    ds.SeriesNumber = 3
    ds.AcquisitionNumber = 2
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [-190.0, -370.0, -100.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = -100.0
    ds.ImageComments = "synthetic slice"
    # -- Image pixel (group 0028) ------------------------------------------------------------
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = [0.7421875, 0.7421875]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = [40.0, 300.0]
    ds.WindowWidth = [400.0, 1500.0]
    ds.RescaleIntercept = -1024.0
    ds.RescaleSlope = 1.0
    ds.RescaleType = "HU"
    ds.WindowCenterWidthExplanation = ["WINDOW1", "WINDOW2"]
    ds.QualityControlImage = "NO"
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "00"
    # -- Request / performed procedure (groups 0032, 0040) -----------------------------------
    ds.RequestingPhysician = "House^Gregory"
    ds.RequestedProcedureDescription = "CT CAP W CONTRAST"
    ds.RequestedProcedureCodeSequence = [_code("CTCAP", "99LOCAL", "CT CAP")]
    ds.PerformedProcedureStepStartDate = "20261126"
    ds.PerformedProcedureStepStartTime = "101400"
    ds.PerformedProcedureStepEndDate = "20261126"
    ds.PerformedProcedureStepEndTime = "102000"
    ds.PerformedProcedureStepID = "PPS4711"
    ds.PerformedProcedureStepDescription = "CT CAP W CONTRAST"
    ds.PerformedProtocolCodeSequence = [_code("CAP1", "99LOCAL", "CAP routine")]
    request = Dataset()
    request.RequestedProcedureID = "RP4711"
    request.ScheduledProcedureStepDescription = "CT CAP"
    # Nested two deep: RequestAttributesSequence > ScheduledProtocolCodeSequence >
    # ProtocolContextSequence > ConceptNameCodeSequence.
    protocol = _code("CAP1", "99LOCAL", "CAP routine")
    context = Dataset()
    context.ValueType = "TEXT"
    context.ConceptNameCodeSequence = [_code("113000", "DCM", "Protocol note")]
    context.TextValue = "arms up"
    protocol.ProtocolContextSequence = [context]
    request.ScheduledProtocolCodeSequence = [protocol]
    request.ScheduledProcedureStepID = "SPS4711"
    ds.RequestAttributesSequence = [request]
    ds.PresentationIntentType = "FOR PRESENTATION"
    return ds


def _code_ref(uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = CT_IMAGE_STORAGE
    item.ReferencedSOPInstanceUID = uid
    return item


def _other_id(pid: str, issuer: str) -> Dataset:
    item = Dataset()
    item.PatientID = pid
    item.IssuerOfPatientID = issuer
    item.TypeOfPatientID = "TEXT"
    return item


def count_elements(ds: Dataset) -> tuple[int, int]:
    """(top-level elements, all elements including those in sequence items)."""
    return len(ds), sum(1 for _ in ds.walk())


def base_image(rows: int, cols: int) -> np.ndarray:
    """A smooth 12-bit phantom-like picture (a disc with some structure)."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    r = np.hypot(x - cols / 2, y - rows / 2) / (min(rows, cols) / 2)
    img = np.where(r < 0.9, 1024 + 40 + 60 * np.sin(x / 9) * np.cos(y / 13), 24)
    return img.astype(np.uint16)


def make_series(out: Path, count: int, rows: int, cols: int, force: bool = False) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"CT{i:05d}.dcm" for i in range(1, count + 1)]
    existing = sorted(out.glob("CT*.dcm"))
    if not force and len(existing) == count and all(p.exists() for p in paths):
        print(f"{out}: {count} files already there (use --force to remake)")
        return paths
    for stale in existing:
        stale.unlink()
    template = make_template(rows, cols, generate_uid(), generate_uid(), generate_uid())
    top, total = count_elements(template)
    print(f"header: {top + 1} top-level elements (incl. PixelData), {total + 1} in all")
    image = base_image(rows, cols)
    start = time.perf_counter()
    for index, path in enumerate(paths, 1):
        ds = template
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = index
        z = -100.0 + 0.5 * (index - 1)
        ds.ImagePositionPatient = [-190.0, -370.0, z]
        ds.SliceLocation = z
        ds.ContentTime = f"1015{index % 60:02d}.{index:06d}"
        ds.set("PixelData", (image + (index % 64)).tobytes(), "OW")
        with open(path, "wb") as handle:  # a stream: dicomkit skips its per-file fsync
            write(ds, handle, transfer_syntax="ExplicitVRLittleEndian")
    elapsed = time.perf_counter() - start
    size = sum(p.stat().st_size for p in paths)
    print(f"wrote {count} files, {size / 1e6:.1f} MB, to {out} in {elapsed:.1f} s")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "data" / "ct")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--cols", type=int, default=512)
    parser.add_argument("--force", action="store_true", help="remake even if files exist")
    args = parser.parse_args(argv)
    make_series(args.out, args.count, args.rows, args.cols, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
