"""The fast C-FIND identifier encoder (services/identifiers.py) writes exactly the bytes of the
general route (DICOM JSON -> Dataset -> dataset_to_bytes), or declines: Query/Retrieve
responses and Modality Worklist responses (sequences, every character set)."""

from __future__ import annotations

from typing import Any

import pytest

from dicomkit.archive.matching import compile_query
from dicomkit.core.dataset import Dataset
from dicomkit.core.dictionary import keyword_for_tag
from dicomkit.encoding import transfer_syntax as ts_mod
from dicomkit.encoding.writer import dataset_to_bytes
from dicomkit.services.identifiers import attributes_bytes, identifier_bytes, location_attributes
from dicomkit.services.qr import response_identifier
from dicomkit.services.worklist import response_attributes, response_keys, response_payload
from dicomkit.services.worklist import response_identifier as worklist_response

SYNTAXES = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]
KEYS = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
        "AccessionNumber", "StudyID", "StudyDescription", "ReferringPhysicianName",
        "ModalitiesInStudy", "StudyInstanceUID", "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances", "SpecificCharacterSet"]


def _identifier(keys: list[str]) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in keys:
        setattr(ds, keyword, None)
    return ds


def _tags(ds: Dataset) -> list[int]:
    return [t for t in ds.tags() if t != 0x00080052]


ATTRS: list[dict[str, Any]] = [
    {  # typical, with odd lengths to pad
        "00080005": {"vr": "CS", "Value": ["ISO_IR 100"]},
        "00080020": {"vr": "DA", "Value": ["20240305"]},
        "00080030": {"vr": "TM", "Value": ["0815"]},
        "00080050": {"vr": "SH", "Value": ["ACC123"]},
        "00080061": {"vr": "CS", "Value": ["CT", "PT"]},
        "00080090": {"vr": "PN", "Value": [{"Alphabetic": "Curie^Marie"}]},
        "00081030": {"vr": "LO", "Value": ["CT chest"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "SMITH^JOHN^Q"}]},
        "00100020": {"vr": "LO", "Value": ["P-0001"]},
        "00100030": {"vr": "DA", "Value": ["19700101"]},
        "00100040": {"vr": "CS", "Value": ["M"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.840.113619.2.55.3.1"]},
        "00200010": {"vr": "SH", "Value": ["7"]},
        "00201206": {"vr": "IS", "Value": [3]},
        "00201208": {"vr": "IS", "Value": [125]},
    },
    {  # empty values, missing keys, no charset
        "00080020": {"vr": "DA"},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": ""}]},
        "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
        "00201206": {"vr": "IS", "Value": [0]},
    },
    {  # multiple values and a null inside
        "00080061": {"vr": "CS", "Value": ["MR", None, "SR"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "A^B"}, {"Alphabetic": "C^D"}]},
        "0020000D": {"vr": "UI", "Value": ["1.2.34"]},
    },
]

DECLINED: list[dict[str, Any]] = [
    {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou",
                                         "Ideographic": "山田^太郎"}]}},
    {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller^Jörg"}]}},
    {"00081030": {"vr": "LO", "Value": ["Thorax – Übersicht"]}},
    {"00101030": {"vr": "DS", "Value": [72.5]}},
    {"00081032": {"vr": "SQ", "Value": [{"00101030": {"vr": "DS", "Value": [72.5]}}]}},
    {"00081032": {"vr": "SQ", "Value": [{"7FE00010": {"vr": "OB", "InlineBinary": "AA=="}}]}},
]


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("attrs", ATTRS)
def test_fast_identifier_equals_the_general_route(syntax: str, attrs: dict[str, Any]) -> None:
    identifier = _identifier(KEYS)
    tags = _tags(identifier)
    ts = ts_mod.for_uid(syntax)
    expected = dataset_to_bytes(response_identifier(identifier, tags, attrs, "STUDY"), ts)
    assert identifier_bytes(identifier, tags, attrs, "STUDY", ts) == expected


@pytest.mark.parametrize("attrs", DECLINED)
def test_what_the_fast_route_cannot_write_goes_the_general_way(attrs: dict[str, Any]) -> None:
    extra = [keyword_for_tag(int(key, 16)) for key in attrs]
    identifier = _identifier(KEYS + [k for k in extra if k not in KEYS])
    ts = ts_mod.for_uid("1.2.840.10008.1.2.1")
    assert identifier_bytes(identifier, _tags(identifier), attrs, "STUDY", ts) is None
    # ... and the same keys with plain ASCII values are written fast
    assert identifier_bytes(identifier, _tags(identifier), {}, "STUDY", ts) is not None or \
        any(identifier[t].VR == "DS" for t in _tags(identifier))


SEQUENCES: list[dict[str, Any]] = [
    {"00081032": {"vr": "SQ", "Value": [{}]}},
    {"00081032": {"vr": "SQ", "Value": []}},
    {"00081032": {"vr": "SQ"}},
    {"00081032": {"vr": "SQ", "Value": [
        {"00080100": {"vr": "SH", "Value": ["71045"]},
         "00080102": {"vr": "SH", "Value": ["SRT"]},
         "00080104": {"vr": "LO", "Value": ["Chest X-ray"]}},
        {"00080100": {"vr": "SH", "Value": ["R-1"]},
         "00080102": {"vr": "SH"},
         "00081100": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2.3"]}}]}}]}},
]


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("attrs", SEQUENCES)
def test_sequences_are_written_alike_by_both_routes(syntax: str, attrs: dict[str, Any]) -> None:
    """PS3.5 §7.5.2: sequences and items of undefined length, items in tag order."""
    identifier = _identifier(KEYS + ["ProcedureCodeSequence"])
    tags = _tags(identifier)
    ts = ts_mod.for_uid(syntax)
    expected = dataset_to_bytes(response_identifier(identifier, tags, attrs, "STUDY"), ts)
    fast = identifier_bytes(identifier, tags, attrs, "STUDY", ts)
    assert fast is not None and fast == expected


# -- Modality Worklist responses (services/worklist.py): any character set ---------------------
def _step(station: Any = "CT1", **extra: Any) -> dict[str, Any]:
    step = {"00080060": {"vr": "CS", "Value": ["CT"]},
            "00400001": {"vr": "AE", "Value": station if isinstance(station, list)
                         else [station]},
            "00400002": {"vr": "DA", "Value": ["20261216"]},
            "00400003": {"vr": "TM", "Value": ["0815"]},
            "00400006": {"vr": "PN", "Value": [{"Alphabetic": "Tech^Terry"}]},
            "00400009": {"vr": "SH", "Value": ["S1"]},
            "00400007": {"vr": "LO", "Value": ["CT HEAD"]}}
    step.update(extra)
    return step


def _item(charset: list[Any] | None, name: dict[str, str], step: dict[str, Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "00080050": {"vr": "SH", "Value": ["A1"]},
        "00100010": {"vr": "PN", "Value": [name]},
        "00100020": {"vr": "LO", "Value": ["P1"]},
        "0020000D": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.10.1047.1"]},
        "00401001": {"vr": "SH", "Value": ["RP1"]},
        "00321060": {"vr": "LO", "Value": ["CT HEAD W/O"]},
        "00400100": {"vr": "SQ", "Value": [step if step is not None else _step()]},
    }
    if charset is not None:
        item["00080005"] = {"vr": "CS", "Value": charset}
    item.update(extra)
    return item


WORKLIST_ITEMS: list[dict[str, Any]] = [
    _item(None, {"Alphabetic": "SMITH^JOHN"}),
    _item(["ISO_IR 100"], {"Alphabetic": "Dupont^Chloé"}),
    _item(["ISO_IR 192"], {"Alphabetic": "Nguyễn^Văn"},
          _step(**{"00400006": {"vr": "PN", "Value": [{"Alphabetic": "Γιώργος^Π"}]}})),
    _item([None, "ISO 2022 IR 87"], {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎",
                                     "Phonetic": "やまだ^たろう"},
          _step(**{"00400007": {"vr": "LO", "Value": ["頭部 CT"]}})),
    _item(None, {"Alphabetic": "Müller^Hans"}),  # stored without a set: ISO_IR 192 chosen
    _item(["ISO_IR 100"], {"Alphabetic": "Papadopoulos^Γιώργος"}),  # Latin-1 cannot: 192
    _item(["ISO_IR 100"], {"Alphabetic": "Olsen^Åse", "Ideographic": ""}),
    _item(None, {"Alphabetic": "MULTI^STATION"}, _step(["CT1", "CT2"])),
    _item(None, {"Alphabetic": "EMPTY^STEP"}, {}),
    _item(None, {}, _step(**{"00400008": {"vr": "SQ", "Value": [
        {"00080100": {"vr": "SH", "Value": ["P1"]}, "00080104": {"vr": "LO"}}]}})),
]


def _mwl_identifier(step_keys: list[str] | None) -> Dataset:
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID",
                    "RequestedProcedureID", "RequestedProcedureDescription",
                    "ReferencedStudySequence", "SpecificCharacterSet"):
        ds.set(keyword, None)
    step = Dataset()
    for keyword in step_keys or []:
        step.set(keyword, None)
    ds.ScheduledProcedureStepSequence = [step] if step_keys is not None else []
    return ds


STEP_KEYS = [["Modality", "ScheduledStationAETitle", "ScheduledProcedureStepStartDate",
              "ScheduledProcedureStepStartTime", "ScheduledPerformingPhysicianName",
              "ScheduledProcedureStepID", "ScheduledProcedureStepDescription",
              "ScheduledProtocolCodeSequence", "ScheduledStationName"],
             [], None]


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("item", WORKLIST_ITEMS)
@pytest.mark.parametrize("step_keys", STEP_KEYS)
def test_worklist_responses_are_written_alike_by_both_routes(
        syntax: str, item: dict[str, Any], step_keys: list[str] | None) -> None:
    """The Modality Worklist SCP's fast route (PS3.4 K.6.1.2.2 keys, the response's
    Specific Character Set, PS3.5 §6.1 and ISO 2022 escapes, nested sequences) writes the
    bytes of ``from_json`` + ``dataset_to_bytes``."""
    identifier = _mwl_identifier(step_keys)
    ts = ts_mod.for_uid(syntax)
    general = worklist_response(identifier, item)
    fast = attributes_bytes(response_attributes(identifier, item), ts)
    assert fast is not None
    assert fast == dataset_to_bytes(general, ts)
    payload = response_payload(response_keys(identifier), item, ts)
    assert payload == fast


def test_a_worklist_value_the_fast_route_cannot_write_goes_the_general_way() -> None:
    item = _item(None, {"Alphabetic": "HEAVY^PATIENT"},
                 **{"00101030": {"vr": "DS", "Value": [72.5]}})
    identifier = _mwl_identifier([])
    identifier.PatientWeight = None
    ts = ts_mod.for_uid("1.2.840.10008.1.2.1")
    assert attributes_bytes(response_attributes(identifier, item), ts) is None
    payload = response_payload(identifier, item, ts)
    assert isinstance(payload, Dataset) and payload.PatientWeight == 72.5
    for syntax in ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"):  # big endian, deflate
        assert attributes_bytes(response_attributes(identifier, _item(None, {})),
                                ts_mod.for_uid(syntax)) is None


def test_big_endian_and_deflate_go_the_general_way() -> None:
    identifier = _identifier(KEYS)
    for syntax in ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"):
        assert identifier_bytes(identifier, _tags(identifier), ATTRS[0], "STUDY",
                                ts_mod.for_uid(syntax)) is None


# Keys the archive answers itself (PS3.4 C.4.1.1.3.2): Retrieve AE Title and Instance
# Availability merged into each match, Timezone Offset From UTC as stored (or zero length).
LOCATION_KEYS = ["RetrieveAETitle", "InstanceAvailability", "TimezoneOffsetFromUTC"]


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("attrs", ATTRS)
@pytest.mark.parametrize("timezone", [None, "+0100", "-0530"])
@pytest.mark.parametrize("ae_title", ["ARCHIVE", "PACS1", "A"])
def test_location_keys_are_written_alike_by_both_routes(
        syntax: str, attrs: dict[str, Any], timezone: str | None, ae_title: str) -> None:
    identifier = _identifier(KEYS + LOCATION_KEYS)
    query = compile_query(identifier)
    tags = query.return_tags
    assert {0x00080054, 0x00080056, 0x00080201} <= set(tags)
    match = dict(attrs)
    if timezone is not None:
        match["00080201"] = {"vr": "SH", "Value": [timezone]}
    match.update(location_attributes(tags, ae_title))
    ts = ts_mod.for_uid(syntax)
    general = response_identifier(identifier, tags, match, "STUDY")
    assert general.RetrieveAETitle == ae_title
    assert general.InstanceAvailability == "ONLINE"
    assert (general.TimezoneOffsetFromUTC or None) == timezone
    fast = identifier_bytes(identifier, tags, match, "STUDY", ts)
    assert fast is not None
    assert fast == dataset_to_bytes(general, ts)


def test_location_attributes_only_for_requested_keys() -> None:
    assert location_attributes([0x0020000D], "ARCHIVE") == {}
    assert location_attributes([0x00080056], "ARCHIVE") == {
        "00080056": {"vr": "CS", "Value": ["ONLINE"]}}
    assert location_attributes([0x00080054], " ARCHIVE ") == {
        "00080054": {"vr": "AE", "Value": ["ARCHIVE"]}}
