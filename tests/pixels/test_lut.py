"""PS3.3 C.11: Modality LUT, VOI LUT (window functions, LUT sequences), Presentation LUT.

The window tests use the examples the standard gives with its pseudo-code (C.11.2.1.2.1 and its
notes) and the equations of C.11.2.1.3, with exact expected values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.errors import InvalidDicomError
from dicomkit.pixels import lut
from dicomkit.pixels.lut import (
    INVERSE,
    LINEAR,
    LINEAR_EXACT,
    SIGMOID,
    Window,
    apply_modality_lut,
    apply_presentation_lut,
    apply_voi,
    apply_voi_lut,
    min_max_window,
    to_uint8,
    windows,
)
from tests.support.images import grayscale, lut_item

RAMP = np.arange(4096, dtype=np.uint16)


# -- LINEAR, C.11.2.1.2.1 ------------------------------------------------------------------------
def test_linear_window_2048_4096_is_the_standards_example() -> None:
    # C.11.2.1.2.1: c = 2048, w = 4096 -> x <= 0: 0; x > 4095: 255;
    # else ((x - 2047.5) / 4095 + 0.5) * 255.
    x = np.array([-10, 0, 1, 2047, 2048, 4094, 4095, 4096, 9999])
    y = apply_voi(x, 2048, 4096)
    expected = [0, 0, ((1 - 2047.5) / 4095 + 0.5) * 255, ((2047 - 2047.5) / 4095 + 0.5) * 255,
                ((2048 - 2047.5) / 4095 + 0.5) * 255, ((4094 - 2047.5) / 4095 + 0.5) * 255,
                255, 255, 255]
    assert y.tolist() == pytest.approx(expected, abs=1e-12)
    assert y[1] == 0.0 and y[6] == 255.0


def test_linear_window_width_1_is_a_threshold_at_center_minus_half() -> None:
    # C.11.2.1.2.1: c = 2048, w = 1 -> x <= 2047.5: 0, else 255.
    y = apply_voi(np.array([2046, 2047, 2048, 2049]), 2048, 1)
    assert y.tolist() == [0, 0, 255, 255]
    # ... and c = 0, w = 1 -> x <= -0.5: 0, else 255.
    assert apply_voi(np.array([-1, 0, 1]), 0, 1).tolist() == [0, 255, 255]


def test_linear_widths_1_and_2_threshold_integers_alike() -> None:
    # Note 5: values below the centre show as the minimum, the rest as the maximum; a width
    # of 2 gives the same result for integer input.
    x = np.arange(90, 111)
    one = apply_voi(x, 100, 1)
    two = apply_voi(x, 100, 2)
    assert one.tolist() == two.tolist() == [0.0] * 10 + [255.0] * 11


def test_linear_identity_window_spans_every_stored_value() -> None:
    # Note 4: centre 2^(n-1), width 2^n selects 0 .. 2^n - 1 (n = 12 here).
    y = apply_voi(RAMP, 2048, 4096)
    assert y[0] == 0.0 and y[-1] == 255.0
    assert np.all(np.diff(y) > 0)


def test_linear_full_range_window_maps_x1_to_min_and_x2_to_max() -> None:
    # Note 4: centre (x1 + x2 + 1) / 2 and width x2 - x1 + 1 select x1..x2.
    x1, x2 = 100, 1123
    window = min_max_window(np.array([x1, 500, x2]))
    assert window[:2] == ((x1 + x2 + 1) / 2, x2 - x1 + 1)
    y = apply_voi(np.array([x1 - 1, x1, x2, x2 + 1]), window.center, window.width)
    assert y.tolist() == [0.0, 0.0, 255.0, 255.0]


def test_linear_window_output_range_is_y_min_to_y_max() -> None:
    y = apply_voi(np.array([-5000, 40, 5000]), 40, 400, LINEAR, y_min=16, y_max=235)
    assert y[0] == 16 and y[2] == 235
    assert y[1] == pytest.approx(((40 - 39.5) / 399 + 0.5) * 219 + 16)


def test_linear_window_may_select_a_signed_range() -> None:
    # Note 6: a signed input range is not clipped to zero (CT: -1000 HU is air).
    y = apply_voi(np.array([-1160, -600, -40]), -600, 1120)
    assert y[0] == 0.0 and y[2] == 255.0
    assert y[1] == pytest.approx(((-600 + 600.5) / 1119 + 0.5) * 255)


def test_linear_width_below_1_is_refused() -> None:
    with pytest.raises(ValueError, match="below 1"):
        apply_voi(RAMP, 100, 0.5)


# -- LINEAR_EXACT, C.11.2.1.3.2 -------------------------------------------------------------------
def test_linear_exact_edges_are_center_plus_minus_half_width() -> None:
    x = np.array([0, 1, 1024, 2048, 3072, 4095, 4096, 4097])
    y = apply_voi(x, 2048, 4096, LINEAR_EXACT)
    assert y.tolist() == [0.0, 255 / 4096, 63.75, 127.5, 191.25, 4095 * 255 / 4096, 255.0, 255.0]


def test_linear_exact_accepts_widths_below_1() -> None:
    y = apply_voi(np.array([9.7, 9.8, 10.0, 10.2, 10.3]), 10, 0.5, LINEAR_EXACT)
    assert y.tolist() == pytest.approx([0.0, 25.5, 127.5, 229.5, 255.0])


def test_linear_exact_width_0_is_refused() -> None:
    with pytest.raises(ValueError, match="LINEAR_EXACT"):
        apply_voi(RAMP, 100, 0, LINEAR_EXACT)


# -- SIGMOID, C.11.2.1.3.1 -----------------------------------------------------------------------
def test_sigmoid_is_the_standards_equation() -> None:
    # y = (ymax - ymin) / (1 + exp(-4 (x - c) / w)) + ymin
    c, w = 1000.0, 400.0
    x = np.array([0.0, 800.0, 900.0, 1000.0, 1100.0, 1200.0, 5000.0])
    y = apply_voi(x, c, w, SIGMOID)
    expected = [255 / (1 + math.exp(-4 * (v - c) / w)) for v in x]
    assert y.tolist() == pytest.approx(expected, rel=1e-15)
    assert y[3] == 127.5
    assert y[4] == pytest.approx(255 / (1 + math.exp(-1)))  # 186.38...
    assert round(float(y[4])) == 186 and round(float(y[2])) == 69


def test_sigmoid_with_an_output_range() -> None:
    y = apply_voi(np.array([50.0]), 50, 10, "sigmoid", y_min=10, y_max=20)
    assert y.tolist() == [15.0]


def test_unknown_voi_function_is_refused() -> None:
    with pytest.raises(ValueError, match="VOI LUT Function"):
        apply_voi(RAMP, 100, 10, "GAMMA")


# -- windows in a data set ---------------------------------------------------------------------
def test_multiple_windows_pair_up_and_are_chosen_by_index() -> None:
    ds = grayscale(RAMP.reshape(64, 64), WindowCenter=[450, 200], WindowWidth=[790, 443],
                   WindowCenterWidthExplanation=["SOFT", "BRAIN"])
    assert windows(ds) == [Window(450.0, 790.0, LINEAR, "SOFT"),
                           Window(200.0, 443.0, LINEAR, "BRAIN")]
    first = apply_voi_lut(RAMP, ds)
    second = apply_voi_lut(RAMP, ds, index=1)
    assert np.array_equal(first, apply_voi(RAMP, 450, 790))
    assert np.array_equal(second, apply_voi(RAMP, 200, 443))
    with pytest.raises(IndexError, match="window index 2"):
        apply_voi_lut(RAMP, ds, index=2)


def test_voi_lut_function_of_the_file_applies_to_its_windows() -> None:
    ds = grayscale(RAMP.reshape(64, 64), WindowCenter=2000, WindowWidth=1000,
                   VOILUTFunction="SIGMOID")
    assert np.array_equal(apply_voi_lut(RAMP, ds), apply_voi(RAMP, 2000, 1000, SIGMOID))


def test_a_given_window_replaces_the_files_and_is_linear_by_default() -> None:
    ds = grayscale(RAMP.reshape(64, 64), WindowCenter=2000, WindowWidth=1000,
                   VOILUTFunction="SIGMOID")
    assert np.array_equal(apply_voi_lut(RAMP, ds, window=(40, 400)), apply_voi(RAMP, 40, 400))
    assert np.array_equal(apply_voi_lut(RAMP, ds, window=(40, 400, LINEAR_EXACT)),
                          apply_voi(RAMP, 40, 400, LINEAR_EXACT))


def test_unequal_window_centers_and_widths_are_an_error() -> None:
    ds = grayscale(RAMP.reshape(64, 64), WindowCenter=[1, 2], WindowWidth=[10])
    with pytest.raises(InvalidDicomError, match="pair up"):
        windows(ds)


def test_no_voi_returns_the_input() -> None:
    ds = grayscale(RAMP.reshape(64, 64))
    assert apply_voi_lut(RAMP, ds) is RAMP


# -- VOI LUT Sequence, C.11.2.1.1 ---------------------------------------------------------------
def test_voi_lut_sequence_maps_from_the_first_value_and_clamps_both_ends() -> None:
    table = np.arange(0, 4000, 2, dtype=np.uint16) * 16  # 2000 entries, 16-bit output
    ds = grayscale(RAMP.reshape(64, 64),
                   VOILUTSequence=[lut_item([2000, 500, 16], table)])
    y = apply_voi_lut(np.array([0, 499, 500, 501, 2499, 2500, 4095]), ds)
    scale = 255 / 65535
    assert y.tolist() == pytest.approx([0.0, 0.0, 0.0, 32 * scale, 63968 * scale,
                                        63968 * scale, 63968 * scale])


def test_voi_lut_entries_use_the_descriptors_bit_depth_for_scaling() -> None:
    table = np.array([0, 1024, 4095], dtype=np.uint16)
    ds = grayscale(RAMP.reshape(64, 64), VOILUTSequence=[lut_item([3, 0, 12], table)])
    assert apply_voi_lut(np.array([0, 1, 2]), ds).tolist() == pytest.approx(
        [0.0, 1024 * 255 / 4095, 255.0])


def test_voi_lut_data_larger_than_its_declared_bits_decides_the_scale() -> None:
    # Declared 12 bits, but 16-bit entries: the entries decide (as DCMTK's +Mv does).
    ds = grayscale(RAMP.reshape(64, 64),
                   VOILUTSequence=[lut_item([2, 0, 12], [0, 65535], data_vr="US")])
    assert apply_voi_lut(np.array([0, 1]), ds).tolist() == [0.0, 255.0]


def test_voi_lut_8_bit_entries_packed_two_per_word() -> None:
    packed = np.array([0, 64, 128, 255], dtype=np.uint8).view("<u2")
    ds = grayscale(RAMP.reshape(64, 64), VOILUTSequence=[lut_item([4, 0, 8], packed)])
    assert apply_voi_lut(np.array([0, 1, 2, 3]), ds).tolist() == [0.0, 64.0, 128.0, 255.0]


def test_voi_lut_first_value_mapped_written_as_us_is_read_signed_for_signed_data() -> None:
    # C.11.2.1.1: the second value is SS for signed input; some writers send US 64536.
    values = np.arange(-2048, 2048, dtype=np.int16)
    table = np.linspace(0, 65535, 2000).astype(np.uint16)
    as_us = grayscale(values.reshape(64, 64),
                      VOILUTSequence=[lut_item([2000, (-1000) & 0xFFFF, 16], table)])
    as_ss = grayscale(values.reshape(64, 64),
                      VOILUTSequence=[lut_item([2000, -1000, 16], table, descriptor_vr="SS")])
    x = np.array([-2048, -1000, -999, 999, 2047])
    expected = [0.0, 0.0, table[1] * 255 / 65535, 255.0, 255.0]
    assert apply_voi_lut(x, as_us).tolist() == pytest.approx(expected)
    assert apply_voi_lut(x, as_ss).tolist() == pytest.approx(expected)


def test_window_preferred_over_voi_lut_unless_asked() -> None:
    ds = grayscale(RAMP.reshape(64, 64), WindowCenter=100, WindowWidth=50,
                   VOILUTSequence=[lut_item([2, 0, 8], [0, 255], data_vr="US"),
                                   lut_item([2, 0, 8], [255, 0], data_vr="US")])
    x = np.array([0, 1])
    assert apply_voi_lut(x, ds).tolist() == apply_voi(x, 100, 50).tolist()
    assert apply_voi_lut(x, ds, prefer_lut=True).tolist() == [0.0, 255.0]
    assert apply_voi_lut(x, ds, 1, prefer_lut=True).tolist() == [255.0, 0.0]
    with pytest.raises(IndexError, match="VOI LUT index 2"):
        apply_voi_lut(x, ds, 2, prefer_lut=True)


# -- Modality LUT, C.11.1 ------------------------------------------------------------------------
def test_rescale_with_whole_numbers_stays_integer() -> None:
    ds = grayscale(RAMP.reshape(64, 64), RescaleSlope=1, RescaleIntercept=-1024)
    out = apply_modality_lut(np.array([0, 1024, 4095], dtype=np.uint16), ds)
    assert out.dtype == np.int32 and out.tolist() == [-1024, 0, 3071]


def test_rescale_with_fractions_is_float() -> None:
    ds = grayscale(RAMP.reshape(64, 64), RescaleSlope=0.5, RescaleIntercept=-100.25)
    out = apply_modality_lut(np.array([0, 1, 4095], dtype=np.uint16), ds)
    assert out.dtype == np.float64 and out.tolist() == [-100.25, -99.75, 1947.25]


def test_no_modality_transform_returns_the_stored_values() -> None:
    stored = np.array([1, 2, 3], dtype=np.uint16)
    assert apply_modality_lut(stored, grayscale(RAMP.reshape(64, 64))) is stored


def test_modality_lut_sequence_maps_from_the_first_value_mapped() -> None:
    table = (np.arange(4096) * 3 // 4 + 7).astype(np.uint16)
    ds = grayscale(RAMP.reshape(64, 64), RescaleSlope=2, RescaleIntercept=5,  # ignored
                   ModalityLUTSequence=[lut_item([4096, 100, 12], table,
                                                 ModalityLUTType="US")])
    out = apply_modality_lut(np.array([0, 99, 100, 101, 4195, 4196, 65535]), ds)
    first, second, last = int(table[0]), int(table[1]), int(table[4095])
    assert out.tolist() == [first, first, first, second, last, last, last]


def test_lut_descriptor_first_value_0_means_65536_entries() -> None:
    table = np.arange(65536, dtype=np.uint32)[::-1].astype(np.uint16)
    ds = grayscale(RAMP.reshape(64, 64), ModalityLUTSequence=[lut_item([0, 0, 16], table)])
    out = apply_modality_lut(np.array([0, 1, 65534, 65535], dtype=np.uint16), ds)
    assert out.tolist() == [65535, 65534, 1, 0]


def test_modality_lut_with_signed_first_value() -> None:
    values = np.array([-2048, -2047, 0, 2047], dtype=np.int16)
    table = np.arange(4096, dtype=np.uint16)
    ds = grayscale(values.reshape(1, 4),
                   ModalityLUTSequence=[lut_item([4096, (-2048) & 0xFFFF, 12], table)])
    assert apply_modality_lut(values, ds).tolist() == [0, 1, 2048, 4095]


def test_lut_data_shorter_than_its_descriptor_is_an_error() -> None:
    ds = grayscale(RAMP.reshape(64, 64),
                   ModalityLUTSequence=[lut_item([4096, 0, 12], np.zeros(10, np.uint16))])
    with pytest.raises(InvalidDicomError, match="descriptor says 4096"):
        apply_modality_lut(RAMP, ds)


# -- functional groups (enhanced multi-frame, C.7.6.16.2) -------------------------------------------
def _group(**attributes: object) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def test_per_frame_functional_groups_override_shared_ones() -> None:
    frames = np.zeros((2, 4, 4), dtype=np.uint16)
    shared = _group(PixelValueTransformationSequence=[_group(RescaleSlope=1,
                                                             RescaleIntercept=-1000)],
                    FrameVOILUTSequence=[_group(WindowCenter=40, WindowWidth=400)])
    second = _group(PixelValueTransformationSequence=[_group(RescaleSlope=2,
                                                             RescaleIntercept=0)],
                    FrameVOILUTSequence=[_group(WindowCenter=-600, WindowWidth=1500)])
    ds = grayscale(frames, SharedFunctionalGroupsSequence=[shared],
                   PerFrameFunctionalGroupsSequence=[_group(), second])
    x = np.array([10], dtype=np.uint16)
    assert apply_modality_lut(x, ds, frame=0).tolist() == [-990]
    assert apply_modality_lut(x, ds, frame=1).tolist() == [20]
    assert windows(ds, 0) == [Window(40.0, 400.0)]
    assert windows(ds, 1) == [Window(-600.0, 1500.0)]


# -- Presentation LUT, C.11.6 --------------------------------------------------------------------
def test_presentation_lut_shapes() -> None:
    x = np.array([0.0, 63.75, 255.0])
    assert apply_presentation_lut(x, shape="IDENTITY") is x
    assert apply_presentation_lut(x, shape=INVERSE).tolist() == [255.0, 191.25, 0.0]
    ds = grayscale(RAMP.reshape(64, 64), PresentationLUTShape="INVERSE")
    assert apply_presentation_lut(x, ds).tolist() == [255.0, 191.25, 0.0]
    with pytest.raises(ValueError, match="LIN OD"):
        apply_presentation_lut(x, shape="LIN OD")


def test_presentation_lut_sequence_scales_its_input_implicitly() -> None:
    # 1024 entries (10-bit output) for 8-bit input: input 255 reaches the last entry.
    table = np.arange(1024, dtype=np.uint16)[::-1]
    ds = grayscale(RAMP.reshape(64, 64),
                   PresentationLUTSequence=[lut_item([1024, 0, 10], table)])
    y = apply_presentation_lut(np.array([0.0, 255.0, 127.5]), ds)
    assert y.tolist() == pytest.approx([255.0, 0.0, (1023 - 512) * 255 / 1023])


def test_to_uint8_rounds_half_up_and_clips() -> None:
    assert to_uint8(np.array([-3.0, 0.49, 0.5, 127.5, 254.5, 300.0])).tolist() == [
        0, 0, 1, 128, 255, 255]


def test_min_max_window_of_an_empty_or_flat_image() -> None:
    assert min_max_window(np.array([], dtype=np.int16)).width == 1.0
    flat = min_max_window(np.full(10, 7))
    assert (flat.center, flat.width) == (7.5, 1.0)
    assert lut.apply_voi(np.full(3, 7), flat.center, flat.width).tolist() == [0.0] * 3
