"""Tree -> SR instance -> file -> tree, for every IOD and value type (PS3.3 A.35, C.17, C.18)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from dicomkit import read as read_file
from dicomkit import write
from dicomkit.core.uid import registered
from dicomkit.sr import ContentItem, NumericValue, SRError, document, read
from tests.sr.trees import (
    basic_text_tree,
    comprehensive_3d_tree,
    comprehensive_case,
    evidence_instance,
)


def _round_trip(tmp_path: Path, root: ContentItem, **kwargs: object) -> ContentItem:
    ds = document(root, **kwargs)  # type: ignore[arg-type]
    path = tmp_path / "sr.dcm"
    write(ds, path)
    return read(path)


def test_basic_text_round_trip(tmp_path: Path) -> None:
    image = evidence_instance()
    root = basic_text_tree(image)
    assert _round_trip(tmp_path, root, iod="Basic Text", like=image, evidence=[image]) == root


def test_enhanced_round_trip(tmp_path: Path) -> None:
    image = evidence_instance()
    root = basic_text_tree(image)
    assert _round_trip(tmp_path, root, iod="Enhanced", like=image, evidence=[image]) == root


def test_comprehensive_round_trip_every_value_type(tmp_path: Path) -> None:
    root, image, evidence = comprehensive_case()
    back = _round_trip(tmp_path, root, like=image, evidence=evidence)
    # The 18-digit value does not fit a DS: it comes back rounded, with the float kept.
    derived = back.children[2].children[-1].value
    assert derived.value == Decimal("1.23456789012346")
    assert derived.float_value == pytest.approx(1.2345678901234568)
    root.children[2].children[-1].value = derived
    assert back == root
    kinds = {item.value_type for _, item in back.walk()}
    assert kinds == {"CONTAINER", "TEXT", "CODE", "NUM", "PNAME", "DATE", "TIME", "DATETIME",
                     "UIDREF", "COMPOSITE", "IMAGE", "WAVEFORM", "SCOORD", "TCOORD"}
    reference = back.children[2].children[1].children[0]
    assert reference.is_reference and reference.target is back.children[2].children[0]


def test_comprehensive_3d_round_trip(tmp_path: Path) -> None:
    image = evidence_instance()
    root = comprehensive_3d_tree(image)
    back = _round_trip(tmp_path, root, iod="Comprehensive 3D", like=image, evidence=[image])
    assert back == root
    assert back.children[0].children[0].value.points.shape == (4, 3)


def test_document_header(tmp_path: Path) -> None:
    image = evidence_instance()
    ds = document(basic_text_tree(image), iod="Basic Text", like=image, evidence=[image])
    assert ds.SOPClassUID == registered("BasicTextSRStorage")
    assert ds.Modality == "SR" and ds.CompletionFlag == "COMPLETE"
    assert ds.PatientName == "Doe^Jane" and ds.StudyInstanceUID == image.StudyInstanceUID
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == image.StudyInstanceUID
    sop = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert sop.ReferencedSOPInstanceUID == image.SOPInstanceUID


def test_document_refuses_reference_without_evidence() -> None:
    image = evidence_instance()
    with pytest.raises(SRError, match=r"1\.3\.1\.1.*not in evidence"):
        document(basic_text_tree(image), iod="Basic Text", like=image)


def test_document_refuses_scoord3d_outside_comprehensive_3d() -> None:
    image = evidence_instance()
    with pytest.raises(SRError, match=r"content item 1\.1\.1: Value Type SCOORD3D"):
        document(comprehensive_3d_tree(image), like=image, evidence=[image])


def test_document_refuses_by_reference_in_enhanced() -> None:
    root, _image, evidence = comprehensive_case()
    with pytest.raises(SRError, match="by-reference are forbidden"):
        document(root, iod="Enhanced", evidence=evidence)


def test_num_qualifier_only(tmp_path: Path) -> None:
    image = evidence_instance()
    root = comprehensive_3d_tree(image)
    root.children[0].value = NumericValue(None, qualifier=root.children[0].value.unit)
    ds = document(root, iod="Comprehensive 3D", like=image, evidence=[image])
    write(ds, tmp_path / "q.dcm")
    item = read_file(tmp_path / "q.dcm").ContentSequence[0]
    assert len(item.MeasuredValueSequence) == 0 and "NumericValueQualifierCodeSequence" in item
