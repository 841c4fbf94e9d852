"""Coded concepts and PS3.16 context groups (dicomkit.iod.codes)."""

from __future__ import annotations

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.iod.codes import Code, CodeError, cid, concept, groups_of


def test_identity_is_value_and_scheme() -> None:
    assert Code("121071", "DCM", "Finding") == Code("121071", "DCM", "another text")
    assert Code("T-D0050", "SRT", "Tissue") != Code("T-D0050", "SCT", "Tissue")
    assert len({Code("1", "99X", "a"), Code("1", "99X", "b")}) == 1


def test_code_sequence_item_round_trip() -> None:
    short = Code("126000", "DCM", "Imaging Measurement Report")
    item = short.to_dataset()
    assert item.CodeValue == "126000" and item.CodingSchemeDesignator == "DCM"
    assert Code.from_dataset(item) == short
    long_code = Code("1234567890123456789", "99LOCAL", "Long", "1.0")
    item = long_code.to_dataset()
    assert "CodeValue" not in item and item.LongCodeValue == "1234567890123456789"
    assert Code.from_dataset(item).scheme_version == "1.0"
    urn = Code("urn:oid:1.2.3", "URN", "A URN")
    assert urn.to_dataset().URNCodeValue == "urn:oid:1.2.3"


def test_bad_codes_are_refused() -> None:
    with pytest.raises(CodeError):
        Code("", "DCM", "x")
    item = Dataset()
    item.CodeMeaning = "no value"
    with pytest.raises(CodeError, match="ConceptNameCodeSequence"):
        Code.from_dataset(item, "ConceptNameCodeSequence item 1")


def test_context_groups_from_ps3_16() -> None:
    types = cid(7151)
    assert types.keyword == "SegmentationPropertyType" and cid("SegmentationPropertyType") is types
    assert len(types) > 500
    categories = cid(7150)
    tissue = Code("85756007", "SCT", "Tissue")
    assert tissue in categories and tissue not in cid(7181)
    assert 7150 in groups_of(tissue)
    assert concept("ImagingMeasurementReport") == Code("126000", "DCM")
    with pytest.raises(KeyError):
        cid(999999)
    with pytest.raises(KeyError):
        concept("NoSuchConceptKeyword")
