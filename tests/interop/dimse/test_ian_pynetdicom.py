"""``dicomkit serve`` as an Instance Availability Notification SCU (PS3.4 Annex R), with
pynetdicom (a test-time reference) as the IAN SCP.

The archive runs with ``--ian-peer RIS --peer RIS=127.0.0.1:P --ian-stable 1``; studies are
stored with DCMTK's storescu. Checked: one N-CREATE per stable study naming every instance
(PS3.4 Table R.3.2-1), a second one when the study grows, and delivery to a peer that was down
when the study became stable, also across a SIGKILL of the archive. Both index back ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    InstanceAvailabilityNotification,
    ModalityPerformedProcedureStep,
)

from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.dcmtk import run_tool
from tests.support.mpps import create_attrs, to_pydicom
from tests.support.servers import Serve, ServeFactory, free_port

DEADLINE = 60.0  # seconds to wait for a notification that is owed


@dataclass
class Notification:
    sop_class: str
    sop_instance: str
    calling_ae: str
    dataset: Any

    @property
    def study(self) -> str:
        return str(self.dataset.StudyInstanceUID)

    def sops(self) -> set[str]:
        return {str(item.ReferencedSOPInstanceUID)
                for series in self.dataset.ReferencedSeriesSequence
                for item in series.ReferencedSOPSequence}


@dataclass
class IanSCP:
    """A pynetdicom AE accepting the IAN SOP Class as SCP on ``port``; every N-CREATE is kept."""

    port: int
    received: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: Any = None

    def on_n_create(self, event: Any) -> tuple[int, Any]:
        request = event.request
        dataset = event.attribute_list
        with self.lock:
            self.received.append(Notification(
                str(request.AffectedSOPClassUID), str(request.AffectedSOPInstanceUID),
                str(event.assoc.requestor.ae_title).strip(), dataset))
        return 0x0000, dataset

    def start(self) -> None:
        ae = AE(ae_title="RIS")
        ae.add_supported_context(InstanceAvailabilityNotification)
        self.server = ae.start_server(("127.0.0.1", self.port), block=False,
                                      evt_handlers=[(evt.EVT_N_CREATE, self.on_n_create)])

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None

    def for_study(self, study: str) -> list[Notification]:
        with self.lock:
            return [n for n in self.received if n.study == study]

    def wait_for(self, study: str, count: int, server: Serve) -> list[Notification]:
        """The notifications of ``study`` once there are ``count`` of them."""
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            found = self.for_study(study)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        pytest.fail(f"{count} notification(s) of study {study} expected, "
                    f"{len(self.for_study(study))} received\n{server.describe()}",
                    pytrace=False)


@pytest.fixture
def ris() -> Iterator[IanSCP]:
    scp = IanSCP(free_port())
    yield scp
    scp.stop()


def start_archive(serve: ServeFactory, backend: Backend, data: Path, ris_port: int,
                  index: str | None = None) -> Serve:
    return serve(data, index=index if index is not None else backend.new_index(),
                 peers={"RIS": ris_port},
                 args=["--no-http", "--no-fsync", "--ian-peer", "RIS", "--ian-stable", "1"])


def store(server: Serve, *paths: Path) -> None:
    result = run_tool("storescu", "-aec", "PACS", "127.0.0.1", server.port, *paths)
    assert result.returncode == 0, result.stdout + result.stderr


def wait_for_log(server: Serve, text: str) -> None:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if text in server.log():
            return
        time.sleep(0.1)
    pytest.fail(f"{text!r} not in the log\n{server.describe()}", pytrace=False)


def test_stable_study_is_notified_with_every_instance(
        backend: Backend, serve: ServeFactory, ris: IanSCP, tmp_path: Path,
        dcmtk_net: dict[str, str]) -> None:
    """PS3.4 R.3.2.1: one N-CREATE of the IAN SOP Class for the study, naming each instance
    ONLINE with our AE title as Retrieve AE Title; no MPPS known, so the Referenced Performed
    Procedure Step Sequence is present and empty (2/2)."""
    ris.start()
    server = start_archive(serve, backend, tmp_path / "data", ris.port)
    first = synthetic_series(tmp_path / "a", 3, study="1.2.826.0.1.3680043.10.1011.1")
    second = synthetic_series(tmp_path / "b", 2, study="1.2.826.0.1.3680043.10.1011.1")
    store(server, *first, *second)
    [notice] = ris.wait_for("1.2.826.0.1.3680043.10.1011.1", 1, server)
    assert notice.sop_class == "1.2.840.10008.5.1.4.33"
    assert notice.calling_ae == "PACS"
    assert notice.sop_instance
    ds = notice.dataset
    assert len(ds.ReferencedSeriesSequence) == 2
    assert notice.sops() == {p.stem for p in first + second}
    for series in ds.ReferencedSeriesSequence:
        for item in series.ReferencedSOPSequence:
            assert item.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
            assert item.InstanceAvailability == "ONLINE"
            assert item.RetrieveAETitle == "PACS"
    assert "ReferencedPerformedProcedureStepSequence" in ds
    assert len(ds.ReferencedPerformedProcedureStepSequence) == 0
    # Nothing beyond Table R.3.2-1 (R.3.2.1.2 forbids optional attributes).
    assert {e.keyword for e in ds} == {"ReferencedPerformedProcedureStepSequence",
                                       "StudyInstanceUID", "ReferencedSeriesSequence"}

    # A later instance makes the study owed again: a second notification names all six.
    late = synthetic_series(tmp_path / "c", 1, study="1.2.826.0.1.3680043.10.1011.1",
                            series=str(ds.ReferencedSeriesSequence[0].SeriesInstanceUID))
    store(server, *late)
    notices = ris.wait_for("1.2.826.0.1.3680043.10.1011.1", 2, server)
    assert notices[1].sops() == {p.stem for p in first + second + late}
    assert notices[1].sop_instance != notices[0].sop_instance
    # ... and no third one while nothing changes.
    time.sleep(3)
    assert len(ris.for_study("1.2.826.0.1.3680043.10.1011.1")) == 2
    assert server.stop() == 0, server.log_tail()


def test_peer_down_gets_the_notification_when_it_comes_up(
        backend: Backend, serve: ServeFactory, ris: IanSCP, tmp_path: Path,
        dcmtk_net: dict[str, str]) -> None:
    """The notification is owed while the peer is down (retried with back-off) and delivered
    once it listens; it survives a SIGKILL of the archive (kept in the index's outbox)."""
    data = tmp_path / "data"
    index = backend.new_index()
    server = start_archive(serve, backend, data, ris.port, index)
    paths = synthetic_series(tmp_path / "a", 2, study="1.2.826.0.1.3680043.10.1011.2")
    store(server, *paths)
    wait_for_log(server, "not delivered")
    server.kill()  # owed, not delivered: the index keeps it

    ris.start()
    server = start_archive(serve, backend, data, ris.port, index)
    [notice] = ris.wait_for("1.2.826.0.1.3680043.10.1011.2", 1, server)
    assert notice.sops() == {p.stem for p in paths}
    # The restarted archive did not owe it a second time.
    time.sleep(3)
    assert len(ris.for_study("1.2.826.0.1.3680043.10.1011.2")) == 1
    assert server.stop() == 0, server.log_tail()


def test_peer_down_then_up_without_restart(
        backend: Backend, serve: ServeFactory, ris: IanSCP, tmp_path: Path,
        dcmtk_net: dict[str, str]) -> None:
    server = start_archive(serve, backend, tmp_path / "data", ris.port)
    paths = synthetic_series(tmp_path / "a", 1, study="1.2.826.0.1.3680043.10.1011.3")
    store(server, *paths)
    wait_for_log(server, "not delivered")
    ris.start()
    [notice] = ris.wait_for("1.2.826.0.1.3680043.10.1011.3", 1, server)
    assert notice.sops() == {p.stem for p in paths}
    assert server.stop() == 0, server.log_tail()


def test_the_mpps_of_the_study_is_referenced(
        backend: Backend, serve: ServeFactory, ris: IanSCP, tmp_path: Path,
        dcmtk_net: dict[str, str]) -> None:
    """PS3.3 C.4.23: the Referenced Performed Procedure Step Sequence names the MPPS that
    produced the study (created by a pynetdicom MPPS SCU naming the study in its Scheduled
    Step Attributes Sequence)."""
    study = "1.2.826.0.1.3680043.10.1011.4"
    mpps_uid = "1.2.826.0.1.3680043.10.1011.4.99"
    ris.start()
    server = start_archive(serve, backend, tmp_path / "data", ris.port)
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="PACS")
    assert assoc.is_established
    try:
        status, _ = assoc.send_n_create(to_pydicom(create_attrs(study=study)),
                                        ModalityPerformedProcedureStep, mpps_uid)
        assert status is not None and int(status.Status) == 0x0000
    finally:
        assoc.release()
    paths = synthetic_series(tmp_path / "a", 2, study=study)
    store(server, *paths)
    [notice] = ris.wait_for(study, 1, server)
    [step] = notice.dataset.ReferencedPerformedProcedureStepSequence
    assert step.ReferencedSOPClassUID == "1.2.840.10008.3.1.2.3.3"
    assert step.ReferencedSOPInstanceUID == mpps_uid
    assert "PerformedWorkitemCodeSequence" in step
    assert len(step.PerformedWorkitemCodeSequence) == 0
    assert server.stop() == 0, server.log_tail()


def test_ian_peer_without_address_stops_serve(serve: ServeFactory, tmp_path: Path) -> None:
    server = serve(tmp_path / "data", args=["--no-http", "--ian-peer", "NOWHERE"], wait=False)
    assert server.proc.wait(30) != 0
    assert "IAN peer NOWHERE has no address" in server.log()
