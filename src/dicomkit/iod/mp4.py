"""A small, bounded reader of MP4 files (ISO/IEC 14496-12 and -14): what a DICOM video object
needs to know about the stream it keeps as is.

PS3.5 §8.2.7-8.2.11 allow the MP4 container for the MPEG-4 AVC/H.264 and HEVC/H.265 transfer
syntaxes; the file goes into Pixel Data unchanged, so this module only *reads*: the video track's
sample entry (``avc1``/``avc3`` with its ``avcC``, ``hvc1``/``hev1`` with its ``hvcC``: profile
and level), its size, its frame count (``stts``) and timescale (``mdhd``).

Every box length is checked against the box that holds it and against the file before anything
is read through it; nothing is allocated by a length read from the file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass


class MP4Error(ValueError):
    """An MP4 file that cannot be read: the reason names the box and its byte offset."""


@dataclass(frozen=True)
class Box:
    """One box: its four-character type, where it starts, where its payload starts and where it
    ends (offsets in the file)."""

    type: bytes
    start: int
    payload: int
    end: int

    @property
    def name(self) -> str:
        return self.type.decode("latin-1")


@dataclass(frozen=True)
class VideoTrack:
    """What the video track of an MP4 file says about its stream."""

    codec: str                  # "avc" (H.264) or "hevc" (H.265)
    sample_entry: str           # avc1, avc3, hvc1, hev1
    profile: int                # AVCProfileIndication / general_profile_idc
    level: int                  # AVCLevelIndication (41 = 4.1) / general_level_idc (153 = 5.1)
    constraints: int            # H.264 constraint_set flags byte; HEVC compatibility flags
    width: int
    height: int
    frames: int
    timescale: int
    duration: int               # in timescale units (mdhd)
    frame_deltas: tuple[int, ...]  # the distinct sample durations of stts, in timescale units

    @property
    def frame_time(self) -> float:
        """Milliseconds per frame: the total duration over the frame count (PS3.3 C.7.6.5
        Frame Time)."""
        return 1000.0 * self.duration / self.timescale / self.frames


def boxes(data: bytes | memoryview, start: int = 0, end: int | None = None,
          where: str = "file") -> Iterator[Box]:
    """The boxes laid one after another in ``data[start:end]``; :class:`MP4Error` when a header
    is cut short or a length runs past ``end`` (ISO/IEC 14496-12 §4.2: 32-bit size, 1 = a 64-bit
    size follows, 0 = to the end of the file, top level only)."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        if end - pos < 8:
            raise MP4Error(f"{end - pos} stray byte(s) at offset {pos} in {where}: too few "
                           "for a box header")
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise MP4Error(f"box {kind!r} at offset {pos}: its 64-bit size is cut short")
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            if where != "file":
                raise MP4Error(f"box {kind!r} at offset {pos} in {where}: size 0 (to the end "
                               "of the file) is allowed only at the top level")
            size = end - pos
        if size < header:
            raise MP4Error(f"box {kind!r} at offset {pos}: size {size} is smaller than its "
                           "header")
        if pos + size > end:
            raise MP4Error(f"box {kind!r} at offset {pos}: size {size} runs past the end of "
                           f"{where} ({end - pos} bytes left)")
        yield Box(bytes(kind), pos, pos + header, pos + size)
        pos += size


def length(data: bytes | memoryview) -> int:
    """The length of the MP4 file at the start of ``data``: its top-level boxes laid end to
    end. One trailing NUL after them is the padding DICOM adds to make a value even (PS3.5
    §8.2) and is not counted; anything else after the last box is an error."""
    pos, size = 0, len(data)
    while size - pos >= 8:
        box = next(boxes(data, pos, size))
        pos = box.end
    if pos < size and (size - pos > 1 or data[pos] != 0):
        raise MP4Error(f"{size - pos} byte(s) after the last box at offset {pos}")
    return pos


def _child(data: bytes | memoryview, parent: Box, kind: bytes) -> Box | None:
    for box in boxes(data, parent.payload, parent.end, parent.name):
        if box.type == kind:
            return box
    return None


def _need(box: Box, size: int) -> None:
    if box.end - box.payload < size:
        raise MP4Error(f"box {box.name} at offset {box.start} is {box.end - box.payload} bytes, "
                       f"too short for its {size}-byte fields")


def _path(data: bytes | memoryview, parent: Box, *kinds: bytes) -> Box | None:
    box: Box | None = parent
    for kind in kinds:
        assert box is not None
        box = _child(data, box, kind)
        if box is None:
            return None
    return box


def _handler(data: bytes | memoryview, trak: Box) -> bytes:
    hdlr = _path(data, trak, b"mdia", b"hdlr")
    if hdlr is None:
        return b""
    _need(hdlr, 12)
    return bytes(data[hdlr.payload + 8 : hdlr.payload + 12])


def _mdhd(data: bytes | memoryview, mdia: Box) -> tuple[int, int]:
    mdhd = _child(data, mdia, b"mdhd")
    if mdhd is None:
        raise MP4Error("the video track has no media header (mdhd)")
    _need(mdhd, 4)
    version = data[mdhd.payload]
    if version == 1:
        _need(mdhd, 32)
        timescale, duration = struct.unpack_from(">IQ", data, mdhd.payload + 20)
    else:
        _need(mdhd, 20)
        timescale, duration = struct.unpack_from(">II", data, mdhd.payload + 12)
    if timescale == 0:
        raise MP4Error(f"mdhd at offset {mdhd.start}: timescale 0")
    return timescale, duration


def _stts(data: bytes | memoryview, stbl: Box) -> tuple[int, int, tuple[int, ...]]:
    """Frames, total duration and the distinct sample durations (§8.6.1.2)."""
    stts = _child(data, stbl, b"stts")
    if stts is None:
        raise MP4Error("the video track has no decoding time table (stts)")
    _need(stts, 8)
    count = struct.unpack_from(">I", data, stts.payload + 4)[0]
    if count * 8 > stts.end - stts.payload - 8:
        raise MP4Error(f"stts at offset {stts.start}: {count} entries do not fit in its "
                       f"{stts.end - stts.payload} bytes")
    frames = total = 0
    deltas: set[int] = set()
    for i in range(count):
        samples, delta = struct.unpack_from(">II", data, stts.payload + 8 + 8 * i)
        frames += samples
        total += samples * delta
        if samples:
            deltas.add(delta)
    return frames, total, tuple(sorted(deltas))


def _sample_entry(data: bytes | memoryview, stsd: Box) -> tuple[Box, Box | None]:
    """The first sample entry of ``stsd`` and its decoder configuration box (avcC/hvcC)."""
    _need(stsd, 8)
    entries = boxes(data, stsd.payload + 8, stsd.end, "stsd")
    entry = next(entries, None)
    if entry is None:
        raise MP4Error(f"stsd at offset {stsd.start} has no sample entry")
    visual = 78  # VisualSampleEntry fields (§12.1.3) before its child boxes
    _need(entry, visual)
    config = None
    wanted = {b"avc1": b"avcC", b"avc3": b"avcC", b"hvc1": b"hvcC", b"hev1": b"hvcC"}
    if entry.type in wanted:
        for child in boxes(data, entry.payload + visual, entry.end, entry.name):
            if child.type == wanted[entry.type]:
                config = child
    return entry, config


def video_track(data: bytes | memoryview) -> VideoTrack:
    """The first video track of an MP4 file; :class:`MP4Error` naming what is missing or broken
    when there is none, or when it is neither H.264 nor HEVC."""
    top = list(boxes(data))
    if not top or top[0].type != b"ftyp":
        raise MP4Error("not an MP4 file: it does not start with a file type box (ftyp)")
    moov = next((b for b in top if b.type == b"moov"), None)
    if moov is None:
        raise MP4Error("the MP4 file has no movie box (moov)")
    for trak in boxes(data, moov.payload, moov.end, "moov"):
        if trak.type != b"trak" or _handler(data, trak) != b"vide":
            continue
        mdia = _child(data, trak, b"mdia")
        stbl = _path(data, trak, b"mdia", b"minf", b"stbl")
        stsd = _path(data, trak, b"mdia", b"minf", b"stbl", b"stsd")
        if mdia is None or stbl is None or stsd is None:
            raise MP4Error(f"the video track at offset {trak.start} has no sample table")
        timescale, duration = _mdhd(data, mdia)
        frames, total, deltas = _stts(data, stbl)
        if frames == 0:
            raise MP4Error("the video track has no frames")
        entry, config = _sample_entry(data, stsd)
        width, height = struct.unpack_from(">HH", data, entry.payload + 24)
        if config is None:
            raise MP4Error(f"the video is {entry.name!r}, not H.264 (avc1/avc3 with avcC) or "
                           "HEVC (hvc1/hev1 with hvcC): no DICOM transfer syntax keeps it as is")
        if config.type == b"avcC":
            _need(config, 4)
            profile, constraints, level = data[config.payload + 1 : config.payload + 4]
            codec = "avc"
        else:
            _need(config, 13)
            profile = data[config.payload + 1] & 0x1F
            constraints = struct.unpack_from(">I", data, config.payload + 2)[0]
            level = data[config.payload + 12]
            codec = "hevc"
        return VideoTrack(codec, entry.name, profile, level, constraints, width, height,
                          frames, timescale, total or duration, deltas)
    raise MP4Error("the MP4 file has no video track")
