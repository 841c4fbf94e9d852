"""A modality's day against one ``dicomkit serve``, every step by a real peer (issue 12):

1. the RIS sends an order (OMI^O23, HL7 v2.5.1, UTF-8) over MLLP with python-hl7's client → AA;
2. DCMTK ``findscu -W`` and pynetdicom (Modality Worklist FIND) both find the step;
3. pynetdicom reports it in progress (MPPS N-CREATE, PS3.4 F.7) → the worklist step is STARTED;
4. the server is killed with SIGKILL and started again on the same data and index;
5. DCMTK ``storescu`` sends the images;
6. pynetdicom completes the step (MPPS N-SET COMPLETED, with the Performed Series Sequence);
7. pynetdicom requests Storage Commitment (N-ACTION) and keeps the association open: the
   N-EVENT-REPORT comes back on it, event type 1, every instance committed;
8. the worklist item shows COMPLETED (``dicomkit worklist ls --json``) and is no longer
   offered; ``dicomkit mpps ls --json`` shows the step COMPLETED.

On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from dicomkit.encoding.reader import read
from dicomkit.encoding.writer import write
from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.dcmtk import run_tool
from tests.support.hl7 import fields
from tests.support.mpps import create_attrs, to_pydicom
from tests.support.servers import Serve, ServeFactory, free_port, serve_env, wait_for_port

AET = "PACS"
STATION = "CT_DAY"
IMAGES = 5


def dicomkit_cli(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=serve_env(), timeout=120,
                          check=False)


def index_args(server: Serve) -> list[str]:
    return ["--data", str(server.data)] + (["--index", server.index] if server.index else [])


def order(today: str, study_uid: str) -> str:
    """An OMI^O23 as IHE RAD-4 (HL7 v2.5.1): the step in IPC, its start time in TQ1."""
    return "\r".join([
        "MSH|^~\\&|RIS|HOSP|PACS|HOSP|20261204070000||OMI^O23^OMI_O23|DAY0001|P|2.5.1"
        "||||||UNICODE UTF-8",
        "PID|1||DAYPAT01^^^HOSP^MR||Müller^Jürgen^^^Dr||19650412|M",
        "PV1|1|O|RAD^1^^HOSP|||||REF9^Welby^Marcus",
        "ORC|NW|PLCDAY^RIS|FILDAY^PACS||SC",
        f"TQ1|1||||||{today}083000||R",
        "OBR|1|PLCDAY^RIS|FILDAY^PACS|CTCHEST^CT Chest^LOCAL",
        f"IPC|ACCDAY1|RPDAY1|{study_uid}|SPSDAY1|CT|CHEST^Chest protocol^LOCAL|"
        f"CT ROOM|ROOM1|{STATION}",
    ]) + "\r"


def send_hl7(port: int, message: str) -> str:
    import hl7.client

    with hl7.client.MLLPClient("127.0.0.1", port, encoding="utf-8") as client:
        reply = client.send_message(message)  # the framed bytes received
    return bytes(reply).decode("utf-8").strip("\x0b\x1c\r")


def findscu_worklist(port: int, today: str, out: Path) -> list[Dataset]:
    identifier = Dataset()
    identifier.SpecificCharacterSet = "ISO_IR 192"
    for keyword in ("PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID",
                    "RequestedProcedureID"):
        identifier.set(keyword, None)
    step = Dataset()
    step.ScheduledStationAETitle = STATION
    step.ScheduledProcedureStepStartDate = today
    step.Modality = "CT"
    step.ScheduledProcedureStepID = None
    step.ScheduledProcedureStepStartTime = None
    identifier.ScheduledProcedureStepSequence = [step]
    out.mkdir(parents=True, exist_ok=True)
    query = out / "query.dcm"
    write(identifier, query)
    result = run_tool("findscu", "-v", "-W", "-aet", STATION, "-aec", AET, "-X", "-od", out,
                      "127.0.0.1", port, query, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Received Final Find Response (Success)" in output, \
        output[-3000:]
    return [read(str(p)) for p in sorted(out.glob("rsp*.dcm"))]


def pynetdicom_worklist(port: int, today: str) -> list[Any]:
    from pydicom.dataset import Dataset as PDataset
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    ae = AE(ae_title=STATION)
    ae.add_requested_context(ModalityWorklistInformationFind)
    query = PDataset()
    query.PatientName = ""
    query.AccessionNumber = ""
    query.StudyInstanceUID = ""
    query.RequestedProcedureID = ""
    step = PDataset()
    step.ScheduledStationAETitle = STATION
    step.ScheduledProcedureStepStartDate = today
    step.ScheduledProcedureStepID = ""
    query.ScheduledProcedureStepSequence = [step]
    assoc = ae.associate("127.0.0.1", port, ae_title=AET)
    assert assoc.is_established
    found = []
    try:
        for status, identifier in assoc.send_c_find(query, ModalityWorklistInformationFind):
            assert status is not None, "no C-FIND response"
            if status.Status in (0xFF00, 0xFF01):
                found.append(identifier)
            else:
                assert status.Status == 0, f"C-FIND status 0x{status.Status:04X}"
    finally:
        assoc.release()
    return found


def mpps_create(port: int, item: Any, today: str) -> str:
    """MPPS N-CREATE from the worklist answer (PS3.4 Table F.7.2-1, IHE RAD-6): the suite's
    complete attribute list with the step's keys and the patient the worklist gave."""
    from pydicom.uid import generate_uid as pgenerate_uid
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityPerformedProcedureStep

    attrs = create_attrs(
        accession=str(item.AccessionNumber), requested=str(item.RequestedProcedureID),
        sps=str(item.ScheduledProcedureStepSequence[0].ScheduledProcedureStepID),
        study=str(item.StudyInstanceUID), SpecificCharacterSet="ISO_IR 192",
        PatientName=str(item.PatientName), PatientID="DAYPAT01", PatientBirthDate="19650412",
        PatientSex="M", PerformedProcedureStepID="PPSDAY1", PerformedStationAETitle=STATION,
        PerformedStationName="CT ROOM", PerformedLocation="ROOM1",
        PerformedProcedureStepStartDate=today, PerformedProcedureStepStartTime="083500",
        PerformedProcedureStepDescription="CT CHEST")
    ds = to_pydicom(attrs)
    uid = pgenerate_uid()
    ae = AE(ae_title=STATION)
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", port, ae_title=AET)
    assert assoc.is_established
    try:
        status, _attrs = assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)
        assert status is not None and status.Status == 0, status
    finally:
        assoc.release()
    return str(uid)


def mpps_complete(port: int, uid: str, series_uid: str, images: list[Dataset],
                  today: str) -> None:
    from pydicom.dataset import Dataset as PDataset
    from pynetdicom import AE
    from pynetdicom.sop_class import ModalityPerformedProcedureStep

    series = PDataset()
    series.PerformingPhysicianName = ""
    series.ProtocolName = "CHEST"
    series.OperatorsName = ""
    series.SeriesInstanceUID = series_uid
    series.SeriesDescription = "AXIAL"
    series.RetrieveAETitle = AET
    refs = []
    for image in images:
        ref = PDataset()
        ref.ReferencedSOPClassUID = str(image.SOPClassUID)
        ref.ReferencedSOPInstanceUID = str(image.SOPInstanceUID)
        refs.append(ref)
    series.ReferencedImageSequence = refs
    series.ReferencedNonImageCompositeSOPInstanceSequence = []
    ds = PDataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate = today
    ds.PerformedProcedureStepEndTime = "084500"
    ds.PerformedSeriesSequence = [series]
    ae = AE(ae_title=STATION)
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", port, ae_title=AET)
    assert assoc.is_established
    try:
        status, _attrs = assoc.send_n_set(ds, ModalityPerformedProcedureStep, uid)
        assert status is not None and status.Status == 0, status
    finally:
        assoc.release()


def commit(port: int, images: list[Dataset]) -> Any:
    """Storage Commitment on one association kept open for the report: the N-EVENT-REPORT."""
    from pydicom.dataset import Dataset as PDataset
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import StorageCommitmentPushModel

    reports: list[Any] = []
    arrived = threading.Event()

    def on_report(event: Any) -> tuple[int, None]:
        reports.append((event.request.EventTypeID, event.event_information))
        arrived.set()
        return 0x0000, None  # pynetdicom's N-EVENT-REPORT handlers answer (status, reply)

    ae = AE(ae_title=STATION)
    ae.add_requested_context(StorageCommitmentPushModel)
    request = PDataset()
    request.TransactionUID = generate_uid()
    refs = []
    for image in images:
        ref = PDataset()
        ref.ReferencedSOPClassUID = str(image.SOPClassUID)
        ref.ReferencedSOPInstanceUID = str(image.SOPInstanceUID)
        refs.append(ref)
    request.ReferencedSOPSequence = refs
    assoc = ae.associate("127.0.0.1", port, ae_title=AET,
                         evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
    assert assoc.is_established
    try:
        status, _reply = assoc.send_n_action(
            request, 1, StorageCommitmentPushModel,
            registered("StorageCommitmentPushModelInstance"))
        assert status is not None and status.Status == 0, status
        assert arrived.wait(30), "no N-EVENT-REPORT on the open association"
    finally:
        if assoc.is_established:
            assoc.release()
    event_type, info = reports[0]
    assert str(info.TransactionUID) == request.TransactionUID
    return event_type, info


def worklist_rows(server: Serve) -> list[dict[str, Any]]:
    result = dicomkit_cli("worklist", "ls", "--json", *index_args(server))
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_a_modality_day(backend: Backend, serve: ServeFactory, tmp_path: Path,
                        dcmtk_net: dict[str, str]) -> None:
    today = dt.date.today().strftime("%Y%m%d")
    study_uid = generate_uid()
    hl7_port = free_port()
    data = tmp_path / "data"
    index = backend.new_index()
    args = ["--hl7-port", str(hl7_port), "--no-http"]
    server = serve(data, index=index, aet=AET, args=args)
    wait_for_port(hl7_port, server.proc)

    # 1. the order
    ack = send_hl7(hl7_port, order(today, study_uid))
    assert fields(ack, "MSA")[1] == "AA", ack

    # 2. the modality finds it, with DCMTK and with pynetdicom
    answers = findscu_worklist(server.port, today, tmp_path / "findscu")
    assert len(answers) == 1, answers
    found = answers[0]
    assert str(found.StudyInstanceUID) == study_uid
    assert str(found.AccessionNumber) == "ACCDAY1"
    assert str(found.PatientName.family_name) == "Müller"
    step = found.ScheduledProcedureStepSequence[0]
    assert str(step.ScheduledProcedureStepID) == "SPSDAY1"
    assert str(step.ScheduledStationAETitle) == STATION
    items = pynetdicom_worklist(server.port, today)
    assert [str(i.StudyInstanceUID) for i in items] == [study_uid]
    assert str(items[0].PatientName).startswith("Müller^Jürgen")

    # 3. MPPS IN PROGRESS: the step is started
    mpps_uid = mpps_create(server.port, items[0], today)
    [row] = [r for r in worklist_rows(server) if r["status"] != "CANCELLED"]
    assert row["status"] == "STARTED" and row["mpps_uid"] == mpps_uid, row

    # 4. the archive dies and comes back
    server.kill()
    server = serve(data, index=index, aet=AET, port=server.port, args=args)
    wait_for_port(hl7_port, server.proc)

    # 5. the images
    series_uid = generate_uid()
    images_dir = tmp_path / "images"
    paths = synthetic_series(images_dir, IMAGES, size=8, study=study_uid, series=series_uid,
                             PatientID="DAYPAT01", AccessionNumber="ACCDAY1")
    run_tool("storescu", "-aet", STATION, "-aec", AET, "127.0.0.1", server.port, "+sd",
             images_dir)
    images = [read(str(p), stop_before_pixels=True) for p in paths]

    # 6. MPPS COMPLETED
    mpps_complete(server.port, mpps_uid, series_uid, images, today)

    # 7. commitment: every instance committed, on the same association
    event_type, info = commit(server.port, images)
    assert event_type == 1, info
    committed = {str(r.ReferencedSOPInstanceUID) for r in info.ReferencedSOPSequence}
    assert committed == {str(i.SOPInstanceUID) for i in images}
    assert "FailedSOPSequence" not in info

    # 8. the worklist item is completed and no longer offered; the MPPS is completed
    [row] = worklist_rows(server)
    assert row["status"] == "COMPLETED" and row["mpps_uid"] == mpps_uid, row
    assert findscu_worklist(server.port, today, tmp_path / "after") == []
    result = dicomkit_cli("mpps", "ls", "--json", *index_args(server))
    assert result.returncode == 0, result.stderr
    [performed] = [m for m in json.loads(result.stdout) if m["sop_uid"] == mpps_uid]
    assert performed["status"] == "COMPLETED", performed
    assert server.stop() == 0, server.log_tail()
