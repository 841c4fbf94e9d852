"""Interop with DCMTK's codecs, both ways.

- DCMTK compresses (dcmcrle; dcmcjpeg lossless SV1 ``+e1``, Process 14 ``+el`` with predictor
  6, baseline ``+eb``; dcmcjpls lossless and near-lossless) uncompressed pydicom samples;
  dicomkit must decode the lossless ones to exactly the original values, and the lossy ones as
  pydicom decodes the same file (within PSNR 50 dB for JPEG, exactly for JPEG-LS).
- dicomkit compresses; DCMTK (dcmdrle, dcmdjpeg, dcmdjpls) and pydicom decompress to exactly
  the original values (lossless), or within a stated PSNR of them (lossy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomkit
from dicomkit.cli.main import main
from dicomkit.pixels.transcode import transcode
from tests.support.datasets import pydicom_data_dir
from tests.support.pixels import psnr, pydicom_array, run_tool

SOURCES = {
    "CT_small.dcm": "16-bit signed",
    "MR_small.dcm": "16-bit signed",
    "examples_overlay.dcm": "12 of 16 bits",
    "examples_rgb_color.dcm": "RGB 8-bit",
    "SC_rgb_small_odd.dcm": "RGB 3x3",
    "examples_palette.dcm": "8-bit palette",
}
EIGHT_BIT = ["examples_rgb_color.dcm", "SC_rgb_small_odd.dcm", "examples_palette.dcm"]
DCMTK_LOSSLESS = {
    "rle": ("dcmcrle", []),
    "jpeg-sv1": ("dcmcjpeg", ["+e1"]),
    "jpeg-p14-sv6": ("dcmcjpeg", ["+el", "+sv", "6"]),
    "jpeg-p14-sv7": ("dcmcjpeg", ["+el", "+sv", "7"]),
    "jpeg-ls": ("dcmcjpls", ["+el"]),
}


def _source(name: str) -> Path:
    return pydicom_data_dir() / "test_files" / name


@pytest.mark.parametrize("kind", list(DCMTK_LOSSLESS))
@pytest.mark.parametrize("name", list(SOURCES))
def test_dcmtk_lossless_decodes_exactly(tmp_path: Path, name: str, kind: str) -> None:
    tool, options = DCMTK_LOSSLESS[kind]
    compressed = tmp_path / "c.dcm"
    run_tool(tool, *options, _source(name), compressed)
    ds = dicomkit.read(compressed)
    assert ds.transfer_syntax.encapsulated
    assert np.array_equal(ds.pixel_array, pydicom_array(_source(name)))


def test_dcmtk_fragmented_multiframe_without_offset_table(tmp_path: Path) -> None:
    """1 KiB fragments and an empty Basic Offset Table: frames found by their SOI markers."""
    native = tmp_path / "native.dcm"
    source = pydicom_data_dir() / "test_files" / "SC_rgb_rle_2frame.dcm"
    assert main(["convert", str(source), str(native), "-t", "explicit"]) == 0
    compressed = tmp_path / "c.dcm"
    run_tool("dcmcjpeg", "+e1", "+fs", "1", "-ot", native, compressed)
    ds = dicomkit.read(compressed)
    expected = pydicom_array(source)
    assert np.array_equal(ds.frame(1), expected[1])
    assert np.array_equal(ds.pixel_array, expected)


@pytest.mark.parametrize("process", ["+eb", "+ep", "+es"])
@pytest.mark.parametrize("name", ["examples_rgb_color.dcm", "SC_rgb_small_odd.dcm"])
def test_dcmtk_lossy_jpeg_decodes_as_others_do(tmp_path: Path, name: str,
                                               process: str) -> None:
    """Baseline (.4.50), and the retired full progression (.4.55) and spectral selection
    (.4.53) syntaxes DCMTK still writes, against DCMTK's own decoding (pydicom has no decoder
    for the retired ones); a progressive codestream also decodes when a file labels it JPEG
    Baseline, as some do."""
    compressed = tmp_path / "c.dcm"
    run_tool("dcmcjpeg", process, _source(name), compressed)
    plain = tmp_path / "plain.dcm"
    run_tool("dcmdjpeg", compressed, plain)
    ours = dicomkit.read(compressed).pixel_array
    assert psnr(ours, pydicom_array(plain), 8) >= 50
    assert psnr(ours, pydicom_array(_source(name)), 8) >= 30
    if process == "+eb":
        assert psnr(ours, pydicom_array(compressed), 8) >= 50
    if process == "+ep":
        from dicomkit.pixels.codecs import CODECS
        from dicomkit.pixels.info import PixelInfo
        from dicomkit.pixels.native import PixelSource

        source = PixelSource(dicomkit.read(compressed))
        as_baseline = PixelInfo.from_dataset(source.ds).with_changes(
            transfer_syntax="1.2.840.10008.1.2.4.50")
        progressive = source.index().frame_bytes(0)
        decoded = CODECS[as_baseline.transfer_syntax].decode(progressive, as_baseline)
        assert np.array_equal(decoded, dicomkit.read(compressed).frame(0))


@pytest.mark.parametrize("name", ["examples_overlay.dcm", "examples_rgb_color.dcm"])
def test_dcmtk_near_lossless_jpeg_ls(tmp_path: Path, name: str) -> None:
    compressed = tmp_path / "c.dcm"
    run_tool("dcmcjpls", "+en", "+md", "3", _source(name), compressed)
    ours = dicomkit.read(compressed).pixel_array
    assert np.array_equal(ours, pydicom_array(compressed))
    original = pydicom_array(_source(name))
    assert np.abs(ours.astype(np.int64) - original).max() <= 3


# -- dicomkit compresses ---------------------------------------------------------------------
DICOMKIT_LOSSLESS = {
    "RLELossless": "dcmdrle",
    "JPEGLossless": "dcmdjpeg",
    "JPEGLosslessSV1": "dcmdjpeg",
    "JPEGLSLossless": "dcmdjpls",
    "JPEG2000Lossless": None,
    "HTJ2KLossless": None,
    "HTJ2KLosslessRPCL": None,
}


def _write(ds: Any, path: Path, syntax: str) -> None:
    dicomkit.write(ds, path, transfer_syntax=syntax)


@pytest.mark.parametrize("syntax", list(DICOMKIT_LOSSLESS))
@pytest.mark.parametrize("name", list(SOURCES))
def test_dicomkit_lossless_decodes_exactly_elsewhere(tmp_path: Path, name: str,
                                                     syntax: str) -> None:
    original = pydicom_array(_source(name))
    compressed = tmp_path / "k.dcm"
    _write(transcode(dicomkit.read(_source(name)), syntax), compressed, syntax)
    assert np.array_equal(pydicom_array(compressed), original)
    assert np.array_equal(dicomkit.read(compressed).pixel_array, original)
    tool = DICOMKIT_LOSSLESS[syntax]
    if tool is not None:
        plain = tmp_path / "plain.dcm"
        run_tool(tool, compressed, plain)
        assert np.array_equal(pydicom_array(plain), original)


@pytest.mark.parametrize("name", ["rtdose.dcm", "SC_rgb_rle_32bit_2frame.dcm"])
def test_dicomkit_rle_of_32_bit_multiframe(tmp_path: Path, name: str) -> None:
    original = pydicom_array(_source(name))
    compressed = tmp_path / "k.dcm"
    _write(transcode(dicomkit.read(_source(name)), "RLELossless"), compressed, "RLELossless")
    plain = tmp_path / "plain.dcm"
    run_tool("dcmdrle", compressed, plain)
    assert np.array_equal(pydicom_array(plain), original)
    assert np.array_equal(pydicom_array(compressed), original)


LOSSY = [  # target, sources, tool, minimum PSNR to the original
    ("JPEGBaseline8Bit", EIGHT_BIT, "dcmdjpeg", 30.0),
    ("JPEGExtended12Bit", ["examples_overlay.dcm"], "dcmdjpeg", 50.0),
    ("JPEGLSNearLossless", list(SOURCES), "dcmdjpls", 40.0),
    ("JPEG2000", list(SOURCES), None, 35.0),
    ("HTJ2K", ["CT_small.dcm", "examples_rgb_color.dcm"], None, 35.0),
]


@pytest.mark.parametrize("syntax, names, tool, minimum", LOSSY)
def test_dicomkit_lossy_decodes_elsewhere_within_psnr(tmp_path: Path, syntax: str,
                                                      names: list[str], tool: str | None,
                                                      minimum: float) -> None:
    for name in names:
        original = pydicom_array(_source(name))
        bits = int(dicomkit.read(_source(name)).BitsStored)
        compressed = tmp_path / f"{name}.dcm"
        _write(transcode(dicomkit.read(_source(name)), syntax, lossy_ok=True), compressed,
               syntax)
        ours = dicomkit.read(compressed).pixel_array
        theirs = pydicom_array(compressed)
        assert psnr(ours, original, bits) >= minimum, name
        assert psnr(theirs, ours, bits) >= 50, name
        if tool is not None:
            plain = tmp_path / f"{name}-plain.dcm"
            run_tool(tool, compressed, plain)
            assert psnr(pydicom_array(plain), ours, bits) >= 50, name
