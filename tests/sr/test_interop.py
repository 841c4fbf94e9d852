"""Independent references read what dicomkit.sr writes, and dicomkit.sr reads what they
write: dicom3tools dciodvfy, DCMTK dsrdump / dsr2html / dsr2xml / xml2dsr, pydicom and
highdicom (test-time references only)."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dicomkit import write
from dicomkit.core.dataset import Dataset
from dicomkit.sr import Code, ContentItem, document, read
from tests.sr.trees import (
    basic_text_tree,
    comprehensive_3d_tree,
    comprehensive_case,
    evidence_instance,
)
from tests.support.dciodvfy import assert_valid

DCMTK = {tool: shutil.which(tool) for tool in ("dsrdump", "dsr2html", "dsr2xml", "xml2dsr")}


def _documents(tmp_path: Path) -> dict[str, tuple[Path, ContentItem]]:
    image = evidence_instance()
    comprehensive, _image, evidence = comprehensive_case()
    trees: dict[str, tuple[ContentItem, list[Dataset]]] = {
        "Basic Text": (basic_text_tree(image), [image]),
        "Enhanced": (basic_text_tree(image), [image]),
        "Comprehensive": (comprehensive, evidence),
        "Comprehensive 3D": (comprehensive_3d_tree(image), [image]),
    }
    made = {}
    for iod, (root, evidence) in trees.items():
        path = tmp_path / f"{iod.replace(' ', '_')}.dcm"
        write(document(root, iod=iod, like=image, evidence=evidence), path)
        made[iod] = (path, root)
    return made


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ContentItem]]:
    return _documents(tmp_path_factory.mktemp("sr"))


IODS = ("Basic Text", "Enhanced", "Comprehensive", "Comprehensive 3D")


@pytest.mark.parametrize("iod", IODS)
def test_dciodvfy_finds_no_error(documents: dict[str, tuple[Path, ContentItem]],
                                 iod: str) -> None:
    assert_valid(documents[iod][0])


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = DCMTK[tool]
    if path is None:
        pytest.skip(f"DCMTK {tool} is not installed")
    return subprocess.run([path, *args], capture_output=True, encoding="utf-8",
                          errors="replace", check=False, timeout=120)


@pytest.mark.parametrize("iod", IODS)
def test_dsrdump_renders_the_same_tree(documents: dict[str, tuple[Path, ContentItem]],
                                       iod: str) -> None:
    path, root = documents[iod]
    result = _run("dsrdump", "-Ee", "-Ec", str(path))
    assert result.returncode == 0, result.stderr
    assert not re.search(r"^[EW]: ", result.stderr, re.M), result.stderr
    lines = [line for line in result.stdout.splitlines() if line.lstrip().startswith("<")]
    assert len(lines) == sum(1 for _ in root.walk())
    for line, (_path, item) in zip(lines, root.walk(), strict=True):
        if item.is_reference:
            assert "<" + item.relationship.lower() in line  # e.g. <inferred from 1.3.1>
            continue
        assert item.value_type in line
        if item.concept_name is not None:
            assert f'"{item.concept_name.meaning}"' in line


@pytest.mark.parametrize("iod", IODS)
def test_dsr2html_renders(documents: dict[str, tuple[Path, ContentItem]], iod: str) -> None:
    result = _run("dsr2html", str(documents[iod][0]))
    assert result.returncode == 0 and "<html" in result.stdout.lower(), result.stderr
    assert not re.search(r"^[EW]: ", result.stderr, re.M), result.stderr


@pytest.mark.parametrize("iod", ("Basic Text", "Comprehensive", "Comprehensive 3D"))
def test_we_read_what_dcmtk_writes(documents: dict[str, tuple[Path, ContentItem]],
                                   tmp_path: Path, iod: str) -> None:
    """dsr2xml, then xml2dsr: DCMTK builds a new SR instance from its own XML."""
    path, root = documents[iod]
    xml = tmp_path / "report.xml"
    rewritten = tmp_path / "dcmtk.dcm"
    result = _run("dsr2xml", "-Ee", "-Ec", str(path), str(xml))
    assert result.returncode == 0, result.stderr
    result = _run("xml2dsr", str(xml), str(rewritten))
    assert result.returncode == 0, result.stderr
    back = read(rewritten)
    assert [(p, i.value_type, i.relationship, i.concept_name) for p, i in back.walk()] == \
        [(p, i.value_type, i.relationship, i.concept_name) for p, i in root.walk()]
    for (_p, ours), (_q, theirs) in zip(root.walk(), back.walk(), strict=True):
        if ours.value_type == "NUM" and ours.value.value is not None:
            assert abs(theirs.value.value - ours.value.value) < Decimal("1e-12")
        elif ours.value_type in ("TEXT", "CODE", "PNAME", "UIDREF", "DATE"):
            assert theirs.value == ours.value
        elif ours.value_type == "TIME":  # xml2dsr drops the fraction of a second
            assert theirs.value == ours.value.replace(microsecond=0)


@pytest.mark.parametrize("iod", IODS)
def test_pydicom_reads(documents: dict[str, tuple[Path, ContentItem]], iod: str) -> None:
    pydicom = pytest.importorskip("pydicom")
    ds = pydicom.dcmread(documents[iod][0])
    ds.decode()
    root = documents[iod][1]
    assert ds.ConceptNameCodeSequence[0].CodeMeaning == root.concept_name.meaning
    assert len(ds.ContentSequence) == len(root.children)


def test_highdicom_reads_our_comprehensive_sr(tmp_path: Path) -> None:
    """highdicom 0.28 reads neither by-reference relationships, a NUM without a value (only a
    qualifier), nor WAVEFORM items: a tree without them."""
    hd = pytest.importorskip("highdicom")
    root, image, evidence = comprehensive_case(by_reference=False)
    del root.children[2].children[1:3]  # the NUM with only a qualifier, the TCOORD finding
    path = tmp_path / "sr.dcm"
    write(document(root, like=image, evidence=evidence), path)
    report = hd.sr.srread(path)
    assert isinstance(report, hd.sr.ComprehensiveSR)
    items = report.ContentSequence
    assert len(items) == len(root.children)
    group = items[2]
    length = group.ContentSequence[0]
    assert length.value_type == hd.sr.ValueTypeValues.NUM
    assert float(length.value) == 12.5
    assert length.unit.value == "mm"


def test_highdicom_reads_our_comprehensive_3d_sr(
        documents: dict[str, tuple[Path, ContentItem]]) -> None:
    hd = pytest.importorskip("highdicom")
    report = hd.sr.srread(documents["Comprehensive 3D"][0])
    assert isinstance(report, hd.sr.Comprehensive3DSR)
    region = report.ContentSequence[0].ContentSequence[0]
    assert np.asarray(region.value).shape == (4, 3)


def test_we_read_a_highdicom_tid_1500(tmp_path: Path) -> None:
    hd = pytest.importorskip("highdicom")
    pydicom = pytest.importorskip("pydicom")
    from pydicom.sr.codedict import codes

    image = pydicom.Dataset()
    for keyword, value in (("Rows", 16), ("Columns", 16), ("SamplesPerPixel", 1),
                           ("PhotometricInterpretation", "MONOCHROME2"), ("BitsAllocated", 16),
                           ("BitsStored", 12), ("HighBit", 11), ("PixelRepresentation", 0),
                           ("FrameOfReferenceUID", pydicom.uid.generate_uid()),
                           ("ImagePositionPatient", [0, 0, 0]),
                           ("ImageOrientationPatient", [1, 0, 0, 0, 1, 0]),
                           ("PixelSpacing", [1, 1]),("PatientName", "Doe^Jane"), ("PatientID", "P-1"),
                           ("PatientBirthDate", "19700101"), ("PatientSex", "F"),
                           ("StudyInstanceUID", pydicom.uid.generate_uid()),
                           ("StudyDate", "20240101"), ("StudyTime", "101010"),
                           ("StudyID", "S1"), ("AccessionNumber", "A1"),
                           ("ReferringPhysicianName", ""),
                           ("SeriesInstanceUID", pydicom.uid.generate_uid()),
                           ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.2"),
                           ("SOPInstanceUID", pydicom.uid.generate_uid()),
                           ("Modality", "CT"), ("SeriesNumber", 1), ("InstanceNumber", 1)):
        setattr(image, keyword, value)
    source = hd.sr.SourceImageForRegion.from_source_image(image)
    region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.CIRCLE,
                               graphic_data=np.array([[10.0, 10.0], [15.0, 10.0]]), source_image=source)
    tracking = hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="lesion 1")
    measurement = hd.sr.Measurement(name=codes.SCT.Diameter, value=10.0,
                                    unit=codes.UCUM.Millimeter)
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking, referenced_region=region, measurements=[measurement])
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name="Smith^John"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[group])
    sr = hd.sr.ComprehensiveSR(evidence=[image], content=report[0], series_number=1,
                               series_instance_uid=hd.UID(), sop_instance_uid=hd.UID(),
                               instance_number=1, manufacturer="test")
    path = tmp_path / "highdicom.dcm"
    sr.save_as(path)
    root = read(path)
    assert root.concept_name.value == "126000" and root.template == "1500"
    diameters = root.find(_code(codes.SCT.Diameter))
    assert len(diameters) == 1
    assert diameters[0].value.value == 10
    assert diameters[0].value.unit.value == "mm"
    circle = [item for _, item in root.walk() if item.value_type == "SCOORD"]
    assert circle[0].value.graphic_type == "CIRCLE"
    assert circle[0].value.points.tolist() == [[10.0, 10.0], [15.0, 10.0]]
    image_item = circle[0].children[0]
    assert image_item.value.sop_instance == image.SOPInstanceUID


def _code(code: Any) -> Code:
    return Code(code.value, code.scheme_designator, code.meaning)
