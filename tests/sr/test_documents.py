"""Other document forms: Key Object Selection, UTF-8 text, VERIFIED documents; the CLI;
the IOD constraint tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dicomkit import write
from dicomkit.core.uid import registered
from dicomkit.sr import Code, ContentItem, Reference, SRError, document, iods, read, render_html
from tests.sr.trees import FINDING, TITLE, basic_text_tree, evidence_instance
from tests.support.dciodvfy import assert_valid


def test_key_object_selection(tmp_path: Path) -> None:
    image = evidence_instance("CTImageStorage")
    root = ContentItem.container(Code("113000", "DCM", "Of Interest"), template="2010")
    root.add("CONTAINS", ContentItem.text(Code("113012", "DCM", "Key Object Description"),
                                          "the nodule"))
    root.add("CONTAINS", ContentItem.image(None, Reference(image.SOPClassUID,
                                                           image.SOPInstanceUID)))
    ds = document(root, iod="Key Object Selection", like=image, evidence=[image])
    assert ds.Modality == "KO" and "CompletionFlag" not in ds
    assert ds.SOPClassUID == registered("KeyObjectSelectionDocumentStorage")
    path = tmp_path / "ko.dcm"
    write(ds, path)
    assert_valid(path)
    assert read(path) == root
    with pytest.raises(SRError, match="names its evidence"):
        document(ContentItem.container(Code("113000", "DCM", "Of Interest")),
                 iod="Key Object Selection")


def test_utf8_text_declares_its_character_set(tmp_path: Path) -> None:
    image = evidence_instance()
    root = ContentItem.container(TITLE)
    root.add("CONTAINS", ContentItem.text(FINDING, "Läsion, 日本語"))
    ds = document(root, iod="Basic Text", like=image)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    write(ds, tmp_path / "u.dcm")
    assert read(tmp_path / "u.dcm").children[0].value == "Läsion, 日本語"
    assert "SpecificCharacterSet" not in document(basic_text_tree(image), iod="Basic Text",
                                                  like=image, evidence=[image])


def test_verified_document(tmp_path: Path) -> None:
    image = evidence_instance()
    with pytest.raises(SRError, match="verifying observer"):
        document(ContentItem.container(TITLE), verification="VERIFIED")
    ds = document(ContentItem.container(TITLE), like=image, verification="VERIFIED",
                  verifying_observer="Smith^John", verifying_organization="Hospital")
    path = tmp_path / "v.dcm"
    write(ds, path)
    assert_valid(path)
    page = render_html(path)
    assert "Smith^John" in page and "VERIFIED" in page


def test_html_escapes_values(tmp_path: Path) -> None:
    root = ContentItem.container(TITLE)
    root.add("CONTAINS", ContentItem.text(FINDING, "<script>alert(1)</script> & more"))
    page = render_html(root)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp; more" in page


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", "sr", *args],
                          capture_output=True, text=True, check=False, timeout=120)


def test_cli_text_and_html(tmp_path: Path) -> None:
    image = evidence_instance()
    path = tmp_path / "sr.dcm"
    write(document(basic_text_tree(image), iod="Basic Text", like=image, evidence=[image]),
          path)
    result = _cli(str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == '1 CONTAINER "Radiology Report" [SEPARATE]'
    assert lines[4] == '    1.3.1 CONTAINS TEXT "Finding" = "A 12 mm nodule"'
    out = tmp_path / "sr.html"
    result = _cli("--html", str(path), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_refuses_non_sr(tmp_path: Path) -> None:
    path = tmp_path / "ct.dcm"
    write(evidence_instance("CTImageStorage"), path)
    result = _cli(str(path))
    assert result.returncode == 1 and "not an SR document" in result.stderr
    result = _cli(str(tmp_path / "none.dcm"))
    assert result.returncode == 1 and "cannot be read" in result.stderr


@pytest.mark.parametrize(("iod", "source", "relationship", "target", "allowed"), [
    # PS3.3 Table A.35.3-2 rows, one cell each
    ("Comprehensive", "CONTAINER", "CONTAINS", "SCOORD", True),
    ("Comprehensive", "CONTAINER", "HAS OBS CONTEXT", "CONTAINER", True),
    ("Comprehensive", "NUM", "HAS ACQ CONTEXT", "CONTAINER", True),
    ("Comprehensive", "IMAGE", "HAS CONCEPT MOD", "CODE", True),
    ("Comprehensive", "PNAME", "HAS PROPERTIES", "NUM", False),
    ("Comprehensive", "TEXT", "INFERRED FROM", "CONTAINER", True),
    ("Comprehensive", "SCOORD", "SELECTED FROM", "IMAGE", True),
    ("Comprehensive", "SCOORD", "SELECTED FROM", "WAVEFORM", False),
    ("Comprehensive", "TCOORD", "SELECTED FROM", "SCOORD", True),
    ("Comprehensive", "CONTAINER", "CONTAINS", "SCOORD3D", False),
    # A.35.13-2
    ("Comprehensive 3D", "NUM", "INFERRED FROM", "SCOORD3D", True),
    ("Comprehensive 3D", "TCOORD", "SELECTED FROM", "SCOORD3D", True),
    # A.35.2-2: no CONTAINER below TEXT/CODE/NUM
    ("Enhanced", "NUM", "INFERRED FROM", "CONTAINER", False),
    ("Enhanced", "NUM", "INFERRED FROM", "SCOORD", True),
    # A.35.1-2: no NUM at all, TEXT is the only source of INFERRED FROM
    ("Basic Text", "CONTAINER", "CONTAINS", "NUM", False),
    ("Basic Text", "CODE", "INFERRED FROM", "TEXT", False),
    ("Basic Text", "TEXT", "INFERRED FROM", "IMAGE", True),
    # A.35.4-2
    ("Key Object Selection", "CONTAINER", "CONTAINS", "IMAGE", True),
    ("Key Object Selection", "CONTAINER", "CONTAINS", "CODE", False),
    ("Key Object Selection", "CONTAINER", "HAS OBS CONTEXT", "UIDREF", True),
])
def test_relationship_table_cells(iod: str, source: str, relationship: str, target: str,
                                  allowed: bool) -> None:
    assert iods()[iod].allows(source, relationship, target) is allowed


def test_by_reference_rule_per_iod() -> None:
    assert {name for name, spec in iods().items() if spec.by_reference} == {
        "Comprehensive", "Comprehensive 3D", "Extensible"}
