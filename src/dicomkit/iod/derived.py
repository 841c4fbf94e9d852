"""Derived images and Secondary Capture (PS3.3 C.7.6.1.1.2, A.8.1-A.8.5): what an algorithm
made from an image, stored as a new image of the same study.

:func:`derive` takes a source image (a :class:`~dicomkit.Dataset`) and a numpy array and
returns a new instance:

- **same patient and study** (the attributes of the Patient, Clinical Trial Subject, General
  Study, Patient Study and Clinical Trial Study modules are copied), a **new series**
  (``series_uid`` to put several derived images in one) and a new SOP Instance UID;
- **Image Type** ``DERIVED\\SECONDARY`` (C.7.6.1.1.2), **Derivation Description**
  (0008,2111), **Derivation Code Sequence** (0008,9215; a code of CID 7203 "Image
  Derivation"), **Source Image Sequence** (0008,2112) with Purpose of Reference (CID 7202)
  ``(121322, DCM, "Source image for image processing operation")``;
- the **Frame of Reference** and image plane are kept when the geometry is the same (the
  array has the source's rows and columns, single-frame results);
- ``sop_class``: ``"secondary capture"`` (A.8.1, one frame, grayscale 8/16 bit or RGB),
  ``"multiframe grayscale byte"`` (A.8.3), ``"multiframe grayscale word"`` (A.8.4; any numeric
  array: values that do not fit 16-bit unsigned integers are stored through Rescale
  Slope/Intercept), ``"multiframe true color"`` (A.8.5), or ``"source"`` (the source's own
  SOP class: the array holds stored values in the source's pixel format).

The result is checked with :func:`dicomkit.iod.modules.require` before it is returned: a
derived object that breaks its IOD is refused (:class:`~dicomkit.iod.modules.IODError`).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.iod.codes import Code
from dicomkit.iod.modules import IODError, module_rules, require

SOP_CLASSES = {
    "secondary capture": "SecondaryCaptureImageStorage",
    "multiframe grayscale byte": "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
    "multiframe grayscale word": "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
    "multiframe true color": "MultiFrameTrueColorSecondaryCaptureImageStorage",
}
"""The Secondary Capture IODs :func:`derive` makes, by the name it accepts (PS3.6 keywords)."""

SOURCE_IMAGE_PURPOSE = Code("121322", "DCM", "Source image for image processing operation")
"""CID 7202: why the Source Image Sequence names the source (C.7.6.1.1.2)."""

PATIENT_AND_STUDY_MODULES = ("Patient", "ClinicalTrialSubject", "GeneralStudy", "PatientStudy",
                             "ClinicalTrialStudy")
"""The modules whose attributes a derived image shares with its source (same patient, study)."""

_GEOMETRY = ("PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient",
             "SliceThickness", "SliceLocation", "SpacingBetweenSlices")
_MAX_WORD = 65535


class DeriveError(IODError):
    """Arguments :func:`derive` cannot turn into a valid derived image."""


def derive(source: Dataset, pixels: Any, *, description: str,
           derivation_code: Code | None = None, sop_class: str = "secondary capture",
           series_uid: str | None = None, series_description: str | None = None,
           series_number: int | None = None, instance_number: int = 1,
           window: tuple[float, float] | None = None, frame_labels: Sequence[str] | None = None,
           burned_in_annotation: bool = False) -> Dataset:
    """A new image derived from ``source`` holding ``pixels`` (see the module docstring).

    ``pixels``: (rows, cols) or (rows, cols, 3) for ``"secondary capture"``; (frames, rows,
    cols) for the grayscale multi-frame classes, (frames, rows, cols, 3) uint8 for true
    colour. ``window``: (centre, width) written as the VOI LUT module's Window Centre/Width.
    """
    import numpy as np

    array = np.asarray(pixels)
    if array.dtype.kind not in "biuf" or array.size == 0:
        raise DeriveError(f"pixels must be a non-empty numeric array, not {array.dtype} "
                          f"shaped {array.shape}")
    if not description:
        raise DeriveError("a derived image needs a Derivation Description (0008,2111)")
    if sop_class == "source":
        ds = _from_source_class(source, array)
    elif sop_class in SOP_CLASSES:
        ds = _secondary_capture(source, array, sop_class)
    else:
        raise DeriveError(f"unknown sop_class {sop_class!r}: one of "
                          f"{', '.join(sorted(SOP_CLASSES))} or 'source'")
    now = datetime.datetime.now()
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SeriesNumber = "" if series_number is None else series_number
    if series_description is not None:
        ds.SeriesDescription = series_description
    elif "SeriesDescription" in ds:
        del ds.SeriesDescription
    ds.InstanceNumber = instance_number
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    if "PatientOrientation" not in ds:
        ds.set("PatientOrientation", source.get("PatientOrientation") or "", "CS")
    if "Laterality" not in ds and "Laterality" in source:
        ds.Laterality = source.Laterality
    image_type = ["DERIVED", "SECONDARY"]
    old = source.get("ImageType")
    if sop_class == "source" and old:
        old = [old] if isinstance(old, str) else list(old)
        image_type += old[2:]
    ds.ImageType = image_type
    ds.DerivationDescription = description
    if derivation_code is not None:
        ds.DerivationCodeSequence = [derivation_code.to_dataset()]
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    reference.PurposeOfReferenceCodeSequence = [SOURCE_IMAGE_PURPOSE.to_dataset()]
    ds.SourceImageSequence = [reference]
    if window is not None:
        if ds.get("SamplesPerPixel") != 1:
            raise DeriveError("window: a VOI window applies to grayscale images only")
        ds.WindowCenter, ds.WindowWidth = float(window[0]), float(window[1])
    if sop_class.startswith("multiframe"):
        ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
        frames = int(ds.NumberOfFrames)
        labels = list(frame_labels) if frame_labels is not None else [
            str(n + 1) for n in range(frames)]
        if len(labels) != frames:
            raise DeriveError(f"{len(labels)} frame label(s) for {frames} frame(s)")
        if frames > 1:
            ds.set("FrameIncrementPointer", 0x00182002, "AT")
            ds.set("FrameLabelVector", labels, "SH")
    elif burned_in_annotation:
        ds.BurnedInAnnotation = "YES"
    require(ds)
    return ds


def _shared(source: Dataset) -> Dataset:
    """The patient and study of ``source``, and its character set."""
    ds = Dataset()
    if "SpecificCharacterSet" in source:
        ds.SpecificCharacterSet = source.SpecificCharacterSet
    for module in PATIENT_AND_STUDY_MODULES:
        for rule in module_rules(module):
            if rule.tag and rule.tag in source:
                ds[rule.tag] = source[rule.tag]
    for keyword in ("StudyInstanceUID", "PatientName", "PatientID"):
        if keyword not in source:
            raise DeriveError(f"the source image has no {keyword}: a derived image belongs "
                              "to the source's patient and study")
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        if not source.get(keyword):
            raise DeriveError(f"the source image has no {keyword}: the derived image could "
                              "not reference it (Source Image Sequence)")
    return ds


def _secondary_capture(source: Dataset, array: Any, sop_class: str) -> Dataset:
    import numpy as np

    ds = _shared(source)
    ds.SOPClassUID = registered(SOP_CLASSES[sop_class])
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.Manufacturer = "dicomkit"
    ds.SecondaryCaptureDeviceManufacturer = "dicomkit"
    single = sop_class == "secondary capture"
    colour = sop_class == "multiframe true color" or (single and array.ndim == 3)
    expected = (2 if single else 3) + (1 if colour else 0)
    if array.ndim != expected or (colour and array.shape[-1] != 3):
        shape = "(rows, cols) or (rows, cols, 3)" if single else (
            "(frames, rows, cols, 3)" if colour else "(frames, rows, cols)")
        raise DeriveError(f"{sop_class}: pixels shaped {array.shape} — expected {shape}")
    frames = array if not single else array[np.newaxis]
    rows, cols = frames.shape[1:3]
    if rows > _MAX_WORD or cols > _MAX_WORD:
        raise DeriveError(f"{rows}x{cols} pixels: Rows and Columns are at most {_MAX_WORD}")
    ds.Rows, ds.Columns = rows, cols
    if not single:
        ds.NumberOfFrames = frames.shape[0]
    if colour:
        _require_range(array, 0, 255, sop_class)
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        _bits(ds, 8, 0)
        ds.set("PixelData", frames.astype(np.uint8).tobytes(), "OB")
    elif sop_class == "multiframe grayscale word":
        stored, slope, intercept = _to_word(frames)
        _grayscale(ds, 16, 0)
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = intercept, slope, "US"
        ds.set("PixelData", stored.astype("<u2").tobytes(), "OW")
    elif sop_class == "multiframe grayscale byte" or array.dtype.kind == "b" or (
            array.dtype.itemsize == 1 and array.dtype.kind == "u"):
        _require_range(array, 0, 255, sop_class)
        _grayscale(ds, 8, 0)
        if not single:
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
        ds.set("PixelData", frames.astype(np.uint8).tobytes(), "OB")
    else:  # single-frame grayscale, 16 bit
        if array.dtype.kind == "f":
            raise DeriveError("secondary capture: a float array cannot be stored as is; use "
                              "'multiframe grayscale word' (rescaled) or convert to integers")
        signed = bool(array.min() < 0)
        _require_range(array, -32768 if signed else 0, 32767 if signed else _MAX_WORD,
                       sop_class)
        _grayscale(ds, 16, int(signed))
        ds.set("PixelData", frames.astype("<i2" if signed else "<u2").tobytes(), "OW")
    if single and "FrameOfReferenceUID" in source and (rows, cols) == (
            source.get("Rows"), source.get("Columns")):
        _keep_geometry(source, ds)
    return ds


def _from_source_class(source: Dataset, array: Any) -> Dataset:
    import numpy as np

    ds = source.copy()
    for tag in list(ds.tags()):
        if tag & 0x10000 or tag >> 16 in (0x0002,):  # private and file meta elements
            del ds[tag]
    for keyword in ("IconImageSequence", "SourceImageSequence", "DerivationCodeSequence",
                    "ReferencedImageSequence", "LossyImageCompressionRatio"):
        if keyword in ds:
            del ds[keyword]
    frames = int(source.get("NumberOfFrames") or 1)
    rows, cols = int(source.get("Rows") or 0), int(source.get("Columns") or 0)
    samples = int(source.get("SamplesPerPixel") or 1)
    expected: tuple[int, ...] = (rows, cols) if frames == 1 else (frames, rows, cols)
    if samples > 1:
        expected += (samples,)
    if array.shape != expected and not (frames == 1 and array.shape == (1, *expected)):
        raise DeriveError(f"pixels shaped {array.shape}: the source's class keeps its "
                          f"geometry {expected}")
    allocated = int(source.get("BitsAllocated") or 16)
    stored_bits = int(source.get("BitsStored") or allocated)
    signed = bool(source.get("PixelRepresentation"))
    if allocated not in (8, 16) or array.dtype.kind == "f":
        raise DeriveError(f"the source's class: integer pixels of 8 or 16 bits allocated only "
                          f"(source {allocated}, pixels {array.dtype})")
    low = -(1 << (stored_bits - 1)) if signed else 0
    high = (1 << (stored_bits - 1)) - 1 if signed else (1 << stored_bits) - 1
    _require_range(array, low, high, "the source's class")
    dtype = {8: "u1", 16: "<u2"}[allocated] if not signed else {8: "i1", 16: "<i2"}[allocated]
    data = np.ascontiguousarray(array).astype(dtype).tobytes()
    if "PixelData" in ds:
        del ds.PixelData
    ds.set("PixelData", data, "OB" if allocated == 8 else "OW")
    ds.file_meta = None
    if ds.transfer_syntax is not None and ds.transfer_syntax.encapsulated:
        ds.transfer_syntax = None
    return ds


def _keep_geometry(source: Dataset, ds: Dataset) -> None:
    """Same rows and columns of a single-frame image: same plane in the same frame of
    reference (C.7.4.1, C.7.6.2)."""
    ds.FrameOfReferenceUID = source.FrameOfReferenceUID
    ds.set("PositionReferenceIndicator", source.get("PositionReferenceIndicator") or "", "LO")
    if all(k in source for k in ("PixelSpacing", "ImageOrientationPatient",
                                 "ImagePositionPatient")):
        for keyword in _GEOMETRY:
            if keyword in source:
                ds[keyword] = source[keyword]


def _bits(ds: Dataset, bits: int, signed: int) -> None:
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = signed


def _grayscale(ds: Dataset, bits: int, signed: int) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    _bits(ds, bits, signed)
    if "NumberOfFrames" in ds:
        ds.PresentationLUTShape = "IDENTITY"


def _require_range(array: Any, low: int, high: int, what: str) -> None:
    if array.dtype.kind == "b":
        return
    if array.dtype.kind == "f" and not (array == array.round()).all():
        raise DeriveError(f"{what}: pixels hold fractions; integers in [{low}, {high}] needed")
    smallest, largest = array.min(), array.max()
    if smallest < low or largest > high:
        raise DeriveError(f"{what}: pixel values span [{smallest}, {largest}], outside "
                          f"[{low}, {high}]")


def _to_word(frames: Any) -> tuple[Any, float, float]:
    """Stored 16-bit unsigned values and the Rescale Slope/Intercept that give the array back
    (exactly for integers that fit, else to 1/65535 of the range)."""
    import numpy as np

    if frames.dtype.kind == "b":
        return frames.astype(np.uint16), 1.0, 0.0
    smallest, largest = float(frames.min()), float(frames.max())
    if not np.isfinite([smallest, largest]).all():
        raise DeriveError("multiframe grayscale word: pixels hold NaN or infinity")
    integral = frames.dtype.kind in "iu" or bool((frames == np.round(frames)).all())
    if integral and smallest >= 0 and largest <= _MAX_WORD:
        return frames.astype(np.uint16), 1.0, 0.0
    if integral and largest - smallest <= _MAX_WORD:
        return (frames - smallest).astype(np.uint16), 1.0, smallest
    # DS holds 16 characters: the slope and intercept are rounded first, then used
    intercept = float(f"{smallest:.9g}")
    slope = float(f"{((largest - intercept) or 1.0) / _MAX_WORD:.9g}")
    stored = np.clip(np.round((frames.astype(np.float64) - intercept) / slope), 0, _MAX_WORD)
    return stored.astype(np.uint16), slope, intercept
