"""Supplement 223 Inventory Storage (PS3.4 GG) and Inventory FIND / MOVE / GET (PS3.4 JJ) end
to end: a pynetdicom SCU against a real ``dicomkit serve`` on SQLite and PostgreSQL. The
inventory is first produced by Inventory Creation (KK.2), so the Inventories found, moved and
fetched are the archive's own; one is then stored back (C-STORE) under a new SOP Instance UID
and found and fetched like them."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
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
from dicomkit.encoding.writer import to_bytes
from tests.support.databases import Backend
from tests.support.datasets import make_instance, write_instance
from tests.support.servers import Serve, ServeFactory, free_port, wait_for_port

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


class EventReceiver:
    """A pynetdicom Inventory Creation SCU taking the N-EVENT-REPORTs (KK.2.3) on associations
    the archive opens, accepting the archive's SCP role (as for Storage Commitment)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.events: list[tuple[int, PydicomDataset]] = []
        self.ae = AE(ae_title="AUDIT")
        self.ae.add_supported_context(InventoryCreation, scu_role=False, scp_role=True)
        self.server = self.ae.start_server(
            ("127.0.0.1", self.port), block=False,
            evt_handlers=[(evt.EVT_N_EVENT_REPORT, self.on_event)])

    def on_event(self, event: Any) -> tuple[int, None]:
        request = event.request
        self.events.append((int(request.EventTypeID), event.event_information))
        return 0x0000, None

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def events() -> Iterator[EventReceiver]:
    made = EventReceiver()
    yield made
    made.stop()


TOKEN = "inventory-token"


@pytest.fixture(scope="module")
def produced(backend: Backend, module_serve: ServeFactory, receiver: Receiver,
             events: EventReceiver, tmp_path_factory: pytest.TempPathFactory) -> tuple[Serve, str, str]:
    """A serve whose archive produced an INSTANCE level inventory: (serve, Transaction UID,
    root SOP Instance UID); DICOMweb on ``serve.http`` with a bearer token."""
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
    http_port = free_port()
    server = module_serve(data, index=index, peers={"DEST": receiver.port, "AUDIT": events.port},
                          args=["--http-port", str(http_port), "--http-token", TOKEN])
    wait_for_port(http_port, server.proc, describe=server.describe)
    server.http = f"http://127.0.0.1:{http_port}/dicom-web"  # type: ignore[attr-defined]
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
    assert {root, copy.SOPInstanceUID} <= {f.SOPInstanceUID for f in found}


def web(server: Serve) -> tuple[str, dict[str, str]]:
    return server.http, {"Authorization": f"Bearer {TOKEN}"}  # type: ignore[attr-defined]


def test_dicomweb_searches_and_retrieves_inventories(produced: tuple[Serve, str, str]) -> None:
    server, transaction, root = produced
    base, auth = web(server)
    assert httpx.get(base + "/inventories").status_code == 401  # the same authentication
    found = httpx.get(base + "/inventories", headers=auth,
                      params={"TransactionUID": transaction, "SOPInstanceUID": root})
    assert found.status_code == 200
    assert found.headers["content-type"].startswith("application/dicom+json")
    [match] = found.json()
    assert match["00080018"]["Value"] == [root]
    assert match["00080403"]["Value"] == ["INSTANCE"]
    assert match["00081190"]["Value"] == [f"{base}/inventories/{root}"]
    assert "00080423" not in match  # the Inventoried Studies are in the instance only
    assert httpx.get(base + "/inventories", headers=auth,
                     params={"InventoryLevel": "STUDY"}).json() == []
    everything = httpx.get(base + "/inventories", headers=auth,
                           params={"SOPInstanceUID": root, "includefield": "all"}).json()
    assert "00080423" not in everything[0] and "00080070" in everything[0]  # Manufacturer
    # Retrieve: the Part 10 file as kept, one multipart part, or DICOM JSON
    file = Path(server.data) / "inventories" / transaction / f"{root}.dcm"
    single = httpx.get(f"{base}/inventories/{root}", headers=auth)
    assert single.status_code == 200 and single.content == file.read_bytes()
    assert single.headers["content-type"] == "application/dicom"
    multi = httpx.get(f"{base}/inventories/{root}", headers={
        **auth, "Accept": 'multipart/related; type="application/dicom"'})
    assert multi.status_code == 200 and file.read_bytes() in multi.content
    assert multi.headers["content-type"].startswith("multipart/related")
    as_json = httpx.get(f"{base}/inventories/{root}",
                        headers={**auth, "Accept": "application/dicom+json"}).json()
    assert len(as_json[0]["00080423"]["Value"]) == 2
    assert httpx.get(f"{base}/inventories/{root}",
                     headers={**auth, "Accept": "image/png"}).status_code == 406
    assert httpx.get(f"{base}/inventories/{generate_uid()}", headers=auth).status_code == 404
    assert httpx.get(f"{base}/inventories/not-a-uid", headers=auth).status_code == 400


def test_dicomweb_stores_an_inventory(produced: tuple[Serve, str, str]) -> None:
    server, transaction, root = produced
    base, auth = web(server)
    original = dcmread(Path(server.data) / "inventories" / transaction / f"{root}.dcm")
    copy = original.copy()
    copy.SOPInstanceUID = generate_uid()
    copy.file_meta.MediaStorageSOPInstanceUID = copy.SOPInstanceUID
    buffer = io.BytesIO()
    copy.save_as(buffer, enforce_file_format=True)
    stored = httpx.post(base + "/inventories", content=buffer.getvalue(),
                        headers={**auth, "Content-Type": "application/dicom"})
    assert stored.status_code == 200, stored.text
    assert stored.json() == [{"status": "stored", "SOPInstanceUID": copy.SOPInstanceUID,
                              "result": "added"}]
    fetched = httpx.get(f"{base}/inventories/{copy.SOPInstanceUID}", headers=auth)
    assert dcmread(io.BytesIO(fetched.content)).SOPInstanceUID == copy.SOPInstanceUID
    # a multipart body with an image part: refused (409), nothing kept
    body = (b"--b1\r\nContent-Type: application/dicom\r\n\r\n"
            + to_bytes(make_instance(patient_id="WEB-NOT-INV")) + b"\r\n--b1--\r\n")
    refused = httpx.post(base + "/inventories", content=body, headers={
        **auth, "Content-Type": 'multipart/related; type="application/dicom"; boundary=b1'})
    assert refused.status_code == 409 and refused.json()[0]["status"] == "refused"
    assert httpx.post(base + "/inventories", content=b"{}", headers={
        **auth, "Content-Type": "application/json"}).status_code == 415


def test_inventory_creation_notifies_a_known_requestor(produced: tuple[Serve, str, str],
                                                       events: EventReceiver) -> None:
    """KK.2.3.2: Inventory Terminated with Instances (11) to the requestor, a known peer."""
    server, _, _ = produced
    transaction = generate_uid()
    request = PydicomDataset()
    request.TransactionUID = transaction
    request.InventoryLevel = "STUDY"
    request.ScopeOfInventorySequence = []
    ae = AE(ae_title="AUDIT")
    ae.add_requested_context(InventoryCreation)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="PACS")
    assert assoc.is_established
    try:
        status, _ = assoc.send_n_action(request, 11, InventoryCreation, STORAGE_MANAGEMENT)
    finally:
        assoc.release()
    assert status.Status == 0x0000
    deadline = time.monotonic() + 60
    while not any(info.TransactionUID == transaction for _, info in events.events):
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.2)
    [(event_type, info)] = [e for e in events.events if e[1].TransactionUID == transaction]
    assert event_type == 11 and info.TransactionStatus == "COMPLETE"
    assert info.ReferencedSOPClassUID == InventoryStorage and info.RetrieveAETitle == "PACS"
    assert info.TotalNumberOfStudyRecords == 2
    found, _ = inventory_find(server.port, SOPInstanceUID=info.ReferencedSOPInstanceUID)
    assert len(found) == 1  # the root named by the event is kept and found
