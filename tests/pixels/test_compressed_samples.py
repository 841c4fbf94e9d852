"""Every compressed file in pydicom 3.0.2's test_files decodes as pydicom decodes it.

pydicom decodes with pylibjpeg (libjpeg, OpenJPEG, its RLE plugin); dicomkit with
libjpeg-turbo, CharLS, OpenJPEG/OpenJPH and its own RLE. Lossless codestreams — and lossy
JPEG-LS and JPEG 2000, where decoding is exact arithmetic — must give identical values.
Lossy JPEG (ISO 10918-1) decoders may differ in IDCT rounding and chroma upsampling, so those
must agree to within PSNR >= 50 dB (measured: 55.5 dB to identical; most differ by at most 1).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dicomkit
from dicomkit.errors import InvalidDicomError
from tests.support.datasets import pydicom_data_dir
from tests.support.pixels import psnr, pydicom_array, run_tool

EXACT = [
    "693_J2KI.dcm", "GDCMJ2K_TextGBR.dcm", "J2K_pixelrep_mismatch.dcm", "JPEG2000.dcm",
    "JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm", "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "SC_rgb_gdcm_KY.dcm",
    "SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm", "SC_rgb_jpeg_gdcm.dcm",
    "SC_rgb_rle.dcm", "SC_rgb_rle_16bit.dcm", "SC_rgb_rle_16bit_2frame.dcm",
    "SC_rgb_rle_2frame.dcm", "SC_rgb_rle_32bit.dcm", "SC_rgb_rle_32bit_2frame.dcm",
    "examples_jpeg2k.dcm", "rtdose_rle.dcm", "rtdose_rle_1frame.dcm",
]
LOSSY_JPEG = [
    "JPGExtended.dcm", "SC_jpeg_no_color_transform.dcm", "SC_jpeg_no_color_transform_2.dcm",
    "SC_rgb_dcmtk_+eb+cr.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm", "SC_rgb_dcmtk_+eb+cy+n2.dcm",
    "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_rgb_dcmtk_+eb+cy+s4.dcm",
    "SC_rgb_jpeg.dcm", "SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_jpeg_lossy_gdcm.dcm", "SC_rgb_small_odd_jpeg.dcm", "examples_ybr_color.dcm",
]
MIN_PSNR_BETWEEN_JPEG_DECODERS = 50.0


def _path(name: str):  # type: ignore[no-untyped-def]
    return pydicom_data_dir() / "test_files" / name


def test_the_lists_cover_every_compressed_sample() -> None:
    import pydicom

    compressed = set()
    for path in (pydicom_data_dir() / "test_files").glob("*.dcm"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - not a Part 10 file
                continue
        uid = ds.file_meta.get("TransferSyntaxUID") if ds.file_meta else None
        if uid is not None and uid.is_encapsulated and "Rows" in ds:
            compressed.add(path.name)
    known = set(EXACT) | set(LOSSY_JPEG) | {"JPEG-lossy.dcm",
                                            "JPEG2000-embedded-sequence-delimiter.dcm"}
    assert compressed == known


@pytest.mark.parametrize("name", EXACT)
def test_decodes_exactly_as_pydicom(name: str) -> None:
    ds = dicomkit.read(_path(name))
    ours = ds.pixel_array
    reference = pydicom_array(_path(name))
    assert ours.shape == reference.shape
    assert np.array_equal(ours, reference)
    if ours.ndim == (4 if ds.get("SamplesPerPixel", 1) > 1 else 3):
        assert np.array_equal(ds.frame(len(ours) - 1), reference[-1])


@pytest.mark.parametrize("name", LOSSY_JPEG)
def test_lossy_jpeg_within_psnr_of_pydicom(name: str) -> None:
    ds = dicomkit.read(_path(name))
    ours = ds.pixel_array
    reference = pydicom_array(_path(name))
    assert ours.shape == reference.shape
    assert ours.dtype == reference.dtype
    assert psnr(ours, reference, int(ds.BitsStored)) >= MIN_PSNR_BETWEEN_JPEG_DECODERS


def test_twelve_bit_jpeg_pydicom_cannot_read_matches_dcmtk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """JPEG-lossy.dcm (12-bit Process 4) defeats pylibjpeg; DCMTK's IJG 12-bit reads it."""
    out = tmp_path / "plain.dcm"
    run_tool("dcmdjpeg", _path("JPEG-lossy.dcm"), out)
    ours = dicomkit.read(_path("JPEG-lossy.dcm")).pixel_array
    reference = pydicom_array(out)
    assert ours.shape == reference.shape == (1024, 256)
    assert psnr(ours, reference, 12) >= MIN_PSNR_BETWEEN_JPEG_DECODERS


def test_corrupt_jpeg_2000_is_reported_with_its_frame() -> None:
    """A sequence delimiter's bytes inside a JPEG 2000 fragment: the DICOM structure is fine
    (the fragment is read by its length), the codestream is not."""
    ds = dicomkit.read(_path("JPEG2000-embedded-sequence-delimiter.dcm"))
    with pytest.raises(InvalidDicomError, match="frame 0: the JPEG 2000 codestream"):
        _ = ds.pixel_array


def test_ybr_jpeg_without_conversion_keeps_ycbcr() -> None:
    """as_rgb=False: the JPEG's YCbCr samples, upsampled, unconverted."""
    ds = dicomkit.read(_path("SC_rgb_dcmtk_+eb+cy+s2.dcm"))
    ybr = ds.frame(0, as_rgb=False)
    rgb = ds.frame(0)
    from dicomkit.pixels.codecs import ybr_full_to_rgb

    assert psnr(ybr_full_to_rgb(ybr), rgb, 8) > 45
    assert not np.array_equal(ybr, rgb)
