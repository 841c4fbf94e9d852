"""Photos and video as Visible Light objects (PS3.3 A.32.4 VL Photographic Image, A.32.7
Video Photographic Image, A.32.4 Video Endoscopic Image), kept as close to the original as
DICOM allows.

- **JPEG**: a baseline 8-bit JPEG (SOF0, ISO/IEC 10918-1 process 1) goes in unchanged, as the
  single fragment of the JPEG Baseline transfer syntax (PS3.5 §8.2.1, A.4.1); any other JPEG
  (progressive, extended, 12-bit) is decoded and stored uncompressed.
- **PNG**: decoded and stored uncompressed in Explicit VR Little Endian (PNG is not a DICOM
  transfer syntax; storing the pixels keeps them lossless and readable by every viewer).
- **MP4** with H.264 or HEVC video: the MP4 file goes in unchanged as the single fragment of
  the transfer syntax that the stream's profile and level call for (PS3.5 §8.2.7-8.2.11,
  :func:`video_transfer_syntax`); rows, columns, frame count and frame time from the file's
  video track (:mod:`dicomkit.iod.mp4`).

:func:`unwrap` gives back the JPEG or the MP4 byte for byte (the one NUL that made the fragment
even is not returned), and for an uncompressed image a PNG of its pixels (not the original
file's bytes: PNG files of the same pixels differ by their compression settings).
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement
from dicomkit.core.uid import registered
from dicomkit.encoding.fragments import encapsulate, iter_items
from dicomkit.encoding.transfer_syntax import lookup
from dicomkit.iod import mp4
from dicomkit.iod.codes import Code
from dicomkit.iod.entity import WrapError, new_instance

PIXEL_DATA = 0x7FE00010
FRAME_TIME = 0x00181063
ENTIRE_BODY = Code("38266002", "SCT", "Entire body")
"""Anatomic Region Sequence is Type 1 for the multi-frame VL IODs (C.8.12.1); a photo or video
says nothing of what it shows, so unless told (``region=``) or the ``like`` instance has one,
the region recorded is the whole body (CID 4)."""

SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                         0xCE, 0xCF})
STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


class JPEGFrame(NamedTuple):
    """What a JPEG's frame header (SOF) and Adobe marker say (ISO/IEC 10918-1 B.2.2)."""

    process: int        # the SOF marker's low nibble: 0 baseline, 1 extended, 2 progressive...
    precision: int
    rows: int
    columns: int
    components: int
    subsampled: bool    # any component with sampling factors other than the first's
    adobe_transform: int | None  # APP14 "Adobe" transform flag: 0 = RGB/CMYK, 1 = YCbCr


def jpeg_frame(data: bytes) -> JPEGFrame:
    """The frame header of a JPEG, walking its marker segments up to the first scan; every
    length checked against the data. WrapError when the JPEG is cut short or broken."""
    pos, size = 2, len(data)
    adobe: int | None = None
    while pos < size:
        if data[pos] != 0xFF:
            raise WrapError(f"JPEG: expected a marker at offset {pos}, found {data[pos]:02x}")
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            break
        marker = data[pos]
        pos += 1
        if marker in STANDALONE_MARKERS:
            continue
        if marker == 0xD9 or pos + 2 > size:
            break
        length = struct.unpack_from(">H", data, pos)[0]
        if length < 2 or pos + length > size:
            raise WrapError(f"JPEG: marker FF{marker:02X} at offset {pos - 2} has length {length}, "
                         f"past the end of the file ({size - pos} bytes left)")
        body = data[pos + 2 : pos + length]
        if marker == 0xEE and body.startswith(b"Adobe") and len(body) >= 12:
            adobe = body[11]
        if marker in SOF_MARKERS:
            if len(body) < 6:
                raise WrapError(f"JPEG: frame header at offset {pos - 2} is cut short")
            precision, rows, columns, count = struct.unpack_from(">BHHB", body)
            if len(body) < 6 + 3 * count:
                raise WrapError(f"JPEG: frame header at offset {pos - 2} lists {count} components "
                             f"in {len(body)} bytes")
            factors = {body[7 + 3 * i] for i in range(count)}
            return JPEGFrame(marker & 0x0F, precision, rows, columns, count, len(factors) > 1,
                             adobe)
        if marker == 0xDA:
            break
        pos += length
    raise WrapError("JPEG: no frame header (SOF marker) before the image data or the end")


def video_transfer_syntax(track: mp4.VideoTrack) -> str:
    """The PS3.6 keyword of the transfer syntax that keeps ``track``'s stream as is; WrapError
    naming the profile and level when none does.

    H.264 (PS3.5 §8.2.7-8.2.9): High Profile streams, and Main and Constrained Baseline ones
    (subsets of High that every High Profile decoder decodes), at level 4.1 or lower go to
    MPEG-4 AVC/H.264 High Profile / Level 4.1, at level 4.2 to its Level 4.2 For 2D Video
    syntax; Stereo High at 4.2 or lower to Stereo High Profile / Level 4.2. HEVC (§8.2.10-11):
    Main Profile at level 5.1 or lower (general_level_idc 153 = 30 x 5.1) to HEVC/H.265 Main
    Profile / Level 5.1. Main 10 is refused: the VL IODs hold 8-bit pixels only (C.8.12.1)."""
    profile, level = track.profile, track.level
    if track.codec == "avc":
        constrained_baseline = profile == 66 and bool(track.constraints & 0x40)
        shown = f"H.264 profile_idc {profile}, level_idc {level}"
        if profile in (77, 100) or constrained_baseline:
            if level <= 41:
                return "MPEG4HP41"
            if level == 42:
                return "MPEG4HP422D"
            raise WrapError(f"{shown}: above level 4.2, no DICOM transfer syntax holds it")
        if profile == 128 and level <= 42:
            return "MPEG4HP42STEREO"
        raise WrapError(f"{shown}: only High, Main and Constrained Baseline (or Stereo High) "
                     "profiles have a DICOM transfer syntax")
    shown = f"HEVC general_profile_idc {profile}, general_level_idc {level}"
    if profile == 2 or (profile != 1 and track.constraints & (1 << 29)):
        raise WrapError(f"{shown}: Main 10 (10-bit) video does not fit the VL IODs, which hold "
                     "8-bit pixels only")
    if profile == 1 or track.constraints & (1 << 30):
        if level <= 153:
            return "HEVCMP51"
        raise WrapError(f"{shown}: above level 5.1, no DICOM transfer syntax holds it")
    raise WrapError(f"{shown}: only the Main profile has a DICOM transfer syntax for 8-bit video")


def wrap(data: bytes, kind: str, *, like: Dataset | None = None,
         series_number: int | None = None, endoscopic: bool = False, title: str | None = None,
         region: Code | None = None, **patient_study: str | None) -> Dataset:
    """A VL Photographic Image of a JPEG or PNG, or a Video Photographic (Endoscopic) Image of
    an MP4 (see the module's docstring for what is kept as is)."""
    if kind == "mp4":
        return _video(data, like, series_number, endoscopic, title, region, patient_study)
    ds = new_instance("VLPhotographicImageStorage", "XC", like=like,
                      series_number=series_number, series_description=title, **patient_study)
    _vl_image(ds, like, region)
    if kind == "jpeg":
        frame = jpeg_frame(data)
        if frame.process == 0 and frame.precision == 8 and frame.components in (1, 3):
            if len(data) + (len(data) & 1) > 0xFFFFFFFE:
                raise WrapError(f"the JPEG is {len(data)} bytes, more than one fragment holds")
            rgb = frame.adobe_transform == 0
            photometric = ("MONOCHROME2" if frame.components == 1 else
                           "RGB" if rgb else "YBR_FULL_422")
            _pixel_module(ds, frame.rows, frame.columns, frame.components, photometric)
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionMethod = "ISO_10918_1"
            ds[PIXEL_DATA] = DataElement(PIXEL_DATA, "OB", encapsulate([data]),
                                         is_undefined_length=True)
            ds.transfer_syntax = lookup(registered("JPEGBaseline8Bit"))
            return ds
        array = _decode(data, "jpeg")
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    else:
        array = _decode(data, "png")
        ds.LossyImageCompression = "00"
    _native_pixels(ds, array, kind)
    return ds


def _vl_image(ds: Dataset, like: Dataset | None, region: Code | None) -> None:
    """General Acquisition, General Image, Acquisition Context and VL Image attributes that do
    not depend on the pixels (C.7.6.1, C.8.4.9, C.8.12.1).

    The Anatomic Region Sequence (Type 1 for the multi-frame VL IODs, 3 for VL Photographic)
    is ``region``, else ``like``'s, else the whole body; with it General Series Laterality is
    left out, as it must be for an unpaired region (C.7.3.1: Type 2C) — a caller naming a
    paired region adds Laterality or Image Laterality to the returned data set."""
    if region is None and like is not None and like.get("AnatomicRegionSequence"):
        ds.AnatomicRegionSequence = like.AnatomicRegionSequence
    else:
        ds.AnatomicRegionSequence = [(region or ENTIRE_BODY).to_dataset()]
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceNumber = 1
    ds.PatientOrientation = None
    ds.AcquisitionContextSequence = []


def _pixel_module(ds: Dataset, rows: int, columns: int, samples: int, photometric: str) -> None:
    """Image Pixel (C.7.6.3) as the VL Image module constrains it: 8-bit unsigned."""
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0


def _decode(data: bytes, kind: str) -> Any:
    import imagecodecs

    decode = imagecodecs.png_decode if kind == "png" else imagecodecs.jpeg8_decode
    try:
        return decode(data)
    except Exception as exc:  # noqa: BLE001 - each codec raises its own error class
        raise WrapError(f"the {kind.upper()} image cannot be decoded: {exc}") from exc


def _native_pixels(ds: Dataset, array: Any, kind: str) -> None:
    """Decoded pixels stored uncompressed: 8-bit grayscale or RGB; an alpha channel only when
    it is fully opaque (VL images have no transparency)."""
    import numpy as np

    if array.dtype != np.uint8:
        raise WrapError(f"the {kind.upper()} image has {array.dtype.itemsize * 8}-bit samples; "
                     "VL Photographic Images hold 8-bit samples only")
    if array.ndim == 3 and array.shape[2] in (2, 4):
        if not (array[..., -1] == 255).all():
            raise WrapError(f"the {kind.upper()} image has transparency (an alpha channel that "
                         "is not fully opaque), which a VL Photographic Image cannot hold")
        array = array[..., :-1]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise WrapError(f"the {kind.upper()} image has shape {array.shape}, neither grayscale nor "
                     "RGB")
    samples = 1 if array.ndim == 2 else 3
    _pixel_module(ds, array.shape[0], array.shape[1], samples,
                  "MONOCHROME2" if samples == 1 else "RGB")
    pixels = np.ascontiguousarray(array).tobytes()
    ds.set(PIXEL_DATA, pixels + b"\0" * (len(pixels) & 1), "OB")
    ds.transfer_syntax = lookup(registered("ExplicitVRLittleEndian"))


def _video(data: bytes, like: Dataset | None, series_number: int | None, endoscopic: bool,
           title: str | None, region: Code | None,
           patient_study: dict[str, str | None]) -> Dataset:
    try:
        track = mp4.video_track(data)
        size = mp4.length(data)
    except mp4.MP4Error as exc:
        raise WrapError(f"MP4: {exc}") from exc
    if size != len(data):
        raise WrapError(f"MP4: {len(data) - size} byte(s) after the last box")
    keyword = video_transfer_syntax(track)
    if len(data) + (len(data) & 1) > 0xFFFFFFFE:
        raise WrapError(f"the MP4 is {len(data)} bytes, more than one fragment holds")
    sop = "VideoEndoscopicImageStorage" if endoscopic else "VideoPhotographicImageStorage"
    ds = new_instance(sop, "ES" if endoscopic else "XC", like=like,
                      series_number=series_number, series_description=title, **patient_study)
    _vl_image(ds, like, region)
    # PS3.5 §8.2.7: the pixel attributes describe the decoded stream, 4:2:0 8-bit YCbCr.
    _pixel_module(ds, track.height, track.width, 3, "YBR_PARTIAL_420")
    ds.NumberOfFrames = track.frames
    ds.set("FrameIncrementPointer", FRAME_TIME, "AT")
    ds.FrameTime = f"{track.frame_time:.6g}"
    ds.CineRate = max(1, round(1000.0 / track.frame_time)) if track.frame_time else 0
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_14496_10" if track.codec == "avc" else "ISO_23008_2"
    ds[PIXEL_DATA] = DataElement(PIXEL_DATA, "OB", encapsulate([data], offset_table=False),
                                 is_undefined_length=True)
    ds.transfer_syntax = lookup(registered(keyword))
    return ds


# -- unwrap -----------------------------------------------------------------------------------


def unwrap(ds: Dataset) -> tuple[bytes, str]:
    """What an image or video object holds: the MP4 file (``video/mp4``) of a video transfer
    syntax, exactly as wrapped; a raw H.264 / HEVC stream (``video/H264``, ``video/H265``) or
    MPEG-2 transport stream (``video/mp2t``) as stored when another tool wrapped one; the JPEG
    file (``image/jpeg``) of a single-frame JPEG Baseline object; else a PNG (``image/png``)
    of the first frame's pixels."""
    ts = ds.transfer_syntax
    element = ds[PIXEL_DATA]
    if ts is not None and ts.encapsulated and element.is_undefined_length:
        raw = element.raw if element.raw is not None else element.value
        stream = b"".join(bytes(item) for item in list(iter_items(raw))[1:])
        keyword = (ts.keyword or "")
        if keyword.startswith(("MPEG4", "HEVC")):
            if stream[4:8] == b"ftyp":
                try:
                    return stream[: mp4.length(stream)], "video/mp4"
                except mp4.MP4Error as exc:
                    raise WrapError(f"the stored MP4 is broken: {exc}") from exc
            if stream[:1] == b"\x47":
                return stream, "video/mp2t"
            return stream, "video/H264" if keyword.startswith("MPEG4") else "video/H265"
        if keyword == "JPEGBaseline8Bit" and int(ds.get("NumberOfFrames") or 1) == 1:
            if stream.endswith(b"\xff\xd9\0"):
                stream = stream[:-1]
            return stream, "image/jpeg"
    from dicomkit.pixels.render import to_png

    array = ds.frame(0) if int(ds.get("NumberOfFrames") or 1) > 1 else ds.pixel_array
    if array.dtype.itemsize > 1:
        raise WrapError(f"the image has {array.dtype.itemsize * 8}-bit pixels: unwrap gives back "
                     "8-bit photos; use dicomkit render for others")
    return to_png(array), "image/png"
