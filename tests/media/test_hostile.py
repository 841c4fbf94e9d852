"""Hostile DICOMDIRs: offsets that loop or point nowhere, File IDs that would leave the root,
lengths past the end, damaged bytes. Each is refused with a MediaError (an InvalidDicomError)
naming what and where; nothing hangs, nothing is read outside the root."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import pytest

from dicomkit.core.uid import generate_uid, registered
from dicomkit.errors import DicomError
from dicomkit.media import FileSet, MediaError, create
from dicomkit.media import dicomdir as dd
from tests.support.datasets import make_instance, write_instance


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "cd"
    study, series = generate_uid(), generate_uid()
    for number in (1, 2):
        write_instance(make_instance(study_uid=study, series_uid=series, number=number,
                                     StudyID="1", SeriesNumber="1"), root / "in")
    write_instance(make_instance(patient_id="DK-2", StudyID="2", SeriesNumber="1"), root / "in")
    create(root)
    return root


def _patch(root: Path, offset: int, value: int) -> None:
    data = bytearray((root / "DICOMDIR").read_bytes())
    struct.pack_into("<L", data, offset, value)
    (root / "DICOMDIR").write_bytes(bytes(data))


def _records(root: Path) -> list[dd.RawRecord]:
    return dd.read_dicomdir((root / "DICOMDIR").read_bytes()).records


# A record item: item header (8), then (0004,1400) UL: header 8, value at +16; (0004,1410) US
# at +20; (0004,1420) UL: value at +16 + 4 + 10 + 8 = +38.
NEXT_AT, LOWER_AT = 16, 38


def test_a_loop_of_next_offsets_is_refused(root: Path) -> None:
    records = _records(root)
    last_patient = [r for r in records if r.dataset.get(dd.RECORD_TYPE).value == "PATIENT"][-1]
    _patch(root, last_patient.offset + NEXT_AT, records[0].offset)
    with pytest.raises(MediaError, match="loop"):
        FileSet.read(root)


def test_a_lower_offset_pointing_up_is_a_loop(root: Path) -> None:
    records = _records(root)
    series = next(r for r in records if r.dataset.get(dd.RECORD_TYPE).value == "SERIES")
    image = next(r for r in records if r.dataset.get(dd.RECORD_TYPE).value == "IMAGE")
    _patch(root, image.offset + LOWER_AT, series.offset)
    with pytest.raises(MediaError, match="loop"):
        FileSet.read(root)


@pytest.mark.parametrize("where", ["past the end", "inside a record"])
def test_an_offset_that_is_no_record_is_refused(root: Path, where: str) -> None:
    size = (root / "DICOMDIR").stat().st_size
    records = _records(root)
    target = size + 1000 if where == "past the end" else records[1].offset + 4
    _patch(root, records[0].offset + NEXT_AT, target)
    with pytest.raises(MediaError, match="points at no record"):
        FileSet.read(root)


def _set_file_id(root: Path, components: list[str]) -> None:
    fs = FileSet.read(root)
    record = next(fs.instances())
    record.dataset.set("ReferencedFileID", components, "CS")
    fs.write()


@pytest.mark.parametrize("components", [["..", "..", "ETC", "PASSWD"], ["/etc/passwd"],
                                        ["DICOM", "..", "X"], ["A" * 9], ["A"] * 9, ["C:"],
                                        ["A/B"], ["A", "", "B"]])
def test_file_ids_that_could_leave_the_root_are_refused(root: Path,
                                                        components: list[str]) -> None:
    _set_file_id(root, components)
    with pytest.raises(MediaError, match="Referenced File ID|component"):
        FileSet.read(root)


def test_a_link_out_of_the_root_is_not_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "SECRET").write_bytes(b"x")
    os.symlink(outside, root / "LINK")
    _set_file_id(root, ["LINK", "SECRET"])
    fs = FileSet.read(root)
    record = next(r for r in fs.instances() if r.file_id == ("LINK", "SECRET"))
    with pytest.raises(MediaError, match="outside the File-set root"):
        fs.path(record)


def test_a_file_that_is_not_the_record_s_instance_is_refused(root: Path) -> None:
    fs = FileSet.read(root)
    first, second = list(fs.instances())[:2]
    first_path = fs.path(first)
    first_path.write_bytes(fs.path(second).read_bytes())
    with pytest.raises(MediaError, match="SOP Instance UID"):
        fs.verify(first)
    fs.path(second).unlink()
    with pytest.raises(MediaError, match="missing"):
        fs.verify(second)


def test_an_item_length_past_the_end_is_refused_without_allocating(root: Path) -> None:
    records = _records(root)
    _patch(root, records[1].offset + 4, 0x7FFFFFF0)
    with pytest.raises(MediaError, match="runs past"):
        FileSet.read(root)


def test_big_endian_is_refused(tmp_path: Path) -> None:
    import dicomkit

    ds = dicomkit.Dataset()
    ds.SOPClassUID = registered("MediaStorageDirectoryStorage")
    ds.SOPInstanceUID = generate_uid()
    ds.FileSetID = ""
    ds.set("OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity", 0, "UL")
    path = tmp_path / "DICOMDIR"
    dicomkit.write(ds, path, transfer_syntax="ExplicitVRBigEndian")
    with pytest.raises(MediaError, match="Explicit VR Little Endian"):
        FileSet.read(path)


def test_damaged_dicomdirs_give_dicom_errors_only(root: Path) -> None:
    """Cut at every 97th byte and with random bytes flipped: a DicomError or a File-set,
    never another exception."""
    data = (root / "DICOMDIR").read_bytes()
    rng = random.Random(17)
    cases = [data[:n] for n in range(0, len(data), 97)]
    for _ in range(200):
        flipped = bytearray(data)
        for _ in range(4):
            flipped[rng.randrange(132, len(data))] = rng.randrange(256)
        cases.append(bytes(flipped))
    target = root / "DICOMDIR"
    for case in cases:
        target.write_bytes(case)
        try:
            fs = FileSet.read(root)
            list(fs.walk())
        except DicomError:
            pass
