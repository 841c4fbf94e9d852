"""The OHIF Viewer for the tests, and the images it is shown.

- :func:`ohif_build`: npm ``@ohif/app`` at the pinned version, fetched from the npm registry with
  ``npm pack`` and extracted once into a cache folder (``$DICOMKIT_TEST_CACHE`` or
  ``~/.cache/dicomkit-tests``; an atomic rename, so parallel workers cannot see half of it).
  OHIF is never committed; npm missing or the fetch failing is a test failure, not a skip.
- :func:`synthetic_ct`: a CT series with real geometry (Image Position/Orientation, Pixel
  Spacing, Slice Thickness), Window Center/Width set (OHIF's first window is the file's), a
  smooth image that differs from slice to slice, and a bright 2-pixel frame that shows where
  the image lies on a screenshot.
- :func:`image_box` and :func:`compare`: the image found on a screenshot, and the difference of
  two renderings of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.encoding.writer import write

OHIF_VERSION = "3.13.2"
NPM_TIMEOUT = 600


def cache_dir() -> Path:
    folder = os.environ.get("DICOMKIT_TEST_CACHE") or os.path.expanduser(
        "~/.cache/dicomkit-tests")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def ohif_build(version: str = OHIF_VERSION) -> Path:
    """The ``dist/`` folder of ``@ohif/app@version``, fetched into the cache when missing."""
    target = cache_dir() / f"ohif-app-{version}"
    dist = target / "package" / "dist"
    if (dist / "index.html").is_file():
        return dist
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the OHIF tests fetch @ohif/app from the npm "
                    "registry (apt-get install -y npm)", pytrace=False)
    work = Path(tempfile.mkdtemp(prefix="ohif-", dir=cache_dir()))
    try:
        result = subprocess.run([npm, "pack", f"@ohif/app@{version}", "--silent",
                                 "--pack-destination", str(work)], capture_output=True,
                                text=True, timeout=NPM_TIMEOUT, cwd=work)
        tarballs = list(work.glob("*.tgz"))
        if result.returncode != 0 or len(tarballs) != 1:
            pytest.fail(f"npm pack @ohif/app@{version} failed ({result.returncode}):\n"
                        f"{result.stderr[-2000:]}", pytrace=False)
        extracted = work / "extracted"
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(extracted, filter="data")
        if not (extracted / "package" / "dist" / "index.html").is_file():
            pytest.fail(f"@ohif/app@{version} has no dist/index.html", pytrace=False)
        try:
            extracted.rename(target)
        except OSError:  # another worker got there first
            if not (dist / "index.html").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dist


# -- the CT ------------------------------------------------------------------------------------------
WINDOW = (40.0, 400.0)  # (center, width) in HU: stored in the files, OHIF's first window


@dataclass
class CTSeries:
    paths: list[Path]
    study: str
    series: str
    patient_id: str
    datasets: list[Dataset]


def ct_hounsfield(size: int, index: int, count: int) -> np.ndarray:
    """Slice ``index`` (0-based): a horizontal ramp, a soft disc whose radius and brightness
    grow with the slice, and a bright 2-pixel frame; in HU, within the window but for the
    frame (which saturates)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = (size - 1) / 2
    radius = size * (0.1 + 0.3 * index / max(count - 1, 1))
    distance = np.hypot(x - centre, y - centre * 0.9)
    disc = 1 / (1 + np.exp((distance - radius) / (size / 40)))  # a soft edge
    values = -150 + 200 * x / size + (40 + 180 * index / max(count - 1, 1)) * disc
    values[:2, :] = values[-2:, :] = values[:, :2] = values[:, -2:] = 600
    return np.rint(values).astype(np.int16)


def synthetic_ct(folder: Path, count: int = 12, size: int = 256,
                 patient_id: str = "OHIF-CT-1") -> CTSeries:
    """``count`` axial slices, 1 mm apart, written as CT Image Storage files."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    paths, datasets = [], []
    for index in range(count):
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = registered("CTImageStorage")
        ds.SOPInstanceUID = generate_uid()
        ds.StudyDate, ds.StudyTime = "20261201", "093000"
        ds.SeriesDate, ds.SeriesTime = "20261201", "093100"
        ds.AccessionNumber = "OHIF1"
        ds.Modality = "CT"
        ds.Manufacturer = "dicomkit"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "OHIF interop CT"
        ds.SeriesDescription = "Axial synthetic"
        ds.PatientName = "Ohif^Interop"
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19800101"
        ds.PatientSex = "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, index + 1
        ds.FrameOfReferenceUID = frame_of_reference
        ds.PositionReferenceIndicator = ""
        ds.SliceThickness = 1.0
        ds.KVP = 120
        ds.ImagePositionPatient = [-64.0, -64.0, -20.0 + index]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.SliceLocation = -20.0 + index
        ds.PixelSpacing = [0.5, 0.5]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 0
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024.0, 1.0, "HU"
        ds.WindowCenter, ds.WindowWidth = WINDOW
        stored = (ct_hounsfield(size, index, count).astype(np.int32) + 1024).astype("<u2")
        ds.set("PixelData", stored.tobytes(), "OW")
        path = folder / f"ct-{index + 1:03d}.dcm"
        write(ds, str(path))
        paths.append(path)
        datasets.append(ds)
    return CTSeries(paths, study, series, patient_id, datasets)


# -- screenshots -----------------------------------------------------------------------------------
def image_box(shot: np.ndarray, threshold: int = 250) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the saturated frame of :func:`ct_hounsfield` in a
    grayscale screenshot: the outermost rows and columns where most pixels are that bright."""
    bright = shot >= threshold
    rows = np.flatnonzero(bright.mean(axis=1) > 0.5)
    cols = np.flatnonzero(bright.mean(axis=0) > 0.5)
    if not len(rows) or not len(cols):
        raise AssertionError("no image frame found on the screenshot")
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


@dataclass
class Difference:
    mean: float
    p99: float
    worst: int

    def __str__(self) -> str:
        return f"mean {self.mean:.2f}, 99th percentile {self.p99:.1f}, max {self.worst}"


def compare(shot: np.ndarray, expected: np.ndarray, margin: float = 0.1) -> Difference:
    """``shot`` (the screenshot's image box) against ``expected`` (dicomkit's rendering,
    resized to the box), on the inside of the image: a ``margin`` of each side left out, where
    the frame's edge and the viewers' corner texts are."""
    height, width = shot.shape
    scaled = resize(expected, height, width)
    top, left = int(height * margin), int(width * margin)
    inner = (slice(top, height - top), slice(left, width - left))
    delta = np.abs(shot[inner].astype(np.int32) - scaled[inner].astype(np.int32))
    return Difference(float(delta.mean()), float(np.percentile(delta, 99)), int(delta.max()))


def grayscale_png(data: bytes) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    return np.asarray(Image.open(BytesIO(data)).convert("L"))


def element_png(locator: Any, attempts: int = 20) -> bytes:
    """A PNG screenshot of the element ``locator`` points at.

    OHIF replaces a viewport's canvas when it loads a new display set (a SEG over a CT, a
    layout change); a screenshot taken as that happens fails with "Element is not attached to
    the DOM". The locator is resolved again on each try, so a retry shoots the new canvas.
    A screenshot that times out (a browser slowed by a loaded machine: two CI workers and
    their servers on two cores) is tried again up to three times.
    """
    from playwright.sync_api import Error

    timeouts = 0
    for attempt in range(attempts):
        try:
            return bytes(locator.screenshot(timeout=20_000))
        except Error as error:
            timed_out = "Timeout" in str(error)
            timeouts += timed_out
            transient = "not attached" in str(error) or "not stable" in str(error) \
                or (timed_out and timeouts < 3)
            if not transient or attempt == attempts - 1:
                raise
            locator.page.wait_for_timeout(250)
    raise AssertionError("unreachable")


def screenshot_of(locator: Any) -> np.ndarray:
    return grayscale_png(element_png(locator))


def color_screenshot_of(locator: Any) -> np.ndarray:
    """An element's screenshot as (rows, columns, 3) RGB ints."""
    from io import BytesIO

    from PIL import Image

    return np.asarray(Image.open(BytesIO(element_png(locator))).convert("RGB")).astype(int)


# -- a multi-frame US, a SEG and an SR of the CT --------------------------------------------------
def synthetic_us(folder: Path, study: str, patient_id: str, frames: int = 8,
                 size: int = 128) -> tuple[Path, Dataset]:
    """A multi-frame Ultrasound image (8-bit MONOCHROME2, a bright bar moving frame to frame)
    in ``study``, with Frame Time for cine."""
    folder.mkdir(parents=True, exist_ok=True)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = registered("UltrasoundMultiFrameImageStorage")
    ds.SOPInstanceUID = generate_uid()
    ds.StudyDate, ds.StudyTime = "20261201", "093000"
    ds.AccessionNumber, ds.Modality, ds.Manufacturer = "OHIF1", "US", "dicomkit"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription, ds.SeriesDescription = "OHIF interop CT", "US cine"
    ds.PatientName, ds.PatientID = "Ohif^Interop", patient_id
    ds.PatientBirthDate, ds.PatientSex = "19800101", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 2, 1
    ds.Laterality, ds.PatientOrientation = "", ""
    ds.NumberOfFrames = frames
    ds.FrameTime = 40.0
    ds.FrameIncrementPointer = 0x00181063
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    y, x = np.mgrid[0:size, 0:size]
    pixels = np.empty((frames, size, size), np.uint8)
    for frame in range(frames):
        image = 40 + (120 * y / size)
        bar = np.abs(x - (size * (frame + 1) / (frames + 1))) < size / 16
        pixels[frame] = np.where(bar, 230, image).astype(np.uint8)
    ds.set("PixelData", pixels.tobytes(), "OB")
    path = folder / "us.dcm"
    write(ds, str(path))
    return path, ds


def synthetic_seg(folder: Path, ct: CTSeries) -> tuple[Path, Dataset]:
    """A binary SEG of the CT (one segment: the disc of every slice) made by dicomkit.seg."""
    from dicomkit.iod.codes import Code
    from dicomkit.seg import AlgorithmIdentification, SegmentDescription, create

    size = int(ct.datasets[0].Rows)
    masks = np.stack([ct_hounsfield(size, i, len(ct.datasets)) > -60
                      for i in range(len(ct.datasets))])
    masks[:, :3, :] = masks[:, -3:, :] = masks[:, :, :3] = masks[:, :, -3:] = False
    segment = SegmentDescription(
        1, "disc", Code("91723000", "SCT", "Anatomical Structure"),
        Code("10200004", "SCT", "Liver"), "AUTOMATIC",
        AlgorithmIdentification("threshold", "1.0", Code("123109", "DCM", "Manual Processing")))
    ds = create(ct.datasets, masks, [segment], series_number=3, series_description="SEG disc")
    path = folder / "seg.dcm"
    write(ds, str(path))
    return path, ds


def synthetic_sr(folder: Path, ct: CTSeries) -> tuple[Path, Dataset]:
    """A TID 1500 Measurement Report with a length (a POLYLINE on a CT slice, TID 1410)."""
    from dicomkit.iod.codes import Code
    from dicomkit.sr import Reference
    from dicomkit.sr.templates import (
        DeviceObserver,
        ImageRegion,
        Measurement,
        MeasurementReport,
        PlanarROIMeasurements,
    )

    source = ct.datasets[len(ct.datasets) // 2]
    region = ImageRegion("POLYLINE", [[64.0, 128.0], [192.0, 128.0]],
                         Reference(str(source.SOPClassUID), str(source.SOPInstanceUID)))
    report = MeasurementReport(
        observers=[DeviceObserver(generate_uid(), name="dicomkit")],
        procedure_reported=[Code("363679005", "SCT", "Imaging procedure")],
        imaging_measurements=[PlanarROIMeasurements(
            "length 1", referenced_region=region,
            measurements=[Measurement(Code("410668003", "SCT", "Length"), 64.0,
                                      Code("mm", "UCUM", "millimeter"))])])
    ds = report.to_dataset(like=source, evidence=[source])
    ds.SeriesNumber, ds.SeriesDescription = 4, "SR measurements"
    path = folder / "sr.dcm"
    write(ds, str(path))
    return path, ds
