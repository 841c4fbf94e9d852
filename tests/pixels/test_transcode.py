"""Transcoding (PS3.5 §8.2) and the attributes it must set (PS3.3 C.7.6.3, C.7.6.1.1.5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dicomkit
from dicomkit.errors import NotSupportedError
from dicomkit.pixels.transcode import transcode
from tests.support.datasets import pydicom_data_dir
from tests.support.pixels import psnr, pydicom_array

RGB = pydicom_data_dir() / "test_files" / "examples_rgb_color.dcm"
CT = pydicom_data_dir() / "test_files" / "CT_small.dcm"
YBR_JPEG = pydicom_data_dir() / "test_files" / "SC_rgb_dcmtk_+eb+cy+s2.dcm"


def _reread(ds: dicomkit.Dataset, tmp_path: Path, name: str = "out.dcm") -> dicomkit.Dataset:
    path = tmp_path / name
    dicomkit.write(ds, path)
    return dicomkit.read(path)


@pytest.mark.parametrize("syntax, photometric, method", [
    ("JPEGBaseline8Bit", "YBR_FULL_422", "ISO_10918_1"),
    ("JPEGLSNearLossless", "RGB", "ISO_14495_1"),
    ("JPEG2000", "YBR_ICT", "ISO_15444_1"),
    ("HTJ2K", "YBR_ICT", "ISO_15444_15"),
])
def test_lossy_targets_set_photometric_and_lossy_attributes(tmp_path: Path, syntax: str,
                                                            photometric: str,
                                                            method: str) -> None:
    ds = _reread(transcode(dicomkit.read(RGB), syntax, lossy_ok=True), tmp_path)
    assert ds.PhotometricInterpretation == photometric
    assert ds.PlanarConfiguration == 0
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == method
    ratio = float(ds.LossyImageCompressionRatio)
    stored = len(bytes(ds[0x7FE00010].value))
    assert ratio == pytest.approx(240 * 320 * 3 / stored, rel=0.02)
    assert psnr(ds.pixel_array, pydicom_array(RGB), 8) >= 30


@pytest.mark.parametrize("syntax, photometric", [
    ("JPEG2000Lossless", "YBR_RCT"), ("HTJ2KLossless", "YBR_RCT"), ("JPEGLSLossless", "RGB"),
    ("JPEGLossless", "RGB"), ("RLELossless", "RGB"),
])
def test_lossless_colour_targets(tmp_path: Path, syntax: str, photometric: str) -> None:
    ds = _reread(transcode(dicomkit.read(RGB), syntax), tmp_path)
    assert ds.PhotometricInterpretation == photometric
    assert "LossyImageCompression" not in ds
    assert np.array_equal(ds.pixel_array, pydicom_array(RGB))


def test_lossy_target_needs_consent() -> None:
    with pytest.raises(NotSupportedError, match="lossy"):
        transcode(dicomkit.read(RGB), "JPEGBaseline8Bit")


def test_lossy_flags_survive_lossless_and_native_targets(tmp_path: Path) -> None:
    """C.7.6.1.1.5: once "01", always "01"; no new ratio or method for lossless steps."""
    jpeg = _reread(transcode(dicomkit.read(RGB), "JPEGBaseline8Bit", lossy_ok=True), tmp_path,
                   "jpeg.dcm")
    lossless = _reread(transcode(jpeg, "JPEG2000Lossless"), tmp_path, "j2k.dcm")
    assert lossless.LossyImageCompression == "01"
    assert lossless.LossyImageCompressionMethod == "ISO_10918_1"
    native = _reread(transcode(lossless, "explicit"), tmp_path, "native.dcm")
    assert native.LossyImageCompression == "01"
    assert native.PhotometricInterpretation == "RGB"
    assert np.array_equal(native.pixel_array, jpeg.pixel_array)


def test_second_lossy_step_appends_ratio_and_method(tmp_path: Path) -> None:
    jpeg = transcode(dicomkit.read(RGB), "JPEGBaseline8Bit", lossy_ok=True)
    twice = _reread(transcode(_reread(jpeg, tmp_path, "a.dcm"), "JPEG2000", lossy_ok=True),
                    tmp_path)
    assert twice.LossyImageCompressionMethod == ["ISO_10918_1", "ISO_15444_1"]
    assert len(twice.LossyImageCompressionRatio) == 2


def test_lossy_source_without_flag_is_flagged(tmp_path: Path) -> None:
    source = dicomkit.read(YBR_JPEG)
    for keyword in ("LossyImageCompression", "LossyImageCompressionRatio",
                    "LossyImageCompressionMethod"):
        delattr(source, keyword)
    native = _reread(transcode(source, "explicit"), tmp_path)
    assert native.LossyImageCompression == "01"
    assert native.PhotometricInterpretation == "RGB"  # decoded to RGB, as DCMTK does
    assert psnr(native.pixel_array, pydicom_array(YBR_JPEG), 8) >= 50


def test_compressed_to_compressed_chain_is_exact(tmp_path: Path) -> None:
    original = pydicom_array(CT)
    ds = dicomkit.read(CT)
    for step, syntax in enumerate(["RLELossless", "JPEGLSLossless", "JPEG2000Lossless",
                                   "JPEGLossless", "HTJ2KLossless", "ImplicitVRLittleEndian"]):
        ds = _reread(transcode(ds, syntax), tmp_path, f"{step}.dcm")
        assert np.array_equal(ds.pixel_array, original), syntax
    assert ds.transfer_syntax.uid == "1.2.840.10008.1.2"


def test_extended_offset_table_on_request(tmp_path: Path) -> None:
    source = pydicom_data_dir() / "test_files" / "rtdose.dcm"
    ds = _reread(transcode(dicomkit.read(source), "RLELossless", extended_offset_table=True),
                 tmp_path)
    assert len(ds[0x7FE00001].value_bytes()) == 8 * 15
    assert np.array_equal(ds.frame(14), pydicom_array(source)[14])


def test_transcoded_dataset_decodes_before_writing() -> None:
    ds = transcode(dicomkit.read(CT), "JPEG2000Lossless")
    assert ds.file_meta is not None
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert np.array_equal(ds.pixel_array, pydicom_array(CT))


@pytest.mark.parametrize("name, syntax", [
    ("MR_small_jp2klossless.dcm", "JPEG2000"),
    ("SC_rgb_jpeg_gdcm.dcm", "JPEGLossless"),
    ("MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless"),
])
def test_codestreams_valid_in_the_target_are_kept(name: str, syntax: str) -> None:
    """A lossless JPEG 2000 stream is a .4.91 stream, SV1 is Process 14, lossless JPEG-LS is
    near-lossless with NEAR 0: relabelled, not re-encoded, and no lossy consent needed."""
    source = dicomkit.read(pydicom_data_dir() / "test_files" / name)
    moved = transcode(source, syntax)
    assert bytes(moved[0x7FE00010].raw) == bytes(source[0x7FE00010].raw)
    assert "LossyImageCompression" not in moved


def test_irreversible_jpeg_2000_is_re_encoded_for_the_lossless_syntax(tmp_path: Path) -> None:
    source_path = pydicom_data_dir() / "test_files" / "JPEG2000.dcm"
    moved = _reread(transcode(dicomkit.read(source_path), "JPEG2000Lossless"), tmp_path)
    assert bytes(moved[0x7FE00010].value) != bytes(dicomkit.read(source_path)[0x7FE00010].raw)
    assert moved.LossyImageCompression == "01"
    assert np.array_equal(moved.pixel_array, pydicom_array(source_path))
