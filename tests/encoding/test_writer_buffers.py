"""Values held in mutable buffers are written as they are, and files are written in runs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dicomkit import read, write
from dicomkit.core.dataset import Dataset
from dicomkit.encoding import writer
from dicomkit.encoding.writer import to_bytes


def instance(value: object, vr: str = "OB") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "2.25.1"
    ds.set("PixelData", value, vr)
    return ds


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2",
                                    "1.2.840.10008.1.2.1.99"])
@pytest.mark.parametrize("size", [6, 7])
def test_bytearray_and_memoryview_values_encode_like_bytes(syntax: str, size: int) -> None:
    data = bytes(range(size))
    expected = to_bytes(instance(data), transfer_syntax=syntax)
    assert to_bytes(instance(bytearray(data)), transfer_syntax=syntax) == expected
    assert to_bytes(instance(memoryview(data)), transfer_syntax=syntax) == expected
    assert read(expected).PixelData[:size] == data


def test_ow_buffer_in_big_endian_is_swapped() -> None:
    data = bytes([1, 2, 3, 4])
    expected = to_bytes(instance(data, "OW"), transfer_syntax="1.2.840.10008.1.2.2")
    assert to_bytes(instance(bytearray(data), "OW"),
                    transfer_syntax="1.2.840.10008.1.2.2") == expected


def test_large_values_and_runs_of_small_ones(tmp_path: Path) -> None:
    """Elements are written in runs of about COALESCE bytes, a large value on its own; the
    file is the same bytes either way."""
    ds = instance(bytearray(b"\x01" * (writer.COALESCE + 3)))
    ds.ImageComments = "x" * 100
    path = tmp_path / "big.dcm"
    write(ds, path)
    stream = io.BytesIO()
    write(ds, stream)
    assert path.read_bytes() == stream.getvalue() == to_bytes(ds)
    assert len(read(path).PixelData) == writer.COALESCE + 4
