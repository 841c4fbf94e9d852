"""Supplement 223 Inventory Storage (PS3.4 GG) and Inventory FIND / MOVE / GET (PS3.4 JJ) end
to end: a pynetdicom SCU against a real ``dicomkit serve`` on SQLite and PostgreSQL. The
inventory is first produced by Inventory Creation (KK.2), so the Inventories found, moved and
fetched are the archive's own; one is then stored back (C-STORE) under a new SOP Instance UID
and found and fetched like them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset as PydicomDataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    InventoryCreation,
    InventoryFind,
    InventoryGet,
    InventoryMove,
    InventoryStorage,
)

from dicomkit.archive.store import Archive
from dicomkit.core.uid import generate_uid, registered
from tests.support.databases import Backend
from tests.support.datasets import make_instance, write_instance
from tests.support.servers import Serve, ServeFactory, free_port

STORAGE_MANAGEMENT = registered("StorageManagementInstance")


class Receiver:
    """A pynetdicom Inventory Storage SCP: the C-MOVE destination."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[PydicomDataset] = []
        self.ae = AE(ae_title="DEST")
        self.ae.add_supported_context(InventoryStorage)
        self.server = self.ae.start_server(
            ("127.0.0.1", self.port), block=False,
            evt_handlers=[(evt.EVT_C_STORE, self.on_store)])

    def on_store(self, event: Any) -> int:
        self.received.append(event.dataset)
        return 0x0000

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.stop()


@pytest.fixture(scope="module")
def produced(backend: Backend, module_serve: ServeFactory, receiver: Receiver,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Serve, str, str]:
    """A serve whose archive produced an INSTANCE level inventory: (serve, Transaction UID,
    root SOP Instance UID)."""
    data = tmp_path_factory.mktemp(f"inventory-qr-{backend.name}")
    index = backend.new_index()
    archive = Archive(str(data), index, fsync=False)
    try:
        for number in range(2):
            study, series = generate_uid(), generate_uid()
            for instance in range(2):
                ds = make_instance(patient_id=f"IQR-{number}", study_uid=study,
                                   series_uid=series, number=instance + 1)
                archive.import_file(str(write_instance(ds, data / "incoming")))
    finally:
        archive.close()
    server = module_serve(data, index=index, peers={"DEST": receiver.port})
    transaction = generate_uid()
    request = PydicomDataset()
    request.TransactionUID = transaction
    request.InventoryLevel = "INSTANCE"
    request.ScopeOfInventorySequence = []
    assoc = associate(server.port, InventoryCreation)
    try:
        status, _ = assoc.send_n_action(request, 11, InventoryCreation, STORAGE_MANAGEMENT)
        assert status.Status == 0x0000
        deadline = time.monotonic() + 60
        while True:
            status, reply = assoc.send_n_get([0x00080417, 0x00081155], InventoryCreation,
                                             transaction)
            if reply.TransactionStatus == "COMPLETE":
                break
            assert reply.TransactionStatus == "PROCESSING", reply
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        assoc.release()
    return server, transaction, str(reply.ReferencedSOPInstanceUID)


def associate(port: int, *contexts: str, roles: list[Any] | None = None) -> Any:
    ae = AE(ae_title="SCU")
    for context in contexts:
        ae.add_requested_context(context)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS", ext_neg=roles or [],
                         evt_handlers=[])
    assert assoc.is_established
    return assoc


def inventory_find(port: int, **keys: Any) -> tuple[list[PydicomDataset], int]:
    query = PydicomDataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    assoc = associate(port, InventoryFind)
    found, final = [], -1
    try:
        for status, identifier in assoc.send_c_find(query, InventoryFind):
            if status.Status in (0xFF00, 0xFF01):
                found.append(identifier)
            else:
                final = status.Status
    finally:
        assoc.release()
    return found, final


def test_inventory_find_matches_the_produced_inventory(
        produced: tuple[Serve, str, str]) -> None:
    server, transaction, root = produced
    found, final = inventory_find(server.port, SOPInstanceUID="", TransactionUID=transaction,
                                  InventoryLevel="", ContentDate="", SOPClassUID="",
                                  TotalNumberOfStudyRecords=None, RetrieveAETitle="")
    assert final == 0x0000
    assert [f.SOPInstanceUID for f in found] == [root]
    match = found[0]
    assert match.SOPClassUID == InventoryStorage and match.InventoryLevel == "INSTANCE"
    assert match.TotalNumberOfStudyRecords == 2 and match.RetrieveAETitle == "PACS"
    assert match.ContentDate  # kept from the Inventory
    # keys that select nothing, a wildcard and a range
    assert inventory_find(server.port, SOPInstanceUID="", InventoryLevel="STUDY")[0] == []
    assert len(inventory_find(server.port, SOPInstanceUID="", InventoryLevel="INST*")[0]) == 1
    assert len(inventory_find(server.port, SOPInstanceUID="",
                              ContentDate="19000101-")[0]) == 1
    assert inventory_find(server.port, SOPInstanceUID="", ContentDate="-19000101")[0] == []
    # a Query/Retrieve Level is not relevant (JJ.3.1) and is ignored
    assert len(inventory_find(server.port, QueryRetrieveLevel="STUDY",
                              SOPInstanceUID=root)[0]) == 1


def test_inventory_get_sends_the_inventory_back(produced: tuple[Serve, str, str]) -> None:
    server, transaction, root = produced
    received: list[PydicomDataset] = []

    def on_store(event: Any) -> int:
        received.append(event.dataset)
        return 0x0000

    ae = AE(ae_title="SCU")
    ae.add_requested_context(InventoryGet)
    ae.add_requested_context(InventoryStorage)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="PACS",
                         ext_neg=[build_role(InventoryStorage, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established
    query = PydicomDataset()
    query.SOPInstanceUID = root
    try:
        statuses = [status.Status for status, _ in assoc.send_c_get(query, InventoryGet)]
    finally:
        assoc.release()
    assert statuses[-1] == 0x0000
    assert [str(ds.SOPInstanceUID) for ds in received] == [root]
    assert received[0].TransactionUID == transaction
    assert len(received[0].InventoriedStudiesSequence) == 2
    # a C-GET without the Unique Key is refused (JJ.3.3)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="PACS",
                         ext_neg=[build_role(InventoryStorage, scp_role=True)],
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        empty = PydicomDataset()
        empty.InventoryLevel = "INSTANCE"
        statuses = [status.Status for status, _ in assoc.send_c_get(empty, InventoryGet)]
    finally:
        assoc.release()
    assert statuses[-1] == 0xA900


def test_inventory_move_to_a_peer(produced: tuple[Serve, str, str],
                                  receiver: Receiver) -> None:
    server, _, root = produced
    before = len(receiver.received)
    assoc = associate(server.port, InventoryMove)
    query = PydicomDataset()
    query.SOPInstanceUID = [root, generate_uid()]  # a list; the unknown one matches nothing
    try:
        statuses = [status.Status for status, _ in assoc.send_c_move(query, "DEST",
                                                                     InventoryMove)]
    finally:
        assoc.release()
    assert statuses[-1] == 0x0000
    assert [str(ds.SOPInstanceUID) for ds in receiver.received[before:]] == [root]


def test_inventory_storage_keeps_a_received_inventory(produced: tuple[Serve, str, str]
                                                      ) -> None:
    server, transaction, root = produced
    original = dcmread(Path(server.data) / "inventories" / transaction / f"{root}.dcm")
    copy = original.copy()
    copy.SOPInstanceUID = generate_uid()
    copy.file_meta.MediaStorageSOPInstanceUID = copy.SOPInstanceUID
    assoc = associate(server.port, InventoryStorage)
    try:
        status = assoc.send_c_store(copy)
    finally:
        assoc.release()
    assert status.Status == 0x0000
    kept = Path(server.data) / "inventories" / "stored" / f"{copy.SOPInstanceUID}.dcm"
    assert dcmread(kept).SOPInstanceUID == copy.SOPInstanceUID
    found, final = inventory_find(server.port, SOPInstanceUID="", TransactionUID=transaction)
    assert final == 0x0000
    assert {f.SOPInstanceUID for f in found} == {root, copy.SOPInstanceUID}
