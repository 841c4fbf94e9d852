"""A control character a key's VR does not allow (PS3.5 §6.1.2, Table 6.2-1) is an error
naming the attribute, never universal matching: QIDO-RS answers 400 with the reason, C-FIND a
failure (A900 with an Error Comment naming the attribute). Both protocols reach the one check
in :func:`dicomkit.archive.matching.check_characters`; a running ``dicomkit serve`` on SQLite
and PostgreSQL, queried with httpx, DCMTK's findscu and pynetdicom."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydicom.dataset import Dataset as PydicomDataset
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from dicomkit.core.vr import forbidden_control
from tests.support.dcmtk import run_tool
from tests.support.web import WebArchive

CONTROLS = {"%00": "00H", "%01": "01H", "%1B": "1BH", "%7F": "7FH"}
# (resource path, key, its tag) at each level; PatientID is LO, where an ESC would be allowed
# in received bytes as an ISO 2022 escape, never in a decoded QIDO-RS value.
LEVEL_KEYS = [
    ("/studies", "PatientID", "(0010,0020)"),
    ("/studies", "StudyDate", "(0008,0020)"),
    ("/series", "Modality", "(0008,0060)"),
    ("/series", "SeriesDescription", "(0008,103E)"),
    ("/instances", "SOPInstanceUID", "(0008,0018)"),
    ("/instances", "InstanceNumber", "(0020,0013)"),
]


@pytest.mark.parametrize("control", list(CONTROLS))
@pytest.mark.parametrize(("path", "key", "tag"), LEVEL_KEYS)
def test_qido_control_character_is_400_naming_the_attribute(
        web: WebArchive, path: str, key: str, tag: str, control: str) -> None:
    for value in (control, f"DK{control}1", f"{control}*"):
        response = httpx.get(f"{web.root}{path}?{key}={value}", timeout=30)
        assert response.status_code == 400, (value, response.status_code, response.text[:300])
        assert tag in response.text and key in response.text, response.text
        assert f"control character {CONTROLS[control]}" in response.text, response.text


def test_qido_control_character_inside_a_sequence_key_is_400(web: WebArchive) -> None:
    response = httpx.get(f"{web.root}/studies",
                         params={"ReferencedStudySequence.ReferencedSOPInstanceUID": "1.2\x00"},
                         timeout=30)
    assert response.status_code == 400, response.text
    assert "ReferencedSOPInstanceUID" in response.text


def test_qido_the_same_key_without_the_control_matches(web: WebArchive) -> None:
    """The control check is what refuses the keys above: the plain value still matches."""
    response = httpx.get(f"{web.root}/studies?PatientID=DK-SERVE-1", timeout=30)
    assert response.status_code == 200, response.text
    assert len(response.json()) == 1


# -- C-FIND --------------------------------------------------------------------------------------
def findscu(web: WebArchive, out: Path, *keys: str) -> str:
    out.mkdir(exist_ok=True)
    args: list[str] = []
    for key in keys:
        args += ["-k", key]
    result = run_tool("findscu", "-d", "-S", "-aec", "PACS", "-X", "-od", str(out), *args,
                      "127.0.0.1", str(web.port), check=False)
    return result.stdout + result.stderr


@pytest.mark.parametrize("control", ["\x01", "\x1b", "\x7f"])
@pytest.mark.parametrize(("level", "key", "keyword"), [
    ("STUDY", "PatientID", "PatientID"),
    ("SERIES", "Modality", "Modality"),
    ("IMAGE", "SOPInstanceUID", "SOPInstanceUID"),
])
def test_findscu_control_character_fails_a900(web: WebArchive, tmp_path: Path, level: str,
                                              key: str, keyword: str, control: str) -> None:
    """findscu cannot pass a NUL on its command line; pynetdicom sends that one below."""
    s = web.study_set
    keys = [f"QueryRetrieveLevel={level}", f"{key}={control}"]
    if level != "STUDY":
        keys.append(f"StudyInstanceUID={s.synthetic_study}")
    if level == "IMAGE":
        keys.append(f"SeriesInstanceUID={s.synthetic_series}")
    output = findscu(web, tmp_path / "rsp", *keys)
    assert "0xa900" in output.lower(), output[-3000:]
    assert keyword in output, output[-3000:]  # the Error Comment names the attribute
    assert not list((tmp_path / "rsp").glob("rsp*.dcm"))  # nothing matched


def pynetdicom_find(web: WebArchive, identifier: PydicomDataset) -> list[tuple[int, str]]:
    """(status, Error Comment) of every response."""
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", web.port, ae_title="PACS")
    assert assoc.is_established
    try:
        out = []
        for status, _ in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
            out.append((int(status.Status), str(status.get("ErrorComment", ""))))
        return out
    finally:
        assoc.release()


@pytest.mark.parametrize(("keyword", "value"), [
    ("PatientID", "\x00"), ("PatientID", "\x00\x00"), ("PatientID", "DK\x00SERVE"),
    ("StudyInstanceUID", "\x00\x00"), ("AccessionNumber", "\x1b"), ("StudyDate", "\x7f"),
])
def test_pynetdicom_c_find_with_a_nul_or_control_fails(web: WebArchive, keyword: str,
                                                       value: str) -> None:
    identifier = PydicomDataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = ""
    setattr(identifier, keyword, value)
    responses = pynetdicom_find(web, identifier)
    assert len(responses) == 1, responses  # no pending match, one final failure
    status, comment = responses[0]
    assert status == 0xA900, responses
    assert keyword in comment, comment


def test_pynetdicom_c_find_a_padded_uid_and_an_escape_sequence_still_match(
        web: WebArchive) -> None:
    """The one trailing NUL that pads a UID (PS3.5 §6.2), and a real ISO 2022 escape
    sequence in a LO key (ESC ( B, back to ASCII), are no errors."""
    s = web.study_set
    identifier = PydicomDataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = s.synthetic_study  # pydicom pads an odd UID with a NUL
    responses = pynetdicom_find(web, identifier)
    assert [r[0] for r in responses] == [0xFF00, 0x0000], responses
    identifier = PydicomDataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = ""
    identifier.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    identifier.PatientID = "\x1b(BDK-SERVE-1"
    responses = pynetdicom_find(web, identifier)
    assert responses[-1][0] == 0x0000, responses


# -- the rule, on its own ------------------------------------------------------------------------
@pytest.mark.parametrize(("vr", "text", "encoded", "index"), [
    ("LO", "ABC", True, None),
    ("LO", "A\x00", True, 1),
    ("LO", "\x1b$B", True, None),  # ISO 2022 IR 87 designation
    ("LO", "\x1b$B", False, 0),  # decoded text has no escape sequences left
    ("LO", "A\x1b", True, 1),  # a lone ESC is no escape sequence
    ("CS", "\x1b(B", True, 0),  # CS has no Specific Character Set, so no ESC
    ("LT", "line\r\nnext\tcol\x0c", True, None),
    ("ST", "bell\x07", True, 4),
    ("SH", "tab\t", True, 3),
    ("UI", "1.2\x7f", True, 3),
    ("PN", "Doe^J\x1b-A", True, None),
])
def test_forbidden_control_follows_table_6_2_1(vr: str, text: str, encoded: bool,
                                               index: int | None) -> None:
    assert forbidden_control(vr, text, encoded=encoded) == index
