"""``dicomkit commit`` (Storage Commitment SCU, PS3.4 Annex J) run as a script would run it,
against a real ``dicomkit serve`` on both index back ends: the report on the same association
and on a new association to the command's own listener, failures, a timeout and bad files,
judged by exit status and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.servers import Serve, ServeFactory, free_port

SRC = str(Path(__file__).resolve().parents[2] / "src")


def dicomkit_cli(*args: Any, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    path = os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": SRC + (os.pathsep + path if path else "")}
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)


@dataclass
class Setup:
    server: Serve
    listen_port: int
    stored: list[Path]
    not_stored: Path


@pytest.fixture(scope="module")
def setup(backend: Backend, module_serve: ServeFactory,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    source = tmp_path_factory.mktemp(f"commit-cli-{backend.name}")
    stored = synthetic_series(source / "stored", 3, PatientID="DK-COMMIT-CLI")
    (not_stored,) = synthetic_series(source / "other", 1)
    data = tmp_path_factory.mktemp(f"commit-cli-data-{backend.name}")
    listen_port = free_port()
    server = module_serve(data, index=backend.new_index(), peers={"CLIMOD": listen_port})
    done = dicomkit_cli("store", "127.0.0.1", server.port, "--aec", "PACS", *stored)
    assert done.returncode == 0, done.stderr
    yield Setup(server, listen_port, stored, not_stored)
    assert server.stop() == 0, server.log_tail()


def test_same_association_all_committed(setup: Setup) -> None:
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        *setup.stored)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("SOP Instance UID")
    assert sum("committed" in line for line in lines[1:-1]) == 3
    assert lines[-1].endswith("3 of 3 committed")


def test_a_failed_instance_exits_1_and_json_names_the_reason(setup: Setup) -> None:
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS", "--json",
                        setup.stored[0], setup.not_stored)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["event_type"] == 2 and report["all_committed"] is False
    outcome = {Path(i["file"]).name: (i["committed"], i["failure_reason"])
               for i in report["instances"]}
    assert outcome == {setup.stored[0].name: (True, None),
                       setup.not_stored.name: (False, "0112")}


def test_new_association_to_our_listener(setup: Setup) -> None:
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        "--aet", "CLIMOD", "--port", setup.listen_port, "--bind", "127.0.0.1",
                        "--json", *setup.stored)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["event_type"] == 1
    assert all(i["committed"] for i in report["instances"])


def test_keep_open_with_a_listener_takes_the_report_on_the_same_association(
        setup: Setup) -> None:
    """NOBODY is no peer of the archive: the report can only come on the open association."""
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        "--aet", "NOBODY", "--port", free_port(), "--bind", "127.0.0.1",
                        "--keep-open", "--wait", "30", *setup.stored)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].endswith("3 of 3 committed")


def test_no_report_within_wait_exits_3(setup: Setup, backend: Backend, serve: ServeFactory,
                                      tmp_path: Path) -> None:
    """The archive knows no peer NOBODY and holds the same-association report back for 20 s
    (``--commitment-report-delay``): the command releases at once (``--port`` without
    ``--keep-open``), so no report can reach it within its 3 s wait."""
    slow = serve(tmp_path / "data", index=backend.new_index(),
                 args=["--commitment-report-delay", "20"])
    done = dicomkit_cli("commit", "127.0.0.1", slow.port, "--aec", "PACS",
                        "--aet", "NOBODY", "--port", free_port(), "--bind", "127.0.0.1",
                        "--wait", "3", setup.stored[0])
    assert done.returncode == 3
    assert "no report of transaction" in done.stderr


def test_a_file_that_is_not_dicom_is_a_usage_error_naming_it(setup: Setup,
                                                              tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not DICOM")
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        setup.stored[0], bad)
    assert done.returncode == 2
    assert "notes.txt" in done.stderr and "not a DICOM instance" in done.stderr


def test_a_refused_request_exits_1_with_the_status(setup: Setup) -> None:
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        "--transaction-uid", "1.2.3", setup.stored[0])
    assert done.returncode == 0, done.stderr  # a valid UID: accepted
    done = dicomkit_cli("commit", "127.0.0.1", setup.server.port, "--aec", "PACS",
                        "--transaction-uid", "1.02", setup.stored[0])
    assert done.returncode == 2 and "not a UID" in done.stderr


def test_against_a_pynetdicom_scp_reporting_on_a_new_association(tmp_path: Path) -> None:
    """pynetdicom as the Storage Commitment SCP: it answers the N-ACTION, then opens an
    association to our ``--port`` proposing SCU role 0 / SCP role 1 (J.3.3) and reports one
    committed and one failed instance (event type 2)."""
    import threading

    import pydicom
    from pynetdicom import AE, build_role, evt
    from pynetdicom.sop_class import StorageCommitmentPushModel

    files = synthetic_series(tmp_path, 2)
    sops = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
    listen_port = free_port()
    reported: list[int] = []

    def report(transaction: str) -> None:
        ae = AE(ae_title="PYSCP")
        ae.add_requested_context(StorageCommitmentPushModel)
        assoc = ae.associate("127.0.0.1", listen_port, ae_title="CLIMOD",
                             ext_neg=[build_role(StorageCommitmentPushModel, scu_role=False,
                                                 scp_role=True)])
        assert assoc.is_established
        info = pydicom.Dataset()
        info.TransactionUID = transaction
        ok, bad = pydicom.Dataset(), pydicom.Dataset()
        ok.ReferencedSOPClassUID, ok.ReferencedSOPInstanceUID = (sops[0].SOPClassUID,
                                                                 sops[0].SOPInstanceUID)
        bad.ReferencedSOPClassUID, bad.ReferencedSOPInstanceUID = (sops[1].SOPClassUID,
                                                                   sops[1].SOPInstanceUID)
        bad.FailureReason = 0x0112
        info.ReferencedSOPSequence = [ok]
        info.FailedSOPSequence = [bad]
        status, _ = assoc.send_n_event_report(info, 2, StorageCommitmentPushModel,
                                              "1.2.840.10008.1.20.1.1")
        reported.append(int(status.Status))
        assoc.release()

    def on_action(event: Any) -> tuple[int, None]:
        transaction = str(event.action_information.TransactionUID)
        threading.Timer(0.5, report, args=(transaction,)).start()
        return 0x0000, None

    scp = AE(ae_title="PYSCP")
    scp.add_supported_context(StorageCommitmentPushModel)
    server = scp.start_server(("127.0.0.1", 0), block=False,
                              evt_handlers=[(evt.EVT_N_ACTION, on_action)])
    try:
        done = dicomkit_cli("commit", "127.0.0.1", server.socket.getsockname()[1],
                            "--aec", "PYSCP", "--aet", "CLIMOD", "--port", listen_port,
                            "--bind", "127.0.0.1", "--json", "--wait", "30", *files)
    finally:
        server.shutdown()
    assert done.returncode == 1, done.stderr
    report_ = json.loads(done.stdout)
    assert report_["event_type"] == 2
    assert [(i["committed"], i["failure_reason"]) for i in report_["instances"]] == [
        (True, None), (False, "0112")]
    assert reported == [0]
