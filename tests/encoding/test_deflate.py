"""PS3.5 A.5: deflated data sets, including one that inflates far beyond its size."""

import pytest

import dicomkit
from dicomkit.cli.sample import make_ct
from dicomkit.encoding import reader
from dicomkit.errors import InvalidDicomError


def test_deflated_file_round_trips(tmp_path):
    ds = make_ct(16)
    path = tmp_path / "d.dcm"
    dicomkit.write(ds, path, transfer_syntax="DeflatedExplicitVRLittleEndian")
    back = dicomkit.read(path)
    assert back.PatientName == ds.PatientName
    assert back.PixelData == ds.PixelData


def test_a_deflate_bomb_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    ds = make_ct(16)
    ds.set(0x00091010, b"\0" * 4_000_000, "OB")  # compresses to a few KB
    path = tmp_path / "bomb.dcm"
    dicomkit.write(ds, path, transfer_syntax="DeflatedExplicitVRLittleEndian")
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(reader, "MAX_INFLATED", 1_000_000)
    with pytest.raises(InvalidDicomError, match="inflates past"):
        dicomkit.read(path)


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
