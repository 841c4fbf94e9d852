"""Our SEGs against independent references: dicom3tools ``dciodvfy`` validates them, highdicom
and pydicom read them to the same masks, and we read what highdicom writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomkit import read, write
from dicomkit.seg import create, read_masks, read_segments
from tests.support.dciodvfy import assert_valid, assert_valid_label_map
from tests.support.segmentation import ct_series, multiframe_source, segments, write_series

hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")

def labels_for(frames: int = 5) -> np.ndarray:
    labels = np.zeros((frames, 6, 6), dtype=np.uint8)
    labels[1, 1:4, 1:4] = 1
    labels[2, 2:5, 2:5] = 2
    labels[3, 0, :] = 1
    return labels


def one_hot(labels: np.ndarray, count: int = 2) -> np.ndarray:
    return np.stack([labels == n for n in range(1, count + 1)], axis=-1).astype(np.uint8)


def assert_valid_seg(path: Path, kind: str, tmp_path: Path) -> None:
    if kind != "LABELMAP":
        assert_valid(path)
        return
    # dciodvfy predates the Label Map Segmentation IOD: checked as a Segmentation.
    assert_valid_label_map(path, tmp_path)


@pytest.mark.parametrize("kind", ["BINARY", "FRACTIONAL", "LABELMAP"])
def test_dciodvfy_passes(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.dcm"
    described = segments(2, recommended_display_cielab=(50000, 30000, 30000))
    write(create(ct_series(), labels_for(), described, kind=kind, series_description="AI",
                 content_description="liver and kidney", content_creator_name="Unet^Bot"),
          path)
    assert_valid_seg(path, kind, tmp_path)


def test_dciodvfy_passes_multiframe_source_and_overlap(tmp_path: Path) -> None:
    masks = np.zeros((4, 6, 6, 2), dtype=bool)
    masks[1, 1:3, 1:3, :] = True
    path = tmp_path / "seg.dcm"
    write(create(multiframe_source(4), masks, segments()), path)
    assert read(path).SegmentsOverlap == "YES"
    assert_valid(path)


@pytest.mark.parametrize("kind", ["BINARY", "FRACTIONAL", "LABELMAP"])
def test_highdicom_reads_ours(tmp_path: Path, kind: str) -> None:
    sources, labels = ct_series(), labels_for()
    path = tmp_path / "seg.dcm"
    write(create(sources, labels, segments(), kind=kind), path)
    seg = hd.seg.segread(path)
    uids = [s.SOPInstanceUID for s in sources]
    theirs = seg.get_pixels_by_source_instance(uids, combine_segments=False)
    assert np.array_equal(np.asarray(theirs, dtype=np.float32), one_hot(labels))
    assert [d.segment_label for d in seg.SegmentSequence] == ["segment 1", "segment 2"]


def test_highdicom_reads_our_segment_descriptions(tmp_path: Path) -> None:
    from tests.support.segmentation import LIVER

    described = segments(2, anatomic_regions=(LIVER,), tracking_id="lesion 1",
                         tracking_uid="2.25.77", recommended_display_cielab=(50000, 30000, 30000))
    path = tmp_path / "seg.dcm"
    write(create(ct_series(), labels_for(), described), path)
    theirs = hd.seg.segread(path).get_segment_description(1)
    assert theirs.segment_label == "segment 1"
    assert theirs.segmented_property_type.value == "10200004"
    assert theirs.segmented_property_category.value == "91723000"
    assert [r.value for r in theirs.anatomic_regions] == ["10200004"]
    assert theirs.tracking_id == "lesion 1" and theirs.tracking_uid == "2.25.77"
    assert theirs.algorithm_identification[0].AlgorithmName == "unet"
    assert list(theirs.RecommendedDisplayCIELabValue) == [50000, 30000, 30000]


@pytest.mark.parametrize("kind", ["BINARY", "FRACTIONAL", "LABELMAP"])
def test_pydicom_reads_ours(tmp_path: Path, kind: str) -> None:
    labels = labels_for()
    path = tmp_path / "seg.dcm"
    write(create(ct_series(), labels, segments(), kind=kind), path)
    ds = pydicom.dcmread(path)
    assert ds.SegmentationType == kind
    pixels = ds.pixel_array
    if kind == "LABELMAP":
        assert np.array_equal(pixels, labels[1:4])
    elif kind == "BINARY":
        # frames: segment 1 on sources 1, 3; segment 2 on source 2
        assert np.array_equal(pixels, np.stack([labels[1] == 1, labels[3] == 1,
                                                labels[2] == 2]).astype(np.uint8))
    else:
        assert int(pixels.max()) == 255


def _pydicom_sources(sources: list, tmp_path: Path) -> list:
    return [pydicom.dcmread(p) for p in write_series(sources, tmp_path / "ct")]


@pytest.mark.parametrize("kind", ["BINARY", "FRACTIONAL", "LABELMAP"])
def test_we_read_highdicom_segs(tmp_path: Path, kind: str) -> None:
    sources = ct_series(pixels=True)
    theirs_sources = _pydicom_sources(sources, tmp_path)
    labels = labels_for()
    algorithm = hd.AlgorithmIdentificationSequence(
        name="unet", version="1", family=hd.sr.CodedConcept("123109", "DCM",
                                                            "Manual Processing"))
    described = [hd.seg.SegmentDescription(
        segment_number=n, segment_label=f"s{n}",
        segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
        segmented_property_type=hd.sr.CodedConcept("10200004", "SCT", "Liver"),
        algorithm_type="AUTOMATIC", algorithm_identification=algorithm) for n in (1, 2)]
    pixel_array = (one_hot(labels).astype(np.float32) * 0.5 if kind == "FRACTIONAL"
                   else labels)
    seg = hd.seg.Segmentation(
        source_images=theirs_sources, pixel_array=pixel_array, segmentation_type=kind,
        segment_descriptions=described, series_instance_uid=hd.UID(), series_number=2,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="highdicom",
        manufacturer_model_name="x", software_versions="1", device_serial_number="1")
    path = tmp_path / "theirs.dcm"
    seg.save_as(path)
    expected = one_hot(labels).astype(np.float32) * (0.5 if kind == "FRACTIONAL" else 1)
    masks = read_masks(path, sources=sources)
    assert np.allclose(masks, expected, atol=1 / 255)
    # without sources: the SEG's own listing, sorted along the normal
    assert np.allclose(read_masks(path), expected, atol=1 / 255)
    numbers = [d.number for d in read_segments(path) if d.number]
    assert numbers == [1, 2]


def test_we_read_highdicom_multiframe_binary_unaligned(tmp_path: Path) -> None:
    """highdicom packs 5×7 frames across byte boundaries too."""
    sources = ct_series(3, 5, 7, pixels=True)
    rng = np.random.default_rng(11)
    masks = rng.random((3, 5, 7, 2)) > 0.5
    described = [hd.seg.SegmentDescription(
        segment_number=n, segment_label=f"s{n}",
        segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
        segmented_property_type=hd.sr.CodedConcept("10200004", "SCT", "Liver"),
        algorithm_type="MANUAL") for n in (1, 2)]
    seg = hd.seg.Segmentation(
        source_images=_pydicom_sources(sources, tmp_path), pixel_array=masks,
        segmentation_type="BINARY", segment_descriptions=described,
        series_instance_uid=hd.UID(), series_number=2, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="highdicom", manufacturer_model_name="x",
        software_versions="1", device_serial_number="1")
    path = tmp_path / "theirs.dcm"
    seg.save_as(path)
    assert np.array_equal(read_masks(path, sources=sources), masks.astype(np.uint8))
