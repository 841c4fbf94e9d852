"""PS3.15 Table E.1-1 walked row by row: a data set holding every attribute of the (generated)
table, at the top level and inside a sequence item, de-identified with each option combination
that matters; no attribute the table says to remove or replace survives with its original
value, K keeps it, U replaces it by the keyed UID."""

from __future__ import annotations

import io
from typing import Any

import pytest

import dicomkit
from dicomkit.core import dictionary
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import DataElement, Sequence
from dicomkit.deid import Deidentifier, DeidError, Keys, deidentify, table
from dicomkit.deid.profile import choose
from dicomkit.encoding.writer import to_bytes

KEY = "test-secret"
MARK = "SMITHERS"  # in every original text value: the patient's family name
SET_BY_PROFILE = {0x00120062, 0x00120063, 0x00120064, 0x00280303, 0x00280301}
CONTAINER = 0x00089215  # Derivation Code Sequence: not in the table, so kept and walked

COMBINATIONS = [
    (),
    *[(name,) for name in table.OPTIONS if name != "clean-pixel-data"],
    ("retain-safe-private", "retain-uids", "retain-device-identity",
     "retain-institution-identity", "retain-patient-characteristics",
     "retain-longitudinal-full-dates"),
    ("clean-descriptors", "clean-structured-content", "clean-graphics",
     "retain-longitudinal-modified-dates"),
    ("retain-device-identity", "retain-longitudinal-modified-dates"),
    ("retain-uids", "clean-descriptors", "retain-patient-characteristics"),
]


def _value(vr: str, number: int) -> Any:
    texts = {"AE": "SMITHERSAE", "CS": MARK, "SH": MARK, "LO": f"{MARK} LO {number}",
             "LT": f"Seen by {MARK} on 20200115", "ST": f"{MARK} ST", "UT": f"{MARK} UT",
             "UC": f"{MARK} UC", "PN": f"{MARK}^JOHN", "UR": "http://smithers.example/",
             "AS": "042Y", "DA": "20200115", "DT": "20200115101010", "TM": "101010",
             "DS": "7.5", "IS": "7"}
    if vr in texts:
        return texts[vr]
    if vr == "UI":
        return f"1.2.826.0.1.3680043.2.1125.{number}"
    if vr in ("US", "SS", "UL", "SL", "SV", "UV"):
        return 7
    if vr in ("FL", "FD"):
        return 7.5
    if vr == "AT":
        return 0x00100010
    return bytes(range(1, 9))  # OB OW OD OF OL OV UN


def _item(number: int) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.2.1125.9{number}"
    item.PatientName = f"{MARK}^JOHN"
    return item


def _vr(tag: int) -> str | None:
    entry = dictionary.entry(tag)
    if entry is None or not entry.vr:
        return None
    return entry.vr.split(" or ")[0]


def _every_attribute() -> tuple[Dataset, list[int]]:
    """Every concrete tag of the table (groups 0000 and 0002 are not data set content)."""
    ds = Dataset()
    listed = []
    for number, row in enumerate(table.rows()):
        if "x" in row.tag or row.tag == table.PRIVATE:
            continue
        tag = int(row.tag, 16)
        vr = _vr(tag)
        if tag >> 16 in (0x0000, 0x0002) or vr is None or tag in SET_BY_PROFILE:
            continue
        if vr == "SQ":
            ds[tag] = DataElement(tag, "SQ", Sequence([_item(number)]))
        else:
            ds.set(tag, _value(vr, number), vr)
        listed.append(tag)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
    ds.PatientName = f"{MARK}^JOHN"
    ds.PatientID = "PAT-0001"
    return ds, listed


def _with_extras(ds: Dataset) -> Dataset:
    inner = ds.copy()
    ds[CONTAINER] = DataElement(CONTAINER, "SQ", Sequence([inner]))
    safe = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    safe.add_new(0x23, "DS", "1.5")
    safe.add_new(0x10, "LO", f"{MARK} private")
    other = ds.private_block(0x0029, "ACME 1.0", create=True)
    other.add_new(0x01, "LO", f"{MARK} private")
    ds.set(0x50000022, f"{MARK} curve", "LO")
    ds.set(0x50003000, b"\1\2\3\4", "OB")
    ds.set(0x60000010, 4, "US")
    ds.set(0x60000011, 4, "US")
    ds.set(0x60000050, [1, 1], "SS")
    ds.set(0x60000100, 1, "US")
    ds.set(0x60003000, b"\xff\xff", "OW")
    ds.set(0x60004000, f"{MARK} overlay", "LT")
    ds.RecognizableVisualFeatures = "NO"
    return ds


ORIGINAL, LISTED = _every_attribute()
SOURCE = _with_extras(ORIGINAL.copy())


def test_the_walk_covers_nearly_the_whole_table() -> None:
    concrete = [r for r in table.rows() if "x" not in r.tag and r.tag != table.PRIVATE]
    assert len(LISTED) >= len(concrete) - 30  # the rest: groups 0000/0002, newer than 2024d


def _check(ds: Dataset, original: Dataset, options: frozenset[str], where: str) -> None:
    keys = Keys(KEY)
    rows = {int(r.tag, 16): r for r in table.rows() if "x" not in r.tag
            and r.tag != table.PRIVATE}
    for tag in LISTED:
        action = rows[tag].action(options)
        before = original[tag]
        after = ds.get(tag)
        label = f"{where}{dictionary.keyword_for_tag(tag) or hex(tag)} ({action})"
        if action == "K":
            assert after is not None and (before.VR == "SQ" or after == before), label
            continue
        if action == "X":
            assert after is None, label
            continue
        if before.VR == "SQ":
            if after is not None:  # kept and cleaned, or emptied
                for item in after.value:
                    assert item.get("PatientName") != f"{MARK}^JOHN", label
                    if "retain-uids" not in options:
                        assert item.get("ReferencedSOPInstanceUID") != \
                            before.value[0].ReferencedSOPInstanceUID, label
            continue
        if action == "U":
            assert after is not None and after.value == keys.uid(before.value), label
            continue
        if action == "S":
            if before.VR in ("DA", "DT"):
                assert after is not None and after.value != before.value, label
            continue
        if action == "C":
            if before.VR in ("LO", "SH", "ST", "LT", "UT", "UC"):
                assert after is not None and MARK not in str(after.value), label
            continue
        # D, Z and the combined codes: gone, or a value that is not the original
        assert after is None or after.value != before.value or not before.value, label
        if action == "D":
            assert after is not None and after.value not in ("", None, []), label


@pytest.mark.parametrize("options", COMBINATIONS, ids=lambda o: "+".join(o) or "basic")
def test_no_attribute_the_table_removes_or_replaces_survives(options: tuple[str, ...]) -> None:
    out, report = deidentify(SOURCE, options, key=KEY)
    chosen = frozenset(options)
    _check(out, SOURCE, chosen, "")
    inner = out[CONTAINER].value[0]
    _check(inner, SOURCE[CONTAINER].value[0], chosen, "DerivationCodeSequence[0].")
    assert report.changes
    assert all(c.path and len(c.tag) == 8 for c in report.changes)
    assert out.PatientIdentityRemoved == "YES"
    methods = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert methods[0] == "113100" and len(methods) == 1 + len(options)


def test_the_input_is_not_changed() -> None:
    before = io.BytesIO()
    dicomkit.write(SOURCE, before)
    deidentify(SOURCE, ["clean-structured-content"], key=KEY)
    after = io.BytesIO()
    dicomkit.write(SOURCE, after)
    assert before.getvalue() == after.getvalue()


def test_private_attributes_go_unless_safe_and_asked_for() -> None:
    out, _ = deidentify(SOURCE, [], key=KEY)
    assert not [t for t in out.tags() if (t >> 16) & 1]
    out, _ = deidentify(SOURCE, ["retain-safe-private"], key=KEY)
    assert sorted(t for t in out.tags() if (t >> 16) & 1) == [0x00190010, 0x00191023]
    assert out.private_block(0x0019, "GEMS_ACQU_01")[0x23].value in ("1.5", 1.5)


def test_curves_go_and_an_overlay_goes_with_its_data() -> None:
    out, report = deidentify(SOURCE, [], key=KEY)
    assert not [t for t in out.tags() if 0x5000 <= t >> 16 <= 0x601E]
    assert any("group 6000 removed" in n for n in report.notes)


def test_clean_graphics_without_pixel_rules_removes_the_overlay() -> None:
    out, _ = deidentify(SOURCE, ["clean-graphics"], key=KEY)
    assert not [t for t in out.tags() if t >> 16 == 0x6000]


def test_uids_are_replaced_the_same_everywhere() -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ref.ReferencedSOPInstanceUID = "1.2.3.4.5"
    ds.SourceImageSequence = [ref]
    out, _ = deidentify(ds, [], key=KEY)
    assert out.SOPInstanceUID.startswith("2.25.")
    assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == out.SOPInstanceUID
    assert out.SourceImageSequence[0].ReferencedSOPClassUID == ref.ReferencedSOPClassUID


def test_same_key_same_output_other_key_other_pseudonyms() -> None:
    one, _ = deidentify(SOURCE, ["retain-longitudinal-modified-dates"], key=KEY)
    two, _ = deidentify(SOURCE, ["retain-longitudinal-modified-dates"], key=KEY)
    other, _ = deidentify(SOURCE, ["retain-longitudinal-modified-dates"], key="another")
    first, second = io.BytesIO(), io.BytesIO()
    dicomkit.write(one, first)
    dicomkit.write(two, second)
    assert first.getvalue() == second.getvalue()
    assert other.StudyInstanceUID != one.StudyInstanceUID
    assert other.PatientID != one.PatientID
    assert one.PatientID == Keys(KEY).code("patient", "PAT-0001", 16)


def test_modified_dates_shift_every_date_of_a_patient_by_one_offset() -> None:
    out, _ = deidentify(SOURCE, ["retain-longitudinal-modified-dates"], key=KEY)
    days = Keys(KEY).shift_days("PAT-0001")
    assert -3650 <= days <= -1
    import datetime

    expected = (datetime.date(2020, 1, 15) + datetime.timedelta(days)).strftime("%Y%m%d")
    assert out.AcquisitionDate == expected and out.StudyDate == expected
    assert out.AcquisitionDateTime == expected + "101010"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"


def test_the_report_fingerprints_with_the_key_and_never_holds_the_original() -> None:
    out, report = deidentify(SOURCE, [], key=KEY)
    change = next(c for c in report.changes if c.path == "PatientName")
    assert change.action == "Z"
    assert change.before == Keys(KEY).before(SOURCE["PatientName"].value_bytes())
    text = repr([c.as_dict("f.dcm") for c in report.changes])
    assert MARK not in text.replace("Retain", "")


def _image(**attributes: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    for keyword, value in attributes.items():
        ds.set(keyword, value)
    ds.set("PixelData", b"\0\0", "OW")
    return ds


@pytest.mark.parametrize(("attributes", "match"), [
    ({}, "no Body Part Examined"),
    ({"Modality": "CT", "BodyPartExamined": "HEAD"}, "HEAD may include the head"),
    ({"Modality": "MR", "BodyPartExamined": "WHOLEBODY"}, "WHOLEBODY"),
    ({"Modality": "XC", "BodyPartExamined": "HAND"}, "Modality XC"),
    ({"Modality": "IO", "BodyPartExamined": "JAW"}, "Modality IO"),
    ({"Modality": "CT", "BodyPartExamined": "CHEST", "RecognizableVisualFeatures": "YES"},
     "is YES"),
])
def test_clean_visual_features_refuses_what_may_show_a_face(attributes: dict[str, str],
                                                             match: str) -> None:
    with pytest.raises(DeidError, match=f"not supported.*{match}"):
        deidentify(_image(**attributes), ["clean-visual-features"], key=KEY)


@pytest.mark.parametrize(("attributes", "why"), [
    ({"Modality": "CT", "BodyPartExamined": "CHEST"}, "CHEST does not include the head"),
    ({"Modality": "MR", "BodyPartExamined": "knee"}, "KNEE"),
    ({"Modality": "SM"}, "slide"),
    ({"Modality": "CT", "BodyPartExamined": "HEAD", "RecognizableVisualFeatures": "NO"},
     "already NO"),
])
def test_clean_visual_features_passes_what_cannot_show_a_face(attributes: dict[str, str],
                                                               why: str) -> None:
    out, report = deidentify(_image(**attributes), ["clean-visual-features"], key=KEY)
    assert out.RecognizableVisualFeatures == "NO"
    assert any(why in note for note in report.notes)
    assert "113102" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]


def test_clean_visual_features_without_pixel_data_changes_nothing_of_it() -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    out, _ = deidentify(ds, ["clean-visual-features"], key=KEY)
    assert "RecognizableVisualFeatures" not in out


@pytest.mark.parametrize(("action", "kind", "expected"), [
    ("X/Z", "1", "D"), ("X/Z", "2", "Z"), ("X/Z", "3", "X"), ("X/Z", None, "X"),
    ("X/D", "2C", "D"), ("X/D", "3", "X"), ("X/Z/D", "1C", "D"), ("X/Z/D", "2", "Z"),
    ("Z/D", "1", "D"), ("Z/D", "2", "Z"), ("Z/D", None, "Z"), ("X", "1", "X"),
])
def test_a_combined_code_chooses_by_the_attribute_type(action: str, kind: str | None,
                                                        expected: str) -> None:
    assert choose(action, kind) == expected


@pytest.mark.parametrize("options", [(), ("retain-longitudinal-modified-dates",
                                          "clean-descriptors", "retain-safe-private")])
def test_without_recording_the_output_is_the_same_and_the_changes_are_counted(
        options: tuple[str, ...]) -> None:
    """``record=False`` (a batch without ``--report``) only counts: same data set, same number
    of changes, no change listed."""
    recorded, full = Deidentifier(options, KEY)(SOURCE)
    counted, short = Deidentifier(options, KEY, record=False)(SOURCE)
    assert to_bytes(counted) == to_bytes(recorded)
    assert short.changes == [] and short.count == full.count == len(full.changes) > 50
