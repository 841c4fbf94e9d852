"""Character sets through query, against real peers (issue 10, defects 1 and 2).

One patient per character set of PS3.5 Annexes H–K and PS3.3 Tables C.12-2 to C.12-5, with
the standard's own person names where it gives one (H.3-1, H.3-2, I.2-1, J.1-1, J.3-1, K.2-1),
each with one study, series and instance whose descriptions are in the same set. The files are
written by dicomkit, stored in ``dicomkit serve`` by DCMTK ``storescu`` and queried back:

* C-FIND by DCMTK ``findscu`` (the responses extracted with ``-X`` and decoded by pydicom, an
  independent reader) and by pynetdicom, at every level of both models: every answer arrives,
  carries the Specific Character Set its values are encoded in, and decodes to the stored text;
* QIDO-RS over HTTP at the study, series and instance resources (DICOM JSON is Unicode);
* Person Name keys matched per component group (PS3.4 C.2.2.2.1, C.2.2.2.4), in both.

A patient whose study came in another character set than the patient (the row of each level
from an instance in a different set) is answered in ISO_IR 192. Everything runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
)

from tests.support.databases import Backend
from tests.support.dcmtk import DCMTK_NET, run_tool
from tests.support.servers import ServeFactory
from tests.support.web import start_web

pytestmark = pytest.mark.dcmtk


@dataclass(frozen=True)
class Case:
    patient_id: str
    charsets: tuple[str, ...]
    name: str
    text: str  # Study / Series Description and Image Comments


CASES = [
    # PS3.5 Annex H (Japanese): H.3-1, H.3-2, and JIS X 0212 (ISO 2022 IR 159).
    Case("CS-H31", ("", "ISO 2022 IR 87"), "Yamada^Tarou=山田^太郎=やまだ^たろう", "胸部検査"),
    Case("CS-H32", ("ISO 2022 IR 13", "ISO 2022 IR 87"), "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
         "ｷｮｳﾌﾞ 胸部"),
    Case("CS-IR159", ("", "ISO 2022 IR 87", "ISO 2022 IR 159"),
         "Kamiyama^Tarou=丂山^太郎=かみやま^たろう", "丂胸部"),
    # Annex I (Korean): I.2-1.
    Case("CS-I2", ("", "ISO 2022 IR 149"), "Hong^Gildong=洪^吉洞=홍^길동", "흉부 검사"),
    # Annex J (Unicode UTF-8, GB18030, GBK): J.1-1, J.3-1 (and J.3-1 again under GBK).
    Case("CS-J1", ("ISO_IR 192",), "Wang^XiaoDong=王^小東=", "胸部檢查"),
    Case("CS-J3", ("GB18030",), "Wang^XiaoDong=王^小东=", "胸部检查"),
    Case("CS-GBK", ("GBK",), "Li^Hua=李^华=", "胸部检查"),
    # Annex K (Chinese with code extensions): K.2-1.
    Case("CS-K2", ("", "ISO 2022 IR 58"), "Zhang^XiaoDong=张^小东=", "胸部检查"),
    # Single-byte sets without code extensions (PS3.3 Table C.12-2).
    Case("CS-100", ("ISO_IR 100",), "Buc^Jérôme", "Étude du thorax"),
    Case("CS-101", ("ISO_IR 101",), "Wałęsa^Lech", "Zdjęcie płuc"),
    Case("CS-109", ("ISO_IR 109",), "Borġ^Ġużeppi", "Eżami tas-sider"),
    Case("CS-110", ("ISO_IR 110",), "Šimkus^Ąžuolas", "Krūtinės tyrimas"),
    Case("CS-144", ("ISO_IR 144",), "Иванов^Иван", "Исследование грудной клетки"),
    Case("CS-127", ("ISO_IR 127",), "قباني^لنزار", "فحص الصدر"),
    Case("CS-126", ("ISO_IR 126",), "Διονυσιος", "Ακτινογραφία θώρακος"),
    Case("CS-138", ("ISO_IR 138",), "שרון^דבורה", "צילום חזה"),
    Case("CS-148", ("ISO_IR 148",), "Çelik^Gülşen", "Göğüs çekimi"),
    Case("CS-13", ("ISO_IR 13",), "ﾔﾏﾀﾞ^ﾊﾅｺ", "ｷｮｳﾌﾞ"),
    Case("CS-166", ("ISO_IR 166",), "สมชาย^ใจดี", "เอกซเรย์ทรวงอก"),
    Case("CS-203", ("ISO_IR 203",), "Lœwe^Chloé", "Radiographie du cœur"),
]
BY_ID = {case.patient_id: case for case in CASES}
# One patient, two studies: the patient row and the first study from an instance in
# \ISO 2022 IR 87, the second study from an instance in ISO_IR 100.
MIXED_ID = "CS-MIX"
MIXED_NAME = "Yamada^Hanako=山田^花子=やまだ^はなこ"
MIXED_TEXT = "Étude mixte"


def pn_text(value: Any) -> str:
    """A person name as ``A=I=P`` without empty trailing groups (pydicom drops them)."""
    if isinstance(value, dict):
        value = "=".join((value.get("Alphabetic", ""), value.get("Ideographic", ""),
                          value.get("Phonetic", "")))
    return str(value).rstrip("=")


def charset_values(ds: Any) -> list[str]:
    value = ds.get("SpecificCharacterSet")
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, pydicom.multival.MultiValue)
                             else [value])]


@dataclass
class Archive:
    port: int
    http_port: int
    studies: dict[str, str]  # patient ID -> Study Instance UID (the mixed: its 2nd study)
    mixed_first_study: str

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"


def write_case(folder: Path, case: Case, *, name: str | None = None,
               study_uid: str | None = None) -> str:
    from dicomkit.cli.sample import make_ct
    from dicomkit.core.uid import generate_uid
    from dicomkit.encoding.writer import write

    ds = make_ct(4, 1, study_uid or generate_uid(), generate_uid())
    ds.SpecificCharacterSet = list(case.charsets)
    ds.PatientID = case.patient_id
    ds.PatientName = name or case.name
    ds.ReferringPhysicianName = name or case.name
    ds.StudyDescription = case.text
    ds.SeriesDescription = case.text
    ds.ImageComments = case.text
    folder.mkdir(parents=True, exist_ok=True)
    write(ds, str(folder / f"{ds.SOPInstanceUID}.dcm"))
    return str(ds.StudyInstanceUID)


@pytest.fixture(scope="module")
def archive(backend: Backend, module_serve: ServeFactory, dcmtk_net: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    folder = tmp_path_factory.mktemp(f"charset-{backend.name}")
    studies = {case.patient_id: write_case(folder / "first", case) for case in CASES}
    mixed_first = write_case(folder / "first", Case(MIXED_ID, ("", "ISO 2022 IR 87"),
                                                     MIXED_NAME, "胸部検査"))
    studies[MIXED_ID] = write_case(folder / "second", Case(MIXED_ID, ("ISO_IR 100",),
                                                            "Yamada^Hanako", MIXED_TEXT))
    server, http_port = start_web(module_serve, folder / "data", backend.new_index())
    for batch in ("first", "second"):  # in order: the patient row comes from the first
        result = run_tool("storescu", "-v", "-aec", "PACS", "127.0.0.1", server.port, "+sd",
                          folder / batch)
        output = result.stdout + result.stderr
        expected = len(list((folder / batch).iterdir()))
        assert output.count("Received Store Response (Success)") == expected, \
            output[-2000:] + server.log_tail()
    yield Archive(server.port, http_port, studies, mixed_first)
    assert server.stop() == 0, server.log_tail()


# -- DCMTK findscu ---------------------------------------------------------------------------
def findscu(archive: Archive, out: Path, model: str, keys: list[str]) -> list[Any]:
    """findscu with ``-X``: the response identifiers it received, read by pydicom."""
    out.mkdir(parents=True, exist_ok=True)
    args = [DCMTK_NET["findscu"], model, "-aec", "PACS", "-X", "-od", str(out),
            "127.0.0.1", str(archive.port)]
    for key in keys:
        args += ["-k", key]
    # argv as bytes: the keys are sent as given (UTF-8, or ISO 2022 escape sequences).
    result = subprocess.run([a.encode("utf-8") for a in args], capture_output=True,
                            timeout=120, check=False)
    output = (result.stdout + result.stderr).decode("latin-1")
    assert result.returncode == 0, output[-3000:]
    return [pydicom.dcmread(path) for path in sorted(out.glob("rsp*.dcm"))]


# pydicom 3.0 does not know ISO_IR 203 (it decodes as Latin-1) and leaves the escape sequences
# of ISO 2022 IR 58 in the text (ESC 02/04 02/09 04/01 designates GB 2312 to G1, ISO 646 stays
# in G0: PS3.5 K.2-1); for those two what pydicom made of the bytes is corrected here.
PYDICOM_FIXES = {
    "ISO_IR 203": lambda text: text.encode("latin-1").decode("iso8859_15"),
    "ISO 2022 IR 58": lambda text: text.replace("\x1b$)A", ""),
}


def text_of(ds: Any, keyword: str) -> str:
    """A value of a response identifier, decoded under the character set it names."""
    text = str(ds.get(keyword))
    for term, fix in PYDICOM_FIXES.items():
        if term in charset_values(ds):
            text = str(fix(text))
    return text


def assert_decoded(ds: Any, keywords: tuple[str, ...]) -> None:
    """A response identifier: its values decode, under the character set it names, to the
    text stored for its patient."""
    patient_id = str(ds.PatientID)
    if patient_id == MIXED_ID:
        return
    case = BY_ID[patient_id]
    for keyword in keywords:
        value = text_of(ds, keyword)
        got = pn_text(value) if keyword.endswith("Name") else value
        want = pn_text(case.name) if keyword.endswith("Name") else case.text
        assert got == want, (patient_id, keyword, charset_values(ds))
    # The set named is one that holds the values: the stored one.
    assert charset_values(ds) == list(case.charsets), patient_id


def test_findscu_patient_level_answers_every_patient(archive: Archive, tmp_path: Path) -> None:
    """Defect 1: a PATIENT level PatientID=* query stopped at the first patient stored in
    \\ISO 2022 IR 87 (the answer could not be encoded); now every patient comes back."""
    answers = findscu(archive, tmp_path, "-P", ["QueryRetrieveLevel=PATIENT", "PatientID=*",
                                                "PatientName"])
    assert sorted(str(a.PatientID) for a in answers) == sorted([*BY_ID, MIXED_ID])
    for answer in answers:
        assert_decoded(answer, ("PatientName",))


@pytest.mark.parametrize("level, keys, checked", [
    ("STUDY", ["StudyInstanceUID", "StudyDescription", "ReferringPhysicianName"],
     ("PatientName", "StudyDescription", "ReferringPhysicianName")),
    ("SERIES", ["SeriesInstanceUID", "SeriesDescription"], ("PatientName",
                                                            "SeriesDescription")),
    ("IMAGE", ["SOPInstanceUID", "ImageComments"], ("PatientName", "ImageComments")),
])
def test_findscu_study_root_answers_decode_at_every_level(
        archive: Archive, tmp_path: Path, level: str, keys: list[str],
        checked: tuple[str, ...]) -> None:
    answers = findscu(archive, tmp_path, "-S", [f"QueryRetrieveLevel={level}", "PatientID",
                                                "PatientName", *keys])
    ids = [str(a.PatientID) for a in answers]
    assert sorted(set(ids)) == sorted([*BY_ID, MIXED_ID])
    assert len(ids) == len(CASES) + 2  # the mixed patient has two studies
    for answer in answers:
        assert_decoded(answer, checked)


def test_findscu_study_answer_merged_from_two_character_sets_is_utf8(
        archive: Archive, tmp_path: Path) -> None:
    """The patient row came in \\ISO 2022 IR 87 and the study in ISO_IR 100: no one of them
    holds both values, so the answer is ISO_IR 192."""
    answers = findscu(archive, tmp_path, "-S", [
        "QueryRetrieveLevel=STUDY", f"StudyInstanceUID={archive.studies[MIXED_ID]}",
        "PatientName", "StudyDescription"])
    assert len(answers) == 1
    assert charset_values(answers[0]) == ["ISO_IR 192"]
    assert pn_text(answers[0].PatientName) == MIXED_NAME
    assert str(answers[0].StudyDescription) == MIXED_TEXT


def test_findscu_request_in_iso_2022_is_decoded_for_matching(archive: Archive,
                                                             tmp_path: Path) -> None:
    """The key ``=山田*`` sent in \\ISO 2022 IR 87 (escape sequences in the request, PS3.4
    C.2.2.2: the request's character set says how its keys are encoded)."""
    key = "=\x1b$B;3ED\x1b(B*"  # =山田* in JIS X 0208
    answers = findscu(archive, tmp_path, "-S", [
        "QueryRetrieveLevel=STUDY", "SpecificCharacterSet=\\ISO 2022 IR 87",
        f"PatientName={key}", "PatientID"])
    assert sorted(str(a.PatientID) for a in answers) == ["CS-H31", "CS-H32", MIXED_ID,
                                                         MIXED_ID]  # two studies


PN_KEYS = [
    # Defect 2: a one-group key matches the alphabetic group ...
    ("Yamada*", {"CS-H31", MIXED_ID}),
    ("Hong^Gildong", {"CS-I2"}),
    ("Wang^XiaoDong", {"CS-J1", "CS-J3"}),
    # ... a key with "=" the groups it gives.
    ("=山田*", {"CS-H31", "CS-H32", MIXED_ID}),
    ("==やまだ^たろう", {"CS-H31", "CS-H32"}),
    ("Yamada*=山田^太郎", {"CS-H31"}),
    ("==홍*", {"CS-I2"}),
    ("=王^小?", {"CS-J1", "CS-J3"}),
    ("=张^小东", {"CS-K2"}),
    ("山田*", set()),  # not an alphabetic group
]


@pytest.mark.parametrize("key, expected", PN_KEYS)
def test_findscu_person_name_keys_match_per_component_group(
        archive: Archive, tmp_path: Path, key: str, expected: set[str]) -> None:
    answers = findscu(archive, tmp_path, "-S", [
        "QueryRetrieveLevel=STUDY", "SpecificCharacterSet=ISO_IR 192", f"PatientName={key}",
        "PatientID"])
    assert {str(a.PatientID) for a in answers} == expected


# -- pynetdicom ------------------------------------------------------------------------------
def pynetdicom_find(archive: Archive, model: Any, keys: dict[str, Any]) -> list[Any]:
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(model)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    assoc = ae.associate("127.0.0.1", archive.port, ae_title="PACS")
    assert assoc.is_established
    query = pydicom.Dataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    found, statuses = [], []
    try:
        for status, identifier in assoc.send_c_find(query, model):
            statuses.append(status.Status if status else None)
            if status and status.Status in (0xFF00, 0xFF01):
                found.append(identifier)
    finally:
        assoc.release()
    assert statuses and statuses[-1] == 0x0000, [hex(s) if s else s for s in statuses]
    return found


@pytest.mark.parametrize("model, level, extra, checked", [
    (PatientRootQueryRetrieveInformationModelFind, "PATIENT", {}, ("PatientName",)),
    (StudyRootQueryRetrieveInformationModelFind, "STUDY", {"StudyDescription": ""},
     ("PatientName", "StudyDescription")),
    (StudyRootQueryRetrieveInformationModelFind, "SERIES", {"SeriesDescription": ""},
     ("PatientName", "SeriesDescription")),
    (StudyRootQueryRetrieveInformationModelFind, "IMAGE", {"ImageComments": ""},
     ("PatientName", "ImageComments")),
])
def test_pynetdicom_answers_decode_at_every_level(archive: Archive, model: Any, level: str,
                                                  extra: dict[str, Any],
                                                  checked: tuple[str, ...]) -> None:
    answers = pynetdicom_find(archive, model, {"QueryRetrieveLevel": level, "PatientID": "",
                                               "PatientName": "", **extra})
    assert {str(a.PatientID) for a in answers} == {*BY_ID, MIXED_ID}
    for answer in answers:
        assert_decoded(answer, checked)


@pytest.mark.parametrize("key, expected", PN_KEYS[:6])
def test_pynetdicom_person_name_keys_match_per_component_group(
        archive: Archive, key: str, expected: set[str]) -> None:
    answers = pynetdicom_find(archive, StudyRootQueryRetrieveInformationModelFind, {
        "SpecificCharacterSet": "ISO_IR 192", "QueryRetrieveLevel": "STUDY",
        "PatientName": key, "PatientID": ""})
    assert {str(a.PatientID) for a in answers} == expected


# -- QIDO-RS ---------------------------------------------------------------------------------
def qido(archive: Archive, resource: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{archive.root}/{resource}", params=params, timeout=60,
                         headers={"Accept": "application/dicom+json"})
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else []


def json_value(match: dict[str, Any], tag: str) -> Any:
    values = match.get(tag, {}).get("Value") or [None]
    return values[0]


@pytest.mark.parametrize("resource, tag", [
    ("studies", "00081030"),  # Study Description
    ("series", "0008103E"),  # Series Description
    ("instances", "00204000"),  # Image Comments
])
def test_qido_answers_hold_the_stored_text_at_every_level(archive: Archive, resource: str,
                                                          tag: str) -> None:
    matches = qido(archive, resource, includefield=f"{tag},00080090")
    by_id: dict[str, list[dict[str, Any]]] = {}
    for match in matches:
        by_id.setdefault(json_value(match, "00100020"), []).append(match)
    assert set(by_id) == {*BY_ID, MIXED_ID}
    for patient_id, case in BY_ID.items():
        (match,) = by_id[patient_id]
        assert pn_text(json_value(match, "00100010")) == pn_text(case.name), patient_id
        assert pn_text(json_value(match, "00080090")) == pn_text(case.name), patient_id
        assert json_value(match, tag) == case.text, patient_id
        assert "00080005" not in match  # JSON text is Unicode (PS3.18 F.2)


@pytest.mark.parametrize("key, expected", PN_KEYS)
def test_qido_person_name_keys_match_per_component_group(archive: Archive, key: str,
                                                         expected: set[str]) -> None:
    matches = qido(archive, "studies", PatientName=key)
    assert {json_value(m, "00100020") for m in matches} == expected


def test_qido_referring_physician_key_matches_its_ideographic_group(archive: Archive) -> None:
    matches = qido(archive, "studies", ReferringPhysicianName="=洪^吉洞")
    assert {json_value(m, "00100020") for m in matches} == {"CS-I2"}


@pytest.mark.parametrize("key, expected", [
    ("yamada", {"CS-H31", MIXED_ID}),
    ("山田", {"CS-H31", "CS-H32", MIXED_ID}),  # fuzzy: the name in any of its groups
    ("홍", {"CS-I2"}),
])
def test_qido_fuzzymatching_looks_in_every_group(archive: Archive, key: str,
                                                 expected: set[str]) -> None:
    matches = qido(archive, "studies", PatientName=key, fuzzymatching="true")
    assert {json_value(m, "00100020") for m in matches} == expected
