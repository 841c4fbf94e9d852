"""The RIS feed of a real ``dicomkit serve --hl7-port``, on SQLite and PostgreSQL, fed by
python-hl7's MLLP client (an HL7 sender from a library of its own) and checked by a pynetdicom
Modality Worklist C-FIND: NW creates an item the worklist offers, XO changes it, CA takes it
off, ADT^A08 renames the patient, ADT^A40 merges; malformed messages get AE/AR naming the
segment and field, and the listener keeps serving; UTF-8 and ISO IR 87 names arrive intact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hl7.client  # python-hl7 (binds hl7: hl7.parse, hl7.Message)
import pytest
from pydicom.dataset import Dataset as PydicomDataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from dicomkit.archive.index import ArchiveIndex
from dicomkit.archive.worklist import WorklistEntry, WorklistStore
from tests.support.databases import Backend
from tests.support.hl7 import adt_a08, adt_a40, omi, orm
from tests.support.servers import Serve, ServeFactory, free_port


@pytest.fixture(scope="module")
def feed(backend: Backend, module_serve: ServeFactory,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, int, str]]:
    data = tmp_path_factory.mktemp(f"hl7-{backend.name}")
    index = backend.new_index()
    hl7_port = free_port()
    server = module_serve(data, index=index, args=["--hl7-port", str(hl7_port),
                                                   "--hl7-station", "CT1", "--no-http"])
    url = index or str(Path(data) / "index.sqlite")
    yield server, hl7_port, url


def send(port: int, text: str | bytes, encoding: str = "utf-8") -> hl7.Message:
    with hl7.client.MLLPClient("127.0.0.1", port, encoding=encoding) as client:
        raw = client.send_message(text)
    body = raw.strip(b"\x0b\x1c\r\n").decode(encoding)
    return hl7.parse(body, encoding=encoding)


def msa(ack: hl7.Message) -> tuple[str, str]:
    segment = ack.segment("MSA")
    return str(segment[1]), str(segment[2])


def err(ack: hl7.Message) -> tuple[str, str]:
    """ERR-2 (location) and the code of ERR-3."""
    segment = ack.segment("ERR")
    return str(segment[2]), str(segment[3][0][0])


def worklist(port: int, **keys: Any) -> list[PydicomDataset]:
    identifier = PydicomDataset()
    identifier.PatientName = keys.pop("PatientName", "")
    identifier.PatientID = keys.pop("PatientID", "")
    identifier.AccessionNumber = keys.pop("AccessionNumber", "")
    identifier.StudyInstanceUID = ""
    identifier.RequestedProcedureID = ""
    if "SpecificCharacterSet" in keys:
        identifier.SpecificCharacterSet = keys.pop("SpecificCharacterSet")
    step = PydicomDataset()
    step.ScheduledStationAETitle = ""
    step.Modality = keys.pop("Modality", "")
    step.ScheduledProcedureStepStartDate = ""
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledProcedureStepID = ""
    identifier.ScheduledProcedureStepSequence = [step]
    assert not keys
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(ModalityWorklistInformationFind)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS")
    assert assoc.is_established
    try:
        found = [ds for status, ds in assoc.send_c_find(identifier,
                                                         ModalityWorklistInformationFind)
                 if status is not None and status.Status in (0xFF00, 0xFF01)]
    finally:
        assoc.release()
    return found


def entries(url: str, accession: str) -> list[WorklistEntry]:
    index = ArchiveIndex(url)
    try:
        return WorklistStore(index).entries(accession=accession)
    finally:
        index.close()


def test_orm_new_order_is_offered_by_the_worklist(feed: tuple[Serve, int, str]) -> None:
    server, port, _ = feed
    ack = send(port, orm(accession="NW1"))
    assert msa(ack) == ("AA", "MSG0001")
    [found] = worklist(server.port, AccessionNumber="NW1")
    assert found.PatientID == "PAT001" and str(found.PatientName) == "Doe^John^Q^Dr"
    step = found.ScheduledProcedureStepSequence[0]
    assert (step.ScheduledStationAETitle, step.Modality, step.ScheduledProcedureStepID) == (
        "CT1", "CT", "SPS001")
    assert step.ScheduledProcedureStepStartDate == "20261204"


def test_xo_updates_and_ca_cancels(feed: tuple[Serve, int, str]) -> None:
    server, port, url = feed
    assert msa(send(port, orm(accession="XO1")))[0] == "AA"
    assert msa(send(port, orm("XO", accession="XO1", modality="MR")))[0] == "AA"
    [found] = worklist(server.port, AccessionNumber="XO1")
    assert found.ScheduledProcedureStepSequence[0].Modality == "MR"
    assert msa(send(port, orm("CA", accession="XO1")))[0] == "AA"
    assert worklist(server.port, AccessionNumber="XO1") == []
    assert [e.status for e in entries(url, "XO1")] == ["CANCELLED"]


def test_omi_with_two_steps(feed: tuple[Serve, int, str]) -> None:
    server, port, _ = feed
    assert msa(send(port, omi(steps=2)))[0] == "AA"
    found = worklist(server.port, AccessionNumber="ACC002")
    assert sorted(f.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID
                  for f in found) == ["SPS001", "SPS002"]


def test_adt_a08_renames_and_a40_merges(feed: tuple[Serve, int, str]) -> None:
    server, port, _ = feed
    assert msa(send(port, orm(accession="ADT1", patient="PAT100^^^HOSP")))[0] == "AA"
    assert msa(send(port, adt_a08(patient="PAT100^^^HOSP", name="Doe^Jonathan")))[0] == "AA"
    [found] = worklist(server.port, AccessionNumber="ADT1")
    assert str(found.PatientName) == "Doe^Jonathan"
    assert msa(send(port, adt_a40(old="PAT100^^^HOSP", new="PAT200^^^HOSP")))[0] == "AA"
    [found] = worklist(server.port, AccessionNumber="ADT1")
    assert found.PatientID == "PAT200"


@pytest.mark.parametrize("text, code, location, error_code", [
    (orm(accession="BAD1", birth="19701345"), "AE", "PID^1^7^1", "102"),
    (orm(accession="BAD2", patient=""), "AE", "PID^1^3^1", "101"),
    (orm(accession="BAD3").replace("ORM^O01", "ORU^R01"), "AR", "MSH^1^9^1", "200"),
    (orm(accession="BAD4", version="2.9"), "AR", "MSH^1^12^1", "203"),
    (orm(accession="BAD5", modality=""), "AE", "OBR^1^24^1", "101"),
    (orm(accession="BAD6", start="20261304"), "AE", "ORC^1^7^1^4", "102"),
])
def test_malformed_messages_get_ae_or_ar_and_the_listener_keeps_serving(
        feed: tuple[Serve, int, str], text: str, code: str, location: str,
        error_code: str) -> None:
    server, port, _ = feed
    ack = send(port, text)
    assert msa(ack) == (code, "MSG0001")
    assert err(ack) == (location, error_code)
    after = send(port, orm(accession=f"AFTER{location[:3]}{error_code}", control_id="MSG9999"))
    assert msa(after) == ("AA", "MSG9999")


def test_oversized_and_garbage_frames(feed: tuple[Serve, int, str]) -> None:
    _, port, _ = feed
    with hl7.client.MLLPClient("127.0.0.1", port) as client:
        big = orm(accession="BIG1").encode() + b"NTE|1||" + b"x" * (2 << 20) + b"\r"
        answer = client.send(b"\x0b" + big + b"\x1c\r")
        while not answer.endswith(b"\x1c\r"):
            answer += client.socket.recv(4096)
        ack = hl7.parse(answer.strip(b"\x0b\x1c\r").decode())
        assert msa(ack) == ("AR", "MSG0001")
        ack = send(port, b"this is not HL7")
        assert msa(ack)[0] == "AR"
    assert msa(send(port, orm(accession="OK1")))[0] == "AA"


def test_utf8_and_iso_ir_87_names(feed: tuple[Serve, int, str]) -> None:
    server, port, _ = feed
    text = orm(accession="UTF1", charset="UNICODE UTF-8", name="Müller^Jürgen")
    assert msa(send(port, text))[0] == "AA"
    [found] = worklist(server.port, AccessionNumber="UTF1", SpecificCharacterSet="ISO_IR 192")
    assert str(found.PatientName) == "Müller^Jürgen"
    name = "Yamada^Tarou^^^^^L^A~山田^太郎^^^^^L^I~やまだ^たろう^^^^^L^P"
    text = orm(accession="JIS1", charset="ISO IR87", name=name)
    ack = send(port, text.encode("iso2022_jp"), encoding="iso2022_jp")
    assert msa(ack)[0] == "AA"
    [found] = worklist(server.port, AccessionNumber="JIS1",
                       SpecificCharacterSet=["", "ISO 2022 IR 87"])
    assert found.PatientName.ideographic == "山田^太郎"
    assert found.PatientName.phonetic == "やまだ^たろう"


def test_an_acknowledged_order_survives_sigkill(backend: Backend, serve: ServeFactory,
                                                tmp_path: Path) -> None:
    data, index, hl7_port = tmp_path / "data", backend.new_index(), free_port()
    args = ["--hl7-port", str(hl7_port), "--hl7-station", "CT1", "--no-http"]
    server = serve(data, index=index, args=args)
    assert msa(send(hl7_port, orm(accession="KILL1")))[0] == "AA"
    server.kill()
    restarted = serve(data, index=index, port=server.port, args=args)
    [found] = worklist(restarted.port, AccessionNumber="KILL1")
    assert found.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID == "SPS001"
    assert msa(send(hl7_port, orm("CA", accession="KILL1")))[0] == "AA"
