"""The codec registry: PS3.5 Annex G byte layout, lossless round trips, refusals."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from dicomkit.errors import InvalidDicomError, NotSupportedError
from dicomkit.pixels import rle
from dicomkit.pixels.codecs import CODECS, codec_for
from dicomkit.pixels.codestreams import j2k_header
from dicomkit.pixels.info import PixelInfo

LOSSLESS = ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.201",
            "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.8.1"]


def _info(rows: int, columns: int, *, samples: int = 1, bits: int = 8, stored: int | None = None,
          signed: bool = False, syntax: str = "1.2.840.10008.1.2.5") -> PixelInfo:
    stored = stored or bits
    return PixelInfo(rows=rows, columns=columns, samples_per_pixel=samples, bits_allocated=bits,
                     bits_stored=stored, high_bit=stored - 1, pixel_representation=int(signed),
                     photometric_interpretation="RGB" if samples == 3 else "MONOCHROME2",
                     transfer_syntax=syntax)


# -- PS3.5 Annex G ------------------------------------------------------------------------
def test_rle_header_and_packbits_rows() -> None:
    """G.5: one segment at offset 64; G.3.1: each row coded separately (a replicate run of
    two, -1 then the byte, per row, even though the rows continue the run)."""
    encoded = rle.encode(np.ones((2, 2), np.uint8), _info(2, 2))
    header = struct.pack("<16L", 1, 64, *([0] * 14))
    assert encoded == header + bytes([0xFF, 0x01, 0xFF, 0x01])


def test_rle_segments_are_most_significant_byte_first() -> None:
    """G.2: for 16-bit samples the high byte plane is segment 1, the low one segment 2."""
    encoded = rle.encode(np.full((1, 2), 0x0102, np.uint16), _info(1, 2, bits=16))
    count, first, second = struct.unpack_from("<3L", encoded)
    assert (count, first) == (2, 64)
    assert encoded[first:second] == bytes([0xFF, 0x01])
    assert encoded[second:] == bytes([0xFF, 0x02])


def test_rle_segments_are_padded_to_even_length() -> None:
    encoded = rle.encode(np.array([[1, 2, 3]], np.uint8), _info(1, 3))
    assert encoded[64:] == bytes([0x02, 1, 2, 3])
    odd = rle.encode(np.array([[1, 2]], np.uint8), _info(1, 2))
    assert odd[64:] == bytes([0x01, 1, 2, 0])


def test_rle_decode_drops_segment_padding_and_reports_short_segments() -> None:
    info = _info(2, 3)
    values = np.arange(6, dtype=np.uint8).reshape(2, 3)
    encoded = rle.encode(values, info)
    assert np.array_equal(rle.decode(encoded, info), values)
    short = struct.pack("<16L", 1, 64, *([0] * 14)) + bytes([0x02, 1, 2, 3])
    with pytest.raises(InvalidDicomError, match="frame 4: RLE segment 1 decodes to 3"):
        rle.decode(short, info, 4)


@pytest.mark.parametrize("header, message", [
    (struct.pack("<16L", 0, *([0] * 15)), "0 segments"),
    (struct.pack("<16L", 2, 64, 9000, *([0] * 13)), "do not fit"),
    (struct.pack("<16L", 1, 60, *([0] * 14)), "starts at 60"),
])
def test_rle_bad_headers(header: bytes, message: str) -> None:
    with pytest.raises(InvalidDicomError, match=message):
        rle.decode(header + b"\0" * 8, _info(2, 2), 0)


def test_rle_segment_count_must_match_the_image() -> None:
    encoded = rle.encode(np.zeros((2, 2), np.uint16), _info(2, 2, bits=16))
    with pytest.raises(InvalidDicomError, match="2 segment"):
        rle.decode(encoded, _info(2, 2, bits=8))


# -- round trips ---------------------------------------------------------------------------
def _image(info: PixelInfo, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = -(1 << (info.bits_stored - 1)) if info.is_signed else 0
    high = (1 << (info.bits_stored - 1)) if info.is_signed else (1 << info.bits_stored)
    y, x = np.mgrid[0 : info.rows, 0 : info.columns]
    smooth = (x * 7 + y * 3) % max(1, min(high - low, 1 << 12)) + low
    noise = rng.integers(0, 8, info.shape[:2])
    values = np.clip(smooth + noise, low, high - 1)
    if info.samples_per_pixel == 3:
        values = np.stack([values, np.flipud(values), np.fliplr(values)], -1)
    return values.astype(info.dtype)


CASES = [
    dict(bits=8),
    dict(bits=16, stored=12),
    dict(bits=16, stored=16),
    dict(bits=16, stored=16, signed=True),
    dict(bits=16, stored=12, signed=True),
    dict(bits=8, samples=3),
    dict(bits=16, stored=16, samples=3),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
@pytest.mark.parametrize("syntax", LOSSLESS)
def test_lossless_round_trip(syntax: str, case: dict[str, int]) -> None:
    codec = CODECS[syntax]
    info = _info(33, 47, syntax=syntax, **case)  # odd sizes on purpose
    values = _image(info)
    encoded = codec.encode(values, info)
    decoded_info = info.with_changes(
        photometric_interpretation=codec.encoded_photometric(info))
    decoded = codec.decode(encoded, decoded_info)
    assert decoded.dtype == values.dtype
    assert np.array_equal(decoded, values)


def test_htj2k_rpcl_writes_rpcl_progression_and_tlm_markers() -> None:
    """PS3.5 A.4.x: 1.2.840.10008.1.2.4.202 requires RPCL order and TLM marker segments."""
    info = _info(64, 64, bits=16, stored=12, syntax="1.2.840.10008.1.2.4.202")
    header = j2k_header(CODECS[info.transfer_syntax].encode(_image(info), info))
    assert header.ht and header.reversible and header.tlm
    assert header.progression == 2


def test_deflated_image_frame_is_raw_deflate_and_reads_zlib_too() -> None:
    info = _info(8, 8, bits=16, syntax="1.2.840.10008.1.2.8.1")
    values = _image(info)
    codec = CODECS[info.transfer_syntax]
    encoded = codec.encode(values, info)
    assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(encoded) == values.tobytes()
    assert np.array_equal(codec.decode(zlib.compress(values.tobytes()), info), values)


@pytest.mark.parametrize("syntax, quality, minimum", [
    ("1.2.840.10008.1.2.4.50", 90, 35.0),
    ("1.2.840.10008.1.2.4.81", 2, 45.0),
    ("1.2.840.10008.1.2.4.91", 45, 40.0),
    ("1.2.840.10008.1.2.4.203", 0.005, 35.0),
])
def test_lossy_round_trip_quality(syntax: str, quality: float, minimum: float) -> None:
    from tests.support.pixels import psnr

    codec = CODECS[syntax]
    info = _info(64, 80, samples=3, syntax=syntax)
    values = _smooth_rgb(info)
    encoded = codec.encode(values, info, quality=quality)
    decoded = codec.decode(encoded, info.with_changes(
        photometric_interpretation=codec.encoded_photometric(info)))
    assert psnr(decoded, values, 8) >= minimum
    assert len(encoded) < values.nbytes


def _smooth_rgb(info: PixelInfo) -> np.ndarray:
    """A photograph-like colour image: smooth gradients, a little noise."""
    y, x = np.mgrid[0 : info.rows, 0 : info.columns]
    noise = np.random.default_rng(3).integers(0, 4, (info.rows, info.columns, 3))
    planes = np.stack([x * 200 // info.columns, y * 200 // info.rows,
                       (x + y) * 100 // (info.rows + info.columns) + 60], -1)
    return (planes + noise).astype(np.uint8)


def test_jpeg_quality_changes_the_size() -> None:
    codec = CODECS["1.2.840.10008.1.2.4.50"]
    info = _info(64, 80, samples=3)
    values = _image(info)
    assert len(codec.encode(values, info, quality=40)) < len(codec.encode(values, info,
                                                                           quality=95))


# -- refusals --------------------------------------------------------------------------------
def test_unknown_syntax_names_itself() -> None:
    with pytest.raises(NotSupportedError, match="MPEG2 .*1.2.840.10008.1.2.4.100"):
        codec_for("1.2.840.10008.1.2.4.100")


@pytest.mark.parametrize("syntax, info, message", [
    ("1.2.840.10008.1.2.4.50", _info(4, 4, bits=16, stored=12), "at most 8-bit"),
    ("1.2.840.10008.1.2.4.51", _info(4, 4, bits=16, stored=16), "at most 12-bit"),
    ("1.2.840.10008.1.2.4.50", _info(4, 4, signed=True), "signed"),
    ("1.2.840.10008.1.2.4.80", _info(4, 4, bits=32), "2 to 16-bit"),
    ("1.2.840.10008.1.2.5", PixelInfo(rows=4, columns=4, bits_allocated=64, bits_stored=64,
                                      high_bit=63, pixel_tag=0x7FE00009), "float"),
])
def test_images_a_syntax_cannot_carry(syntax: str, info: PixelInfo, message: str) -> None:
    with pytest.raises(NotSupportedError, match=message):
        CODECS[syntax].check_encodable(info)


def test_a_lossless_frame_without_huffman_tables_is_refused_not_a_crash() -> None:
    """A fuzzed JPEG Lossless frame (SOF3, 8 x 8, 12 bits) with no DHT segment before its
    scan: liblj92 behind imagecodecs.ljpeg_decode crashed the process on it (a segfault the
    part10 fuzz target found); it is not given to that library, and the frame is refused."""
    frame = bytes.fromhex(
        "ffd8ffe000104a46494600010100000100010000ffc3000b0c00080008010111110000000000000001"
        "0000000000000000000000000004030bffda0008010100010000c801ad6b5ad6ddad6b5ad6ddad6b5a"
        "d6ddad6b5ad6ddad6b5ad6ddad6b5ad6ddad6b5ad6ddad6b5ad6ff00ffd9")
    info = _info(8, 8, bits=16, stored=12, syntax="1.2.840.10008.1.2.4.70")
    with pytest.raises(InvalidDicomError, match="no Huffman table"):
        codec_for("1.2.840.10008.1.2.4.70").decode_with_photometric(frame, info)
