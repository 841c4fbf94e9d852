"""``dicomkit serve`` with pynetdicom (a test-time reference) as the peer.

pynetdicom as SCU: C-ECHO (PS3.7 §9.1.5), C-STORE (PS3.4 Annex B), C-FIND in both
information models (C.6.1, C.6.2), C-GET with SCP/SCU role selection (PS3.7 D.3.3.4) and
C-MOVE (C.4.2) to a pynetdicom Storage SCP running in a thread, configured with ``--peer``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pydicom
import pytest
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    MRImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from dicomkit.net.dimse import Status
from tests.support.databases import Backend
from tests.support.datasets import StudySet
from tests.support.servers import Serve, ServeFactory, free_port


@dataclass
class Archive:
    server: Serve
    dest_port: int
    study_set: StudySet
    store_statuses: dict[str, int] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.server.port


def associate(port: int, *contexts: str, **kwargs: Any) -> Any:
    ae = AE(ae_title="PYNETDICOM")
    for context in contexts:
        ae.add_requested_context(context)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS", **kwargs)
    assert assoc.is_established, "association with dicomkit serve not established"
    return assoc


@pytest.fixture(scope="module")
def archive(backend: Backend, module_serve: ServeFactory, study_set: StudySet,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """``dicomkit serve`` loaded with the study set by pynetdicom's C-STORE."""
    data = tmp_path_factory.mktemp(f"data-{backend.name}")
    dest_port = free_port()
    server = module_serve(data, index=backend.new_index(), peers={"DEST": dest_port})
    found = Archive(server, dest_port, study_set)
    assoc = associate(server.port, CTImageStorage, MRImageStorage)
    try:
        for instance in study_set.instances:
            status = assoc.send_c_store(pydicom.dcmread(instance.path))
            found.store_statuses[instance.sop] = int(status.Status) if status else -1
    finally:
        assoc.release()
    yield found
    assert server.stop() == 0, server.log_tail()


def query(level: str, **keys: Any) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def test_c_echo(archive: Archive) -> None:
    assoc = associate(archive.port, Verification)
    try:
        assert assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def test_c_store_success_and_the_file_keeps_every_element(archive: Archive) -> None:
    assert archive.store_statuses == {i.sop: 0x0000 for i in archive.study_set.instances}
    for instance in archive.study_set.instances:
        stored = pydicom.dcmread(archive.server.data / "files" / instance.study
                                 / instance.series / f"{instance.sop}.dcm")
        original = pydicom.dcmread(instance.path)
        assert stored.file_meta.MediaStorageSOPInstanceUID == instance.sop
        assert stored.file_meta.SourceApplicationEntityTitle.strip() == "PYNETDICOM"
        assert [e.tag for e in stored] == [e.tag for e in original]
        assert stored.PixelData == original.PixelData


def test_c_find_study_root_returns_the_requested_keys(archive: Archive) -> None:
    s = archive.study_set
    identifier = query("STUDY", StudyInstanceUID=s.synthetic_study, PatientName="Serve^*",
                       PatientID="", StudyDate="", ModalitiesInStudy="",
                       NumberOfStudyRelatedSeries="", NumberOfStudyRelatedInstances="")
    assoc = associate(archive.port, StudyRootQueryRetrieveInformationModelFind)
    try:
        responses = list(assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind))
    finally:
        assoc.release()
    statuses = [int(status.Status) for status, _ in responses]
    assert statuses == [0xFF00, 0x0000]
    match = responses[0][1]
    assert match.QueryRetrieveLevel == "STUDY"
    assert match.StudyInstanceUID == s.synthetic_study
    assert str(match.PatientName) == "Serve^Test"
    assert match.PatientID == "DK-SERVE-1"
    assert match.ModalitiesInStudy == "CT"
    assert match.NumberOfStudyRelatedSeries == 1
    assert match.NumberOfStudyRelatedInstances == 5


def test_c_find_patient_root_patient_level(archive: Archive) -> None:
    assoc = associate(archive.port, PatientRootQueryRetrieveInformationModelFind)
    try:
        responses = list(assoc.send_c_find(query("PATIENT", PatientID="", PatientName=""),
                                           PatientRootQueryRetrieveInformationModelFind))
    finally:
        assoc.release()
    found = {str(ds.PatientID) for status, ds in responses if status.Status == 0xFF00}
    assert found == {i.patient_id for i in archive.study_set.instances}
    assert responses[-1][0].Status == 0x0000


def test_c_get_with_role_selection(archive: Archive) -> None:
    s = archive.study_set
    received: dict[str, Any] = {}

    def on_store(event: Any) -> int:
        ds = event.dataset
        received[str(ds.SOPInstanceUID)] = ds
        return 0x0000

    assoc = associate(archive.port, StudyRootQueryRetrieveInformationModelGet, CTImageStorage,
                      ext_neg=[build_role(CTImageStorage, scp_role=True)],
                      evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        responses = list(assoc.send_c_get(query("STUDY", StudyInstanceUID=s.synthetic_study),
                                          StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
    final = responses[-1][0]
    assert final.Status == 0x0000
    assert final.NumberOfCompletedSuboperations == 5
    assert final.NumberOfFailedSuboperations == 0
    assert [int(r[0].Status) for r in responses[:-1]] == [0xFF00] * 4
    assert set(received) == s.sops_of(s.synthetic_study)
    for instance in s.instances:
        if instance.sop in received:
            assert received[instance.sop].PixelData == pydicom.dcmread(instance.path).PixelData


def test_c_get_without_scp_role_fails_the_sub_operations(archive: Archive) -> None:
    """PS3.4 C.4.3.1: without the SCP role for CT Image Storage negotiated, no C-STORE may be
    sent to the requestor; the sub-operations fail (not silently succeed)."""
    s = archive.study_set
    messages: list[str] = []

    def on_message(event: Any) -> None:
        messages.append(type(event.message).__name__)

    assoc = associate(archive.port, StudyRootQueryRetrieveInformationModelGet, CTImageStorage,
                      evt_handlers=[(evt.EVT_DIMSE_RECV, on_message)])
    try:
        responses = list(assoc.send_c_get(query("STUDY", StudyInstanceUID=s.synthetic_study),
                                          StudyRootQueryRetrieveInformationModelGet))
    finally:
        assoc.release()
    final = responses[-1][0]
    assert "C_STORE_RQ" not in messages, messages
    assert final.NumberOfFailedSuboperations == 5
    assert final.Status in (0xA702, 0xB000, 0xA900, 0xC000)


class StorageSCP:
    """pynetdicom's Storage SCP (AE DEST) in a thread, keeping what it receives."""

    def __init__(self, port: int) -> None:
        self.received: dict[str, Any] = {}
        self.move_originators: set[str] = set()
        self.lock = threading.Lock()
        ae = AE(ae_title="DEST")
        ae.supported_contexts = StoragePresentationContexts
        self.server = ae.start_server(("127.0.0.1", port), block=False,
                                      evt_handlers=[(evt.EVT_C_STORE, self.on_store)])

    def on_store(self, event: Any) -> int:
        with self.lock:
            ds = event.dataset
            self.received[str(ds.SOPInstanceUID)] = ds
            originator = event.request.MoveOriginatorApplicationEntityTitle
            if originator:
                self.move_originators.add(str(originator).strip())
        return 0x0000

    def shutdown(self) -> None:
        self.server.shutdown()


def test_c_move_to_a_pynetdicom_storage_scp(archive: Archive) -> None:
    s = archive.study_set
    scp = StorageSCP(archive.dest_port)
    try:
        assoc = associate(archive.port, StudyRootQueryRetrieveInformationModelMove)
        try:
            responses = list(assoc.send_c_move(
                query("STUDY", StudyInstanceUID=s.synthetic_study), "DEST",
                StudyRootQueryRetrieveInformationModelMove))
        finally:
            assoc.release()
    finally:
        scp.shutdown()
    final = responses[-1][0]
    assert final.Status == 0x0000, archive.server.log_tail()
    assert final.NumberOfCompletedSuboperations == 5
    pending = [r[0] for r in responses[:-1]]
    assert [int(p.NumberOfRemainingSuboperations) for p in pending] == [4, 3, 2, 1]
    assert set(scp.received) == s.sops_of(s.synthetic_study)
    assert scp.move_originators == {"PYNETDICOM"}


def test_c_move_to_an_unknown_destination_is_a801(archive: Archive) -> None:
    assoc = associate(archive.port, StudyRootQueryRetrieveInformationModelMove)
    try:
        responses = list(assoc.send_c_move(
            query("STUDY", StudyInstanceUID=archive.study_set.synthetic_study), "UNKNOWN",
            StudyRootQueryRetrieveInformationModelMove))
    finally:
        assoc.release()
    assert [int(r[0].Status) for r in responses] == [0xA801]


def test_c_move_to_a_peer_that_is_down_fails(archive: Archive) -> None:
    """DEST is configured but nothing listens: a failure status, and the server serves on."""
    assoc = associate(archive.port, StudyRootQueryRetrieveInformationModelMove)
    try:
        responses = list(assoc.send_c_move(
            query("STUDY", StudyInstanceUID=archive.study_set.synthetic_study), "DEST",
            StudyRootQueryRetrieveInformationModelMove))
    finally:
        assoc.release()
    assert Status.category(int(responses[-1][0].Status)) == "Failure"
    # A new association: pynetdicom 3.0 races its own reactor thread when a second request
    # follows a C-MOVE on the same association (the C-ECHO response is taken as a request).
    test_c_echo(archive)
