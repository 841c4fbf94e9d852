"""Making a Segmentation instance from numpy masks (PS3.3 A.51 Segmentation IOD, A.51.5 and
C.8.20; the Label Map Segmentation IOD of Supplement 243, 2024).

The masks are read one source frame at a time, twice: a first pass finds which frames of which
segment hold anything (empty ones are omitted, PS3.3 C.8.20.2.2), a second one writes each
frame's values straight into a Pixel Data buffer allocated once at its final size. Nothing
sized frames × rows × columns × segments is ever allocated beyond the caller's own masks (which
may be a ``numpy.memmap``), and no Python object is made per pixel.

BINARY frames are bit-packed (Bits Allocated 1, PS3.5 §8.1.1): the bits of frame *k* start at
bit *k* × rows × columns of the value, so frames follow each other without byte padding
(PS3.3 C.8.20.2.1 note: a frame need not start on a byte boundary).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.writer import IMPLEMENTATION_VERSION_NAME
from dicomkit.iod.codes import Code
from dicomkit.iod.modules import require
from dicomkit.pixels.codecs import codec_for
from dicomkit.pixels.encapsulated import encapsulate
from dicomkit.pixels.info import PixelInfo
from dicomkit.seg.description import SegmentDescription
from dicomkit.seg.errors import SegmentationError
from dicomkit.seg.geometry import (
    SourceFrame,
    Sources,
    SourceSeries,
    along,
    load_sources,
    normal,
    source_series,
)

KINDS = ("BINARY", "FRACTIONAL", "LABELMAP")
FRACTIONAL_TYPES = ("PROBABILITY", "OCCUPANCY")

SOURCE_IMAGE_PURPOSE = Code("121322", "DCM", "Source image for image processing operation")
"""PS3.16 CID 7202: the Purpose of Reference of a source image in Derivation Image."""
SEGMENTATION_DERIVATION = Code("113076", "DCM", "Segmentation")
"""PS3.16 CID 7203: the Derivation Code of a segmentation."""

# Tags of the per-frame items, set by number: there are frames × segments of them.
DERIVATION_IMAGE_SEQUENCE = 0x00089124
FRAME_CONTENT_SEQUENCE = 0x00209111
DIMENSION_INDEX_VALUES = 0x00209157
PLANE_POSITION_SEQUENCE = 0x00209113
IMAGE_POSITION = 0x00200032
SEGMENT_IDENTIFICATION_SEQUENCE = 0x0062000A
REFERENCED_SEGMENT_NUMBER = 0x0062000B

NATIVE_SYNTAXES = ("ExplicitVRLittleEndian", "ImplicitVRLittleEndian",
                   "DeflatedExplicitVRLittleEndian")
LOSSLESS_SYNTAXES = ("RLELossless", "JPEGLSLossless", "JPEG2000Lossless")
"""Encapsulated syntaxes a FRACTIONAL or LABELMAP segmentation may be written in: only lossless
ones, a segmentation's values are labels, not intensities."""


@dataclass(frozen=True)
class Options:
    kind: str
    fractional_type: str
    max_fractional_value: int
    omit_empty_frames: bool
    transfer_syntax: str


def create(
    sources: Sources,
    masks: Any,
    segments: Sequence[SegmentDescription],
    *,
    kind: str = "BINARY",
    fractional_type: str = "PROBABILITY",
    max_fractional_value: int = 255,
    series_number: int = 1,
    series_description: str | None = None,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    instance_number: int = 1,
    content_label: str = "SEGMENTATION",
    content_description: str | None = None,
    content_creator_name: str | None = None,
    manufacturer: str = "dicomkit",
    manufacturer_model_name: str = "dicomkit",
    software_versions: str | None = None,
    device_serial_number: str = "1",
    omit_empty_frames: bool = True,
    transfer_syntax: str | None = None,
) -> Dataset:
    """A Segmentation (``kind`` BINARY or FRACTIONAL, SOP class Segmentation Storage) or Label
    Map Segmentation (``kind`` LABELMAP, Label Map Segmentation Storage) of ``sources``.

    ``sources`` is a list of single-frame images of one series (data sets, or paths read
    header-only), or one multi-frame image;
    ``masks[i]`` is drawn on source frame *i* (in the order given). ``masks`` is either
    (frames, rows, columns) of segment numbers (0 for background), or (frames, rows, columns,
    segments) with ``masks[..., j]`` the segment numbered *j* + 1: bool or 0/1 for BINARY and
    LABELMAP, floats 0..1 for FRACTIONAL (stored as round(value × ``max_fractional_value``)).
    ``segments`` describes segments 1..n, one each. Raises :class:`SegmentationError` naming
    the frame, segment or source at fault, and :class:`dicomkit.iod.modules.IODError` if the
    result would break its IOD (Type 1/2 attributes, enumerated values; PS3.3 A.51).

    The per-frame items of the frames drawn on one source frame (one per segment) share that
    source frame's Derivation Image Sequence and Plane Position Sequence items, and every
    Source Image reference shares one Purpose of Reference code item: change such an item
    in place and every frame that shares it changes.
    """
    if kind not in KINDS:
        raise SegmentationError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if fractional_type not in FRACTIONAL_TYPES:
        raise SegmentationError(f"fractional_type must be PROBABILITY or OCCUPANCY, not "
                                f"{fractional_type!r}")
    if not isinstance(max_fractional_value, int) or not 1 <= max_fractional_value <= 255:
        raise SegmentationError("max_fractional_value must be 1..255 (8-bit FRACTIONAL frames)")
    options = Options(kind, fractional_type, max_fractional_value, omit_empty_frames,
                      _transfer_syntax(transfer_syntax, kind))
    series = source_series(load_sources(sources))
    for index, frame in enumerate(series.frames):
        if frame.position is None:
            raise SegmentationError(f"source frame {index}: no Image Position (Patient)")
    descriptions = _check_segments(segments)
    array = _check_masks(masks, series, len(descriptions), kind)
    layout = _layout(array, len(descriptions), options)
    pixel_data = _pixel_data(array, layout, series, len(descriptions), options)
    ds = _header(series, descriptions, layout, options, series_number=series_number,
                 series_description=series_description,
                 series_instance_uid=series_instance_uid, sop_instance_uid=sop_instance_uid,
                 instance_number=instance_number, content_label=content_label,
                 content_description=content_description,
                 content_creator_name=content_creator_name, manufacturer=manufacturer,
                 manufacturer_model_name=manufacturer_model_name,
                 software_versions=software_versions,
                 device_serial_number=device_serial_number)
    ts = ts_mod.lookup(options.transfer_syntax)
    if ts.encapsulated:
        ds.set("PixelData", pixel_data, "OB").is_undefined_length = True
    else:
        ds.set("PixelData", pixel_data, "OB" if kind != "LABELMAP" or layout.bits == 8
               else "OW")
    ds.transfer_syntax = ts
    # A writer refuses to hand out an object that breaks its IOD. Every per-frame item is
    # made by the same code, so the first stands for all (checking thousands is seconds).
    probe = ds.copy()
    probe.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:1]
    require(probe)
    return ds


# -- checks -----------------------------------------------------------------------------------
def _transfer_syntax(requested: str | None, kind: str) -> str:
    if requested is None:
        return registered("ExplicitVRLittleEndian")
    allowed = NATIVE_SYNTAXES + (LOSSLESS_SYNTAXES if kind != "BINARY" else ())
    uids = {registered(keyword): keyword for keyword in allowed}
    uid = registered(requested) if requested in allowed else requested
    if uid not in uids:
        raise SegmentationError(
            f"a {kind} segmentation is written in {', '.join(allowed)}, not {requested}"
            + (" (1-bit frames are not encapsulated)" if kind == "BINARY" else ""))
    return uid


def _check_segments(segments: Sequence[SegmentDescription]) -> list[SegmentDescription]:
    if not segments:
        raise SegmentationError("no segments described")
    for segment in segments:
        if not isinstance(segment, SegmentDescription):
            raise SegmentationError(f"segments must be SegmentDescription objects, not "
                                    f"{type(segment).__name__}")
        segment.check()
    ordered = sorted(segments, key=lambda s: s.number)
    numbers = [s.number for s in ordered]
    if numbers != list(range(1, len(ordered) + 1)):
        raise SegmentationError(f"segment numbers must be 1..n with none missing or repeated "
                                f"(PS3.3 C.8.20.2.4), got {numbers}")
    return ordered


def _check_masks(masks: Any, series: SourceSeries, count: int, kind: str) -> Any:
    array = masks if isinstance(masks, np.ndarray) else np.asarray(masks)
    frames = len(series.frames)
    expected = (frames, series.rows, series.columns)
    if array.ndim not in (3, 4) or tuple(array.shape[:3]) != expected:
        raise SegmentationError(
            f"masks of shape {tuple(array.shape)} do not fit the source series: expected "
            f"{expected} (frames, rows, columns) of segment numbers or {expected + (count,)} "
            "(frames, rows, columns, segments)")
    if array.ndim == 4 and array.shape[3] != count:
        raise SegmentationError(f"masks have {array.shape[3]} segment(s) on the last axis but "
                                f"{count} segment(s) are described")
    if array.dtype.kind not in "biuf":
        raise SegmentationError(f"masks of dtype {array.dtype} are not numbers")
    if array.ndim == 3 and array.dtype.kind == "f":
        raise SegmentationError("a (frames, rows, columns) mask holds segment numbers: give "
                                "integers, or floats shaped (frames, rows, columns, segments)")
    if kind != "FRACTIONAL" and array.ndim == 4 and array.dtype.kind == "f":
        raise SegmentationError(f"{kind} masks are bool or 0/1, not {array.dtype}")
    return array


# -- pass 1: which frames hold what -------------------------------------------------------------
@dataclass
class Layout:
    """The frames of the SEG: (segment number or 0 for LABELMAP, source frame index) in order,
    and the bits of a stored value."""

    frames: list[tuple[int, int]]
    bits: int
    overlap: bool


def _layout(array: Any, count: int, options: Options) -> Layout:
    frames = array.shape[0]
    present = np.zeros((frames, count + 1), dtype=bool)
    overlap = False
    for f in range(frames):
        plane = np.asarray(array[f])
        if plane.ndim == 2:
            present[f] = _label_counts(plane, f, count) > 0
        else:
            _check_values(plane, f, options)
            present[f, 1:] = plane.reshape(-1, count).any(axis=0)
            if options.kind != "FRACTIONAL" and int(present[f, 1:].sum()) > 1:
                hits = plane.reshape(-1, count).astype(bool).sum(axis=1)
                if int(hits.max()) > 1:
                    if options.kind == "LABELMAP":
                        raise SegmentationError(
                            f"frame {f}: segments overlap, which a LABELMAP cannot hold "
                            "(one segment number per pixel)")
                    overlap = True
    if not options.omit_empty_frames:
        present[:] = True
    if options.kind == "LABELMAP":
        order = [(0, f) for f in range(frames) if present[f, 1:].any()]
        bits = 8 if count <= 0xFF else 16
    else:
        order = [(s, f) for s in range(1, count + 1) for f in range(frames) if present[f, s]]
        bits = 1 if options.kind == "BINARY" else 8
    if not order:
        # A SEG holds at least one frame (Number of Frames is Type 1): keep the first, empty.
        order = [(0 if options.kind == "LABELMAP" else 1, 0)]
    return Layout(order, bits, overlap)


def _label_counts(plane: Any, f: int, count: int) -> Any:
    """Pixels per segment number in one frame (index 0 unused). Only the labelled pixels are
    counted: most frames of a segmentation are mostly background."""
    if plane.dtype.kind == "b":
        plane = plane.view(np.uint8)
    flat = plane.ravel()
    labelled = flat[flat != 0]
    counts = np.zeros(count + 1, dtype=np.int64)
    if not labelled.size:
        return counts
    low, high = int(labelled.min()), int(labelled.max())
    if low < 0 or high > count:
        bad = low if low < 0 else high
        raise SegmentationError(f"frame {f}: value {bad} is not a segment number (0 for "
                                f"background, 1..{count} for the segments described)")
    counts[:] = np.bincount(labelled, minlength=count + 1)
    return counts


def _check_values(plane: Any, f: int, options: Options) -> None:
    if plane.dtype.kind == "b":
        return
    for s in range(plane.shape[-1]):
        values = plane[..., s]
        low, high = values.min(), values.max()
        if options.kind == "FRACTIONAL" and plane.dtype.kind == "f":
            if not (0.0 <= low and high <= 1.0):
                raise SegmentationError(f"frame {f}, segment {s + 1}: FRACTIONAL values must "
                                        f"be 0..1, found {low if low < 0 else high}")
        elif low < 0 or high > 1:
            raise SegmentationError(f"frame {f}, segment {s + 1}: {options.kind} values must be "
                                    f"0 or 1, found {low if low < 0 else high}")


# -- pass 2: the pixel values ------------------------------------------------------------------
def _planes(plane: Any, wanted: list[int], options: Options, count: int) -> dict[int, Any]:
    """The stored values of one source frame for the segments in ``wanted`` (0: the label
    map itself)."""
    result: dict[int, Any] = {}
    if options.kind == "LABELMAP":
        if plane.ndim == 2:
            labels = plane
        else:
            flags = plane.astype(bool)
            labels = np.where(flags.any(axis=-1), flags.argmax(axis=-1) + 1, 0)
        result[0] = labels.astype(np.uint8 if count <= 0xFF else np.uint16)
        return result
    for s in wanted:
        values = plane == s if plane.ndim == 2 else plane[..., s - 1]
        if options.kind == "BINARY":
            result[s] = values.astype(bool, copy=False)
        elif values.dtype.kind == "f":
            result[s] = np.rint(values * options.max_fractional_value).astype(np.uint8)
        else:
            result[s] = values.astype(np.uint8) * np.uint8(options.max_fractional_value)
    return result


def _pixel_data(array: Any, layout: Layout, series: SourceSeries, count: int,
                options: Options) -> bytes | bytearray:
    by_source: dict[int, list[tuple[int, int]]] = {}
    for k, (s, f) in enumerate(layout.frames):
        by_source.setdefault(f, []).append((k, s))
    pixels = series.rows * series.columns
    if ts_mod.lookup(options.transfer_syntax).encapsulated:
        return _encapsulated(array, layout, by_source, series, count, options)
    # One buffer at its final size, filled in place and handed to the writer as it is
    # (a bytearray value is written without a copy, encoding/writer.py).
    if layout.bits == 1:
        value = bytearray((len(layout.frames) * pixels + 7) // 8)
    else:
        value = bytearray(len(layout.frames) * pixels * layout.bits // 8)
    buffer = np.frombuffer(value, dtype=np.uint8)
    for f in sorted(by_source):
        wanted = by_source[f]
        planes = _planes(np.asarray(array[f]), [s for _, s in wanted], options, count)
        for k, s in wanted:
            if layout.bits == 1:
                _put_bits(buffer, k * pixels, planes[s])
            else:
                data = np.ascontiguousarray(planes[s], dtype=planes[s].dtype.newbyteorder("<"))
                size = pixels * layout.bits // 8
                buffer[k * size:(k + 1) * size] = data.view(np.uint8).ravel()
    return value


def _put_bits(buffer: Any, start_bit: int, plane: Any) -> None:
    """Pack ``plane`` little-endian bit order (PS3.5 §8.1.1 / Annex D) at bit ``start_bit``."""
    bits = plane.ravel()
    shift = start_bit % 8
    first = start_bit // 8
    if shift:
        bits = np.concatenate([np.zeros(shift, dtype=bool), bits])
    packed = np.packbits(bits, bitorder="little")
    buffer[first:first + len(packed)] |= packed


def _encapsulated(array: Any, layout: Layout, by_source: dict[int, list[tuple[int, int]]],
                  series: SourceSeries, count: int, options: Options) -> bytes:
    info = PixelInfo(rows=series.rows, columns=series.columns, bits_allocated=layout.bits,
                     bits_stored=layout.bits, high_bit=layout.bits - 1,
                     transfer_syntax=options.transfer_syntax)
    codec = codec_for(options.transfer_syntax)
    encoded: list[bytes] = [b""] * len(layout.frames)
    for f in sorted(by_source):
        wanted = by_source[f]
        planes = _planes(np.asarray(array[f]), [s for _, s in wanted], options, count)
        for k, s in wanted:
            encoded[k] = codec.encode(planes[s], info)
    return encapsulate(encoded).value


# -- the header --------------------------------------------------------------------------------
PATIENT_STUDY = (
    "SpecificCharacterSet", "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
    "IssuerOfPatientID", "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName",
    "StudyID", "AccessionNumber", "StudyDescription", "PatientAge", "PatientSize",
    "PatientWeight", "ClinicalTrialSponsorName", "ClinicalTrialProtocolID",
    "ClinicalTrialProtocolName", "ClinicalTrialSiteID", "ClinicalTrialSiteName",
    "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID",
)
"""Patient, General Study, Patient Study and Clinical Trial Subject/Study attributes the SEG
shares with its source (PS3.3 C.7.1.1, C.7.2.1, C.7.2.2, C.7.1.3, C.7.2.3)."""
TYPE_2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
          "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _header(series: SourceSeries, segments: list[SegmentDescription], layout: Layout,
            options: Options, **given: Any) -> Dataset:
    source = series.study
    ds = Dataset()
    for keyword in PATIENT_STUDY:
        if keyword in source:
            ds[keyword] = source[keyword]
        elif keyword in TYPE_2:
            ds.set(keyword, None)
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")
    labelmap = options.kind == "LABELMAP"
    ds.SOPClassUID = registered("LabelMapSegmentationStorage" if labelmap
                                else "SegmentationStorage")
    ds.SOPInstanceUID = given["sop_instance_uid"] or generate_uid()
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    # General Series, Segmentation Series (PS3.3 C.7.3.1, C.8.20.1)
    ds.Modality = "SEG"
    ds.SeriesInstanceUID = given["series_instance_uid"] or generate_uid()
    ds.SeriesNumber = int(given["series_number"])
    if given["series_description"]:
        ds.SeriesDescription = given["series_description"]
    # Frame of Reference (C.7.4.1)
    ds.FrameOfReferenceUID = series.frame_of_reference
    ds.PositionReferenceIndicator = source.get("PositionReferenceIndicator") or None
    # General and Enhanced General Equipment (C.7.5.1, C.7.5.2)
    ds.Manufacturer = given["manufacturer"]
    ds.ManufacturerModelName = given["manufacturer_model_name"]
    ds.DeviceSerialNumber = given["device_serial_number"]
    ds.SoftwareVersions = given["software_versions"] or IMPLEMENTATION_VERSION_NAME
    # General Image, Multi-frame Functional Groups (C.7.6.1, C.7.6.16)
    ds.InstanceNumber = int(given["instance_number"])
    ds.ContentDate, ds.ContentTime = date, time
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.NumberOfFrames = len(layout.frames)
    # Image Pixel and Segmentation Image (C.7.6.3, C.8.20.2)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = series.rows, series.columns
    ds.BitsAllocated = ds.BitsStored = layout.bits
    ds.HighBit = layout.bits - 1
    ds.PixelRepresentation = 0
    ds.LossyImageCompression = "00"
    ds.SegmentationType = options.kind
    if options.kind == "FRACTIONAL":
        ds.SegmentationFractionalType = options.fractional_type
        ds.MaximumFractionalValue = options.max_fractional_value
    ds.SegmentSequence = [segment.to_dataset() for segment in segments]
    if options.kind != "FRACTIONAL":
        ds.SegmentsOverlap = "YES" if layout.overlap else "NO"
    ds.ContentLabel = _content_label(given["content_label"])
    ds.ContentDescription = given["content_description"]
    ds.ContentCreatorName = given["content_creator_name"]
    _dimensions(ds, labelmap)
    _functional_groups(ds, series, layout, labelmap)
    _references(ds, series)
    return ds


def _content_label(label: str) -> str:
    """Content Label is CS: upper case, digits, space and underscore, 16 characters."""
    text = (label or "").upper()
    if not text or len(text) > 16 or any(not (c.isalnum() or c in " _") for c in text) \
            or not text.isascii():
        raise SegmentationError(f"content_label {label!r} is not a Code String of at most 16 "
                                "upper-case letters, digits, spaces or underscores")
    return text


def _dimensions(ds: Dataset, labelmap: bool) -> None:
    """Multi-frame Dimension module (C.7.6.17): Referenced Segment Number, then Image Position
    (Patient); a label map only the latter."""
    organization = generate_uid()
    item = Dataset()
    item.DimensionOrganizationUID = organization
    ds.DimensionOrganizationSequence = [item]
    index = []
    if not labelmap:
        segment = Dataset()
        segment.DimensionOrganizationUID = organization
        segment.DimensionIndexPointer = 0x0062000B
        segment.FunctionalGroupPointer = 0x0062000A
        segment.DimensionDescriptionLabel = "Segment Number"
        index.append(segment)
    position = Dataset()
    position.DimensionOrganizationUID = organization
    position.DimensionIndexPointer = 0x00200032
    position.FunctionalGroupPointer = 0x00209113
    position.DimensionDescriptionLabel = "Image Position (Patient)"
    index.append(position)
    ds.DimensionIndexSequence = index


def _position_ranks(series: SourceSeries) -> list[int]:
    """1-based rank of each source frame along the slice normal (its dimension index)."""
    direction = normal(series.orientation) if series.orientation else (0.0, 0.0, 1.0)
    distances = [round(along(frame.position or (0, 0, 0), direction), 6)
                 for frame in series.frames]
    ranks = {d: r for r, d in enumerate(sorted(set(distances)), start=1)}
    return [ranks[d] for d in distances]


def _functional_groups(ds: Dataset, series: SourceSeries, layout: Layout,
                       labelmap: bool) -> None:
    shared = Dataset()
    measures = Dataset()
    if series.pixel_spacing:
        measures.PixelSpacing = list(series.pixel_spacing)
    if series.slice_thickness:
        measures.SliceThickness = series.slice_thickness
    if len(measures):
        shared.PixelMeasuresSequence = [measures]
    if series.orientation:
        orientation = Dataset()
        orientation.ImageOrientationPatient = list(series.orientation)
        shared.PlaneOrientationSequence = [orientation]
    ds.SharedFunctionalGroupsSequence = [shared]
    ranks = _position_ranks(series)
    purpose = SOURCE_IMAGE_PURPOSE.to_dataset()
    derivation_code = SEGMENTATION_DERIVATION.to_dataset()
    # The frames of one source frame (one per segment) share its Derivation Image and Plane
    # Position items: built once, not once per segment (see create()'s docstring).
    of_source: dict[int, tuple[Dataset, Dataset]] = {}
    per_frame = []
    for s, f in layout.frames:
        shared_items = of_source.get(f)
        if shared_items is None:
            source = series.frames[f]
            position = Dataset()
            position.set(IMAGE_POSITION, list(source.position or ()), "DS")
            shared_items = of_source[f] = (_derivation(source, purpose, derivation_code),
                                           position)
        item = Dataset()
        item.set(DERIVATION_IMAGE_SEQUENCE, [shared_items[0]], "SQ")
        content = Dataset()
        content.set(DIMENSION_INDEX_VALUES, [ranks[f]] if labelmap else [s, ranks[f]], "UL")
        item.set(FRAME_CONTENT_SEQUENCE, [content], "SQ")
        item.set(PLANE_POSITION_SEQUENCE, [shared_items[1]], "SQ")
        if not labelmap:
            segment = Dataset()
            segment.set(REFERENCED_SEGMENT_NUMBER, s, "US")
            item.set(SEGMENT_IDENTIFICATION_SEQUENCE, [segment], "SQ")
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame


def _derivation(source: SourceFrame, purpose: Dataset, derivation_code: Dataset) -> Dataset:
    """Derivation Image macro (C.7.6.16.2.6) naming the source frame (PS3.3 A.51.5.1)."""
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.sop_class
    reference.ReferencedSOPInstanceUID = source.sop_instance
    if source.frame_number is not None:
        reference.ReferencedFrameNumber = source.frame_number
    reference.PurposeOfReferenceCodeSequence = [purpose]
    reference.SpatialLocationsPreserved = "YES"
    derivation = Dataset()
    derivation.DerivationCodeSequence = [derivation_code]
    derivation.SourceImageSequence = [reference]
    return derivation


def _references(ds: Dataset, series: SourceSeries) -> None:
    """Common Instance Reference module (C.12.2): every source instance, in the source order."""
    instances = []
    seen: set[str] = set()
    for frame in series.frames:
        if frame.sop_instance in seen:
            continue
        seen.add(frame.sop_instance)
        item = Dataset()
        item.ReferencedSOPClassUID = frame.sop_class
        item.ReferencedSOPInstanceUID = frame.sop_instance
        instances.append(item)
    referenced = Dataset()
    referenced.SeriesInstanceUID = series.series_instance_uid
    referenced.ReferencedInstanceSequence = instances
    ds.ReferencedSeriesSequence = [referenced]
