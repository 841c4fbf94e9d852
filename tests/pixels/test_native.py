"""PS3.5 §8.1 native pixel data: every layout pydicom's sample files have, plus made ones.

Each native sample file must give exactly pydicom 3's ``pixel_array`` (values and shape);
layouts the samples lack (1-bit frames that do not end on a byte, Bits Stored < Bits
Allocated with garbage above, planar configuration 1, float pixel data, 8-bit OW in big
endian) are made here and checked against pydicom too where pydicom reads them.
"""

from __future__ import annotations

import io
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomkit
from dicomkit.errors import InvalidDicomError
from dicomkit.pixels.native import frame, frames, pixel_array
from tests.support.datasets import pydicom_data_dir
from tests.support.pixels import pydicom_array

NATIVE_SAMPLES = [
    "CT_small.dcm", "ExplVR_BigEnd.dcm", "MR_small.dcm", "MR_small_bigendian.dcm",
    "MR_small_expb.dcm", "MR_small_implicit.dcm", "MR_small_padded.dcm",
    "SC_rgb_small_odd.dcm", "SC_rgb_small_odd_big_endian.dcm", "SC_rgb_jpeg_dcmd.dcm",
    "SC_ybr_full_422_uncompressed.dcm", "examples_overlay.dcm", "examples_palette.dcm",
    "examples_rgb_color.dcm", "image_dfl.dcm", "liver_1frame.dcm", "liver_expb_1frame.dcm",
    "rtdose.dcm", "rtdose_1frame.dcm", "rtdose_expb.dcm", "rtdose_expb_1frame.dcm",
]


def _sample(name: str) -> Path:
    return pydicom_data_dir() / "test_files" / name


@pytest.mark.parametrize("name", NATIVE_SAMPLES)
def test_native_sample_equals_pydicom(name: str) -> None:
    ours = dicomkit.read(_sample(name)).pixel_array
    reference = pydicom_array(_sample(name))
    assert ours.shape == reference.shape
    assert ours.dtype == reference.dtype.newbyteorder("=")
    assert ours.dtype.isnative
    assert np.array_equal(ours, reference)


@pytest.mark.parametrize("name", ["rtdose.dcm", "rtdose_expb.dcm"])
def test_frame_and_frames_match_the_whole_array(name: str) -> None:
    ds = dicomkit.read(_sample(name))
    whole = ds.pixel_array
    assert np.array_equal(ds.frame(7), whole[7])
    assert all(np.array_equal(a, b) for a, b in zip(ds.frames(), whole, strict=True))


# -- made data sets ----------------------------------------------------------------------------
def _make(pixel: bytes, *, syntax: str = "explicit", tag: str = "PixelData", vr: str | None = None,
          **attrs: Any) -> bytes:
    """A Secondary Capture file with the given Image Pixel attributes, as Part 10 bytes."""
    ds = dicomkit.Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.2.1143.1"
    defaults = {"SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2",
                "PixelRepresentation": 0}
    for keyword, value in {**defaults, **attrs}.items():
        setattr(ds, keyword, value)
    if vr is None:
        ds.set(tag, pixel)
    else:
        ds.set(tag, pixel, vr)
    out = io.BytesIO()
    dicomkit.write(ds, out, transfer_syntax=syntax)
    return out.getvalue()


def _both(data: bytes) -> tuple[Any, Any]:
    import pydicom

    ours = dicomkit.read(data).pixel_array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = pydicom.dcmread(io.BytesIO(data)).pixel_array
    return ours, reference


def test_one_bit_frames_packed_across_byte_boundaries() -> None:
    """PS3.5 §8.1.1: 1-bit frames of 3x5 pixels follow each other bit by bit."""
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, (3, 3, 5)).astype(np.uint8)
    packed = np.packbits(bits.ravel(), bitorder="little").tobytes()
    data = _make(packed + b"\0" * (len(packed) & 1), Rows=3, Columns=5, BitsAllocated=1,
                 BitsStored=1, HighBit=0, NumberOfFrames=3)
    ours, reference = _both(data)
    assert np.array_equal(ours, bits)
    assert np.array_equal(ours, reference)
    assert np.array_equal(dicomkit.read(data).frame(2), bits[2])


@pytest.mark.parametrize("representation", [0, 1])
def test_bits_above_bits_stored_are_masked_or_sign_extended(representation: int) -> None:
    """PS3.5 §8.1.1: 12 bits stored in 16; the 4 bits above hold garbage."""
    stored = np.array([0x0FFF, 0x0800, 0x07FF, 0x0001], dtype=np.uint16)
    garbage = stored | np.array([0xF000, 0x1000, 0xA000, 0x5000], dtype=np.uint16)
    data = _make(garbage.tobytes(), Rows=2, Columns=2, BitsAllocated=16, BitsStored=12,
                 HighBit=11, PixelRepresentation=representation)
    ours, reference = _both(data)
    if representation:
        assert ours.dtype == np.int16
        assert ours.ravel().tolist() == [-1, -2048, 2047, 1]
    else:
        assert ours.ravel().tolist() == [0x0FFF, 0x0800, 0x07FF, 0x0001]
    assert np.array_equal(ours, reference)


def test_high_bit_above_bits_stored_minus_one_shifts_the_value() -> None:
    """The old layout: 12 bits stored with High Bit 15 (the value sits in the top bits)."""
    values = np.array([1, 2, 4095, 7], dtype=np.uint16)
    data = _make((values << 4).tobytes(), Rows=2, Columns=2, BitsAllocated=16, BitsStored=12,
                 HighBit=15)
    assert dicomkit.read(data).pixel_array.ravel().tolist() == [1, 2, 4095, 7]


@pytest.mark.parametrize("syntax", ["explicit", "big", "implicit"])
def test_planar_configuration_one_comes_back_interleaved(syntax: str) -> None:
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 65535, (2, 4, 5, 3)).astype(np.uint16)
    planar = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2)).astype("<u2").tobytes()
    data = _make(planar, syntax=syntax, Rows=4, Columns=5, SamplesPerPixel=3,
                 PhotometricInterpretation="RGB", PlanarConfiguration=1, BitsAllocated=16,
                 BitsStored=16, HighBit=15, NumberOfFrames=2)
    ours, reference = _both(data)
    assert np.array_equal(ours, rgb)
    assert np.array_equal(ours, reference)
    assert np.array_equal(dicomkit.read(data).frame(1), rgb[1])


def test_eight_bit_values_in_a_big_endian_ow_value_are_swapped_in_pairs() -> None:
    values = np.arange(12, dtype=np.uint8)
    data = _make(values.tobytes(), syntax="big", vr="OW", Rows=3, Columns=4, BitsAllocated=8,
                 BitsStored=8, HighBit=7)
    ours, reference = _both(data)
    assert np.array_equal(ours.ravel(), values)
    assert np.array_equal(ours, reference)


@pytest.mark.parametrize("tag, vr, dtype", [("FloatPixelData", "OF", "<f4"),
                                             ("DoubleFloatPixelData", "OD", "<f8")])
@pytest.mark.parametrize("syntax", ["explicit", "big"])
def test_float_and_double_float_pixel_data(tag: str, vr: str, dtype: str, syntax: str) -> None:
    """PS3.3 C.7.6.24: Float (7FE0,0008) and Double Float (7FE0,0009) Pixel Data."""
    values = np.linspace(-1.5, 2.5, 2 * 3 * 4).astype(dtype).reshape(2, 3, 4)
    bits = 32 if vr == "OF" else 64
    data = _make(values.tobytes(), syntax=syntax, tag=tag, vr=vr, Rows=3, Columns=4,
                 BitsAllocated=bits, NumberOfFrames=2)
    ours, reference = _both(data)
    assert ours.dtype == np.dtype(dtype).newbyteorder("=")
    assert np.array_equal(ours, values)
    assert np.array_equal(ours, reference)


@pytest.mark.parametrize("bits", [8, 16, 32])
@pytest.mark.parametrize("representation", [0, 1])
def test_integer_widths_and_signs(bits: int, representation: int) -> None:
    rng = np.random.default_rng(bits + representation)
    dtype = np.dtype(("i" if representation else "u") + str(bits // 8))
    info = np.iinfo(dtype)
    values = rng.integers(info.min, info.max, (3, 5, 6), dtype=np.int64).astype(dtype)
    data = _make(values.astype(dtype.newbyteorder("<")).tobytes(), Rows=5, Columns=6,
                 BitsAllocated=bits, BitsStored=bits, HighBit=bits - 1,
                 PixelRepresentation=representation, NumberOfFrames=3)
    ours, reference = _both(data)
    assert ours.dtype == dtype
    assert np.array_equal(ours, values)
    assert np.array_equal(ours, reference)


def test_ybr_full_422_widens_and_converts_like_pydicom() -> None:
    path = _sample("SC_ybr_full_422_uncompressed.dcm")
    ds = dicomkit.read(path)
    rgb = ds.pixel_array
    ybr = ds.frame(0, as_rgb=False)
    raw = np.frombuffer(bytes(ds[0x7FE00010].value), np.uint8)
    assert ybr.shape == rgb.shape == (100, 100, 3)
    # PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr -> two pixels sharing Cb Cr
    assert ybr[0, 0].tolist() == [raw[0], raw[2], raw[3]]
    assert ybr[0, 1].tolist() == [raw[1], raw[2], raw[3]]
    assert np.array_equal(rgb, pydicom_array(path))


# -- bad input ---------------------------------------------------------------------------------
def test_short_pixel_data_names_the_frame() -> None:
    values = np.zeros((3, 4, 4), np.uint16)
    data = _make(values.tobytes()[:-8], Rows=4, Columns=4, BitsAllocated=16, BitsStored=16,
                 HighBit=15, NumberOfFrames=3)
    ds = dicomkit.read(data)
    assert ds.frame(1).shape == (4, 4)
    with pytest.raises(InvalidDicomError, match="frame 2: .*short"):
        ds.frame(2)
    with pytest.raises(InvalidDicomError, match="frame 2"):
        _ = ds.pixel_array


def test_trailing_padding_is_allowed() -> None:
    values = np.arange(9, dtype=np.uint8).reshape(3, 3)
    data = _make(values.tobytes() + b"\0" * 7, Rows=3, Columns=3, BitsAllocated=8, BitsStored=8,
                 HighBit=7)
    assert np.array_equal(dicomkit.read(data).pixel_array, values)


@pytest.mark.parametrize("index", [-1, 3, 1000])
def test_frame_index_out_of_range(index: int) -> None:
    data = _make(bytes(48), Rows=4, Columns=4, BitsAllocated=8, BitsStored=8, HighBit=7,
                 NumberOfFrames=3)
    with pytest.raises(InvalidDicomError, match=f"frame {index} is out of range"):
        frame(dicomkit.read(data), index)


def test_truncated_sample_file_names_frame_zero() -> None:
    with pytest.raises(InvalidDicomError, match="frame 0: .*short"):
        pixel_array(dicomkit.read(_sample("MR_truncated.dcm")))


def test_missing_rows_is_reported() -> None:
    data = _make(bytes(4), Columns=2, BitsAllocated=8)
    with pytest.raises(InvalidDicomError, match="Rows is missing"):
        list(frames(dicomkit.read(data)))


def test_import_dicomkit_loads_neither_numpy_nor_imagecodecs() -> None:
    code = ("import sys, dicomkit; ds = dicomkit.Dataset(); "
            "print('numpy' in sys.modules, 'imagecodecs' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(Path(dicomkit.__file__).parents[1])})
    assert out.stdout.split() == ["False", "False"]
