"""Shared helpers for the pixel tests: PSNR, pydicom's reference arrays, DCMTK's codec tools."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CODEC_TOOLS = ("dcmcrle", "dcmdrle", "dcmcjpeg", "dcmdjpeg", "dcmcjpls", "dcmdjpls")


def psnr(a: Any, b: Any, bits: int) -> float:
    """Peak signal-to-noise ratio in dB, peak 2**bits - 1 (inf when equal)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0:
        return float("inf")
    return float(10 * np.log10((2 ** bits - 1) ** 2 / mse))


def pydicom_array(path: Path | str) -> Any:
    """pydicom 3's default ``pixel_array`` (the reference; pylibjpeg plugins installed)."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path).pixel_array


def codec_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"DCMTK tool {name} not found (install the Debian package 'dcmtk')",
                    pytrace=False)
    return path


def run_tool(name: str, *args: Any) -> None:
    result = subprocess.run([codec_tool(name), *map(str, args)], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"{name} {' '.join(map(str, args))} exited {result.returncode}: "
                    f"{result.stderr}{result.stdout[-1000:]}")
