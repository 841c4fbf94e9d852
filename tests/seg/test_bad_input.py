"""Bad masks, segments, sources and SEG objects are refused with a SegmentationError naming the
frame, segment or source at fault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomkit import read, write
from dicomkit.seg import SegmentationError, create, read_masks
from dicomkit.seg.read import Segmentation
from tests.support.segmentation import CATEGORY, LIVER, ct_series, segments


def labels() -> np.ndarray:
    values = np.zeros((5, 6, 6), dtype=np.uint8)
    values[2, 1, 1] = 1
    return values


def refused(match: str, *args: object, **kwargs: object) -> None:
    with pytest.raises(SegmentationError, match=match):
        create(*args, **kwargs)  # type: ignore[arg-type]


def test_masks_of_the_wrong_shape() -> None:
    refused(r"shape \(4, 6, 6\).*expected \(5, 6, 6\)", ct_series(), np.zeros((4, 6, 6)),
            segments())
    refused(r"shape \(5, 6, 7\)", ct_series(), np.zeros((5, 6, 7), np.uint8), segments())
    refused("3 segment\\(s\\) on the last axis but 2", ct_series(),
            np.zeros((5, 6, 6, 3), bool), segments())


def test_values_out_of_range() -> None:
    bad = labels()
    bad[3, 0, 0] = 3
    refused("frame 3: value 3 is not a segment number", ct_series(), bad, segments())
    negative = labels().astype(np.int16)
    negative[1, 0, 0] = -1
    refused("frame 1: value -1", ct_series(), negative, segments())
    fractional = np.zeros((5, 6, 6, 2), np.float32)
    fractional[4, 0, 0, 1] = 1.5
    refused("frame 4, segment 2: FRACTIONAL values must be 0..1", ct_series(), fractional,
            segments(), kind="FRACTIONAL")
    binary = np.zeros((5, 6, 6, 2), np.uint8)
    binary[0, 0, 0, 0] = 2
    refused("frame 0, segment 1: BINARY values must be 0 or 1", ct_series(), binary,
            segments())
    refused("BINARY masks are bool or 0/1", ct_series(), fractional, segments())


def test_segment_numbers_must_be_one_to_n() -> None:
    from dicomkit.seg import SegmentDescription

    gap = [SegmentDescription(1, "a", CATEGORY, LIVER), SegmentDescription(3, "b", CATEGORY,
                                                                          LIVER)]
    refused(r"1\.\.n .* got \[1, 3\]", ct_series(), labels(), gap)
    twice = [SegmentDescription(1, "a", CATEGORY, LIVER)] * 2
    refused(r"got \[1, 1\]", ct_series(), labels(), twice)
    refused("no segments", ct_series(), labels(), [])
    automatic = [SegmentDescription(1, "a", CATEGORY, LIVER, "AUTOMATIC")]
    refused("segment 1: an AUTOMATIC segment needs its algorithm", ct_series(), labels(),
            automatic)


def test_sources_without_frame_of_reference() -> None:
    sources = ct_series()
    for ds in sources:
        del ds.FrameOfReferenceUID
    refused("no Frame of Reference UID", sources, labels(), segments())


def test_sources_of_mixed_orientation() -> None:
    sources = ct_series()
    sources[3].ImageOrientationPatient = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
    refused("source 3 .*mixed orientation", sources, labels(), segments())


def test_sources_of_several_series_or_sizes() -> None:
    sources = ct_series()
    sources[2].SeriesInstanceUID = "2.25.99"
    refused("source 2 .*SeriesInstanceUID differs", sources, labels(), segments())
    sources = ct_series()
    sources[1].Rows = 8
    refused(r"source 1 .*\(8, 6\) pixels", sources, labels(), segments())


def test_overlap_in_a_labelmap() -> None:
    masks = np.zeros((5, 6, 6, 2), bool)
    masks[2, 1, 1, :] = True
    refused("frame 2: segments overlap", ct_series(), masks, segments(), kind="LABELMAP")


def test_binary_cannot_be_compressed() -> None:
    refused("1-bit frames are not encapsulated", ct_series(), labels(), segments(),
            transfer_syntax="RLELossless")
    refused("not JPEGBaseline8Bit", ct_series(), labels(), segments(), kind="LABELMAP",
            transfer_syntax="JPEGBaseline8Bit")


def test_bad_options() -> None:
    refused("kind must be one of", ct_series(), labels(), segments(), kind="MASK")
    refused("max_fractional_value", ct_series(), labels(), segments(), kind="FRACTIONAL",
            max_fractional_value=300)
    refused("content_label", ct_series(), labels(), segments(), content_label="bad-label!")


def test_seg_whose_referenced_source_is_missing(tmp_path: Path) -> None:
    sources = ct_series()
    path = tmp_path / "seg.dcm"
    write(create(sources, labels(), segments()), path)
    others = sources[:2] + sources[3:]  # source 2, which frame 1 is drawn on, left out
    with pytest.raises(SegmentationError, match=f"SEG frame 1 references source "
                                                f"{sources[2].SOPInstanceUID}"):
        read_masks(path, sources=others)


def test_broken_seg_objects(tmp_path: Path) -> None:
    path = tmp_path / "seg.dcm"
    write(create(ct_series(), labels(), segments()), path)
    ds = read(path)
    ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[0]\
        .ReferencedSegmentNumber = 7
    with pytest.raises(SegmentationError, match="SEG frame 1: Referenced Segment Number 7"):
        Segmentation(ds)
    ds = read(path)
    ds.NumberOfFrames = 3
    with pytest.raises(SegmentationError, match="Number of Frames is 3 but"):
        Segmentation(ds)
    ds = read(path)
    ds.PixelData = b""
    with pytest.raises(SegmentationError, match="Pixel Data is 0 byte"):
        read_masks(ds)
    ds = read(path)
    ds.SegmentationType = "SURFACE"
    with pytest.raises(SegmentationError, match="Segmentation Type 'SURFACE'"):
        Segmentation(ds)
    ds = read(path)
    del ds.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence
    with pytest.raises(SegmentationError, match="SEG frame 1 references no source image"):
        read_masks(ds)
    ds = read(path)
    del ds.SegmentSequence
    with pytest.raises(SegmentationError, match="no Segment Sequence"):
        Segmentation(ds)


def test_truncated_and_corrupted_segs_raise_dicom_errors(tmp_path: Path) -> None:
    """Any cut or flipped byte gives masks or a DicomError, never another exception."""
    import random

    from dicomkit.errors import DicomError

    data = bytearray((lambda p: (write(create(ct_series(), labels(), segments()), p),
                                 p.read_bytes())[1])(tmp_path / "seg.dcm"))
    rng = random.Random(5)
    cases = [bytes(data[:cut]) for cut in range(0, len(data), max(1, len(data) // 60))]
    for _ in range(300):
        corrupt = bytearray(data)
        for _ in range(3):
            corrupt[rng.randrange(132, len(corrupt))] = rng.randrange(256)
        cases.append(bytes(corrupt))
    for case in cases:
        try:
            read_masks(case)
        except DicomError:
            pass
