"""Small synthetic images for the LUT, colour and rendering tests, built and written by dicomkit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid
from dicomkit.encoding.writer import write

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def grayscale(pixels: Any, photometric: str = "MONOCHROME2", *, bits_stored: int = 16,
              **attributes: Any) -> Dataset:
    """A 16-bit grayscale image (signed when ``pixels`` is) with extra attributes by keyword."""
    pixels = np.asarray(pixels)
    signed = pixels.dtype.kind == "i"
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(signed)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.set("PixelData", pixels.astype("<i2" if signed else "<u2").tobytes(), "OW")
    return ds


def lut_item(descriptor: list[int], data: Any, *, data_vr: str = "OW",
             descriptor_vr: str = "US", **attributes: Any) -> Dataset:
    """An item of a Modality, VOI or Presentation LUT Sequence (C.11.1.1, C.11.2.1.1)."""
    item = Dataset()
    item.set("LUTDescriptor", descriptor, descriptor_vr)
    if data_vr == "OW":
        item.set("LUTData", np.asarray(data, dtype="<u2").tobytes(), "OW")
    else:
        item.set("LUTData", [int(v) for v in data], data_vr)
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def save(ds: Dataset, path: Path) -> Path:
    write(ds, path, transfer_syntax="ExplicitVRLittleEndian")
    return path
