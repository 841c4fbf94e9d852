"""The two ways a C-STORE data set reaches the archive (archive/scp.py ArchiveSink): kept in
memory up to SPILL_BYTES and committed with ``Archive.commit_bytes``, or spilled to a
temporary file as it arrives and committed with ``Archive.commit_file``. Both must store the
received bytes exactly, index them, and leave no temporary file behind, over a real
association from DCMTK's storescu."""

from __future__ import annotations

from pathlib import Path

import pytest

import dicomkit
from dicomkit.archive.scp import ArchiveSink
from dicomkit.archive.store import SPILL_BYTES, Archive, InstanceMismatch
from dicomkit.encoding.json import to_json_dict
from dicomkit.net.storage import meta_for
from tests.support.databases import Backend
from tests.support.datasets import synthetic_series
from tests.support.dcmtk import run_tool
from tests.support.servers import ServeFactory

EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _data_set_bytes(path: Path) -> bytes:
    """The data set of a Part 10 file (what P-DATA carries), without preamble and meta."""
    from dicomkit.net.storage import data_set_offset

    return path.read_bytes()[data_set_offset(str(path)):]


def _parts(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


@pytest.mark.parametrize("size", [16, 1600])  # 512 B and 5 MB of pixels: memory, then spill
def test_sink_and_commit_store_the_received_bytes(tmp_path: Path, size: int) -> None:
    source = synthetic_series(tmp_path / "in", 1, size=size)[0]
    ds = dicomkit.read(str(source), stop_before_pixels=True)
    archive = Archive(str(tmp_path / "data"))
    try:
        meta = meta_for(str(ds.SOPClassUID), str(ds.SOPInstanceUID), EXPLICIT_LE, "SCU")
        body = _data_set_bytes(source)
        sink = ArchiveSink(archive, meta, EXPLICIT_LE)
        for start in range(0, len(body), 16000):  # P-DATA sized pieces
            sink.write(memoryview(body)[start:start + 16000])
        assert sink.close() is sink
        spilled = len(meta) + len(body) > SPILL_BYTES
        assert (not isinstance(sink.received, bytes)) == spilled
        assert len(_parts(Path(archive.files_dir))) == (1 if spilled else 0)
        announced = (str(ds.SOPClassUID), str(ds.SOPInstanceUID))
        if spilled:
            assert isinstance(sink.received, str)
            done = archive.commit_file(sink.received, announced)
        else:
            assert isinstance(sink.received, bytes)
            done = archive.commit_bytes(sink.received, EXPLICIT_LE, announced)
        stored = Path(done.path)
        assert stored.read_bytes() == meta + body
        assert stored.parent.name == str(ds.SeriesInstanceUID)
        assert _parts(Path(archive.files_dir)) == []
        assert archive.index.stats()["instances"] == 1
    finally:
        archive.close()


def test_commit_bytes_refuses_a_data_set_that_is_not_the_announced_one(tmp_path: Path) -> None:
    source = synthetic_series(tmp_path / "in", 1)[0]
    ds = dicomkit.read(str(source), stop_before_pixels=True)
    archive = Archive(str(tmp_path / "data"))
    try:
        data = meta_for(str(ds.SOPClassUID), str(ds.SOPInstanceUID), EXPLICIT_LE) + \
            _data_set_bytes(source)
        with pytest.raises(InstanceMismatch):
            archive.commit_bytes(data, EXPLICIT_LE, (str(ds.SOPClassUID), "1.2.3.4"))
        assert not list(Path(archive.files_dir).rglob("*.dcm"))
        assert _parts(Path(archive.files_dir)) == []
        assert archive.index.stats()["instances"] == 0
    finally:
        archive.close()


def test_an_aborted_spilled_sink_leaves_nothing(tmp_path: Path) -> None:
    archive = Archive(str(tmp_path / "data"))
    try:
        sink = ArchiveSink(archive, b"\0" * 132, EXPLICIT_LE)
        sink.write(b"\0" * (SPILL_BYTES + 10))
        assert sink.spool.spilled and len(_parts(Path(archive.files_dir))) == 1
        sink.abort()
        assert _parts(Path(archive.files_dir)) == []
    finally:
        archive.close()


def test_storescu_small_and_large_instances_arrive_intact(
        backend: Backend, serve: ServeFactory, tmp_path: Path,
        dcmtk_net: dict[str, str]) -> None:
    small = synthetic_series(tmp_path / "small", 3, size=16)
    large = synthetic_series(tmp_path / "large", 2, size=1600)  # 5 MB each: spilled
    data = tmp_path / "data"
    server = serve(data, index=backend.new_index())
    for folder in ("small", "large"):
        run_tool("storescu", "-aec", "PACS", "127.0.0.1", server.port, "+sd",
                 tmp_path / folder)
    assert server.stop() == 0, server.log_tail()
    stored = {p.stem: p for p in (data / "files").rglob("*.dcm")}
    assert len(stored) == 5
    for path in small + large:
        ds = dicomkit.read(str(path))
        got = stored[str(ds.SOPInstanceUID)]
        # storescu re-encodes (sequence lengths), so values, not bytes, are compared here;
        # the byte-exact check of each path is the first test above.
        assert to_json_dict(dicomkit.read(str(got))) == to_json_dict(ds)
    assert _parts(data / "files") == []


@pytest.mark.parametrize("uid", ["1.2.3", "1.2.34", "2.25." + "1" * 39, "1" * 64, "", "9" * 70])
@pytest.mark.parametrize("source_ae", [None, "STORESCU", "ODD"])
@pytest.mark.parametrize("syntax", [EXPLICIT_LE, "1.2.840.10008.1.2.4.50"])
def test_meta_for_matches_the_generic_encoder(uid: str, source_ae: str | None,
                                              syntax: str) -> None:
    """meta_for splices the instance UID into cached bytes; they must be the writer's own."""
    from dicomkit.core.dataset import Dataset
    from dicomkit.encoding import transfer_syntax as ts_mod
    from dicomkit.encoding.writer import build_file_meta, file_meta_bytes

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = uid
    meta = build_file_meta(ds, ts_mod.for_uid(syntax))
    if source_ae:
        meta.SourceApplicationEntityTitle = source_ae
    expected = b"\0" * 128 + b"DICM" + file_meta_bytes(meta)
    assert meta_for("1.2.840.10008.5.1.4.1.1.2", uid, syntax, source_ae) == expected
