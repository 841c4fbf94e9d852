"""``dicomkit convert`` to and from compressed transfer syntaxes (PS3.5 §8.2): a lossy target
only with ``--lossy`` (and ``--quality``), decompression, and a target that cannot carry the
image refused with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dicomkit
from dicomkit.cli.main import main
from tests.support.datasets import pydicom_data_dir
from tests.support.pixels import pydicom_array

RGB = pydicom_data_dir() / "test_files" / "examples_rgb_color.dcm"
CT = pydicom_data_dir() / "test_files" / "CT_small.dcm"


def test_convert_refuses_lossy_without_flag(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["convert", str(RGB), str(tmp_path / "o.dcm"), "-t", "JPEGBaseline8Bit"])
    assert status == 1
    assert "--lossy" in capsys.readouterr().err


def test_convert_lossy_with_quality(tmp_path: Path) -> None:
    sizes = {}
    for quality in (40, 95):
        out = tmp_path / f"q{quality}.dcm"
        assert main(["convert", str(RGB), str(out), "-t", "JPEGBaseline8Bit", "--lossy",
                     "--quality", str(quality)]) == 0
        sizes[quality] = out.stat().st_size
        assert dicomkit.read(out).PhotometricInterpretation == "YBR_FULL_422"
    assert sizes[40] < sizes[95]


def test_convert_decompresses(tmp_path: Path) -> None:
    source = pydicom_data_dir() / "test_files" / "SC_rgb_rle_16bit_2frame.dcm"
    out = tmp_path / "o.dcm"
    assert main(["convert", str(source), str(out), "-t", "big"]) == 0
    assert np.array_equal(pydicom_array(out), pydicom_array(source))


def test_convert_refuses_what_the_target_cannot_carry(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["convert", str(CT), str(tmp_path / "o.dcm"), "-t", "JPEGBaseline8Bit",
                   "--lossy"])
    assert status == 1
    assert "at most 8-bit" in capsys.readouterr().err
