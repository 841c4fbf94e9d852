"""Masks → SEG → masks is the identity for each kind (PS3.3 A.51, C.8.20; Supplement 243)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomkit import read, write
from dicomkit.core.uid import registered
from dicomkit.seg import Segmentation, create, read_masks, read_segments
from tests.support.segmentation import ct_series, multiframe_source, segments


def label_map(frames: int = 5, rows: int = 6, columns: int = 6) -> np.ndarray:
    labels = np.zeros((frames, rows, columns), dtype=np.uint8)
    labels[1, 1:4, 1:4] = 1
    labels[2, 2:5, 2:5] = 2
    labels[2, 0, 0] = 1
    labels[3, 0, :] = 1
    return labels


def one_hot(labels: np.ndarray, count: int) -> np.ndarray:
    return np.stack([labels == n for n in range(1, count + 1)], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("kind", ["BINARY", "FRACTIONAL", "LABELMAP"])
def test_label_input_round_trip(tmp_path: Path, kind: str) -> None:
    sources, labels = ct_series(), label_map()
    path = tmp_path / "seg.dcm"
    write(create(sources, labels, segments(), kind=kind), path)
    masks = read_masks(path)
    assert masks.shape == (5, 6, 6, 2)
    assert masks.dtype == (np.float32 if kind == "FRACTIONAL" else np.uint8)
    assert np.array_equal(masks, one_hot(labels, 2))


@pytest.mark.parametrize("size", [(6, 6), (8, 8), (5, 7)])
def test_binary_one_hot_input_round_trip(tmp_path: Path, size: tuple[int, int]) -> None:
    rows, columns = size
    rng = np.random.default_rng(7)
    masks = rng.random((4, rows, columns, 3)) > 0.6
    masks[2] = False  # an empty source frame
    path = tmp_path / "seg.dcm"
    write(create(ct_series(4, rows, columns), masks, segments(3)), path)
    seg = read(path)
    assert seg.SegmentsOverlap == "YES"
    assert np.array_equal(read_masks(path), masks.astype(np.uint8))


def test_binary_frames_are_packed_across_frame_boundaries() -> None:
    """PS3.5 §8.1.1: 1-bit frames of 3×3 pixels follow each other with no padding: frame 2
    starts at bit 9, the first bit of each byte being its least significant."""
    labels = np.zeros((2, 3, 3), dtype=np.uint8)
    labels[0, 0, 0] = 1
    labels[1, 0, 0] = labels[1, 2, 2] = 1
    ds = create(ct_series(2, 3, 3), labels, segments(1))
    assert ds.BitsAllocated == 1 and ds.NumberOfFrames == 2
    # bits 0 (frame 1 pixel 0), 9 (frame 2 pixel 0) and 17 (frame 2 pixel 8)
    assert ds.PixelData == bytes([0b00000001, 0b00000010, 0b00000010])


@pytest.mark.parametrize("fractional_type", ["PROBABILITY", "OCCUPANCY"])
def test_fractional_round_trip(tmp_path: Path, fractional_type: str) -> None:
    rng = np.random.default_rng(3)
    masks = (rng.integers(0, 256, (3, 6, 6, 2)) / 255).astype(np.float32)
    masks[1, ..., 1] = 0
    path = tmp_path / "seg.dcm"
    write(create(ct_series(3), masks, segments(), kind="FRACTIONAL",
                 fractional_type=fractional_type), path)
    seg = read(path)
    assert seg.SegmentationFractionalType == fractional_type
    assert seg.MaximumFractionalValue == 255 and seg.BitsAllocated == 8
    assert seg.NumberOfFrames == 5  # segment 2 is empty on source frame 1
    assert np.allclose(read_masks(path), masks, atol=1e-6)


def test_fractional_max_value_scales(tmp_path: Path) -> None:
    masks = np.zeros((2, 4, 4, 1), dtype=np.float32)
    masks[0, 0, 0, 0] = 0.5
    masks[1, 1, 1, 0] = 1.0
    ds = create(ct_series(2, 4, 4), masks, segments(1), kind="FRACTIONAL",
                max_fractional_value=100)
    assert ds.MaximumFractionalValue == 100
    assert ds.PixelData[0] == 50 and ds.PixelData[16 + 5] == 100
    assert np.array_equal(read_masks(ds), masks)


def test_labelmap_is_its_own_sop_class(tmp_path: Path) -> None:
    ds = create(ct_series(), label_map(), segments(), kind="LABELMAP")
    assert ds.SOPClassUID == registered("LabelMapSegmentationStorage")
    assert ds.SegmentationType == "LABELMAP" and ds.BitsAllocated == 8
    assert ds.NumberOfFrames == 3  # source frames 0 and 4 are background only
    item = ds.PerFrameFunctionalGroupsSequence[0]
    assert "SegmentIdentificationSequence" not in item
    assert [i.DimensionIndexPointer for i in ds.DimensionIndexSequence] == [0x00200032]
    assert ds.PixelData[:36] == label_map()[1].tobytes()


def test_labelmap_of_more_than_255_segments_is_16_bit(tmp_path: Path) -> None:
    labels = np.zeros((2, 6, 6), dtype=np.uint16)
    labels[0] = np.arange(36).reshape(6, 6) * 8 + 1  # 1..281
    path = tmp_path / "seg.dcm"
    write(create(ct_series(2), labels, segments(300), kind="LABELMAP"), path)
    seg = Segmentation.open(path)
    assert seg.bits == 16
    assert np.array_equal(seg.frame(0), labels[0])
    assert np.array_equal(seg.segment(281)[0], labels[0] == 281)


def test_empty_frames_kept_when_asked() -> None:
    ds = create(ct_series(), label_map(), segments(), omit_empty_frames=False)
    assert ds.NumberOfFrames == 10
    values = [tuple(i.FrameContentSequence[0].DimensionIndexValues)
              for i in ds.PerFrameFunctionalGroupsSequence]
    assert values == [(s, p) for s in (1, 2) for p in range(1, 6)]


def test_all_empty_keeps_one_frame() -> None:
    ds = create(ct_series(), np.zeros((5, 6, 6), np.uint8), segments())
    assert ds.NumberOfFrames == 1
    assert not read_masks(ds).any()


def test_frames_reference_their_source_frames() -> None:
    sources = ct_series()
    ds = create(sources, label_map(), segments())
    first = ds.PerFrameFunctionalGroupsSequence[0]
    reference = first.DerivationImageSequence[0].SourceImageSequence[0]
    assert reference.ReferencedSOPInstanceUID == sources[1].SOPInstanceUID
    purpose = reference.PurposeOfReferenceCodeSequence[0]
    assert (purpose.CodeValue, purpose.CodingSchemeDesignator) == ("121322", "DCM")
    assert first.SegmentIdentificationSequence[0].ReferencedSegmentNumber == 1
    assert list(first.PlanePositionSequence[0].ImagePositionPatient) == [-10.0, -10.0, -18.0]
    listed = ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert [i.ReferencedSOPInstanceUID for i in listed] == [s.SOPInstanceUID for s in sources]
    assert ds.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    assert ds.StudyInstanceUID == sources[0].StudyInstanceUID
    assert ds.SeriesInstanceUID != sources[0].SeriesInstanceUID


def test_order_is_the_sources_given_or_along_the_normal(tmp_path: Path) -> None:
    """Without sources, single-frame sources are sorted along the normal; with them, the masks
    follow the order given."""
    sources = ct_series()
    shuffled = [sources[i] for i in (3, 0, 4, 1, 2)]
    labels = np.zeros((5, 6, 6), dtype=np.uint8)
    for i in range(5):
        labels[i, i, :] = 1  # row i marks shuffled source i
    path = tmp_path / "seg.dcm"
    write(create(shuffled, labels, segments(1), omit_empty_frames=True), path)
    assert np.array_equal(read_masks(path, sources=shuffled)[..., 0], labels)
    sorted_masks = read_masks(path)[..., 0]
    # positions of the shuffled list are slices 3, 0, 4, 1, 2: sorted order is 1, 3, 4, 0, 2
    assert np.array_equal(sorted_masks, labels[[1, 3, 4, 0, 2]])


def test_multiframe_source(tmp_path: Path) -> None:
    source = multiframe_source(4)
    labels = np.zeros((4, 6, 6), dtype=np.uint8)
    labels[2, 1, 1] = 1
    ds = create(source, labels, segments(1))
    reference = ds.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0]\
        .SourceImageSequence[0]
    assert reference.ReferencedFrameNumber == 3
    path = tmp_path / "seg.dcm"
    write(ds, path)
    assert np.array_equal(read_masks(path, sources=source)[..., 0], labels)
    assert np.array_equal(read_masks(path)[..., 0], labels[:3])  # frames 1..3 referenced


def test_segments_read_back(tmp_path: Path) -> None:
    described = segments(2, recommended_display_cielab=(40000, 30000, 20000),
                         tracking_id="lesion 1", tracking_uid="2.25.1")
    path = tmp_path / "seg.dcm"
    write(create(ct_series(), label_map(), described), path)
    assert read_segments(path) == described


def test_lazy_segment_access(tmp_path: Path) -> None:
    labels = label_map()
    path = tmp_path / "seg.dcm"
    write(create(ct_series(), labels, segments()), path)
    seg = Segmentation.open(path)
    assert seg.segment_numbers == [1, 2]
    assert np.array_equal(seg.segment(2), (labels == 2).astype(np.uint8))
    assert np.array_equal(seg.masks(segments=[2]), one_hot(labels, 2)[..., 1:])


@pytest.mark.parametrize("syntax", ["ImplicitVRLittleEndian", "DeflatedExplicitVRLittleEndian"])
def test_native_syntaxes(tmp_path: Path, syntax: str) -> None:
    path = tmp_path / "seg.dcm"
    write(create(ct_series(), label_map(), segments(), transfer_syntax=syntax), path)
    assert read(path).file_meta.TransferSyntaxUID == registered(syntax)
    assert np.array_equal(read_masks(path), one_hot(label_map(), 2))


@pytest.mark.parametrize("kind", ["FRACTIONAL", "LABELMAP"])
@pytest.mark.parametrize("syntax", ["RLELossless", "JPEGLSLossless", "JPEG2000Lossless"])
def test_lossless_compressed(tmp_path: Path, kind: str, syntax: str) -> None:
    path = tmp_path / "seg.dcm"
    write(create(ct_series(), label_map(), segments(), kind=kind, transfer_syntax=syntax), path)
    assert read(path).file_meta.TransferSyntaxUID == registered(syntax)
    assert np.array_equal(read_masks(path), one_hot(label_map(), 2))


def test_palette_color_labelmap_reads_stored_values() -> None:
    """A PALETTE COLOR label map's stored values are still the segment numbers."""
    ds = create(ct_series(), label_map(), segments(), kind="LABELMAP")
    ds.PhotometricInterpretation = "PALETTE COLOR"
    assert np.array_equal(read_masks(ds), one_hot(label_map(), 2))


def test_frames_without_source_references_are_placed_by_position() -> None:
    """Derivation Image is conditional (PS3.3 A.51.5.1): given the sources, a SEG frame with
    only its Image Position (Patient) lands on the source frame at that position."""
    sources, labels = ct_series(), label_map()
    ds = create(sources, labels, segments())
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.DerivationImageSequence
    assert np.array_equal(read_masks(ds, sources=sources), one_hot(labels, 2))


def test_memmap_masks(tmp_path: Path) -> None:
    """Masks on disk are read a frame at a time (the caller's memmap is never copied whole)."""
    labels = np.lib.format.open_memmap(tmp_path / "labels.npy", mode="w+", dtype=np.uint8,
                                       shape=(5, 6, 6))
    labels[:] = label_map()
    ds = create(ct_series(), labels, segments(), kind="LABELMAP")
    assert np.array_equal(read_masks(ds), one_hot(label_map(), 2))


@pytest.mark.parametrize("kind", ["FRACTIONAL", "LABELMAP"])
def test_one_hot_bool_input(kind: str) -> None:
    masks = one_hot(label_map(), 2).astype(bool)
    ds = create(ct_series(), masks, segments(), kind=kind)
    assert np.array_equal(read_masks(ds), masks.astype(np.float32 if kind == "FRACTIONAL"
                                                       else np.uint8))


def test_sources_as_paths(tmp_path: Path) -> None:
    from tests.support.segmentation import write_series

    sources = ct_series()
    paths = write_series(sources, tmp_path / "ct")
    write(create(paths, label_map(), segments()), tmp_path / "seg.dcm")
    assert np.array_equal(read_masks(tmp_path / "seg.dcm", sources=paths),
                          one_hot(label_map(), 2))
