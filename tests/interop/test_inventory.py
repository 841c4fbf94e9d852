"""Supplement 223 end to end: a pynetdicom SCU runs Repository Query (PS3.4 C.6.4) and
Inventory Creation (KK.2: N-ACTION Initiate, status by N-GET and by N-ACTION Request Status)
against a real ``dicomkit serve``, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset as PydicomDataset
from pynetdicom import AE
from pynetdicom.sop_class import InventoryCreation, RepositoryQuery

from dicomkit import read
from dicomkit.archive.store import Archive
from dicomkit.core.dataset import Dataset
from dicomkit.core.uid import generate_uid, registered
from tests.support.databases import Backend
from tests.support.datasets import make_instance, write_instance
from tests.support.inventory import assert_inventory_valid
from tests.support.servers import Serve, ServeFactory

STORAGE_MANAGEMENT = registered("StorageManagementInstance")
STUDIES = 3
SERIES_PER_STUDY = 2
INSTANCES_PER_SERIES = 2


@pytest.fixture(scope="module")
def archive_server(backend: Backend, module_serve: ServeFactory,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, list[
                       Dataset]]]:
    data = tmp_path_factory.mktemp(f"inventory-{backend.name}")
    index = backend.new_index()
    made = []
    archive = Archive(str(data), index, fsync=False)
    try:
        for number in range(STUDIES):
            study = generate_uid()
            for _ in range(SERIES_PER_STUDY):
                series = generate_uid()
                for instance in range(INSTANCES_PER_SERIES):
                    ds = make_instance(patient_id=f"INV-{number}", study_uid=study,
                                       series_uid=series, number=instance + 1)
                    archive.import_file(str(write_instance(ds, data / "incoming")))
                    made.append(ds)
    finally:
        archive.close()
    yield module_serve(data, index=index), made


def associate(port: int, context: str) -> Any:
    ae = AE(ae_title="SCU")
    ae.add_requested_context(context)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS")
    assert assoc.is_established
    return assoc


def repository_query(port: int, **keys: Any) -> tuple[list[PydicomDataset], int]:
    """The matches and the final status; a B001 (response limit) before the final Success
    is reported as the status (pynetdicom yields both, PS3.4 C.6.4)."""
    query = PydicomDataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    assoc = associate(port, RepositoryQuery)
    found, final = [], -1
    try:
        for status, identifier in assoc.send_c_find(query, RepositoryQuery):
            if status.Status in (0xFF00, 0xFF01):
                found.append(identifier)
            elif final != 0xB001:
                final = status.Status
    finally:
        assoc.release()
    return found, final


def test_repository_query_at_each_level_returns_record_keys_in_order(
        archive_server: tuple[Serve, list[Dataset]]) -> None:
    server, made = archive_server
    for level, count in (("STUDY", STUDIES), ("SERIES", STUDIES * SERIES_PER_STUDY),
                         ("IMAGE", len(made))):
        found, final = repository_query(server.port, QueryRetrieveLevel=level,
                                        StudyInstanceUID="", RecordKey=b"",
                                        InstanceAvailability="")
        assert final == 0x0000
        assert len(found) == count
        keys = [bytes(f.RecordKey) for f in found]
        assert keys == sorted(keys) and len(set(keys)) == count
        assert {f.InstanceAvailability for f in found} == {"ONLINE"}


def test_repository_query_returns_storage_attributes_of_instances(
        archive_server: tuple[Serve, list[Dataset]]) -> None:
    server, made = archive_server
    found, final = repository_query(
        server.port, QueryRetrieveLevel="IMAGE", PatientID="INV-1", SOPInstanceUID="",
        FileAccessURI="", StoredInstanceTransferSyntaxUID="", RemovedFromOperationalUse="",
        RetrieveAETitle="")
    assert final == 0x0000 and len(found) == SERIES_PER_STUDY * INSTANCES_PER_SERIES
    expected = {str(m.SOPInstanceUID) for m in made if m.PatientID == "INV-1"}
    assert {f.SOPInstanceUID for f in found} == expected
    for f in found:
        assert f.FileAccessURI.startswith("file:///")
        assert read(f.FileAccessURI[len("file://"):]).SOPInstanceUID == f.SOPInstanceUID
        assert f.StoredInstanceTransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert f.RemovedFromOperationalUse == "N" and f.RetrieveAETitle == "PACS"


def test_repository_query_limit_then_resume_from_prior_record_key(
        archive_server: tuple[Serve, list[Dataset]]) -> None:
    server, made = archive_server
    first, final = repository_query(server.port, QueryRetrieveLevel="IMAGE",
                                    SOPInstanceUID="", RecordKey=b"", MaximumNumberOfRecords=5)
    assert final == 0xB001 and len(first) == 5
    rest, final = repository_query(server.port, QueryRetrieveLevel="IMAGE",
                                   SOPInstanceUID="", RecordKey=b"",
                                   PriorRecordKey=bytes(first[-1].RecordKey))
    assert final == 0x0000
    assert {f.SOPInstanceUID for f in first + rest} == {str(m.SOPInstanceUID) for m in made}
    _, final = repository_query(server.port, QueryRetrieveLevel="IMAGE", SOPInstanceUID="",
                                PriorRecordKey=b"bad")
    assert final == 0xA710


def creation(port: int, action: int, data: PydicomDataset) -> tuple[int, Any]:
    assoc = associate(port, InventoryCreation)
    try:
        status, reply = assoc.send_n_action(data, action, InventoryCreation, STORAGE_MANAGEMENT)
    finally:
        assoc.release()
    return status.Status, reply


def poll(port: int, transaction: str) -> PydicomDataset:
    deadline = time.monotonic() + 60
    while True:
        assoc = associate(port, InventoryCreation)
        try:
            status, reply = assoc.send_n_get([0x00080417, 0x00081155], InventoryCreation,
                                             transaction)
        finally:
            assoc.release()
        assert status.Status == 0x0000
        if reply.TransactionStatus not in ("PROCESSING", "PAUSED"):
            return reply
        assert time.monotonic() < deadline, "inventory production did not end"
        time.sleep(0.2)


@pytest.mark.parametrize("level", ["STUDY", "INSTANCE"])
def test_inventory_creation_initiate_then_poll_until_complete(
        archive_server: tuple[Serve, list[Dataset]], level: str) -> None:
    server, made = archive_server
    transaction = generate_uid()
    request = PydicomDataset()
    request.TransactionUID = transaction
    request.InventoryLevel = level
    request.InventoryPurpose = "migration check"
    request.ScopeOfInventorySequence = []
    status, _ = creation(server.port, 11, request)
    assert status == 0x0000
    reply = poll(server.port, transaction)
    assert reply.TransactionStatus == "COMPLETE"
    root = Path(server.data) / "inventories" / transaction / f"{reply.ReferencedSOPInstanceUID}.dcm"
    assert_inventory_valid(root)
    ds = read(root)
    assert ds.TransactionUID == transaction and ds.TotalNumberOfStudyRecords == STUDIES
    if level == "INSTANCE":
        uids = {str(i.SOPInstanceUID) for s in ds.InventoriedStudiesSequence
                for se in s.InventoriedSeriesSequence for i in se.InventoriedInstancesSequence}
        assert uids == {str(m.SOPInstanceUID) for m in made}
    # Request Status (12) answers with the same status in its Action Reply
    ask = PydicomDataset()
    ask.TransactionUID = transaction
    status, reply = creation(server.port, 12, ask)
    assert status == 0x0000 and reply.TransactionStatus == "COMPLETE"
    # a terminal state stays (KK.2.1.1): Cancel after COMPLETE changes nothing
    ask.RetainInstances = "Y"
    status, reply = creation(server.port, 13, ask)
    assert status == 0x0000 and reply.TransactionStatus == "COMPLETE"


def test_inventory_creation_refuses_bad_requests(
        archive_server: tuple[Serve, list[Dataset]]) -> None:
    server, _ = archive_server
    request = PydicomDataset()
    request.TransactionUID = generate_uid()
    request.InventoryLevel = "PATIENT"
    assert creation(server.port, 11, request)[0] == 0x0212  # Mistyped argument (KK.2.2.3)
    request.InventoryLevel = "STUDY"
    scope = PydicomDataset()
    scope.Modality = "CT"  # a series key cannot select studies
    request.ScopeOfInventorySequence = [scope]
    assert creation(server.port, 11, request)[0] == 0x0212
    request.ScopeOfInventorySequence = []
    assert creation(server.port, 11, request)[0] == 0x0000
    assert creation(server.port, 11, request)[0] == 0x0210  # the same Transaction UID again
    ask = PydicomDataset()
    ask.TransactionUID = generate_uid()
    assert creation(server.port, 12, ask)[0] == 0x0112  # unknown transaction
    assert creation(server.port, 99, ask)[0] == 0x0123  # no such action
