"""Per-AE permissions of the workflow services of ``dicomkit serve`` (``[ae.TITLE]`` tables),
with pynetdicom as the modality, on both index back ends:

- Modality Worklist C-FIND needs "query", MPPS N-CREATE and N-SET need "mpps", the Storage
  Commitment N-ACTION needs "commit"; without it the request is answered 0124H "Refused: Not
  Authorised" (PS3.7 Annex C, §10.1) on an association that stays usable, and nothing is kept;
- an Instance Availability Notification peer that may not "query" stops ``serve`` with a
  configuration error naming it.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    ModalityPerformedProcedureStep,
    ModalityWorklistInformationFind,
    StorageCommitmentPushModel,
)

from dicomkit.core.uid import generate_uid
from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.mpps import create_attrs, final_set, to_pydicom
from tests.support.servers import Serve, ServeFactory, free_port

PUSH_INSTANCE = "1.2.840.10008.1.20.1.1"  # Storage Commitment Push Model SOP Instance
NOT_AUTHORISED = 0x0124

PERMISSIONS = {
    "CT": ["store", "query", "mpps", "commit"],  # a modality doing the whole day
    "SENDER": ["store"],  # may only store: no worklist, no MPPS, no commitment
    "READER": ["query"],
}


@dataclass
class Guarded:
    server: Serve
    sops: list[str]

    @property
    def port(self) -> int:
        return self.server.port


def write_config(folder: Path, port: int, index: str | None, *extra: str) -> Path:
    lines = ['aet = "PACS"', f"dimse_port = {port}", 'bind = "127.0.0.1"',
             f'data = "{folder / "data"}"', "http = false", 'ae_default = "deny"']
    if index is not None:
        lines.append(f'index = "{index}"')
    lines += list(extra)
    for title, operations in PERMISSIONS.items():
        lines += [f"[ae.{title}]", "permissions = [" + ", ".join(
            f'"{operation}"' for operation in operations) + "]"]
    config = folder / "pacs.toml"
    config.write_text("\n".join(lines) + "\n", "utf-8")
    return config


@pytest.fixture(scope="module")
def guarded(backend: Backend, module_serve: ServeFactory,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    folder = tmp_path_factory.mktemp(f"workflow-permissions-{backend.name}")
    files = synthetic_series(folder / "src", 2, PatientID="DK-PERM")
    port = free_port()
    index = backend.new_index()
    config = write_config(folder, port, index)
    server = module_serve.start(["--config", str(config)], port, folder / "data", index)
    assoc = associate(port, "CT", CTImageStorage)
    try:
        for path in files:
            status = assoc.send_c_store(pydicom.dcmread(path))
            assert status and status.Status == 0
    finally:
        assoc.release()
    sops = [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files]
    yield Guarded(server, sops)
    assert server.stop() == 0, server.log_tail()


def associate(port: int, calling: str, *contexts: str, handlers: list[Any] | None = None
              ) -> Any:
    ae = AE(ae_title=calling)
    for context in contexts:
        ae.add_requested_context(context)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS", evt_handlers=handlers or [])
    assert assoc.is_established, f"{calling}: association not established"
    return assoc


def worklist_find(assoc: Any) -> list[int]:
    identifier = pydicom.Dataset()
    identifier.PatientName = ""
    step = pydicom.Dataset()
    step.ScheduledStationAETitle = ""
    step.Modality = ""
    identifier.ScheduledProcedureStepSequence = [step]
    statuses = [int(status.Status) for status, _ in
                assoc.send_c_find(identifier, ModalityWorklistInformationFind) if status]
    assert assoc.is_established
    return statuses


def mpps_status(server: Serve, uid: str) -> str | None:
    from dicomkit.archive.mpps import MppsStore
    from dicomkit.archive.store import Archive

    archive = Archive(str(server.data), server.index, fsync=False)
    try:
        entry = MppsStore(archive.index).get(uid)
        return entry.status if entry is not None else None
    finally:
        archive.close()


def commitment_request(sops: list[str]) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.TransactionUID = generate_uid()
    items = []
    for sop in sops:
        item = pydicom.Dataset()
        item.ReferencedSOPClassUID = CTImageStorage
        item.ReferencedSOPInstanceUID = sop
        items.append(item)
    ds.ReferencedSOPSequence = items
    return ds


def test_worklist_find_needs_query(guarded: Guarded) -> None:
    assoc = associate(guarded.port, "SENDER", ModalityWorklistInformationFind)
    try:
        assert worklist_find(assoc) == [NOT_AUTHORISED]
    finally:
        assoc.release()
    assoc = associate(guarded.port, "READER", ModalityWorklistInformationFind)
    try:
        assert worklist_find(assoc) == [0x0000]
    finally:
        assoc.release()


def test_mpps_needs_the_mpps_permission(guarded: Guarded) -> None:
    refused = generate_uid()
    for calling in ("SENDER", "READER"):
        assoc = associate(guarded.port, calling, ModalityPerformedProcedureStep)
        try:
            status, _ = assoc.send_n_create(to_pydicom(create_attrs()),
                                            ModalityPerformedProcedureStep, refused)
            assert status is not None and int(status.Status) == NOT_AUTHORISED
            assert "not authorised" in str(status.get("ErrorComment", "")).lower()
            assert assoc.is_established
        finally:
            assoc.release()
    assert mpps_status(guarded.server, refused) is None


def test_mpps_set_of_another_ae_needs_the_mpps_permission(guarded: Guarded) -> None:
    uid = generate_uid()
    assoc = associate(guarded.port, "CT", ModalityPerformedProcedureStep)
    try:
        status, _ = assoc.send_n_create(to_pydicom(create_attrs()),
                                        ModalityPerformedProcedureStep, uid)
        assert status is not None and int(status.Status) == 0x0000
    finally:
        assoc.release()
    assoc = associate(guarded.port, "SENDER", ModalityPerformedProcedureStep)
    try:
        status, _ = assoc.send_n_set(to_pydicom(final_set()), ModalityPerformedProcedureStep,
                                     uid)
        assert status is not None and int(status.Status) == NOT_AUTHORISED
    finally:
        assoc.release()
    assert mpps_status(guarded.server, uid) == "IN PROGRESS"
    assoc = associate(guarded.port, "CT", ModalityPerformedProcedureStep)
    try:
        status, _ = assoc.send_n_set(to_pydicom(final_set()), ModalityPerformedProcedureStep,
                                     uid)
        assert status is not None and int(status.Status) == 0x0000
    finally:
        assoc.release()
    assert mpps_status(guarded.server, uid) == "COMPLETED"


def test_storage_commitment_needs_the_commit_permission(guarded: Guarded) -> None:
    reports: queue.Queue[int] = queue.Queue()

    def take(event: Any) -> tuple[int, None]:
        reports.put(int(event.event_type))
        return 0x0000, None

    handlers = [(evt.EVT_N_EVENT_REPORT, take)]
    assoc = associate(guarded.port, "SENDER", StorageCommitmentPushModel, handlers=handlers)
    try:
        status, _ = assoc.send_n_action(commitment_request(guarded.sops), 1,
                                        StorageCommitmentPushModel, PUSH_INSTANCE)
        assert status is not None and int(status.Status) == NOT_AUTHORISED
        assert assoc.is_established
    finally:
        assoc.release()
    assert reports.empty()
    assoc = associate(guarded.port, "CT", StorageCommitmentPushModel, handlers=handlers)
    try:
        status, _ = assoc.send_n_action(commitment_request(guarded.sops), 1,
                                        StorageCommitmentPushModel, PUSH_INSTANCE)
        assert status is not None and int(status.Status) == 0x0000
        assert reports.get(timeout=60) == 1
    finally:
        assoc.release()


def test_an_ian_peer_that_may_not_query_is_a_config_error(serve: ServeFactory,
                                                          tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port, None, 'ian_peers = ["SENDER"]', "[peers]",
                          f'SENDER = "127.0.0.1:{free_port()}"')
    server = serve.start(["--config", str(config)], port, tmp_path / "data", wait=False)
    assert server.proc.wait(60) != 0
    assert "IAN peer SENDER may not \"query\"" in server.log()
