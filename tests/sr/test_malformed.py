"""Malformed SR content read or built: SRError naming the content item path and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomkit import read as read_file
from dicomkit import write
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import registered
from dicomkit.sr import Code, ContentItem, SRError, check, document, read
from tests.sr.trees import FINDING, LENGTH, MM, TITLE, basic_text_tree, evidence_instance


def _written(tmp_path: Path) -> Dataset:
    image = evidence_instance()
    return document(basic_text_tree(image), iod="Comprehensive", like=image, evidence=[image])


def _reread(tmp_path: Path, ds: Dataset) -> Path:
    path = tmp_path / "bad.dcm"
    write(ds, path)
    return path


def test_wrong_value_type_for_relationship(tmp_path: Path) -> None:
    ds = _written(tmp_path)
    ds.ContentSequence[2].ContentSequence[0].RelationshipType = "SELECTED FROM"
    with pytest.raises(SRError, match=r"content item 1\.3\.1: CONTAINER SELECTED FROM TEXT"):
        read(_reread(tmp_path, ds))


def test_missing_concept_name(tmp_path: Path) -> None:
    ds = _written(tmp_path)
    del ds.ContentSequence[2].ContentSequence[0].ConceptNameCodeSequence
    with pytest.raises(SRError, match=r"content item 1\.3\.1: a TEXT content item needs a "
                                      "Concept Name"):
        read(_reread(tmp_path, ds))


def test_unknown_value_type(tmp_path: Path) -> None:
    ds = _written(tmp_path)
    ds.ContentSequence[0].ValueType = "BLOB"
    with pytest.raises(SRError, match=r"content item 1\.1: unknown Value Type 'BLOB'"):
        read(_reread(tmp_path, ds))


def test_missing_relationship_type(tmp_path: Path) -> None:
    ds = _written(tmp_path)
    del ds.ContentSequence[1].RelationshipType
    with pytest.raises(SRError, match=r"content item 1\.2: no Relationship Type"):
        read(_reread(tmp_path, ds))


def test_missing_value(tmp_path: Path) -> None:
    ds = _written(tmp_path)
    del ds.ContentSequence[2].ContentSequence[0].TextValue
    with pytest.raises(SRError, match=r"content item 1\.3\.1: a TEXT content item has no "
                                      "TextValue"):
        read(_reread(tmp_path, ds))


def test_undecodable_date(tmp_path: Path) -> None:
    ds = _written(tmp_path)
    ds.ContentSequence[2].ContentSequence[0].ContentSequence[1].Date = "2024-13-45"
    with pytest.raises(SRError, match=r"content item 1\.3\.1\.2: cannot be read"):
        read(_reread(tmp_path, ds))


def _by_reference(tmp_path: Path, identifier: list[int]) -> Path:
    ds = _written(tmp_path)
    text = ds.ContentSequence[2].ContentSequence[0]
    ref = Dataset()
    ref.RelationshipType = "INFERRED FROM"
    ref.ReferencedContentItemIdentifier = identifier
    text.ContentSequence.append(ref)
    return _reread(tmp_path, ds)


def test_reference_to_a_missing_item(tmp_path: Path) -> None:
    with pytest.raises(SRError, match=r"content item 1\.3\.1\.6: Referenced Content Item "
                                      r"Identifier 1\.9\.1 names no content item"):
        read(_by_reference(tmp_path, [1, 9, 1]))


def test_reference_cycle(tmp_path: Path) -> None:
    """1.3.1 INFERRED FROM (by reference) its own parent 1.3: a loop."""
    path = _by_reference(tmp_path, [1, 3])
    with pytest.raises(SRError, match="cycle"):
        read(path)
    root = read(path, validate=False)  # parsed, not checked: the loop is there to see
    assert root.children[2].children[0].children[-1].target is root.children[2]


def test_by_reference_refused_in_basic_text(tmp_path: Path) -> None:
    path = _by_reference(tmp_path, [1, 2])
    ds = read_file(path)
    ds.SOPClassUID = registered("BasicTextSRStorage")
    with pytest.raises(SRError, match=r"1\.3\.1\.6: relationships by-reference are forbidden"):
        read(ds)


def test_not_an_sr(tmp_path: Path) -> None:
    image = evidence_instance("CTImageStorage")
    path = tmp_path / "ct.dcm"
    write(image, path)
    with pytest.raises(SRError, match="not an SR document"):
        read(path)


def test_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "missing.dcm"
    with pytest.raises(SRError, match="cannot be read"):
        read(path)


def test_builders_refuse_bad_values() -> None:
    with pytest.raises(SRError, match="needs Measurement Units"):
        ContentItem.num(LENGTH, 3, None)
    with pytest.raises(SRError, match="not a number"):
        ContentItem.num(LENGTH, "abc", MM)
    with pytest.raises(SRError, match=r"shaped \(n, 2\)"):
        ContentItem.scoord(None, "POINT", [1, 2, 3])
    with pytest.raises(SRError, match="exactly one of"):
        ContentItem.tcoord(None, "POINT")
    with pytest.raises(SRError, match="unknown relationship"):
        ContentItem.container(TITLE).add("HAS FRIENDS", ContentItem.text(FINDING, "x"))


def test_check_names_the_rule() -> None:
    root = ContentItem.container(TITLE)
    num = root.add("CONTAINS", ContentItem.num(LENGTH, 3, MM))
    num.add("INFERRED FROM", ContentItem.scoord(None, "CIRCLE", [[1, 1]]))
    with pytest.raises(SRError, match=r"1\.1\.1: SCOORD CIRCLE has 1 point\(s\), wants 2"):
        check(root, "Comprehensive")
    with pytest.raises(SRError, match=r"1\.1: Value Type NUM is not allowed in Basic Text"):
        check(root, "Basic Text")
    root2 = ContentItem.container(None)
    with pytest.raises(SRError, match=r"content item 1: the root CONTAINER needs a Concept"):
        check(root2)
    text = ContentItem.text(Code("1", "99X", "x"), "a")
    with pytest.raises(SRError, match="the root is a CONTAINER"):
        check(text)


def test_scoord_needs_its_image() -> None:
    root = ContentItem.container(TITLE)
    num = root.add("CONTAINS", ContentItem.num(LENGTH, 3, MM))
    num.add("INFERRED FROM", ContentItem.scoord(None, "POINT", [[1, 1]]))
    with pytest.raises(SRError, match=r"1\.1\.1: a SCOORD has exactly one SELECTED FROM"):
        check(root)


def test_reference_target_outside_the_tree() -> None:
    root = ContentItem.container(TITLE)
    elsewhere = ContentItem.text(FINDING, "x")
    finding = root.add("CONTAINS", ContentItem.text(FINDING, "y"))
    finding.add_reference("INFERRED FROM", elsewhere)
    with pytest.raises(SRError, match=r"1\.1\.1: a by-reference relationship to an item "
                                      "that is not in this tree"):
        check(root)
