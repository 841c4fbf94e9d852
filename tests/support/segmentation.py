"""Source series for the segmentation tests: single-frame CT slices of one series (dicomkit
data sets and the same as pydicom data sets, for highdicom), and a multi-frame source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dicomkit import write
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.iod.codes import Code
from dicomkit.seg import AlgorithmIdentification, SegmentDescription

CATEGORY = Code("91723000", "SCT", "Anatomical Structure")
LIVER = Code("10200004", "SCT", "Liver")
KIDNEY = Code("64033007", "SCT", "Kidney")
TUMOR = Code("108369006", "SCT", "Neoplasm")
FAMILY = Code("123109", "DCM", "Manual Processing")


def ct_series(count: int = 5, rows: int = 6, columns: int = 6, *, spacing: float = 2.0,
              orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
              pixels: bool = False) -> list[Dataset]:
    """``count`` CT slices of one series and frame of reference, stacked along the normal."""
    study, series, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    slices = []
    for index in range(count):
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SOPClassUID = registered("CTImageStorage")
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID = frame_of_reference
        ds.PatientName, ds.PatientID = "Seg^Test", "SEG-1"
        ds.PatientBirthDate, ds.PatientSex = "19700101", "F"
        ds.StudyDate, ds.StudyTime, ds.StudyID = "20240105", "081500", "1"
        ds.AccessionNumber, ds.ReferringPhysicianName = "A1", "Curie^Marie"
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, index + 1
        ds.ImagePositionPatient = [-10.0, -10.0, -20.0 + spacing * index]
        ds.ImageOrientationPatient = list(orientation)
        ds.PixelSpacing = [0.5, 0.5]
        ds.SliceThickness = spacing
        ds.Rows, ds.Columns = rows, columns
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        if pixels:
            ds.set("PixelData", bytes(rows * columns * 2), "OW")
        slices.append(ds)
    return slices


def write_series(slices: list[Dataset], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in slices:
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        write(ds, path)
        paths.append(path)
    return paths


def multiframe_source(count: int = 4, rows: int = 6, columns: int = 6) -> Dataset:
    """An enhanced-CT-like multi-frame source with plane position per frame."""
    ds = ct_series(1, rows, columns)[0]
    ds.SOPClassUID = registered("EnhancedCTImageStorage")
    del ds.ImagePositionPatient
    del ds.ImageOrientationPatient
    del ds.PixelSpacing
    del ds.SliceThickness
    ds.NumberOfFrames = count
    shared = Dataset()
    orientation, measures = Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    measures.PixelSpacing, measures.SliceThickness = [0.5, 0.5], 1.0
    shared.PlaneOrientationSequence = [orientation]
    shared.PixelMeasuresSequence = [measures]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for index in range(count):
        item, position = Dataset(), Dataset()
        position.ImagePositionPatient = [0.0, 0.0, float(index)]
        item.PlanePositionSequence = [position]
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = frames
    return ds


def segments(count: int = 2, **overrides: Any) -> list[SegmentDescription]:
    algorithm = AlgorithmIdentification("unet", "1.0", FAMILY)
    types = [LIVER, KIDNEY, TUMOR]
    return [SegmentDescription(number, f"segment {number}", CATEGORY,
                               types[(number - 1) % len(types)], "AUTOMATIC", algorithm,
                               **overrides)
            for number in range(1, count + 1)]
