"""Networking interoperability with pynetdicom (a test-time reference only) on 127.0.0.1.

pynetdicom's AE is the SCU for dicomkit's Server (C-ECHO, C-STORE, C-FIND, C-GET, and the
negotiation items it sends), and the SCP for dicomkit's client (C-ECHO, C-STORE, C-FIND, and
C-GET with SCP/SCU role selection), its server running in its own threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset as PdDataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, build_role, evt
from pynetdicom.pdu_primitives import (
    AsynchronousOperationsWindowNegotiation,
    UserIdentityNegotiation,
)
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    CTImageStorage,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    Verification,
)

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.net.client import connect
from dicomkit.net.dimse import Message, Status
from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS
from dicomkit.services.storage import StorageHandler
from tests.support.datasets import pydicom_differences, pydicom_file
from tests.support.dimse import (
    ARCHIVE_FILES,
    HOST,
    ArchiveHandler,
    ServerThread,
    by_instance,
    data_set_bytes,
    differences,
    same_values,
)

JPEG_FILE = "SC_rgb_jpeg_dcmtk.dcm"  # JPEG Baseline, sent as is


@pytest.fixture(autouse=True)
def _quiet_pynetdicom(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="pynetdicom")


def pynetdicom_scu(*contexts: Any) -> AE:
    ae = AE(ae_title="PYNETDICOM")
    for context in contexts:
        if isinstance(context, tuple):
            ae.add_requested_context(*context)
        else:
            ae.add_requested_context(context)
    return ae


# -- pynetdicom SCU -> dicomkit Server -------------------------------------------------------
@pytest.fixture
def storage_server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(handler=StorageHandler(str(tmp_path / "in"), fsync=False),
                      ae_title="DKSCP") as server:
        yield server


def test_pynetdicom_echo_to_our_server(storage_server: ServerThread) -> None:
    assoc = pynetdicom_scu(Verification).associate(HOST, storage_server.port, ae_title="DKSCP")
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()
    assert assoc.is_released


def test_pynetdicom_store_to_our_server(storage_server: ServerThread, tmp_path: Path) -> None:
    files = [pydicom_file("CT_small.dcm"), pydicom_file("MR_small_implicit.dcm"),
             pydicom_file(JPEG_FILE)]
    ae = pynetdicom_scu(CTImageStorage, MRImageStorage,
                        (SecondaryCaptureImageStorage, "1.2.840.10008.1.2.4.50"))
    assoc = ae.associate(HOST, storage_server.port, ae_title="DKSCP")
    assert assoc.is_established
    statuses = [assoc.send_c_store(str(path)).Status for path in files]
    assoc.release()
    assert statuses == [0, 0, 0]
    stored = by_instance(tmp_path / "in")
    for original in files:
        ds = dicomkit.read(str(original), stop_before_pixels=True)
        assert same_values(original, stored[str(ds.SOPInstanceUID)]) == []
    jpeg = stored[str(dicomkit.read(str(files[2]), stop_before_pixels=True).SOPInstanceUID)]
    assert data_set_bytes(jpeg) == data_set_bytes(files[2])


def test_pynetdicom_find_on_our_server() -> None:
    handler = ArchiveHandler([pydicom_file(n) for n in ARCHIVE_FILES])
    query = PdDataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientName = "Compressed*"
    query.PatientID = ""
    query.StudyInstanceUID = ""
    with ServerThread(handler=handler, ae_title="DKQR") as server:
        assoc = pynetdicom_scu(StudyRootQueryRetrieveInformationModelFind).associate(
            HOST, server.port, ae_title="DKQR")
        results = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
        assoc.release()
    statuses = [status.Status for status, _identifier in results]
    assert statuses == [0xFF00, 0xFF00, 0x0000]
    assert sorted(str(i.PatientID) for _s, i in results[:2]) == ["1CT1", "4MR1"]


def test_pynetdicom_get_from_our_server(tmp_path: Path) -> None:
    files = [pydicom_file(n) for n in ARCHIVE_FILES]
    handler = ArchiveHandler(files)
    received: list[PdDataset] = []

    def on_store(event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage)
    query = PdDataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "1CT1"
    with ServerThread(handler=handler, ae_title="DKQR") as server:
        assoc = ae.associate(HOST, server.port, ae_title="DKQR",
                             ext_neg=[build_role(CTImageStorage, scp_role=True)],
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
        responses = list(assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet))
        assoc.release()
    assert responses[-1][0].Status == 0x0000
    assert [str(ds.SOPInstanceUID) for ds in received] == [
        str(dicomkit.read(str(files[0]), stop_before_pixels=True).SOPInstanceUID)]
    assert pydicom_differences(dicomkit.read(str(files[0])), received[0]) == []


def test_negotiation_items_from_pynetdicom(storage_server: ServerThread) -> None:
    """An asynchronous operations window is answered 1/1 (PS3.7 D.3.3.3: no asynchronous
    operations); user identity with a positive response requested gets one (D.3.3.7)."""
    window = AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 5
    window.maximum_number_operations_performed = 5
    identity = UserIdentityNegotiation()
    identity.user_identity_type = 2
    identity.primary_field = b"alice"
    identity.secondary_field = b"secret"
    identity.positive_response_requested = True
    assoc = pynetdicom_scu(Verification).associate(HOST, storage_server.port,
                                                   ae_title="DKSCP", ext_neg=[window, identity])
    assert assoc.is_established
    assert assoc.acceptor.asynchronous_operations == (1, 1)
    assert assoc.send_c_echo().Status == 0
    assoc.release()


# -- dicomkit client -> pynetdicom SCP -------------------------------------------------------
class PynetdicomArchive:
    """pynetdicom SCP in its own threads: stores what it gets, answers C-FIND and C-GET."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.stored: list[PdDataset] = []
        self.ae = AE(ae_title="PYSCP")
        self.ae.add_supported_context(Verification)
        self.ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self.ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
        for sop_class in (CTImageStorage, MRImageStorage):
            self.ae.add_supported_context(sop_class, scu_role=True, scp_role=True)
        self.ae.add_supported_context(SecondaryCaptureImageStorage, ALL_TRANSFER_SYNTAXES)
        self.server: Any = None

    def __enter__(self) -> PynetdicomArchive:
        self.server = self.ae.start_server(
            (HOST, 0), block=False,
            evt_handlers=[(evt.EVT_C_STORE, self.on_store), (evt.EVT_C_FIND, self.on_find),
                          (evt.EVT_C_GET, self.on_get)])
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def on_store(self, event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        self.stored.append(ds)
        return 0x0000

    def on_find(self, event: Any) -> Iterator[tuple[int, PdDataset | None]]:
        wanted = str(event.identifier.get("PatientID", "") or "*")
        for path in self.files:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            if wanted in ("*", ds.PatientID):
                answer = PdDataset()
                answer.QueryRetrieveLevel = "STUDY"
                answer.PatientID = ds.PatientID
                answer.StudyInstanceUID = ds.StudyInstanceUID
                yield 0xFF00, answer

    def on_get(self, event: Any) -> Iterator[Any]:
        wanted = str(event.identifier.PatientID)
        matching = [p for p in self.files
                    if pydicom.dcmread(p, stop_before_pixels=True).PatientID == wanted]
        yield len(matching)
        for path in matching:
            yield 0xFF00, pydicom.dcmread(path)


@pytest.fixture
def pynetdicom_archive() -> Iterator[PynetdicomArchive]:
    files = [pydicom_file("CT_small.dcm"), pydicom_file("MR_small.dcm")]
    with PynetdicomArchive(files) as archive:
        yield archive


def _contexts(*abstract: str) -> list[tuple[str, list[str]]]:
    return [(uid, list(UNCOMPRESSED_TS[:2])) for uid in abstract]


def test_our_echo_to_pynetdicom(pynetdicom_archive: PynetdicomArchive) -> None:
    async def run() -> int:
        async with connect(HOST, pynetdicom_archive.port, called_aet="PYSCP") as client:
            return await client.echo()

    assert asyncio.run(run()) == Status.SUCCESS


def test_our_store_to_pynetdicom(pynetdicom_archive: PynetdicomArchive) -> None:
    files = [pydicom_file("CT_small.dcm"), pydicom_file("MR_small_bigendian.dcm"),
             pydicom_file(JPEG_FILE)]
    contexts = _contexts(CTImageStorage, MRImageStorage) + [
        (SecondaryCaptureImageStorage, ["1.2.840.10008.1.2.4.50"])]

    async def run() -> list[int]:
        async with connect(HOST, pynetdicom_archive.port, called_aet="PYSCP",
                           contexts=contexts) as client:
            return [int((await client.store(path)).Status) for path in files]

    assert asyncio.run(run()) == [0, 0, 0]
    assert len(pynetdicom_archive.stored) == 3
    for original, received in zip(files, pynetdicom_archive.stored, strict=True):
        reference = pydicom.dcmread(original)
        assert received.SOPInstanceUID == reference.SOPInstanceUID
        little = received.file_meta.TransferSyntaxUID != "1.2.840.10008.1.2.2"
        assert pydicom_differences(dicomkit.read(str(original)), received, little=little) == []
    assert pynetdicom_archive.stored[2].file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"


def test_our_find_on_pynetdicom(pynetdicom_archive: PynetdicomArchive) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "*"
    query.StudyInstanceUID = ""

    async def run() -> list[tuple[int, Dataset | None]]:
        async with connect(HOST, pynetdicom_archive.port, called_aet="PYSCP",
                           contexts=_contexts(MODELS["study"]["find"])) as client:
            return [item async for item in client.find(query)]

    results = asyncio.run(run())
    assert [status for status, _ds in results] == [0xFF00, 0xFF00, 0x0000]
    assert sorted(str(ds.PatientID) for _s, ds in results[:2] if ds is not None) == \
        ["1CT1", "4MR1"]


def test_our_get_from_pynetdicom_with_role_selection(
        pynetdicom_archive: PynetdicomArchive) -> None:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = "4MR1"
    received: list[Dataset] = []

    async def on_store(ds: Dataset, message: Message) -> int:
        received.append(ds)
        return Status.SUCCESS

    async def run() -> list[Dataset]:
        async with connect(HOST, pynetdicom_archive.port, called_aet="PYSCP",
                           contexts=_contexts(MODELS["study"]["get"], CTImageStorage,
                                              MRImageStorage),
                           scp_roles=[CTImageStorage, MRImageStorage]) as client:
            roles = {c.abstract_syntax: c.scp_role for c in client.contexts.values()}
            assert roles[MRImageStorage] is True  # the peer agreed to our SCP role
            return [rsp async for rsp in client.get(query, on_store=on_store)]

    responses = asyncio.run(run())
    assert responses[-1].Status == Status.SUCCESS
    assert responses[-1].NumberOfCompletedSuboperations == 1
    original = dicomkit.read(str(pydicom_file("MR_small.dcm")))
    assert [str(ds.SOPInstanceUID) for ds in received] == [str(original.SOPInstanceUID)]
    assert differences(original, received[0]) == []

