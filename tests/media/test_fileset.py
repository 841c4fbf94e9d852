"""The File-set API over a DICOMDIR (PS3.10 §8, PS3.3 F.3-F.5): records, offsets, round trips."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import dicomkit
from dicomkit.core.uid import generate_uid, registered
from dicomkit.media import FileSet, MediaError, create
from dicomkit.media import dicomdir as dd
from dicomkit.media.records import make_record, record_keys
from tests.support.datasets import make_instance, write_instance


def _fileset(tmp_path: Path, count: int = 3) -> tuple[Path, list[str]]:
    root = tmp_path / "cd"
    study, series = generate_uid(), generate_uid()
    uids = []
    for number in range(1, count + 1):
        ds = make_instance(study_uid=study, series_uid=series, number=number,
                           StudyID="S1", SeriesNumber="1", InstanceNumber=str(number))
        write_instance(ds, root / "in")
        uids.append(str(ds.SOPInstanceUID))
    other = make_instance(patient_id="DK-2", patient_name="Roe^Richard", StudyID="S2",
                          SeriesNumber="4", modality="MR")
    write_instance(other, root / "in")
    uids.append(str(other.SOPInstanceUID))
    result = create(root)
    assert not result.skipped
    return root, uids


def _tree(fs: FileSet) -> list[tuple[int, str, str]]:
    rows = []
    for record in fs.walk():
        depth, parent = 0, record.parent
        while parent is not None:
            depth, parent = depth + 1, parent.parent
        rows.append((depth, record.record_type, record.identity))
    return rows


def test_create_builds_patient_study_series_image_records(tmp_path: Path) -> None:
    root, uids = _fileset(tmp_path)
    fs = FileSet.read(root / "DICOMDIR")
    assert [r.record_type for r in fs.records] == ["PATIENT", "PATIENT"]
    first = next(r for r in fs.records if r.identity == "DK-1")
    study = first.children[0]
    assert study.record_type == "STUDY"
    series = study.children[0]
    assert [r.sop_instance_uid for r in series.children] == uids[:3]
    for record in fs.instances():
        assert record.file_id is not None and record.file_id[0] == "DICOM"
        header = fs.verify(record)
        assert str(header.SOPInstanceUID) == record.sop_instance_uid
        assert record.transfer_syntax_uid == registered("ExplicitVRLittleEndian")


def test_files_already_at_file_ids_stay_in_place(tmp_path: Path) -> None:
    root = tmp_path / "usb"
    ds = make_instance(StudyID="1", SeriesNumber="1", InstanceNumber="1")
    (root / "IMAGES").mkdir(parents=True)
    dicomkit.write(ds, root / "IMAGES" / "IM0001")
    result = create(root)
    assert (result.kept, result.moved) == (1, 0)
    record = next(FileSet.read(root).instances())
    assert record.file_id == ("IMAGES", "IM0001")


def test_offsets_point_at_the_item_tags(tmp_path: Path) -> None:
    """PS3.3 F.3.2.2: each offset is the byte position of a record's item tag in the file."""
    root, _ = _fileset(tmp_path)
    data = (root / "DICOMDIR").read_bytes()
    contents = dd.read_dicomdir(data)
    for raw in contents.records:
        assert data[raw.offset:raw.offset + 4] == b"\xfe\xff\x00\xe0"
        for tag in (dd.NEXT, dd.LOWER):
            target = int(raw.dataset[tag].value)
            assert target == 0 or data[target:target + 4] == b"\xfe\xff\x00\xe0"
    first = int(contents.top[dd.FIRST_RECORD].value)
    assert first == contents.records[0].offset


def test_read_write_read_is_stable(tmp_path: Path) -> None:
    root, _ = _fileset(tmp_path)
    fs = FileSet.read(root)
    again = b"".join(fs.encode())
    reread = FileSet.read(root)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "DICOMDIR").write_bytes(again)
    assert _tree(FileSet.read(tmp_path / "copy")) == _tree(reread)
    assert b"".join(FileSet.read(tmp_path / "copy").encode()) == again


def test_private_records_and_private_keys_are_kept(tmp_path: Path) -> None:
    root, _ = _fileset(tmp_path, 1)
    fs = FileSet.read(root)
    private = make_record("PRIVATE", dicomkit.Dataset())
    private.set("PrivateRecordUID", generate_uid(), "UI")
    block = private.private_block(0x0009, "DICOMKIT TEST", create=True)
    block.add_new(0x01, "LO", "kept")
    from dicomkit.media.fileset import Record

    fs.records.append(Record(private))
    fs.records[0].dataset.private_block(0x0011, "ACME", create=True).add_new(0x02, "SH", "x")
    fs.write()
    again = FileSet.read(root)
    assert [r.record_type for r in again.records][-1] == "PRIVATE"
    assert again.records[-1].dataset.private_block(0x0009, "DICOMKIT TEST")[0x01].value == "kept"
    assert again.records[0].dataset.private_block(0x0011, "ACME")[0x02].value == "x"


def test_add_and_remove_instances(tmp_path: Path) -> None:
    root, uids = _fileset(tmp_path)
    fs = FileSet.read(root)
    fs.remove(uids[3])  # the only instance of patient DK-2: its records go too
    assert [r.identity for r in fs.records] == ["DK-1"]  # DK-2's records went with it
    ds = make_instance(patient_id="DK-3", StudyID="9", SeriesNumber="1", InstanceNumber="1")
    path = root / "NEW" / "IM1"
    path.parent.mkdir()
    dicomkit.write(ds, path)
    fs.add_header(dicomkit.read(path, stop_before_pixels=True), ("NEW", "IM1"))
    fs.write()
    again = FileSet.read(root)
    assert [r.identity for r in again.records] == ["DK-1", "DK-3"]
    assert again.find(str(ds.SOPInstanceUID)) is not None
    assert again.find(uids[3]) is None


def test_inactive_records_are_skipped(tmp_path: Path) -> None:
    root, uids = _fileset(tmp_path)
    data = bytearray((root / "DICOMDIR").read_bytes())
    contents = dd.read_dicomdir(bytes(data))
    image = next(r for r in contents.records
                 if str(r.dataset.get(dd.RECORD_TYPE).value) == "IMAGE")
    # (0004,1410) Record In-use Flag is at item offset + 8 + 12 + 8 (value), PS3.3 F.3.2.2.
    struct.pack_into("<H", data, image.offset + 8 + 12 + 8, 0)
    (root / "DICOMDIR").write_bytes(bytes(data))
    fs = FileSet.read(root)
    assert len(list(fs.instances())) == len(uids) - 1


def test_type_1_keys_missing_are_invented_or_refused() -> None:
    ds = make_instance(StudyID=None)
    invented: list[str] = []
    record = make_record("STUDY", ds, invented=invented)
    assert record.StudyID == "UNKNOWN" and invented == ["STUDY StudyID"]
    with pytest.raises(MediaError, match="StudyID"):
        make_record("STUDY", ds, invent=False)


def test_record_keys_follow_ps3_3_f5() -> None:
    keys = {k.keyword: k.type for k in record_keys()["STUDY"]}
    assert keys == {"SpecificCharacterSet": "1C", "StudyDate": "1", "StudyTime": "1",
                    "StudyDescription": "2", "StudyInstanceUID": "1C", "StudyID": "1",
                    "AccessionNumber": "2"}
    assert {k.keyword for k in record_keys()["SERIES"]} >= {"Modality", "SeriesInstanceUID",
                                                           "SeriesNumber"}
    assert "ReferencedSOPInstanceUIDInFile" not in {k.keyword for k in record_keys()["IMAGE"]}


def test_sop_class_record_types_agree_with_pydicom() -> None:
    """The generated SOP Class → record type table against pydicom's FileSet tables (an
    independent reading of PS3.3 F.5)."""
    from pydicom import fileset as pd_fileset

    from dicomkit.media.records import sop_record_types

    ours = sop_record_types()
    theirs = {**pd_fileset._FOUR_LEVEL_SOP_CLASSES, **pd_fileset._SINGLE_LEVEL_SOP_CLASSES}
    compared = 0
    for uid, record_type in theirs.items():
        if str(uid) in ours:
            assert ours[str(uid)] == record_type, uid
            compared += 1
    assert compared > 60
    assert ours[registered("CTImageStorage")] == "IMAGE"
    assert ours[registered("EncapsulatedPDFStorage")] == "ENCAP DOC"


@pytest.mark.parametrize("record_type", sorted(record_keys()))
def test_every_record_type_encodes_or_names_its_missing_sequence(record_type: str) -> None:
    """A record made from an empty data set: Type 1 values invented, Type 2 empty, a Type 1
    code sequence (which cannot be invented) named in a MissingKey."""
    from dicomkit.encoding.writer import dataset_to_bytes
    from dicomkit.media.records import MissingKey

    try:
        record = make_record(record_type, dicomkit.Dataset())
    except MissingKey as exc:
        assert "Sequence" in str(exc)
        return
    assert dataset_to_bytes(record)
