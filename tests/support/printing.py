"""Helpers of the Print Management tests: DCMTK's print tools (``dcmpsprt`` makes a stored
print job of images for a printer of ``dcmpstat.cfg``, ``dcmprscu`` sends it, ``dcmprscp`` is a
print SCP), CT slices to print, and the PDF of a printed film turned back into pixels with
poppler (``pdftoppm``, ``pdfimages``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dicomkit.core.uid import generate_uid
from dicomkit.encoding.reader import read
from dicomkit.encoding.writer import write
from tests.support.datasets import pydicom_file
from tests.support.dcmtk import Background, background

DCMPSTAT_CFG = Path("/etc/dcmtk/dcmpstat.cfg")
PRINTER = "IHEFULL"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = "poppler-utils" if name.startswith("pdf") else "dcmtk"
        pytest.fail(f"{name} not found (install the Debian package {package!r})",
                    pytrace=False)
    return path


def run(name: str, *args: Any, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([tool(name), *[str(a) for a in args]], capture_output=True,
                            encoding="latin-1", timeout=timeout, cwd=cwd, check=False)
    if result.returncode != 0:
        pytest.fail(f"{name} {' '.join(map(str, args))} exited {result.returncode}:\n"
                    f"{result.stdout[-3000:]}{result.stderr[-3000:]}", pytrace=False)
    return result


def dcmpstat_config(folder: Path, port: int, aet: str = PRINTER) -> Path:
    """A copy of /etc/dcmtk/dcmpstat.cfg whose IHEFULL printer is ``aet`` at 127.0.0.1:port,
    with its folders under ``folder``."""
    text = DCMPSTAT_CFG.read_text("latin-1")
    start = text.index("[IHEFULL]")
    end = text.index("\n[", start + 1)
    section = text[start:end]
    section = re.sub(r"(?m)^Port\s*=.*$", f"Port = {port}", section)
    section = re.sub(r"(?m)^Hostname\s*=.*$", "Hostname = 127.0.0.1", section)
    section = re.sub(r"(?m)^Aetitle\s*=.*$", f"Aetitle = {aet}", section)
    text = text[:start] + section + text[end:]
    text = re.sub(r"(?m)^Spooler\s*=.*$", f"Spooler = {tool('dcmprscu')}", text)
    for key in ("Directory", "LogDirectory"):
        text = re.sub(rf"(?m)^({key})\s*=\s*(\w+)\s*$",
                      lambda m: f"{m.group(1)} = {folder / m.group(2)}", text)
    for name in ("database", "spool", "log", "lut", "reports"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    path = folder / "dcmpstat.cfg"
    path.write_text(text, "latin-1")
    return path


def ct_slices(folder: Path, count: int = 4) -> list[Path]:
    """``count`` CT slices of one study (pydicom's CT_small.dcm, shifted a little per slice),
    with a window in the file (center 40, width 400 in HU)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = read(str(pydicom_file("CT_small.dcm")))
    pixels = source.pixel_array
    study, series = generate_uid(), generate_uid()
    paths = []
    for number in range(1, count + 1):
        ds = read(str(pydicom_file("CT_small.dcm")))
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = number
        ds.PatientID = "PRINT-CT"
        ds.WindowCenter = 40
        ds.WindowWidth = 400
        shifted = np.roll(pixels, 8 * (number - 1), axis=1).astype(pixels.dtype)
        ds.set("PixelData", shifted.astype("<i2").tobytes(), "OW")
        path = folder / f"ct{number}.dcm"
        write(ds, str(path), transfer_syntax="ExplicitVRLittleEndian")
        paths.append(path)
    return paths


def dcmtk_print(config: Path, files: list[Path], *args: str, cwd: Path) -> str:
    """``dcmpsprt`` the files into a stored print job (``args``: --layout 2 2 …), then
    ``dcmprscu`` it to the configured printer; dcmprscu's output."""
    run("dcmpsprt", "-c", config, "-p", PRINTER, *args, *files, cwd=cwd)
    stored = sorted((config.parent / "database").glob("SP_*.dcm"),
                    key=lambda p: p.stat().st_mtime)
    assert stored, "dcmpsprt made no stored print object"
    result = run("dcmprscu", "-c", config, "-p", PRINTER, "-v", stored[-1], cwd=cwd)
    return result.stdout + result.stderr


def start_dcmprscp(config: Path, cwd: Path) -> Background:
    return background([tool("dcmprscp"), "-c", str(config), "-p", PRINTER], cwd / "prscp.log",
                      cwd=cwd)


def pdf_page(pdf: Path, dpi: int, out: Path) -> np.ndarray[Any, Any]:
    """The PDF's page rasterised by pdftoppm as a grey array."""
    run("pdftoppm", "-r", dpi, "-gray", "-png", "-singlefile", pdf, out.with_suffix(""))
    from PIL import Image

    return np.asarray(Image.open(out).convert("L"))


def pdf_images(pdf: Path, folder: Path) -> list[np.ndarray[Any, Any]]:
    """The images embedded in the PDF, as stored (pdfimages -png), in page order."""
    folder.mkdir(parents=True, exist_ok=True)
    run("pdfimages", "-png", pdf, folder / "img")
    from PIL import Image

    return [np.asarray(Image.open(path)) for path in sorted(folder.glob("img-*.png"))]


def dcm2pnm(path: Path, center: float, width: float, out: Path) -> np.ndarray[Any, Any]:
    """DCMTK's rendering of ``path`` at the window, 8 bits."""
    run("dcm2pnm", "+on", "+Ww", center, width, path, out)
    from PIL import Image

    return np.asarray(Image.open(out))
