"""PS3.3 C.7.6.3.1.2 colour transforms and C.7.6.3.1.5-6 / C.7.9 Palette Color lookup tables.

pydicom 3 is the test-time reference for YBR_FULL <-> RGB (its ``convert_color_space``) and for
Palette Color (its ``apply_color_lut``); the standard's equations give the exact values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.errors import InvalidDicomError, NotSupportedError
from dicomkit.pixels import color
from dicomkit.pixels.color import (
    LUTDescriptor,
    convert_color_space,
    expand_segmented_lut,
    palette_lut,
    rgb_to_ybr_full,
    rgb_to_ybr_rct,
    ybr_full_to_rgb,
    ybr_ict_to_rgb,
    ybr_rct_to_rgb,
)
from tests.support.datasets import pydicom_data_dir, pydicom_file

WELL_KNOWN = ("hotiron", "pet", "hotmetalblue", "pet20step", "spring", "summer", "fall", "winter")


def every_8bit_triple() -> np.ndarray:
    """All 2^24 sample triples, samples last."""
    values = np.arange(256, dtype=np.uint8)
    grid = np.stack(np.meshgrid(values, values, values, indexing="ij"), axis=-1)
    return grid.reshape(-1, 3)


def pydicom_convert(arr: np.ndarray, current: str, desired: str) -> np.ndarray:
    from pydicom.pixels import convert_color_space as reference

    return reference(arr, current, desired)


# -- YBR_FULL / YBR_FULL_422 -> RGB -------------------------------------------------------------
def test_ybr_full_to_rgb_matches_pydicom_for_every_8bit_triple() -> None:
    triples = every_8bit_triple()
    ours = ybr_full_to_rgb(triples)
    theirs = pydicom_convert(triples, "YBR_FULL", "RGB")
    diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    assert diff.max() <= 1
    # pydicom computes in float32: it differs only where the exact value is a rounding tie.
    assert np.count_nonzero(diff) < 1000


def test_ybr_full_to_rgb_values_from_the_equations() -> None:
    ybr = np.array([[128, 128, 128], [0, 128, 128], [255, 128, 128],
                    [76, 85, 255],  # pure red forward-transformed: Cr 255.5 was clipped
                    [100, 50, 200]], dtype=np.uint8)
    rgb = ybr_full_to_rgb(ybr)
    # R = 76 + 1.402 * 127 = 254.05, G = 76 + 0.344136 * 43 - 0.714136 * 127 = 0.1,
    # B = 76 - 1.772 * 43 = -0.2
    assert rgb[:4].tolist() == [[128, 128, 128], [0, 0, 0], [255, 255, 255], [254, 0, 0]]
    # R = 100 + 1.402 * 72 = 200.94; G = 100 - 0.344136 * (-78) - 0.714136 * 72 = 75.42;
    # B = 100 + 1.772 * (-78) = -38.2 -> 0
    assert rgb[4].tolist() == [201, 75, 0]


def test_ybr_full_422_upsampled_converts_as_ybr_full() -> None:
    rng = np.random.default_rng(422)
    frames = rng.integers(0, 256, size=(3, 7, 10, 3), dtype=np.uint8)
    assert np.array_equal(convert_color_space(frames, "YBR_FULL_422", "RGB"),
                          convert_color_space(frames, "YBR_FULL", "RGB"))
    assert convert_color_space(frames, "YBR_FULL_422", "RGB").shape == (3, 7, 10, 3)


def test_ybr_of_any_shape_and_layout_converts() -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    flipped = image[::-1, ::2]  # not contiguous
    assert np.array_equal(ybr_full_to_rgb(flipped), ybr_full_to_rgb(flipped.copy()))
    assert ybr_full_to_rgb(np.zeros((0, 3), np.uint8)).shape == (0, 3)
    assert ybr_full_to_rgb(np.array([[[10, 20, 30]]], np.uint8)).shape == (1, 1, 3)


def test_wider_samples_take_the_float_path_and_agree_with_the_tables() -> None:
    triples = every_8bit_triple()
    assert np.array_equal(ybr_full_to_rgb(triples.astype(np.uint16), bits=8),
                          ybr_full_to_rgb(triples))


def test_16bit_ybr_full_uses_the_2_to_the_15_chroma_offset() -> None:
    ybr = np.array([[32768, 32768, 32768], [65535, 32768, 32768], [30000, 20000, 50000]],
                   dtype=np.uint16)
    rgb = ybr_full_to_rgb(ybr, bits=16)
    assert rgb.dtype == np.uint16
    assert rgb[:2].tolist() == [[32768] * 3, [65535] * 3]
    cb, cr = 20000 - 32768, 50000 - 32768
    expected = [30000 + 1.402 * cr, 30000 - color.CB_TO_G * cb - color.CR_TO_G * cr,
                30000 + 1.772 * cb]
    assert rgb[2].tolist() == [int(np.floor(v + 0.5)) for v in expected]


def test_samples_must_be_last() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        ybr_full_to_rgb(np.zeros((3, 4, 4), np.uint8))


# -- RGB -> YBR_FULL -----------------------------------------------------------------------------
def test_rgb_to_ybr_full_matches_pydicom_for_every_8bit_triple() -> None:
    triples = every_8bit_triple()
    ours = rgb_to_ybr_full(triples)
    theirs = pydicom_convert(triples, "RGB", "YBR_FULL")
    assert np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).max() <= 1


def test_rgb_to_ybr_full_values_from_the_equations() -> None:
    # Y = .2990R + .5870G + .1140B; CB = -.1687R - .3313G + .5000B + 128;
    # CR = .5000R - .4187G - .0813B + 128 (C.7.6.3.1.2), rounded and clipped.
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]],
                   dtype=np.uint8)
    assert rgb_to_ybr_full(rgb).tolist() == [[76, 85, 255], [150, 44, 21], [29, 255, 107],
                                             [255, 128, 128], [0, 128, 128]]


def test_rgb_ybr_round_trip_is_within_two_levels() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, size=(100_000, 3), dtype=np.uint8)
    back = ybr_full_to_rgb(rgb_to_ybr_full(rgb))
    assert np.abs(back.astype(np.int16) - rgb).max() <= 2


# -- JPEG 2000 component transforms ---------------------------------------------------------------
@pytest.mark.parametrize("bits", [8, 12, 16])
def test_ybr_rct_inverse_is_exact(bits: int) -> None:
    rng = np.random.default_rng(bits)
    rgb = rng.integers(0, 1 << bits, size=(50_000, 3))
    rgb[:4] = [[0, 0, 0], [(1 << bits) - 1] * 3, [(1 << bits) - 1, 0, 0], [0, 0, (1 << bits) - 1]]
    back = ybr_rct_to_rgb(rgb_to_ybr_rct(rgb, bits), bits)
    assert back.dtype == (np.uint8 if bits == 8 else np.uint16)
    assert np.array_equal(back, rgb)


def test_ybr_rct_values_from_the_transform() -> None:
    # ISO/IEC 15444-1 G.2 on level-shifted samples: Y = floor((R + 2G + B) / 4),
    # Cb = B - G, Cr = R - G; the shift 128 is added back to each component.
    ybr = rgb_to_ybr_rct(np.array([[255, 0, 0], [10, 20, 30]]), 8)
    assert ybr.tolist() == [[63, 128, 383], [20, 138, 118]]
    assert ybr_rct_to_rgb(ybr, 8).tolist() == [[255, 0, 0], [10, 20, 30]]


def test_ybr_ict_inverse_is_the_ybr_full_inverse() -> None:
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, size=(50_000, 3), dtype=np.uint8)
    ict = rgb_to_ybr_full(rgb)  # the ICT's matrix; the DC shift puts chroma around 128
    assert np.array_equal(ybr_ict_to_rgb(ict), ybr_full_to_rgb(ict))
    assert np.abs(ybr_ict_to_rgb(ict).astype(np.int16) - rgb).max() <= 2


def test_convert_color_space_dispatches_and_refuses_the_unknown() -> None:
    rgb = np.array([[[255, 0, 0]]], np.uint8)
    assert convert_color_space(rgb, "RGB", "RGB") is rgb
    assert convert_color_space(rgb, "RGB", "YBR_FULL_422").tolist() == [[[76, 85, 255]]]
    assert convert_color_space(np.array([[[76, 85, 255]]], np.uint8), "ybr_full ",
                               "RGB").tolist() == [[[254, 0, 0]]]
    assert convert_color_space(rgb_to_ybr_rct(rgb), "YBR_RCT", "RGB").tolist() == rgb.tolist()
    with pytest.raises(NotSupportedError, match="YBR_PARTIAL_420"):
        convert_color_space(rgb, "YBR_PARTIAL_420", "RGB")


# -- Palette Color --------------------------------------------------------------------------------
def pydicom_palette(path: Path, arr: np.ndarray) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_color_lut

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return apply_color_lut(arr, pydicom.dcmread(path))


def test_palette_color_16bit_entries_match_pydicom() -> None:
    path = pydicom_file("examples_palette.dcm")
    ds = dicomkit.read(path)
    palette = palette_lut(ds)
    assert (palette.table.shape, palette.first_mapped, palette.bits) == ((256, 3), 0, 16)
    stored = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = palette.apply(stored)
    assert rgb.dtype == np.uint16 and rgb.shape == (16, 16, 3)
    assert np.array_equal(rgb, pydicom_palette(path, stored))


@pytest.mark.parametrize("name", WELL_KNOWN)
def test_well_known_palettes_match_pydicom(name: str) -> None:
    # PS3.6 Annex B: HOT_IRON .. PET_20_STEP hold plain 8-bit tables, SPRING .. WINTER
    # segmented ones (discrete and linear segments).
    path = pydicom_data_dir() / "palettes" / f"{name}.dcm"
    stored = np.arange(256, dtype=np.uint8)
    ours = palette_lut(dicomkit.read(path)).apply(stored)
    theirs = pydicom_palette(path, stored)
    assert ours.dtype == np.uint8
    diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    # pydicom rounds a linear segment's halves to even (numpy.around); the standard says
    # nothing, dicomkit rounds half up: SUMMER's blue entry 223 is 190.5 exactly.
    assert diff.max() <= 1
    assert np.count_nonzero(diff) == (1 if name == "summer" else 0)


def test_segmented_linear_segment_joins_the_previous_entry_to_its_end_value() -> None:
    # C.7.9.2.2: (x0, y0) is the previous segment's end; n points up to (x0 + n, y1).
    data = np.array([0, 1, 0,        # discrete: one entry, 0
                     1, 4, 254],     # linear: 4 entries to 254
                    dtype=np.uint16)
    assert expand_segmented_lut(data).tolist() == [0, 64, 127, 191, 254]  # 63.5 -> 64, 190.5 -> 191


def test_segmented_discrete_and_indirect_segments() -> None:
    # C.7.9.2.3: an indirect segment copies n segments starting at a *byte* offset from the
    # start of the data, given least significant 16 bits first.
    data = np.array([0, 3, 10, 20, 30,   # byte 0: discrete 10 20 30
                     1, 2, 50,           # byte 10: linear to 50 in 2 steps
                     2, 2, 0, 0,         # indirect: the 2 segments at byte 0
                     2, 1, 10, 0],       # indirect: the 1 segment at byte 10
                    dtype=np.uint16)
    assert expand_segmented_lut(data).tolist() == [10, 20, 30, 40, 50, 10, 20, 30, 40, 50,
                                                   50, 50]


def test_segmented_8bit_data_with_an_indirect_segment() -> None:
    data = np.array([0, 2, 5, 9,          # discrete 5 9
                     2, 1, 0, 0, 0, 0],   # indirect: 1 segment at byte offset 0
                    dtype=np.uint8)
    out = expand_segmented_lut(data, bits=8)
    assert out.dtype == np.uint8 and out.tolist() == [5, 9, 5, 9]


@pytest.mark.parametrize("data, message", [
    ([1, 2, 10], "first segment"),
    ([0, 1, 5, 3, 1, 0], "reserved"),
    ([0, 1, 5, 2, 1, 6, 0, 2, 1, 0, 0], "another indirect"),
    ([0, 5, 1, 2], "past the end"),
])
def test_malformed_segmented_data_is_an_error(data: list[int], message: str) -> None:
    with pytest.raises(InvalidDicomError, match=message):
        expand_segmented_lut(np.array(data, dtype=np.uint16))


def _palette_image(descriptor: list[int], red: bytes, green: bytes, blue: bytes,
                   **extra: object) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.PixelRepresentation = 0
    for colour, data in (("Red", red), ("Green", green), ("Blue", blue)):
        ds.set(f"{colour}PaletteColorLookupTableDescriptor", descriptor, "US")
        ds.set(f"{colour}PaletteColorLookupTableData", data, "OW")
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    return ds


def test_palette_8bit_entries_packed_two_per_word() -> None:
    # C.7.6.3.1.6: 8-bit entries are stored as 8 bits allocated, two to a 16-bit word.
    red = bytes([0, 10, 20, 30])
    green = bytes([1, 11, 21, 31])
    blue = bytes([2, 12, 22, 32])
    palette = palette_lut(_palette_image([4, 0, 8], red, green, blue))
    assert palette.bits == 8 and palette.table.dtype == np.uint8
    assert palette.apply(np.array([0, 3], np.uint8)).tolist() == [[0, 1, 2], [30, 31, 32]]


def test_palette_8bit_entries_one_per_word_are_recognised() -> None:
    words = [np.array(v, "<u2").tobytes() for v in ([0, 100, 200, 255], [1, 2, 3, 4],
                                                     [9, 8, 7, 6])]
    palette = palette_lut(_palette_image([4, 0, 8], *words))
    assert palette.table.dtype == np.uint8
    assert palette.apply(np.array([1, 2], np.uint8)).tolist() == [[100, 2, 8], [200, 3, 7]]


def test_palette_first_value_mapped_and_clamping() -> None:
    # C.7.6.3.1.5: values below the first mapped take the first entry, past the end the last.
    tables = [np.array(v, "<u2").tobytes() for v in ([1000, 2000, 3000], [0, 0, 0],
                                                      [65535, 32768, 0])]
    palette = palette_lut(_palette_image([3, 100, 16], *tables))
    stored = np.array([0, 99, 100, 101, 102, 103, 65535], dtype=np.uint16)
    assert palette.apply(stored)[:, 0].tolist() == [1000, 1000, 1000, 2000, 3000, 3000, 3000]
    assert palette.apply(stored)[:, 2].tolist() == [65535, 65535, 65535, 32768, 0, 0, 0]


def test_palette_descriptor_0_entries_means_65536() -> None:
    ramp = np.arange(65536, dtype="<u2").tobytes()
    palette = palette_lut(_palette_image([0, 0, 16], ramp, ramp, ramp))
    assert palette.table.shape == (65536, 3)
    assert palette.apply(np.array([0, 40000, 65535], np.uint16))[:, 1].tolist() == [0, 40000,
                                                                                  65535]


def test_palette_with_missing_data_is_an_error() -> None:
    ds = _palette_image([4, 0, 8], bytes(4), bytes(4), bytes(4))
    del ds.BluePaletteColorLookupTableData
    with pytest.raises(InvalidDicomError, match="Blue Palette Color Lookup Table Data"):
        palette_lut(ds)


def test_lut_descriptor_reads_a_signed_first_value() -> None:
    ds = Dataset()
    element = ds.set("LUTDescriptor", [0, 0xF800, 16], "US")
    assert LUTDescriptor.from_element(element, signed_input=True) == (65536, -2048, 16)
    assert LUTDescriptor.from_element(element, signed_input=False) == (65536, 0xF800, 16)


def test_ybr_full_to_rgb_in_place() -> None:
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, size=(4, 6, 10, 3), dtype=np.uint8)
    expected = ybr_full_to_rgb(frames)
    converted = ybr_full_to_rgb(frames, out=frames)
    assert converted is frames and np.array_equal(frames, expected)
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        ybr_full_to_rgb(frames, out=np.empty((4, 6, 10, 3), np.uint16))


def test_palette_of_a_big_endian_file_reads_the_same(tmp_path: Path) -> None:
    source = dicomkit.read(pydicom_file("examples_palette.dcm"))
    big = tmp_path / "palette_big_endian.dcm"
    dicomkit.write(source, big, transfer_syntax="ExplicitVRBigEndian")
    ours = palette_lut(dicomkit.read(big))
    assert np.array_equal(ours.table, palette_lut(source).table)
