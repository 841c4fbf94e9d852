"""Rewriting a data set's Pixel Data in another transfer syntax (PS3.5 §8, §10).

``transcode(ds, "JPEG2000Lossless")`` decodes each frame and encodes it again, one frame at a
time, and returns a new data set whose pixel attributes say what the new pixel data is:

- Photometric Interpretation as the target makes it (PS3.5 §8.2): RGB becomes YBR_FULL_422
  in lossy JPEG (4:2:2 subsampled) and YBR_RCT / YBR_ICT in JPEG 2000 and HTJ2K (reversible /
  irreversible component transform); decoding to a native syntax gives RGB back for lossy
  JPEG, YBR_RCT/ICT JPEG 2000 and any YBR_FULL image of a lossy source.
- Planar Configuration 0 for colour.
- PS3.3 C.7.6.1.1.5: Lossy Image Compression "01", with the ratio and method (ISO_10918_1,
  ISO_14495_1, ISO_15444_1, ISO_15444_15) appended to any earlier ones, when the target is
  lossy; once "01", always "01" (kept through lossless and native targets).

Lossy targets need ``lossy_ok=True``. Between native syntaxes nothing is decoded: the writer
converts byte order and VR encoding as it writes.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from dicomkit.core.element import DataElement
from dicomkit.core.uid import registered
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.transfer_syntax import TransferSyntax
from dicomkit.errors import NotSupportedError
from dicomkit.pixels.info import (
    EXTENDED_OFFSET_TABLE,
    EXTENDED_OFFSET_TABLE_LENGTHS,
    PIXEL_TAGS,
    PixelInfo,
)

if TYPE_CHECKING:
    from dicomkit.core.dataset import Dataset

LOSSY_IMAGE_COMPRESSION = 0x00282110
LOSSY_IMAGE_COMPRESSION_RATIO = 0x00282112
LOSSY_IMAGE_COMPRESSION_METHOD = 0x00282114
PHOTOMETRIC_INTERPRETATION = 0x00280004
PLANAR_CONFIGURATION = 0x00280006
BITS_ALLOCATED = 0x00280100


def lossless(ds: Dataset, transfer_syntax: TransferSyntax) -> Dataset:
    """:func:`transcode` that never loses information (``lossy_ok=False``): the transcoder
    ``dicomkit serve`` and the CLI hand to :class:`dicomkit.net.client.Client` for sending
    compressed instances to a peer that accepted another syntax."""
    return transcode(ds, transfer_syntax, lossy_ok=False)


def transcode(ds: Dataset, transfer_syntax: str | TransferSyntax, *, lossy_ok: bool = False,
              extended_offset_table: bool = False, **opts: Any) -> Dataset:
    """A copy of ``ds`` with its pixel data in ``transfer_syntax`` (UID, keyword or short name).

    ``opts`` go to the target codec: ``quality`` (JPEG 1-100, default 90; JPEG-LS NEAR,
    default 2; JPEG 2000 target PSNR in dB, default 50; HTJ2K quantisation step, default
    0.005), ``subsampling`` ("422" or "444", lossy JPEG colour), ``predictor`` (JPEG Lossless
    Process 14, 1-7), ``reversible`` (JPEG 2000 / HTJ2K lossy syntaxes, lossless coding).
    """
    target = (ts_mod.lookup(transfer_syntax) if isinstance(transfer_syntax, str)
              else transfer_syntax)
    new = ds.copy()
    _retarget_meta(new, target)
    tag = next((t for t in PIXEL_TAGS if t in ds), None)
    if tag is None:
        return new
    entry = ds.raw_entry(tag)
    fragments = entry[3] if type(entry) is tuple else entry.is_undefined_length
    if not fragments and not target.encapsulated:
        return new  # the writer converts among native syntaxes losslessly; nothing decoded
    info = PixelInfo.from_dataset(ds)
    source = ts_mod.for_uid(info.transfer_syntax)
    from dicomkit.pixels.native import PixelSource

    pixels = PixelSource(ds, info)
    if pixels.encapsulated and target.encapsulated and not opts and _keeps_codestream(
            source.uid, target.uid, pixels):
        # Already there, or the codestreams are valid as they are in the target syntax:
        # the fragments are kept byte for byte.
        if _source_is_lossy(pixels) and LOSSY_IMAGE_COMPRESSION not in new:
            new.set(LOSSY_IMAGE_COMPRESSION, "01", "CS")
        return new
    if target.encapsulated:
        from dicomkit.pixels.codecs import codec_for

        codec = codec_for(target.uid)
        if codec.lossy and not lossy_ok:
            raise NotSupportedError(f"{target.name} is lossy; pass lossy_ok=True "
                                    "(dicomkit convert --lossy) to accept losing information")
    source_lossy = _source_is_lossy(pixels)
    as_rgb = source_lossy  # as DCMTK and pydicom do: lossy YCbCr comes back as RGB
    if target.encapsulated:
        _encapsulate(new, pixels, target, as_rgb, extended_offset_table, opts)
    else:
        _to_native(new, pixels, as_rgb)
    if source_lossy and LOSSY_IMAGE_COMPRESSION not in new:
        new.set(LOSSY_IMAGE_COMPRESSION, "01", "CS")
    return new


# (source, target): every codestream of the source syntax is one of the target syntax too
# (PS3.5 §8.2: a baseline JPEG is an extended one, SV1 is Process 14, lossless JPEG-LS is
# near-lossless with NEAR 0, lossless JPEG 2000 / HTJ2K are valid in the lossy syntaxes, and
# an RPCL HTJ2K codestream is a plain HTJ2K one).
_SUPERSETS = {
    (registered("JPEGBaseline8Bit"), registered("JPEGExtended12Bit")),
    (registered("JPEGLosslessSV1"), registered("JPEGLossless")),
    (registered("JPEGLSLossless"), registered("JPEGLSNearLossless")),
    (registered("JPEG2000Lossless"), registered("JPEG2000")),
    (registered("HTJ2KLossless"), registered("HTJ2K")),
    (registered("HTJ2KLosslessRPCL"), registered("HTJ2KLossless")),
    (registered("HTJ2KLosslessRPCL"), registered("HTJ2K")),
}
# Lossy-capable JPEG 2000 syntaxes whose codestreams may turn out to be reversible.
_IF_REVERSIBLE = {
    (registered("JPEG2000"), registered("JPEG2000Lossless")),
    (registered("HTJ2K"), registered("HTJ2KLossless")),
}


def _keeps_codestream(source: str, target: str, pixels: Any) -> bool:
    if source == target or (source, target) in _SUPERSETS:
        return True
    if (source, target) not in _IF_REVERSIBLE:
        return False
    from dicomkit.pixels.codestreams import j2k_header

    index = pixels.index()
    return all(j2k_header(index.frame_bytes(i)).reversible for i in range(index.frame_count))


def _retarget_meta(new: Dataset, target: TransferSyntax) -> None:
    object.__setattr__(new, "transfer_syntax", target)
    meta = new.file_meta
    if meta is not None:
        meta = meta.copy()
        meta.set(0x00020010, target.uid, "UI")
        object.__setattr__(new, "file_meta", meta)


def _source_is_lossy(pixels: Any) -> bool:
    """Whether the stored pixels already lost information (PS3.3 C.7.6.1.1.5)."""
    flag = pixels.ds.get("LossyImageCompression")
    if isinstance(flag, str) and flag.strip() == "01":
        return True
    if not pixels.encapsulated:
        return False
    from dicomkit.pixels.codecs import codec_for
    from dicomkit.pixels.codestreams import J2kHeader, j2k_header

    try:
        codec = codec_for(pixels.info.transfer_syntax)
    except NotSupportedError:
        return False
    if not codec.lossy:
        return False
    if codec.method in ("ISO_15444_1", "ISO_15444_15"):
        header: J2kHeader = j2k_header(pixels.index().frame_bytes(0))
        return not header.reversible
    return True


def _decoded_frames(pixels: Any, as_rgb: bool) -> Any:
    for index in range(pixels.frame_count):
        yield pixels.decode(index, as_rgb)


def _encapsulate(new: Dataset, pixels: Any, target: TransferSyntax, as_rgb: bool,
                 extended: bool, opts: dict[str, Any]) -> None:
    from dicomkit.pixels.codecs import codec_for
    from dicomkit.pixels.encapsulated import encapsulate

    codec = codec_for(target.uid)
    info: PixelInfo = pixels.info
    encoded: list[bytes] = []
    target_info: PixelInfo | None = None
    photometric = info.photometric_interpretation
    for array, decoded_photometric in _decoded_frames(pixels, as_rgb):
        if target_info is None:
            frame_info = info.with_changes(photometric_interpretation=decoded_photometric,
                                           planar_configuration=0,
                                           transfer_syntax=target.uid, little_endian=True)
            codec.check_encodable(frame_info)
            photometric = codec.encoded_photometric(frame_info, **opts)
            target_info = frame_info
        encoded.append(codec.encode(array, target_info, **opts))
    packed = encapsulate(encoded, extended_offset_table=extended)
    new[info.pixel_tag] = DataElement(info.pixel_tag, "OB", packed.value,
                                      is_undefined_length=True)
    for tag in (EXTENDED_OFFSET_TABLE, EXTENDED_OFFSET_TABLE_LENGTHS):
        if tag in new:
            del new[tag]
    if packed.extended_offsets is not None:
        new[EXTENDED_OFFSET_TABLE] = DataElement(EXTENDED_OFFSET_TABLE, "OV",
                                                 packed.extended_offsets)
        new[EXTENDED_OFFSET_TABLE_LENGTHS] = DataElement(EXTENDED_OFFSET_TABLE_LENGTHS, "OV",
                                                         packed.extended_lengths)
    _set_colour(new, info, photometric)
    if codec.lossy and not (opts.get("reversible") and codec.method.startswith("ISO_15444")):
        stored = sum(len(frame) for frame in encoded)
        uncompressed = info.frame_length * info.number_of_frames
        _mark_lossy(new, uncompressed / max(stored, 1), codec.method)


def _to_native(new: Dataset, pixels: Any, as_rgb: bool) -> None:
    import numpy as np

    from dicomkit.pixels.raw import encode_native

    info: PixelInfo = pixels.info
    chunks: list[bytes] = []
    photometric = info.photometric_interpretation
    native_info = info.with_changes(planar_configuration=0, little_endian=True)
    if info.bits_allocated == 1:
        arrays = [array for array, _ in _decoded_frames(pixels, as_rgb)]
        chunks.append(encode_native(np.stack(arrays), native_info))
    else:
        for array, decoded_photometric in _decoded_frames(pixels, as_rgb):
            chunks.append(encode_native(array, native_info))
            photometric = decoded_photometric
    data = b"".join(chunks)
    if len(data) & 1:
        data += b"\0"
    vr = {0x7FE00008: "OF", 0x7FE00009: "OD"}.get(info.pixel_tag)
    if vr is None:
        vr = "OB" if info.bits_allocated <= 8 else "OW"
    new[info.pixel_tag] = DataElement(info.pixel_tag, vr, data)
    for tag in (EXTENDED_OFFSET_TABLE, EXTENDED_OFFSET_TABLE_LENGTHS):
        if tag in new:
            del new[tag]
    _set_colour(new, info, photometric)


def _set_colour(new: Dataset, info: PixelInfo, photometric: str) -> None:
    if photometric != info.photometric_interpretation:
        new.set(PHOTOMETRIC_INTERPRETATION, photometric, "CS")
    if info.samples_per_pixel > 1:
        new.set(PLANAR_CONFIGURATION, 0, "US")


def _mark_lossy(new: Dataset, ratio: float, method: str) -> None:
    """PS3.3 C.7.6.1.1.5: "01", and this compression's ratio and method after earlier ones."""
    ratios = _as_list(new.get("LossyImageCompressionRatio"))
    methods = _as_list(new.get("LossyImageCompressionMethod"))
    ratios.append(_ds_text(ratio))
    methods.append(method)
    new.set(LOSSY_IMAGE_COMPRESSION, "01", "CS")
    new.set(LOSSY_IMAGE_COMPRESSION_RATIO, [str(r) for r in ratios], "DS")
    new.set(LOSSY_IMAGE_COMPRESSION_METHOD, methods, "CS")


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return copy.copy(value)
    return [value]


def _ds_text(value: float) -> str:
    """A DS value (PS3.5 §6.2: at most 16 characters)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text[:16]
