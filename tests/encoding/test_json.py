"""PS3.18 Annex F: the DICOM JSON Model (dicomkit.encoding.json)."""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from dicomkit import DataElement, Dataset, PersonName, Sequence, Tag
from dicomkit.encoding import fragments
from dicomkit.encoding.json import BulkDataElement, from_json, to_json, to_json_dict
from dicomkit.encoding.reader import read, read_dataset
from dicomkit.encoding.writer import dataset_to_bytes
from dicomkit.errors import NotSupportedError
from tests.support.encoding import pydicom_sample_files, values_equal

# PS3.18 F.4 "DICOM JSON Model Example", result 1, as printed in the standard. Two details of
# the printed text are kept on purpose, to check that reading is lenient about them: the
# "InlineBinary" of (0009,1002) is an array of one string, and StudyDate/PatientBirthDate carry
# vr "DT". The // comments and the line break inside the (0008,1190) string, which make the
# printed text invalid JSON, are removed by _standard_example().
PS3_18_F4_EXAMPLE = r"""
[
    {   // Result 1
        "00080005": { "vr": "CS", "Value": [ "ISO_IR 192" ] },
        "00080020": { "vr": "DT", "Value": [ "20130409" ] },
        "00080030": { "vr": "TM", "Value": [ "131600.0000" ] },
        "00080050": { "vr": "SH", "Value": [ "11235813" ] },
        "00080056": { "vr": "CS", "Value": [ "ONLINE" ] },
        "00080061": { "vr": "CS", "Value": [ "CT", "PET" ] },
        "00080090": { "vr": "PN", "Value": [ { "Alphabetic": "^Bob^^Dr." } ] },
        "00081190": { "vr": "UR", "Value": [ "http://wado.nema.org/studies/
            1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873" ] },
        "00090010": { "vr": "LO", "Value": [ "Vendor A" ] },
        "00091002": { "vr": "UN", "InlineBinary": [ "z0x9c8v7" ] },
        "00100010": { "vr": "PN", "Value": [
            { "Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小東" } ] },
        "00100020": { "vr": "LO", "Value": [ "12345" ] },
        "00100021": { "vr": "LO", "Value": [ "Hospital A" ] },
        "00100030": { "vr": "DT", "Value": [ "19670701" ] },
        "00100040": { "vr": "CS", "Value": [ "M" ] },
        "00101002": { "vr": "SQ", "Value": [
            { "00100020": { "vr": "LO", "Value": [ "54321" ] },
              "00100021": { "vr": "LO", "Value": [ "Hospital B" ] } },
            { "00100020": { "vr": "LO", "Value": [ "24680" ] },
              "00100021": { "vr": "LO", "Value": [ "Hospital C" ] } } ] },
        "0020000D": { "vr": "UI", "Value": [
            "1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873" ] },
        "00200010": { "vr": "SH", "Value": [ "11235813" ] },
        "00201206": { "vr": "IS", "Value": [ 4 ] },
        "00201208": { "vr": "IS", "Value": [ 942 ] }
    }
]
"""


def _standard_example() -> list[dict[str, Any]]:
    text = re.sub(r"(?<=[\s{])//[^\n]*", "", PS3_18_F4_EXAMPLE)
    text = re.sub(r"/\n\s+", "/", text)
    return json.loads(text)


# -- the standard's examples --------------------------------------------------------------------
def test_ps3_18_f4_example_decodes() -> None:
    ds = from_json(_standard_example()[0])
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds[0x00080020].VR == "DT" and ds.StudyDate == "20130409"  # VR as given
    assert ds.StudyTime == "131600.0000"
    assert ds.ModalitiesInStudy == ["CT", "PET"]
    assert ds.ReferringPhysicianName == "^Bob^^Dr."
    assert ds.ReferringPhysicianName.given_name == "Bob"
    assert ds.ReferringPhysicianName.name_prefix == "Dr."
    assert ds.RetrieveURL.endswith("/1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873")
    assert ds[0x00090010].value == "Vendor A"
    assert ds[0x00091002].VR == "UN"
    assert ds[0x00091002].value == base64.b64decode("z0x9c8v7")
    name = ds.PatientName
    assert isinstance(name, PersonName)
    assert name.alphabetic == "Wang^XiaoDong" and name.ideographic == "王^小東"
    assert name.phonetic == ""
    others = ds.OtherPatientIDsSequence
    assert [item.PatientID for item in others] == ["54321", "24680"]
    assert [item.IssuerOfPatientID for item in others] == ["Hospital B", "Hospital C"]
    assert ds.StudyInstanceUID == "1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873"
    assert ds.NumberOfStudyRelatedSeries == 4 and isinstance(ds.NumberOfStudyRelatedSeries, int)
    assert ds.NumberOfStudyRelatedInstances == 942


def test_ps3_18_f4_example_encodes_back() -> None:
    example = _standard_example()[0]
    model = to_json_dict(from_json(example))
    example["00091002"]["InlineBinary"] = "z0x9c8v7"  # a string, as F.2.2 defines it
    assert model == example
    assert list(model) == sorted(model)  # F.2.2: ascending order


def test_ps3_18_f4_example_survives_binary_encoding_in_utf8() -> None:
    ds = from_json(_standard_example()[0])
    raw = dataset_to_bytes(ds, "1.2.840.10008.1.2.1")
    assert "王^小東".encode() in raw  # ISO_IR 192: UTF-8
    back = read_dataset(raw)
    assert back.PatientName == "Wang^XiaoDong=王^小東"
    assert back.OtherPatientIDsSequence[1].IssuerOfPatientID == "Hospital C"


def test_ps3_18_f2_1_multiple_results() -> None:
    text = """[ { "0020000D": { "vr": "UI", "Value": [ "1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873" ] } },
               { "0020000D" : { "vr": "UI", "Value": [ "1.2.392.200036.9116.2.2.2.2162893313.1029997326.945876" ] } } ]"""
    with pytest.raises(ValueError, match="several data sets"):
        from_json(text)
    results = [from_json(obj) for obj in json.loads(text)]
    assert [r.StudyInstanceUID[-6:] for r in results] == ["945873", "945876"]


def test_ps3_18_f3_1_person_name_with_three_groups() -> None:
    # Table F.3.1-1: two PN values, the first with all three groups of five components.
    model = {"00100010": {"vr": "PN", "Value": [
        {"Alphabetic": "SB1^SB2^SB3^SB4^SB5", "Ideographic": "ID1^ID2^ID3^ID4^ID5",
         "Phonetic": "PH1^PH2^PH3^PH4^PH5"},
        {"Alphabetic": "SB6"},
    ]}}
    ds = from_json(model)
    first, second = ds.PatientName
    assert first == "SB1^SB2^SB3^SB4^SB5=ID1^ID2^ID3^ID4^ID5=PH1^PH2^PH3^PH4^PH5"
    assert first.name_suffix == "SB5" and first.phonetic == "PH1^PH2^PH3^PH4^PH5"
    assert second == "SB6"
    assert to_json_dict(ds) == model


def test_ps3_18_f2_5_null_values() -> None:
    model = {
        "00080008": {"vr": "CS", "Value": ["bar", None, "foo"]},
        "00100010": {"vr": "PN"},
        "00101002": {"vr": "SQ", "Value": [{"00100020": {"vr": "LO", "Value": ["1"]}}, {}]},
    }
    ds = from_json(model)
    assert ds.ImageType == ["bar", "", "foo"]
    assert ds.PatientName == ""
    assert len(ds.OtherPatientIDsSequence) == 2 and len(ds.OtherPatientIDsSequence[1]) == 0
    assert to_json_dict(ds) == model


# -- encoding rules -----------------------------------------------------------------------------
def test_empty_elements_have_no_value() -> None:
    ds = Dataset()
    ds.set(0x00080050, "", "SH")
    ds.set(0x00200013, None, "IS")
    ds.set(0x00280010, None, "US")
    ds.set(0x00081111, [], "SQ")
    ds.set(0x00091010, b"", "OB")
    assert to_json_dict(ds) == {
        "00080050": {"vr": "SH"},
        "00081111": {"vr": "SQ"},
        "00091010": {"vr": "OB"},
        "00200013": {"vr": "IS"},
        "00280010": {"vr": "US"},
    }


def test_group_length_and_file_meta_are_left_out() -> None:
    ds = Dataset()
    ds.set(0x00080000, 10, "UL")
    ds.set(0x00020010, "1.2.840.10008.1.2.1", "UI")
    ds.set(0x00100020, "ID", "LO")
    item = Dataset()
    item.set(0x00100000, 4, "UL")
    item.set(0x00100020, "X", "LO")
    ds.set(0x00101002, [item], "SQ")
    model = to_json_dict(ds)
    assert list(model) == ["00100020", "00101002"]
    assert list(model["00101002"]["Value"][0]) == ["00100020"]


def test_numbers() -> None:
    ds = Dataset()
    ds.set(0x00180050, [0.5, 1.25], "DS")
    ds.set(0x00200013, 7, "IS")
    ds.set(0x00280030, ["0.5", "0.25"], "DS")  # strings given for DS are numbers in JSON
    ds.set(0x00280010, 512, "US")
    ds.set(0x00189219, [-1.5, 2.0], "FD")
    ds.set(0x00186020, -3, "SL")
    model = to_json_dict(ds)
    assert model["00180050"]["Value"] == [0.5, 1.25]
    assert model["00200013"]["Value"] == [7]
    assert model["00280030"]["Value"] == [0.5, 0.25]
    assert model["00280010"]["Value"] == [512]
    assert model["00189219"]["Value"] == [-1.5, 2.0]
    assert model["00186020"]["Value"] == [-3]
    back = from_json(to_json(ds))
    assert back.PixelSpacing == [0.5, 0.25]
    assert back.InstanceNumber == 7


def test_ds_and_is_that_are_not_numbers_stay_strings() -> None:
    raw = b"\x18\x00\x50\x00DS\x04\x001.5a\x20\x00\x13\x00IS\x02\x00x1"
    ds = read_dataset(raw)
    model = to_json_dict(ds)
    assert model["00180050"]["Value"] == ["1.5a"]
    assert model["00200013"]["Value"] == ["x1"]
    back = from_json(model)
    assert back.SliceThickness == "1.5a" and back.InstanceNumber == "x1"


def test_ds_from_file_keeps_its_numbers() -> None:
    raw = b"\x28\x00\x30\x00DS\x0c\x00.5\\+2.50E+1 "
    model = to_json_dict(read_dataset(raw))
    assert model["00280030"]["Value"] == [0.5, 25.0]


def test_non_finite_numbers_are_strings() -> None:
    ds = Dataset()
    ds.set(0x00189219, [math.nan, math.inf, -math.inf, 1.0], "FD")
    ds.set(0x00180050, math.inf, "DS")
    text = to_json(ds)

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    model = json.loads(text, parse_constant=refuse)
    assert model["00189219"]["Value"] == ["NaN", "Infinity", "-Infinity", 1.0]
    assert model["00180050"]["Value"] == ["Infinity"]
    back = from_json(text)
    values = back[0x00189219].value
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 1.0]
    assert back.SliceThickness == math.inf


def test_64_bit_integers_beyond_2_53_are_strings() -> None:
    ds = Dataset()
    big = 2**63 - 5
    ds.set(0x00720082, [1, 2**53 - 1, 2**53, -(2**62)], "SV")
    ds.set(0x00720083, big, "UV")
    model = to_json_dict(ds)
    assert model["00720082"]["Value"] == [1, 2**53 - 1, str(2**53), str(-(2**62))]
    assert model["00720083"]["Value"] == [str(big)]
    back = from_json(to_json(ds))
    assert back[0x00720082].value == [1, 2**53 - 1, 2**53, -(2**62)]
    assert back[0x00720083].value == big


def test_attribute_tags() -> None:
    ds = Dataset()
    ds.set(0x00209165, [0x00209056, 0x7FE00010], "AT")
    ds.set(0x00209167, 0x0018A001, "AT")
    model = to_json_dict(ds)
    assert model["00209165"] == {"vr": "AT", "Value": ["00209056", "7FE00010"]}
    assert model["00209167"] == {"vr": "AT", "Value": ["0018A001"]}
    back = from_json(model)
    assert back[0x00209165].value == [Tag(0x00209056), Tag(0x7FE00010)]
    assert back[0x00209167].value == 0x0018A001


def test_dates_and_times_given_as_python_objects() -> None:
    import datetime

    ds = Dataset()
    ds.set(0x00080020, datetime.date(2024, 2, 29), "DA")
    ds.set(0x00080030, datetime.time(13, 5, 7, 250000), "TM")
    model = to_json_dict(ds)
    assert model["00080020"]["Value"] == ["20240229"]
    assert model["00080030"]["Value"] == ["130507.250000"]


def test_multi_valued_numbers_with_empty_values() -> None:
    model = {"00180050": {"vr": "DS", "Value": [1.5, None, 2]},
             "00280010": {"vr": "US", "Value": [1, None]}}
    ds = from_json(model)
    assert ds.SliceThickness == [1.5, None, 2.0]
    assert ds.Rows == 1  # binary numbers have no empty values: the null is dropped
    assert to_json_dict(ds)["00180050"]["Value"] == [1.5, None, 2.0]


def test_inline_binary_is_little_endian() -> None:
    ds = Dataset()
    ds.set(0x00281201, struct.pack("<4H", 1, 2, 0x0102, 0xFFFF), "OW")
    ds.set(0x00660016, struct.pack("<2f", 1.5, -2.0), "OF")
    big = read_dataset(dataset_to_bytes(ds, "1.2.840.10008.1.2.2"), little=False)
    assert big[0x00281201].little is False
    model = to_json_dict(big)
    assert base64.b64decode(model["00281201"]["InlineBinary"]) == struct.pack(
        "<4H", 1, 2, 0x0102, 0xFFFF
    )
    assert base64.b64decode(model["00660016"]["InlineBinary"]) == struct.pack("<2f", 1.5, -2.0)
    assert from_json(model)[0x00281201].value == ds[0x00281201].value


def test_odd_length_binary_is_not_padded() -> None:
    ds = Dataset()
    ds.set(0x00091010, b"abc", "UN")
    assert to_json_dict(ds)["00091010"]["InlineBinary"] == base64.b64encode(b"abc").decode()
    assert from_json(to_json_dict(ds))[0x00091010].value == b"abc"


def test_encapsulated_pixel_data() -> None:
    data = fragments.encapsulate([b"frame-1", b"frame-two"])
    ds = Dataset()
    ds[0x7FE00010] = DataElement(0x7FE00010, "OB", data, is_undefined_length=True)
    model = to_json_dict(ds)
    assert base64.b64decode(model["7FE00010"]["InlineBinary"]) == data
    back = from_json(model)
    element = back[0x7FE00010]
    assert element.is_undefined_length
    assert [bytes(f) for f in fragments.fragments(element)] == [b"frame-1\0", b"frame-two\0"]
    native = Dataset()
    native.set(0x7FE00010, b"\xfe\xff\x00\xe0 not items", "OB")
    assert not from_json(to_json_dict(native))[0x7FE00010].is_undefined_length


def test_private_creators_and_elements_are_kept() -> None:
    ds = Dataset()
    ds.PatientID = "1"
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", "hello")
    block.add_new(0x11, "UN", b"\x01\x02")
    model = to_json_dict(ds)
    assert model["00290010"] == {"vr": "LO", "Value": ["ACME 1.0"]}
    assert model["00291010"] == {"vr": "LO", "Value": ["hello"]}
    assert model["00291011"] == {"vr": "UN", "InlineBinary": "AQI="}
    back = from_json(model)
    assert back.private_block(0x0029, "ACME 1.0")[0x10].value == "hello"


def test_nested_sequences() -> None:
    inner = Dataset()
    inner.CodeValue = "T-D3000"
    inner.CodingSchemeDesignator = "SRT"
    middle = Dataset()
    middle.set(0x00082228, [inner], "SQ")
    middle.set(0x00082230, [Dataset(), inner], "SQ")
    ds = Dataset()
    ds.set(0x00082218, [middle, Dataset()], "SQ")
    model = to_json_dict(ds)
    item = model["00082218"]["Value"][0]
    assert item["00082228"]["Value"][0]["00080100"] == {"vr": "SH", "Value": ["T-D3000"]}
    assert item["00082230"]["Value"][0] == {}
    assert model["00082218"]["Value"][1] == {}
    back = from_json(to_json(ds))
    assert back == ds
    assert back[0x00082218].value[0].parent is back


# -- bulk data ------------------------------------------------------------------------------------
def _bulk_sample() -> Dataset:
    item = Dataset()
    item.set(0x00091010, bytes(range(100)), "OB")
    item.set(0x00091011, b"small", "OB")
    ds = Dataset()
    ds.set(0x00540016, [item], "SQ")
    ds.set(0x7FE00010, bytes(200), "OW")
    return ds


def test_bulk_data_threshold_and_default_uri() -> None:
    ds = _bulk_sample()
    model = to_json_dict(ds, bulk_data_threshold=64)
    assert model["7FE00010"] == {"vr": "OW", "BulkDataURI": "bulkdata/7FE00010"}
    item = model["00540016"]["Value"][0]
    assert item["00091010"] == {"vr": "OB", "BulkDataURI": "bulkdata/00540016/0/00091010"}
    assert item["00091011"] == {"vr": "OB", "InlineBinary": base64.b64encode(b"small").decode()}
    assert "BulkDataURI" not in json.dumps(to_json_dict(ds))  # no threshold: all inline
    assert to_json_dict(ds, bulk_data_threshold=200)["7FE00010"].keys() == {"vr", "InlineBinary"}


def test_bulk_data_uri_callback_and_loader() -> None:
    ds = _bulk_sample()
    seen: dict[str, DataElement] = {}

    def uri(path: str, element: DataElement) -> str:
        seen[path] = element
        return f"https://pacs.example/bulk/{path.replace('/', '.')}"

    text = to_json(ds, bulk_data_threshold=10, bulk_data_uri=uri)
    assert set(seen) == {"00540016/0/00091010", "7FE00010"}
    assert seen["7FE00010"].tag == 0x7FE00010
    store = {uri(p, e): e.value for p, e in seen.items()}
    back = from_json(text, bulk_data_loader=lambda u: store[u])
    assert back == ds


def test_bulk_data_without_loader_keeps_the_uri() -> None:
    model = {"7FE00010": {"vr": "OW", "BulkDataURI": "https://pacs.example/b/1"},
             "00281201": {"vr": "OW", "BulkDataURI": ["https://pacs.example/b/2"]}}
    ds = from_json(model)
    element = ds[0x7FE00010]
    assert isinstance(element, BulkDataElement)
    assert element.uri == "https://pacs.example/b/1" and element.value == b""
    assert ds[0x00281201].uri == "https://pacs.example/b/2"  # type: ignore[attr-defined]
    assert to_json_dict(ds) == {
        "00281201": {"vr": "OW", "BulkDataURI": "https://pacs.example/b/2"},
        "7FE00010": {"vr": "OW", "BulkDataURI": "https://pacs.example/b/1"},
    }
    with pytest.raises(NotSupportedError, match="bulk data reference"):
        dataset_to_bytes(ds, "1.2.840.10008.1.2.1")


def test_bulk_data_for_a_numeric_vr_is_decoded_little_endian() -> None:
    model = {"00283006": {"vr": "US", "BulkDataURI": "lut"}}
    ds = from_json(model, bulk_data_loader=lambda u: struct.pack("<3H", 1, 2, 3))
    assert ds[0x00283006].value == [1, 2, 3]


# -- reading leniency and errors ------------------------------------------------------------------
def test_lenient_reading() -> None:
    model = {
        "0010001f": {"vr": "LO", "Value": ["lower-case tag"]},
        "00100020": {"Value": ["no vr given"]},
        "00100010": {"vr": "PN", "Value": ["Doe^John=ド^ジョン"]},
        "00280010": {"vr": "US", "Value": ["512"]},
        "00180050": {"vr": "DS", "Value": ["2.5"]},
    }
    ds = from_json(json.dumps(model).encode())
    assert ds[0x0010001F].value == "lower-case tag"
    assert ds[0x00100020].VR == "LO" and ds.PatientID == "no vr given"
    assert ds.PatientName.ideographic == "ド^ジョン"
    assert ds.Rows == 512 and ds.SliceThickness == 2.5
    assert ds.tags() == sorted(ds.tags())


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"0010001": {"vr": "LO"}}, "eight hex digits"),
        ({"0010001G": {"vr": "LO"}}, "eight hex digits"),
        ({"00100010": {"vr": "XX"}}, "unknown VR"),
        ({"00100010": "Doe"}, "must be an object"),
        ({"00280010": {"vr": "US", "Value": ["many"]}}, "not an integer"),
        ({"00209165": {"vr": "AT", "Value": ["0020"]}}, "GGGGEEEE"),
        ({"7FE00010": {"vr": "OB", "InlineBinary": "a"}}, "not base64"),
        ({"7FE00010": {"vr": "OB", "Value": [1, 2]}}, "InlineBinary or BulkDataURI"),
    ],
)
def test_bad_input_is_reported(model: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_json(model)


def test_to_json_text() -> None:
    ds = Dataset()
    ds.PatientName = "Müller^Jörg"
    text = to_json(ds, indent=2)
    assert "Müller" in text  # UTF-8 text, not \\u escapes (F.2: UTF-8 repertoire)
    assert text.startswith('{\n  "00100010": {\n    "vr": "PN"')
    assert json.loads(text) == {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jörg"}]}}


def test_values_keep_the_readers_types() -> None:
    model = {"00280010": {"vr": "US", "Value": [512]},
             "00200013": {"vr": "IS", "Value": [3]},
             "00180050": {"vr": "DS", "Value": [3]},
             "00080060": {"vr": "CS", "Value": ["MR"]},
             "00081140": {"vr": "SQ", "Value": [{}]}}
    ds = from_json(model)
    assert type(ds.Rows) is int and type(ds.InstanceNumber) is int
    assert type(ds.SliceThickness) is float
    assert isinstance(ds[0x00081140].value, Sequence)


# -- round trips over real files ----------------------------------------------------------------
@pytest.mark.parametrize("path", pydicom_sample_files(), ids=lambda p: p.name)
def test_round_trip_pydicom_test_files(path: Path) -> None:
    ds = read(path)
    text = to_json(ds)
    back = from_json(text)
    problems = values_equal(ds, back)
    assert not problems, "\n".join(problems[:20])
    assert to_json(back) == text


@pytest.mark.parametrize("path", pydicom_sample_files(), ids=lambda p: p.name)
def test_round_trip_through_binary(path: Path) -> None:
    ds = read(path)
    if ds.transfer_syntax is not None and ds.transfer_syntax.encapsulated:
        ts = ds.transfer_syntax
    else:
        ts = "1.2.840.10008.1.2.1"
    model = to_json_dict(ds)
    again = read_dataset(dataset_to_bytes(from_json(model), ts))
    # PS3.18 F.1: converting to binary DICOM adjusts padding to even length (PS3.5 §7.1)
    assert to_json_dict(again) == _padded(model)


def _padded(model: Any) -> Any:
    if isinstance(model, list):
        return [_padded(item) for item in model]
    if not isinstance(model, dict):
        return model
    out = {key: _padded(value) for key, value in model.items()}
    if isinstance(out.get("InlineBinary"), str):
        data = base64.b64decode(out["InlineBinary"])
        if len(data) % 2:
            out["InlineBinary"] = base64.b64encode(data + b"\0").decode()
    return out
