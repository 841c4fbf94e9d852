"""Storage Commitment Push Model (PS3.4 Annex J) of ``dicomkit serve``, with pynetdicom as the
SCU: the report on the same association (J.3.3), on a new association to the requestor's
``--peer`` with SCP/SCU Role Selection (requestor SCP role, PS3.7 D.3.3.4), the Failed SOP
Sequence with its Failure Reasons (PS3.3 C.14.1.1), a report owed across a SIGKILL, and
malformed requests answered with a status on an association that stays usable. Both index
back ends."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    MRImageStorage,
    StorageCommitmentPushModel,
)

from dicomkit.core.uid import generate_uid
from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.servers import Serve, ServeFactory, free_port

PUSH_INSTANCE = "1.2.840.10008.1.20.1.1"  # Storage Commitment Push Model SOP Instance
REPORT_WAIT = 60.0


@dataclass
class Stored:
    server: Serve
    peer_port: int
    files: list[Path]
    sops: list[str]

    @property
    def port(self) -> int:
        return self.server.port


def store(port: int, files: list[Path], calling: str = "MODALITY") -> None:
    ae = AE(ae_title=calling)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS")
    assert assoc.is_established
    try:
        for path in files:
            status = assoc.send_c_store(pydicom.dcmread(path))
            assert status and status.Status == 0
    finally:
        assoc.release()


@pytest.fixture(scope="module")
def archive(backend: Backend, module_serve: ServeFactory,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    source = tmp_path_factory.mktemp(f"commit-src-{backend.name}")
    files = synthetic_series(source, 6, PatientID="DK-COMMIT")
    data = tmp_path_factory.mktemp(f"commit-data-{backend.name}")
    peer_port = free_port()
    server = module_serve(data, index=backend.new_index(), peers={"MODALITY": peer_port})
    store(server.port, files)
    sops = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in files]
    yield Stored(server, peer_port, files, sops)
    assert server.stop() == 0, server.log_tail()


def request(transaction: str | None, refs: list[tuple[str, str]] | None) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    if transaction is not None:
        ds.TransactionUID = transaction
    if refs is not None:
        items = []
        for sop_class, sop in refs:
            item = pydicom.Dataset()
            item.ReferencedSOPClassUID = sop_class
            item.ReferencedSOPInstanceUID = sop
            items.append(item)
        ds.ReferencedSOPSequence = items
    return ds


class Reports:
    """N-EVENT-REPORTs received by a pynetdicom handler, as (event type, data set, AE)."""

    def __init__(self) -> None:
        self.got: queue.Queue[tuple[int, pydicom.Dataset, str]] = queue.Queue()

    def handle(self, event: Any) -> tuple[int, None]:
        self.got.put((int(event.event_type), event.event_information,
                      str(event.assoc.requestor.ae_title).strip()))
        return 0x0000, None

    def next(self, timeout: float = REPORT_WAIT) -> tuple[int, pydicom.Dataset, str]:
        try:
            return self.got.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no N-EVENT-REPORT within {timeout} s", pytrace=False)


def requestor(port: int, calling: str, reports: Reports | None = None) -> Any:
    ae = AE(ae_title=calling)
    ae.add_requested_context(StorageCommitmentPushModel)
    handlers = [(evt.EVT_N_EVENT_REPORT, reports.handle)] if reports is not None else []
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS", evt_handlers=handlers)
    assert assoc.is_established
    return assoc


def pairs(sequence: Any) -> list[tuple[str, str]]:
    return [(str(i.ReferencedSOPClassUID), str(i.ReferencedSOPInstanceUID))
            for i in sequence or []]


def test_same_association_event_1_with_every_instance(archive: Stored) -> None:
    reports = Reports()
    transaction = generate_uid()
    refs = [(CTImageStorage, sop) for sop in archive.sops[:3]]
    assoc = requestor(archive.port, "SAMEASSOC", reports)  # no --peer: only this way works
    try:
        status, _ = assoc.send_n_action(request(transaction, refs), 1,
                                        StorageCommitmentPushModel, PUSH_INSTANCE)
        assert status.Status == 0x0000
        event_type, info, _ = reports.next()
    finally:
        assoc.release()
    assert event_type == 1
    assert info.TransactionUID == transaction
    assert info.RetrieveAETitle == "PACS"
    assert pairs(info.ReferencedSOPSequence) == refs
    assert "FailedSOPSequence" not in info


def test_same_association_event_2_missing_file_unknown_uid_and_class_conflict(
        archive: Stored) -> None:
    gone = archive.sops[5]
    paths = list((archive.server.data / "files").rglob(f"{gone}.dcm"))
    assert len(paths) == 1
    paths[0].unlink()
    unknown = generate_uid()
    refs = [(CTImageStorage, archive.sops[0]), (CTImageStorage, gone),
            (CTImageStorage, unknown), (MRImageStorage, archive.sops[1])]
    reports = Reports()
    transaction = generate_uid()
    assoc = requestor(archive.port, "SAMEASSOC", reports)
    try:
        status, _ = assoc.send_n_action(request(transaction, refs), 1,
                                        StorageCommitmentPushModel, PUSH_INSTANCE)
        assert status.Status == 0x0000
        event_type, info, _ = reports.next()
    finally:
        assoc.release()
    assert event_type == 2
    assert info.TransactionUID == transaction
    assert pairs(info.ReferencedSOPSequence) == refs[:1]
    failed = {str(i.ReferencedSOPInstanceUID): int(i.FailureReason)
              for i in info.FailedSOPSequence}
    assert failed == {gone: 0x0110, unknown: 0x0112, archive.sops[1]: 0x0119}


def start_peer(port: int, reports: Reports, ae_title: str = "MODALITY") -> Any:
    """A pynetdicom AE that takes the report on a new association: it accepts the
    requestor's SCP role for the push model (and refuses its SCU role)."""
    ae = AE(ae_title=ae_title)
    ae.add_supported_context(StorageCommitmentPushModel, scu_role=False, scp_role=True)
    return ae.start_server(("127.0.0.1", port), block=False,
                           evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports.handle)])


def test_new_association_to_the_peer_named_by_the_calling_ae(archive: Stored) -> None:
    reports = Reports()
    peer = start_peer(archive.peer_port, reports)
    try:
        transaction = generate_uid()
        refs = [(CTImageStorage, sop) for sop in archive.sops[2:5]]
        assoc = requestor(archive.port, "MODALITY")  # no handler: answers 0110H if asked
        status, _ = assoc.send_n_action(request(transaction, refs), 1,
                                        StorageCommitmentPushModel, PUSH_INSTANCE)
        assoc.release()
        assert status.Status == 0x0000
        event_type, info, calling = reports.next()
    finally:
        peer.shutdown()
    assert calling == "PACS"
    assert event_type == 1 and info.TransactionUID == transaction
    assert pairs(info.ReferencedSOPSequence) == refs


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_malformed_requests_get_a_status_and_the_association_stays_usable(
        archive: Stored) -> None:
    reports = Reports()
    refs = [(CTImageStorage, archive.sops[0])]
    assoc = requestor(archive.port, "SAMEASSOC", reports)
    try:
        def action(ds: pydicom.Dataset, action_type: int = 1,
                   instance: str = PUSH_INSTANCE) -> int:
            status, _ = assoc.send_n_action(ds, action_type, StorageCommitmentPushModel,
                                            instance)
            return int(status.Status)

        assert action(request(None, refs)) == 0x0120  # no Transaction UID
        assert action(request(generate_uid(), [])) == 0x0121  # empty Referenced SOP Sequence
        assert action(request(generate_uid(), None)) == 0x0120
        assert action(request(generate_uid(), refs), action_type=2) == 0x0123
        assert action(request(generate_uid(), refs), instance="1.2.3.4") == 0x0112
        assert action(request("not a uid", refs)) == 0x0106
        transaction = generate_uid()
        assert action(request(transaction, refs)) == 0x0000
        event_type, info, _ = reports.next()
        assert event_type == 1 and info.TransactionUID == transaction
    finally:
        assoc.release()
    assert assoc.is_released


def test_a_report_owed_across_sigkill_is_delivered_after_restart(
        backend: Backend, serve: ServeFactory, tmp_path: Path) -> None:
    files = synthetic_series(tmp_path / "src", 2, PatientID="DK-COMMIT-2")
    data = tmp_path / "data"
    data.mkdir()
    index = backend.new_index()
    peer_port = free_port()
    server = serve(data, index=index, peers={"LATEMOD": peer_port})
    store(server.port, files)
    sops = [pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in files]
    transaction = generate_uid()
    assoc = requestor(server.port, "LATEMOD")
    status, _ = assoc.send_n_action(request(transaction, [(CTImageStorage, s) for s in sops]),
                                    1, StorageCommitmentPushModel, PUSH_INSTANCE)
    assoc.release()
    assert status.Status == 0x0000
    server.kill()  # the peer was never up: the report is owed
    again = serve(data, index=index, port=server.port, peers={"LATEMOD": peer_port})
    reports = Reports()
    peer = start_peer(peer_port, reports, "LATEMOD")
    try:
        event_type, info, _ = reports.next()
    finally:
        peer.shutdown()
    assert event_type == 1 and info.TransactionUID == transaction
    assert sorted(pairs(info.ReferencedSOPSequence)) == sorted(
        (CTImageStorage, s) for s in sops)
    assert again.stop() == 0, again.log_tail()


def test_peer_down_then_up_is_retried_without_restart(archive: Stored) -> None:
    """The report waits (retried with back-off) until the peer listens."""
    transaction = generate_uid()
    assoc = requestor(archive.port, "MODALITY")
    status, _ = assoc.send_n_action(request(transaction, [(CTImageStorage, archive.sops[0])]),
                                    1, StorageCommitmentPushModel, PUSH_INSTANCE)
    assoc.release()
    assert status.Status == 0x0000
    threading.Event().wait(3.0)  # the first attempt finds nobody listening
    reports = Reports()
    peer = start_peer(archive.peer_port, reports)
    try:
        event_type, info, _ = reports.next()
    finally:
        peer.shutdown()
    assert event_type == 1 and info.TransactionUID == transaction
