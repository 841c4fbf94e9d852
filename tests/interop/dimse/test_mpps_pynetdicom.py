"""``dicomkit serve`` as MPPS SCP (PS3.4 F.7) with pynetdicom (a test-time reference) as the
modality's MPPS SCU, on both index back ends: create, set while in progress, complete; each
violation answered with its status (never an abort); a SIGKILL after the N-CREATE and a
restart, then the N-SET completes; forwarding to a pynetdicom MPPS SCP (the RIS)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityPerformedProcedureStep

from dicomkit.core.uid import generate_uid
from tests.support.databases import Backend
from tests.support.mpps import create_attrs, final_set, to_pydicom
from tests.support.servers import Serve, ServeFactory, free_port

MPPS = ModalityPerformedProcedureStep


def associate(port: int) -> Any:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(MPPS)
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS")
    assert assoc.is_established, "association with dicomkit serve not established"
    return assoc


def n_create(assoc: Any, uid: str | None, **overrides: Any) -> tuple[int, Any]:
    status, attrs = assoc.send_n_create(to_pydicom(create_attrs(**overrides)), MPPS, uid)
    assert status is not None and assoc.is_established, "no N-CREATE response"
    status.created = attrs
    return int(status.Status), status


def n_set(assoc: Any, uid: str, modification: Any) -> tuple[int, Any]:
    status, _ = assoc.send_n_set(to_pydicom(modification), MPPS, uid)
    assert status is not None and assoc.is_established, "no N-SET response"
    return int(status.Status), status


@pytest.fixture(scope="module")
def server(backend: Backend, module_serve: ServeFactory,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp(f"mpps-{backend.name}")
    started = module_serve(data, index=backend.new_index())
    yield started
    assert started.stop() == 0, started.log_tail()


@pytest.fixture
def assoc(server: Serve) -> Iterator[Any]:
    association = associate(server.port)
    yield association
    association.release()


def _listed(server: Serve, uid: str) -> dict[str, Any]:
    from dicomkit.archive.mpps import MppsStore
    from dicomkit.archive.store import Archive

    archive = Archive(str(server.data), server.index, fsync=False)
    try:
        entry = MppsStore(archive.index).get(uid)
        assert entry is not None, f"MPPS {uid} not in the index"
        return {"status": entry.status, "calling_ae": entry.calling_ae,
                "dataset": entry.dataset()}
    finally:
        archive.close()


def test_create_set_in_progress_and_complete(server: Serve, assoc: Any):
    uid = generate_uid()
    assert n_create(assoc, uid)[0] == 0x0000
    progress = pydicom.Dataset()
    progress.PerformedProcedureStepDescription = "CT HEAD AND NECK"
    assert n_set(assoc, uid, _dk(progress))[0] == 0x0000
    assert n_set(assoc, uid, final_set())[0] == 0x0000
    listed = _listed(server, uid)
    assert (listed["status"], listed["calling_ae"]) == ("COMPLETED", "MODALITY")
    assert listed["dataset"].PerformedProcedureStepDescription == "CT HEAD AND NECK"


def _dk(ds: pydicom.Dataset) -> Any:
    from dicomkit.encoding.json import from_json

    return from_json(ds.to_json_dict())


def test_create_without_a_uid_gets_one_from_the_scp(server: Serve, assoc: Any):
    status, rsp = n_create(assoc, None)
    assert status == 0x0000
    uid = str(rsp.created.SOPInstanceUID)  # pynetdicom hides the command's UID
    assert uid.startswith("2.25.")
    assert rsp.created.PerformedProcedureStepStatus == "IN PROGRESS"
    assert n_set(assoc, uid, final_set("DISCONTINUED"))[0] == 0x0000
    assert _listed(server, uid)["status"] == "DISCONTINUED"


def test_duplicate_create_is_0111(assoc: Any):
    uid = generate_uid()
    assert n_create(assoc, uid)[0] == 0x0000
    assert n_create(assoc, uid)[0] == 0x0111


def test_set_of_an_unknown_instance_is_0112(assoc: Any):
    assert n_set(assoc, generate_uid(), final_set())[0] == 0x0112


def test_set_after_completed_is_0110_with_comment_and_error_id(assoc: Any):
    uid = generate_uid()
    n_create(assoc, uid)
    assert n_set(assoc, uid, final_set())[0] == 0x0000
    status, rsp = n_set(assoc, uid, final_set("DISCONTINUED"))
    assert status == 0x0110
    assert rsp.ErrorComment == "Performed Procedure Step Object may no longer be updated"
    assert int(rsp.ErrorID) == 0xA710


def test_create_missing_type_1_is_0120(assoc: Any):
    status, rsp = n_create(assoc, generate_uid(), Modality=...)
    assert status == 0x0120
    assert "Modality" in rsp.ErrorComment


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]


def test_create_not_in_progress_is_0106(assoc: Any):
    status, rsp = n_create(assoc, generate_uid(), PerformedProcedureStepStatus="COMPLETED")
    assert status == 0x0106
    assert "IN PROGRESS" in rsp.ErrorComment


def test_n_create_response_fields_with_dicomkit_client(server: Serve):
    """What pynetdicom's N-CREATE does not show: the Affected SOP Instance UID the SCP gave
    (PS3.7 §10.1.5.1.2) and the Attribute Identifier List of a 0120H (Annex C)."""
    import asyncio

    from dicomkit.net.client import connect
    from dicomkit.net.uids import UNCOMPRESSED_TS

    async def go() -> tuple[Any, Any]:
        async with connect("127.0.0.1", server.port, calling_aet="DKTEST", called_aet="PACS",
                           contexts=[(MPPS, UNCOMPRESSED_TS)]) as client:
            made = await client.n_create(MPPS, None, create_attrs())
            missing = await client.n_create(MPPS, generate_uid(),
                                            create_attrs(PerformedStationAETitle=...))
        return made, missing

    (status, data, command), (refused, _, refusal) = asyncio.run(go())
    assert status == 0x0000
    assert command.AffectedSOPInstanceUID == data.SOPInstanceUID
    assert refused == 0x0120
    assert [int(t) for t in _list(refusal.AttributeIdentifierList)] == [0x00400241]


def test_set_not_allowed_attribute_is_0105(assoc: Any):
    uid = generate_uid()
    n_create(assoc, uid)
    modification = pydicom.Dataset()
    modification.PatientID = "SOMEONE ELSE"
    status, rsp = n_set(assoc, uid, _dk(modification))
    assert status == 0x0105
    assert [int(t) for t in _list(rsp.AttributeIdentifierList)] == [0x00100020]


def test_final_without_series_is_0121_then_completes(assoc: Any):
    uid = generate_uid()
    n_create(assoc, uid)
    assert n_set(assoc, uid, final_set(PerformedSeriesSequence=[]))[0] == 0x0121
    assert n_set(assoc, uid, final_set())[0] == 0x0000


def test_other_dimse_n_on_mpps_is_0211(assoc: Any):
    uid = generate_uid()
    n_create(assoc, uid)
    status = assoc.send_n_delete(MPPS, uid)
    assert status is not None and int(status.Status) == 0x0211 and assoc.is_established


def test_sigkill_after_n_create_then_restart_completes(backend: Backend, serve: ServeFactory,
                                                     tmp_path: Path):
    index = backend.new_index()
    first = serve(tmp_path / "data", index=index)
    uid = generate_uid()
    assoc = associate(first.port)
    assert n_create(assoc, uid)[0] == 0x0000
    first.kill()  # SIGKILL right after the acknowledged N-CREATE
    assoc.abort()
    second = serve(tmp_path / "data", index=index, port=first.port)
    assoc = associate(second.port)
    try:
        assert n_set(assoc, uid, final_set())[0] == 0x0000
    finally:
        assoc.release()
    assert second.stop() == 0, second.log_tail()
    assert _listed(second, uid)["status"] == "COMPLETED"


class Ris:
    """A pynetdicom MPPS SCP standing for the RIS MPPS is forwarded to."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, str, str]] = []
        self.done = threading.Event()
        self.ae = AE(ae_title="RIS")
        self.ae.add_supported_context(MPPS)
        self.server = self.ae.start_server(
            ("127.0.0.1", port), block=False,
            evt_handlers=[(evt.EVT_N_CREATE, self.on_create), (evt.EVT_N_SET, self.on_set)])

    def on_create(self, event: Any) -> Any:
        request = event.request
        data = event.attribute_list
        self.received.append(("create", str(request.AffectedSOPInstanceUID),
                              str(data.PerformedProcedureStepStatus)))
        return 0x0000, None

    def on_set(self, event: Any) -> Any:
        request = event.request
        data = event.modification_list
        self.received.append(("set", str(request.RequestedSOPInstanceUID),
                              str(data.PerformedProcedureStepStatus)))
        self.done.set()
        return 0x0000, None

    def stop(self) -> None:
        self.server.shutdown()


def test_forwarding_to_the_ris_in_order(backend: Backend, serve: ServeFactory,
                                        tmp_path: Path):
    ris_port = free_port()
    server = serve(tmp_path / "data", index=backend.new_index(), peers={"RIS": ris_port},
                   args=["--mpps-forward", "RIS"])
    uid = generate_uid()
    assoc = associate(server.port)
    try:
        assert n_create(assoc, uid)[0] == 0x0000  # the RIS is not up yet: owed, retried
        assert n_set(assoc, uid, final_set())[0] == 0x0000
    finally:
        assoc.release()
    ris = Ris(ris_port)
    try:
        assert ris.done.wait(60), server.log_tail()
    finally:
        ris.stop()
    assert ris.received == [("create", uid, "IN PROGRESS"), ("set", uid, "COMPLETED")]
    assert server.stop() == 0, server.log_tail()
