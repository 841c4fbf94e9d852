"""The Basic Profile compared on the same input with four independent de-identifiers:
dicom-anonymizer 2.1.0 (Table E.1-1 of 2024b as tag lists; its ``initialize_actions_2024b``),
dicognito 0.19.0 (its own rules), pydicom's deid 0.4.13 (its default recipe, its own
reading of PS3.15: keyword lists and patterns) and GDCM 3.0.21's ``gdcmanon`` (PS3.15 E.1.1
with the encrypted Original Attributes, its attribute list from the 2008 Table E.1-1). Every difference must fall into one of the explained
categories below (docs/deidentification.md, "Compared with other tools"); a new kind of
difference fails the test.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import dicomkit
from dicomkit.deid import deidentify, table
from tests.deid.test_profile import SOURCE
from tests.support.datasets import pydicom_file

pydicom = pytest.importorskip("pydicom")
simple = pytest.importorskip("dicomanonymizer.simpledicomanonymizer")
dicognito_anonymizer = pytest.importorskip("dicognito.anonymizer")
deid_config = pytest.importorskip("deid.config")
deid_dicom = pytest.importorskip("deid.dicom")

PSEUDONYMS = {0x00100010, 0x00100020, 0x00080050, 0x00200010}
NUMBERS = {"DA", "TM", "DT", "DS", "IS", "US", "SS", "UL", "SL", "FL", "FD", "AS"}
# dicom-anonymizer's fixed choice for each combined code (it always keeps the attribute).
THEIR_CHOICE = {"X/Z": "Z", "X/D": "R", "X/Z/D": "R", "Z/D": "R"}


def _inputs(tmp_path: Path) -> list[Path]:
    every = tmp_path / "every.dcm"
    source = copy.copy(SOURCE)
    source.SOPInstanceUID = "1.2.826.0.1.3680043.2.1125.77"
    dicomkit.write(source, every)
    return [pydicom_file(n) for n in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")] + [every]


def _kind(before: Any, after: Any) -> str:
    """X removed, Z emptied, R replaced, K kept, S a sequence still there."""
    if after is None:
        return "X"
    if before.VR == "SQ":
        return "S"
    if before.value == after.value:
        return "K"
    if after.value in ("", None, b"", []):
        return "Z"
    return "R"


def _explain(tag: int, vr: str, action: str | None, ours: str, theirs: str) -> str | None:
    """Why dicomkit and dicom-anonymizer differ on one attribute, or None (unexplained)."""
    if action in THEIR_CHOICE and ours in "XZR" and (
            theirs in (THEIR_CHOICE[action], "K", "S") or (theirs == "R" and vr in NUMBERS)):
        return "combined code: dicomkit chooses by the PS3.3 Type, dicom-anonymizer keeps"
    if action is None and tag >> 24 == 0x60 and ours == "X" and theirs == "K":
        return "an overlay group goes with its Overlay Data (dicom-anonymizer keeps the rest)"
    if action == "X" and vr == "DA" and theirs == "R" and ours == "X":
        return "X of a date: dicom-anonymizer writes 00010101 instead of removing"
    if action in ("Z", "Z/D") and vr in NUMBERS and theirs in ("R", "K") and ours == "Z":
        return "Z of a date, time or number: dicom-anonymizer writes a dummy or 0"
    if action in ("Z", "Z/D") and tag in PSEUDONYMS and ours == "R" and theirs in ("Z", "R"):
        return "Z: dicomkit writes a keyed pseudonym (a dummy is allowed) for patient and study"
    if action in ("D",) and vr in NUMBERS and theirs == "K" and ours == "R":
        return "D of a value equal to dicom-anonymizer's dummy"
    return None


def test_basic_profile_against_dicom_anonymizer(tmp_path: Path) -> None:
    actions = table.actions(frozenset())
    unexplained = []
    seen: dict[str, int] = {}
    for path in _inputs(tmp_path):
        original = pydicom.dcmread(path)
        theirs = copy.deepcopy(original)
        simple.anonymize_dataset(theirs, base_rules_gen=simple.initialize_actions_2024b)
        ours, _ = deidentify(dicomkit.read(path), [], key="k")
        for element in original:
            tag = int(element.tag)
            if element.tag.is_private:
                assert tag not in ours and element.tag not in theirs
                continue
            if element.VR != "SQ" and element.value in ("", None, b""):
                continue  # an empty value identifies no one (dicom-anonymizer fills some in)
            mine = _kind(element, ours.get(tag))
            other = _kind(element, theirs.get(element.tag))
            if mine == other or (mine in "RS" and other in "RS"):
                continue
            action = actions.of(tag)
            why = _explain(tag, element.VR, action, mine, other)
            if why is None:
                unexplained.append(f"{path.name} {element.tag} {element.keyword} {element.VR} "
                                   f"table {action}: dicomkit {mine}, dicom-anonymizer {other}")
            else:
                seen[why] = seen.get(why, 0) + 1
    assert not unexplained, "\n".join(unexplained)
    assert seen, "no difference found: the comparison did not look"


def test_what_dicognito_removes_or_replaces_dicomkit_does_too(tmp_path: Path) -> None:
    """dicognito is not a Table E.1-1 implementation (it keeps many attributes the table removes,
    and keeps every attribute it does not know); where it acts, dicomkit acts as well."""
    unexplained = []
    for path in _inputs(tmp_path):
        original = pydicom.dcmread(path)
        theirs = copy.deepcopy(original)
        dicognito_anonymizer.Anonymizer(seed="k").anonymize(theirs)
        ours, _ = deidentify(dicomkit.read(path), [], key="k")
        for element in original:
            if element.tag.is_private or element.VR == "SQ" or element.value in ("", None):
                continue  # an empty value identifies no one (dicognito fills some in)
            other = _kind(element, theirs.get(element.tag))
            mine = _kind(element, ours.get(int(element.tag)))
            if other != "K" and mine == "K":
                unexplained.append(f"{path.name} {element.tag} {element.keyword}: dicognito "
                                   f"{other}, dicomkit keeps")
    assert not unexplained, "\n".join(unexplained)


def test_uid_references_stay_consistent_like_dicognito(tmp_path: Path) -> None:
    """Both tools map a UID and its references inside sequences to one replacement."""
    ds = dicomkit.read(pydicom_file("rtplan.dcm"))
    ours, _ = deidentify(ds, [], key="k")
    theirs = pydicom.dcmread(pydicom_file("rtplan.dcm"))
    dicognito_anonymizer.Anonymizer(seed="k").anonymize(theirs)
    for item_ours, item_theirs, item_in in zip(
            ours.ReferencedStructureSetSequence, theirs.ReferencedStructureSetSequence,
            ds.ReferencedStructureSetSequence, strict=True):
        assert item_ours.ReferencedSOPInstanceUID != item_in.ReferencedSOPInstanceUID
        assert item_theirs.ReferencedSOPInstanceUID != item_in.ReferencedSOPInstanceUID


def _deid_rules() -> tuple[set[str], list[tuple[str, str]], set[str]]:
    """The keywords deid's default recipe removes by name, its (test, text) patterns
    (``endswith:Date``, ``contains:UID``...) and the keywords it writes a fixed value to
    (``ADD IssuerOfPatientID STARR``), read from the recipe itself."""
    names: set[str] = set()
    patterns: list[tuple[str, str]] = []
    added: set[str] = set()
    for rule in deid_config.DeidRecipe().get_actions():
        if rule["action"] == "ADD" and not str(rule.get("value", "")).startswith("var:"):
            added.add(rule["field"])
        if rule["action"] != "REMOVE":
            continue
        field = rule["field"]
        if ":" in field:
            test, text = field.split(":", 1)
            patterns.append((test, text))
        else:
            names.add(field)
    return names, patterns, added


def _by_pattern(keyword: str, patterns: list[tuple[str, str]]) -> bool:
    tests = {"endswith": str.endswith, "startswith": str.startswith,
             "contains": str.__contains__}
    return any(tests[test](keyword, text) for test, text in patterns if test in tests)


def _explain_deid(tag: int, keyword: str, action: str | None, ours: str, theirs: str,
                  rules: tuple[set[str], list[tuple[str, str]], set[str]]) -> str | None:
    """Why dicomkit and deid's default recipe differ on one attribute, or None."""
    names, patterns, added = rules
    if keyword in added and theirs == "R" and ours in "XZ":
        return "deid's recipe writes a fixed value (IssuerOfPatientID STARR) after removing"
    if action is None and tag >> 24 == 0x60 and ours == "X" and theirs == "K":
        return "an overlay group goes with its Overlay Data (deid keeps the rest)"
    if theirs == "X" and keyword not in names and _by_pattern(keyword, patterns) and (
            action is None or ours in "KRSZ"):
        return ("a keyword pattern of deid (…Date, …Time, …ID, …UID, Trial) removes what "
                "Table E.1-1 keeps, replaces or empties (SOP Class UID, Exposure Time…)")
    if theirs == "X" and keyword in names and ours in "RZS" and action is not None:
        return "deid removes by name what Table E.1-1 empties, replaces or cleans (Z, D, U)"
    if theirs in "KS" and ours in "XZR" and action is not None and keyword not in names \
            and not _by_pattern(keyword, patterns):
        return "not in deid's recipe: Table E.1-1 lists more attributes than deid's default"
    return None


def test_basic_profile_against_deid(tmp_path: Path) -> None:
    """deid's default recipe (deid/data/deid.dicom, ``%header``) with ``remove_private``:
    every difference from the Basic Profile falls into a category of
    docs/deidentification.md; private attributes are removed by both."""
    actions = table.actions(frozenset())
    rules = _deid_rules()
    recipe = deid_config.DeidRecipe()
    unexplained = []
    seen: dict[str, int] = {}
    for path in _inputs(tmp_path):
        original = pydicom.dcmread(path)
        [theirs] = deid_dicom.replace_identifiers([str(path)], deid=recipe, save=False,
                                                  remove_private=True)
        ours, _ = deidentify(dicomkit.read(path), [], key="k")
        for element in original:
            tag = int(element.tag)
            if element.tag.is_private:
                assert tag not in ours and element.tag not in theirs
                continue
            if element.VR != "SQ" and element.value in ("", None, b""):
                continue  # an empty value identifies no one
            mine = _kind(element, ours.get(tag))
            other = _kind(element, theirs.get(element.tag))
            if mine == other or (mine in "RS" and other in "RS"):
                continue
            action = actions.of(tag)
            why = _explain_deid(tag, element.keyword, action, mine, other, rules)
            if why is None:
                unexplained.append(f"{path.name} {element.tag} {element.keyword} {element.VR} "
                                   f"table {action}: dicomkit {mine}, deid {other}")
            else:
                seen[why] = seen.get(why, 0) + 1
    assert not unexplained, "\n".join(unexplained)
    assert len(seen) >= 3, f"categories seen: {seen}: the comparison did not look"


# The identifying attributes every edition of Table E.1-1 lists: GDCM acts on each of them.
CORE = {"PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyID",
        "InstitutionName", "ReferringPhysicianName", "SOPInstanceUID", "StudyInstanceUID",
        "SeriesInstanceUID", "OperatorsName", "StationName"}


def _explain_gdcm(tag: int, action: str | None, ours: str, theirs: str) -> str | None:
    """Why dicomkit and ``gdcmanon -e`` differ on one attribute, or None (unexplained)."""
    if action is not None and "X" in action and ours == "X" and theirs == "Z":
        return "GDCM empties what Table E.1-1 removes (X, X/Z, X/D…): the attribute stays"
    if tag in PSEUDONYMS and ours == "R" and theirs == "Z":
        return "Z: dicomkit writes a keyed pseudonym (a dummy is allowed) for patient and study"
    if action == "U" and ours == "R" and theirs == "Z":
        return "U: GDCM empties Instance Creator UID where dicomkit maps it"
    if action is None and tag >> 24 == 0x60 and ours == "X" and theirs == "K":
        return "an overlay group goes with its Overlay Data (GDCM keeps the rest)"
    if action is not None and ours in "XZR" and theirs in "KS":
        return ("not in GDCM's list (the 2008 Table E.1-1: no dates or times, none of the "
                "later additions); a listed sequence is kept with its items cleaned")
    return None


def _gdcm_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed RSA certificate and its key: GDCM encrypts the Original
    Attributes (E.1.1's Encrypted Attributes Sequence) for the certificate's key."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (gdcmanon -e needs a certificate)")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=dicomkit-test"],
                   check=True, capture_output=True, timeout=120)
    return cert, key


def test_basic_profile_against_gdcmanon(tmp_path: Path) -> None:
    """GDCM's ``gdcmanon -e`` (Basic Application Level Confidentiality Profile, PS3.15
    E.1.1, with a throwaway certificate): every difference from dicomkit's Basic Profile falls
    into a category of docs/deidentification.md; GDCM keeps private attributes (dicomkit
    removes them), acts on every core identifying attribute, and ``gdcmanon -d`` gives the
    originals back from its Encrypted Attributes Sequence."""
    if shutil.which("gdcmanon") is None:
        pytest.fail("gdcmanon (GDCM, Debian package libgdcm-tools) is not installed")
    cert, key = _gdcm_certificate(tmp_path)
    actions = table.actions(frozenset())
    unexplained = []
    seen: dict[str, int] = {}
    private_kept = 0
    for path in _inputs(tmp_path):
        out = tmp_path / f"gdcm-{path.name}"
        subprocess.run(["gdcmanon", "-e", "-c", str(cert), "-i", str(path), "-o", str(out)],
                       check=True, capture_output=True, timeout=120)
        original = pydicom.dcmread(path)
        theirs = pydicom.dcmread(out)
        assert "EncryptedAttributesSequence" in theirs
        assert theirs.PatientIdentityRemoved == "YES"
        ours, _ = deidentify(dicomkit.read(path), [], key="k")
        for element in original:
            tag = int(element.tag)
            if element.tag.is_private:
                assert tag not in ours
                private_kept += element.tag in theirs
                continue
            if element.VR != "SQ" and element.value in ("", None, b""):
                continue  # an empty value identifies no one
            mine = _kind(element, ours.get(tag))
            other = _kind(element, theirs.get(element.tag))
            if element.keyword in CORE:
                assert other != "K", f"{path.name}: GDCM kept {element.keyword}"
            if mine == other or (mine in "RS" and other in "RS"):
                continue
            action = actions.of(tag)
            why = _explain_gdcm(tag, action, mine, other)
            if why is None:
                unexplained.append(f"{path.name} {element.tag} {element.keyword} {element.VR} "
                                   f"table {action}: dicomkit {mine}, gdcmanon {other}")
            else:
                seen[why] = seen.get(why, 0) + 1
    assert not unexplained, "\n".join(unexplained)
    assert len(seen) >= 4, f"categories seen: {seen}: the comparison did not look"
    assert private_kept, "GDCM kept no private attribute: its behaviour changed"
    back = tmp_path / "back.dcm"
    subprocess.run(["gdcmanon", "-d", "-k", str(key), "-i", str(tmp_path / "gdcm-CT_small.dcm"),
                    "-o", str(back)], check=True, capture_output=True, timeout=120)
    source = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    restored = pydicom.dcmread(back)
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "SOPInstanceUID"):
        assert restored.get(keyword) == source.get(keyword), keyword
