"""Derived images and Secondary Capture (dicomkit.derive; PS3.3 C.7.6.1.1.2, A.8.1-A.8.5):
every object passes dciodvfy with no error and pydicom reads the pixels back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

import dicomkit
from dicomkit.core.uid import registered
from dicomkit.iod.codes import Code
from dicomkit.iod.derived import DeriveError, derive
from tests.support.datasets import pydicom_file
from tests.support.dciodvfy import assert_valid

SEGMENTATION = Code("113076", "DCM", "Segmentation")


@pytest.fixture
def ct() -> dicomkit.Dataset:
    return dicomkit.read(pydicom_file("CT_small.dcm"))


def _written(ds: dicomkit.Dataset, tmp_path: Path, name: str) -> tuple[Path, Any]:
    path = tmp_path / f"{name}.dcm"
    dicomkit.write(ds, path)
    assert_valid(path)
    return path, pydicom.dcmread(path).pixel_array


def test_secondary_capture_is_derived_from_the_source(ct: dicomkit.Dataset,
                                                      tmp_path: Path) -> None:
    mask = (ct.pixel_array > 1000).astype(np.uint8) * 255
    ds = dicomkit.derive(ct, mask, description="threshold 1000", derivation_code=SEGMENTATION,
                         series_description="AI mask", series_number=901)
    assert ds.SOPClassUID == registered("SecondaryCaptureImageStorage")
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert ds.DerivationDescription == "threshold 1000"
    assert Code.from_dataset(ds.DerivationCodeSequence[0]) == SEGMENTATION
    source = ds.SourceImageSequence[0]
    assert source.ReferencedSOPInstanceUID == ct.SOPInstanceUID
    assert source.ReferencedSOPClassUID == ct.SOPClassUID
    assert Code.from_dataset(source.PurposeOfReferenceCodeSequence[0]) == \
        Code("121322", "DCM", "")
    assert ds.StudyInstanceUID == ct.StudyInstanceUID and ds.PatientID == ct.PatientID
    assert ds.SeriesInstanceUID != ct.SeriesInstanceUID
    assert ds.SOPInstanceUID != ct.SOPInstanceUID
    assert ds.FrameOfReferenceUID == ct.FrameOfReferenceUID  # same rows and columns
    _, pixels = _written(ds, tmp_path, "sc8")
    assert np.array_equal(pixels, mask)


def test_a_16_bit_and_an_rgb_secondary_capture(ct: dicomkit.Dataset, tmp_path: Path) -> None:
    _, pixels = _written(derive(ct, ct.pixel_array, description="copy"), tmp_path, "sc16")
    assert np.array_equal(pixels, ct.pixel_array)
    colour = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    ds = derive(ct, colour, description="overlay")
    assert "FrameOfReferenceUID" not in ds  # other geometry
    _, pixels = _written(ds, tmp_path, "rgb")
    assert np.array_equal(pixels, colour)


def test_multiframe_grayscale_byte(ct: dicomkit.Dataset, tmp_path: Path) -> None:
    frames = np.arange(3 * 16 * 16, dtype=np.uint8).reshape(3, 16, 16)
    ds = derive(ct, frames, description="b", sop_class="multiframe grayscale byte",
                window=(128, 256))
    assert ds.SOPClassUID == registered("MultiFrameGrayscaleByteSecondaryCaptureImageStorage")
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.NumberOfFrames) == (8, 8, 7, 3)
    assert ds.PresentationLUTShape == "IDENTITY" and ds.BurnedInAnnotation == "NO"
    _, pixels = _written(ds, tmp_path, "byte")
    assert np.array_equal(pixels, frames)


def test_multiframe_grayscale_word_rescales_floats(ct: dicomkit.Dataset,
                                                   tmp_path: Path) -> None:
    values = np.linspace(-3.5, 10.25, 2 * 8 * 8).reshape(2, 8, 8)
    ds = derive(ct, values, description="probability", sop_class="multiframe grayscale word")
    assert (ds.BitsAllocated, ds.PixelRepresentation, ds.RescaleType) == (16, 0, "US")
    _, stored = _written(ds, tmp_path, "word")
    back = stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert np.abs(back - values).max() <= float(ds.RescaleSlope)


def test_multiframe_grayscale_word_keeps_integers_exact(ct: dicomkit.Dataset,
                                                        tmp_path: Path) -> None:
    values = np.array([[[-1024, 0], [3071, 5]]], dtype=np.int16)
    ds = derive(ct, values, description="hu", sop_class="multiframe grayscale word")
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (1.0, -1024.0)
    _, stored = _written(ds, tmp_path, "word-int")
    assert np.array_equal(stored.astype(int) - 1024, values[0])


def test_multiframe_true_color(ct: dicomkit.Dataset, tmp_path: Path) -> None:
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    frames[1, ..., 0] = 255
    ds = derive(ct, frames, description="c", sop_class="multiframe true color")
    assert (ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration) == \
        (3, "RGB", 0)
    _, pixels = _written(ds, tmp_path, "truecolor")
    assert np.array_equal(pixels, frames)


def test_the_source_class_keeps_the_source_geometry(ct: dicomkit.Dataset,
                                                    tmp_path: Path) -> None:
    ds = derive(ct, ct.pixel_array // 2, description="halved", sop_class="source",
                derivation_code=Code("113087", "DCM", "Smoothing"))
    assert ds.SOPClassUID == ct.SOPClassUID
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert list(ds.ImageType)[2:] == list(ct.ImageType)[2:]
    assert ds.ImagePositionPatient == ct.ImagePositionPatient
    _, pixels = _written(ds, tmp_path, "ct")
    assert np.array_equal(pixels, ct.pixel_array // 2)


def test_pydicom_reads_the_derivation(ct: dicomkit.Dataset, tmp_path: Path) -> None:
    path, _ = _written(derive(ct, ct.pixel_array, description="d",
                              derivation_code=SEGMENTATION), tmp_path, "pd")
    pd = pydicom.dcmread(path)
    assert pd.DerivationCodeSequence[0].CodeValue == "113076"
    assert pd.SourceImageSequence[0].ReferencedSOPInstanceUID == ct.SOPInstanceUID


@pytest.mark.parametrize(("pixels", "options", "message"), [
    (np.zeros((2, 4, 4), np.uint8), {}, r"expected \(rows, cols\)"),
    (np.zeros((4, 4), np.uint8), {"sop_class": "multiframe grayscale byte"},
     r"expected \(frames, rows, cols\)"),
    (np.full((1, 4, 4), 300), {"sop_class": "multiframe grayscale byte"}, "outside"),
    (np.zeros((4, 4), np.float32), {}, "float"),
    (np.array([[[np.nan]]]), {"sop_class": "multiframe grayscale word"}, "NaN"),
    (np.zeros((4, 4), np.uint8), {"sop_class": "ultrasound"}, "unknown sop_class"),
    (np.zeros((4, 4), np.uint8), {"sop_class": "source"}, "keeps its geometry"),
    (np.zeros((0, 4)), {}, "non-empty"),
    (np.zeros((1, 4, 4, 3), np.uint8), {"sop_class": "multiframe true color",
                                        "window": (1, 2)}, "grayscale images only"),
])
def test_bad_input_is_refused_with_a_reason(ct: dicomkit.Dataset, pixels: Any,
                                            options: dict[str, Any], message: str) -> None:
    with pytest.raises(DeriveError, match=message):
        derive(ct, pixels, description="x", **options)


def test_a_source_without_identity_is_refused(ct: dicomkit.Dataset) -> None:
    del ct.StudyInstanceUID
    with pytest.raises(DeriveError, match="StudyInstanceUID"):
        derive(ct, np.zeros((4, 4), np.uint8), description="x")
