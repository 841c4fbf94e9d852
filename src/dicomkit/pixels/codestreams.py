"""Reading just enough of a codestream's header: ISO 10918-1 B.2 (JPEG), ISO 14495-1 (JPEG-LS,
same marker syntax), ISO 15444-1 A.5 (JPEG 2000 SIZ and COD).

The decoders need a few facts the libraries do not report — the precision and signedness of
the samples, the component IDs and JFIF marker that say which colour space a JPEG is in, the
JPEG 2000 wavelet and progression order — and a truncated frame must be caught before a
library fills in the missing part without a word.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from dicomkit.errors import InvalidDicomError


def _where(frame: int | None) -> str:
    return f"frame {frame}: " if frame is not None else ""


@dataclass
class JpegHeader:
    """What a JPEG (ISO 10918-1) or JPEG-LS (ISO 14495-1) header says about the frame."""

    marker: int = 0  # the SOFn marker: C0 baseline, C1 extended, C2 progressive, C3 lossless
    precision: int = 8
    rows: int = 0
    columns: int = 0
    component_ids: list[int] = field(default_factory=list)
    jfif: bool = False
    adobe_transform: int | None = None


def jpeg_header(data: bytes | memoryview) -> JpegHeader:
    """Walk the marker segments up to the start of frame (ISO 10918-1 B.2)."""
    view = memoryview(data)
    header = JpegHeader()
    if bytes(view[:2]) != b"\xff\xd8":
        raise InvalidDicomError("the frame does not start with a JPEG SOI marker (FFD8)")
    pos = 2
    size = len(view)
    while pos + 4 <= size:
        if view[pos] != 0xFF:
            raise InvalidDicomError(f"JPEG marker expected at byte {pos} of the frame")
        marker = view[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack_from(">H", view, pos + 2)[0]
        body = pos + 4
        if marker == 0xE0 and bytes(view[body : body + 5]) == b"JFIF\0":
            header.jfif = True
        elif marker == 0xEE and bytes(view[body : body + 5]) == b"Adobe" and length >= 12:
            header.adobe_transform = view[body + 11]
        elif marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                        0xCE, 0xCF, 0xF7):
            if body + 6 > size:
                break
            header.marker = marker
            header.precision = view[body]
            header.rows, header.columns = struct.unpack_from(">HH", view, body + 1)
            count = view[body + 5]
            header.component_ids = [view[body + 6 + 3 * i] for i in range(count)
                                    if body + 6 + 3 * i < size]
            return header
        elif marker == 0xDA:
            break
        pos += 2 + length
    raise InvalidDicomError("no JPEG start of frame marker before the scan (truncated frame?)")


def defines_huffman_tables(data: bytes | memoryview) -> bool:
    """Whether a DHT marker segment (FFC4, ISO 10918-1 B.2.4.2) comes before the first scan
    (SOS): a Huffman-coded frame has no default tables, and a decoder library may read a
    table that was never defined (liblj92, behind imagecodecs.ljpeg_decode, crashes the
    process on such a lossless frame)."""
    view = memoryview(data)
    pos, size = 2, len(view)
    while pos + 4 <= size:
        if view[pos] != 0xFF:
            return False
        marker = view[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xC4:
            return True
        if marker == 0xDA:
            return False
        pos += 2 + struct.unpack_from(">H", view, pos + 2)[0]
    return False


@dataclass
class J2kHeader:
    """The SIZ marker of a JPEG 2000 codestream (ISO 15444-1 A.5.1)."""

    rows: int
    columns: int
    components: int
    precision: int
    signed: bool
    mct: bool = False
    reversible: bool = True
    ht: bool = False
    progression: int = 0
    tlm: bool = False


def j2k_header(data: bytes | memoryview) -> J2kHeader:
    view = bytes(memoryview(data)[:4096])
    start = view.find(b"\xff\x4f\xff\x51")
    if start < 0:
        raise InvalidDicomError("the frame has no JPEG 2000 SOC+SIZ markers (FF4F FF51)")
    siz = start + 4
    if siz + 40 > len(view):
        raise InvalidDicomError("the JPEG 2000 SIZ marker is cut short")
    rsiz = struct.unpack_from(">H", view, siz + 2)[0]
    xsiz, ysiz, xo, yo = struct.unpack_from(">4L", view, siz + 4)
    components = struct.unpack_from(">H", view, siz + 36)[0]
    ssiz = view[siz + 38]
    header = J2kHeader(rows=ysiz - yo, columns=xsiz - xo, components=components,
                       precision=(ssiz & 0x7F) + 1, signed=bool(ssiz & 0x80),
                       ht=bool(rsiz & 0x4000))
    cod = view.find(b"\xff\x52", siz)
    if 0 <= cod and cod + 14 <= len(view):
        header.progression = view[cod + 5]
        header.mct = bool(view[cod + 8])
        header.reversible = view[cod + 13] == 1  # wavelet: 1 = 5-3 reversible, 0 = 9-7
    header.tlm = view.find(b"\xff\x55", siz) >= 0
    return header


def require_end_marker(data: bytes | memoryview, name: str, frame: int | None) -> None:
    """A JPEG, JPEG-LS or JPEG 2000 frame ends with EOI / EOC (FFD9), maybe padded (00, FF).

    Checked before decoding because the libraries do not all refuse a truncated frame:
    libjpeg-turbo and OpenJPH fill in what is missing without a word, and CharLS 2.4 spends
    seconds on a truncated frame that ends in a padding byte.
    """
    tail = bytes(memoryview(data)[-16:]).rstrip(b"\0\xff")  # padding, fill bytes
    if not tail.endswith(b"\xff\xd9"):
        raise InvalidDicomError(f"{_where(frame)}the {name} codestream does not end with an "
                                "end-of-image marker (FFD9): it is truncated")
