"""PS3.5 A.5: deflated data sets, inflated in bounded memory with a limit
(:mod:`dicomkit.encoding.deflate`), by the reader and by ``inflated_size``."""

import mmap
import zlib

import pytest

import dicomkit
from dicomkit.cli.sample import make_ct
from dicomkit.encoding import deflate
from dicomkit.encoding.deflate import (
    DeflateStreamError,
    InflateLimitError,
    Inflater,
    inflate,
    inflate_buffer,
)
from dicomkit.encoding.reader import inflated_size
from dicomkit.errors import DicomError, InvalidDicomError
from tests.support.datasets import pydicom_file

DEFLATED = "DeflatedExplicitVRLittleEndian"


def raw_deflate(data: bytes, level: int = 6) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def zeros_stream(size: int) -> bytes:
    """A raw deflate stream of ``size`` zero bytes, built without holding them all."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = bytes(1 << 20)
    out = [packer.compress(block) for _ in range(size >> 20)]
    out.append(packer.compress(bytes(size & ((1 << 20) - 1))))
    return b"".join(out) + packer.flush()


class Collect:
    def __init__(self) -> None:
        self.pieces: list[int] = []
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.pieces.append(len(data))
        self.data += data


def bomb_file(tmp_path, inflated: int = 4_000_000, pixel_data: bool = False):
    """A small deflated file whose data set inflates to more than ``inflated`` bytes: a long
    run of zeros in a private OB element (before Pixel Data) or in Pixel Data itself."""
    ds = make_ct(16)
    if pixel_data:
        ds.set(0x7FE00010, b"\0" * inflated, "OB")
    else:
        ds.set(0x00090010, "DICOMKIT", "LO")
        ds.set(0x00091010, b"\0" * inflated, "OB")
    path = tmp_path / "bomb.dcm"
    dicomkit.write(ds, path, transfer_syntax=DEFLATED)
    assert path.stat().st_size < inflated // 50
    return path


def test_deflated_file_round_trips(tmp_path):
    ds = make_ct(16)
    path = tmp_path / "d.dcm"
    dicomkit.write(ds, path, transfer_syntax=DEFLATED)
    back = dicomkit.read(path)
    assert back.PatientName == ds.PatientName
    assert back.PixelData == ds.PixelData


def test_the_inflater_writes_at_most_a_chunk_at_a_time():
    stream = zeros_stream(5 * deflate.CHUNK + 123)
    sink = Collect()
    assert inflate(stream, sink) == 5 * deflate.CHUNK + 123
    assert max(sink.pieces) <= deflate.CHUNK
    assert bytes(sink.data) == bytes(5 * deflate.CHUNK + 123)


def test_the_inflater_takes_the_input_in_any_pieces():
    payload = bytes(range(256)) * 4000
    stream = raw_deflate(payload)
    inflater = Inflater(sink := Collect())
    for start in range(0, len(stream), 7):
        inflater.feed(stream[start:start + 7])
    assert inflater.finish() == len(payload)
    assert bytes(sink.data) == payload


def test_past_the_limit_the_error_names_the_limit_and_the_offset():
    stream = zeros_stream(50 << 20)  # about 50 KB of input
    with pytest.raises(InflateLimitError) as caught:
        inflate(stream, None, limit=10 << 20, offset=1000, where="bomb.dcm")
    error = caught.value
    assert isinstance(error, DicomError)
    assert error.limit == 10 << 20
    assert 1000 < error.offset < 1000 + len(stream)  # stopped part-way through the input
    assert "10485760 bytes" in str(error) and "bomb.dcm" in str(error)


def test_exactly_the_limit_is_accepted():
    assert inflate(zeros_stream(3 << 20), limit=3 << 20) == 3 << 20
    with pytest.raises(InflateLimitError):
        inflate(zeros_stream((3 << 20) + 1), limit=3 << 20)


def test_a_truncated_stream_is_refused_not_hung_on():
    stream = raw_deflate(bytes(range(256)) * 400)
    with pytest.raises(DeflateStreamError, match="truncated") as caught:
        inflate(stream[: len(stream) // 2], offset=10)
    assert caught.value.offset == 10 + len(stream) // 2


def test_a_corrupt_stream_is_refused():
    with pytest.raises(DeflateStreamError, match="corrupt"):
        inflate(b"\xff" * 64)


@pytest.mark.parametrize("trailer", [b"x", b"\0\0", b"\0" * 20, b"garbage after the end"])
def test_bytes_after_the_end_are_refused(trailer):
    stream = raw_deflate(b"DICOM" * 100)
    with pytest.raises(DeflateStreamError, match="follow the end") as caught:
        inflate(stream + trailer, offset=132)
    assert caught.value.offset == 132 + len(stream)


def test_one_null_pad_byte_is_allowed():
    """PS3.5 A.5: an odd-length stream gets a single trailing NULL byte."""
    stream = raw_deflate(b"DICOM" * 100)
    assert inflate(stream + b"\0") == 500


def test_a_gzip_style_trailer_with_the_right_size_is_tolerated():
    payload = b"DICOM" * 100
    trailer = zlib.crc32(payload).to_bytes(4, "little") + len(payload).to_bytes(4, "little")
    assert inflate(raw_deflate(payload) + trailer) == 500
    wrong = zlib.crc32(payload).to_bytes(4, "little") + (499).to_bytes(4, "little")
    with pytest.raises(DeflateStreamError):
        inflate(raw_deflate(payload) + wrong)


def test_pydicom_deflated_file_with_its_trailer_reads():
    ds = dicomkit.read(pydicom_file("image_dfl.dcm"))
    assert ds.transfer_syntax.deflated
    assert len(ds.PixelData) == int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel)


def test_a_large_result_is_a_memory_map_of_a_temporary_file():
    small = inflate_buffer(zeros_stream(1000))
    assert isinstance(small, bytes) and small == bytes(1000)
    size = deflate.SPILL_BYTES + 4096
    large = inflate_buffer(zeros_stream(size))
    assert isinstance(large, mmap.mmap)
    assert len(large) == size and large[-4096:] == bytes(4096)


def test_the_reader_refuses_a_bomb_past_max_inflated(tmp_path):
    path = bomb_file(tmp_path)
    with pytest.raises(InflateLimitError, match="1000000 bytes") as caught:
        dicomkit.read(path, max_inflated=1_000_000)
    assert str(path) in str(caught.value)
    assert dicomkit.read(path, max_inflated=5_000_000).PatientName == "Doe^Jane^^Dr."


def test_the_reader_default_limit_is_the_process_default(tmp_path):
    path = bomb_file(tmp_path)
    assert deflate.default_limit() == deflate.DEFAULT_MAX_INFLATED
    deflate.set_default_limit(1_000_000)
    try:
        with pytest.raises(InflateLimitError):
            dicomkit.read(path)
    finally:
        deflate.set_default_limit(deflate.DEFAULT_MAX_INFLATED)
    assert len(dicomkit.read(path)[0x00091010].value) == 4_000_000


def test_a_header_read_inflates_only_up_to_pixel_data(tmp_path):
    """With the bulk in Pixel Data, stop_before_pixels inflates the first bytes only: a
    limit far below the inflated size does not stop it, and the whole read does."""
    path = bomb_file(tmp_path, pixel_data=True)
    header = dicomkit.read(path, stop_before_pixels=True, max_inflated=100_000)
    assert header.PatientName == "Doe^Jane^^Dr." and "PixelData" not in header
    with pytest.raises(InflateLimitError):
        dicomkit.read(path, max_inflated=100_000)


def test_a_header_behind_a_huge_value_is_read_in_bounded_memory(tmp_path):
    path = bomb_file(tmp_path, inflated=deflate.SPILL_BYTES * 2)
    header = dicomkit.read(path, stop_before_pixels=True)
    assert header.PatientName == "Doe^Jane^^Dr."
    assert isinstance(header.buffer, mmap.mmap)  # the inflated data set is on disk


def test_the_reader_refuses_a_truncated_deflated_file(tmp_path):
    path = bomb_file(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 40])
    with pytest.raises(InvalidDicomError, match="truncated"):
        dicomkit.read(cut)


def test_inflated_size_checks_the_whole_stream(tmp_path):
    path = bomb_file(tmp_path)
    size = inflated_size(path)
    assert size is not None and size > 4_000_000
    assert inflated_size(path.read_bytes()) == size
    with pytest.raises(InflateLimitError):
        inflated_size(path, max_inflated=size - 1)
    plain = tmp_path / "plain.dcm"
    dicomkit.write(make_ct(8), plain)
    assert inflated_size(plain) is None


def test_an_odd_deflated_stream_gets_one_trailing_null() -> None:
    """A.5: "If the Deflate algorithm produces an odd number of bytes then a single trailing
    NULL byte shall be added"; the padded data set still reads back."""
    import zlib

    from dicomkit.core.dataset import Dataset
    from dicomkit.encoding.reader import read_dataset
    from dicomkit.encoding.writer import dataset_to_bytes

    padded = 0
    for n in range(1, 30):
        ds = Dataset()
        ds.PatientID = "A" * n
        data = dataset_to_bytes(ds, "1.2.840.10008.1.2.1.99")
        assert len(data) % 2 == 0, n
        raw = dataset_to_bytes(ds, "1.2.840.10008.1.2.1")
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        if len(packer.compress(raw) + packer.flush()) % 2:
            padded += 1
            assert data.endswith(b"\0")
        inflated = zlib.decompressobj(-15).decompress(data)
        assert read_dataset(inflated, little=True, implicit=False).PatientID == "A" * n
    assert padded  # some of these sizes do deflate to an odd length
