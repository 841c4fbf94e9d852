"""PS3.5 §7: data sets, sequences and private blocks."""

import copy

import pytest

import dicomkit
from dicomkit import DataElement, Dataset, Sequence


def _sample():
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "123"
    ds.Rows = 512
    item = Dataset()
    item.CodeValue = "T-D3000"
    ds.AnatomicRegionSequence = [item]
    return ds


def test_keyword_tag_and_pair_access_agree():
    ds = _sample()
    assert ds.PatientName == "Doe^Jane"
    assert ds[0x00100010].value == "Doe^Jane"
    assert ds[0x0010, 0x0010].value == "Doe^Jane"
    assert ds["PatientName"].VR == "PN"
    assert "PatientName" in ds and 0x00100010 in ds and "PatientAge" not in ds


def test_iteration_is_in_tag_order_whatever_the_insertion_order():
    ds = Dataset()
    ds.Rows = 1
    ds.PatientID = "1"
    ds.SOPClassUID = "1.2"
    assert [e.tag for e in ds] == [0x00080016, 0x00100020, 0x00280010]


def test_delete_and_missing_attribute():
    ds = _sample()
    del ds.PatientID
    assert "PatientID" not in ds
    with pytest.raises(AttributeError):
        _ = ds.PatientID
    with pytest.raises(KeyError):
        _ = ds[0x00100020]


def test_copy_and_deepcopy_and_equality():
    ds = _sample()
    same = copy.deepcopy(ds)
    assert same == ds
    same.AnatomicRegionSequence[0].CodeValue = "other"
    assert same != ds
    shallow = ds.copy()
    shallow.PatientID = "999"
    assert ds.PatientID == "123"


def test_sequence_items_are_data_sets_with_parent():
    ds = _sample()
    seq = ds.AnatomicRegionSequence
    assert isinstance(seq, Sequence)
    assert seq[0].CodeValue == "T-D3000"
    assert seq[0].parent is ds


def test_private_block_through_its_creator():
    ds = Dataset()
    block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    block.add_new(0x10, "OB", b"\x01\x02")
    assert ds[0x00290010].value == "SIEMENS CSA HEADER"
    assert ds[0x00291010].value == b"\x01\x02"
    again = ds.private_block(0x0029, "SIEMENS CSA HEADER")
    assert again[0x10].value == b"\x01\x02"
    with pytest.raises(KeyError):
        ds.private_block(0x0029, "OTHER")


def test_ambiguous_vr_follows_pixel_representation():
    ds = Dataset()
    ds.PixelRepresentation = 1
    ds.SmallestImagePixelValue = -5
    assert ds["SmallestImagePixelValue"].VR == "SS"


def test_data_element_explicit_construction():
    element = DataElement(0x00100010, "PN", "A^B")
    assert element.keyword == "PatientName" and element.VM == 1


def test_validate_lists_problems():
    ds = Dataset()
    ds.Modality = "TOO_LONG_FOR_A_CS_VALUE"
    assert any("longer than 16" in f.message for f in ds.validate())


def test_written_then_read_gives_the_same_values(tmp_path):
    ds = _sample()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4"
    for syntax in ("ImplicitVRLittleEndian", "ExplicitVRLittleEndian",
                   "DeflatedExplicitVRLittleEndian", "ExplicitVRBigEndian"):
        path = tmp_path / f"{syntax}.dcm"
        dicomkit.write(ds, path, transfer_syntax=syntax)
        back = dicomkit.read(path)
        assert back.PatientName == "Doe^Jane"
        assert back.Rows == 512
        assert back.AnatomicRegionSequence[0].CodeValue == "T-D3000"
        assert back.file_meta.TransferSyntaxUID == dicomkit.uid.uid_for_keyword(syntax)
        assert back.file_meta.MediaStorageSOPInstanceUID == "1.2.3.4"


def test_reading_is_lazy_until_a_value_is_used(tmp_path):
    ds = _sample()
    path = tmp_path / "x.dcm"
    dicomkit.write(ds, path)
    back = dicomkit.read(path)
    assert type(back.raw_entry(0x00100010)) is tuple
    _ = back.PatientName
    assert isinstance(back.raw_entry(0x00100010), DataElement)


def test_tags_subset_and_stop_before_pixels(tmp_path):
    ds = _sample()
    ds.set("PixelData", b"\0" * 16, "OW")
    path = tmp_path / "x.dcm"
    dicomkit.write(ds, path)
    assert "PixelData" not in dicomkit.read(path, stop_before_pixels=True)
    subset = dicomkit.read(path, tags=["PatientID", 0x00280010])
    assert subset.keys() == [0x00100020, 0x00280010]


# -- an item's character sets follow the data set it is attached to (PS3.5 §6.1.2.5.2) ------------
JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"  # PS3.5 Example H.3-1


def _japanese_root() -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.1234.77"
    return ds


def _round_trip_name(ds: Dataset) -> tuple[str, bytes]:
    import io

    from dicomkit import read, write

    buffer = io.BytesIO()
    write(ds, buffer)
    back = read(io.BytesIO(buffer.getvalue()))
    return str(back.OtherPatientIDsSequence[0].PatientName), buffer.getvalue()


@pytest.mark.parametrize("attach", ["assigned", "appended", "inserted", "extended"])
def test_item_named_before_it_is_attached_takes_the_parents_character_set(
        attach: str) -> None:
    """A name set on an item that stood alone (its character sets cached as the default
    repertoire) is encoded in ISO 2022 IR 87 once the item is in a sequence of a data set
    that says so: the cache is reset on attach."""
    ds = _japanese_root()
    item = Dataset()
    item.PatientName = JAPANESE
    assert item.charsets == []
    if attach == "assigned":
        ds.OtherPatientIDsSequence = [item]
    else:
        ds.OtherPatientIDsSequence = []
        sequence = ds.OtherPatientIDsSequence
        {"appended": lambda: sequence.append(item), "inserted": lambda: sequence.insert(0, item),
         "extended": lambda: sequence.extend([item])}[attach]()
    assert item.parent is ds
    assert item.charsets == ["", "ISO 2022 IR 87"]
    name, data = _round_trip_name(ds)
    assert name == JAPANESE
    assert b"\x1b$B" in data  # ESC $ B: JIS X 0208 designated (PS3.5 §6.1.2.5.3)


def test_nested_items_forget_their_character_sets_when_the_root_changes_its_own() -> None:
    ds = Dataset()
    item, inner = Dataset(), Dataset()
    item.OtherPatientIDsSequence = [inner]
    ds.OtherPatientIDsSequence = [item]
    assert inner.charsets == []
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    assert inner.charsets == ["", "ISO 2022 IR 87"]


def test_item_added_to_a_sequence_read_from_a_file_is_written_in_its_character_set() -> None:
    import io

    from dicomkit import read, write

    ds = _japanese_root()
    ds.OtherPatientIDsSequence = []
    buffer = io.BytesIO()
    write(ds, buffer)
    back = read(io.BytesIO(buffer.getvalue()))
    item = Dataset()
    item.PatientName = JAPANESE
    back.OtherPatientIDsSequence.append(item)
    name, data = _round_trip_name(back)
    assert name == JAPANESE and b"\x1b$B" in data
