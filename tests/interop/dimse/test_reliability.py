"""What a success status from ``dicomkit serve`` promises, under failure.

PS3.4 B.2.3: a C-STORE success means the SCP has the instance. The archive sends it only after
the file is fsynced, renamed into place and its index row committed, so: a server killed with
SIGKILL in the middle of a burst loses nothing it acknowledged, and leaves no half-written file
visible; a data folder it cannot write to gives a failure status (A7xx), not a crash; two
servers share one data folder and one index; C-CANCEL stops a C-FIND (PS3.4 C.4.1.3.1); a UID
that is not a UID (``../``) never becomes a path; the duplicate policy does what it says.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dicomkit
from dicomkit.cli.sample import make_ct
from dicomkit.core.uid import generate_uid
from dicomkit.net.dimse import Status
from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.dcmtk import background, run_tool
from tests.support.servers import (
    Serve,
    ServeFactory,
    dk_find,
    dk_find_uids,
    serve_env,
    stored_files,
)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
BURST = 200  # instances sent while the server is killed
KILL_AFTER = 40  # stored instances seen on disk before SIGKILL
SHARED_SERIES = 100  # instances in the shared server (C-CANCEL needs many matches)


# -- helpers -------------------------------------------------------------------------------------
def dk_store(port: int, datasets: list[Any], called: str = "PACS") -> list[int]:
    """C-STORE each data set with dicomkit's client; the statuses, in order."""
    from dicomkit.net.client import connect
    from dicomkit.net.uids import UNCOMPRESSED_TS

    async def go() -> list[int]:
        statuses = []
        async with connect("127.0.0.1", port, calling_aet="DKTEST", called_aet=called,
                           contexts=[(CT_IMAGE_STORAGE, UNCOMPRESSED_TS[:2])]) as client:
            for ds in datasets:
                rsp = await client.store(ds)
                statuses.append(int(rsp.get("Status") or 0))
        return statuses

    return asyncio.run(go())


def echo_ok(port: int) -> bool:
    return run_tool("echoscu", "-aec", "PACS", "127.0.0.1", port, check=False).returncode == 0


def storescu_successes(log: str) -> set[str]:
    """SOP Instance UIDs (our files are named after them) that storescu -v saw succeed."""
    done: set[str] = set()
    current = None
    for line in log.splitlines():
        if "Sending file:" in line:
            current = Path(line.split("Sending file:", 1)[1].strip()).stem
        elif "Received Store Response (Success)" in line and current is not None:
            done.add(current)
            current = None
    return done


def index_of(server: Serve) -> Any:
    from dicomkit.archive.index import ArchiveIndex

    return ArchiveIndex(server.index or str(server.data / "index.sqlite"))


def dicomkit_cli(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dicomkit.cli.main", *map(str, args)],
                          capture_output=True, text=True, env=serve_env(), timeout=120,
                          check=False)


def index_args(server: Serve) -> list[str]:
    return ["--data", str(server.data)] + (["--index", server.index] if server.index else [])


@pytest.fixture(scope="session")
def burst_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("burst")
    synthetic_series(folder, BURST, size=8, PatientID="DK-BURST")
    return folder


@pytest.fixture(scope="module")
def shared(backend: Backend, module_serve: ServeFactory,
           tmp_path_factory: pytest.TempPathFactory, dcmtk_net: dict[str, str]
           ) -> Iterator[tuple[Serve, str, str]]:
    """One server per backend, loaded with one big series: (server, study, series)."""
    root = tmp_path_factory.mktemp(f"shared-{backend.name}")
    data = root / "outer" / "inner" / "data"
    server = module_serve(data, index=backend.new_index(), args=["--duplicates", "replace"])
    study, series = generate_uid(), generate_uid()
    source = root / "series"
    synthetic_series(source, SHARED_SERIES, size=8, study=study, series=series,
                     PatientID="DK-SHARED")
    run_tool("storescu", "-aec", "PACS", "127.0.0.1", server.port, "+sd", source)
    yield server, study, series
    assert server.stop() == 0, server.log_tail()


# -- (a) SIGKILL in the middle of a burst -----------------------------------------------------------
def test_sigkill_mid_burst_loses_no_acknowledged_instance(
        backend: Backend, serve: ServeFactory, burst_folder: Path, tmp_path: Path,
        dcmtk_net: dict[str, str]) -> None:
    data = tmp_path / "data"
    index = backend.new_index()
    server = serve(data, index=index)  # fsync on: the real contract
    sender = background([dcmtk_net["storescu"], "-v", "-aec", "PACS", "127.0.0.1",
                         server.port, "+sd", burst_folder], tmp_path / "storescu.log")
    deadline = time.monotonic() + 60
    while len([p for p in stored_files(data) if p.suffix == ".dcm"]) < KILL_AFTER:
        assert time.monotonic() < deadline, server.log_tail()
        assert sender.proc.poll() is None, sender.log()
        time.sleep(0.02)
    os.kill(server.pid, signal.SIGKILL)
    server.proc.wait()
    sender.proc.wait(30)
    acknowledged = storescu_successes(sender.log())
    assert KILL_AFTER // 2 <= len(acknowledged) < BURST, sender.log()[-2000:]

    restarted = serve(data, index=index)
    found = dk_find_uids(restarted.port, "IMAGE", "SOPInstanceUID", PatientID="DK-BURST")
    missing = acknowledged - found
    assert not missing, f"{len(missing)} acknowledged instances lost\n{restarted.log_tail()}"
    sample = next(iter(acknowledged))
    series_uid = dicomkit.read(str(burst_folder / f"{sample}.dcm")).SeriesInstanceUID
    for sop in acknowledged:
        paths = list((data / "files").glob(f"*/{series_uid}/{sop}.dcm"))
        assert len(paths) == 1, sop
        ds = dicomkit.read(str(paths[0]))
        assert ds.SOPInstanceUID == sop
        assert len(bytes(ds.PixelData)) == 8 * 8 * 2
    index = index_of(restarted)
    try:  # before any repair, the index names only complete files in place
        indexed = index.all_paths()
    finally:
        index.close()
    assert indexed and all(p.endswith(".dcm") and (data / "files" / p).is_file()
                           for p in indexed)
    assert restarted.stop() == 0, restarted.log_tail()

    reindexed = dicomkit_cli("reindex", *index_args(restarted))
    assert reindexed.returncode == 0, reindexed.stdout + reindexed.stderr
    leftovers = stored_files(data)
    assert all(p.suffix == ".dcm" and not p.name.startswith(".") for p in leftovers), leftovers
    index = index_of(restarted)
    try:
        indexed = index.all_paths()
    finally:
        index.close()
    assert all(p.endswith(".dcm") and ".part" not in p for p in indexed)
    assert {str(p.relative_to(data / "files")) for p in leftovers} == indexed


# -- (b) a data folder that cannot be written ----------------------------------------------------
def test_unwritable_storage_gives_a_failure_status_and_the_server_serves_on(
        shared: tuple[Serve, str, str], tmp_path: Path) -> None:
    server, _study, _series = shared
    blocked_study = generate_uid()
    files = server.data / "files"
    source = tmp_path / "blocked"
    paths = synthetic_series(source, 1, size=8, study=blocked_study, PatientID="DK-BLOCKED")
    if os.geteuid() == 0:
        # root ignores permission bits: a plain file where the study folder must go makes
        # the folder impossible to create, as a read-only or full file system would.
        (files / blocked_study).write_bytes(b"not a folder")
        undo = (files / blocked_study).unlink
    else:
        files.chmod(0o500)

        def undo() -> None:
            files.chmod(0o755)
    try:
        result = run_tool("storescu", "-d", "-aec", "PACS", "127.0.0.1", server.port,
                          paths[0], check=False)
    finally:
        undo()
    output = (result.stdout + result.stderr).lower()
    assert "0xa7" in output, output[-3000:]
    assert "received store response (success)" not in output
    assert server.proc.poll() is None, server.log_tail()
    assert echo_ok(server.port)
    assert not [p for p in stored_files(server.data) if p.suffix == ".part"]
    # and the same instance is stored once the folder can be made
    again = run_tool("storescu", "-v", "-aec", "PACS", "127.0.0.1", server.port, paths[0])
    assert "Received Store Response (Success)" in again.stdout + again.stderr
    assert dk_find_uids(server.port, "STUDY", "StudyInstanceUID",
                        PatientID="DK-BLOCKED") == {blocked_study}


# -- (c) two servers, one data folder, one index ------------------------------------------------
def test_two_servers_share_one_data_folder_and_index(
        backend: Backend, serve: ServeFactory, tmp_path: Path, dcmtk_net: dict[str, str]) -> None:
    data = tmp_path / "data"
    index = backend.new_index()
    first = serve(data, index=index)
    second = serve(data, index=index)
    study = generate_uid()
    halves = [tmp_path / "half-1", tmp_path / "half-2"]
    sent = []
    for number, folder in enumerate(halves):
        sent += synthetic_series(folder, 10, size=8, study=study, PatientID="DK-TWO",
                                 SeriesNumber=number + 1)
    senders = [background([dcmtk_net["storescu"], "-v", "-aec", "PACS", "127.0.0.1",
                           server.port, "+sd", folder], tmp_path / f"storescu-{n}.log")
               for n, (server, folder) in enumerate(zip((first, second), halves, strict=True))]
    for sender in senders:
        assert sender.proc.wait(60) == 0, sender.log()[-2000:]
    acknowledged = set().union(*(storescu_successes(s.log()) for s in senders))
    assert acknowledged == {p.stem for p in sent}
    for server in (first, second):
        found = dk_find_uids(server.port, "IMAGE", "SOPInstanceUID", StudyInstanceUID=study)
        assert found == acknowledged, server.log_tail()
        matches, status = dk_find(server.port, {"QueryRetrieveLevel": "STUDY",
                                                "StudyInstanceUID": study,
                                                "NumberOfStudyRelatedSeries": None,
                                                "NumberOfStudyRelatedInstances": None})
        assert status == 0 and len(matches) == 1
        assert int(matches[0].NumberOfStudyRelatedSeries) == 2
        assert int(matches[0].NumberOfStudyRelatedInstances) == 20
    for server in (first, second):
        assert server.stop() == 0, server.log_tail()


# -- (d) C-CANCEL --------------------------------------------------------------------------------
def test_c_cancel_stops_a_c_find_with_many_matches(shared: tuple[Serve, str, str]) -> None:
    from dicomkit.core.dataset import Dataset
    from dicomkit.net.client import connect
    from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS

    server, study, series = shared
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.StudyInstanceUID = study
    identifier.SeriesInstanceUID = series
    identifier.SOPInstanceUID = None

    async def go() -> tuple[int, list[int]]:
        statuses: list[int] = []
        async with connect("127.0.0.1", server.port, calling_aet="DKTEST", called_aet="PACS",
                           contexts=[(MODELS["study"]["find"], UNCOMPRESSED_TS[:2])]) as client:
            async for status, _match in client.find(identifier):
                statuses.append(status)
                if len(statuses) == 1:
                    await client.cancel(client.last_message_id)
            # the association is still usable after the cancel
            after = [s async for s, _m in client.find(identifier)]
        return len(after), statuses

    after, statuses = asyncio.run(go())
    pending = [s for s in statuses if s == Status.PENDING]
    final = statuses[-1]
    assert final in (Status.CANCEL, Status.SUCCESS), hex(final)
    if final == Status.CANCEL:
        assert len(pending) < SHARED_SERIES
    assert after == SHARED_SERIES + 1  # every match and the final Success


def test_c_cancel_right_after_the_request_ends_the_c_find_with_fe00(
        shared: tuple[Serve, str, str]) -> None:
    """A C-CANCEL sent before any response leaves no doubt: the answer must be Cancel."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.net.client import connect
    from dicomkit.net.uids import MODELS, UNCOMPRESSED_TS

    server, study, series = shared
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.StudyInstanceUID = study
    identifier.SOPInstanceUID = None

    async def go() -> list[int]:
        async with connect("127.0.0.1", server.port, calling_aet="DKTEST", called_aet="PACS",
                           contexts=[(MODELS["study"]["find"], UNCOMPRESSED_TS[:2])]) as client:
            responses = client.find(identifier)
            first = asyncio.ensure_future(anext(responses))
            while client.last_message_id == 0:  # the request has gone out
                await asyncio.sleep(0.0005)
            await client.cancel(client.last_message_id)
            statuses = [(await first)[0]]
            statuses += [s async for s, _m in responses]
        return statuses

    statuses = asyncio.run(go())
    assert statuses[-1] == Status.CANCEL, [hex(s) for s in statuses[-3:]]
    assert statuses.count(Status.PENDING) < SHARED_SERIES


# -- (e) a UID that would be a path -----------------------------------------------------------------
@pytest.mark.parametrize("keyword, bad", [
    ("SOPInstanceUID", "1.2/../../x"),
    ("SOPInstanceUID", "1.2/../../../../../../x"),
    ("SeriesInstanceUID", "../../../../escape"),
    ("StudyInstanceUID", "../../../escape"),
    ("StudyInstanceUID", "/tmp/escape"),
])
def test_a_uid_with_a_path_in_it_is_refused(shared: tuple[Serve, str, str], keyword: str,
                                             bad: str) -> None:
    server, _study, _series = shared
    root = server.data.parents[2]

    def outside() -> set[Path]:
        return {p for p in root.rglob("*") if p.is_file() and (server.data / "files")
                not in p.parents and not p.name.startswith("index.sqlite")}

    before = outside()
    ds = make_ct(8, 1)
    setattr(ds, keyword, bad)
    statuses = dk_store(server.port, [ds])
    assert Status.category(statuses[0]) == "Failure", hex(statuses[0])
    assert outside() == before
    assert not list(root.rglob("escape*")) and not list(root.rglob("x.dcm"))
    assert not Path("/tmp/escape").exists()
    assert not [p for p in stored_files(server.data) if p.suffix == ".part"]
    assert server.proc.poll() is None and echo_ok(server.port)


def test_a_data_set_unlike_its_c_store_request_is_refused_a900(
        shared: tuple[Serve, str, str]) -> None:
    """PS3.4 B.2.3: the SOP Instance UID in the data set must be the one the request
    announced (the file's meta information is built from the request)."""
    from dicomkit.net.client import connect
    from dicomkit.net.dimse import DATA_SET_PRESENT, CommandField, command
    from dicomkit.net.uids import UNCOMPRESSED_TS

    server = shared[0]
    ds = make_ct(8, 1)
    announced = generate_uid()

    async def go() -> int:
        async with connect("127.0.0.1", server.port, calling_aet="DKTEST", called_aet="PACS",
                           contexts=[(CT_IMAGE_STORAGE, UNCOMPRESSED_TS[:2])]) as client:
            # Crafted by hand: Client.store always announces the data set's own UIDs.
            cmd = command(CommandField.C_STORE_RQ, AffectedSOPClassUID=CT_IMAGE_STORAGE,
                          AffectedSOPInstanceUID=announced, Priority=0)
            cmd.CommandDataSetType = DATA_SET_PRESENT
            context = next(iter(client.contexts))
            rsp = await client._single(context, cmd, client._encode(ds, context))
            return int(rsp.status or 0)

    assert asyncio.run(go()) == Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS
    for uid in (announced, str(ds.SOPInstanceUID)):
        assert not list((server.data / "files").rglob(f"{uid}.dcm"))
    assert not [p for p in stored_files(server.data) if p.suffix == ".part"]


# -- (f) duplicates ---------------------------------------------------------------------------------
def _versions() -> tuple[Any, Any]:
    first = make_ct(8, 1)
    first.ImageComments = "first version"
    second = make_ct(8, 1, str(first.StudyInstanceUID), str(first.SeriesInstanceUID))
    second.SOPInstanceUID = first.SOPInstanceUID
    second.ImageComments = "second version"
    return first, second


def _stored_comment(server: Serve, ds: Any) -> tuple[str, str]:
    """ImageComments of the file and of the C-FIND answer (from the index)."""
    path = (server.data / "files" / str(ds.StudyInstanceUID) / str(ds.SeriesInstanceUID)
            / f"{ds.SOPInstanceUID}.dcm")
    matches, status = dk_find(server.port, {"QueryRetrieveLevel": "IMAGE",
                                            "StudyInstanceUID": str(ds.StudyInstanceUID),
                                            "SOPInstanceUID": str(ds.SOPInstanceUID),
                                            "ImageComments": None})
    assert status == 0 and len(matches) == 1
    return str(dicomkit.read(str(path)).ImageComments), str(matches[0].ImageComments)


def test_duplicates_replace_keeps_the_newest(shared: tuple[Serve, str, str]) -> None:
    server = shared[0]
    first, second = _versions()
    assert dk_store(server.port, [first, second]) == [0, 0]
    assert _stored_comment(server, first) == ("second version", "second version")


@pytest.fixture(scope="module")
def ignoring(backend: Backend, module_serve: ServeFactory,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp(f"ignore-{backend.name}") / "data"
    server = module_serve(data, index=backend.new_index(), args=["--duplicates", "ignore"])
    yield server
    assert server.stop() == 0, server.log_tail()


def test_duplicates_ignore_keeps_the_first(ignoring: Serve) -> None:
    first, second = _versions()
    assert dk_store(ignoring.port, [first, second]) == [0, 0]
    assert _stored_comment(ignoring, first) == ("first version", "first version")


def test_duplicates_ignore_still_indexes_a_file_the_index_lost(ignoring: Serve) -> None:
    """A crash between rename and index commit leaves the file unindexed; a re-send of the
    instance (ignored as a duplicate) must not leave it invisible."""
    from dicomkit.encoding.writer import write

    first, second = _versions()
    path = (ignoring.data / "files" / str(first.StudyInstanceUID)
            / str(first.SeriesInstanceUID) / f"{first.SOPInstanceUID}.dcm")
    path.parent.mkdir(parents=True)
    write(first, str(path))
    assert dk_store(ignoring.port, [second]) == [0]
    assert _stored_comment(ignoring, first) == ("first version", "first version")


def test_duplicates_keep_leaves_file_and_index_alike(backend: Backend, tmp_path: Path) -> None:
    """``keep``: a re-sent instance is reported as added but neither file nor index change."""
    from dicomkit.archive.store import Archive
    from dicomkit.encoding.writer import write

    first, second = _versions()
    for number, ds in enumerate((first, second)):
        write(ds, str(tmp_path / f"v{number}.dcm"))
    archive = Archive(str(tmp_path / "data"), backend.new_index(), duplicates="keep",
                      fsync=False)
    try:
        archive.import_file(str(tmp_path / "v0.dcm"))
        done = archive.import_file(str(tmp_path / "v1.dcm"))
        assert done.result.status == "added"
        in_file = str(dicomkit.read(done.path).ImageComments)
        meta = archive.index.instance_metadata([str(first.SOPInstanceUID)])[0]
    finally:
        archive.close()
    assert in_file == "first version"
    assert meta["00204000"]["Value"] == ["first version"]
