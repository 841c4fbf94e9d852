"""``dicomkit echo | store | find | move | get | storescp`` run as scripts would run them: in a
subprocess, against real peers on 127.0.0.1 (DCMTK's storescp and dcmqrscp, and the
``dicomkit storescp`` command itself), judged by exit status and output."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import dicomkit
from dicomkit.cli.net import InstanceFile, Progress, store_contexts
from dicomkit.cli.net_query import get_contexts
from dicomkit.cli.query_keys import build_query, format_table, parse_key
from dicomkit.core.dataset import Dataset
from dicomkit.net.association import Association
from dicomkit.net.dimse import Message, Status
from dicomkit.net.service import ServiceHandler
from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS
from tests.support.certs import make_openssl_pki
from tests.support.datasets import pydicom_file
from tests.support.dimse import (
    ARCHIVE_FILES,
    HOST,
    ServerThread,
    by_instance,
    free_port,
    instance_uid,
    same_values,
    start_dcmqrscp,
    stop_process,
    tool,
    wait_for_port,
)

pytestmark = pytest.mark.dcmtk

SRC = str(Path(__file__).resolve().parents[2] / "src")
COMMANDS = ("echo", "store", "find", "move", "get", "storescp")


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": SRC + (os.pathsep + path if path else "")}


def dicomkit_cli(*args: Any, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=_env(), timeout=timeout,
                          check=False)


class StoreSCP:
    """``dicomkit storescp --port 0`` in a subprocess; the port is read from its stderr."""

    def __init__(self, folder: Path, *options: Any) -> None:
        self.out = folder / "received"
        self.log = folder / "storescp.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dicomkit.cli.main", "storescp", "--port", "0",
                 "--out", str(self.out), *map(str, options)],
                stdout=subprocess.DEVNULL, stderr=log, text=True, env=_env())
        self.port = self._announced_port()

    def _announced_port(self) -> int:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = re.search(r"listening on [\d.]+:(\d+)", self.log.read_text())
            if found:
                return int(found[1])
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.process.kill()
        raise RuntimeError(f"dicomkit storescp did not start:\n{self.log.read_text()}")

    def terminate(self) -> int:
        """SIGTERM, by PID; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[StoreSCP]:
    server = StoreSCP(tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def qr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, StoreSCP]]:
    """dcmqrscp with pydicom's files, and a ``dicomkit storescp`` (AE DKSTORE) it moves to."""
    folder = tmp_path_factory.mktemp("qr")
    target = StoreSCP(folder, "--aet", "DKSTORE")
    process, port = start_dcmqrscp(folder, [pydicom_file(n) for n in ARCHIVE_FILES],
                                   {"DKSTORE": target.port})
    yield port, target
    stop_process(process)
    target.stop()


# -- help and usage ----------------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_examples(command: str) -> None:
    result = dicomkit_cli(command, "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and f"dicomkit {command} " in result.stdout
    assert "exit status" in result.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert dicomkit_cli("echo", HOST).returncode == 2  # no port
    assert dicomkit_cli("find", HOST, "104", "-k", "NoSuchKeyword=1").returncode == 2
    folder = tmp_path / "folder"
    folder.mkdir()
    result = dicomkit_cli("store", HOST, "104", folder)
    assert result.returncode == 2
    assert "use -r" in result.stderr
    assert dicomkit_cli("echo", HOST, "104", "--ca", "ca.pem").returncode == 2  # no --tls
    assert dicomkit_cli("echo", HOST, "104", "--aet", "A" * 17).returncode == 2


# -- echo --------------------------------------------------------------------------------------
def test_echo_to_dcmtk_storescp_exits_0(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([tool("storescp"), "-aet", "STORESCP", "-od", str(tmp_path),
                                str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        result = dicomkit_cli("echo", HOST, port, "--aec", "STORESCP", "-v")
    finally:
        stop_process(process)
    assert result.returncode == 0, result.stderr
    assert "status 0x0000 (Success)" in result.stdout
    assert "I: association accepted" in result.stderr  # -v: the association and DIMSE log
    assert "C-ECHO-RSP" in result.stderr


def test_echo_to_closed_port_exits_1_with_a_clear_message() -> None:
    port = free_port()  # nobody listens there
    result = dicomkit_cli("echo", HOST, port, "--timeout", "5")
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"dicomkit echo: error: cannot connect to {HOST}:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_echo_rejected_exits_1(tmp_path: Path) -> None:
    server = StoreSCP(tmp_path, "--aet", "DKSTORE")
    try:
        result = dicomkit_cli("echo", HOST, server.port)  # called AE ANY-SCP
    finally:
        server.stop()
    assert result.returncode == 1
    assert "association rejected" in result.stderr
    assert "called-AE-title-not-recognized" in result.stderr


def test_echo_over_tls_to_our_storescp(tmp_path: Path) -> None:
    pki = make_openssl_pki(tmp_path / "pki")
    server = StoreSCP(tmp_path, "--tls", "--cert", pki["server.pem"], "--key",
                      pki["server.key"], "--ca", pki["ca.pem"])
    try:
        mutual = dicomkit_cli("echo", HOST, server.port, "--tls", "--ca", pki["ca.pem"],
                              "--cert", pki["client.pem"], "--key", pki["client.key"])
        no_client_cert = dicomkit_cli("echo", HOST, server.port, "--tls", "--ca",
                                      pki["ca.pem"], "--timeout", "5")
        unverified = dicomkit_cli("echo", HOST, server.port, "--tls", "--timeout", "5",
                                  "--cert", pki["client.pem"], "--key", pki["client.key"])
    finally:
        server.stop()
    assert mutual.returncode == 0, mutual.stderr
    assert no_client_cert.returncode == 1  # the server requires a client certificate
    assert unverified.returncode == 1  # the server's CA is not in the system store
    assert "TLS" in unverified.stderr or "certificate" in unverified.stderr


# -- store and storescp ------------------------------------------------------------------------
def test_store_folder_recursively_to_our_storescp(storescp: StoreSCP, tmp_path: Path) -> None:
    source = tmp_path / "study"
    (source / "sub").mkdir(parents=True)
    files = [pydicom_file(n) for n in ARCHIVE_FILES + ["SC_rgb_jpeg_dcmtk.dcm"]]
    for number, path in enumerate(files):
        shutil.copy(path, (source / "sub" if number % 2 else source) / path.name)
    (source / "notes.txt").write_text("not DICOM\n")

    result = dicomkit_cli("store", HOST, storescp.port, "-r", source)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"{len(files)} sent, 0 failed"
    assert "skipping" in result.stderr and "notes.txt" in result.stderr

    assert storescp.terminate() == 0  # SIGTERM: a clean shutdown
    log = storescp.log.read_text()
    assert "stopped after 1 association(s)" in log and "Traceback" not in log
    stored = by_instance(storescp.out)
    assert set(stored) == {instance_uid(f) for f in files}
    for original in files:
        assert same_values(original, stored[instance_uid(original)]) == []


def test_store_to_a_refusing_peer_exits_1(tmp_path: Path) -> None:
    server = StoreSCP(tmp_path, "--accept", "SOMEONE-ELSE")
    try:
        result = dicomkit_cli("store", HOST, server.port, pydicom_file("CT_small.dcm"))
    finally:
        server.stop()
    assert result.returncode == 1
    assert "calling-AE-title-not-recognized" in result.stderr
    assert result.stdout.splitlines()[-1] == "0 sent, 1 failed"


def test_store_quiet_prints_nothing_on_success(storescp: StoreSCP) -> None:
    result = dicomkit_cli("store", HOST, storescp.port, "-q", pydicom_file("CT_small.dcm"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


# -- find, move and get against dcmqrscp ------------------------------------------------------
def test_find_json_against_dcmqrscp(qr: tuple[int, StoreSCP]) -> None:
    port, _target = qr
    result = dicomkit_cli("find", HOST, port, "--aec", "QRSCP", "-k", "PatientName=Compressed*",
                          "-k", "PatientID", "-k", "StudyInstanceUID", "--json")
    assert result.returncode == 0, result.stderr
    matches = json.loads(result.stdout)
    assert sorted(m["00100020"]["Value"][0] for m in matches) == ["1CT1", "4MR1"]
    assert all(m["00080052"]["Value"] == ["STUDY"] for m in matches)
    assert all(m["00100010"]["vr"] == "PN" for m in matches)


def test_find_table_against_dcmqrscp(qr: tuple[int, StoreSCP]) -> None:
    port, _target = qr
    mr = dicomkit.read(str(pydicom_file("MR_small.dcm")), stop_before_pixels=True)
    result = dicomkit_cli("find", HOST, port, "--aec", "QRSCP", "-k",
                          "QueryRetrieveLevel=SERIES", "-k", f"(0020,000D)={mr.StudyInstanceUID}",
                          "-k", "SeriesInstanceUID", "-k", "Modality")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["QueryRetrieveLevel", "StudyInstanceUID", "SeriesInstanceUID",
                                "Modality"]
    assert lines[2].split() == ["SERIES", str(mr.StudyInstanceUID), str(mr.SeriesInstanceUID),
                                "MR"]


def test_find_patient_root_against_dcmqrscp(qr: tuple[int, StoreSCP]) -> None:
    port, _target = qr
    result = dicomkit_cli("find", HOST, port, "--aec", "QRSCP", "--patient", "-k",
                          "PatientID=id*", "-k", "PatientName")
    assert result.returncode == 0, result.stderr
    assert sorted(line.split()[0] for line in result.stdout.splitlines()[2:]) == \
        ["id00001", "id11111"]


def test_find_failure_status_exits_1(qr: tuple[int, StoreSCP]) -> None:
    """dcmqrscp refuses an IMAGE level study root query without the study and series keys
    (PS3.4 C.4.1.2.1 hierarchical search) with a failure status."""
    port, _target = qr
    result = dicomkit_cli("find", HOST, port, "--aec", "QRSCP", "-k",
                          "QueryRetrieveLevel=IMAGE", "-k", "PatientID=*", "-k", "SOPInstanceUID")
    assert result.returncode == 1
    assert re.search(r"C-FIND ended with status 0x[A-C][0-9A-F]{3} \(Failure\)", result.stderr)


def test_move_against_dcmqrscp_to_our_storescp(qr: tuple[int, StoreSCP]) -> None:
    port, target = qr
    ct = pydicom_file("CT_small.dcm")
    study = dicomkit.read(str(ct), stop_before_pixels=True).StudyInstanceUID
    result = dicomkit_cli("move", HOST, port, "--aec", "QRSCP", "--dest", "DKSTORE",
                          "-k", f"StudyInstanceUID={study}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("C-MOVE: 1 completed, 0 failed, 0 warning")
    assert same_values(ct, by_instance(target.out)[instance_uid(ct)]) == []


def test_move_to_unknown_destination_exits_1(qr: tuple[int, StoreSCP]) -> None:
    port, _target = qr
    result = dicomkit_cli("move", HOST, port, "--aec", "QRSCP", "--dest", "NOBODY",
                          "-k", "PatientID=1CT1")
    assert result.returncode == 1
    assert "status 0xA801" in result.stderr


def test_get_against_dcmqrscp(qr: tuple[int, StoreSCP], tmp_path: Path) -> None:
    port, _target = qr
    out = tmp_path / "got"
    result = dicomkit_cli("get", HOST, port, "--aec", "QRSCP", "--patient",
                          "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=id*",
                          "--out", out)
    assert result.returncode == 0, result.stderr
    assert "2 file(s) stored" in result.stdout
    assert "C-GET: 2 completed, 0 failed" in result.stdout
    expected = [pydicom_file("rtplan.dcm"), pydicom_file("rtdose.dcm")]
    stored = by_instance(out)
    assert set(stored) == {instance_uid(f) for f in expected}
    for original in expected:
        assert same_values(original, stored[instance_uid(original)]) == []
    assert not list(out.glob(".incoming-*"))


# -- worklist queries with sequence keys -----------------------------------------------------
class WorklistHandler(ServiceHandler):
    """A one-entry Modality Worklist (PS3.4 Annex K) that remembers the identifier it got."""

    def __init__(self) -> None:
        self.identifiers: list[Dataset] = []

    def abstract_syntaxes(self) -> dict[str, Any]:
        return {MODELS["worklist"]["find"]: UNCOMPRESSED_TS}

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[tuple[int, Dataset | None]]:
        self.identifiers.append(identifier)
        step = Dataset()
        step.Modality = "CT"
        step.ScheduledStationAETitle = "CT01"
        answer = Dataset()
        answer.PatientName = "Doe^Jane"
        answer.ScheduledProcedureStepSequence = [step]
        yield Status.PENDING, answer


def test_find_worklist_with_a_sequence_key() -> None:
    handler = WorklistHandler()
    with ServerThread(handler=handler, ae_title="DKWL") as server:
        result = dicomkit_cli("find", HOST, server.port, "--aec", "DKWL", "--worklist",
                              "-k", "ScheduledProcedureStepSequence[0].Modality=CT",
                              "-k", "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
                              "-k", "PatientName")
    assert result.returncode == 0, result.stderr
    [identifier] = handler.identifiers
    [step] = identifier.ScheduledProcedureStepSequence
    assert step.Modality == "CT"
    assert "ScheduledStationAETitle" in step and not step.ScheduledStationAETitle  # return key
    assert "QueryRetrieveLevel" not in identifier  # not part of the worklist model
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ScheduledProcedureStepSequence[0].Modality",
                                "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
                                "PatientName"]
    assert lines[2].split() == ["CT", "CT01", "Doe^Jane"]


# -- the pieces, without a network -----------------------------------------------------------
def test_parse_key_forms() -> None:
    assert parse_key("PatientName=Doe*") == ([(0x00100010, 0)], "Doe*")
    assert parse_key("(0010,0020)=X") == ([(0x00100020, 0)], "X")
    assert parse_key("0010,0020") == ([(0x00100020, 0)], None)
    assert parse_key("StudyDate=20200101-") == ([(0x00080020, 0)], "20200101-")
    assert parse_key("ScheduledProcedureStepSequence[1].Modality=MR") == (
        [(0x00400100, 1), (0x00080060, 0)], "MR")


def test_build_query_types_values_by_vr() -> None:
    query, columns = build_query(["PatientName=Doe*", "Rows=512", "StudyInstanceUID",
                                  "ReferencedStudySequence"])
    assert str(query.PatientName) == "Doe*"
    assert query.Rows == 512  # US: a number on the wire
    assert query["StudyInstanceUID"].value in (None, "")  # a return key
    assert list(query.ReferencedStudySequence) == []
    assert len(columns) == 4


def test_non_ascii_query_values_get_a_character_set() -> None:
    query, _columns = build_query(["PatientName=Müller*"])
    assert query.SpecificCharacterSet == "ISO_IR 192"


def test_table_has_a_column_per_key() -> None:
    match = Dataset()
    match.PatientID = "42"
    match.PatientName = "Doe^John"
    _query, columns = build_query(["PatientName", "PatientID"])
    assert format_table([match], columns).splitlines() == [
        "PatientName  PatientID", "-----------  ---------", "Doe^John     42"]


def test_progress_bar_draws_in_place() -> None:
    import io

    stream = io.StringIO()
    progress = Progress(4, True, stream)
    progress.show(1, "a.dcm")
    progress.clear()
    assert stream.getvalue() == "\r\x1b[K[######..................] 1/4 a.dcm\r\x1b[K"
    silent = io.StringIO()
    Progress(4, False, silent).show(2)
    assert silent.getvalue() == ""


def test_store_contexts_stay_within_128_per_association() -> None:
    """Per SOP class: the file's own compressed syntax, and the native ones; 70 classes with a
    compressed file each need 140 contexts, so two associations (PS3.8 §9.3.2.2)."""
    jpeg = dicomkit.uid.uid_for_keyword("JPEGBaseline8Bit")
    files = [InstanceFile(f"{n}.dcm", f"1.2.3.{n}", f"1.2.3.{n}.1", jpeg) for n in range(70)]
    files.append(InstanceFile("x.dcm", "1.2.3.0", "1.2.3.0.2", UNCOMPRESSED_TS[1]))
    batches = store_contexts(files)
    assert [len(b) for b in batches] == [128, 12]
    assert batches[0][:2] == [("1.2.3.0", [jpeg]), ("1.2.3.0", UNCOMPRESSED_TS[:2])]


def test_get_contexts_offer_the_scp_role_for_each_storage_class() -> None:
    contexts, classes = get_contexts(["1.2.3.4.5"])
    assert len(contexts) + 1 <= 128  # and the C-GET model's own context
    assert classes[0] == "1.2.3.4.5"
    assert {abstract for abstract, _ts in contexts} == set(classes)
    ct = dicomkit.uid.uid_for_keyword("CTImageStorage")
    assert (ct, UNCOMPRESSED_TS[:2]) in contexts
