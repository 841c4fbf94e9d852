"""C-GET and C-MOVE from ``dicomkit serve`` when things are not as they should be.

- A file that is missing from the storage folder is one failed sub-operation (PS3.4 C.4.2.1.6,
  C.4.3.1.5): counted, its SOP Instance UID in the Failed SOP Instance UID List, the other
  instances sent, and the final response comes at once: B000 when some completed, A702 when
  every sub-operation failed (C.4.2.2.1 / C.4.3.2.1: "Failure or Refused" means all failed;
  dcmqrscp answers A702 as well).
- Instances stored compressed (JPEG Lossless SV1, JPEG-LS lossless, RLE Lossless) go out as
  stored when the receiver accepted their syntax, and decompressed, with identical pixel
  values, when it accepted only uncompressed ones (getscu's default, storescp's default).
- A configured C-MOVE destination that nothing listens on: every sub-operation fails, A702
  (A801 is for an unknown destination only), within seconds.

DCMTK's getscu, movescu and storescp (by absolute path) and dicomkit's own client are the peers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import dicomkit
from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.dcmtk import background, run_tool
from tests.support.servers import Serve, ServeFactory, free_port, wait_for_port

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
UNCOMPRESSED = {EXPLICIT_LE, IMPLICIT_LE, "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
# name: (transfer syntax, getscu option proposing it)
COMPRESSED = {
    "jpeg-lossless": ("1.2.840.10008.1.2.4.70", "+xs"),
    "jpeg-ls": ("1.2.840.10008.1.2.4.80", "+xt"),
    "rle": ("1.2.840.10008.1.2.5", "+xr"),
}
TOOL_TIMEOUT = 20  # seconds; a hang is a failure, never a wait for the 60 s DIMSE timeout


@dataclass
class Stored:
    path: Path  # the file as sent
    study: str
    series: str
    sop: str
    native_pixels: bytes  # the uncompressed pixel data it was made from


@dataclass
class Archive:
    server: Serve
    dest_port: int
    down_port: int
    series: list[Stored]  # three instances of one study; the second one's file is deleted
    lonely: Stored  # alone in its study; its file is deleted too
    compressed: dict[str, Stored]  # one study each

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def missing(self) -> Stored:
        return self.series[1]


def _stored(path: Path, native: bytes) -> Stored:
    ds = dicomkit.read(str(path), stop_before_pixels=True)
    return Stored(path, str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                  str(ds.SOPInstanceUID), native)


def _make(folder: Path, count: int) -> list[Stored]:
    paths = synthetic_series(folder, count, size=16, PatientID="DK-ROBUST")
    return [_stored(p, bytes(dicomkit.read(str(p)).PixelData)) for p in paths]


def _compressed(folder: Path, name: str, ts: str) -> Stored:
    from dicomkit.encoding.writer import write
    from dicomkit.pixels.transcode import transcode

    native_path = _make(folder / f"{name}-native", 1)[0].path
    native = dicomkit.read(str(native_path))
    converted = transcode(native, ts)
    path = folder / f"{name}.dcm"
    write(converted, str(path))
    assert dicomkit.read(str(path)).transfer_syntax.uid == ts
    return _stored(path, bytes(native.PixelData))


def dk_store(port: int, paths: list[Path]) -> None:
    """C-STORE each file in its own transfer syntax (one context per syntax)."""
    from dicomkit.net.client import connect

    syntaxes = sorted({dicomkit.read(str(p), stop_before_pixels=True).transfer_syntax.uid
                       for p in paths})

    async def go() -> None:
        async with connect("127.0.0.1", port, calling_aet="DKTEST", called_aet="PACS",
                           contexts=[(CT, [ts]) for ts in syntaxes]) as client:
            for path in paths:
                rsp = await client.store(str(path))
                assert int(rsp.get("Status")) == 0

    asyncio.run(go())


@pytest.fixture(scope="module")
def archive(backend: Backend, module_serve: ServeFactory, dcmtk_net: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    source = tmp_path_factory.mktemp(f"robust-src-{backend.name}")
    data = tmp_path_factory.mktemp(f"robust-data-{backend.name}")
    dest_port, down_port = free_port(), free_port()
    server = module_serve(data, index=backend.new_index(),
                          peers={"DEST": dest_port, "DOWN": down_port})
    series = _make(source / "series", 3)
    lonely = _make(source / "lonely", 1)[0]
    compressed = {name: _compressed(source, name, ts) for name, (ts, _) in COMPRESSED.items()}
    dk_store(server.port, [s.path for s in [*series, lonely, *compressed.values()]])
    for name, (ts, _) in COMPRESSED.items():
        item = compressed[name]
        kept = data / "files" / item.study / item.series / f"{item.sop}.dcm"
        assert dicomkit.read(str(kept), stop_before_pixels=True).transfer_syntax.uid == ts
    for gone in (series[1], lonely):
        (data / "files" / gone.study / gone.series / f"{gone.sop}.dcm").unlink()
    yield Archive(server, dest_port, down_port, series, lonely, compressed)
    assert server.stop() == 0, server.log_tail()


@pytest.fixture
def storescp(archive: Archive, dcmtk_net: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    """DCMTK storescp as DEST, with its default: uncompressed transfer syntaxes only."""
    out = tmp_path / "dest"
    out.mkdir()
    dest = background([dcmtk_net["storescp"], "-aet", "DEST", "-od", out, archive.dest_port],
                      tmp_path / "storescp.log")
    wait_for_port(archive.dest_port, dest.proc, describe=dest.log)
    yield out
    dest.stop()


def received(folder: Path) -> dict[str, Any]:
    return {str(ds.SOPInstanceUID): ds
            for ds in (dicomkit.read(str(p)) for p in folder.iterdir() if p.is_file())}


def getscu(archive: Archive, out: Path, *args: Any, keys: dict[str, str]) -> str:
    out.mkdir(exist_ok=True)
    argv: list[Any] = ["-v", "-S", "-aec", "PACS", "-od", out, *args]
    for keyword, value in keys.items():
        argv += ["-k", f"{keyword}={value}"]
    result = run_tool("getscu", *argv, "127.0.0.1", archive.port, check=False,
                      timeout=TOOL_TIMEOUT)
    return result.stdout + result.stderr


def movescu(archive: Archive, destination: str, keys: dict[str, str]) -> str:
    argv: list[Any] = ["-v", "-S", "-aec", "PACS", "-aem", destination]
    for keyword, value in keys.items():
        argv += ["-k", f"{keyword}={value}"]
    result = run_tool("movescu", *argv, "127.0.0.1", archive.port, check=False,
                      timeout=TOOL_TIMEOUT)
    return result.stdout + result.stderr


def dk_retrieve(archive: Archive, operation: str, keys: dict[str, str],
                destination: str = "DEST") -> tuple[Any, Any]:
    """C-MOVE or C-GET (Study Root) with dicomkit's client: (final response command, its
    identifier). C-GET sub-operations are accepted and dropped."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.net.client import connect
    from dicomkit.net.uids import MODELS

    identifier = Dataset()
    for keyword, value in keys.items():
        identifier.set(keyword, value)
    sop_class = MODELS["study"][operation]

    async def accept(ds: Any, message: Any) -> int:
        return 0

    async def go() -> tuple[Any, Any]:
        contexts = [(sop_class, [EXPLICIT_LE, IMPLICIT_LE])]
        if operation == "get":
            contexts.append((CT, [EXPLICIT_LE, IMPLICIT_LE]))
        async with connect("127.0.0.1", archive.port, calling_aet="DKTEST", called_aet="PACS",
                           contexts=contexts, scp_roles=[CT] if operation == "get" else ()
                           ) as client:
            responses = (client.move(identifier, destination) if operation == "move"
                         else client.get(identifier, on_store=accept))
            final = [rsp async for rsp in responses][-1]
            return final, client.last_identifier

    return asyncio.run(asyncio.wait_for(go(), TOOL_TIMEOUT))


def study_keys(study: str) -> dict[str, str]:
    return {"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": study}


# -- a missing file ------------------------------------------------------------------------------
def test_getscu_with_a_missing_file_gets_the_others(archive: Archive, tmp_path: Path) -> None:
    started = time.monotonic()
    output = getscu(archive, tmp_path / "get", keys=study_keys(archive.missing.study))
    assert time.monotonic() - started < TOOL_TIMEOUT / 2, output
    assert "Number of Completed Suboperations : 2" in output, output
    assert "Number of Failed Suboperations    : 1" in output, output
    assert "Warning: SubOperationsCompleteOneOrMoreFailures" in output, output  # B000
    expected = {s.sop for s in archive.series} - {archive.missing.sop}
    assert set(received(tmp_path / "get")) == expected


def test_c_get_failed_list_names_the_missing_instance(archive: Archive) -> None:
    final, identifier = dk_retrieve(archive, "get", study_keys(archive.missing.study))
    assert int(final.Status) == 0xB000
    assert (int(final.NumberOfCompletedSuboperations),
            int(final.NumberOfFailedSuboperations)) == (2, 1)
    assert _uid_list(identifier) == [archive.missing.sop]


def test_c_move_with_a_missing_file_moves_the_others(archive: Archive, storescp: Path) -> None:
    final, identifier = dk_retrieve(archive, "move", study_keys(archive.missing.study))
    assert int(final.Status) == 0xB000, archive.server.log_tail()
    assert int(final.NumberOfFailedSuboperations) == 1
    assert _uid_list(identifier) == [archive.missing.sop]
    expected = {s.sop for s in archive.series} - {archive.missing.sop}
    assert set(received(storescp)) == expected


def test_every_sub_operation_failed_is_a702(archive: Archive, tmp_path: Path) -> None:
    output = getscu(archive, tmp_path / "get", keys=study_keys(archive.lonely.study))
    assert "Refused: OutOfResourcesSubOperations" in output, output  # A702
    final, identifier = dk_retrieve(archive, "get", study_keys(archive.lonely.study))
    assert int(final.Status) == 0xA702
    assert int(final.NumberOfFailedSuboperations) == 1
    assert _uid_list(identifier) == [archive.lonely.sop]


# -- compressed instances ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(COMPRESSED))
def test_getscu_uncompressed_only_gets_decompressed(archive: Archive, tmp_path: Path,
                                                    name: str) -> None:
    item = archive.compressed[name]
    output = getscu(archive, tmp_path / "get", keys=study_keys(item.study))
    assert "Number of Completed Suboperations : 1" in output, output + archive.server.log_tail()
    ds = received(tmp_path / "get")[item.sop]
    assert ds.transfer_syntax.uid in UNCOMPRESSED
    assert bytes(ds.PixelData) == item.native_pixels


@pytest.mark.parametrize("name", list(COMPRESSED))
def test_getscu_proposing_the_stored_syntax_gets_it_as_stored(archive: Archive,
                                                               tmp_path: Path,
                                                               name: str) -> None:
    ts, option = COMPRESSED[name]
    item = archive.compressed[name]
    output = getscu(archive, tmp_path / "get", option, keys=study_keys(item.study))
    assert "Number of Completed Suboperations : 1" in output, output + archive.server.log_tail()
    ds = received(tmp_path / "get")[item.sop]
    assert ds.transfer_syntax.uid == ts
    assert bytes(ds.PixelData) == bytes(dicomkit.read(str(item.path)).PixelData)


def test_c_move_of_compressed_to_an_uncompressed_only_storescp(archive: Archive,
                                                                storescp: Path) -> None:
    studies = "\\".join(item.study for item in archive.compressed.values())
    output = movescu(archive, "DEST", study_keys(studies))
    assert "Received Final Move Response (Success)" in output, output + archive.server.log_tail()
    arrived = received(storescp)
    for item in archive.compressed.values():
        ds = arrived[item.sop]
        assert ds.transfer_syntax.uid in UNCOMPRESSED
        assert bytes(ds.PixelData) == item.native_pixels


def test_c_move_to_a_storescp_accepting_jpeg_ls_gets_it_as_stored(
        archive: Archive, dcmtk_net: dict[str, str], tmp_path: Path) -> None:
    """The destination is offered the stored syntax with the uncompressed ones in one
    context; storescp +xt prefers JPEG-LS lossless, so the codestream goes as it is."""
    out = tmp_path / "dest"
    out.mkdir()
    dest = background([dcmtk_net["storescp"], "+xt", "-aet", "DEST", "-od", out,
                       archive.dest_port], tmp_path / "storescp.log")
    try:
        wait_for_port(archive.dest_port, dest.proc, describe=dest.log)
        item = archive.compressed["jpeg-ls"]
        output = movescu(archive, "DEST", study_keys(item.study))
        assert "Received Final Move Response (Success)" in output, output
    finally:
        dest.stop()
    ds = received(out)[item.sop]
    assert ds.transfer_syntax.uid == COMPRESSED["jpeg-ls"][0]
    assert bytes(ds.PixelData) == bytes(dicomkit.read(str(item.path)).PixelData)


# -- an unreachable destination ------------------------------------------------------------------
def test_c_move_to_a_peer_that_is_down_is_a702_at_once(archive: Archive) -> None:
    study = archive.series[0].study
    started = time.monotonic()
    output = movescu(archive, "DOWN", study_keys(study))
    assert time.monotonic() - started < 10, output
    assert "Refused: OutOfResourcesSubOperations" in output, output  # A702
    assert "MoveDestinationUnknown" not in output, output  # A801
    final, identifier = dk_retrieve(archive, "move", study_keys(study), destination="DOWN")
    assert int(final.Status) == 0xA702
    assert int(final.NumberOfFailedSuboperations) == 3
    assert int(final.NumberOfCompletedSuboperations) == 0
    assert sorted(_uid_list(identifier)) == sorted(s.sop for s in archive.series)


def _uid_list(identifier: Any) -> list[str]:
    assert identifier is not None, "no identifier in the final response"
    value = identifier.get("FailedSOPInstanceUIDList")
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# -- the server framework on its own (a handler that fails, a plain path that is gone) ------------
class _Handler:
    """A Q/R SCP handler whose retrieve yields ``sources`` or raises ``error``."""

    def __init__(self, sources: list[Any], error: Exception | None = None) -> None:
        from dicomkit.net.service import ServiceHandler
        from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS

        class Handler(ServiceHandler):
            def abstract_syntaxes(self) -> dict[str, Any]:
                return {MODELS["study"]["get"]: UNCOMPRESSED_TS,
                        MODELS["study"]["move"]: UNCOMPRESSED_TS, CT: UNCOMPRESSED_TS}

            def accepts_scp_role(self, abstract_syntax: str) -> bool:
                return abstract_syntax == CT

            def move_destination(self, ae_title: str) -> tuple[str, int] | None:
                return ("127.0.0.1", free_port())

            async def retrieve(self, association: Any, message: Any,
                               identifier: Any) -> Any:
                if error is not None:
                    raise error
                for source in sources:
                    yield source

        self.handler = Handler()


def _in_process(handler: Any, operation: str) -> tuple[Any, Any, list[str]]:
    """C-GET or C-MOVE against an in-process Server: (final command, identifier, the SOP
    Instance UIDs the C-GET stored)."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.net.client import connect
    from dicomkit.net.server import Server
    from dicomkit.net.uids import MODELS

    got: list[str] = []

    async def accept(ds: Any, message: Any) -> int:
        got.append(str(ds.SOPInstanceUID))
        return 0

    async def go() -> tuple[Any, Any]:
        server = Server(handler=handler, ae_title="PACS", port=0)
        await server.start()
        try:
            query = Dataset()
            query.QueryRetrieveLevel = "STUDY"
            query.StudyInstanceUID = "1.2.3"
            sop_class = MODELS["study"][operation]
            async with connect("127.0.0.1", server.port, called_aet="PACS", scp_roles=[CT],
                               contexts=[(sop_class, [EXPLICIT_LE]), (CT, [EXPLICIT_LE])]
                               ) as client:
                responses = (client.get(query, on_store=accept) if operation == "get"
                             else client.move(query, "SOMEWHERE"))
                final = [rsp async for rsp in responses][-1]
                return final, client.last_identifier
        finally:
            await server.stop(grace=0)

    final, identifier = asyncio.run(asyncio.wait_for(go(), TOOL_TIMEOUT))
    return final, identifier, got


@pytest.mark.parametrize("operation", ["get", "move"])
def test_an_unexpected_handler_error_still_gets_a_final_failure(operation: str) -> None:
    """Never silence: C000 (Failed: Unable to process, Tables C.4-2 and C.4-3)."""
    handler = _Handler([], RuntimeError("index went away")).handler
    final, _identifier, _got = _in_process(handler, operation)
    assert int(final.Status) == 0xC000
    assert "index went away" in str(final.get("ErrorComment"))


def test_a_plain_path_that_is_gone_fails_alone(tmp_path: Path) -> None:
    """A handler yielding file paths (not index rows): the one that cannot be read is a failed
    sub-operation, the other is sent."""
    present = _make(tmp_path, 1)[0]
    handler = _Handler([str(tmp_path / "gone.dcm"), str(present.path)]).handler
    final, _identifier, got = _in_process(handler, "get")
    assert int(final.Status) == 0xB000
    assert (int(final.NumberOfCompletedSuboperations),
            int(final.NumberOfFailedSuboperations)) == (1, 1)
    assert got == [present.sop]
