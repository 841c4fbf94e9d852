"""Shared helpers for the pixel tests: PSNR, pydicom's reference arrays, DCMTK's codec tools and
its rendering (``dcm2pnm``), copies of pydicom's sample files."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.datasets import pydicom_file
from tests.support.png import read_png

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


def dcmtk_render(path: Path, *options: Any, tool: str = "dcm2pnm") -> np.ndarray:
    """DCMTK's rendering of ``path`` as an array, read from the PNG it writes."""
    executable = shutil.which(tool)
    if executable is None:
        pytest.fail(f"DCMTK's {tool} is not on PATH (install the Debian package 'dcmtk')",
                    pytrace=False)
    out = path.with_name(path.stem + f"-{tool}.png")
    result = subprocess.run([executable, "-il", "-O", "+on", *map(str, options), str(path),
                             str(out)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"{tool} {' '.join(map(str, options))} {path} exited "
                    f"{result.returncode}: {result.stderr}")
    return read_png(out.read_bytes())


def assert_within_one_level(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == np.uint8
    assert ours.shape == theirs.shape
    diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    assert diff.max() <= 1, f"{np.count_nonzero(diff > 1)} pixel(s) differ by more than 1"


def copy_of(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    target.write_bytes(pydicom_file(name).read_bytes())
    return target
