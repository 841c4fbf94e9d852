"""ZIP File Media (PS3.12 Annex V): one File-set, its DICOMDIR at the root, streamed in pieces
of bounded size."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

import dicomkit
from dicomkit.core.uid import generate_uid, registered
from dicomkit.media import FileSet, ZipEntry, iter_zip, write_zip
from tests.support.datasets import make_instance, pydicom_data_dir


def _big_instance(folder: Path) -> Path:
    ds = make_instance(StudyID="1", SeriesNumber="1", InstanceNumber="1")
    ds.Rows, ds.Columns = 1024, 1536
    ds.set("PixelData", np.zeros((1024, 1536), np.uint16).tobytes(), "OW")  # 3 MiB
    path = folder / "big.dcm"
    dicomkit.write(ds, path)
    return path


def test_pieces_stay_small_whatever_the_file_size(tmp_path: Path) -> None:
    path = _big_instance(tmp_path)
    pieces = list(iter_zip([ZipEntry(str(path))]))
    assert max(len(p) for p in pieces) < (1 << 20) + 4096
    data = b"".join(pieces)
    with zipfile.ZipFile(io.BytesIO(data)) as zipped:
        assert sorted(zipped.namelist()) == ["DICOM/ST000001/SE000001/IM000001", "DICOMDIR"]
        assert zipped.read("DICOM/ST000001/SE000001/IM000001") == path.read_bytes()


def test_a_profile_converts_inside_the_zip(tmp_path: Path) -> None:
    source = pydicom_data_dir() / "test_files" / "SC_rgb_jpeg_dcmtk.dcm"
    out = tmp_path / "cd.zip"
    fs = write_zip([ZipEntry(str(source))], out, profile="STD-GEN-CD")
    record = next(fs.instances())
    assert record.transfer_syntax_uid == registered("ExplicitVRLittleEndian")
    with zipfile.ZipFile(out) as zipped:
        zipped.extractall(tmp_path / "x")
    stored = dicomkit.read(tmp_path / "x" / "DICOM" / "ST000001" / "SE000001" / "IM000001")
    assert stored.transfer_syntax.uid == registered("ExplicitVRLittleEndian")
    assert np.array_equal(stored.pixel_array, dicomkit.read(source).pixel_array)


def test_the_same_instance_twice_goes_in_once(tmp_path: Path) -> None:
    ds = make_instance(StudyID="1", SeriesNumber="1", sop_uid=generate_uid())
    first, second = tmp_path / "a.dcm", tmp_path / "b.dcm"
    dicomkit.write(ds, first)
    dicomkit.write(ds, second)
    out = tmp_path / "x.zip"
    write_zip([ZipEntry(str(first)), ZipEntry(str(second))], out, compress=True)
    with zipfile.ZipFile(out) as zipped:
        assert len(zipped.namelist()) == 2
        zipped.extractall(tmp_path / "x")
    assert len(list(FileSet.read(tmp_path / "x").instances())) == 1
