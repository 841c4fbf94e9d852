"""PS3.19 Annex A.1: the Native DICOM Model (dicomkit.encoding.xml)."""

from __future__ import annotations

import base64
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from dicomkit import DataElement, Dataset, PersonName, Tag
from dicomkit.encoding import fragments
from dicomkit.encoding.json import BulkDataElement, to_json_dict
from dicomkit.encoding.reader import read, read_dataset
from dicomkit.encoding.writer import dataset_to_bytes
from dicomkit.encoding.xml import NAMESPACE, from_xml, to_xml
from tests.support.encoding import pydicom_sample_files, values_equal

# PS3.18 F.2.1.1.1 prints the Native DICOM Model as
#   <?xml version="1.0" encoding="UTF-8" xml:space="preserve" ?>
# which is not a well-formed XML declaration (it admits only version, encoding, standalone);
# PS3.19 Table A.1.5-1 puts xml:space="preserve" on NativeDicomModel, as here.
PS3_18_F2_1_1_1_EXAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<NativeDicomModel xml:space="preserve">
  <DicomAttribute tag="0020000D" vr="UI" keyword="StudyInstanceUID">
    <Value number="1">1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873</Value>
  </DicomAttribute>
</NativeDicomModel>
"""

# PS3.18 Table F.3.1-1: two PN values, the first with all three groups of five components.
PN_EXAMPLE = """<NativeDicomModel xml:space="preserve">
<DicomAttribute tag="00100010" vr="PN" keyword="PatientName">
 <PersonName number="1">
  <Alphabetic><FamilyName>SB1</FamilyName><GivenName>SB2</GivenName><MiddleName>SB3</MiddleName>
   <NamePrefix>SB4</NamePrefix><NameSuffix>SB5</NameSuffix></Alphabetic>
  <Ideographic><FamilyName>ID1</FamilyName><GivenName>ID2</GivenName><MiddleName>ID3</MiddleName>
   <NamePrefix>ID4</NamePrefix><NameSuffix>ID5</NameSuffix></Ideographic>
  <Phonetic><FamilyName>PH1</FamilyName><GivenName>PH2</GivenName><MiddleName>PH3</MiddleName>
   <NamePrefix>PH4</NamePrefix><NameSuffix>PH5</NameSuffix></Phonetic>
 </PersonName>
 <PersonName number="2"><Alphabetic><FamilyName>SB6</FamilyName></Alphabetic></PersonName>
</DicomAttribute>
</NativeDicomModel>"""


def _attributes(xml_text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml_text)
    return {a.get("tag") or "": a for a in root.findall("DicomAttribute")}


# -- the standard's examples --------------------------------------------------------------------
def test_ps3_18_f2_1_1_1_example() -> None:
    ds = from_xml(PS3_18_F2_1_1_1_EXAMPLE)
    assert ds.StudyInstanceUID == "1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873"
    out = to_xml(ds)
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    assert ET.fromstring(out).find("DicomAttribute/Value").text == ds.StudyInstanceUID  # type: ignore[union-attr]
    assert from_xml(out.encode()) == ds


def test_ps3_18_f3_1_person_name_example() -> None:
    ds = from_xml(PN_EXAMPLE)
    first, second = ds.PatientName
    assert first == "SB1^SB2^SB3^SB4^SB5=ID1^ID2^ID3^ID4^ID5=PH1^PH2^PH3^PH4^PH5"
    assert isinstance(first, PersonName) and second == "SB6"
    # The same element in JSON, as Table F.3.1-1 maps it.
    assert to_json_dict(ds)["00100010"]["Value"] == [
        {"Alphabetic": "SB1^SB2^SB3^SB4^SB5", "Ideographic": "ID1^ID2^ID3^ID4^ID5",
         "Phonetic": "PH1^PH2^PH3^PH4^PH5"},
        {"Alphabetic": "SB6"},
    ]
    assert from_xml(to_xml(ds)) == ds


def test_ps3_19_table_a_1_5_2_value_examples() -> None:
    # "0.5\\0.4" is two Values; "MPG\\\\XR3" has an empty second Value; zero length: none.
    raw = (b"\x28\x00\x30\x00DS\x08\x000.5\\0.4 " + b"\x08\x00\x08\x00CS\x08\x00MPG\\\\XR3"
           + b"\x08\x00\x50\x00SH\x00\x00")
    xml_text = to_xml(read_dataset(raw))
    attrs = _attributes(xml_text)
    ds_values = attrs["00280030"].findall("Value")
    assert [(v.get("number"), v.text) for v in ds_values] == [("1", "0.5"), ("2", "0.4")]
    cs_values = attrs["00080008"].findall("Value")
    assert [(v.get("number"), v.text) for v in cs_values] == [("1", "MPG"), ("2", None),
                                                              ("3", "XR3")]
    assert list(attrs["00080050"]) == []
    back = from_xml(xml_text)
    assert back.PixelSpacing == [0.5, 0.4] and back.ImageType == ["MPG", "", "XR3"]
    assert back.AccessionNumber == ""


def test_ps3_19_a_1_7_xpath_example() -> None:
    code = Dataset()
    code.CodeValue = "R-10206"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "medio-lateral"
    ds = Dataset()
    ds.ViewCodeSequence = [code]
    root = ET.fromstring(to_xml(ds))
    found = root.find(
        "./DicomAttribute[@keyword='ViewCodeSequence']/Item[@number='1']"
        "/DicomAttribute[@keyword='CodeMeaning']/Value[@number='1']"
    )
    assert found is not None and found.text == "medio-lateral"


# -- encoding rules -------------------------------------------------------------------------------
def test_document_structure() -> None:
    ds = Dataset()
    ds.set(0x00080000, 4, "UL")
    ds.PatientID = "1"
    ds.set(0x00020010, "1.2.840.10008.1.2.1", "UI")
    root = ET.fromstring(to_xml(ds))
    assert root.tag == "NativeDicomModel"
    assert root.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"
    (attr,) = root  # group length and group 0002 are left out
    assert attr.attrib == {"tag": "00100020", "vr": "LO", "keyword": "PatientID"}


def test_numbers_at_and_text() -> None:
    ds = Dataset()
    ds.set(0x00209165, [0x00209056, 0x7FE00010], "AT")
    ds.set(0x00189219, [1.5, float("nan"), float("-inf")], "FD")
    ds.set(0x00280010, 512, "US")
    ds.set(0x00720082, -(2**62), "SV")
    ds.set(0x00200013, 12, "IS")
    ds.set(0x00081190, "http://x/?a=1&b=<2>", "UR")
    attrs = _attributes(to_xml(ds))
    assert [v.text for v in attrs["00209165"]] == ["00209056", "7FE00010"]
    assert [v.text for v in attrs["00189219"]] == ["1.5", "NaN", "-INF"]
    assert [v.text for v in attrs["00280010"]] == ["512"]
    assert [v.text for v in attrs["00720082"]] == [str(-(2**62))]
    assert [v.text for v in attrs["00081190"]] == ["http://x/?a=1&b=<2>"]
    back = from_xml(to_xml(ds))
    assert back[0x00209165].value == [Tag(0x00209056), Tag(0x7FE00010)]
    fd = back[0x00189219].value
    assert fd[0] == 1.5 and math.isnan(fd[1]) and fd[2] == -math.inf
    del ds[0x00189219], back[0x00189219]
    assert back == ds


def test_ds_keeps_the_text_that_was_read() -> None:
    raw = b"\x28\x00\x30\x00DS\x0c\x00.50\\+2.5E1  "
    text = to_xml(read_dataset(raw))
    assert [v.text for v in _attributes(text)["00280030"]] == [".50", "+2.5E1"]
    back = from_xml(text)
    assert back.PixelSpacing == [0.5, 25.0]
    assert to_xml(back) == text


def test_whitespace_and_line_ends_are_kept() -> None:
    ds = Dataset()
    ds.set(0x00204000, "  two leading spaces\r\nCRLF\rCR\nLF\ttab", "LT")
    ds.set(0x00100020, " x ", "LO")
    back = from_xml(to_xml(ds))
    assert back.ImageComments == ds.ImageComments
    assert back.PatientID == " x "


def test_characters_xml_cannot_carry_are_replaced() -> None:
    ds = Dataset()
    ds.set(0x00204000, "bell\x07 nul\x00 esc\x1b ok", "LT")
    text = to_xml(ds)
    ET.fromstring(text)  # well-formed
    assert from_xml(text).ImageComments == "bell\ufffd nul\ufffd esc\ufffd ok"


def test_person_names() -> None:
    ds = Dataset()
    ds.PatientName = ["Yamada^Tarou=山田^太郎=やまだ^たろう", "", "=Ideo^Only", "^Bob^^Dr."]
    attr = _attributes(to_xml(ds))["00100010"]
    first, empty, ideo, bob = attr.findall("PersonName")
    assert first.find("Ideographic/GivenName").text == "太郎"  # type: ignore[union-attr]
    assert first.find("Phonetic/FamilyName").text == "やまだ"  # type: ignore[union-attr]
    assert list(empty) == [] and empty.get("number") == "2"
    assert [g.tag for g in ideo] == ["Ideographic"]
    assert [c.tag for c in bob.find("Alphabetic")] == ["GivenName", "NamePrefix"]  # type: ignore[union-attr]
    assert from_xml(to_xml(ds)).PatientName == ds.PatientName


def test_extra_person_name_components_are_not_lost() -> None:
    ds = Dataset()
    ds.PatientName = "a^b^c^d^e^f^g"  # more than the five components of PS3.5
    assert from_xml(to_xml(ds)).PatientName == "a^b^c^d^e^f^g"


def test_sequences_and_empty_items() -> None:
    inner = Dataset()
    inner.CodeValue = "1"
    item = Dataset()
    item.set(0x00082228, [inner, Dataset()], "SQ")
    ds = Dataset()
    ds.set(0x00082218, [item], "SQ")
    ds.set(0x00081140, [], "SQ")
    root = ET.fromstring(to_xml(ds))
    seq = root.find("DicomAttribute[@tag='00082218']")
    assert seq is not None
    items = seq.findall("Item/DicomAttribute/Item")
    assert [i.get("number") for i in items] == ["1", "2"] and list(items[1]) == []
    assert list(root.find("DicomAttribute[@tag='00081140']")) == []  # type: ignore[arg-type]
    assert from_xml(to_xml(ds)) == ds


def test_private_elements_use_gggg00ee_and_private_creator() -> None:
    ds = Dataset()
    first = ds.private_block(0x0029, "ACME 1.0", create=True)
    second = ds.private_block(0x0029, "OTHER & <CO>", create=True)
    first.add_new(0x10, "LO", "one")
    second.add_new(0x10, "LO", "two")
    ds.set(0x00291210, "no creator for block 12", "LO")  # not reserved: stays as it is
    attrs = ET.fromstring(to_xml(ds)).findall("DicomAttribute")
    summary = [(a.get("tag"), a.get("privateCreator"), a.findtext("Value")) for a in attrs]
    assert summary == [
        ("00290010", None, "ACME 1.0"),
        ("00290011", None, "OTHER & <CO>"),
        ("00290010", "ACME 1.0", "one"),
        ("00290010", "OTHER & <CO>", "two"),
        ("00291210", None, "no creator for block 12"),
    ]
    assert all(a.get("keyword") is None for a in attrs)
    back = from_xml(to_xml(ds))
    assert back == ds
    assert back[0x00291010].value == "one" and back[0x00291110].value == "two"
    assert back[0x00291210].value == "no creator for block 12"


def test_private_elements_are_placed_by_creator_whatever_the_order() -> None:
    text = """<NativeDicomModel>
      <DicomAttribute tag="00090002" vr="SH" privateCreator="ACME"><Value number="1">x</Value>
      </DicomAttribute>
      <DicomAttribute tag="00090012" vr="LO"><Value number="1">ACME</Value></DicomAttribute>
      <DicomAttribute tag="00111003" vr="SH" privateCreator="NEW"><Value number="1">y</Value>
      </DicomAttribute>
      <DicomAttribute tag="00091203" vr="SH" privateCreator="ACME"><Value number="1">z</Value>
      </DicomAttribute>
    </NativeDicomModel>"""
    ds = from_xml(text)
    assert ds[0x00091202].value == "x"  # block 12 is ACME's
    assert ds[0x00091203].value == "z"  # written with its block byte already
    assert ds[0x00110010].value == "NEW" and ds[0x00111003].value == "y"  # block reserved


def test_binary_values_and_encapsulated_pixel_data() -> None:
    ds = Dataset()
    ds.set(0x00281201, b"\x01\x00\x02\x00", "OW")
    ds.set(0x00091010, b"abc", "UN")
    data = fragments.encapsulate([b"frame"])
    ds.set(0x7FE00010, data, "OB")
    ds[0x7FE00010].is_undefined_length = True
    attrs = _attributes(to_xml(ds))
    assert base64.b64decode(attrs["00281201"].findtext("InlineBinary") or "") == b"\x01\x00\x02\x00"
    assert base64.b64decode(attrs["00091010"].findtext("InlineBinary") or "") == b"abc"
    back = from_xml(to_xml(ds))
    assert back == ds and back[0x7FE00010].is_undefined_length


def test_big_endian_binary_is_written_little_endian() -> None:
    ds = Dataset()
    ds.set(0x00281201, b"\x01\x00\x02\x00", "OW")
    big = read_dataset(dataset_to_bytes(ds, "1.2.840.10008.1.2.2"), little=False)
    inline = _attributes(to_xml(big))["00281201"].findtext("InlineBinary") or ""
    assert base64.b64decode(inline) == b"\x01\x00\x02\x00"


def test_bulk_data() -> None:
    item = Dataset()
    item.set(0x00091010, bytes(100), "OB")
    ds = Dataset()
    ds.set(0x00540016, [item], "SQ")
    ds.set(0x7FE00010, bytes(range(256)) * 2, "OW")
    text = to_xml(ds, bulk_data_threshold=64)
    root = ET.fromstring(text)
    uris = [b.get("uri") for b in root.iter("BulkData")]
    assert uris == ["bulkdata/00540016/0/00091010", "bulkdata/7FE00010"]
    kept = from_xml(text)
    assert isinstance(kept[0x7FE00010], BulkDataElement)
    assert kept[0x7FE00010].uri == "bulkdata/7FE00010"
    assert to_xml(kept) == text  # references are written back as they came
    store = {"bulkdata/7FE00010": ds[0x7FE00010].value, "bulkdata/00540016/0/00091010": bytes(100)}
    assert from_xml(text, bulk_data_loader=store.__getitem__) == ds

    calls: list[str] = []

    def uri(path: str, element: DataElement) -> str:
        calls.append(path)
        return f"u:{path}"

    to_xml(ds, bulk_data_threshold=0, bulk_data_uri=uri)
    assert calls == ["00540016/0/00091010", "7FE00010"]


def test_bulk_data_uuid() -> None:
    text = """<NativeDicomModel><DicomAttribute tag="7FE00010" vr="OW">
      <BulkData uuid="7c3e1b3a-8f5e-4c2e-9f00-000000000001"/></DicomAttribute></NativeDicomModel>"""
    assert from_xml(text)[0x7FE00010].uri == "7c3e1b3a-8f5e-4c2e-9f00-000000000001"  # type: ignore[attr-defined]


# -- reading leniency and errors --------------------------------------------------------------------
def test_namespace_missing_vr_and_number_order() -> None:
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
    <NativeDicomModel xmlns="{NAMESPACE}" xml:space="preserve">
      <DicomAttribute tag="00080008" keyword="ImageType">
        <Value number="2">PRIMARY</Value><Value number="1">ORIGINAL</Value>
      </DicomAttribute>
      <DicomAttribute tag="00100010" vr="PN">
        <PersonName number="1"><SingleByte><FamilyName>Old</FamilyName></SingleByte></PersonName>
      </DicomAttribute>
      <DicomAttribute tag="00111001"><Item number="1"/></DicomAttribute>
    </NativeDicomModel>"""
    ds = from_xml(text.encode("utf-8"))
    assert ds[0x00080008].VR == "CS" and ds.ImageType == ["ORIGINAL", "PRIMARY"]
    assert ds.PatientName == "Old"  # PS3.19-2011 called the alphabetic group SingleByte
    assert ds[0x00111001].VR == "SQ" and len(ds[0x00111001].value) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<Other/>", "not NativeDicomModel"),
        ('<NativeDicomModel><DicomAttribute tag="0010" vr="LO"/></NativeDicomModel>',
         "eight hex digits"),
        ('<NativeDicomModel><DicomAttribute tag="00100010" vr="QQ"/></NativeDicomModel>',
         "unknown VR"),
        ('<NativeDicomModel><DicomAttribute tag="7FE00010" vr="OB"><Value number="1">1</Value>'
         "</DicomAttribute></NativeDicomModel>", "InlineBinary or BulkData"),
    ],
)
def test_bad_input_is_reported(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_xml(text)


def test_not_xml_raises_the_documented_value_error() -> None:
    with pytest.raises(ValueError, match="not a well-formed XML document") as info:
        from_xml("<NativeDicomModel>")
    assert not isinstance(info.value, ET.ParseError)


# -- round trips over real files ------------------------------------------------------------------
@pytest.mark.parametrize("path", pydicom_sample_files(), ids=lambda p: p.name)
def test_round_trip_pydicom_test_files(path: Path) -> None:
    ds = read(path)
    text = to_xml(ds)
    back = from_xml(text)
    problems = values_equal(ds, back, pn=_pn_key)
    assert not problems, "\n".join(problems[:20])
    assert to_xml(back) == text


@pytest.mark.parametrize("path", pydicom_sample_files(), ids=lambda p: p.name)
def test_xml_and_json_agree(path: Path) -> None:
    """PS3.18 F.3.1: the two models carry the same content."""
    ds = read(path)
    assert to_json_dict(from_xml(to_xml(ds))) == _without_trailing_pn(to_json_dict(ds))


def _pn_key(value: str) -> str:
    """PN compared without trailing empty components and groups (PS3.5 §6.2.1: the same name),
    which the PS3.19 PersonName structure cannot carry."""
    groups = [group.rstrip("^") for group in str(value).split("=")]
    return "=".join(groups).rstrip("=")


def _without_trailing_pn(model: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, attr in model.items():
        attr = dict(attr)
        if attr["vr"] == "SQ" and "Value" in attr:
            attr["Value"] = [_without_trailing_pn(item) for item in attr["Value"]]
        elif attr["vr"] == "PN" and "Value" in attr:
            values = []
            for value in attr["Value"]:
                groups = {k: v.rstrip("^") for k, v in (value or {}).items() if v.rstrip("^")}
                values.append(groups or None)
            if any(values):
                attr["Value"] = values
            else:  # delimiters only: written like an empty name
                del attr["Value"]
        out[key] = attr
    return out
