"""The Modality Worklist SCP of ``dicomkit serve`` against DCMTK's ``wlmscpfs`` serving the same
items (PS3.4 K.6.1), on SQLite and PostgreSQL.

Twenty items (a Japanese name in ISO 2022 IR 87, Latin-1 and UTF-8 names, several stations,
modalities, dates and times) are written as ``.wl`` files in wlmscpfs's ``-dfp`` layout
(``<dir>/<AETITLE>/*.wl`` and a ``LOCKFILE``) and added to a running ``dicomkit serve`` with
``dicomkit worklist add`` (as the ``.wl`` files, as DICOM JSON and as ``dcmdump`` text). Then
the same queries go to both with ``findscu -W``, and the identifiers received are compared:
the same matches with the same values. The one documented difference (docs/workflow.md): with
no Specific Character Set in the request, wlmscpfs ``-csk`` answers in the item's own character
set and so does dicomkit, so none is left; nothing else is allowed to differ.

Also: pynetdicom as the Modality Worklist SCU, ``dicomkit find --worklist``, C-CANCEL, A900 for
an identifier the model cannot answer, and the CLI's exit statuses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dicomkit.core.dataset import Dataset
from dicomkit.encoding.json import to_json, to_json_dict
from dicomkit.encoding.reader import read
from dicomkit.encoding.writer import write
from tests.support.databases import Backend
from tests.support.dcmtk import DCMTK_NET, background, run_tool
from tests.support.servers import Serve, ServeFactory, free_port, serve_env, wait_for_port

pytestmark = pytest.mark.dcmtk

AET = "WLPACS"
JAPANESE = ("", "ISO 2022 IR 87")


@dataclass(frozen=True)
class Item:
    accession: str
    patient_id: str
    name: str
    charsets: tuple[str, ...]
    station: str
    modality: str
    date: str
    time: str
    physician: str = "Tech^Terry"
    description: str = "Routine"


ITEMS = [
    Item("A01", "P01", "Yamada^Tarou=山田^太郎=やまだ^たろう", JAPANESE, "CT1", "CT", "20261204",
         "080000"),
    Item("A02", "P02", "Müller^Hans", ("ISO_IR 100",), "CT1", "CT", "20261204", "093000"),
    Item("A03", "P03", "Gómez^María", ("ISO_IR 192",), "CT2", "CT", "20261204", "101500"),
    Item("A04", "P04", "Doe^John", (), "MR1", "MR", "20261204", "120000"),
    Item("A05", "P05", "Doe^Jane", (), "MR1", "MR", "20261205", "083000"),
    Item("A06", "P06", "Smith^Anna", (), "US1", "US", "20261205", "140000", "Echo^Eve"),
    Item("A07", "P07", "Brown^Bob", (), "CT1", "CT", "20261205", "160000"),
    Item("A08", "P08", "Dupont^Chloé", ("ISO_IR 100",), "CT2", "CT", "20261203", "235900"),
    Item("A09", "P09", "Yamada^Hanako=山田^花子=やまだ^はなこ", JAPANESE, "MR1", "MR",
         "20261206", "090000"),
    Item("A10", "P10", "Nguyễn^Văn", ("ISO_IR 192",), "US1", "US", "20261206", "110000",
         "Echo^Eve"),
    Item("A11", "P11", "Doe^Jim", (), "CT1", "CT", "20261203", "070000"),
    Item("A12", "P12", "Lee^Kim", (), "CT2", "CT", "20261206", "180000"),
    Item("A13", "P13", "Garcia^Luis", (), "MR2", "MR", "20261204", "150000", "Radio^Ray"),
    Item("A14", "P14", "Olsen^Åse", ("ISO_IR 100",), "MR2", "MR", "20261205", "100000"),
    Item("A15", "P15", "White^Walt", (), "CT1", "CT", "20261206", "080000"),
    Item("A16", "P16", "Black^Bea", (), "US1", "US", "20261204", "085000", "Echo^Eve"),
    Item("A17", "P17", "Green^Gil", (), "CT2", "CT", "20261205", "120000"),
    Item("A18", "P18", "Doe^Joan", (), "MR1", "MR", "20261203", "133000"),
    Item("A19", "P19", "Kato^Ken=加藤^健=かとう^けん", JAPANESE, "CT1", "CT", "20261205",
         "103000"),
    Item("A20", "P20", "Ruiz^Rosa", ("ISO_IR 192",), "MR2", "MR", "20261206", "170000",
         "Radio^Ray"),
]


def item_dataset(item: Item) -> Dataset:
    ds = Dataset()
    if item.charsets:
        ds.SpecificCharacterSet = list(item.charsets) if len(item.charsets) > 1 \
            else item.charsets[0]
    ds.AccessionNumber = item.accession
    ds.ReferringPhysicianName = "Ref^Rita"
    ds.PatientName = item.name
    ds.PatientID = item.patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.1234.{int(item.accession[1:])}"
    ds.RequestedProcedureDescription = f"Procedure {item.accession}"
    ds.RequestedProcedureID = f"RP{item.accession}"
    ds.RequestedProcedurePriority = "ROUTINE"
    step = Dataset()
    step.Modality = item.modality
    step.ScheduledStationAETitle = item.station
    step.ScheduledProcedureStepStartDate = item.date
    step.ScheduledProcedureStepStartTime = item.time
    step.ScheduledPerformingPhysicianName = item.physician
    step.ScheduledProcedureStepDescription = item.description
    step.ScheduledProcedureStepID = f"S{item.accession}"
    step.ScheduledStationName = f"ROOM {item.station}"
    step.ScheduledProcedureStepLocation = "Wing B"
    ds.ScheduledProcedureStepSequence = [step]
    return ds


# -- the queries -----------------------------------------------------------------------------
STEP_KEYS = ("ScheduledStationAETitle", "Modality", "ScheduledProcedureStepStartDate",
             "ScheduledProcedureStepStartTime", "ScheduledPerformingPhysicianName",
             "ScheduledProcedureStepID", "ScheduledProcedureStepDescription")
TOP_KEYS = ("PatientName", "PatientID", "AccessionNumber", "RequestedProcedureID",
            "StudyInstanceUID")


def query(charsets: tuple[str, ...] = (), step: dict[str, Any] | None = None,
          **top: Any) -> Dataset:
    identifier = Dataset()
    if charsets:
        identifier.SpecificCharacterSet = list(charsets) if len(charsets) > 1 else charsets[0]
    for keyword in TOP_KEYS:
        identifier.set(keyword, None)
    for keyword, value in top.items():
        identifier.set(keyword, value)
    item = Dataset()
    for keyword in STEP_KEYS:
        item.set(keyword, None)
    for keyword, value in (step or {}).items():
        item.set(keyword, value)
    identifier.ScheduledProcedureStepSequence = [item]
    return identifier


QUERIES: dict[str, tuple[Dataset, set[str]]] = {
    "station and date": (query(step={"ScheduledStationAETitle": "CT1",
                                     "ScheduledProcedureStepStartDate": "20261204"}),
                         {"A01", "A02"}),
    "date range": (query(step={"ScheduledProcedureStepStartDate": "20261203-20261204"}),
                   {"A01", "A02", "A03", "A04", "A08", "A11", "A13", "A16", "A18"}),
    "open date range": (query(step={"ScheduledProcedureStepStartDate": "20261206-"}),
                        {"A09", "A10", "A12", "A15", "A20"}),
    "time range on one date": (query(step={"ScheduledProcedureStepStartDate": "20261204",
                                           "ScheduledProcedureStepStartTime": "0800-1000"}),
                               {"A01", "A02", "A16"}),
    "date and time ranges are one date-time range": (
        query(step={"ScheduledProcedureStepStartDate": "20261204-20261205",
                    "ScheduledProcedureStepStartTime": "1400-1000"}),
        {"A13", "A05", "A14"}),
    "modality": (query(step={"Modality": "US"}), {"A06", "A10", "A16"}),
    "modality and station": (query(step={"Modality": "MR", "ScheduledStationAETitle": "MR2"}),
                             {"A13", "A14", "A20"}),
    "patient name wildcard": (query(PatientName="Doe^J*"), {"A04", "A05", "A11", "A18"}),
    "patient name question mark": (query(PatientName="Doe^J?n*"), {"A05"}),
    "ideographic group": (query(JAPANESE, PatientName="*=山田*"), {"A01", "A09"}),
    "latin-1 name": (query(("ISO_IR 100",), PatientName="M?ller*"), {"A02"}),
    "utf-8 name": (query(("ISO_IR 192",), PatientName="Nguy*"), {"A10"}),
    "accession": (query(AccessionNumber="A07"), {"A07"}),
    "patient id": (query(PatientID="P12"), {"A12"}),
    "performing physician": (query(step={"ScheduledPerformingPhysicianName": "Echo*"}),
                             {"A06", "A10", "A16"}),
    "universal keys": (query(), {item.accession for item in ITEMS}),
    "empty return keys": (query(PatientBirthDate=None, PatientSex=None,
                                ReferringPhysicianName=None,
                                RequestedProcedureDescription=None,
                                RequestedProcedurePriority=None,
                                step={"ScheduledStationAETitle": "MR1",
                                      "ScheduledStationName": None,
                                      "ScheduledProcedureStepLocation": None}),
                          {"A04", "A05", "A09", "A18"}),
}
# The combined range, by the rule of PS3.4 Table K.6-1: from 2026-12-04 14:00 to 2026-12-05
# 10:00 (C.2.2.2.5: the whole of the upper bound's last unit, 10:00:00-10:00:59, included).


def folder_for_wlmscpfs(root: Path) -> Path:
    """The -dfp layout: <root>/<AET>/*.wl and a lock file (``lockfile`` for DCMTK 3.6.7,
    ``LOCKFILE`` in its documentation)."""
    folder = root / AET
    folder.mkdir(parents=True)
    (folder / "lockfile").write_bytes(b"")
    (folder / "LOCKFILE").write_bytes(b"")
    for number, item in enumerate(ITEMS, 1):
        write(item_dataset(item), folder / f"item{number:02d}.wl")
    return folder


@dataclass
class Peers:
    dicomkit: Serve
    wlmscpfs_port: int
    folder: Path


def dicomkit_cli(*args: Any, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *map(str, args)],
                            capture_output=True, encoding="utf-8", env=serve_env(),
                            timeout=120, check=False)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def peers(backend: Backend, module_serve: ServeFactory, dcmtk_net: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    root = tmp_path_factory.mktemp(f"wlm-{backend.name}")
    folder = folder_for_wlmscpfs(root / "wlistdb")
    data = root / "data"
    index = backend.new_index()
    server = module_serve(data, index=index, aet=AET)
    location = ["--data", str(data)] + (["--index", index] if index else [])
    files = sorted(folder.glob("*.wl"))
    # a third as .wl files, a third as DICOM JSON (one array), a third as dcmdump text
    dicomkit_cli("worklist", "add", *files[:7], *location)
    array = root / "items.json"
    array.write_text("[" + ",".join(to_json(read(str(p))) for p in files[7:14]) + "]",
                     "utf-8")
    dicomkit_cli("worklist", "add", array, *location)
    dumps = []
    for path in files[14:]:
        dumped = subprocess.run(["dcmdump", "+L", str(path)], capture_output=True, check=True)
        target = root / f"{path.stem}.dump"
        target.write_bytes(dumped.stdout)
        dumps.append(target)
    dicomkit_cli("worklist", "add", *dumps, *location)
    port = free_port()
    wlm = background([DCMTK_NET.get("wlmscpfs", "/usr/bin/wlmscpfs"), "-s", "-csk", "-dfp",
                      folder.parent, port], root / "wlmscpfs.log")
    try:
        wait_for_port(port)
        yield Peers(server, port, folder)
    finally:
        wlm.stop()


def findscu(port: int, identifier: Dataset, out: Path, *extra: str,
            expect: str = "Success") -> list[Dataset]:
    """``findscu -W`` with the identifier as a query file: the response identifiers received
    (``expect``: the final status findscu must report)."""
    out.mkdir(parents=True, exist_ok=True)
    query_file = out / "query.dcm"
    write(identifier, query_file)
    result = run_tool("findscu", "-v", "-W", "-aec", AET, "-X", "-od", out, *extra,
                      "127.0.0.1", port, query_file, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert f"Received Final Find Response ({expect}" in output, output[-3000:]
    return [read(str(p)) for p in sorted(out.glob("rsp*.dcm"))]


def canonical(answer: Dataset) -> tuple[str, str]:
    """A response identifier as comparable text: DICOM JSON, values decoded."""
    model = to_json_dict(answer)
    model.pop("00080005", None)
    return str((model.get("00080050") or {}).get("Value")), json.dumps(model, sort_keys=True,
                                                                       ensure_ascii=False)


# Documented difference (docs/workflow.md): wlmscpfs refuses a key holding ISO 2022 escape
# sequences ("Invalid Character Repertoire for datatype PN", A900); dicomkit matches it.
WLMSCPFS_REFUSES = {"ideographic group"}


@pytest.mark.parametrize("name", list(QUERIES))
def test_findscu_gets_the_same_answers_from_dicomkit_and_wlmscpfs(peers: Peers, tmp_path: Path,
                                                                  name: str) -> None:
    identifier, expected = QUERIES[name]
    ours = findscu(peers.dicomkit.port, identifier, tmp_path / "dicomkit")
    if name in WLMSCPFS_REFUSES:
        assert {str(a.AccessionNumber) for a in ours} == expected
        refused = findscu(peers.wlmscpfs_port, identifier, tmp_path / "wlmscpfs",
                          expect="Error: DataSetDoesNotMatchSOPClass")
        assert refused == []
        return
    theirs = findscu(peers.wlmscpfs_port, identifier, tmp_path / "wlmscpfs")
    assert {str(a.AccessionNumber) for a in ours} == expected
    assert {str(a.AccessionNumber) for a in theirs} == expected
    assert sorted(map(canonical, ours)) == sorted(map(canonical, theirs))


def test_answers_keep_the_items_character_set(peers: Peers, tmp_path: Path) -> None:
    identifier, _ = QUERIES["ideographic group"]
    answers = findscu(peers.dicomkit.port, identifier, tmp_path)
    assert {str(a.PatientName) for a in answers} == {
        "Yamada^Tarou=山田^太郎=やまだ^たろう", "Yamada^Hanako=山田^花子=やまだ^はなこ"}
    assert all(list(a.SpecificCharacterSet) == ["", "ISO 2022 IR 87"] for a in answers)


# -- other peers and paths -------------------------------------------------------------------
def test_pynetdicom_as_worklist_scu(peers: Peers) -> None:
    from pydicom.dataset import Dataset as PydicomDataset
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", peers.dicomkit.port, ae_title=AET)
    assert assoc.is_established
    identifier = PydicomDataset()
    identifier.PatientName = ""
    identifier.AccessionNumber = ""
    step = PydicomDataset()
    step.ScheduledStationAETitle = "CT1"
    step.ScheduledProcedureStepStartDate = "20261205"
    step.ScheduledProcedureStepStartTime = ""
    step.Modality = ""
    identifier.ScheduledProcedureStepSequence = [step]
    found, final = [], None
    try:
        for status, answer in assoc.send_c_find(identifier, ModalityWorklistInformationFind):
            if status and status.Status in (0xFF00, 0xFF01):
                found.append(answer)
            elif status:
                final = status.Status
    finally:
        assoc.release()
    assert final == 0x0000
    assert sorted(str(a.AccessionNumber) for a in found) == ["A07", "A19"]
    by_accession = {str(a.AccessionNumber): a for a in found}
    assert str(by_accession["A19"].PatientName) == "Kato^Ken=加藤^健=かとう^けん"
    assert by_accession["A07"].ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime \
        == "160000"


def test_pynetdicom_c_cancel_ends_the_query(peers: Peers) -> None:
    from pydicom.dataset import Dataset as PydicomDataset
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", peers.dicomkit.port, ae_title=AET)
    assert assoc.is_established
    identifier = PydicomDataset()
    identifier.PatientName = ""
    statuses = []
    try:
        responses = assoc.send_c_find(identifier, ModalityWorklistInformationFind, msg_id=7)
        for status, _answer in responses:
            statuses.append(status.Status if status else None)
            if len(statuses) == 1:
                assoc.send_c_cancel(7, query_model=ModalityWorklistInformationFind)
    finally:
        assoc.release()
    assert statuses[-1] in (0xFE00, 0x0000)  # a cancel may come after the last match
    assert len(statuses) <= len(ITEMS) + 1


def test_an_identifier_with_two_step_items_is_a900(peers: Peers) -> None:
    from pydicom.dataset import Dataset as PydicomDataset
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", peers.dicomkit.port, ae_title=AET)
    identifier = PydicomDataset()
    identifier.PatientName = ""
    first, second = PydicomDataset(), PydicomDataset()
    first.Modality, second.Modality = "CT", "MR"
    identifier.ScheduledProcedureStepSequence = [first, second]
    try:
        statuses = [s.Status for s, _ in assoc.send_c_find(
            identifier, ModalityWorklistInformationFind) if s]
    finally:
        assoc.release()
    assert statuses == [0xA900]


def test_dicomkit_find_worklist(peers: Peers) -> None:
    result = dicomkit_cli("find", "127.0.0.1", peers.dicomkit.port, "--aec", AET, "--worklist",
                          "-k", "PatientName", "-k", "AccessionNumber",
                          "-k", "ScheduledProcedureStepSequence[0].Modality=US",
                          "-k", "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
                          "--json")
    found = json.loads(result.stdout) if result.stdout.strip().startswith("[") else [
        json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert sorted(m["00080050"]["Value"][0] for m in found) == ["A06", "A10", "A16"]


def test_worklist_add_reports_the_file_and_attribute(peers: Peers, tmp_path: Path) -> None:
    server = peers.dicomkit
    location = ["--data", str(server.data)] + (["--index", server.index] if server.index
                                              else [])
    broken = item_dataset(ITEMS[0])
    del broken.ScheduledProcedureStepSequence[0].Modality
    path = tmp_path / "broken.json"
    path.write_text(to_json(broken), "utf-8")
    duplicate = tmp_path / "again.wl"
    write(item_dataset(ITEMS[1]), duplicate)
    result = dicomkit_cli("worklist", "add", path, duplicate, *location, check=False)
    assert result.returncode == 1
    assert f"{path}: " in result.stderr and "Modality (0008,0060)" in result.stderr
    assert f"{duplicate}: " in result.stderr and "scheduled already" in result.stderr
    listed = json.loads(dicomkit_cli("worklist", "ls", "--json", "--station", "US1",
                                     *location).stdout)
    assert sorted(e["item"]["00080050"]["Value"][0] for e in listed) == ["A06", "A10", "A16"]
    table = dicomkit_cli("worklist", "ls", "--date", "20261203", *location).stdout
    assert "A08" in table and "A11" in table and "A01" not in table


def test_worklist_status_and_rm_change_what_is_offered(peers: Peers, tmp_path: Path) -> None:
    server = peers.dicomkit
    location = ["--data", str(server.data)] + (["--index", server.index] if server.index
                                              else [])
    extra = item_dataset(Item("B01", "PB1", "Temp^Tom", (), "XR1", "CR", "20261207", "0800"))
    path = tmp_path / "extra.json"
    path.write_text(to_json(extra), "utf-8")
    dicomkit_cli("worklist", "add", path, *location)
    [entry] = json.loads(dicomkit_cli("worklist", "ls", "--json", "--station", "XR1",
                                      *location).stdout)
    step_query = query(step={"ScheduledStationAETitle": "XR1"})
    assert len(findscu(server.port, step_query, tmp_path / "before")) == 1
    dicomkit_cli("worklist", "status", entry["key"], "COMPLETED", *location)
    assert findscu(server.port, step_query, tmp_path / "completed") == []
    assert dicomkit_cli("worklist", "rm", entry["key"], *location).returncode == 0
    assert dicomkit_cli("worklist", "rm", entry["key"], *location, check=False).returncode == 1

