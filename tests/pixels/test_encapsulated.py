"""PS3.5 A.4: finding frames in encapsulated pixel data, and encapsulating them.

Frames are RLE (PS3.5 G), JPEG (FFD8) and JPEG 2000 (FF4F FF51) codestreams, so splitting
without an offset table is checked on each kind of start marker.
"""

from __future__ import annotations

import io
import struct
import warnings
from typing import Any

import numpy as np
import pytest

import dicomkit
from dicomkit.core.element import DataElement
from dicomkit.encoding.transfer_syntax import lookup
from dicomkit.errors import InvalidDicomError
from dicomkit.pixels import encapsulated as encaps
from dicomkit.pixels.codecs import CODECS
from dicomkit.pixels.encapsulated import Encapsulated, encapsulate
from dicomkit.pixels.info import PixelInfo

RLE = "1.2.840.10008.1.2.5"
JPEG_LS = "1.2.840.10008.1.2.4.80"
J2K = "1.2.840.10008.1.2.4.90"
ROWS, COLUMNS = 16, 24


def _images(count: int, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    base = np.add.outer(np.arange(ROWS), np.arange(COLUMNS)).astype(np.uint16) * 40
    return np.stack([base + rng.integers(0, 50, (ROWS, COLUMNS)).astype(np.uint16) + i * 7
                     for i in range(count)])


def _info(syntax: str, count: int) -> PixelInfo:
    return PixelInfo(rows=ROWS, columns=COLUMNS, bits_allocated=16, bits_stored=12, high_bit=11,
                     number_of_frames=count, transfer_syntax=syntax)


def _codestreams(syntax: str, images: Any) -> list[bytes]:
    info = _info(syntax, len(images))
    return [CODECS[syntax].encode(image, info) for image in images]


def _item(value: bytes) -> bytes:
    return struct.pack("<HHL", 0xFFFE, 0xE000, len(value)) + value


def _split(stream: bytes, parts: int) -> list[bytes]:
    """A codestream in ``parts`` even-length fragments (the last one padded)."""
    if len(stream) & 1:
        stream += b"\0"
    size = max(2, (len(stream) // parts) & ~1)
    pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
    return pieces


def _dataset(value: bytes, syntax: str, count: int, *, eot: Encapsulated | None = None,
             via_file: bool = True) -> dicomkit.Dataset:
    ds = dicomkit.Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.2.1143.2"
    ds.Rows, ds.Columns = ROWS, COLUMNS
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.NumberOfFrames = count
    if eot is not None:
        ds[0x7FE00001] = DataElement(0x7FE00001, "OV", eot.extended_offsets)
        ds[0x7FE00002] = DataElement(0x7FE00002, "OV", eot.extended_lengths)
    ds[0x7FE00010] = DataElement(0x7FE00010, "OB", value, is_undefined_length=True)
    object.__setattr__(ds, "transfer_syntax", lookup(syntax))
    if not via_file:
        return ds
    out = io.BytesIO()
    dicomkit.write(ds, out, transfer_syntax=syntax)
    return dicomkit.read(out.getvalue())


def _value(fragment_lists: list[list[bytes]], table: list[int] | None) -> bytes:
    items = b"".join(_item(f) for frags in fragment_lists for f in frags)
    bot = struct.pack(f"<{len(table)}L", *table) if table else b""
    return _item(bot) + items


def _offsets(fragment_lists: list[list[bytes]]) -> list[int]:
    offsets, pos = [], 0
    for frags in fragment_lists:
        offsets.append(pos)
        pos += sum(8 + len(f) for f in frags)
    return offsets


# -- finding frames ------------------------------------------------------------------------
@pytest.mark.parametrize("syntax", [RLE, JPEG_LS, J2K])
@pytest.mark.parametrize("layout", ["bot", "bot-multi", "one-per-frame", "markers"])
def test_frames_are_found(syntax: str, layout: str) -> None:
    images = _images(4)
    streams = _codestreams(syntax, images)
    parts = 1 if layout in ("bot", "one-per-frame") else 3
    fragment_lists = [_split(s, parts) for s in streams]
    table = _offsets(fragment_lists) if layout.startswith("bot") else None
    ds = _dataset(_value(fragment_lists, table), syntax, len(images))
    assert np.array_equal(ds.pixel_array, images)
    assert np.array_equal(ds.frame(2), images[2])
    assert all(np.array_equal(a, b) for a, b in zip(ds.frames(), images, strict=True))


def test_single_frame_in_many_fragments_without_a_table() -> None:
    images = _images(1)
    stream = _codestreams(JPEG_LS, images)[0]
    ds = _dataset(_value([_split(stream, 5)], None), JPEG_LS, 1)
    assert np.array_equal(ds.pixel_array, images[0])


def test_extended_offset_table() -> None:
    """PS3.3 C.7.6.3.1.8: 64-bit offsets and lengths; the Basic Offset Table is empty."""
    import pydicom

    images = _images(3)
    packed = encapsulate(_codestreams(RLE, images), extended_offset_table=True)
    assert packed.value[:8] == struct.pack("<HHL", 0xFFFE, 0xE000, 0)
    assert packed.extended_offsets is not None and packed.extended_lengths is not None
    ds = _dataset(packed.value, RLE, 3, eot=packed)
    assert np.array_equal(ds.frame(1), images[1])
    assert np.array_equal(ds.pixel_array, images)
    out = io.BytesIO()
    dicomkit.write(ds, out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.array_equal(pydicom.dcmread(io.BytesIO(out.getvalue())).pixel_array, images)


def test_extended_offset_table_used_beyond_four_gib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offsets that do not fit 32 bits switch to the Extended Offset Table by themselves."""
    monkeypatch.setattr(encaps, "MAX_BOT_OFFSET", 100)
    packed = encapsulate([b"a" * 60, b"b" * 60, b"c" * 60])
    assert packed.extended_offsets is not None
    assert struct.unpack("<3Q", packed.extended_offsets) == (0, 68, 136)
    assert struct.unpack("<3Q", packed.extended_lengths or b"") == (60, 60, 60)


def test_encapsulate_pads_odd_frames_and_fills_the_basic_offset_table() -> None:
    packed = encapsulate([b"\xff\xd8abc", b"\xff\xd8de"])
    table = struct.pack("<2L", 0, 14)
    assert packed.value == (_item(table) + _item(b"\xff\xd8abc\0") + _item(b"\xff\xd8de"))
    assert packed.extended_offsets is None


def test_frame_reads_only_its_own_bytes() -> None:
    """With a Basic Offset Table, the other frames' items are never looked at: here they are
    overwritten with garbage (item tags included) and frame 7 still decodes."""
    images = _images(10)
    streams = _codestreams(RLE, images)
    value = bytearray(encapsulate(streams).value)
    first = 8 + 4 * len(streams)
    offsets = _offsets([[s + b"\0" * (len(s) & 1)] for s in streams])
    keep = (first + offsets[7], first + offsets[8])
    for pos in range(first, len(value)):
        if not keep[0] <= pos < keep[1]:
            value[pos] = 0xAB
    ds = _dataset(bytes(value), RLE, 10, via_file=False)
    assert np.array_equal(ds.frame(7), images[7])
    with pytest.raises(InvalidDicomError, match="frame 6"):
        ds.frame(6)


# -- bad input -------------------------------------------------------------------------------
def test_truncated_fragment_names_the_frame() -> None:
    images = _images(3)
    streams = _codestreams(RLE, images)
    value = encapsulate(streams).value
    ds = _dataset(value[:-40], RLE, 3, via_file=False)
    assert np.array_equal(ds.frame(0), images[0])
    with pytest.raises(InvalidDicomError, match="frame 2: .*truncated"):
        ds.frame(2)


def test_truncated_codestream_names_the_frame() -> None:
    images = _images(3)
    streams = _codestreams(JPEG_LS, images)
    streams[1] = streams[1][: len(streams[1]) // 3]
    ds = _dataset(encapsulate(streams).value, JPEG_LS, 3)
    with pytest.raises(InvalidDicomError, match="frame 1"):
        ds.frame(1)
    with pytest.raises(InvalidDicomError, match="frame 1"):
        _ = ds.pixel_array


def test_wrong_basic_offset_table_names_the_frame() -> None:
    images = _images(3)
    fragment_lists = [_split(s, 1) for s in _codestreams(RLE, images)]
    offsets = _offsets(fragment_lists)
    offsets[2] -= 6  # points inside frame 1's fragment
    ds = _dataset(_value(fragment_lists, offsets), RLE, 3)
    with pytest.raises(InvalidDicomError, match="frame (1|2).*offset table"):
        ds.frame(1)


def test_decreasing_basic_offset_table() -> None:
    images = _images(3)
    fragment_lists = [_split(s, 1) for s in _codestreams(RLE, images)]
    offsets = _offsets(fragment_lists)
    offsets[1], offsets[2] = offsets[2], offsets[1]
    ds = _dataset(_value(fragment_lists, offsets), RLE, 3)
    with pytest.raises(InvalidDicomError, match="frame 2: .*offset table"):
        ds.frame(0)


def test_basic_offset_table_with_too_few_entries() -> None:
    images = _images(3)
    fragment_lists = [_split(s, 1) for s in _codestreams(RLE, images)]
    ds = _dataset(_value(fragment_lists, _offsets(fragment_lists)[:2]), RLE, 3)
    with pytest.raises(InvalidDicomError, match="frame 2: .*Basic Offset Table lists 2"):
        ds.frame(0)


def test_fewer_codestreams_than_frames() -> None:
    images = _images(2)
    fragment_lists = [_split(s, 2) for s in _codestreams(JPEG_LS, images)]
    ds = _dataset(_value(fragment_lists, None), JPEG_LS, 3)
    with pytest.raises(InvalidDicomError, match="frame 2: .*codestream"):
        ds.frame(0)


@pytest.mark.parametrize("index", [-1, 4, 999])
def test_encapsulated_frame_index_out_of_range(index: int) -> None:
    images = _images(4)
    ds = _dataset(encapsulate(_codestreams(RLE, images)).value, RLE, 4)
    with pytest.raises(InvalidDicomError, match=f"frame {index} is out of range"):
        ds.frame(index)


def test_a_fragment_that_is_not_an_item() -> None:
    images = _images(2)
    value = bytearray(encapsulate(_codestreams(RLE, images)).value)
    value[16:20] = struct.pack("<HH", 0xFFFE, 0xE00D)  # frame 0's item tag
    ds = _dataset(bytes(value), RLE, 2, via_file=False)
    with pytest.raises(InvalidDicomError, match="frame 0: expected a fragment item"):
        ds.frame(0)
