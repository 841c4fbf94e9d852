"""dicomkit.iod.validate: one finding per broken rule, with its path, tag and section."""

from __future__ import annotations

from pathlib import Path

import pytest

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.core.element import Sequence
from dicomkit.core.uid import registered
from dicomkit.core.vr_rules import value_problems, vm_allows
from dicomkit.iod import conditions
from dicomkit.iod.validate import Finding, module_section, validate
from tests.support.datasets import make_instance


def valid_ct() -> Dataset:
    """make_instance plus the three Type 2/2C attributes it leaves out (dciodvfy agrees)."""
    ds = make_instance()
    ds.PatientPosition = "HFS"
    ds.PositionReferenceIndicator = ""
    ds.AcquisitionNumber = 1
    return ds


def errors(ds: Dataset) -> dict[str, Finding]:
    return {f.path: f for f in validate(ds) if f.severity == "error"}


def test_a_complete_ct_image_has_no_error():
    assert errors(valid_ct()) == {}


def test_type_1_absent_is_an_error_with_module_and_section():
    ds = valid_ct()
    del ds.StudyInstanceUID
    found = errors(ds)["StudyInstanceUID"]
    assert (found.tag, found.module, found.section) == ("0020000D", "GeneralStudy",
                                                         "PS3.3 Table C.7-3")
    assert "Type 1" in found.message


def test_type_2_present_empty_is_fine_but_type_1_empty_is_not():
    ds = valid_ct()
    ds.PatientName = ""
    ds.SeriesInstanceUID = ""
    found = errors(ds)
    assert "PatientName" not in found
    assert "empty" in found["SeriesInstanceUID"].message


def test_type_2c_with_a_holding_condition():
    """PS3.3 C.7.3.1: Patient Position is required (2C) for CT and MR."""
    ds = valid_ct()
    del ds.PatientPosition
    assert "SOPClassIsCTOrMR" in errors(ds)["PatientPosition"].message


def test_enumerated_value_is_an_error_and_defined_term_a_warning():
    ds = valid_ct()
    ds.PatientSex = "X"  # C.7.1.1: enumerated M, F, O
    ds.ConversionType = "ZZZ"  # not in CT, so only the VR rule (upper case letters) applies
    found = validate(ds)
    sex = [f for f in found if f.path == "PatientSex"]
    assert sex and sex[0].severity == "error" and "enumerated" in sex[0].message
    ds = valid_ct()
    ds.RescaleType = "NOTATERM"  # C.11.1 defined terms: may be extended
    found = [f for f in validate(ds) if f.path == "RescaleType"]
    assert found and all(f.severity == "warning" for f in found)


@pytest.mark.parametrize(("vr", "text", "problem"), [
    ("DA", "1997.04.24", "not a date"),
    ("DA", "20230230", "day 30"),
    ("TM", "14:04:38", "not a time"),
    ("TM", "250000", "hour 25"),
    ("DT", "20240101120000.1234567", "not a date-time"),
    ("AS", "45Y", "age string"),
    ("CS", "lower", "not allowed in CS"),
    ("DS", "1,5", "decimal string"),
    ("IS", "3000000000", "IS range"),
    ("UI", "1.2.03", "leading zero"),
    ("UI", "9.8.7.6", "root component"),
    ("UI", "0.0.0", "zero components"),
    ("SH", "x" * 17, "longer than 16"),
    ("LO", "a\nb", "not allowed in LO"),
])
def test_value_rules_of_ps3_5_table_6_2_1(vr, text, problem):
    assert any(problem in p for p in value_problems(vr, text)), value_problems(vr, text)


@pytest.mark.parametrize(("vr", "text"), [
    ("DA", "20240229"), ("TM", "0815"), ("TM", "081500.123456"), ("DT", "2024"),
    ("DT", "20240101120000.5+0100"), ("AS", "045Y"), ("CS", "ORIGINAL_1 X"),
    ("DS", " -1.5e3 "), ("IS", "+12"), ("UI", "1.2.840.10008.1.2"), ("LT", "a\r\nb\tc"),
])
def test_valid_values_pass(vr, text):
    assert value_problems(vr, text) == []


@pytest.mark.parametrize(("vm", "count", "ok"), [
    ("1", 1, True), ("1", 2, False), ("1-3", 3, True), ("1-3", 4, False), ("1-n", 9, True),
    ("2-2n", 4, True), ("2-2n", 3, False), ("3-3n", 6, True), ("6", 5, False),
])
def test_value_multiplicity_notation_of_ps3_6(vm, count, ok):
    assert vm_allows(vm, count) is ok


def test_vm_against_the_dictionary():
    ds = valid_ct()
    ds.set("PixelSpacing", [0.5], "DS")  # PS3.6 VM 2
    found = [f for f in validate(ds) if f.path == "PixelSpacing"]
    assert found and "VM" in found[0].message and found[0].section == "PS3.6 §6"


def test_sequence_paths_name_the_item():
    ds = valid_ct()
    item = Dataset()
    item.ReferencedSOPClassUID = registered("CTImageStorage")
    ds.ReferencedImageSequence = Sequence([item])
    found = errors(ds)
    assert "ReferencedImageSequence[0].ReferencedSOPInstanceUID" in found
    assert found["ReferencedImageSequence[0].ReferencedSOPInstanceUID"].tag == "00081155"


def test_code_sequence_against_the_context_group_the_table_names():
    """dicom3tools gives Anatomic Region Modifier Sequence baseline CID 2: a code outside it
    is a warning (a baseline group may be extended, PS3.16 §5)."""
    from dicomkit.iod.modules import module_rules

    region = {r.keyword: r for r in module_rules("GeneralAnatomyOptionalMacro")}
    modifier = {r.keyword: r for r in region["AnatomicRegionSequence"].items}
    assert modifier["AnatomicRegionModifierSequence"].cid == "B:2"
    ds = valid_ct()
    code = Dataset()
    code.CodeValue = "NOT-A-CODE"
    code.CodingSchemeDesignator = "SCT"
    code.CodeMeaning = "nonsense"
    region_item = Dataset()
    region_item.CodeValue = "818981001"
    region_item.CodingSchemeDesignator = "SCT"
    region_item.CodeMeaning = "Abdomen"
    region_item.AnatomicRegionModifierSequence = Sequence([code])
    ds.AnatomicRegionSequence = Sequence([region_item])
    found = [f for f in validate(ds) if "CID 2" in f.message]
    assert [f.path for f in found] == [
        "AnatomicRegionSequence[0].AnatomicRegionModifierSequence[0].CodeValue"]
    assert found[0].severity == "warning"


def test_file_meta_information_of_ps3_10(tmp_path: Path):
    ds = valid_ct()
    path = tmp_path / "ct.dcm"
    dicomkit.write(ds, path)
    read = dicomkit.read(path)
    assert errors(read) == {}
    read.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    found = errors(read)["MediaStorageSOPInstanceUID"]
    assert found.section == "PS3.10 §7.1" and "differs" in found.message


def test_an_unknown_sop_class_and_a_missing_one():
    ds = valid_ct()
    ds.SOPClassUID = "1.2.3.4"
    assert "no composite IOD" in errors(ds)["SOPClassUID"].message
    del ds.SOPClassUID
    assert "absent" in errors(ds)["SOPClassUID"].message


def test_per_frame_functional_groups_count_frames():
    ds = valid_ct()
    ds.SOPClassUID = registered("EnhancedCTImageStorage")
    ds.NumberOfFrames = 2
    ds.PerFrameFunctionalGroupsSequence = Sequence([Dataset()])
    found = errors(ds)["PerFrameFunctionalGroupsSequence"]
    assert found.section == "PS3.3 C.7.6.16" and "2" in found.message


def test_dataset_validate_and_dicomkit_validate_are_the_same_door():
    ds = valid_ct()
    ds.PatientSex = "X"
    assert ds.validate() == dicomkit.validate(ds) == validate(ds)


def test_every_named_condition_is_read():
    """All 1,418 of dicom3tools' conditions load; a data set with nothing evaluates each to a
    boolean or None (an unknown test), never an exception."""
    empty = Dataset()
    results = {name: conditions.holds(name, empty, empty) for name in conditions.expressions()}
    assert len(results) > 1400
    assert sum(r is not None for r in results.values()) > 1300


def test_module_sections_come_from_the_standard_tables():
    assert module_section("GeneralStudy") == "PS3.3 Table C.7-3"
    assert module_section("SOPCommon") == "PS3.3 Table C.12-1"
    assert module_section("NoSuchModule") == "PS3.3 Annex C"
