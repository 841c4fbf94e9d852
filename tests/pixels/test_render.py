"""``render``: the 8-bit image a viewer shows, checked against DCMTK's dcm2pnm; PNG (the
``dicomkit render`` command is tested in ``tests/cli/test_render.py``).

DCMTK renders with the same window (``+Ww C W``, the file's ``+Wi n`` / ``+Wl n``, or ``+Wm``
for the min-max window dicomkit falls back to), overlays off (``-O``: dicomkit does not burn
them in), non-interlaced PNG (``-il``); JPEG files go through ``dcmj2pnm``, dcm2pnm with
DCMTK's JPEG decoders. Every pixel must be within one level. It rarely is equal everywhere:
DCMTK truncates the window function's output to an integer, dicomkit rounds it to the nearest
(C.11.2.1.3.1: "the actual implementation must include rounding"), so about half the
pixels of a windowed image differ by exactly 1.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomkit
from dicomkit.pixels.render import render, to_8bit, to_png
from tests.support.datasets import pydicom_data_dir, pydicom_file
from tests.support.images import grayscale, lut_item, save
from tests.support.pixels import assert_within_one_level, copy_of, dcmtk_render, pydicom_array
from tests.support.png import read_png

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


# -- grayscale --------------------------------------------------------------------------------
@pytest.fixture
def monochrome1_cr(tmp_path: Path) -> Path:
    """A MONOCHROME1 CR: pydicom has none, so its 12-bit MR example (two windows) is relabelled
    — the stored values and windows stay, the minimum is now meant to be white."""
    ds = dicomkit.read(pydicom_file("examples_overlay.dcm"))
    ds.SOPClassUID = CR_IMAGE_STORAGE
    ds.Modality = "CR"
    ds.PhotometricInterpretation = "MONOCHROME1"
    return save(ds, tmp_path / "cr_monochrome1.dcm")


def test_monochrome1_cr_with_its_window_matches_dcmtk(monochrome1_cr: Path) -> None:
    ds = dicomkit.read(monochrome1_cr)
    ours = render(ds)
    assert_within_one_level(ours, dcmtk_render(monochrome1_cr, "+Wi", 1))
    # The minimum is white: the inverse of the MONOCHROME2 rendering.
    as_mono2 = render(dicomkit.read(pydicom_file("examples_overlay.dcm")))
    assert np.abs(ours.astype(np.int16) - (255 - as_mono2)).max() <= 1


def test_monochrome1_cr_second_window_and_min_max_match_dcmtk(monochrome1_cr: Path) -> None:
    ds = dicomkit.read(monochrome1_cr)
    assert_within_one_level(render(ds, voi_index=1), dcmtk_render(monochrome1_cr, "+Wi", 2))
    del ds.WindowCenter, ds.WindowWidth
    no_window = save(ds, monochrome1_cr.with_name("cr_no_window.dcm"))
    assert_within_one_level(render(dicomkit.read(no_window)), dcmtk_render(no_window, "+Wm"))


@pytest.mark.parametrize("center, width", [(40, 400), (-600, 1500), (40.5, 1), (1000, 2)])
def test_windowed_ct_matches_dcmtk(tmp_path: Path, center: float, width: float) -> None:
    # CT_small: signed 16-bit, Rescale Intercept -1024; the window is in Hounsfield units.
    path = copy_of("CT_small.dcm", tmp_path)
    ours = render(dicomkit.read(path), window=(center, width))
    assert_within_one_level(ours, dcmtk_render(path, "+Ww", center, width))


def test_ct_without_a_window_uses_the_min_max_window_like_dcmtk(tmp_path: Path) -> None:
    path = copy_of("CT_small.dcm", tmp_path)
    ours = render(dicomkit.read(path))
    assert ours.min() == 0 and ours.max() == 255
    assert_within_one_level(ours, dcmtk_render(path, "+Wm"))


@pytest.mark.parametrize("name, number", [("MR_small.dcm", 1), ("examples_overlay.dcm", 1),
                                          ("examples_overlay.dcm", 2),
                                          ("MR_small_RLE.dcm", 1)])
def test_the_files_own_windows_match_dcmtk(tmp_path: Path, name: str, number: int) -> None:
    path = copy_of(name, tmp_path)
    ours = render(dicomkit.read(path), voi_index=number - 1)
    assert_within_one_level(ours, dcmtk_render(path, "+Wi", number))


def test_multiframe_dose_frame_matches_dcmtk(tmp_path: Path) -> None:
    path = copy_of("rtdose.dcm", tmp_path)  # 15 frames of 32-bit doses, no window
    ours = render(dicomkit.read(path), frame=6)
    assert_within_one_level(ours, dcmtk_render(path, "+Wm", "+F", 7))


def test_sigmoid_voi_lut_function_matches_dcmtk(tmp_path: Path) -> None:
    ramp = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    path = save(grayscale(ramp, WindowCenter=2000, WindowWidth=1000, VOILUTFunction="SIGMOID"),
                tmp_path / "sigmoid.dcm")
    ours = render(dicomkit.read(path))
    assert_within_one_level(ours, dcmtk_render(path, "+Wi", 1))
    assert ours.reshape(-1)[1500] == 30  # 255 / (1 + exp(-4 (1500 - 2000) / 1000)) = 30.4


def test_modality_lut_sequence_matches_dcmtk(tmp_path: Path) -> None:
    ramp = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    table = (np.arange(4096) * 3 // 4 + 7).astype(np.uint16)
    ds = grayscale(ramp, ModalityLUTSequence=[lut_item([4096, 100, 12], table,
                                                       ModalityLUTType="US")])
    path = save(ds, tmp_path / "modality_lut.dcm")
    assert_within_one_level(render(dicomkit.read(path)), dcmtk_render(path, "+Wm"))
    assert_within_one_level(render(dicomkit.read(path), window=(1500, 1000)),
                            dcmtk_render(path, "+Ww", 1500, 1000))


@pytest.mark.parametrize("bits, first", [(16, 500), (12, 500), (16, -1000)])
def test_voi_lut_sequence_matches_dcmtk(tmp_path: Path, bits: int, first: int) -> None:
    values = np.arange(4096, dtype=np.int16 if first < 0 else np.uint16)
    if first < 0:
        values = values - 2048
    table = np.linspace(0, (1 << bits) - 1, 2000).astype(np.uint16)
    ds = grayscale(values.reshape(64, 64),
                   VOILUTSequence=[lut_item([2000, first & 0xFFFF, bits], table)])
    path = save(ds, tmp_path / "voi_lut.dcm")
    assert_within_one_level(render(dicomkit.read(path)), dcmtk_render(path, "+Wl", 1))


@pytest.mark.parametrize("photometric, shape, inverted", [
    ("MONOCHROME1", None, True),
    ("MONOCHROME1", "INVERSE", True),
    ("MONOCHROME2", "INVERSE", True),
    ("MONOCHROME1", "IDENTITY", False),
    ("MONOCHROME2", "IDENTITY", False),
])
def test_presentation_lut_shape_decides_polarity_as_in_dcmtk(
        tmp_path: Path, photometric: str, shape: str | None, inverted: bool) -> None:
    ramp = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    extra = {"PresentationLUTShape": shape} if shape else {}
    path = save(grayscale(ramp, photometric, **extra), tmp_path / "shape.dcm")
    ours = render(dicomkit.read(path))
    assert (ours[0, 0], ours[-1, -1]) == ((255, 0) if inverted else (0, 255))
    assert_within_one_level(ours, dcmtk_render(path, "+Wm"))


# -- colour -------------------------------------------------------------------------------------
def test_palette_color_ultrasound_matches_dcmtk(tmp_path: Path) -> None:
    path = copy_of("examples_palette.dcm", tmp_path)  # 16-bit palette entries
    ours = render(dicomkit.read(path))
    assert ours.shape == (350, 800, 3)
    assert_within_one_level(ours, dcmtk_render(path))


@pytest.mark.parametrize("name, frame", [("examples_ybr_color.dcm", 1),
                                         ("examples_ybr_color.dcm", 12),
                                         ("SC_rgb_dcmtk_+eb+cy+np.dcm", 1),
                                         ("SC_rgb_jpeg_dcmtk.dcm", 1)])
def test_ybr_jpeg_matches_dcmtk(tmp_path: Path, name: str, frame: int) -> None:
    # JPEG Baseline, YBR_FULL_422 (and YBR_FULL): DCMTK's IJG decoder converts to RGB itself;
    # dicomkit decodes the YCbCr samples and converts with dicomkit.pixels.color.
    path = copy_of(name, tmp_path)
    ours = render(dicomkit.read(path), frame=frame - 1)
    assert_within_one_level(ours, dcmtk_render(path, "+F", frame, tool="dcmj2pnm"))


@pytest.mark.parametrize("name", ["SC_ybr_full_422_uncompressed.dcm", "examples_rgb_color.dcm",
                                  "SC_rgb_rle_16bit.dcm", "ExplVR_BigEnd.dcm"])
def test_native_colour_matches_dcmtk(tmp_path: Path, name: str) -> None:
    path = copy_of(name, tmp_path)
    assert_within_one_level(render(dicomkit.read(path)), dcmtk_render(path))


def palette_image(name: str, tmp_path: Path) -> Path:
    """Every 8-bit index once, coloured by one of the PS3.6 Annex B well-known palettes."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.core.uid import generate_uid

    palette = dicomkit.read(pydicom_data_dir() / "palettes" / f"{name}.dcm")
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.Rows, ds.Columns = 16, 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    for element in palette:
        if "PaletteColorLookupTable" in element.keyword:
            ds[element.tag] = element
    ds.set("PixelData", np.arange(256, dtype=np.uint8).tobytes(), "OB")
    return save(ds, tmp_path / f"palette_{name}.dcm")


def test_8bit_palette_image_matches_dcmtk(tmp_path: Path) -> None:
    path = palette_image("hotiron", tmp_path)
    assert_within_one_level(render(dicomkit.read(path)), dcmtk_render(path))


def test_segmented_palette_image_matches_pydicom(tmp_path: Path) -> None:
    # DCMTK 3.6.7 refuses segmented palettes ("not yet supported"); pydicom's apply_color_lut
    # is the reference here.
    import pydicom
    from pydicom.pixels import apply_color_lut

    path = palette_image("fall", tmp_path)
    ours = render(dicomkit.read(path))
    reference = apply_color_lut(pydicom.dcmread(path).pixel_array, pydicom.dcmread(path))
    assert ours.shape == (16, 16, 3) and np.array_equal(ours, reference)


@pytest.mark.parametrize("name", ["examples_jpeg2k.dcm", "GDCMJ2K_TextGBR.dcm"])
def test_jpeg2000_ybr_rct_renders_as_pydicom_decodes(name: str) -> None:
    # JPEG 2000 lossless with the reversible component transform; DCMTK has no JPEG 2000
    # decoder, pydicom (OpenJPEG through pylibjpeg) gives the reference RGB.
    ours = render(dicomkit.read(pydicom_file(name)))
    assert np.array_equal(ours, pydicom_array(pydicom_file(name)))


def test_jpeg2000_ct_with_its_window_follows_the_linear_formula() -> None:
    # 693_J2KI: irreversible JPEG 2000, Rescale Intercept -1024, Window 40/100; the expected
    # image is the C.11.2.1.2.1 formula written out here, on pydicom's decoded values.
    path = pydicom_file("693_J2KI.dcm")
    hu = pydicom_array(path).astype(np.float64) - 1024
    center, width = 40.0, 100.0
    y = ((hu - (center - 0.5)) / (width - 1) + 0.5) * 255
    y = np.where(hu <= center - 0.5 - (width - 1) / 2, 0, y)
    y = np.where(hu > center - 0.5 + (width - 1) / 2, 255, y)
    expected = np.floor(y + 0.5).astype(np.uint8)
    assert np.array_equal(render(dicomkit.read(path)), expected)


def test_a_window_for_a_colour_image_is_refused() -> None:
    ds = dicomkit.read(pydicom_file("examples_palette.dcm"))
    with pytest.raises(ValueError, match="grayscale"):
        render(ds, window=(100, 200))


def test_to_8bit_scales_by_bits() -> None:
    assert to_8bit(np.array([0, 2048, 4095], np.uint16), 12).tolist() == [0, 128, 255]
    samples = np.array([3, 200], np.uint8)
    assert to_8bit(samples, 8) is samples


# -- PNG ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, dtype", [((5, 7), np.uint8), ((5, 7, 3), np.uint8),
                                          ((4, 3), np.uint16), ((2, 9, 3), np.uint16)])
def test_png_round_trip(shape: tuple[int, ...], dtype: Any) -> None:
    rng = np.random.default_rng(len(shape))
    image = rng.integers(0, np.iinfo(dtype).max + 1, size=shape).astype(dtype)
    data = to_png(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert np.array_equal(read_png(data), image)


def test_png_is_read_by_an_independent_decoder() -> None:
    imagecodecs = pytest.importorskip("imagecodecs")
    image = np.arange(240, dtype=np.uint8).reshape(8, 10, 3)
    assert np.array_equal(imagecodecs.png_decode(to_png(image)), image)


def test_png_chunks_are_ihdr_idat_iend_with_good_crcs() -> None:
    data = to_png(np.zeros((2, 3), np.uint8))
    position, kinds = 8, []
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        crc = int.from_bytes(data[position + 8 + length : position + 12 + length], "big")
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        position += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    assert data[16:29] == bytes([0, 0, 0, 3, 0, 0, 0, 2, 8, 0, 0, 0, 0])  # 3x2, 8-bit grey


@pytest.mark.parametrize("image", [np.zeros((2, 2, 4), np.uint8), np.zeros((2, 2), np.int32),
                                   np.zeros((0, 5), np.uint8)])
def test_png_refuses_what_it_cannot_hold(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="PNG"):
        to_png(image)
