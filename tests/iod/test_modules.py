"""IOD requirement checks (dicomkit.iod.modules) against dicom3tools dciodvfy's verdict."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import dicomkit
from dicomkit.core.uid import registered
from dicomkit.iod.modules import IODError, check, iod_for, module_rules, require
from tests.support.datasets import pydicom_file
from tests.support.dciodvfy import verify


def _ct(tmp_path: Path, name: str, *remove: str) -> Path:
    ds = dicomkit.read(pydicom_file("CT_small.dcm"))
    for keyword in remove:
        del ds[keyword]
    path = tmp_path / name
    dicomkit.write(ds, path)
    return path


def _missing(verdict_errors: list[str]) -> set[str]:
    return {line.split("Element=<")[1].split(">")[0] for line in verdict_errors
            if "Element=<" in line and "Conditional" not in line}


def test_a_good_ct_has_no_problem_and_dciodvfy_agrees(tmp_path: Path) -> None:
    path = _ct(tmp_path, "good.dcm")
    assert verify(path).errors == []
    assert check(dicomkit.read(path)) == []


def test_a_missing_type_1_is_found_as_dciodvfy_finds_it(tmp_path: Path) -> None:
    path = _ct(tmp_path, "no-uids.dcm", "SOPInstanceUID", "SeriesInstanceUID")
    problems = check(dicomkit.read(path))
    assert {p.path for p in problems} == {"SOPInstanceUID", "SeriesInstanceUID"}
    assert all("Type 1 attribute" in p.message and "absent" in p.message for p in problems)
    assert _missing(verify(path).errors) == {"SOPInstanceUID", "SeriesInstanceUID"}


def test_a_missing_type_2_is_found_as_dciodvfy_finds_it(tmp_path: Path) -> None:
    path = _ct(tmp_path, "no-study-id.dcm", "StudyID", "AccessionNumber")
    problems = check(dicomkit.read(path))
    assert {(p.path, p.module) for p in problems} == {
        ("StudyID", "GeneralStudy"), ("AccessionNumber", "GeneralStudy")}
    assert _missing(verify(path).errors) == {"StudyID", "AccessionNumber"}


def test_an_empty_type_1_and_a_bad_enumerated_value() -> None:
    ds = dicomkit.read(pydicom_file("CT_small.dcm"))
    ds.SOPInstanceUID = ""
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.set("BurnedInAnnotation", "MAYBE", "CS")
    found = {p.path: p.message for p in check(ds)}
    assert "is empty" in found["SOPInstanceUID"]
    assert "'MAYBE' is not one of the enumerated values YES|NO" in found["BurnedInAnnotation"]


def test_sequence_items_are_checked() -> None:
    ds = dicomkit.read(pydicom_file("CT_small.dcm"))
    item = dicomkit.Dataset()
    item.ReferencedSOPClassUID = registered("CTImageStorage")  # no Referenced SOP Instance UID
    ds.SourceImageSequence = [item]
    paths = {p.path for p in check(ds)}
    assert "SourceImageSequence[0].ReferencedSOPInstanceUID" in paths


def test_iods_are_found_by_sop_class_and_by_name() -> None:
    assert iod_for(registered("CTImageStorage")).name == "CTImage"
    assert iod_for(registered("SecondaryCaptureImageStorage")).name == "SCImage"
    assert iod_for(registered("GrayscaleSoftcopyPresentationStateStorage")).name == \
        "GrayscaleSoftcopyPresentationState"
    assert iod_for("SCImage").sop_classes == ("SecondaryCaptureImageStorage",)
    with pytest.raises(IODError, match="no IOD is known for '1.2.3'"):
        iod_for("1.2.3")


def test_modules_expand_their_macros() -> None:
    keywords = {rule.keyword for rule in module_rules("GeneralReference")}
    assert "SourceImageSequence" in keywords
    source = next(r for r in module_rules("GeneralReference")
                  if r.keyword == "SourceImageSequence")
    assert {"ReferencedSOPClassUID", "ReferencedSOPInstanceUID"} <= {
        r.keyword for r in source.items}


def test_require_raises_with_the_problems() -> None:
    ds = dicomkit.read(pydicom_file("CT_small.dcm"))
    del ds.StudyInstanceUID
    with pytest.raises(IODError, match="StudyInstanceUID") as caught:
        require(ds)
    assert [p.path for p in caught.value.problems] == ["StudyInstanceUID"]


def test_no_sop_class_is_a_problem_not_a_crash() -> None:
    assert [p.path for p in check(dicomkit.Dataset())] == ["SOPClassUID"]


def test_checks_are_fast_once_loaded() -> None:
    ds = dicomkit.read(pydicom_file("CT_small.dcm"))
    check(ds)
    start = time.perf_counter()
    for _ in range(20):
        check(ds)
    # not a timing assertion on the suite: a loose bound that catches reloading the tables
    assert (time.perf_counter() - start) / 20 < 0.5


def test_a_simple_condition_is_evaluated_as_dciodvfy_does(tmp_path: Path) -> None:
    # General Series Modality is 1C, "NotSecondaryCaptureSOPClass" (dicom3tools condn.tpl)
    path = _ct(tmp_path, "no-modality.dcm", "Modality")
    problems = check(dicomkit.read(path))
    assert [(p.path, p.module) for p in problems] == [("Modality", "GeneralSeries")]
    assert "condition NotSecondaryCaptureSOPClass holds" in problems[0].message
    assert "Modality" in {line.split("Element=<")[1].split(">")[0]
                          for line in verify(path).errors if "Element=<" in line}


def test_conditions_evaluate_presence_values_and_sop_class() -> None:
    from dicomkit.iod.modules import condition_holds

    ds = dicomkit.read(pydicom_file("CT_small.dcm"))
    assert condition_holds("NotSecondaryCaptureSOPClass", ds, ds) is True
    ds.SOPClassUID = registered("SecondaryCaptureImageStorage")
    assert condition_holds("NotSecondaryCaptureSOPClass", ds, ds) is False
    assert condition_holds("MonochromeNotBitmapPhotometricInterpretation", ds, ds) is True
    ds.BitsStored = 1
    assert condition_holds("MonochromeNotBitmapPhotometricInterpretation", ds, ds) is False
    assert condition_holds("NeedModuleVOILUT", ds, ds) is ("WindowCenter" in ds)
    assert condition_holds("NoSuchCondition", ds, ds) is None
