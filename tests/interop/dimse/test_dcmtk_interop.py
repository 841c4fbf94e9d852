"""Networking interoperability with DCMTK, on 127.0.0.1 with real peers.

dicomkit's Server is the SCP for DCMTK's echoscu, storescu (every uncompressed transfer syntax
and the common compressed ones), findscu, movescu and getscu; dicomkit's client is the SCU for
DCMTK's storescp and dcmqrscp (C-FIND at several levels, C-MOVE, C-GET with SCP role selection,
C-CANCEL). User identity and TLS too. DCMTK's tools are called by absolute path: pynetdicom
installs console scripts with the same names.

The helpers (``ServerThread``, ``ArchiveHandler``, ``start_dcmqrscp``, ...) are in
:mod:`tests.support.dimse`, shared with the other network test modules.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import dicomkit
from dicomkit.core.dataset import Dataset
from dicomkit.net.association import Association, AssociationError, AssociationRejected
from dicomkit.net.client import connect
from dicomkit.net.dimse import Message, Status
from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS, VERIFICATION
from dicomkit.services.storage import StorageHandler
from tests.support.certs import make_openssl_pki
from tests.support.datasets import UNCOMPRESSED_UIDS, pydicom_file
from tests.support.dimse import (
    ARCHIVE_FILES,
    HOST,
    ArchiveHandler,
    ServerThread,
    by_instance,
    data_set_bytes,
    differences,
    free_port,
    instance_uid,
    qr_contexts,
    run_tool,
    same_values,
    start_dcmqrscp,
    stop_process,
    tool,
    wait_for_port,
)

pytestmark = pytest.mark.dcmtk

DCMTK_NET_TOOLS = ("echoscu", "storescu", "storescp", "findscu", "movescu", "getscu",
                   "dcmqrscp")
# (storescu option proposing the syntax, file in that syntax, transfer syntax keyword)
COMPRESSED = [
    ("-xy", "SC_rgb_jpeg_dcmtk.dcm", "JPEGBaseline8Bit"),
    ("-xs", "SC_rgb_jpeg_gdcm.dcm", "JPEGLosslessSV1"),
    ("-xt", "MR_small_jpeg_ls_lossless.dcm", "JPEGLSLossless"),
    ("-xv", "MR_small_jp2klossless.dcm", "JPEG2000Lossless"),
    ("-xw", "JPEG2000.dcm", "JPEG2000"),
    ("-xr", "MR_small_RLE.dcm", "RLELossless"),
]
STORESCU_SYNTAX_OPTIONS = {
    "ImplicitVRLittleEndian": "-xi",
    "ExplicitVRLittleEndian": "-xe",
    "ExplicitVRBigEndian": "-xb",
    "DeflatedExplicitVRLittleEndian": "-xd",
}


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _dcmtk_tools() -> None:
    for name in DCMTK_NET_TOOLS:
        tool(name)


@pytest.fixture
def storage_server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(handler=StorageHandler(str(tmp_path / "in"), fsync=False),
                      ae_title="DKSCP") as server:
        yield server


@pytest.fixture(scope="module")
def archive_files() -> list[Path]:
    return [pydicom_file(name) for name in ARCHIVE_FILES]


@pytest.fixture(scope="module")
def move_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """Our storage SCP, AE DKSTORE: the C-MOVE destination dcmqrscp knows."""
    folder = tmp_path_factory.mktemp("moved")
    with ServerThread(handler=StorageHandler(str(folder), fsync=False),
                      ae_title="DKSTORE") as server:
        yield server


@pytest.fixture(scope="module")
def qrscp(tmp_path_factory: pytest.TempPathFactory, archive_files: list[Path],
          move_target: ServerThread) -> Iterator[int]:
    process, port = start_dcmqrscp(tmp_path_factory.mktemp("qrscp"), archive_files,
                                   {"DKSTORE": move_target.port})
    yield port
    stop_process(process)


# -- dicomkit Server <- DCMTK SCUs ---------------------------------------------------------
def test_echoscu_verifies_our_server(storage_server: ServerThread) -> None:
    result = run_tool("echoscu", "-v", "-aec", "DKSCP", HOST, storage_server.port)
    assert "Received Echo Response (Success)" in result.stderr + result.stdout


def test_echoscu_with_wrong_called_ae_is_rejected(storage_server: ServerThread) -> None:
    result = run_tool("echoscu", "-aec", "SOMEONE", HOST, storage_server.port, check=False)
    assert result.returncode != 0
    assert "Called AE Title Not Recognized" in result.stdout + result.stderr


@pytest.mark.parametrize("syntax", list(STORESCU_SYNTAX_OPTIONS))
def test_storescu_in_each_uncompressed_syntax(tmp_path: Path, archive_files: list[Path],
                                              syntax: str) -> None:
    """We accept only ``syntax``; storescu converts to it; the values arrive unchanged."""
    uid = UNCOMPRESSED_UIDS[syntax]
    out = tmp_path / "in"
    handler = StorageHandler(str(out), transfer_syntaxes=[uid], fsync=False)
    with ServerThread(handler=handler, ae_title="DKSCP") as server:
        run_tool("storescu", STORESCU_SYNTAX_OPTIONS[syntax], "-aec", "DKSCP", HOST,
                 server.port, *archive_files)
    stored = by_instance(out)
    assert len(stored) == len(archive_files)
    for original in archive_files:
        copy = stored[instance_uid(original)]
        assert dicomkit.read(str(copy)).transfer_syntax.uid == uid
        assert same_values(original, copy) == []


@pytest.mark.parametrize(("option", "name", "syntax"), COMPRESSED,
                         ids=[c[2] for c in COMPRESSED])
def test_storescu_compressed_file_in_its_own_syntax(storage_server: ServerThread,
                                                    tmp_path: Path, option: str, name: str,
                                                    syntax: str) -> None:
    original = pydicom_file(name)
    run_tool("storescu", option, "-R", "-aec", "DKSCP", HOST, storage_server.port, original)
    copy = by_instance(tmp_path / "in")[instance_uid(original)]
    expected = dicomkit.uid.uid_for_keyword(syntax)
    assert dicomkit.read(str(copy), stop_before_pixels=True).transfer_syntax.uid == expected
    assert same_values(original, copy) == []


def test_storescu_many_files_on_one_association(storage_server: ServerThread,
                                                tmp_path: Path) -> None:
    """DCMTK's storescu has no asynchronous operations window option (3.6.7), so this is the
    synchronous case: many C-STOREs, several SOP classes and syntaxes, one association."""
    names = ARCHIVE_FILES + ["examples_overlay.dcm", "image_dfl.dcm", "test-SR.dcm",
                             "reportsi.dcm", "examples_palette.dcm", "waveform_ecg.dcm",
                             "ExplVR_BigEnd.dcm"]
    files = [pydicom_file(name) for name in names]
    assert len({instance_uid(f) for f in files}) == len(files)
    result = run_tool("storescu", "-v", "-aec", "DKSCP", HOST, storage_server.port, *files)
    assert (result.stdout + result.stderr).count("Received Store Response (Success)") == \
        len(files)
    stored = by_instance(tmp_path / "in")
    for original in files:
        assert same_values(original, stored[instance_uid(original)]) == []


def test_storescu_user_identity_reaches_check_identity(tmp_path: Path) -> None:
    handler = ArchiveHandler([], users={"alice": "secret"})
    with ServerThread(handler=handler, ae_title="DKSCP") as server:
        ok = run_tool("storescu", "-v", "-aec", "DKSCP", "-usr", "alice", "-pwd", "secret",
                      "-rsp", HOST, server.port, pydicom_file("CT_small.dcm"), check=False)
        refused = run_tool("storescu", "-aec", "DKSCP", "-usr", "alice", "-pwd", "wrong",
                           HOST, server.port, pydicom_file("CT_small.dcm"), check=False)
    assert [(i.type, i.primary, i.secondary) for i in handler.identities] == [
        (2, b"alice", b"secret"), (2, b"alice", b"wrong")]
    assert handler.identities[0].positive_response_requested
    # The store itself is refused (the archive accepts no C-STORE), the association is not.
    assert "Association Accepted" in ok.stdout + ok.stderr
    assert refused.returncode != 0
    assert "Association Rejected" in refused.stdout + refused.stderr


# -- DCMTK SCUs -> dicomkit Server answering C-FIND / C-MOVE / C-GET --------------------------
@pytest.fixture
def archive(archive_files: list[Path]) -> Iterator[tuple[ServerThread, ArchiveHandler]]:
    handler = ArchiveHandler(archive_files)
    with ServerThread(handler=handler, ae_title="DKQR") as server:
        yield server, handler


def test_findscu_queries_our_server(archive: tuple[ServerThread, ArchiveHandler],
                                    tmp_path: Path) -> None:
    server, _handler = archive
    run_tool("findscu", "-S", "-aec", "DKQR", "-X", "-od", tmp_path,
             "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=Compressed*",
             "-k", "PatientID", "-k", "StudyInstanceUID", HOST, server.port)
    answers = [dicomkit.read(str(p)) for p in sorted(tmp_path.glob("rsp*.dcm"))]
    assert sorted(str(a.PatientID) for a in answers) == ["1CT1", "4MR1"]
    assert all(str(a.PatientName).startswith("CompressedSamples") for a in answers)


def test_findscu_patient_root_at_image_level(archive: tuple[ServerThread, ArchiveHandler],
                                             archive_files: list[Path],
                                             tmp_path: Path) -> None:
    server, _handler = archive
    ct = dicomkit.read(str(archive_files[0]), stop_before_pixels=True)
    run_tool("findscu", "-P", "-aec", "DKQR", "-X", "-od", tmp_path,
             "-k", "QueryRetrieveLevel=IMAGE", "-k", "PatientID=1CT1",
             "-k", f"StudyInstanceUID={ct.StudyInstanceUID}",
             "-k", f"SeriesInstanceUID={ct.SeriesInstanceUID}", "-k", "SOPInstanceUID",
             HOST, server.port)
    answers = [dicomkit.read(str(p)) for p in sorted(tmp_path.glob("rsp*.dcm"))]
    assert [str(a.SOPInstanceUID) for a in answers] == [str(ct.SOPInstanceUID)]


class SlowFindHandler(ArchiveHandler):
    """Matches as a slow database finds them: one at once, the rest a while later."""

    async def find(self, association: Association, message: Message,
                   identifier: Dataset) -> AsyncIterator[tuple[int, Dataset | None]]:
        for number in range(20):
            answer = Dataset()
            answer.QueryRetrieveLevel = "STUDY"
            answer.PatientID = f"P{number}"
            yield Status.PENDING, answer
            await asyncio.sleep(0.1)


def test_findscu_cancel_stops_our_find(archive_files: list[Path]) -> None:
    """PS3.7 §9.3.2.3: after C-CANCEL the SCP ends the C-FIND with status Cancel (FE00H)."""
    with ServerThread(handler=SlowFindHandler(archive_files), ae_title="DKQR") as server:
        started = time.monotonic()
        result = run_tool("findscu", "-v", "-S", "-aec", "DKQR", "--cancel", "1",
                          "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID", HOST,
                          server.port, check=False)
    output = result.stdout + result.stderr
    assert "Sending Cancel Request" in output
    assert "Received Final Find Response (Cancel: MatchingTerminatedDueToCancelRequest)" in \
        output
    assert time.monotonic() - started < 1.5  # not all 20 matches


def test_movescu_moves_from_our_server(archive_files: list[Path], tmp_path: Path) -> None:
    port = free_port()
    handler = ArchiveHandler(archive_files, destinations={"MOVESCU": (HOST, port)})
    mr = dicomkit.read(str(archive_files[1]), stop_before_pixels=True)
    with ServerThread(handler=handler, ae_title="DKQR") as server:
        result = run_tool("movescu", "-v", "-S", "-aec", "DKQR", "-aem", "MOVESCU", "+P", port,
                          "-od", tmp_path, "-k", "QueryRetrieveLevel=STUDY",
                          "-k", f"StudyInstanceUID={mr.StudyInstanceUID}", HOST, server.port)
    assert "Received Final Move Response (Success)" in result.stdout + result.stderr
    stored = by_instance(tmp_path)
    assert list(stored) == [str(mr.SOPInstanceUID)]
    assert same_values(archive_files[1], stored[str(mr.SOPInstanceUID)]) == []


def test_movescu_to_unknown_destination_fails(archive: tuple[ServerThread, ArchiveHandler]
                                              ) -> None:
    server, _handler = archive
    result = run_tool("movescu", "-v", "-S", "-aec", "DKQR", "-aem", "NOBODY",
                      "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=1CT1", HOST,
                      server.port, check=False)
    assert "Received Final Move Response (Refused: MoveDestinationUnknown)" in \
        result.stdout + result.stderr


def test_getscu_gets_from_our_server_with_role_selection(
        archive: tuple[ServerThread, ArchiveHandler], archive_files: list[Path],
        tmp_path: Path) -> None:
    server, _handler = archive
    result = run_tool("getscu", "-v", "-S", "-aec", "DKQR", "-od", tmp_path,
                      "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=id*", HOST,
                      server.port)
    assert "Received Final C-GET Response" in result.stdout + result.stderr or \
        result.returncode == 0
    stored = by_instance(tmp_path)
    expected = {instance_uid(f): f for f in archive_files[2:4]}  # rtplan, rtdose
    assert set(stored) == set(expected)
    for uid, original in expected.items():
        assert same_values(original, stored[uid]) == []


# -- dicomkit client -> DCMTK storescp ---------------------------------------------------------
@pytest.fixture
def dcmtk_storescp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    out = tmp_path / "storescp"
    out.mkdir()
    port = free_port()
    process = subprocess.Popen([tool("storescp"), "-aet", "STORESCP", "+xa", "+B", "-od",
                                str(out), str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for_port(port, process)
    yield port, out
    stop_process(process)


def test_our_client_stores_to_storescp(dcmtk_storescp: tuple[int, Path]) -> None:
    """Uncompressed files go in a native syntax, compressed ones as they are; storescp in
    bit-preserving mode writes the very bytes we sent, the file's own when its syntax was
    accepted. (Several of pydicom's files share a SOP
    Instance UID, so each file is checked and removed before the next is sent.)"""
    port, out = dcmtk_storescp
    files = [pydicom_file(n) for n in ARCHIVE_FILES + ["MR_small_bigendian.dcm"]]
    files += [pydicom_file(name) for _option, name, _syntax in COMPRESSED]
    contexts: list[tuple[str, list[str]]] = []
    for path in files:
        ds = dicomkit.read(str(path), stop_before_pixels=True)
        sop, ts = str(ds.SOPClassUID), ds.transfer_syntax.uid
        if ts not in UNCOMPRESSED_TS:
            contexts.append((sop, [ts]))
        contexts.append((sop, list(UNCOMPRESSED_TS[:2])))

    async def send() -> None:
        async with connect(HOST, port, called_aet="STORESCP", contexts=contexts) as client:
            for original in files:
                assert int((await client.store(original)).Status) == 0, original.name
                [copy] = by_instance(out).values()
                assert same_values(original, copy) == [], original.name
                source = dicomkit.read(str(original), stop_before_pixels=True).transfer_syntax
                sent = dicomkit.read(str(copy), stop_before_pixels=True).transfer_syntax
                if sent.uid == source.uid:
                    assert data_set_bytes(copy) == data_set_bytes(original), original.name
                copy.unlink()

    asyncio.run(send())


# -- dicomkit client -> dcmqrscp ---------------------------------------------------------------
def _find(port: int, query: Dataset, model: str = "study") -> tuple[int, list[Dataset]]:
    async def run() -> tuple[int, list[Dataset]]:
        found = []
        final = -1
        async with connect(HOST, port, called_aet="QRSCP", contexts=qr_contexts()) as client:
            async for status, identifier in client.find(query, model):
                if status in (Status.PENDING, Status.PENDING_WARNING):
                    assert identifier is not None
                    found.append(identifier)
                else:
                    final = status
        return final, found

    return asyncio.run(run())


def _query(**values: Any) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_find_study_root_study_level_wildcard(qrscp: int) -> None:
    status, found = _find(qrscp, _query(QueryRetrieveLevel="STUDY", PatientName="Compressed*",
                                        PatientID="", StudyInstanceUID="", StudyDate=""))
    assert status == Status.SUCCESS
    assert sorted(str(d.PatientID) for d in found) == ["1CT1", "4MR1"]
    assert {str(d.StudyDate) for d in found} == {"20040119", "20040826"}


def test_find_patient_root_patient_level(qrscp: int, archive_files: list[Path]) -> None:
    status, found = _find(qrscp, _query(QueryRetrieveLevel="PATIENT", PatientID="*",
                                        PatientName=""), model="patient")
    assert status == Status.SUCCESS
    expected = {str(dicomkit.read(str(f), stop_before_pixels=True).PatientID).strip()
                for f in archive_files}
    assert {str(d.PatientID).strip() for d in found} == expected


def test_find_series_and_image_levels(qrscp: int, archive_files: list[Path]) -> None:
    mr = dicomkit.read(str(archive_files[1]), stop_before_pixels=True)
    status, series = _find(qrscp, _query(QueryRetrieveLevel="SERIES",
                                         StudyInstanceUID=mr.StudyInstanceUID,
                                         SeriesInstanceUID="", Modality=""))
    assert status == Status.SUCCESS
    assert [(str(s.SeriesInstanceUID), str(s.Modality)) for s in series] == [
        (str(mr.SeriesInstanceUID), "MR")]
    status, images = _find(qrscp, _query(QueryRetrieveLevel="IMAGE",
                                         StudyInstanceUID=mr.StudyInstanceUID,
                                         SeriesInstanceUID=mr.SeriesInstanceUID,
                                         SOPInstanceUID="", SOPClassUID=""))
    assert status == Status.SUCCESS
    assert [str(i.SOPInstanceUID) for i in images] == [str(mr.SOPInstanceUID)]


def test_find_nothing_matches(qrscp: int) -> None:
    status, found = _find(qrscp, _query(QueryRetrieveLevel="STUDY", PatientID="NOBODY",
                                        StudyInstanceUID=""))
    assert (status, found) == (Status.SUCCESS, [])


def test_move_study_to_our_server(qrscp: int, move_target: ServerThread,
                                  archive_files: list[Path]) -> None:
    ct = dicomkit.read(str(archive_files[0]), stop_before_pixels=True)
    query = _query(QueryRetrieveLevel="STUDY", StudyInstanceUID=ct.StudyInstanceUID)

    async def run() -> list[Dataset]:
        async with connect(HOST, qrscp, called_aet="QRSCP", contexts=qr_contexts()) as client:
            return [rsp async for rsp in client.move(query, "DKSTORE")]

    final = asyncio.run(run())[-1]
    assert final.Status == Status.SUCCESS
    assert (final.NumberOfCompletedSuboperations, final.NumberOfFailedSuboperations) == (1, 0)
    folder = Path(move_target.server.handler.folder)  # type: ignore[attr-defined]
    assert same_values(archive_files[0], by_instance(folder)[str(ct.SOPInstanceUID)]) == []


def _get(port: int, query: Dataset, roles: bool) -> tuple[list[Dataset], dict[str, Dataset]]:
    storage = sorted({str(dicomkit.read(str(pydicom_file(n)), stop_before_pixels=True)
                          .SOPClassUID) for n in ARCHIVE_FILES})
    received: dict[str, Dataset] = {}

    async def on_store(ds: Dataset, message: Message) -> int:
        received[str(ds.SOPInstanceUID)] = ds
        return Status.SUCCESS

    async def run() -> list[Dataset]:
        async with connect(HOST, port, called_aet="QRSCP", contexts=qr_contexts(storage),
                           scp_roles=storage if roles else ()) as client:
            return [rsp async for rsp in client.get(query, on_store=on_store)]

    return asyncio.run(run()), received


def test_get_study_with_scp_role(qrscp: int, archive_files: list[Path]) -> None:
    mr = dicomkit.read(str(archive_files[1]))
    responses, received = _get(qrscp, _query(QueryRetrieveLevel="STUDY",
                                             StudyInstanceUID=mr.StudyInstanceUID), roles=True)
    assert responses[-1].Status == Status.SUCCESS
    assert responses[-1].NumberOfCompletedSuboperations == 1
    assert differences(mr, received[str(mr.SOPInstanceUID)]) == []


def test_get_without_scp_role_fails_the_sub_operations(qrscp: int,
                                                       archive_files: list[Path]) -> None:
    """PS3.4 C.4.3.1: without the SCP role for the storage SOP class the C-GET SCP cannot send
    the instance back; nothing arrives and the final status is not a success."""
    ct = dicomkit.read(str(archive_files[0]), stop_before_pixels=True)
    responses, received = _get(qrscp, _query(QueryRetrieveLevel="STUDY",
                                             StudyInstanceUID=ct.StudyInstanceUID),
                               roles=False)
    assert received == {}
    final = responses[-1]
    assert Status.category(final.Status) == "Failure"  # dcmqrscp: A702H, out of resources
    assert final.NumberOfFailedSuboperations == 1


def test_cancel_find_keeps_the_association_usable(qrscp: int) -> None:
    query = _query(QueryRetrieveLevel="STUDY", PatientID="*", StudyInstanceUID="")

    async def run() -> tuple[list[int], int]:
        statuses = []
        async with connect(HOST, qrscp, called_aet="QRSCP",
                           contexts=[*qr_contexts(), (VERIFICATION, UNCOMPRESSED_TS[:2])]
                           ) as client:
            context = client.context_for(MODELS["study"]["find"])
            async for status, _identifier in client.find(query):
                statuses.append(status)
                if len(statuses) == 1:
                    await client.cancel(client.last_message_id, context)
            echo = await client.echo()
        return statuses, echo

    statuses, echo = asyncio.run(run())
    assert statuses[0] == Status.PENDING
    assert statuses[-1] in (Status.CANCEL, Status.SUCCESS)
    assert echo == Status.SUCCESS


# -- TLS (PS3.15 Annex B.1) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_openssl_pki(tmp_path_factory.mktemp("pki"))


def server_tls(pki: dict[str, Path]) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server.pem"], pki["server.key"])
    context.load_verify_locations(pki["ca.pem"])
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_tls(pki: dict[str, Path]) -> Any:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki["ca.pem"]))
    context.load_cert_chain(pki["client.pem"], pki["client.key"])
    return context


def test_echoscu_over_tls_to_our_server(pki: dict[str, Path], tmp_path: Path) -> None:
    with ServerThread(handler=StorageHandler(str(tmp_path), fsync=False), ae_title="DKSCP",
                      ssl_context=server_tls(pki)) as server:
        ok = run_tool("echoscu", "-v", "-aec", "DKSCP", "+tls", pki["client.key"],
                      pki["client.pem"], "+cf", pki["ca.pem"], "-pw", HOST, server.port)
        anonymous = run_tool("echoscu", "-aec", "DKSCP", "+tla", "+cf", pki["ca.pem"], HOST,
                             server.port, check=False)
        plain = run_tool("echoscu", "-aec", "DKSCP", "-to", "5", "-ta", "5", HOST,
                         server.port, check=False)
    assert "Received Echo Response (Success)" in ok.stdout + ok.stderr
    assert anonymous.returncode != 0  # no client certificate: refused in the TLS handshake
    assert plain.returncode != 0


def test_our_client_over_tls_to_storescp(pki: dict[str, Path], tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([tool("storescp"), "-aet", "STORESCP", "+tls",
                                str(pki["server.key"]), str(pki["server.pem"]), "-pw", "+cf",
                                str(pki["ca.pem"]), "-od", str(tmp_path), str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        original = pydicom_file("CT_small.dcm")
        ct = str(dicomkit.read(str(original), stop_before_pixels=True).SOPClassUID)

        async def run() -> tuple[int, int]:
            async with connect(HOST, port, called_aet="STORESCP", ssl_context=client_tls(pki),
                               contexts=[(VERIFICATION, UNCOMPRESSED_TS[:2]),
                                         (ct, UNCOMPRESSED_TS[:2])]) as client:
                return await client.echo(), int((await client.store(original)).Status)

        assert asyncio.run(run()) == (0, 0)
        assert same_values(original, by_instance(tmp_path)[instance_uid(original)]) == []
        with pytest.raises((AssociationError, OSError)):
            asyncio.run(_plain_echo(port))
    finally:
        stop_process(process)


async def _plain_echo(port: int) -> int:
    async with connect(HOST, port, called_aet="STORESCP",
                       timeouts=_short_timeouts()) as client:
        return await client.echo()


def _short_timeouts() -> Any:
    from dicomkit.net.association import Timeouts

    return Timeouts(artim=3, dimse=3, network=3)


def test_association_rejected_reasons_are_reported(storage_server: ServerThread) -> None:
    async def run() -> None:
        async with connect(HOST, storage_server.port, called_aet="NOT-US"):
            pass

    with pytest.raises(AssociationRejected) as info:
        asyncio.run(run())
    assert (info.value.result, info.value.source, info.value.reason) == (1, 1, 7)
