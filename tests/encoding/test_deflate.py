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
