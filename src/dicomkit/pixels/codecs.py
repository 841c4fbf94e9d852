"""PS3.5 §8.2 and Annex A.4: one adapter per compressed transfer syntax.

``CODECS[uid]`` decodes one frame's codestream to stored values and encodes one frame back.
RLE Lossless is dicomkit's own (:mod:`dicomkit.pixels.rle`); the JPEG family wraps
`imagecodecs <https://pypi.org/project/imagecodecs/>`_, imported on first use:

==========================  =================================  =============================
transfer syntax             decode                             encode
==========================  =================================  =============================
JPEG Baseline (.4.50)       libjpeg-turbo (``jpeg8``)          libjpeg-turbo, 8-bit
JPEG Extended (.4.51)       libjpeg-turbo, 8 and 12-bit        libjpeg-turbo, 12-bit
retired JPEG (.4.52-.4.56)  libjpeg-turbo                      (decode only)
JPEG Lossless (.4.57/.70)   libjpeg-turbo, then liblj92/SOF3   libjpeg-turbo (lossless mode)
JPEG-LS (.4.80/.4.81)       CharLS (``jpegls``)                CharLS
JPEG 2000 (.4.90/.4.91)     OpenJPEG (``jpeg2k``)              OpenJPEG
HTJ2K (.4.201/.202/.203)    OpenJPH (``htj2k``), then OpenJPEG OpenJPH
Deflated Image Frame (.8.1) zlib                               zlib
==========================  =================================  =============================

docs/pixels.md records why (coverage and measured speed). Decoders return stored values in
the dtype Bits Allocated and Pixel Representation give; colour is handled as pydicom 3 does by
default (see :mod:`dicomkit.pixels.native`).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from dicomkit.core.uid import ExplicitVRLittleEndian, registered
from dicomkit.errors import InvalidDicomError, NotSupportedError
from dicomkit.pixels import rle
from dicomkit.pixels.codestreams import (
    J2kHeader,
    JpegHeader,
    defines_huffman_tables,
    j2k_header,
    jpeg_header,
    require_end_marker,
)
from dicomkit.pixels.info import PixelInfo
from dicomkit.pixels.raw import decode_native, encode_native, unused_bits

YBR = ("YBR_FULL", "YBR_FULL_422")


def _where(frame: int | None) -> str:
    return f"frame {frame}: " if frame is not None else ""


def _imagecodecs() -> Any:
    try:
        import imagecodecs
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise NotSupportedError("compressed pixel data needs imagecodecs "
                                "(pip install 'imagecodecs>=2024.1.1')") from exc
    return imagecodecs


# -- value fixes shared by the decoders ----------------------------------------------------------
def to_dtype(array: Any, info: PixelInfo) -> Any:
    """The decoder's array in the dtype of Bits Allocated / Pixel Representation."""
    wanted = np.dtype(info.dtype)
    if array.dtype == wanted:
        return array
    if array.dtype.itemsize == wanted.itemsize and array.dtype.kind in "iu":
        return array.view(wanted)
    return array.astype(wanted)


def fix_sign(array: Any, info: PixelInfo, precision: int, signed: bool) -> Any:
    """Values held as ``precision``-bit patterns made to match Pixel Representation.

    JPEG and JPEG-LS know no sign: signed values come out as bit patterns and are sign
    extended here; a JPEG 2000 component whose signedness disagrees with the data set is put
    right the same way (what pydicom does too).
    """
    bits = array.dtype.itemsize * 8
    if precision <= 0 or precision >= bits or signed == info.is_signed:
        return array
    if not array.flags.writeable:
        array = array.copy()
    shift = bits - precision
    if info.is_signed:
        np.left_shift(array, shift, out=array)
        np.right_shift(array, shift, out=array)
    else:
        np.bitwise_and(array, (1 << precision) - 1, out=array)
    return array


def ybr_full_to_rgb(array: Any) -> Any:
    """PS3.3 C.7.6.3.1.2: YBR_FULL to RGB for 8-bit samples, computed as pydicom 3 computes it
    (float32, round half up), so ``pixel_array`` agrees with pydicom's to the last sample;
    :func:`dicomkit.pixels.color.ybr_full_to_rgb` (float64 tables, for rendering) differs by
    one in a few samples in 10^5."""
    matrix = np.array([[1.0, 1.0, 1.0],
                       [0.0, -0.114 * 1.772 / 0.587, 1.772],
                       [1.402, -0.299 * 1.402 / 0.587, 0.0]], dtype=np.float32)
    values = array.astype(np.float32)
    values -= np.array([0, 128, 128], dtype=np.float32)
    np.matmul(values, matrix, out=values)
    values += 0.5
    np.floor(values, out=values)
    np.clip(values, 0, 255, out=values)
    return values.astype(array.dtype)


def _decode_error(name: str, frame: int | None, exc: Exception) -> InvalidDicomError:
    return InvalidDicomError(f"{_where(frame)}the {name} codestream does not decode "
                             f"(corrupt or truncated): {exc}")


# -- the codecs ------------------------------------------------------------------------------
class Codec:
    """One compressed transfer syntax: ``decode`` a frame, ``encode`` one."""

    uid = ""
    name = ""
    lossy = False
    method = ""  # Lossy Image Compression Method (0028,2114), PS3.3 C.7.6.1.1.5.1
    can_encode = True

    def __init__(self, uid: str = "", name: str = "", lossy: bool | None = None) -> None:
        """The class's syntax, or another one the same codec serves (its UID and name given;
        ``lossy`` when it differs from the class's)."""
        self.uid = uid or self.uid
        self.name = name or self.name
        if lossy is not None:
            self.lossy = lossy

    def decode(self, data: bytes | memoryview, info: PixelInfo, *, as_rgb: bool = True,
               frame: int | None = None) -> Any:
        """Stored values of one frame, shape ``info.shape``."""
        return self.decode_with_photometric(data, info, as_rgb=as_rgb, frame=frame)[0]

    def decode_with_photometric(self, data: bytes | memoryview, info: PixelInfo, *,
                                as_rgb: bool = True,
                                frame: int | None = None) -> tuple[Any, str]:
        """(values, the Photometric Interpretation they are in); each codec overrides this."""
        raise NotSupportedError(f"dicomkit cannot decode {self.name} ({self.uid})")

    def encode(self, array: Any, info: PixelInfo, **opts: Any) -> bytes:
        """One frame of stored values (shape ``info.shape``, colour interleaved) encoded."""
        raise NotSupportedError(f"dicomkit cannot encode {self.name} ({self.uid})")

    def encoded_photometric(self, info: PixelInfo, **opts: Any) -> str:
        """The Photometric Interpretation of what ``encode`` makes from ``info``'s values."""
        return info.photometric_interpretation

    def check_encodable(self, info: PixelInfo) -> None:
        """Raise NotSupportedError for images this syntax cannot carry (PS3.5 §8.2)."""
        if info.is_float:
            raise NotSupportedError(f"{self.name} cannot carry float pixel data")

    def _colour(self, array: Any, info: PixelInfo, photometric: str,
                as_rgb: bool) -> tuple[Any, str]:
        if (as_rgb and photometric in YBR and info.samples_per_pixel == 3
                and array.dtype.itemsize == 1):
            return ybr_full_to_rgb(array), "RGB"
        return array, "YBR_FULL" if photometric == "YBR_FULL_422" else photometric


class RLELossless(Codec):
    """PS3.5 Annex G."""

    uid = registered("RLELossless")
    name = "RLE Lossless"

    def decode_with_photometric(self, data: bytes | memoryview, info: PixelInfo, *,
                                as_rgb: bool = True,
                                frame: int | None = None) -> tuple[Any, str]:
        array = unused_bits(rle.decode(data, info, frame), info)
        return self._colour(array, info, info.photometric_interpretation, as_rgb)

    def encode(self, array: Any, info: PixelInfo, **opts: Any) -> bytes:
        self.check_encodable(info)
        return rle.encode(array, info)

    def check_encodable(self, info: PixelInfo) -> None:
        super().check_encodable(info)
        if info.bits_allocated not in (8, 16, 32):
            raise NotSupportedError(f"RLE Lossless with Bits Allocated {info.bits_allocated}")


def _unsigned_pattern(array: Any, info: PixelInfo) -> Any:
    """Signed values as their Bits Stored-bit patterns in an unsigned array (JPEG, JPEG-LS)."""
    array = np.ascontiguousarray(array)
    if array.dtype.kind == "u":
        return array
    unsigned = array.view(f"u{array.dtype.itemsize}")
    if info.bits_stored < unsigned.dtype.itemsize * 8:
        unsigned = unsigned & np.array((1 << info.bits_stored) - 1, dtype=unsigned.dtype)
    return unsigned


class _JpegFamily(Codec):
    """ISO 10918-1 as PS3.5 §8.2.1 uses it."""

    def decode_with_photometric(self, data: bytes | memoryview, info: PixelInfo, *,
                                as_rgb: bool = True,
                                frame: int | None = None) -> tuple[Any, str]:
        ic = _imagecodecs()
        header = jpeg_header(data)
        require_end_marker(data, self.name, frame)
        photometric = self._stream_photometric(header, info)
        buffer = data  # the libraries read a (read-only) memoryview in place
        try:
            if info.samples_per_pixel == 3 and header.marker != 0xC3:
                source = "YCBCR" if photometric in YBR else "RGB"
                target = "RGB" if as_rgb or source == "RGB" else "YCBCR"
                array = ic.jpeg8_decode(buffer, colorspace=source, outcolorspace=target)
                if target == "RGB":
                    photometric = "RGB"
            else:
                array = self._decode_plain(ic, buffer)
        except Exception as exc:  # noqa: BLE001 - each library has its own error type
            raise _decode_error(self.name, frame, exc) from exc
        if array.shape != info.shape:
            raise InvalidDicomError(f"{_where(frame)}the {self.name} frame is {array.shape}, "
                                    f"the data set says {info.shape}")
        array = to_dtype(array, info)
        if info.is_signed or header.precision > info.bits_stored:
            array = unused_bits(array, info)  # no bits above the JPEG precision otherwise
        return self._colour(array, info, photometric, as_rgb)

    def _decode_plain(self, ic: Any, buffer: bytes | memoryview) -> Any:
        return ic.jpeg8_decode(buffer)

    @staticmethod
    def _stream_photometric(header: JpegHeader, info: PixelInfo) -> str:
        """pydicom 3's reading of the colour space: component IDs 'RGB' mean RGB; a JFIF
        marker means YCbCr (ISO 10918-5) whatever the data set says."""
        photometric = info.photometric_interpretation
        if info.samples_per_pixel != 3:
            return photometric
        if header.component_ids in ([82, 71, 66], [114, 103, 98]):
            return "RGB"
        if header.jfif and "YBR" not in photometric:
            return "YBR_FULL_422" if info.transfer_syntax.endswith(".4.50") else "YBR_FULL"
        return photometric

    def check_encodable(self, info: PixelInfo) -> None:
        super().check_encodable(info)
        if info.samples_per_pixel not in (1, 3):
            raise NotSupportedError(f"{self.name} with {info.samples_per_pixel} samples")


class JPEGBaseline(_JpegFamily):
    """PS3.5 §8.2.1, JPEG Process 1: 8-bit lossy, Huffman coded (progressive files decode
    too, as libjpeg-turbo reads them)."""

    uid = registered("JPEGBaseline8Bit")
    name = "JPEG Baseline (Process 1)"
    lossy = True
    method = "ISO_10918_1"
    max_bits = 8

    def check_encodable(self, info: PixelInfo) -> None:
        super().check_encodable(info)
        allocated = (8,) if self.max_bits == 8 else (8, 16)
        if info.bits_stored > self.max_bits or info.bits_allocated not in allocated:
            raise NotSupportedError(
                f"{self.name} holds at most {self.max_bits}-bit samples in Bits Allocated "
                f"{' or '.join(map(str, allocated))}; this image has Bits Stored "
                f"{info.bits_stored}, Bits Allocated {info.bits_allocated} (use JPEG Extended, "
                "JPEG-LS or JPEG 2000)")
        if info.is_signed:
            raise NotSupportedError(f"{self.name} cannot carry signed samples")

    def encoded_photometric(self, info: PixelInfo, **opts: Any) -> str:
        if info.samples_per_pixel == 1:
            return info.photometric_interpretation
        if info.photometric_interpretation not in ("RGB", "YBR_FULL"):
            raise NotSupportedError(f"{self.name} of {info.photometric_interpretation} data")
        return "YBR_FULL" if opts.get("subsampling", "422") == "444" else "YBR_FULL_422"

    def encode(self, array: Any, info: PixelInfo, **opts: Any) -> bytes:
        self.check_encodable(info)
        ic = _imagecodecs()
        quality = int(opts.get("quality") or 90)
        bits = 8 if info.bits_stored <= 8 else 12
        values = np.ascontiguousarray(array)
        values = values.astype(np.uint8 if bits == 8 else np.uint16, copy=False)
        kwargs: dict[str, Any] = {}
        if info.samples_per_pixel == 3:
            source = "YCBCR" if info.photometric_interpretation == "YBR_FULL" else "RGB"
            kwargs = {"colorspace": source, "outcolorspace": "YCBCR",
                      "subsampling": "444" if opts.get("subsampling") == "444" else "422"}
        else:
            kwargs = {"colorspace": "GRAYSCALE", "outcolorspace": "GRAYSCALE"}
        return bytes(ic.jpeg8_encode(values, level=quality, bitspersample=bits, **kwargs))


class JPEGExtended(JPEGBaseline):
    """PS3.5 §8.2.1, JPEG Processes 2 and 4: 8 or 12-bit lossy."""

    uid = registered("JPEGExtended12Bit")
    name = "JPEG Extended (Process 2 & 4)"
    max_bits = 12


class RetiredJPEG(JPEGBaseline):
    """The retired non-hierarchical lossy JPEG syntaxes (PS3.5 A.4.1, retired since 2006):
    arithmetic coding (Processes 3 & 5, .4.52), spectral selection (6 & 8, .4.53; 7 & 9,
    .4.54) and full progression (10 & 12, .4.55; 11 & 13, .4.56). Still written by DCMTK's
    ``dcmcjpeg +es/+ep``; libjpeg-turbo decodes them. Decode only."""

    max_bits = 12

    def encode(self, array: Any, info: PixelInfo, **opts: Any) -> bytes:
        raise NotSupportedError(f"{self.name} ({self.uid}) is retired; dicomkit decodes it "
                                "but writes JPEG Baseline or Extended instead")

    def check_encodable(self, info: PixelInfo) -> None:
        raise NotSupportedError(f"{self.name} ({self.uid}) is retired: decode only")


class JPEGLossless(_JpegFamily):
    """PS3.5 §8.2.1, JPEG Process 14 (any predictor; .4.57) and its first-order
    prediction form, Selection Value 1 (.4.70)."""

    uid = registered("JPEGLossless")
    name = "JPEG Lossless (Process 14)"
    default_predictor = 1

    def __init__(self, uid: str = "", name: str = "", sv1: bool = False) -> None:
        super().__init__(uid, name)
        self.sv1 = sv1

    def decode_with_photometric(self, data: bytes | memoryview, info: PixelInfo, *,
                                as_rgb: bool = True,
                                frame: int | None = None) -> tuple[Any, str]:
        ic = _imagecodecs()
        header = jpeg_header(data)
        require_end_marker(data, self.name, frame)
        buffer = data  # the libraries read a (read-only) memoryview in place
        array = None
        errors = []
        decoders = [ic.jpeg8_decode, ic.jpegsof3_decode]
        if defines_huffman_tables(data):  # liblj92 crashes on a frame without them
            decoders.append(ic.ljpeg_decode)
        else:
            errors.append("no Huffman table (DHT) before the scan")
        for decoder in decoders:
            try:
                candidate = decoder(buffer)
            except Exception as exc:  # noqa: BLE001 - try the next library
                errors.append(str(exc))
                continue
            if candidate.shape == info.shape:
                array = np.ascontiguousarray(candidate)
                break
            errors.append(f"{decoder.__name__} gave shape {candidate.shape}")
        if array is None:
            raise InvalidDicomError(f"{_where(frame)}the {self.name} codestream does not "
                                    f"decode (corrupt or truncated): {'; '.join(errors)}")
        array = to_dtype(array, info)
        if info.is_signed or header.precision > info.bits_stored:
            array = unused_bits(array, info)
        photometric = self._stream_photometric(header, info)
        return self._colour(array, info, photometric, as_rgb)

    def check_encodable(self, info: PixelInfo) -> None:
        super().check_encodable(info)
        if not 2 <= info.bits_stored <= 16:
            raise NotSupportedError(f"{self.name} holds 2 to 16-bit samples, not "
                                    f"{info.bits_stored}")

    def encode(self, array: Any, info: PixelInfo, **opts: Any) -> bytes:
        self.check_encodable(info)
        ic = _imagecodecs()
        predictor = 1 if self.sv1 else int(opts.get("predictor") or self.default_predictor)
        values = _unsigned_pattern(array, info)
        if info.bits_allocated <= 8:
            values = values.astype(np.uint8, copy=False)
        else:
            values = values.astype(np.uint16, copy=False)
        kwargs: dict[str, Any] = {}
        if info.samples_per_pixel == 3:
            kwargs = {"colorspace": "RGB", "outcolorspace": "RGB"}
        return bytes(ic.jpeg8_encode(values, lossless=True, predictor=predictor,
                                     bitspersample=max(info.bits_stored, 2), **kwargs))


class JPEGLS(Codec):
    """PS3.5 §8.2.3: JPEG-LS lossless (.4.80) and near-lossless (.4.81), ISO 14495-1."""

    uid = registered("JPEGLSLossless")
    name = "JPEG-LS Lossless"
    method = "ISO_14495_1"

    def decode_with_photometric(self, data: bytes | memoryview, info: PixelInfo, *,
                                as_rgb: bool = True,
                                frame: int | None = None) -> tuple[Any, str]:
        ic = _imagecodecs()
        header = jpeg_header(data)
        require_end_marker(data, self.name, frame)
        try:
            array = ic.jpegls_decode(data)
        except Exception as exc:  # noqa: BLE001
            raise _decode_error(self.name, frame, exc) from exc
        if array.shape != info.shape:
            if array.shape == (info.samples_per_pixel, info.rows, info.columns):
                array = np.moveaxis(array, 0, -1)
            else:
                raise InvalidDicomError(f"{_where(frame)}the JPEG-LS frame is {array.shape}, "
                                        f"the data set says {info.shape}")
        array = np.ascontiguousarray(to_dtype(array, info))
        array = fix_sign(array, info, header.precision, False)
        return self._colour(array, info, info.photometric_interpretation, as_rgb)

    def check_encodable(self, info: PixelInfo) -> None:
        super().check_encodable(info)
        if not 2 <= info.bits_stored <= 16:
            raise NotSupportedError(f"{self.name} holds 2 to 16-bit samples")

    def encode(self, array: Any, info: PixelInfo, **opts: Any) -> bytes:
        self.check_encodable(info)
        ic = _imagecodecs()
        near = 0
        if self.lossy:
            near = int(opts["quality"] if opts.get("quality") is not None else 2)
        # CharLS writes the container's precision (8 or 16 bits), so signed values go in
        # as their full two's complement pattern: sign extension from that precision (as
        # pydicom and dicomkit decode) gives them back whatever Bits Stored is.
        values = np.ascontiguousarray(array)
        values = values.view(f"u{values.dtype.itemsize}")
        values = values.astype(np.uint8 if info.bits_allocated <= 8 else np.uint16, copy=False)
        return bytes(ic.jpegls_encode(values, level=near))


class JPEG2000(Codec):
    """PS3.5 §8.2.4: JPEG 2000 Part 1 (ISO 15444-1), lossless only (.4.90) or either (.4.91)."""

    uid = registered("JPEG2000Lossless")
    name = "JPEG 2000 Lossless"
    method = "ISO_15444_1"

    def _decode_array(self, ic: Any, buffer: bytes | memoryview, header: J2kHeader) -> Any:
        return ic.jpeg2k_decode(buffer)

    def decode_with_photometric(self, data: bytes | memoryview, info: PixelInfo, *,
                                as_rgb: bool = True,
                                frame: int | None = None) -> tuple[Any, str]:
        ic = _imagecodecs()
        header = j2k_header(data)
        require_end_marker(data, self.name, frame)
        buffer = data  # the libraries read a (read-only) memoryview in place
        try:
            array = self._decode_array(ic, buffer, header)
        except Exception as exc:  # noqa: BLE001
            raise _decode_error(self.name, frame, exc) from exc
        if array.shape != info.shape:
            raise InvalidDicomError(f"{_where(frame)}the JPEG 2000 frame is {array.shape}, "
                                    f"the data set says {info.shape}")
        array = np.ascontiguousarray(to_dtype(array, info))
        array = fix_sign(array, info, header.precision, header.signed)
        photometric = info.photometric_interpretation
        if photometric in ("YBR_RCT", "YBR_ICT"):
            photometric = "RGB"  # the decoder undoes the component transform (PS3.5 §8.2.4)
        return self._colour(array, info, photometric, as_rgb)

    def check_encodable(self, info: PixelInfo) -> None:
        super().check_encodable(info)
        if info.bits_stored > 16 and info.bits_allocated > 16:
            raise NotSupportedError(f"{self.name}: dicomkit encodes up to 16-bit samples")

    def encoded_photometric(self, info: PixelInfo, **opts: Any) -> str:
        if info.samples_per_pixel == 3 and info.photometric_interpretation == "RGB":
            return "YBR_ICT" if self._irreversible(opts) else "YBR_RCT"
        return info.photometric_interpretation

    def _irreversible(self, opts: dict[str, Any]) -> bool:
        return self.lossy and not opts.get("reversible", False)

    def _values(self, array: Any, info: PixelInfo) -> Any:
        values = np.ascontiguousarray(array)
        kind = "i" if info.is_signed else "u"
        size = 1 if info.bits_stored <= 8 else 2
        return values.astype(f"{kind}{size}", copy=False)

    def encode(self, array: Any, info: PixelInfo, **opts: Any) -> bytes:
        self.check_encodable(info)
        ic = _imagecodecs()
        values = self._values(array, info)
        colour = info.samples_per_pixel == 3
        mct = colour and info.photometric_interpretation == "RGB"
        if self._irreversible(opts):
            quality = float(opts["quality"] if opts.get("quality") is not None else 50.0)
            encoded = ic.jpeg2k_encode(values, level=quality, codecformat="J2K",
                                       reversible=False, bitspersample=info.bits_stored,
                                       mct=mct, colorspace="SRGB" if colour else None)
        else:
            encoded = ic.jpeg2k_encode(values, level=0, codecformat="J2K", reversible=True,
                                       bitspersample=info.bits_stored, mct=mct,
                                       colorspace="SRGB" if colour else None)
        return bytes(encoded)


class HTJ2K(JPEG2000):
    """PS3.5 §8.2.14: High-Throughput JPEG 2000 (ISO 15444-15). The RPCL syntax (.4.202)
    requires RPCL progression and TLM markers, which OpenJPH writes when asked."""

    uid = registered("HTJ2KLossless")
    name = "HTJ2K Lossless"
    method = "ISO_15444_15"

    def __init__(self, uid: str = "", name: str = "", lossy: bool = False,
                 rpcl: bool = False) -> None:
        super().__init__(uid, name, lossy)
        self.rpcl = rpcl

    def _decode_array(self, ic: Any, buffer: bytes | memoryview, header: J2kHeader) -> Any:
        if not header.reversible or not hasattr(ic, "htj2k_decode"):
            # OpenJPH (imagecodecs 2026.3) casts irreversible output to the sample type
            # without clamping, so values just outside the range wrap around; OpenJPEG clamps.
            return ic.jpeg2k_decode(buffer)
        try:
            return ic.htj2k_decode(buffer)
        except Exception:  # noqa: BLE001 - OpenJPEG reads what OpenJPH refuses
            return ic.jpeg2k_decode(buffer)

    def encode(self, array: Any, info: PixelInfo, **opts: Any) -> bytes:
        self.check_encodable(info)
        ic = _imagecodecs()
        if not hasattr(ic, "htj2k_encode"):
            raise NotSupportedError(f"{self.name} encoding needs imagecodecs with OpenJPH "
                                    "(htj2k_encode, imagecodecs 2025 or later)")
        values = self._values(array, info)
        colour = info.samples_per_pixel == 3 and info.photometric_interpretation == "RGB"
        kwargs: dict[str, Any] = {"rgb": colour}
        if self.rpcl:
            kwargs["tlm"] = True
        if self._irreversible(opts):
            step = float(opts["quality"] if opts.get("quality") is not None else 0.005)
            encoded = bytes(ic.htj2k_encode(values, level=step, reversible=False, **kwargs))
        else:
            encoded = bytes(ic.htj2k_encode(values, reversible=True, **kwargs))
        if self.rpcl:
            header = j2k_header(encoded)
            if header.progression != 2 or not header.tlm:  # 2 = RPCL (ISO 15444-1 A.6.1)
                raise NotSupportedError("the HTJ2K encoder did not write RPCL progression with "
                                        "TLM markers, which 1.2.840.10008.1.2.4.202 requires")
        return encoded


class DeflatedImageFrame(Codec):
    """Deflated Image Frame Compression (1.2.840.10008.1.2.8.1): each frame's native bytes
    deflated (RFC 1951). Frames written by others with a zlib wrapper (RFC 1950) read too."""

    uid = registered("DeflatedImageFrameCompression")
    name = "Deflated Image Frame Compression"

    def decode_with_photometric(self, data: bytes | memoryview, info: PixelInfo, *,
                                as_rgb: bool = True,
                                frame: int | None = None) -> tuple[Any, str]:
        raw = bytes(data)
        try:
            inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw)
        except zlib.error:
            try:
                inflated = zlib.decompress(raw)
            except zlib.error as exc:
                raise _decode_error(self.name, frame, exc) from exc
        native_info = info.with_changes(transfer_syntax=ExplicitVRLittleEndian,
                                        little_endian=True)
        if len(inflated) < native_info.frame_length:
            raise InvalidDicomError(f"{_where(frame)}the frame inflates to {len(inflated)} "
                                    f"byte(s), {native_info.frame_length} expected")
        array = decode_native(memoryview(inflated), native_info, 0, frame)
        return self._colour(array, info, info.photometric_interpretation, as_rgb)

    def check_encodable(self, info: PixelInfo) -> None:
        if info.bits_allocated == 1:
            raise NotSupportedError(f"{self.name} of Bits Allocated 1")

    def encode(self, array: Any, info: PixelInfo, **opts: Any) -> bytes:
        self.check_encodable(info)
        raw = encode_native(array, info.with_changes(little_endian=True,
                                                            planar_configuration=0))
        level = int(opts.get("level", 6))
        packer = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        return packer.compress(raw) + packer.flush()


def _registry() -> dict[str, Codec]:
    codecs: list[Codec] = [
        RLELossless(),
        JPEGBaseline(),
        JPEGExtended(),
        JPEGLossless(),
        JPEGLossless(registered("JPEGLosslessSV1"), "JPEG Lossless SV1 (Process 14, first-order "
                     "prediction)", sv1=True),
        JPEGLS(),
        JPEGLS(registered("JPEGLSNearLossless"), "JPEG-LS Near-Lossless", lossy=True),
        JPEG2000(),
        JPEG2000(registered("JPEG2000"), "JPEG 2000", lossy=True),
        HTJ2K(),
        HTJ2K(registered("HTJ2KLosslessRPCL"), "HTJ2K Lossless RPCL", rpcl=True),
        HTJ2K(registered("HTJ2K"), "HTJ2K", lossy=True),
        DeflatedImageFrame(),
        RetiredJPEG(registered("JPEGExtended35"),
                    "JPEG Extended (Process 3 & 5)"),
        RetiredJPEG(registered("JPEGSpectralSelectionNonHierarchical68"),
                    "JPEG Spectral Selection (Process 6 & 8)"),
        RetiredJPEG(registered("JPEGSpectralSelectionNonHierarchical79"),
                    "JPEG Spectral Selection (Process 7 & 9)"),
        RetiredJPEG(registered("JPEGFullProgressionNonHierarchical1012"),
                    "JPEG Full Progression (Process 10 & 12)"),
        RetiredJPEG(registered("JPEGFullProgressionNonHierarchical1113"),
                    "JPEG Full Progression (Process 11 & 13)"),
    ]
    return {codec.uid: codec for codec in codecs}


CODECS: dict[str, Codec] = _registry()


def codec_for(uid: str) -> Codec:
    """The codec of a transfer syntax; NotSupportedError names what is missing."""
    codec = CODECS.get(uid)
    if codec is None:
        from dicomkit.core.uid import uid_info

        info = uid_info(uid)
        name = f"{info.name} ({uid})" if info else uid
        raise NotSupportedError(f"no pixel codec for {name}; dicomkit decodes "
                                + ", ".join(sorted(c.name for c in CODECS.values())))
    return codec
